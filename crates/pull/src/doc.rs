//! The blessing document made from `haul.toml`: the app's host steps
//! (post-upload, migrate, service, health), its layout (path, shared,
//! keep) and the environment's waves, so an agent with no config does
//! what a push deploy would.

use haul_bless::{ArchiveRef, Blessing, HealthDoc, Selector, StepDoc, Steps, Wave};
use haul_config::{App, Config, Environment, Step, WaveSelect};
use haul_release::ReleaseId;
use haul_store::spool::SpoolIndex;
use jiff::Timestamp;

/// What a blessing says besides the config.
pub struct Intent {
    pub version: u64,
    pub previous: Option<ReleaseId>,
    pub by: String,
    pub reason: Option<String>,
    pub deployment: Option<i64>,
    pub now: Timestamp,
    /// The environment's report keys, as `.pub` lines.
    pub report_keys: Vec<String>,
}

/// The document blessing `index` of `app` in `env`.
pub fn blessing(config: &Config, app: &str, env: &str, index: &SpoolIndex, intent: Intent) -> Blessing {
    let a = &config.apps[app];
    let e = &config.environments[env];
    let life = jiff::SignedDuration::try_from(config.keys.expires.get_ref().0).unwrap_or(jiff::SignedDuration::MAX);
    let expires = intent.now.checked_add(life).unwrap_or(Timestamp::MAX);
    Blessing {
        format: haul_bless::FORMAT,
        app: app.to_string(),
        env: env.to_string(),
        version: intent.version,
        release: index.id.clone(),
        archive: ArchiveRef { blake3: index.archive.blake3.clone(), size: index.archive.size },
        record: ArchiveRef { blake3: index.record.blake3.clone(), size: index.record.size },
        previous: intent.previous,
        waves: waves(e),
        steps: Steps { secrets: config.secrets(app, env).into_iter().map(|s| s.path).collect(), ..steps(app, a) },
        issued: intent.now,
        expires,
        by: intent.by,
        reason: intent.reason,
        deployment: intent.deployment,
        report_keys: intent.report_keys,
    }
}

pub fn waves(e: &Environment) -> Vec<Wave> {
    e.waves
        .iter()
        .map(|w| {
            let w = w.get_ref();
            Wave {
                name: w.name.get_ref().clone(),
                select: match w.select() {
                    WaveSelect::Roles(r) => Selector::Roles(r),
                    WaveSelect::Labels(l) => Selector::Labels(l),
                    WaveSelect::Percent(p) => Selector::Percent(p),
                    WaveSelect::Rest => Selector::Rest,
                },
                verifications: w.verifications.iter().map(|v| v.get_ref().clone()).collect(),
                min_live: w.min_live.as_ref().map_or(0, |m| *m.get_ref()),
            }
        })
        .collect()
}

/// Host steps only: a `local = true` step runs on the machine of a push
/// deploy, and a pull deploy has none.
fn docs(steps: &[Step]) -> Vec<StepDoc> {
    steps
        .iter()
        .filter(|s| !s.local)
        .map(|s| StepDoc {
            run: s.run.clone(),
            name: s.name.clone(),
            roles: s.roles.iter().map(|r| r.get_ref().clone()).collect(),
        })
        .collect()
}

fn steps(name: &str, a: &App) -> Steps {
    let ms = |d: &haul_config::Duration| u64::try_from(d.0.as_millis()).unwrap_or(u64::MAX);
    Steps {
        path: a.path.as_ref().map_or(name.to_string(), |p| p.get_ref().clone()),
        shared: a.shared.iter().map(|s| s.get_ref().clone()).collect(),
        keep: *a.keep.get_ref(),
        post_upload: docs(&a.post_upload),
        migrate_once: docs(&a.migrate.once),
        migrate_role: a.migrate.role.as_ref().map(|r| r.get_ref().clone()),
        migrate_per_host: docs(&a.migrate.per_host),
        stop: docs(&a.service.stop),
        start: docs(&a.service.start),
        refresh: docs(&a.service.refresh),
        health: a
            .health
            .iter()
            .map(|h| {
                let h = h.get_ref();
                HealthDoc {
                    name: h.label(),
                    command: h.command.clone(),
                    http: h.http.clone(),
                    status: h.status,
                    timeout_ms: ms(&h.timeout),
                    retries: h.retries,
                    interval_ms: ms(&h.interval),
                }
            })
            .collect(),
        scripts: haul_bless::ScriptNames {
            post_sync: a.scripts.post_sync.get_ref().clone(),
            pre_jump: a.scripts.pre_jump.get_ref().clone(),
            post_jump: a.scripts.post_jump.get_ref().clone(),
            un_jump: a.scripts.un_jump.get_ref().clone(),
            pre_remove: a.scripts.pre_remove.get_ref().clone(),
        },
        secrets: Vec::new(),
    }
}
