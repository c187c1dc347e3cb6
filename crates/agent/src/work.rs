//! The work on the host for one blessing, under the app's host lock, in the
//! order a push deploy does it: stage (download, unpack over the newest
//! complete release, `post_upload`, complete), `post-sync`, migrate, the
//! wave gate, `pre-jump`, stop (or refresh), `un-jump`, the one-rename
//! switch, start, `post-jump`, health, prune. Each phase already reached
//! for this blessing is skipped, so a round that stopped (a wait, a
//! failure, a crash) goes on where it was; the switch only ever targets a
//! release the host marks complete.

use crate::steps::{self, StepError, runs_here};
use crate::sync::{AppRun, Stop};
use haul_bless::Blessing;
use haul_host::{Event, EventKind, HostState, SharedPath};
use haul_release::ReleaseId;
use haul_store::reports::{AgentPhase, read_each};
use std::collections::BTreeMap;

fn failed(e: impl std::fmt::Display) -> Stop {
    Stop::Failed(e.to_string())
}

fn step_failed(e: StepError) -> Stop {
    Stop::Failed(e.to_string())
}

impl AppRun<'_> {
    /// The variables a step sees, as push gives them.
    pub(crate) fn env(&self, b: &Blessing) -> Vec<(String, String)> {
        let cfg = &self.agent.config;
        vec![
            ("HAUL_APP".into(), self.app.to_string()),
            ("HAUL_ENV".into(), cfg.env.clone()),
            ("HAUL_RELEASE".into(), b.release.to_string()),
            ("HAUL_RELEASE_DIR".into(), self.host().release_dir(&b.release)),
            ("HAUL_PREVIOUS_RELEASE".into(), self.live.clone().filter(|l| l != b.release.as_str()).unwrap_or_default()),
            ("HAUL_HOST".into(), cfg.host.clone()),
            ("HAUL_ROLES".into(), cfg.roles.join(",")),
            ("HAUL_BLESSING".into(), b.version.to_string()),
        ]
    }
}

/// The round's steps under the lock. `read` is what was read on the host
/// when the lock was taken; it is read again only when something here
/// changed the host first (an abandoned download discarded).
pub(crate) async fn work(
    run: &mut AppRun<'_>,
    b: &Blessing,
    token: &str,
    stale: Option<&str>,
    read: Option<HostState>,
) -> Result<(), Stop> {
    let mut read = read;
    if let Some(old) = stale.and_then(|s| ReleaseId::parse(s).ok()) {
        run.host().discard_incomplete(&old, token).await.map_err(failed)?;
        read = None;
    }
    let hs = match read {
        Some(hs) => hs,
        None => run.host().inspect().await.map_err(failed)?,
    };
    run.live = hs.current.clone();
    if hs.current.as_deref() != Some(b.release.as_str()) && run.state.done(AgentPhase::Switch) {
        // Switched once, but `current` has moved since (a person's
        // rollback or deploy): the blessing still says this release, so the
        // switch and what follows it are done again.
        run.state.reached = Some(AgentPhase::Waiting);
    }
    let release_dir = run.host().release_dir(&b.release);
    let roles = run.agent.config.roles.clone();

    if !hs.has_complete(&b.release) {
        // Whatever a crash left of this release is not complete: staging
        // starts by removing it (`stage.sh`), so nothing is discarded here.
        run.state.reached = None;
        let (release, archive) = run
            .phase(AgentPhase::Download, "download", async |r: &mut AppRun<'_>| {
                let got = r.download(b).await?;
                Ok((got, format!("{} bytes", b.archive.size)))
            })
            .await?;
        let base_id = hs.newest_complete().map(str::to_string);
        run.phase(AgentPhase::Unpack, "stage", async |r: &mut AppRun<'_>| {
            let host = r.host().clone();
            let base = match base_id.as_deref().and_then(|id| ReleaseId::parse(id).ok()) {
                Some(id) => Some(host.read_release(&id).await.map_err(failed)?),
                None => None,
            };
            let shared: Vec<SharedPath> = b.steps.shared.iter().map(|s| SharedPath::parse(s)).collect();
            let contents = haul_release::Contents::archive(&archive);
            let post_upload: Vec<_> = b.steps.post_upload.iter().filter(|s| runs_here(s, &roles)).collect();
            // With no step between them, staging marks the release complete.
            let rep = if post_upload.is_empty() {
                host.stage_complete(&release, &contents, base.as_ref(), &shared, false, token).await
            } else {
                host.stage(&release, &contents, base.as_ref(), &shared, false, token).await
            }
            .map_err(failed)?;
            if !post_upload.is_empty() {
                let env = r.env(b);
                for s in post_upload {
                    let name = s.name.clone().unwrap_or_else(|| format!("post_upload: {}", s.run));
                    if let Err(e) = steps::run(&host, &name, &s.run, &release_dir, &env).await {
                        // As a push deploy does: the tree whose steps did
                        // not pass goes, so that nothing takes it for
                        // complete (the next round stages it again).
                        if let Err(d) = host.discard_incomplete(&b.release, token).await {
                            return Err(failed(format!("{e}; the staged release could not be discarded: {d}")));
                        }
                        return Err(step_failed(e));
                    }
                }
                host.complete(&b.release, token).await.map_err(failed)?;
            }
            let _ = std::fs::remove_file(&archive);
            Ok(((), format!("{} files sent, {} reused", rep.sent_files, rep.reused_files)))
        })
        .await?;
    }

    if !run.state.done(AgentPhase::PostSync) {
        run.phase(AgentPhase::PostSync, "post-sync", async |r: &mut AppRun<'_>| {
            let env = r.env(b);
            let out = steps::script(r.host(), "post-sync", &b.steps.scripts.post_sync, &release_dir, &env)
                .await
                .map_err(step_failed)?;
            Ok(((), out.map(|o| o.combined()).unwrap_or_else(|| "no post-sync script".into())))
        })
        .await?;
    }

    if !run.state.done(AgentPhase::Migrate) {
        run.phase(AgentPhase::Migrate, "migrate", async |r: &mut AppRun<'_>| {
            // Secret files first, as a push deploy writes them before its
            // migrations: the migrations and the switched release read them.
            crate::secrets::write(r, b, token).await?;
            crate::migrate::once(r, b, &release_dir).await?;
            let env = r.env(b);
            for s in b.steps.migrate_per_host.iter().filter(|s| runs_here(s, &roles)) {
                let name = s.name.clone().unwrap_or_else(|| format!("migrate: {}", s.run));
                steps::run(r.host(), &name, &s.run, &release_dir, &env).await.map_err(step_failed)?;
            }
            Ok(((), String::new()))
        })
        .await?;
    }

    if !run.state.done(AgentPhase::Waiting) {
        gate(run, b).await?;
    }

    let current_dir = format!("{}/current", run.host().dir());
    if !run.state.done(AgentPhase::PreJump) {
        run.phase(AgentPhase::PreJump, "pre-jump", async |r: &mut AppRun<'_>| {
            let env = r.env(b);
            let out = steps::script(r.host(), "pre-jump", &b.steps.scripts.pre_jump, &release_dir, &env)
                .await
                .map_err(|e| Stop::Failed(format!("pre-jump vetoed the switch: {e}")))?;
            Ok(((), out.map(|o| o.combined()).unwrap_or_default()))
        })
        .await?;
    }

    if !run.state.done(AgentPhase::Switch) {
        // `current` as inspected above: the lock held since then is what
        // keeps a person's deploy or rollback from moving it meanwhile.
        let live_before = hs.current.clone();
        run.phase(AgentPhase::Switch, "switch", async |r: &mut AppRun<'_>| {
            let host = r.host().clone();
            let env = r.env(b);
            let refresh = !b.steps.refresh.is_empty();
            if live_before.as_deref() != Some(b.release.as_str()) {
                if let Some(old) = live_before.clone() {
                    if !refresh {
                        for s in b.steps.stop.iter().filter(|s| runs_here(s, &roles)) {
                            let name = s.name.clone().unwrap_or_else(|| format!("stop: {}", s.run));
                            steps::run(&host, &name, &s.run, &current_dir, &env).await.map_err(step_failed)?;
                        }
                    }
                    let old_dir = format!("{}/releases/{old}", host.dir());
                    steps::script(&host, "un-jump", &b.steps.scripts.un_jump, &old_dir, &env)
                        .await
                        .map_err(step_failed)?;
                }
                let event = Event {
                    from: live_before.clone(),
                    to: Some(b.release.to_string()),
                    env: Some(r.agent.config.env.clone()),
                    reason: Some(format!("blessing v{} by {}", b.version, b.by)),
                    ..Event::now(EventKind::Deploy, &r.agent.user)
                };
                host.switch(&b.release, &event, token).await.map_err(failed)?;
                r.live = Some(b.release.to_string());
            }
            let service = if refresh { &b.steps.refresh } else { &b.steps.start };
            for s in service.iter().filter(|s| runs_here(s, &roles)) {
                let name = s.name.clone().unwrap_or_else(|| s.run.clone());
                steps::run(&host, &name, &s.run, &current_dir, &env).await.map_err(step_failed)?;
            }
            Ok(((), format!("current -> releases/{}", b.release)))
        })
        .await?;
    }

    if !run.state.done(AgentPhase::PostJump) {
        run.phase(AgentPhase::PostJump, "post-jump", async |r: &mut AppRun<'_>| {
            let env = r.env(b);
            let out = steps::script(r.host(), "post-jump", &b.steps.scripts.post_jump, &current_dir, &env)
                .await
                .map_err(step_failed)?;
            Ok(((), out.map(|o| o.combined()).unwrap_or_default()))
        })
        .await?;
    }

    if !run.state.done(AgentPhase::Health) {
        run.phase(AgentPhase::Health, "health", async |r: &mut AppRun<'_>| {
            let env = r.env(b);
            for check in &b.steps.health {
                steps::health(r.host(), check, &env).await.map_err(step_failed)?;
            }
            Ok(((), format!("{} check(s) passed", b.steps.health.len())))
        })
        .await?;
    }

    run.state.reached = Some(AgentPhase::Live);
    run.save()?;
    crate::prune::prune(run, b, token, &hs).await;
    Ok(())
}

/// Waits for every earlier wave to be done (by the agents' reports).
async fn gate(run: &mut AppRun<'_>, b: &Blessing) -> Result<(), Stop> {
    let wave = run.wave.unwrap_or(0);
    if wave == 0 {
        run.state.reached = Some(AgentPhase::Waiting);
        return Ok(());
    }
    // This host's report says it is staged and waiting, so a follower sees
    // it in its wave.
    run.tell(AgentPhase::Waiting, Some("waiting for earlier waves".into())).await;
    // Only what the blessing's report keys sealed speaks for a host: a
    // forged `live` in the store cannot open this host's wave.
    let reporters = haul_store::reports::Reporters::of_blessing(b);
    let read = read_each(&run.agent.store, run.app, &run.agent.config.env, &reporters)
        .await
        .map_err(|e| Stop::Failed(format!("reading the agents' reports: {e}")))?;
    // A report not taken may hide a host of an earlier wave: waited on,
    // not judged without it (and not a failure of this host).
    if let Some(u) = read.problems.first() {
        return Err(Stop::Waiting(format!("a report of this environment is not taken: {u}")));
    }
    let reports = read.reports;
    let mut results = BTreeMap::new();
    if b.waves.iter().take(wave).any(|w| !w.verifications.is_empty()) {
        let (store, env) = (&run.agent.store, &run.agent.config.env);
        let read = haul_store::verifications::read(store, run.app, env, b.version, b.deployment, &reporters)
            .await
            .map_err(|e| match e {
                // One not taken (forged, say) may hide the real result:
                // waited on, like a report not taken.
                haul_store::StoreError::Corrupt { .. } => {
                    Stop::Waiting(format!("a verification of this environment is not taken: {e}"))
                }
                e => Stop::Failed(format!("reading the environment's verifications: {e}")),
            })?;
        results = read.into_iter().map(|(n, v)| (n, v.result)).collect();
    }
    let p = crate::waves::progress(b, &reports, jiff::Timestamp::now(), run.agent.config.silent_after)
        .with_verifications(b, &results);
    if !p.may_switch(wave) {
        let w = p.current().unwrap_or(0);
        let why = p.waves[w].holding(w).unwrap_or_else(|| format!("wave {} is not done", w + 1));
        return Err(Stop::Waiting(why));
    }
    run.state.reached = Some(AgentPhase::Waiting);
    run.save()
}
