//! Promote and roll back a pull environment from the dashboard: the form's
//! post goes through the deploy requests' own path (the gate, the
//! blessing with the server's key, the follower), with a reason, the
//! protected environment's name typed to confirm, and the deed recorded
//! under the person's token; a real `haul agent --once` switches the host.

#[allow(dead_code)]
#[path = "common/http.rs"]
mod http;
#[path = "served/mod.rs"]
mod served;
#[path = "../../agent/tests/support/mod.rs"]
mod support;

use haul_ledger::{DeploymentStatus, ReleaseId, Trigger};
use served::Served;
use std::process::Command;
use std::time::{Duration, Instant};
use support::World;

/// The server's extra `haul.toml`: its key, `ci` (deploy) and `ops` (a
/// person: read, deploy, approve), and `live`, a pull environment taking
/// its code from `prod` after one approval.
fn extra(w: &World) -> String {
    format!(
        "\n[[server.tokens]]\nname = \"ci\"\nsha256 = \"{}\"\nscopes = [\"deploy\"]\n\n\
         [[server.tokens]]\nname = \"ops\"\nsha256 = \"{}\"\nscopes = [\"read\", \"deploy\", \"approve\"]\n\n\
         [keys]\nsign = [\"{}\"]\n\n\
         [environments.live]\nmode = \"pull\"\ncode = \"prod\"\n\n[environments.live.requires]\napprovals = 1\n",
        haul_server::token_sha256("ci-secret"),
        haul_server::token_sha256("ops-secret"),
        w.tmp.path().join("keys/ci.key").display(),
    )
}

async fn spooled(w: &mut World, v: &str) -> haul_release::Release {
    let r = w.release(&[("v", v)]);
    let id = ReleaseId::parse(&r.id).unwrap();
    haul_store::spool::spool(&w.store, &w.cache, "web", &id, "ci").await.unwrap();
    r
}

/// POSTs `body` to `path` with `Authorization: Bearer secret` and
/// `content_type`: status and body.
async fn post(s: &Served, path: &str, secret: &str, content_type: &str, body: String) -> (u16, String) {
    let (port, auth, path, ct) = (s.port, format!("Bearer {secret}"), path.to_string(), content_type.to_string());
    let r = tokio::task::spawn_blocking(move || {
        http::exchange(port, "POST", &path, &[("Authorization", &auth), ("Content-Type", &ct)], Some(&body))
    })
    .await
    .unwrap();
    (r.status, r.body)
}

async fn form(s: &Served, path: &str, fields: &[(&str, &str)]) -> (u16, String) {
    let enc = |v: &str| {
        v.bytes()
            .map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") })
            .collect::<String>()
    };
    let body = fields.iter().map(|(k, v)| format!("{k}={}", enc(v))).collect::<Vec<_>>().join("&");
    post(s, path, "ops-secret", "application/x-www-form-urlencoded", body).await
}

fn agent_once(w: &World) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_haul"));
    c.args(["agent", "--once"]);
    for (k, v) in w.vars("h1", &[]) {
        c.env(k, v);
    }
    let out = c.env_remove("HAUL_AGENT_FILE").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

async fn finished(s: &Served, id: i64) -> DeploymentStatus {
    let t = Instant::now();
    loop {
        let d = s.ledger.deployment(id).await.unwrap();
        if d.status != DeploymentStatus::Running {
            return d.status;
        }
        assert!(t.elapsed() < Duration::from_secs(30), "deployment {id} still running");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A deploy request for `r` into prod, followed until the agent is live.
async fn into_prod(s: &Served, w: &World, r: &haul_release::Release) -> i64 {
    let body = serde_json::json!({"app": "web", "env": "prod", "release": r.id}).to_string();
    let (status, v) = post(s, "/api/v1/deploy-requests", "ci-secret", "application/json", body).await;
    assert_eq!(status, 202, "{v}");
    let id = serde_json::from_str::<serde_json::Value>(&v).unwrap()["deployment"].as_i64().unwrap();
    agent_once(w);
    assert_eq!(finished(s, id).await, DeploymentStatus::Succeeded);
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pull_environment_is_promoted_and_rolled_back_from_the_dashboard() {
    let mut w = World::new();
    let s = Served::start_with(&w, 0, &extra(&w)).await;
    let r1 = spooled(&mut w, "1").await;
    let d1 = into_prod(&s, &w, &r1).await;

    // Promote into live: refused until approved, and until its name is typed.
    let promote = [("app", "web"), ("env", "live"), ("reason", "release train"), ("confirm", "live")];
    let (status, page) = form(&s, "/actions/promote", &promote).await;
    assert_eq!(status, 409, "{page}");
    assert!(page.contains("0 of 1 approvals for live"), "{page}");
    let approve = [("app", "web"), ("env", "live"), ("release", r1.id.as_str()), ("reason", "looked at it")];
    let (status, page) = form(&s, "/actions/approve", &approve).await;
    assert_eq!(status, 200, "{page}");
    let (status, page) = form(&s, "/actions/promote", &promote[..3]).await;
    assert_eq!(status, 422, "{page}");
    assert!(page.contains("live is protected: type its name, `live`, to confirm"), "{page}");
    let (status, page) = form(&s, "/actions/promote", &[("app", "web"), ("env", "live"), ("reason", " ")]).await;
    assert_eq!(status, 422, "{page}");
    assert!(page.contains("say why"), "{page}");
    let (status, page) = form(&s, "/actions/promote", &promote).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Promotion started") && page.contains(&r1.id), "{page}");
    let d = &s.ledger.deployments(Some("web"), Some("live"), 1).await.unwrap()[0];
    assert_eq!((d.trigger, d.actor.as_str(), d.reason.as_deref()), (Trigger::Promote, "ops", Some("release train")));
    let (version, _) = haul_store::blessings::latest(&w.store, "web", "live").await.unwrap().unwrap();
    assert_eq!(version, 1, "the server blessed it for live");

    // Roll prod back from v2 to v1: a rollback undoing v2's deployment.
    let r2 = spooled(&mut w, "2").await;
    let d2 = into_prod(&s, &w, &r2).await;
    assert_eq!(w.live("h1").as_deref(), Some(r2.id.as_str()));
    let back = [("app", "web"), ("env", "prod"), ("reason", "v2 is slow"), ("confirm", "prod")];
    let (status, page) = form(&s, "/actions/rollback", &back).await;
    assert_eq!(status, 200, "{page}");
    let d3 = &s.ledger.deployments(Some("web"), Some("prod"), 1).await.unwrap()[0];
    assert_eq!((d3.trigger, d3.undoes, d3.release.as_str()), (Trigger::Rollback, Some(d2), r1.id.as_str()));
    agent_once(&w);
    assert_eq!(finished(&s, d3.id).await, DeploymentStatus::Succeeded);
    assert_eq!(w.live("h1").as_deref(), Some(r1.id.as_str()));
    assert_eq!(s.ledger.deployment(d2).await.unwrap().status, DeploymentStatus::Undone);
    assert_ne!(d1, d2);
    s.stop().await;
}
