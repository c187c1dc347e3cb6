//! One sync, set by set: for a `commands` set the snapshot, the stream
//! and, when anything in the stream failed, the restore (the import may
//! have read part of it), with progress and what moved.

use crate::chain::{self, Stage};
use crate::meter::{Meter, human};
use crate::{ContentError, StepKind, SyncPlan};
use haul_config::{ContentKind, ContentSet, FilesTo, HostTarget};
use haul_deploy::{Engine, Progress};
use haul_host::HostApp;
use haul_transport::{LineSink, Local, Stream, Transport};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What one set's sync moved.
#[derive(Debug, Clone)]
pub struct SetOutcome {
    pub name: String,
    pub from_host: String,
    pub to_host: String,
    /// Bytes the export wrote, and their blake3.
    pub exported: u64,
    pub export_digest: String,
    /// Bytes the import read (after the transforms), and their blake3.
    pub imported: u64,
    pub import_digest: String,
    /// Files sets: how many files travelled (to all target hosts).
    pub files_sent: Option<usize>,
    pub elapsed: Duration,
}

/// Runs `plan`, one set after another, stopping at the first that fails;
/// what each set that synced moved is pushed to `done` as it ends.
pub async fn sync(engine: &Engine, plan: &SyncPlan<'_>, done: &mut Vec<SetOutcome>) -> Result<(), ContentError> {
    for (name, set) in &plan.sets {
        if let Some(what) = set.into_env(&plan.to).subset {
            let note = format!("{name}: {} takes a subset: {what}", plan.to);
            engine.observer.progress(haul_deploy::Progress::Note(&note));
        }
        let work = |token: String| async move {
            match set.kind() {
                ContentKind::Commands => commands(engine, plan, name, set).await,
                ContentKind::Files => crate::files::files(engine, plan, name, set, &token).await,
            }
        };
        done.push(under_lock(engine, plan, name, set, work).await?);
    }
    Ok(())
}

/// Runs `work` with the app locked on every target host of `set` (the
/// deploy lock: a deploy and a sync never change the same host at once;
/// all or none, released whatever happens, and a lock a killed sync left
/// is taken over as a deploy's would be). `work` is given the locks'
/// token: a switch on a host is made only while it still holds the lock.
async fn under_lock<T, F: std::future::Future<Output = Result<T, ContentError>>>(
    engine: &Engine,
    plan: &SyncPlan<'_>,
    name: &str,
    set: &ContentSet,
    work: impl FnOnce(String) -> F,
) -> Result<T, ContentError> {
    let path = engine.config.app(&plan.app)?.path.as_ref().map(|p| p.get_ref().clone());
    let apps = targets(engine, plan, set)?
        .iter()
        .map(|t| engine.host_app(t, t.app_dir(&plan.app, path.as_deref())))
        .collect::<Result<Vec<_>, _>>()?;
    let command = format!("content sync {} {name} from {}", plan.app, plan.from);
    let token = engine.lock_all(&apps, command, engine.unlock_hint(&plan.app, &plan.to)).await?;
    let result = work(token.clone()).await;
    engine.unlock_all(&apps, &token).await;
    result
}

/// The hosts of the target a set writes: the one that imports a
/// `commands` set, every host of the target (or one) for a `files` set.
pub(crate) fn targets(engine: &Engine, plan: &SyncPlan<'_>, set: &ContentSet) -> Result<Vec<HostTarget>, ContentError> {
    Ok(match (set.kind(), set.files_to()) {
        (ContentKind::Commands, _) | (ContentKind::Files, FilesTo::One) => {
            vec![pick(engine, &plan.app, &plan.to, set)?]
        }
        (ContentKind::Files, FilesTo::Every) => match set.role() {
            Some(r) => engine.config.hosts_of(&plan.to, &[r.to_string()], &[])?,
            None => engine.config.app_hosts(&plan.app, &plan.to, &[])?,
        },
    })
}

/// The host of `env` that runs a set's steps: the first with the set's
/// role, or the first that receives the app.
pub(crate) fn pick(engine: &Engine, app: &str, env: &str, set: &ContentSet) -> Result<HostTarget, ContentError> {
    let hosts = match set.role() {
        Some(r) => engine.config.hosts_of(env, &[r.to_string()], &[])?,
        None => engine.config.app_hosts(app, env, &[])?,
    };
    Ok(hosts.into_iter().next().expect("hosts_of refuses an empty answer"))
}

pub(crate) fn sink(engine: &Engine, host: &str) -> LineSink {
    let obs = engine.observer.clone();
    let tag = host.to_string();
    Arc::new(move |s: Stream, line: &str| {
        let tag = if s == Stream::Stderr { format!("{tag}!") } else { tag.clone() };
        obs.progress(Progress::Line { host: Some(&tag), line })
    })
}

async fn commands(
    engine: &Engine,
    plan: &SyncPlan<'_>,
    name: &str,
    set: &ContentSet,
) -> Result<SetOutcome, ContentError> {
    let config = &engine.config;
    let app = config.app(&plan.app)?;
    let path = app.path.as_ref().map(|p| p.get_ref().as_str());
    let (src, dst) = (pick(engine, &plan.app, &plan.from, set)?, pick(engine, &plan.app, &plan.to, set)?);
    let (src_dir, dst_dir) = (src.app_dir(&plan.app, path), dst.app_dir(&plan.app, path));
    let (src_app, dst_app) = (engine.host_app(&src, src_dir.clone())?, engine.host_app(&dst, dst_dir.clone())?);
    let vars = |env: &str, host: &str| {
        vec![
            ("HAUL_APP".to_string(), plan.app.clone()),
            ("HAUL_ENV".to_string(), env.to_string()),
            ("HAUL_HOST".to_string(), host.to_string()),
            ("HAUL_CONTENT_SET".to_string(), name.to_string()),
            ("HAUL_CONTENT_FROM".to_string(), plan.from.clone()),
            ("HAUL_CONTENT_TO".to_string(), plan.to.clone()),
        ]
    };
    let (src_vars, dst_vars) = (vars(&plan.from, &src.name), vars(&plan.to, &dst.name));
    let fail = |step: StepKind, host: &str, message: String, target: String| ContentError::Step {
        set: name.to_string(),
        step,
        host: host.to_string(),
        message,
        target,
    };
    let label = format!("{name}: {}/{} → {}/{}", plan.from, src.name, plan.to, dst.name);
    let started = Instant::now();
    let obs = &engine.observer;

    if let Some(snapshot) = &set.snapshot {
        let out = dst_app
            .run_step(snapshot.get_ref(), &dst_dir, &dst_vars, Some(sink(engine, &dst.name)))
            .await
            .map_err(|e| fail(StepKind::Snapshot, &dst.name, e.to_string(), unchanged(&plan.to)))?;
        if !out.success() {
            return Err(fail(StepKind::Snapshot, &dst.name, chain::describe(&out), unchanged(&plan.to)));
        }
    }

    let step = |kind, app: &HostApp, command: &str, dir: &str, vars: &[(String, String)]| {
        let (script, args) = haul_host::step_script(command, dir, vars);
        Stage {
            kind,
            host: app.host().to_string(),
            transport: app.transport().clone(),
            script,
            args,
            sink: Some(sink(engine, app.host())),
        }
    };
    let here = HostApp::new(Transport::Local(Local::new("this machine")), config.dir.display().to_string());
    let eff = set.into_env(&plan.to);
    let mut stages =
        vec![step(StepKind::Export, &src_app, eff.export.as_deref().expect("checked"), &src_dir, &src_vars)];
    for t in &eff.transform {
        stages.push(step(StepKind::Transform, &here, t, here.dir(), &dst_vars));
    }
    stages.push(step(StepKind::Import, &dst_app, set.import.as_ref().expect("checked").get_ref(), &dst_dir, &dst_vars));

    let (exported, imported) = (Arc::new(Meter::default()), Arc::new(Meter::default()));
    let ticker = {
        let (obs, exported, label) = (obs.clone(), exported.clone(), label.clone());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(500)).await;
                let line = format!("{label}: {}", rate(exported.bytes(), started.elapsed()));
                obs.progress(Progress::Started { host: Some("content"), label: &line });
            }
        })
    };
    let result = chain::run(stages, haul_transport::Input::None, None, exported.clone(), imported.clone()).await;
    ticker.abort();
    let elapsed = started.elapsed();
    let summary = format!("{label}  {}", rate(exported.bytes(), elapsed));
    obs.progress(Progress::Finished { host: Some("content"), label: &summary, ok: result.is_ok(), elapsed });

    if let Err(blame) = result {
        let target = match &set.restore {
            None => format!(
                "content set `{name}` has no snapshot: environment `{}` (host {}) may be partly changed",
                plan.to, dst.name
            ),
            Some(restore) => {
                match dst_app.run_step(restore.get_ref(), &dst_dir, &dst_vars, Some(sink(engine, &dst.name))).await {
                    Ok(o) if o.success() => {
                        format!("environment `{}` (host {}) was restored from the snapshot", plan.to, dst.name)
                    }
                    Ok(o) => format!(
                        "the restore on {} failed too ({}): environment `{}` may be partly changed",
                        dst.name,
                        chain::describe(&o),
                        plan.to
                    ),
                    Err(e) => format!(
                        "the restore on {} failed too ({e}): environment `{}` may be partly changed",
                        dst.name, plan.to
                    ),
                }
            }
        };
        return Err(fail(blame.kind, &blame.host, blame.message, target));
    }
    Ok(SetOutcome {
        name: name.to_string(),
        from_host: src.name,
        to_host: dst.name,
        exported: exported.bytes(),
        export_digest: exported.digest(),
        imported: imported.bytes(),
        import_digest: imported.digest(),
        files_sent: None,
        elapsed,
    })
}

fn unchanged(env: &str) -> String {
    format!("nothing was imported: environment `{env}` is unchanged")
}

/// `12.3 MiB (4.1 MiB/s)`.
fn rate(bytes: u64, elapsed: Duration) -> String {
    let per = (bytes as f64 / elapsed.as_secs_f64().max(0.001)) as u64;
    format!("{} ({}/s)", human(bytes), human(per))
}
