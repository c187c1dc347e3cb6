//! The build phase: local steps, then a snapshot into the release cache.
//!
//! Local steps run on the machine running haul, whose environment may hold
//! the ledger server's token and webhook secrets; a step never sees them
//! (they are unset before its command runs) unless its command sets them.

use crate::{DeployError, Observer, Progress};
use haul_release::{Release, ReleaseCache};
use haul_transport::{Input, LineSink, Local, Output, Stream, Transport};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

/// The environment variables of this machine that hold haul's secrets:
/// the ledger server's token (`[ledger] token_env`, and `HAUL_TOKEN`, its
/// default), the server's session key and every webhook's `secret_env`.
pub fn secret_vars(config: &haul_config::Config) -> Vec<String> {
    let mut vars = vec!["HAUL_TOKEN".to_string(), "HAUL_SESSION_KEY".to_string()];
    vars.extend(config.ledger.token_env.clone());
    vars.extend(config.webhooks().into_iter().map(|w| w.secret_env));
    vars.extend(config.secret_env_vars());
    vars.retain(|v| {
        v.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    });
    vars.sort();
    vars.dedup();
    vars
}

/// Runs `command` on this machine in `cwd`, streaming its lines to
/// `observer` as they come; haul's secrets are not in its environment.
pub async fn run_local(
    config: &haul_config::Config,
    command: &str,
    cwd: &Path,
    env: &[(String, String)],
    observer: &Arc<dyn Observer>,
) -> Result<Output, DeployError> {
    let (script, args) = haul_host::step_script(command, &cwd.display().to_string(), env);
    let obs = observer.clone();
    let sink: LineSink = Arc::new(move |_: Stream, line: &str| obs.progress(Progress::Line { host: None, line }));
    Transport::Local(Local::new("local").without_env(secret_vars(config)))
        .exec_args(&script, &args, Input::None, Some(sink))
        .await
        .map_err(|e| DeployError::Refused(format!("cannot run a local step: {e}")))
}

/// Runs the app's build steps and packs the ship tree into the cache.
pub async fn build_release(
    config: &haul_config::Config,
    app_name: &str,
    who: &crate::Whoami,
    observer: &Arc<dyn Observer>,
) -> Result<Release, DeployError> {
    let app = config.app(app_name)?;
    let workdir = config.dir.join(&app.workdir);
    let ship = app.ship.get_ref();
    let tree = crate::plan::normalize(&workdir.join(ship.tree()));
    let env = vec![("HAUL_APP".to_string(), app_name.to_string())];
    for step in &app.build {
        run_build_step(config, step, &workdir, &env, observer).await?;
    }
    pack(config, app_name, &tree, ship.only().as_deref(), who, observer).await
}

pub(crate) async fn run_build_step(
    config: &haul_config::Config,
    step: &haul_config::Step,
    workdir: &Path,
    env: &[(String, String)],
    observer: &Arc<dyn Observer>,
) -> Result<(), DeployError> {
    let label = format!("build: {}", step.label());
    observer.progress(Progress::Started { host: None, label: &label });
    let t = Instant::now();
    if !workdir.is_dir() {
        return Err(DeployError::Build {
            step: step.label(),
            code: None,
            output: format!("the build directory {} does not exist", workdir.display()),
        });
    }
    let out = run_local(config, &step.run, workdir, env, observer).await?;
    observer.progress(Progress::Finished { host: None, label: &label, ok: out.success(), elapsed: t.elapsed() });
    if out.success() {
        Ok(())
    } else {
        Err(DeployError::Build { step: step.label(), code: out.code, output: out.combined() })
    }
}

pub(crate) async fn pack(
    config: &haul_config::Config,
    app_name: &str,
    tree: &Path,
    only: Option<&[String]>,
    who: &crate::Whoami,
    observer: &Arc<dyn Observer>,
) -> Result<Release, DeployError> {
    let label = format!("pack {}", tree.display());
    observer.progress(Progress::Started { host: None, label: &label });
    let t = Instant::now();
    let cache = ReleaseCache::new(config.cache_dir());
    let revision = git_revision(tree);
    let (tree2, app2, by) = (tree.to_path_buf(), app_name.to_string(), who.user.clone());
    let only = only.map(<[String]>::to_vec);
    let result = tokio::task::spawn_blocking(move || cache.build_in(&app2, &tree2, only.as_deref(), &by, revision))
        .await
        .map_err(|e| DeployError::Refused(format!("packing panicked: {e}")))?;
    observer.progress(Progress::Finished { host: None, label: &label, ok: result.is_ok(), elapsed: t.elapsed() });
    let built = result?;
    let release = built.release;
    let files = release.manifest.files();
    let read = format!(
        "{} of {files} files read ({} bytes), {} bytes new in the cache",
        built.read_files, built.read_bytes, built.new_bytes
    );
    let note = if built.reused {
        format!("release {} (unchanged tree: same content as before; {read})", release.id)
    } else {
        format!("release {}: {files} files, {} bytes; {read}", release.id, release.manifest.bytes())
    };
    observer.progress(Progress::Note(&note));
    Ok(release)
}

/// The source revision, when the tree is in a git checkout.
fn git_revision(dir: &Path) -> Option<String> {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["rev-parse", "HEAD"])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string()).filter(|s| !s.is_empty())
}
