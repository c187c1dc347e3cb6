//! Commands that look at or tidy hosts without deploying: status, prune,
//! remove, unlock, exec, check. Each that changes a host holds its lock.
//! What they do on a host is `haul-host`'s (its scripts, its layout); this
//! module decides where and reports.

use crate::fanout::each;
use crate::{DeployError, Engine, Progress};
use haul_config::HostTarget;
use haul_host::{Event, EventKind, HostApp, HostError, HostState, LockInfo};
use haul_transport::{LineSink, Output, Stream};
use std::sync::Arc;

/// One host's answer, or why it gave none.
pub type PerHost<T> = Vec<(HostTarget, Result<T, HostError>)>;

impl Engine {
    fn targets(&self, app: &str, env: &str, only: &[String]) -> Result<(Vec<HostTarget>, Vec<HostApp>), DeployError> {
        let hosts = self.config.app_hosts(app, env, only)?;
        let path = self.config.app(app)?.path.as_ref().map(|p| p.get_ref().clone());
        let apps =
            hosts.iter().map(|h| self.host_app(h, h.app_dir(app, path.as_deref()))).collect::<Result<Vec<_>, _>>()?;
        Ok((hosts, apps))
    }

    /// What is on each host of `env` for `app`.
    pub async fn inspect(&self, app: &str, env: &str, only: &[String]) -> Result<PerHost<HostState>, DeployError> {
        let (hosts, apps) = self.targets(app, env, only)?;
        let states = each(apps, self.parallel, |a| async move { a.inspect().await }).await;
        Ok(hosts.into_iter().zip(states).collect())
    }

    /// Runs `f` on every host with the app locked.
    pub(crate) async fn locked<T, F, Fut>(
        &self,
        app: &str,
        env: &str,
        only: &[String],
        verb: &str,
        f: F,
    ) -> Result<Vec<(HostTarget, T)>, DeployError>
    where
        F: Fn(HostApp, HostState, String) -> Fut,
        Fut: std::future::Future<Output = Result<T, DeployError>>,
    {
        let (hosts, apps) = self.targets(app, env, only)?;
        let token = self
            .lock_all(&apps, format!("{verb} {app} {env}"), format!("haul unlock {app} {env} --reason \"…\""))
            .await?;
        let result = async {
            let states = each(apps.clone(), self.parallel, |a| async move { a.inspect().await }).await;
            let mut pairs = Vec::new();
            for (a, s) in apps.iter().zip(states) {
                pairs.push((a.clone(), s?));
            }
            let out = each(pairs, self.parallel, |(a, s)| f(a, s, token.clone())).await;
            let mut done = Vec::new();
            for (h, r) in hosts.into_iter().zip(out) {
                done.push((h, r?));
            }
            Ok(done)
        }
        .await;
        self.unlock_all(&apps, &token).await;
        result
    }

    /// Removes all but the newest `keep` releases on each host (never the
    /// live one). Returns what was removed where.
    pub async fn prune(
        &self,
        app: &str,
        env: &str,
        keep: usize,
        only: &[String],
    ) -> Result<Vec<(HostTarget, Vec<String>)>, DeployError> {
        self.locked(app, env, only, "prune", |a, s, token| async move {
            // With nothing live, keep the newest releases.
            let live = s.current.clone().or_else(|| s.newest_complete().map(str::to_string)).unwrap_or_default();
            let doomed = s.prune_set(&live, keep);
            let done = a.prune(&doomed, s.leftovers, keep, &token, |id| self.removal(env, id)).await?;
            for (id, why) in &done.kept {
                self.observer.progress(Progress::Warn(&format!("{}: not pruned {id}: {why}", a.host())));
            }
            for w in &done.warnings {
                self.observer.progress(Progress::Warn(&format!("{}: pruning: {w}", a.host())));
            }
            Ok(done.removed)
        })
        .await
    }

    /// Removes release `id` from every host that has it. Refused, before
    /// anything is removed, when it is live on any host.
    pub async fn remove(&self, app: &str, env: &str, id: &str, only: &[String]) -> Result<Vec<String>, DeployError> {
        let checked = haul_release::ReleaseId::parse(id)?;
        let states = self.inspect(app, env, only).await?;
        let mut live_on = Vec::new();
        let mut present = false;
        for (h, s) in states {
            let s = s?;
            if s.current.as_deref() == Some(id) {
                live_on.push(h.name.clone());
            }
            present |= s.releases.iter().any(|r| r.id == id);
        }
        if !live_on.is_empty() {
            return Err(DeployError::Refused(format!(
                "release {id} is live on {}; roll back or deploy another release first",
                live_on.join(", ")
            )));
        }
        if !present {
            return Err(DeployError::Refused(format!("no host of {env} has release {id}")));
        }
        let done = self
            .locked(app, env, only, "remove", |a, s, token| {
                let checked = checked.clone();
                async move {
                    if s.current.as_deref() == Some(id) {
                        return Err(DeployError::Refused(format!(
                            "{}: release {id} became live; not removed",
                            a.host()
                        )));
                    }
                    if !s.releases.iter().any(|r| r.id == id) {
                        return Ok(false);
                    }
                    a.remove(std::slice::from_ref(&checked), |id| self.removal(env, id), &token).await?;
                    Ok(true)
                }
            })
            .await?;
        Ok(done.into_iter().filter(|(_, d)| *d).map(|(h, _)| h.name).collect())
    }

    fn removal(&self, env: &str, id: &str) -> Event {
        Event {
            from: Some(id.to_string()),
            env: Some(env.to_string()),
            ..Event::now(EventKind::Remove, &self.who.user)
        }
    }

    /// Clears the lock on every host, recording who did it and why.
    pub async fn unlock(
        &self,
        app: &str,
        env: &str,
        reason: &str,
        only: &[String],
    ) -> Result<PerHost<Option<LockInfo>>, DeployError> {
        let (hosts, apps) = self.targets(app, env, only)?;
        let event = Event {
            env: Some(env.to_string()),
            reason: Some(reason.to_string()),
            ..Event::now(EventKind::Unlock, &self.who.user)
        };
        let out = each(apps, self.parallel, |a| {
            let event = event.clone();
            async move { a.force_unlock(&event).await }
        })
        .await;
        Ok(hosts.into_iter().zip(out).collect())
    }

    /// Runs `command` on the hosts of `env` (filtered by roles and names) in
    /// each host's deploy root, streaming lines as they come.
    pub async fn exec(
        &self,
        env: &str,
        roles: &[String],
        only: &[String],
        command: &str,
    ) -> Result<PerHost<Output>, DeployError> {
        let hosts = self.config.hosts_of(env, roles, only)?;
        let runs = hosts
            .iter()
            .map(|h| Ok((h.clone(), self.host_app(h, h.root.clone())?)))
            .collect::<Result<Vec<_>, DeployError>>()?;
        let out = each(runs, self.parallel, |(h, host)| async move {
            let env_vars = vec![
                ("HAUL_ENV".to_string(), env.to_string()),
                ("HAUL_HOST".to_string(), h.name.clone()),
                ("HAUL_ROLES".to_string(), h.roles.join(",")),
            ];
            let obs = self.observer.clone();
            let name = h.name.clone();
            let sink: LineSink = Arc::new(move |s: Stream, line: &str| {
                let tag = if s == Stream::Stderr { format!("{name}!") } else { name.clone() };
                obs.progress(Progress::Line { host: Some(&tag), line })
            });
            host.run_command(command, &env_vars, Some(sink)).await
        })
        .await;
        Ok(hosts.into_iter().zip(out).collect())
    }
}

/// What `haul check --hosts` learns about one host.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Probe {
    pub host: String,
    /// Why the host could not be reached, if it could not.
    pub unreachable: Option<String>,
    /// The host's key fingerprints when its key is not known here.
    pub unknown_key: Vec<String>,
    /// Every tool of `haul_host::TOOLS`, and whether the host has it.
    pub tools: std::collections::BTreeMap<String, bool>,
    /// The required tools the host lacks, each with what it is for.
    pub missing: Vec<String>,
    /// Free space under the deploy root, in KiB.
    pub free_kib: Option<u64>,
    pub root_writable: bool,
    /// Apps locked on this host, with who holds them.
    pub locks: Vec<String>,
}

impl Probe {
    /// Whether haul can deploy to this host.
    pub fn ready(&self) -> bool {
        self.unreachable.is_none() && self.root_writable && self.missing.is_empty()
    }
}

impl Engine {
    /// Connects to every host of the config (or of `env`) and checks what
    /// deploys need there.
    pub async fn probe(&self, env: Option<&str>) -> Result<Vec<Probe>, DeployError> {
        let names: Vec<String> = match env {
            Some(e) => self.config.hosts_of(e, &[], &[])?.into_iter().map(|h| h.name).collect(),
            None => self.config.hosts.keys().map(|k| k.get_ref().clone()).collect(),
        };
        let apps: Vec<String> = self.config.apps.keys().map(|k| k.get_ref().clone()).collect();
        let targets: Vec<HostTarget> = names.iter().map(|n| self.config.host_target(n)).collect();
        let out = each(targets, self.parallel, |t| {
            let apps = apps.clone();
            async move { self.probe_one(t, &apps).await }
        })
        .await;
        out.into_iter().collect()
    }

    async fn probe_one(&self, t: HostTarget, apps: &[String]) -> Result<Probe, DeployError> {
        let host = self.host_app(&t, t.root.clone())?;
        let mut p = Probe {
            host: t.name.clone(),
            unreachable: None,
            unknown_key: vec![],
            tools: Default::default(),
            missing: vec![],
            free_kib: None,
            root_writable: false,
            locks: vec![],
        };
        let apps: Vec<(String, String)> = apps
            .iter()
            .map(|a| {
                let path = self.config.app(a).ok().and_then(|x| x.path.as_ref().map(|p| p.get_ref().clone()));
                (a.clone(), t.app_dir(a, path.as_deref()))
            })
            .collect();
        let found = match host.probe(&apps).await {
            Ok(found) => found,
            Err(e) => {
                if e.message.contains("host key") || e.message.contains("Host key") {
                    p.unknown_key = fingerprints(&t).await;
                }
                p.unreachable = Some(e.message);
                return Ok(p);
            }
        };
        p.tools = found.tools;
        p.root_writable = found.writable;
        p.free_kib = found.free_kib;
        for (app, info) in found.locks {
            let who = serde_json::from_str::<LockInfo>(&info).map(|l| l.describe()).unwrap_or(info);
            p.locks.push(format!("{app}: {who}"));
        }
        p.missing = haul_host::missing_tools(&p.tools);
        Ok(p)
    }
}

/// The fingerprints of a host's keys, read with `ssh-keyscan`, so a person
/// can compare them with what the host's owner says before trusting them.
async fn fingerprints(t: &HostTarget) -> Vec<String> {
    let haul_config::Reach::Ssh { address, port, .. } = &t.reach else { return vec![] };
    let scan = tokio::process::Command::new("ssh-keyscan")
        .args(["-T", "5", "-p", &port.unwrap_or(22).to_string(), address])
        .stderr(std::process::Stdio::null())
        .output()
        .await;
    let Ok(scan) = scan else { return vec![] };
    let Ok(mut child) = tokio::process::Command::new("ssh-keygen")
        .args(["-l", "-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
    else {
        return vec![];
    };
    if let Some(mut stdin) = child.stdin.take() {
        use tokio::io::AsyncWriteExt;
        let _ = stdin.write_all(&scan.stdout).await;
    }
    match child.wait_with_output().await {
        Ok(o) => String::from_utf8_lossy(&o.stdout).lines().map(str::to_string).collect(),
        Err(_) => vec![],
    }
}
