//! One pull deploy or rollback once its ledger deployment is started:
//! bless the release, follow the agents' reports, and apply the
//! environment's failure policy (bless the previous release again and
//! follow that, halt, or continue). The caller starts and finishes the
//! deployment and records each host's change (`record`), so the CLI and
//! the server run the very same rule.

use crate::Result;
use crate::bless::{Bless, publish};
use crate::follow::{Ended, Followed, HostSeen, Target, before, follow};
use haul_config::{Config, FailurePolicy};
use haul_deploy::{DeployReport, HostStatus, Observer, Progress};
use haul_release::ReleaseId;
use haul_store::Store;
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

/// Blesses `g.release`, follows it, and applies the failure policy.
/// `record` hears each host whose status changed in the first follow.
pub async fn go<F>(observer: &dyn Observer, g: &Go<'_>, record: F) -> Result<DeployReport>
where
    F: AsyncFnMut(&str, &HostSeen),
{
    let (config, store, app, env, id) = (g.config, g.store, g.app, g.env, g.release);
    let e = &config.environments[env];
    let t0 = Instant::now();
    let start = before(store, app, env).await?;
    let bless =
        |reason: Option<String>| Bless { config, store, app, env, by: g.by, reason, deployment: Some(g.deployment) };
    let doc = publish(observer, &bless(g.reason.clone()), id).await?;
    observer.progress(Progress::Note(&format!("blessed {app} {id} for {env} as version {}", doc.version)));
    let deadline = t0 + e.follow_timeout().0;
    let policy = if g.kind == Kind::Rollback { FailurePolicy::Halt } else { e.failure };
    let target = Target {
        store,
        app,
        env,
        doc: &doc,
        version: doc.version,
        release: id.to_string(),
        issued: doc.issued,
        listed: e.hosts.iter().map(|h| h.get_ref().clone()).collect(),
        silent_after: e.silent_after().0,
        deadline,
        go_on: policy == FailurePolicy::Continue,
    };
    let followed = follow(observer, &target, &start, record).await?;
    let kind = g.kind.as_str();
    let report = |f: &Followed, ok: bool, message: Option<String>, status: &dyn Fn(&str, HostStatus) -> HostStatus| {
        DeployReport {
            kind,
            app: app.into(),
            env: env.into(),
            release: Some(id.to_string()),
            ok,
            message,
            hosts: f.hosts.iter().map(|(h, s)| s.report(h, status(h, s.status(id.as_str())))).collect(),
            elapsed_ms: t0.elapsed().as_millis() as u64,
        }
    };
    let end = |s: HostStatus| if s == HostStatus::Running { HostStatus::Untouched } else { s };
    let problem = match &followed.ended {
        Ended::Live { failed } if failed.is_empty() => return Ok(report(&followed, true, None, &|_, s| s)),
        Ended::Live { failed } => {
            let msg = format!("failed on {} (failure policy: continue)", failed.join(", "));
            return Ok(report(&followed, false, Some(msg), &|_, s| end(s)));
        }
        Ended::Failed { hosts } => format!("failed on {}", hosts.join(", ")),
        Ended::TimedOut { waiting } if waiting.is_empty() => {
            format!("timed out after {}: no agent of {app} in {env} reported", e.follow_timeout())
        }
        Ended::TimedOut { waiting } => {
            format!("timed out after {} waiting for {}", e.follow_timeout(), waiting.join(", "))
        }
    };
    let Some(previous) = doc.previous.clone().filter(|_| policy == FailurePolicy::Rollback) else {
        let why = match policy {
            FailurePolicy::Rollback => "no release was blessed before, so there is nothing to go back to",
            _ => "halted (failure policy: halt); hosts are left as they are",
        };
        let msg = format!("{problem}\n{why}");
        return Ok(report(&followed, false, Some(msg), &|_, s| end(s)));
    };
    observer.progress(Progress::Warn(&format!("{problem}\nblessing {previous} again (failure policy: rollback)")));
    let back = publish(observer, &bless(Some(format!("rollback: {problem}"))), &previous).await?;
    let start_back = before(store, app, env).await?;
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
        back_follow
            .hosts
            .get(h)
            .is_some_and(|s| matches!(s.status(previous.as_str()), HostStatus::Ok | HostStatus::Unchanged))
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
