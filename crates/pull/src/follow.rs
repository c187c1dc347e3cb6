//! Following a blessing: the agents' reports in the store, read every
//! quarter second, turned into the same progress a push deploy shows (a
//! phase as the first host reaches it, each host's steps started and
//! finished) and into host results for the ledger, until every expected
//! host is live on the blessing's version, one fails, or time runs out.

use haul_deploy::{HostReport, HostStatus, Observer, Progress};
use haul_ledger::{HostResult, Phase};
use haul_store::Store;
use haul_store::reports::{AgentPhase, AgentReport, Reporters};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

const POLL: Duration = Duration::from_millis(250);

/// What is followed.
pub struct Target<'a> {
    pub store: &'a Store,
    pub app: &'a str,
    pub env: &'a str,
    /// The blessing followed (its waves are judged by the agents' rule,
    /// `haul_agent::waves`).
    pub doc: &'a haul_bless::Blessing,
    pub version: u64,
    pub release: String,
    pub issued: jiff::Timestamp,
    /// The hosts the environment lists; empty: every agent that reports
    /// and is not silent.
    pub listed: Vec<String>,
    pub silent_after: Duration,
    pub deadline: Instant,
    /// Failed hosts stop the follow unless the policy is `continue`.
    pub go_on: bool,
}

/// Where one host is with the blessing followed.
#[derive(Debug, Clone)]
pub struct HostSeen {
    pub phase: Option<AgentPhase>,
    pub live: Option<String>,
    pub before: Option<String>,
    pub error: Option<String>,
    pub started: Option<Instant>,
    pub elapsed: Duration,
    /// It reached the switch of this blessing.
    pub switched: bool,
    /// Its latest report about the blessing followed.
    pub last: Option<AgentReport>,
}

/// How a follow ended.
#[derive(Debug)]
pub enum Ended {
    /// Every expected host is live on the version (`failed`: hosts that
    /// failed under `continue`).
    Live {
        failed: Vec<String>,
    },
    Failed {
        hosts: Vec<String>,
    },
    TimedOut {
        waiting: Vec<String>,
    },
    /// A verification a wave names did not pass: the agents of later
    /// waves do not switch past it, so following further waits for nothing.
    VerificationFailed {
        wave: String,
        names: Vec<String>,
    },
}

pub struct Followed {
    pub ended: Ended,
    pub hosts: BTreeMap<String, HostSeen>,
}

impl HostSeen {
    /// The host's status on the blessing followed: the ledger's rule for
    /// an agent's report (`haul_agent::record`), untouched before any.
    pub fn status(&self) -> HostStatus {
        self.last.as_ref().map_or(HostStatus::Untouched, haul_agent::record::status)
    }

    /// The host result the ledger records: the one mapping `haul server`
    /// uses for the same report.
    pub fn result(&self, host: &str) -> HostResult {
        match &self.last {
            Some(r) => HostResult::captured(haul_agent::record::host_result(r)),
            None => HostResult {
                host: host.to_string(),
                phase: Phase::Stage,
                status: HostStatus::Untouched,
                error: None,
                elapsed_ms: 0,
            },
        }
    }

    fn reached(&self) -> Phase {
        self.last.as_ref().map_or(Phase::Stage, haul_agent::record::reached)
    }

    pub fn report(&self, host: &str, status: HostStatus) -> HostReport {
        HostReport {
            host: host.to_string(),
            status,
            live: self.live.clone(),
            before: self.before.clone(),
            reached: self.reached(),
            elapsed_ms: self.elapsed.as_millis() as u64,
            error: self.error.clone(),
            stage: None,
            secrets: Vec::new(),
        }
    }
}

/// Every agent's report, one by one (`haul_store::reports::read_each`),
/// with what could not be read named.
async fn reports(
    store: &Store,
    app: &str,
    env: &str,
    reporters: &Reporters,
) -> Result<(Vec<AgentReport>, Vec<String>), haul_store::StoreError> {
    let read = haul_store::reports::read_each(store, app, env, reporters).await?;
    Ok((read.reports, read.problems.iter().map(ToString::to_string).collect()))
}

/// What each agent runs now, before a blessing: its `before`.
pub async fn before(
    store: &Store,
    app: &str,
    env: &str,
    reporters: &Reporters,
) -> Result<BTreeMap<String, AgentReport>, haul_store::StoreError> {
    Ok(reports(store, app, env, reporters).await?.0.into_iter().map(|r| (r.host.clone(), r)).collect())
}

/// Follows `t` until it ends; `on_change` hears each host whose status
/// changed (for the ledger).
pub async fn follow<F>(
    observer: &dyn Observer,
    t: &Target<'_>,
    start: &BTreeMap<String, AgentReport>,
    mut on_change: F,
) -> Result<Followed, haul_store::StoreError>
where
    F: AsyncFnMut(&str, &HostSeen),
{
    let mut hosts: BTreeMap<String, HostSeen> = BTreeMap::new();
    // Hosts that reported a failure of this blessing: under `continue` a
    // failure once told stays one, so a host that later recovers (its
    // agent retries) cannot turn the run into a success after it was
    // told failed.
    let mut failed_once: BTreeSet<String> = BTreeSet::new();
    let now = jiff::Timestamp::now();
    let silent =
        |r: &AgentReport, now: jiff::Timestamp| now.duration_since(r.at).as_secs() as u64 > t.silent_after.as_secs();
    let new_seen = |host: &str| HostSeen {
        phase: None,
        live: start.get(host).and_then(|r| r.live.clone()),
        before: start.get(host).and_then(|r| r.live.clone()),
        error: None,
        started: None,
        elapsed: Duration::ZERO,
        switched: false,
        last: None,
    };
    let mut expected: BTreeSet<String> = t.listed.iter().cloned().collect();
    if expected.is_empty() {
        for r in start.values().filter(|r| !silent(r, now)) {
            expected.insert(r.host.clone());
        }
        for r in start.values().filter(|r| silent(r, now)) {
            observer.progress(Progress::Warn(&format!(
                "agent {} is silent (last contact {}); not waited for",
                r.host,
                crate::ago(r.at, now)
            )));
        }
    }
    for h in &expected {
        hosts.insert(h.clone(), new_seen(h));
    }
    // Phases are told as the furthest host reaches them, never backwards.
    let mut told: Option<Phase> = None;
    observer.progress(Progress::Note(&format!(
        "following the agents of {} in {} (blessing version {})",
        t.app, t.env, t.version
    )));
    let mut waves_done: BTreeSet<usize> = BTreeSet::new();
    let mut waiting_told: BTreeSet<usize> = BTreeSet::new();
    let mut unreadable: Option<String> = None;
    let mut told_problems: BTreeSet<String> = BTreeSet::new();
    // The blessing followed names who may speak for its hosts.
    let reporters = Reporters::of_blessing(t.doc);
    loop {
        let now = jiff::Timestamp::now();
        // The store may be away for a while, or hold a report that cannot
        // be read: said once, and read again until the deadline.
        let reports = match reports(t.store, t.app, t.env, &reporters).await {
            Ok((r, problems)) => {
                unreadable = None;
                for p in problems {
                    if told_problems.insert(p.clone()) {
                        observer.progress(Progress::Warn(&format!("a report is skipped: {p}")));
                    }
                }
                r
            }
            Err(e) => {
                let msg = e.to_string();
                if unreadable.as_deref() != Some(msg.as_str()) {
                    observer.progress(Progress::Warn(&format!("the agents' reports cannot be read: {msg}")));
                    unreadable = Some(msg);
                }
                if Instant::now() >= t.deadline {
                    let waiting = expected
                        .iter()
                        .filter(|h| !hosts.get(*h).is_some_and(|s| s.phase == Some(AgentPhase::Live)))
                        .cloned()
                        .collect();
                    return Ok(Followed { ended: Ended::TimedOut { waiting }, hosts });
                }
                tokio::time::sleep(POLL).await;
                continue;
            }
        };
        // Each wave is told once done, by the rule the agents wait on.
        let mut results = BTreeMap::new();
        if t.doc.waves.iter().any(|w| !w.verifications.is_empty()) {
            // Unreadable now: the agents cannot read them either; the next
            // poll tries again.
            if let Ok(r) =
                haul_store::verifications::read(t.store, t.app, t.env, t.version, t.doc.deployment, &reporters).await
            {
                results = r.into_iter().map(|(n, v)| (n, v.result)).collect();
            }
        }
        let waves =
            haul_agent::waves::progress(t.doc, &reports, now, t.silent_after).with_verifications(t.doc, &results);
        for (i, w) in waves.waves.iter().enumerate() {
            if w.hosts_done() && !w.hosts.is_empty() && !w.done() && waiting_told.insert(i) {
                let names: Vec<String> = w.awaited().iter().map(|n| format!("`{n}`")).collect();
                if !names.is_empty() {
                    observer.progress(Progress::Note(&format!(
                        "wave `{}` done; waiting for verification {}",
                        w.name,
                        names.join(", ")
                    )));
                }
            }
            if w.done() && !w.hosts.is_empty() && waves_done.insert(i) {
                observer.progress(Progress::Note(&format!("wave {} done ({})", w.name, w.live.join(", "))));
            }
        }
        if let Some(w) = waves.waves.iter().find(|w| !w.failed_verifications().is_empty()) {
            let names = w.failed_verifications().iter().map(|n| n.to_string()).collect();
            return Ok(Followed { ended: Ended::VerificationFailed { wave: w.name.clone(), names }, hosts });
        }
        for r in reports {
            let ours = r.blessing == Some(t.version) || (r.phase == AgentPhase::Refused && r.at >= t.issued);
            if !ours {
                continue;
            }
            if t.listed.is_empty() {
                expected.insert(r.host.clone());
            } else if !expected.contains(&r.host) {
                continue;
            }
            let seen = hosts.entry(r.host.clone()).or_insert_with(|| new_seen(&r.host));
            if seen.phase == Some(r.phase) && seen.live == r.live {
                continue;
            }
            let before_status = seen.status();
            let started = *seen.started.get_or_insert_with(Instant::now);
            seen.elapsed = started.elapsed();
            let ph = haul_agent::record::reached(&r);
            if told.is_none_or(|t| ph > t) {
                told = Some(ph);
                observer.progress(Progress::Phase(ph));
            }
            if let Some(old) = seen.phase {
                let label = crate::phase(old);
                observer.progress(Progress::Finished {
                    host: Some(&r.host),
                    label: &label,
                    ok: true,
                    elapsed: seen.elapsed,
                });
            }
            seen.phase = Some(r.phase);
            seen.live = r.live.clone();
            seen.last = Some(r.clone());
            // By the phase, or by a switch step in the report: an agent
            // does not report the start of every quick phase.
            seen.switched |=
                matches!(r.phase, AgentPhase::Switch | AgentPhase::PostJump | AgentPhase::Health | AgentPhase::Live)
                    || r.steps.iter().any(|s| s.phase == AgentPhase::Switch && s.ok);
            let label = crate::phase(r.phase);
            match r.phase {
                AgentPhase::Live => {
                    observer.progress(Progress::Finished {
                        host: Some(&r.host),
                        label: "live",
                        ok: true,
                        elapsed: seen.elapsed,
                    });
                }
                AgentPhase::Failed | AgentPhase::Refused => {
                    failed_once.insert(r.host.clone());
                    seen.error = Some(r.error.clone().unwrap_or_else(|| label.clone()));
                    observer.progress(Progress::Finished {
                        host: Some(&r.host),
                        label: &label,
                        ok: false,
                        elapsed: seen.elapsed,
                    });
                    observer.progress(Progress::Warn(&format!("{}: {}", r.host, seen.error.as_deref().unwrap_or(""))));
                }
                _ => observer.progress(Progress::Started { host: Some(&r.host), label: &label }),
            }
            if seen.status() != before_status || matches!(r.phase, AgentPhase::Live | AgentPhase::Failed) {
                on_change(&r.host, seen).await;
            }
        }
        let failed: Vec<String> = expected
            .iter()
            .filter(|h| failed_once.contains(*h) || hosts.get(*h).is_some_and(|s| s.status() == HostStatus::Failed))
            .cloned()
            .collect();
        if !failed.is_empty() && !t.go_on {
            return Ok(Followed { ended: Ended::Failed { hosts: failed }, hosts });
        }
        let waiting: Vec<String> = expected
            .iter()
            .filter(|h| {
                !failed.contains(h)
                    && !hosts.get(*h).is_some_and(|s| matches!(s.status(), HostStatus::Ok | HostStatus::Unchanged))
            })
            .cloned()
            .collect();
        if waiting.is_empty() && !expected.is_empty() {
            return Ok(Followed { ended: Ended::Live { failed }, hosts });
        }
        if Instant::now() >= t.deadline {
            for h in &waiting {
                if let Some(s) = hosts.get_mut(h) {
                    s.elapsed = s.started.map_or(Duration::ZERO, |i| i.elapsed());
                }
            }
            let _ = now;
            return Ok(Followed { ended: Ended::TimedOut { waiting }, hosts });
        }
        tokio::time::sleep(POLL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(before: &str, phase: AgentPhase, switched: bool, error: Option<&str>) -> HostSeen {
        let at: jiff::Timestamp = "2026-01-01T00:00:09Z".parse().unwrap();
        let step = |phase, ok| haul_store::reports::StepReport {
            phase,
            name: "s".into(),
            ok,
            started: "2026-01-01T00:00:01Z".parse().unwrap(),
            millis: 1,
            output: String::new(),
        };
        let mut steps = vec![step(AgentPhase::Download, true)];
        if switched {
            steps.push(step(AgentPhase::Switch, true));
        }
        let r = AgentReport {
            host: "h1".into(),
            app: "web".into(),
            env: "prod".into(),
            roles: vec![],
            labels: Default::default(),
            wave: Some(0),
            blessing: Some(2),
            release: Some("r2".into()),
            live: Some("r2".into()),
            phase,
            error: error.map(str::to_string),
            steps,
            at,
            agent: "0".into(),
        };
        HostSeen {
            phase: Some(phase),
            live: r.live.clone(),
            before: Some(before.into()),
            error: None,
            started: None,
            elapsed: Duration::ZERO,
            switched,
            last: Some(r),
        }
    }

    /// The follower once judged "unchanged" by what the host ran before
    /// the blessing, the server by whether the agent switched: a host made
    /// live by someone else meanwhile was `ok` in one and `unchanged` in
    /// the other. Both now read the report through `haul_agent::record`.
    #[test]
    fn the_follower_and_the_server_record_the_same_host_result() {
        let s = seen("r1", AgentPhase::Live, false, None);
        let r = s.last.as_ref().unwrap();
        assert_eq!(s.status(), HostStatus::Unchanged);
        assert_eq!(s.result("h1"), HostResult::captured(haul_agent::record::host_result(r)));
        let s = seen("r1", AgentPhase::Live, true, None);
        assert_eq!((s.status(), s.result("h1").elapsed_ms), (HostStatus::Ok, 8000));
        let s = seen("r1", AgentPhase::Failed, false, Some("bad\u{0}byte"));
        let h = s.result("h1");
        assert_eq!(h.status, HostStatus::Failed);
        assert!(!h.error.unwrap().contains('\u{0}'), "a captured error is cleaned as the server cleans it");
    }
}
