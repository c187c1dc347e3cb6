//! Commands that look at or tidy hosts without deploying: status, prune,
//! remove, unlock, exec. Each that changes a host holds its lock.

use crate::engine::prune_set;
use crate::fanout::each;
use crate::{DeployError, Engine, Progress};
use haul_config::HostTarget;
use haul_host::{Event, EventKind, HostApp, HostState, LockInfo, quote};
use haul_transport::{Input, LineSink, Output, Stream};
use std::sync::Arc;

/// One host's answer, or why it gave none.
pub type PerHost<T> = Vec<(HostTarget, Result<T, String>)>;

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
        let states = each(apps, self.parallel, |a| async move { a.inspect().await.map_err(|e| e.to_string()) }).await;
        Ok(hosts.into_iter().zip(states).collect())
    }

    /// Runs `f` on every host with the app locked.
    async fn locked<T, F, Fut>(
        &self,
        app: &str,
        env: &str,
        only: &[String],
        verb: &str,
        f: F,
    ) -> Result<Vec<(HostTarget, T)>, DeployError>
    where
        F: Fn(HostApp, HostState) -> Fut,
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
            let out = each(pairs, self.parallel, |(a, s)| f(a, s)).await;
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
        self.locked(app, env, only, "prune", |a, s| async move {
            let ids: Vec<String> = s.releases.iter().map(|r| r.id.clone()).collect();
            // With nothing live, keep the newest releases.
            let live = s.current.clone().or_else(|| s.newest_complete().map(str::to_string)).unwrap_or_default();
            let doomed = prune_set(&ids, &s, &live, keep);
            a.remove(&doomed, |id| self.removal(env, id)).await?;
            Ok(doomed)
        })
        .await
    }

    /// Removes release `id` from every host that has it. Refused, before
    /// anything is removed, when it is live on any host.
    pub async fn remove(&self, app: &str, env: &str, id: &str, only: &[String]) -> Result<Vec<String>, DeployError> {
        let states = self.inspect(app, env, only).await?;
        let mut live_on = Vec::new();
        let mut present = false;
        for (h, s) in &states {
            let s = s.as_ref().map_err(|e| DeployError::Refused(e.clone()))?;
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
            .locked(app, env, only, "remove", |a, s| async move {
                if s.current.as_deref() == Some(id) {
                    return Err(DeployError::Refused(format!("{}: release {id} became live; not removed", a.host())));
                }
                if !s.releases.iter().any(|r| r.id == id) {
                    return Ok(false);
                }
                a.remove(&[id.to_string()], |id| self.removal(env, id)).await?;
                Ok(true)
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
            async move { a.force_unlock(&event).await.map_err(|e| e.to_string()) }
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
            .map(|h| Ok((h.clone(), self.host_app(h, h.root.clone())?.transport().clone())))
            .collect::<Result<Vec<_>, DeployError>>()?;
        let out = each(runs.clone(), self.parallel, |(h, t)| async move {
            let env_vars = vec![
                ("HAUL_ENV".to_string(), env.to_string()),
                ("HAUL_HOST".to_string(), h.name.clone()),
                ("HAUL_ROLES".to_string(), h.roles.join(",")),
            ];
            let mut script = String::new();
            for (k, v) in &env_vars {
                script.push_str(&format!("export {k}={}\n", quote(v)));
            }
            script.push_str(&format!("cd {} 2>/dev/null || cd\n{command}\n", quote(&h.root)));
            let obs = self.observer.clone();
            let name = h.name.clone();
            let sink: LineSink = Arc::new(move |s: Stream, line: &str| {
                let tag = if s == Stream::Stderr { format!("{name}!") } else { name.clone() };
                obs.progress(Progress::Line { host: Some(&tag), line })
            });
            t.exec(&script, Input::None, Some(sink)).await.map_err(|e| e.to_string())
        })
        .await;
        Ok(hosts.into_iter().zip(out).collect())
    }
}
