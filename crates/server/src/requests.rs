//! Deploy requests: CI asks for a pull deploy without holding the signing
//! key. A `haul server` that holds it (`[keys] sign` in its `haul.toml`)
//! judges the request with the same gate as every deployment started
//! through the API (promotion requirements, quarantine, one run at a
//! time, break-glass for `admin`), records the deployment, blesses the
//! spooled release for it, answers 202, and then follows the agents in
//! the background with the very rule `haul deploy` uses
//! (`haul_pull::run`), recording each host's result and the outcome.

use crate::api::Res;
use crate::auth::{Auth, Deploy};
use crate::edge::Body;
use crate::openapi::Errors;
use crate::records::{actor, gate, known_app_env};
use crate::{ApiError, State};
use axum::Json;
use axum::extract::State as S;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use haul_api::pull::{DeployRequest, DeployRequested};
use haul_ledger::{DeploymentStatus, NewDeployment, NewRelease, Runner, Trigger};
use haul_pull::PullError;
use haul_pull::follow::HostSeen;
use haul_pull::run::{Blessed, Go, Kind, bless, follow_blessed};
use haul_release::ReleaseId;
use haul_store::Store;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<State> {
    OpenApiRouter::new().routes(routes!(deploy_request))
}

fn unprocessable(m: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, m)
}

/// Ask the server to bless a spooled release for a pull environment.
///
/// The release must be spooled in the server's store (`haul spool`); the
/// ledger learns of it from the store's record when it does not know it
/// yet. The gate is the one of `POST /api/v1/deployments` (a refusal is
/// 409 naming what is missing); a server without a signing key answers
/// 409 too. Accepted: 202 with the deployment and the blessing version;
/// follow it at `GET /api/v1/deployments/{id}`.
#[utoipa::path(post, path = "/api/v1/deploy-requests", request_body = DeployRequest,
    responses((status = 202, body = DeployRequested), Errors),
    security(("bearer" = [])), extensions(("x-haul-scope" = json!("deploy"))))]
async fn deploy_request(auth: Auth<Deploy>, S(state): S<State>, body: Result<Body<DeployRequest>, ApiError>) -> Res {
    let Body(b) = body?;
    // From here on, a task of its own: a client that hangs up once its
    // request is read cannot cancel it anywhere between judging,
    // recording, blessing and following (which would leave a blessed
    // release with nobody recording what agents do); a request read is
    // carried out whether or not anyone waits for the answer.
    tokio::spawn(carry_out(auth, state, b, None)).await.map_err(|e| ApiError::internal(&e))?
}

/// [`deploy_request`] once its body is read; with `undoes`, a rollback of
/// that deployment to `b.release` (the dashboard's rollback of a pull
/// environment), judged by the gate as one. Run it on a task of its own.
async fn carry_out(auth: Auth<Deploy>, state: State, b: DeployRequest, undoes: Option<i64>) -> Res {
    let answer = requested(auth, state, b, undoes).await?;
    Ok((StatusCode::ACCEPTED, Json(answer)).into_response())
}

/// [`carry_out`], answering what was started.
pub(crate) async fn requested(
    auth: Auth<Deploy>,
    state: State,
    b: DeployRequest,
    undoes: Option<i64>,
) -> Result<DeployRequested, ApiError> {
    known_app_env(&state, &b.app, Some(&b.env))?;
    let e = state.config.env(&b.env).map_err(|e| unprocessable(e.to_string()))?;
    if e.mode() != haul_config::Mode::Pull {
        return Err(unprocessable(format!(
            "environment `{}` deploys by push: start its deployments with POST /api/v1/deployments",
            b.env
        ))
        .with_field("env"));
    }
    let Some(store) = state.store.clone() else {
        return Err(ApiError::internal(&"a pull environment without the server's store"));
    };
    // Named without the key files' paths: where the server keeps them is
    // not the client's to know.
    if haul_pull::signing_keys(&state.config).is_err() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "this server holds no signing key it can read: list one in [keys] sign of its haul.toml",
        ));
    }
    let actor = actor(auth.name(), b.on_behalf_of.as_deref())?;
    register(&state, &store, &b.app, &b.release, b.digest.as_deref(), &actor).await?;
    let trigger = match undoes {
        Some(_) => Trigger::Rollback,
        None if e.code.get_ref() == "build" => Trigger::Deploy,
        None => Trigger::Promote,
    };
    let force =
        gate(&state, &auth, &b.app, &b.env, b.release.as_str(), trigger, b.force == Some(true), b.reason.as_deref())
            .await?;
    let d = NewDeployment {
        app: b.app.clone(),
        env: b.env.clone(),
        release: b.release.clone(),
        trigger,
        actor: actor.clone(),
        reason: b.reason.clone(),
        config_digest: state.config.digest.clone(),
        undoes,
        force,
    };
    start(state, store, d, trigger).await
}

/// Records the deployment `d` (the gate has let it in), blesses its
/// release, and hands it to a follower; on a refused blessing the
/// deployment is finished as failed, saying why.
async fn start(state: State, store: Store, d: NewDeployment, trigger: Trigger) -> Result<DeployRequested, ApiError> {
    let me = haul_host::Holder::current();
    let runner = Runner { machine: me.machine, pid: me.pid, boot: me.boot, pidns: me.pidns, start: me.start };
    let lease = crate::lease::lease(&state, Some(runner));
    let deployment = state.ledger.start_leased(&d, state.config.lock.stale_after.0, Some(lease)).await?;
    state.metrics.writes.fetch_add(1, Ordering::Relaxed);
    // Read before the blessing: nothing that can fail stands between the
    // blessing and its follower.
    let forced = state.ledger.deployment(deployment).await?.forced;
    let run = Run {
        state: state.clone(),
        store,
        app: d.app,
        env: d.env,
        release: d.release,
        deployment,
        actor: d.actor,
        reason: d.reason,
    };
    let blessed = match bless(&haul_deploy::Quiet, &run.go()).await {
        Ok(b) => b,
        Err(e) => {
            let said = haul_ledger::text::clean(&e.to_string(), haul_ledger::text::Kind::Block);
            let answer = refused(e);
            // What the server keeps to its log (a store's URL, say) is not
            // written where every `read` token sees it either.
            let message = if answer.status.is_server_error() { answer.message.clone() } else { said };
            let finished =
                state.ledger.finish_deployment(deployment, DeploymentStatus::Failed, Some(&message), &[], &run.actor);
            if let Err(f) = finished.await {
                log(&format!("deploy request {deployment}: the deployment cannot be finished: {f}"));
            }
            return Err(answer);
        }
    };
    let answer = DeployRequested {
        deployment,
        release: run.release.clone(),
        trigger,
        version: blessed.doc.version,
        actor: run.actor.clone(),
        forced,
    };
    spawn_follow(run, blessed);
    Ok(answer)
}

pub(crate) fn log(message: &str) {
    #[allow(clippy::print_stderr)] // the server's log is its standard error
    {
        eprintln!("haul server: {message}");
    }
}

/// Aborts the lease renewer when the follow ends, panics included: a
/// follower that died must not keep its deployment's lease alive (the
/// lease running out is how the next run closes it).
struct Renewer(tokio::task::JoinHandle<()>);

impl Drop for Renewer {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// What a refused blessing answers: a lost race is a conflict naming the
/// winner, a release missing from the store is not found; the rest are
/// the server's to log.
fn refused(e: PullError) -> ApiError {
    match e {
        PullError::Lost { .. } | PullError::Quarantined { .. } | PullError::LastVersion { .. } => {
            ApiError::new(StatusCode::CONFLICT, e.to_string())
        }
        // Said without the store's URL, which the error names.
        PullError::NotSpooled { app, release, .. } => ApiError::new(
            StatusCode::NOT_FOUND,
            format!(
                "release {release} of {app} is not spooled in the server's store: `haul spool {app} --release {release}` first"
            ),
        ),
        PullError::Store(e) => ApiError::upstream("the blessing was not written to the server's store", &e),
        e => ApiError::internal(&e),
    }
}

/// Registers `release` in the ledger from the store's record (nothing
/// changes when the ledger holds it with the same digest; another digest
/// is refused, as is a store's release whose digest is not `digest`);
/// 404 when the store does not hold it.
async fn register(
    state: &State,
    store: &Store,
    app: &str,
    release: &ReleaseId,
    digest: Option<&str>,
    actor: &str,
) -> Result<(), ApiError> {
    let not_spooled = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            format!(
                "release {release} of {app} is not spooled in the server's store: `haul spool {app} --release {release}` first"
            ),
        )
    };
    let index = haul_store::spool::index(store, app, release).await.map_err(|e| ApiError::internal(&e))?;
    let Some(index) = index else { return Err(not_spooled()) };
    if let Some(want) = digest.filter(|d| *d != index.digest) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!(
                "release {release} of {app} in the server's store has manifest digest {}, not {want}: it is not what was built; nothing is blessed",
                index.digest
            ),
        ));
    }
    let r = haul_store::spool::record(store, &index).await.map_err(|e| ApiError::internal(&e))?;
    let created = r
        .created
        .parse()
        .map_err(|e| unprocessable(format!("release {release}: its build time {:?}: {e}", r.created)))?;
    let new = NewRelease {
        app: app.to_string(),
        id: release.clone(),
        digest: index.digest.clone(),
        revision: r.revision.clone(),
        built_by: r.built_by.clone(),
        created,
        files: r.manifest.files() as i64,
        bytes: r.manifest.bytes() as i64,
    };
    state.ledger.register_release(&new, actor).await?;
    Ok(())
}

/// One accepted request, owned by the task that follows it.
struct Run {
    state: State,
    store: Store,
    app: String,
    env: String,
    release: ReleaseId,
    deployment: i64,
    actor: String,
    reason: Option<String>,
}

impl Run {
    fn go(&self) -> Go<'_> {
        Go {
            config: &self.state.config,
            store: &self.store,
            app: &self.app,
            env: &self.env,
            release: &self.release,
            kind: Kind::Deploy,
            deployment: self.deployment,
            by: &self.actor,
            reason: self.reason.clone(),
        }
    }
}

/// Follows `blessed` until it ends or the server stops, renewing the
/// deployment's lease, then finishes the deployment. The follow's callback
/// is not `Send`, so it runs on a blocking thread of its own.
fn spawn_follow(run: Run, blessed: Blessed) {
    let handle = tokio::runtime::Handle::current();
    let run = Arc::new(run);
    tokio::task::spawn_blocking(move || handle.block_on(follow(run, blessed)));
}

async fn follow(run: Arc<Run>, blessed: Blessed) {
    let (ledger, id) = (run.state.ledger.clone(), run.deployment);
    let ttl = run.state.config.lock.lease.0;
    let renewing = Renewer({
        let ledger = ledger.clone();
        tokio::spawn(async move {
            let every = (ttl / 3).max(std::time::Duration::from_millis(100));
            loop {
                tokio::time::sleep(every).await;
                let _ = ledger.renew_lease(id, ttl).await;
            }
        })
    });
    let record = async |host: &str, seen: &HostSeen| {
        let _ = ledger.record_host(id, &seen.result(host), &run.actor).await;
    };
    let mut stop = run.state.stop.clone();
    let go = run.go();
    let outcome = tokio::select! {
        r = follow_blessed(&haul_deploy::Quiet, &go, &blessed, record) => r.map_err(|e| e.to_string()),
        _ = stop.wait_for(|s| *s) => Err("the server stopped while following the agents; what was blessed stands".to_string()),
    };
    drop(renewing);
    let (status, hosts, message) = match &outcome {
        Ok(r) => {
            let (status, hosts) = haul_pull::run::closing(r);
            (status, hosts, r.message.clone())
        }
        Err(m) => (DeploymentStatus::Failed, Vec::new(), Some(m.clone())),
    };
    let message = message.map(|m| haul_ledger::text::clean(&m, haul_ledger::text::Kind::Block));
    if let Err(e) = ledger.finish_deployment(id, status, message.as_deref(), &hosts, &run.actor).await {
        log(&format!("deploy request {id}: the deployment cannot be finished: {e}"));
    }
}
