//! The sync of one app, one round: judge the newest blessing, and if this
//! host is not live on it, take the app's host lock and go as far as it
//! can: download, stage, post-sync, migrate, wait for its wave, switch,
//! health, prune. Every step is written to the state file as in flight
//! before it starts (a crash is found and reported at the next start, and
//! the step redone) and to the app's report in the store when it ends.

use crate::fetch::Memory;
use crate::run::Agent;
use crate::state::{self, AppState, InFlight};
use haul_bless::{Blessing, Refusal};
use haul_host::{Event, EventKind, HostApp, HostState, LockInfo, LockOutcome};
use haul_store::reports::{AgentPhase, AgentReport, StepReport};
use jiff::Timestamp;
use std::path::PathBuf;
use std::time::Instant;

/// How one app's round ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The app has never been blessed in this environment.
    NoBlessing,
    /// The blessed release is live and healthy.
    Live { version: u64, release: String },
    /// Waiting for a lock, a claim or an earlier wave; not a failure.
    Waiting(String),
    /// A step failed; retried with backoff.
    Failed(String),
    /// The blessing (or what the store holds for it) was refused.
    Refused(String),
}

/// Why a round stopped before the release was live.
#[derive(Debug)]
pub(crate) enum Stop {
    Waiting(String),
    /// Still failed: the last failure's backoff has not run out.
    Backoff(String),
    Failed(String),
    Refused(Refusal),
}

/// One app's round.
pub(crate) struct AppRun<'a> {
    pub agent: &'a Agent,
    pub app: &'a str,
    pub state: AppState,
    pub state_path: PathBuf,
    /// `<root>/<path>` once the blessing named it.
    pub app_dir: PathBuf,
    pub host: Option<HostApp>,
    pub live: Option<String>,
    pub wave: Option<usize>,
    pub blessing: Option<Blessing>,
}

/// How long after the last report a phase's start is reported again. The
/// outcomes (live, waiting, failed, refused) are always reported; the start
/// of each phase of a deploy that takes a few milliseconds is not, or a
/// fleet's deploy would cost the store and the server a write per phase per
/// host. A phase that starts a second or more after the last report (a
/// download after a long stage, a wave's wait) is.
const IN_FLIGHT_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

impl<'a> AppRun<'a> {
    pub(crate) fn save(&mut self) -> Result<(), Stop> {
        state::save(&self.state_path, &self.state).map_err(|e| Stop::Failed(e.to_string()))
    }

    pub(crate) fn host(&self) -> &HostApp {
        self.host.as_ref().expect("the host is set once the blessing is known")
    }

    /// The app's report as it stands.
    pub(crate) fn report(&self, phase: AgentPhase, error: Option<String>) -> AgentReport {
        let cfg = &self.agent.config;
        AgentReport {
            host: cfg.host.clone(),
            app: self.app.to_string(),
            env: cfg.env.clone(),
            roles: cfg.roles.clone(),
            labels: cfg.labels.clone(),
            wave: self.wave,
            blessing: self.blessing.as_ref().map(|b| b.version),
            release: self.blessing.as_ref().map(|b| b.release.to_string()),
            live: self.live.clone(),
            phase,
            error,
            steps: self.state.steps.clone(),
            at: Timestamp::now(),
            agent: env!("CARGO_PKG_VERSION").to_string(),
        }
    }

    /// Writes the report; a store that cannot take it is noted in the
    /// state's steps (and the next report carries it), not fatal.
    pub(crate) async fn tell(&mut self, phase: AgentPhase, error: Option<String>) {
        let r = self.report(phase, error);
        match crate::report::tell(self.agent, &r).await {
            Ok(()) => self.state.reported = Some(r.at),
            Err(e) => self.agent.warn(&format!("{}: could not write the report: {e}", self.app)),
        }
    }

    /// Runs one phase: in flight in the state file first, then the work,
    /// then a step in the report and the phase marked reached.
    pub(crate) async fn phase<T>(
        &mut self,
        phase: AgentPhase,
        name: &str,
        work: impl AsyncFnOnce(&mut Self) -> Result<(T, String), Stop>,
    ) -> Result<T, Stop> {
        if self.agent.stopping() {
            return Err(Stop::Waiting("the agent is stopping".into()));
        }
        let b = self.blessing.as_ref().expect("a phase runs for a blessing");
        let started = Timestamp::now();
        self.state.in_flight = Some(InFlight { version: b.version, release: b.release.to_string(), phase, started });
        self.save()?;
        let quiet_since = self.state.reported.map(|at| Timestamp::now().duration_since(at));
        if quiet_since.is_none_or(|d| d.unsigned_abs() >= IN_FLIGHT_EVERY) {
            self.tell(phase, None).await;
        }
        let t = Instant::now();
        let r = work(self).await;
        let millis = t.elapsed().as_millis() as u64;
        let (ok, output) = match &r {
            Ok((_, out)) => (true, out.clone()),
            Err(Stop::Failed(e)) => (false, e.clone()),
            Err(Stop::Refused(e)) => (false, e.to_string()),
            Err(Stop::Waiting(w) | Stop::Backoff(w)) => (true, w.clone()),
        };
        self.state.in_flight = None;
        if !matches!(r, Err(Stop::Waiting(_) | Stop::Backoff(_))) {
            self.state.push_step(StepReport {
                phase,
                name: name.to_string(),
                ok,
                started,
                millis,
                output: crate::steps::last_lines(&output),
            });
        }
        if r.is_ok() && state::order(phase) > self.state.reached.map_or(0, state::order) {
            self.state.reached = Some(phase);
        }
        self.save()?;
        r.map(|(v, _)| v)
    }
}

/// Why this agent's store reports and claims will not be believed by its
/// peers under `b` (which names report keys), if they will not.
fn unheard(seal: Option<&haul_bless::SecretKey>, b: &Blessing) -> Option<String> {
    let keys = b.reporters();
    if keys.is_empty() {
        return None;
    }
    match seal {
        None => Some(
            "the environment has report keys but this agent has none (HAUL_REPORT_KEY): \
             its reports in the store are not believed, and later waves wait for it"
                .into(),
        ),
        Some(k) if !keys.iter().any(|p| p.id() == k.public().id()) => Some(format!(
            "this agent's report key {} is not among the environment's report keys: \
             its reports in the store are not believed, and later waves wait for it",
            k.public().id()
        )),
        Some(_) => None,
    }
}

/// One round of `app`.
pub(crate) async fn sync_app(agent: &Agent, app: &str, mem: &mut Memory) -> Outcome {
    let state_path = state::path(&agent.config.root, app);
    let st = match state::load(&state_path) {
        Ok(s) => s,
        Err(e) => return Outcome::Failed(e.to_string()),
    };
    let mut run = AppRun {
        agent,
        app,
        state: st,
        state_path,
        app_dir: PathBuf::new(),
        host: None,
        live: None,
        wave: None,
        blessing: None,
    };
    let r = round(&mut run, mem).await;
    finish(&mut run, r).await
}

async fn finish(run: &mut AppRun<'_>, r: Result<Outcome, Stop>) -> Outcome {
    let cfg = &run.agent.config;
    match r {
        Ok(o) => o,
        Err(Stop::Waiting(w)) => {
            run.tell(AgentPhase::Waiting, Some(w.clone())).await;
            Outcome::Waiting(w)
        }
        Err(Stop::Backoff(why)) => Outcome::Failed(why),
        Err(Stop::Refused(why)) => {
            let why = why.to_string();
            run.tell(AgentPhase::Refused, Some(why.clone())).await;
            Outcome::Refused(why)
        }
        Err(Stop::Failed(e)) => {
            run.state.failures += 1;
            let shift = run.state.failures.saturating_sub(1).min(20);
            let wait = cfg.interval.saturating_mul(1 << shift).min(cfg.backoff_max);
            let wait = jiff::SignedDuration::try_from(wait).unwrap_or(jiff::SignedDuration::MAX);
            run.state.retry_at = Timestamp::now().checked_add(wait).ok();
            run.tell(AgentPhase::Failed, Some(e.clone())).await;
            // Only a failure changes the state here (its backoff); a round
            // that waited for another process's lock must not write its
            // copy over that process's state.
            if let Err(Stop::Failed(e)) = run.save() {
                run.agent.warn(&e);
            }
            Outcome::Failed(e)
        }
    }
}

/// The release `current` under `app_dir` leads to, read as `live.sh`
/// reads it (`releases/<id>`); `None` when it leads nowhere else.
fn live_link(app_dir: &std::path::Path) -> Option<String> {
    let link = std::fs::read_link(app_dir.join("current")).ok()?;
    link.to_str()?.strip_prefix("releases/").filter(|id| haul_release::is_release_id(id)).map(str::to_string)
}

async fn round(run: &mut AppRun<'_>, mem: &mut Memory) -> Result<Outcome, Stop> {
    let cfg = &run.agent.config;
    let Some(b) = run.blessing(mem).await? else {
        if run.state.reported.is_none() {
            run.tell(AgentPhase::Idle, None).await;
            run.save()?;
        }
        return Ok(Outcome::NoBlessing);
    };
    run.app_dir = cfg.root.join(&b.steps.path);
    let dir = run.app_dir.to_str().ok_or_else(|| Stop::Failed("the root is not UTF-8".into()))?.to_string();
    run.host = Some(HostApp::new(run.agent.transport(), dir));
    run.wave = Some(crate::waves::wave_of(&b, &cfg.host, &cfg.roles, &cfg.labels));
    run.state.begin(b.version);
    run.blessing = Some(b.clone());
    if mem.seal_judged != Some(b.version) {
        mem.seal_judged = Some(b.version);
        if let Some(why) = unheard(run.agent.seal.as_ref(), &b) {
            run.agent.warn(&format!("{}: {why}", run.app));
        }
    }

    let in_flight = run.state.in_flight.is_some();

    // An agent runs on its host, so whether `current` leads to this
    // blessing's release is one `readlink` of its own: a round decides by
    // it and starts no host script until it must change something. Idle
    // agents cost no process per interval, and a round that works reads
    // the host once, under the lock, as a push deploy does.
    run.live = live_link(&run.app_dir);
    let live_here = run.live.as_deref() == Some(b.release.as_str());
    if live_here && !in_flight && (run.state.reached.is_none() || run.state.done(AgentPhase::Live)) {
        run.state.reached = Some(AgentPhase::Live);
        run.state.failures = 0;
        run.state.retry_at = None;
        let beat = std::cmp::max(cfg.interval, cfg.silent_after / 2);
        let due = run
            .state
            .reported
            .is_none_or(|at| Timestamp::now().as_second().saturating_sub(at.as_second()) >= beat.as_secs() as i64);
        let reported_live = run.state.steps.iter().any(|s| s.phase == AgentPhase::Live);
        if due || !reported_live {
            if !reported_live {
                run.state.push_step(StepReport {
                    phase: AgentPhase::Live,
                    name: "live".into(),
                    ok: true,
                    started: Timestamp::now(),
                    millis: 0,
                    output: String::new(),
                });
            }
            run.tell(AgentPhase::Live, None).await;
            run.save()?;
        }
        return Ok(Outcome::Live { version: b.version, release: b.release.to_string() });
    }
    if !in_flight
        && let Some(at) = run.state.retry_at
        && at > Timestamp::now()
    {
        let last = run.state.steps.iter().rev().find(|s| !s.ok).map(|s| s.output.clone()).unwrap_or_default();
        return Err(Stop::Backoff(format!("retrying at {at} after {} failure(s): {last}", run.state.failures)));
    }

    let (token, hs) = lock(run, &b).await?;
    let r = locked(run, &b, &token, hs).await;
    if let Err(e) = run.host().unlock(&token).await {
        run.agent.warn(&format!("{}: could not release the lock: {e}", run.app));
    }
    r?;
    run.state.failures = 0;
    run.state.retry_at = None;
    run.tell(AgentPhase::Live, None).await;
    run.save()?;
    Ok(Outcome::Live { version: b.version, release: b.release.to_string() })
}

/// The round's work once the lock is held. The state is read again first:
/// another agent process for this app (an overlapping cron run) may have
/// worked while this one waited, and only a lock holder may judge a step in
/// flight as cut short by a crash.
async fn locked(run: &mut AppRun<'_>, b: &Blessing, token: &str, hs: Option<HostState>) -> Result<(), Stop> {
    let mut fresh = state::load(&run.state_path).map_err(|e| Stop::Failed(e.to_string()))?;
    let ours = run.state.accepted.clone();
    if ours.as_ref().map(|a| a.version) > fresh.accepted.as_ref().map(|a| a.version) {
        fresh.accepted = ours;
    }
    fresh.begin(b.version);
    fresh.reported = fresh.reported.max(run.state.reported);
    run.state = fresh;

    // A step a crash cut short is reported failed, then redone below.
    let crashed = run.state.in_flight.take();
    let mut stale = None;
    if let Some(f) = &crashed {
        run.state.push_step(StepReport {
            phase: f.phase,
            name: format!("{:?}", f.phase).to_lowercase(),
            ok: false,
            started: f.started,
            millis: 0,
            output: format!("the agent stopped during {:?} of release {}", f.phase, f.release).to_lowercase(),
        });
        if f.release != b.release.as_str() {
            stale = Some(f.release.clone());
        }
        run.save()?;
    }

    crate::work::work(run, b, token, stale.as_deref(), hs).await
}

/// Takes the app's host lock, taking over one whose holder is certainly
/// dead (an agent killed with it), as push does; with what is on the host,
/// read under the lock in the same script, when it was free.
async fn lock(run: &mut AppRun<'_>, b: &Blessing) -> Result<(String, Option<HostState>), Stop> {
    let info = LockInfo::new(
        run.agent.holder.clone(),
        &run.agent.user,
        format!("agent {} {} v{}", run.app, run.agent.config.env, b.version),
    );
    let token = info.token.clone();
    let host = run.host();
    let failed = |e: haul_host::HostError| Stop::Failed(e.to_string());
    let theirs = match host.lock_inspect(&info).await.map_err(failed)? {
        (LockOutcome::Acquired, hs) => return Ok((token, hs)),
        (LockOutcome::Held(theirs), _) => theirs,
    };
    let Some(why) = theirs.holder.dead(&info.holder).filter(|_| !theirs.is_unreadable()) else {
        return Err(Stop::Waiting(format!("locked by {}", theirs.describe())));
    };
    let event = Event {
        reason: Some(format!("taken over: {why} ({})", theirs.command)),
        ..Event::now(EventKind::Unlock, &info.user)
    };
    match host.take_over(&theirs, &info, &event).await.map_err(failed)? {
        LockOutcome::Acquired => Ok((token, None)),
        LockOutcome::Held(now) => Err(Stop::Waiting(format!("locked by {}", now.describe()))),
    }
}
