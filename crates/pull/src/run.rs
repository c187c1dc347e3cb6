//! One pull deploy or rollback once its ledger deployment is started:
//! bless the release, follow the agents' reports, and apply the
//! environment's failure policy (bless the previous release again and
//! follow that, halt, or continue). The caller starts and finishes the
//! deployment and records each host's change (`record`), so the CLI and
//! the server run the very same rule.

use crate::Result;
use crate::bless::{Bless, publish};
use crate::follow::{Ended, Followed, HostSeen, Target, before, follow};
use haul_bless::Blessing;
use haul_config::{Config, FailurePolicy};
use haul_deploy::{DeployReport, HostStatus, Observer, Progress};
use haul_ledger::{DeploymentStatus, HostResult};
use haul_release::ReleaseId;
use haul_store::Store;
use haul_store::reports::AgentReport;
use std::collections::BTreeMap;
use std::time::Instant;

/// What a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Deploy,
    /// A rollback never triggers another rollback.
    Rollback,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Deploy => "deploy",
            Kind::Rollback => "rollback",
        }
    }
}

/// What [`go`] blesses and follows.
pub struct Go<'a> {
    pub config: &'a Config,
    pub store: &'a Store,
    pub app: &'a str,
    pub env: &'a str,
    pub release: &'a ReleaseId,
    pub kind: Kind,
    /// The ledger deployment the blessings name.
    pub deployment: i64,
    /// Who blesses (a user, or a deploy request's token).
    pub by: &'a str,
    pub reason: Option<String>,
}

/// A blessing written for a run, and where the agents were before it.
pub struct Blessed {
    pub doc: Blessing,
    before: BTreeMap<String, AgentReport>,
    t0: Instant,
}

/// Blesses `g.release` (reading first what each agent runs), then follows
/// it and applies the failure policy: [`bless`] then [`follow_blessed`].
/// `record` hears each host whose status changed in the first follow.
pub async fn go<F>(observer: &dyn Observer, g: &Go<'_>, record: F) -> Result<DeployReport>
where
    F: AsyncFnMut(&str, &HostSeen),
{
    let blessed = bless(observer, g).await?;
    follow_blessed(observer, g, &blessed, record).await
}

/// The first half of [`go`]: what the agents run now, and the blessing of
/// `g.release` for deployment `g.deployment`.
pub async fn bless(observer: &dyn Observer, g: &Go<'_>) -> Result<Blessed> {
    let t0 = Instant::now();
    let trust = crate::trust(g.config)?;
    let reporters = crate::reporters_now(g.config, g.store, trust.as_ref(), g.app, g.env).await?;
    let before = before(g.store, g.app, g.env, &reporters).await?;
    let doc = publish(observer, &g.blessing(g.reason.clone()), g.release).await?;
    let (app, env, id) = (g.app, g.env, g.release);
    observer.progress(Progress::Note(&format!("blessed {app} {id} for {env} as version {}", doc.version)));
    Ok(Blessed { doc, before, t0 })
}

impl Go<'_> {
    fn blessing(&self, reason: Option<String>) -> Bless<'_> {
        Bless {
            config: self.config,
            store: self.store,
            app: self.app,
            env: self.env,
            by: self.by,
            reason,
            deployment: Some(self.deployment),
        }
    }
}

/// The second half of [`go`]: follows `blessed` until every host is live
/// on it, one fails or time runs out, and applies the failure policy.
pub async fn follow_blessed<F>(
    observer: &dyn Observer,
    g: &Go<'_>,
    blessed: &Blessed,
    record: F,
) -> Result<DeployReport>
where
    F: AsyncFnMut(&str, &HostSeen),
{
    let (config, store, app, env, id) = (g.config, g.store, g.app, g.env, g.release);
    let e = &config.environments[env];
    let (doc, start, t0) = (&blessed.doc, &blessed.before, blessed.t0);
    let deadline = t0 + e.follow_timeout().0;
    let policy = if g.kind == Kind::Rollback { FailurePolicy::Halt } else { e.failure };
    let target = Target {
        store,
        app,
        env,
        doc,
        version: doc.version,
        release: id.to_string(),
        issued: doc.issued,
        listed: e.hosts.iter().map(|h| h.get_ref().clone()).collect(),
        silent_after: e.silent_after().0,
        deadline,
        go_on: policy == FailurePolicy::Continue,
    };
    let followed = follow(observer, &target, start, record).await?;
    let kind = g.kind.as_str();
    let report = |f: &Followed, ok: bool, message: Option<String>, status: &dyn Fn(&str, HostStatus) -> HostStatus| {
        DeployReport {
            kind,
            app: app.into(),
            env: env.into(),
            release: Some(id.to_string()),
            ok,
            message,
            hosts: f.hosts.iter().map(|(h, s)| s.report(h, status(h, s.status()))).collect(),
            elapsed_ms: t0.elapsed().as_millis() as u64,
        }
    };
    let end = |s: HostStatus| if s == HostStatus::Running { HostStatus::Untouched } else { s };
    let problem = match &followed.ended {
        Ended::Live { failed } if failed.is_empty() => return Ok(report(&followed, true, None, &|_, s| s)),
        Ended::Live { failed } => {
            let msg = format!("failed on {} (failure policy: continue)", failed.join(", "));
            // A host seen failing stays failed in the report, even when
            // its newest report is already the retry of that step.
            let status = |h: &str, s| if failed.iter().any(|f| f == h) { HostStatus::Failed } else { end(s) };
            return Ok(report(&followed, false, Some(msg), &status));
        }
        Ended::Failed { hosts } => format!("failed on {}", hosts.join(", ")),
        Ended::TimedOut { waiting } if waiting.is_empty() => {
            format!("timed out after {}: no agent of {app} in {env} reported", e.follow_timeout())
        }
        Ended::TimedOut { waiting } => {
            format!("timed out after {} waiting for {}", e.follow_timeout(), waiting.join(", "))
        }
        Ended::VerificationFailed { wave, names } => {
            let names: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
            format!("verification {} of wave `{wave}` did not pass; later waves do not switch", names.join(", "))
        }
    };
    let Some(previous) = doc.previous.clone().filter(|_| policy == FailurePolicy::Rollback) else {
        let why = match (policy, &followed.ended) {
            (FailurePolicy::Rollback, _) => "no release was blessed before, so there is nothing to go back to",
            (FailurePolicy::Continue, Ended::VerificationFailed { .. }) => {
                "stopped following (failure policy: continue): the agents of later waves wait until it passes"
            }
            _ => "halted (failure policy: halt); hosts are left as they are",
        };
        let msg = format!("{problem}\n{why}");
        return Ok(report(&followed, false, Some(msg), &|_, s| end(s)));
    };
    observer.progress(Progress::Warn(&format!("{problem}\nblessing {previous} again (failure policy: rollback)")));
    let back = publish(observer, &g.blessing(Some(format!("rollback: {problem}"))), &previous).await?;
    let start_back = before(store, app, env, &haul_store::reports::Reporters::of_blessing(&back)).await?;
    let target = Target {
        doc: &back,
        version: back.version,
        release: previous.to_string(),
        issued: back.issued,
        go_on: true,
        deadline: Instant::now() + e.follow_timeout().0,
        ..target
    };
    let back_follow = follow(observer, &target, &start_back, async |_: &str, _: &HostSeen| {}).await?;
    let went_back = |h: &str| {
        back_follow.hosts.get(h).is_some_and(|s| matches!(s.status(), HostStatus::Ok | HostStatus::Unchanged))
    };
    let summary = match &back_follow.ended {
        Ended::Live { failed } if failed.is_empty() => format!("blessed {previous} again; every host is back on it"),
        _ => format!("blessed {previous} again (version {}); not every host is back on it yet", back.version),
    };
    let mut r = report(&followed, false, Some(format!("{problem}\n{summary}")), &|h, s| match s {
        HostStatus::Failed => HostStatus::Failed,
        _ if followed.hosts[h].switched && went_back(h) => HostStatus::SwitchedBack,
        s => end(s),
    });
    // Where each host is now: after the blessing of the previous release.
    for h in &mut r.hosts {
        if let Some(now) = back_follow.hosts.get(&h.host).and_then(|s| s.live.clone()) {
            h.live = Some(now);
        }
    }
    Ok(r)
}

/// How a finished run is recorded: its status (switched back when a host
/// went back to the previous release) and each host's result, made
/// storable.
pub fn closing(r: &DeployReport) -> (DeploymentStatus, Vec<HostResult>) {
    let status = if r.ok {
        DeploymentStatus::Succeeded
    } else if r.hosts.iter().any(|h| h.status == HostStatus::SwitchedBack) {
        DeploymentStatus::SwitchedBack
    } else {
        DeploymentStatus::Failed
    };
    let hosts = r
        .hosts
        .iter()
        .map(|h| HostResult {
            host: h.host.clone(),
            phase: h.reached,
            status: h.status,
            error: h.error.as_deref().map(|e| haul_ledger::text::clean(e, haul_ledger::text::Kind::Block)),
            elapsed_ms: h.elapsed_ms as i64,
        })
        .collect();
    (status, hosts)
}
