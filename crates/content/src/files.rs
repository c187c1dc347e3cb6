//! A `files` set: directories under `shared/` copied from one host of the
//! source to every host of the target (or one, for shared storage).
//!
//! Each target host is listed and compared with the source by size and
//! CRC; only the files it lacks or has otherwise travel, as a tar streamed
//! from the source through this machine into a staged copy of its
//! directories (hard links of what it has). Every target is staged before
//! any is switched, so a failure anywhere leaves every host's directories
//! as they were; each host is switched only while the sync's token still
//! holds its lock.

use crate::chain::{self, Stage};
use crate::meter::Meter;
use crate::run::{SetOutcome, pick, sink};
use crate::{ContentError, StepKind, SyncPlan};
use haul_config::ContentSet;
use haul_deploy::{Engine, Progress};
use haul_host::{ContentFile, HostApp};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

pub(crate) async fn files(
    engine: &Engine,
    plan: &SyncPlan<'_>,
    name: &str,
    set: &ContentSet,
    token: &str,
) -> Result<SetOutcome, ContentError> {
    let config = &engine.config;
    let path = config.app(&plan.app)?.path.as_ref().map(|p| p.get_ref().clone());
    let dirs: Vec<String> = set.into_env(&plan.to).paths;
    let fail = |step: StepKind, host: &str, message: String, target: String| ContentError::Step {
        set: name.to_string(),
        step,
        host: host.to_string(),
        message,
        target,
    };
    let unchanged = || format!("no host's directories were changed: environment `{}` is as it was", plan.to);
    let src = pick(engine, &plan.app, &plan.from, set)?;
    let src_app = engine.host_app(&src, src.app_dir(&plan.app, path.as_deref()))?;
    let targets = crate::run::targets(engine, plan, set)?;
    let started = Instant::now();
    let listed = |app: &HostApp| {
        let dirs = dirs.clone();
        let app = app.clone();
        async move {
            let files = app.content_list(&dirs).await.map_err(|e| e.to_string())?;
            index(&dirs, files)
        }
    };
    let have = listed(&src_app).await.map_err(|e| fail(StepKind::Export, &src.name, e, unchanged()))?;
    let (meter, unused) = (Arc::new(Meter::default()), Arc::new(Meter::default()));
    let mut sent = 0usize;
    let mut staged = Vec::new();
    for t in &targets {
        let dst = engine.host_app(t, t.app_dir(&plan.app, path.as_deref()))?;
        let theirs = listed(&dst).await.map_err(|e| fail(StepKind::Import, &t.name, e, unchanged()))?;
        let changed: Vec<String> =
            have.iter().filter(|(p, f)| theirs.get(*p) != Some(f)).map(|(p, _)| p.clone()).collect();
        let mut drop: Vec<String> = theirs.keys().filter(|p| !have.contains_key(*p)).cloned().collect();
        drop.extend(changed.iter().cloned());
        sent += changed.len();
        dst.content_stage(name, token, &dirs, &drop)
            .await
            .map_err(|e| fail(StepKind::Import, &t.name, e.to_string(), unchanged()))?;
        let result = if changed.is_empty() {
            Ok(())
        } else {
            let (script, args) = dst.content_unpack(name, token);
            let unpack = Stage {
                kind: StepKind::Import,
                host: t.name.clone(),
                transport: dst.transport().clone(),
                script,
                args,
                sink: Some(sink(engine, &t.name)),
            };
            let (script, args, list) = src_app.content_pack(&changed);
            let pack = Stage {
                kind: StepKind::Export,
                host: src.name.clone(),
                transport: src_app.transport().clone(),
                script,
                args,
                sink: Some(sink(engine, &src.name)),
            };
            let asked = changed.clone();
            let gate: chain::Gate = Box::new(move |from, to| haul_host::gate::pass(&asked, from, to).map(|_| ()));
            chain::run(vec![pack, unpack], list, Some(gate), meter.clone(), unused.clone()).await
        };
        if let Err(b) = result {
            return Err(fail(b.kind, &b.host, b.message, unchanged()));
        }
        staged.push((t.name.clone(), dst));
    }
    for (i, (host, dst)) in staged.iter().enumerate() {
        if let Err(e) = dst.content_switch(name, &dirs, token).await {
            let mut done: Vec<&str> = staged[..i].iter().map(|(h, _)| h.as_str()).collect();
            let target = if e.content_partly_switched() {
                done.push(host);
                format!("hosts {} were switched already ({host} only partly); the others were not", done.join(", "))
            } else if e.content_may_have_switched() {
                let before = if done.is_empty() {
                    String::new()
                } else {
                    format!("hosts {} were switched already; ", done.join(", "))
                };
                format!(
                    "{before}{host} may have been switched, wholly or partly (its switch ended in a way it does not name); the others were not"
                )
            } else if done.is_empty() {
                format!("no host was switched: environment `{}` is as it was", plan.to)
            } else {
                format!("hosts {} were switched already; the others were not", done.join(", "))
            };
            return Err(fail(StepKind::Import, host, e.to_string(), target));
        }
    }
    let elapsed = started.elapsed();
    let line = format!("{name}: {sent} files sent to {} hosts of {}", staged.len(), plan.to);
    engine.observer.progress(Progress::Note(&line));
    let to_host = staged.iter().map(|(h, _)| h.as_str()).collect::<Vec<_>>().join(",");
    Ok(SetOutcome {
        name: name.to_string(),
        from_host: src.name,
        to_host,
        exported: meter.bytes(),
        export_digest: meter.digest(),
        imported: meter.bytes(),
        import_digest: meter.digest(),
        files_sent: Some(sent),
        elapsed,
    })
}

/// A host's listing by name. A name outside the set's directories (a
/// host's `find` answering what it was not asked) is refused: names from
/// the listing are unlinked and asked for later.
fn index(dirs: &[String], files: Vec<ContentFile>) -> Result<BTreeMap<String, (u32, u64)>, String> {
    let mut out = BTreeMap::new();
    for f in files {
        if !dirs.iter().any(|d| {
            f.path.strip_prefix("./").and_then(|p| p.strip_prefix(d.as_str())).is_some_and(|r| r.starts_with('/'))
        }) {
            return Err(format!("the host listed {:?}, which is outside the set's directories", f.path));
        }
        out.insert(f.path, (f.crc, f.size));
    }
    Ok(out)
}
