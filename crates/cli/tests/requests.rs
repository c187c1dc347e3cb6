//! Deploy requests (`POST /api/v1/deploy-requests`): CI holds a `deploy`
//! token and no signing key; a real `haul server` holding the key judges
//! the request, records the deployment, blesses the spooled release, and
//! follows the agents until a real `haul agent --once` has switched the
//! host, finishing the deployment in the ledger.

#[allow(dead_code)]
#[path = "common/http.rs"]
mod http;
#[path = "served/mod.rs"]
mod served;
#[path = "../../agent/tests/support/mod.rs"]
mod support;

use haul_ledger::{DeploymentStatus, HostStatus, ReleaseId};
use served::Served;
use std::process::Command;
use std::time::{Duration, Instant};
use support::World;

/// The server's extra `haul.toml`: its signing key, a `deploy` token, a
/// push environment and a pull one that takes its code from `prod`.
fn extra(w: &World, key: bool) -> String {
    let keys = if key {
        format!("[keys]\nsign = [\"{}\"]\n\n", w.tmp.path().join("keys/ci.key").display())
    } else {
        String::new()
    };
    format!(
        "\n[[server.tokens]]\nname = \"ci\"\nsha256 = \"{}\"\nscopes = [\"deploy\"]\n\n\
         [[server.tokens]]\nname = \"qa\"\nsha256 = \"{}\"\nscopes = [\"verify\"]\n\n\
         {keys}[environments.staging]\nhosts = [\"a\"]\n\n[hosts.a]\ntransport = \"local\"\nroot = \"{}\"\n\n\
         [environments.live]\nmode = \"pull\"\ncode = \"prod\"\n\n[environments.live.requires]\napprovals = 1\n",
        haul_server::token_sha256("ci-secret"),
        haul_server::token_sha256("qa-secret"),
        w.tmp.path().join("push-root").display()
    )
}

/// A release built and spooled (not blessed).
async fn spooled(w: &mut World, v: &str) -> haul_release::Release {
    let r = w.release(&[("v", v)]);
    let id = ReleaseId::parse(&r.id).unwrap();
    haul_store::spool::spool(&w.store, &w.cache, "web", &id, "ci").await.unwrap();
    r
}

async fn request(s: &Served, token: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
    let (port, auth) = (s.port, format!("Bearer {token}"));
    let r = tokio::task::spawn_blocking(move || {
        http::exchange(port, "POST", "/api/v1/deploy-requests", &[("Authorization", &auth)], Some(&body.to_string()))
    })
    .await
    .unwrap();
    (r.status, r.json())
}

fn agent_once(w: &World) -> String {
    let mut c = Command::new(env!("CARGO_BIN_EXE_haul"));
    c.args(["agent", "--once"]);
    for (k, v) in w.vars("h1", &[]) {
        c.env(k, v);
    }
    let out = c.env_remove("HAUL_AGENT_FILE").output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{log}");
    log
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deploy_request_is_blessed_by_the_server_and_followed_until_the_agent_is_live() {
    let mut w = World::new();
    let s = Served::start_with(&w, 0, &extra(&w, true)).await;
    let r1 = spooled(&mut w, "1").await;
    let body = serde_json::json!({
        "app": "web", "env": "prod", "release": r1.id, "digest": r1.digest,
        "reason": "ship it", "on_behalf_of": "alice",
    });
    let (status, v) = request(&s, "ci-secret", body).await;
    assert_eq!(status, 202, "{v}");
    assert_eq!((v["version"].as_u64(), v["actor"].as_str()), (Some(1), Some("alice via ci")), "{v}");
    let id = v["deployment"].as_i64().unwrap();
    // The blessing in the store names the deployment and who asked.
    let (version, bytes) = haul_store::blessings::latest(&w.store, "web", "prod").await.unwrap().unwrap();
    let doc = haul_pull::read_blessing(&bytes, None, "web", "prod").unwrap().doc;
    assert_eq!(
        (version, doc.release.as_str(), doc.deployment, doc.by.as_str(), doc.reason.as_deref()),
        (1, r1.id.as_str(), Some(id), "alice via ci", Some("ship it"))
    );
    assert_eq!(s.ledger.deployment(id).await.unwrap().status, DeploymentStatus::Running);
    // The agent trusts only its key file: live means the server signed it.
    let log = agent_once(&w);
    assert_eq!(w.live("h1").as_deref(), Some(r1.id.as_str()), "{log}");
    let t = Instant::now();
    loop {
        let d = s.ledger.deployment(id).await.unwrap();
        if d.status != DeploymentStatus::Running {
            assert_eq!(d.status, DeploymentStatus::Succeeded, "{d:?}");
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(30), "the server never finished deployment {id}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let hosts = s.ledger.host_results(id).await.unwrap();
    assert_eq!(hosts.iter().map(|h| (h.host.as_str(), h.status)).collect::<Vec<_>>(), [("h1", HostStatus::Ok)]);
    // Promotion requirements are judged as for any deployment: `live`
    // takes its code from `prod` and wants an approval.
    let (status, v) =
        request(&s, "ci-secret", serde_json::json!({"app": "web", "env": "live", "release": r1.id})).await;
    assert_eq!(status, 409, "{v}");
    assert!(v.to_string().contains("approval"), "{v}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deploy_request_is_refused_for_each_reason_and_nothing_is_blessed() {
    let mut w = World::new();
    let s = Served::start_with(&w, 0, &extra(&w, true)).await;
    let r1 = spooled(&mut w, "1").await;
    let unspooled = w.release(&[("v", "2")]);
    let ask = |env: &str, release: &str| serde_json::json!({"app": "web", "env": env, "release": release});
    let cases = [
        ("agent-secret", ask("prod", &r1.id), 403, "scope"),
        ("ci-secret", ask("staging", &r1.id), 422, "deploys by push"),
        ("ci-secret", ask("nowhere", &r1.id), 422, "no environment `nowhere`"),
        ("ci-secret", ask("prod", &unspooled.id), 404, "is not spooled in the server's store"),
        ("ci-secret", ask("live", &r1.id), 409, "never succeeded there"),
        (
            "ci-secret",
            serde_json::json!({"app": "web", "env": "prod", "release": r1.id, "digest": "0".repeat(64)}),
            409,
            "it is not what was built",
        ),
    ];
    for (token, body, want, says) in cases {
        let (status, v) = request(&s, token, body.clone()).await;
        assert_eq!(status, want, "{body}: {v}");
        assert!(v.to_string().contains(says), "{body}: {v}");
    }
    for env in ["prod", "live"] {
        assert!(haul_store::blessings::latest(&w.store, "web", env).await.unwrap().is_none(), "{env} was blessed");
    }
    s.stop().await;
    // A server without a signing key says so, without its paths.
    let s = Served::start_with(&w, 0, &extra(&w, false)).await;
    let (status, v) = request(&s, "ci-secret", ask("prod", &r1.id)).await;
    assert_eq!(status, 409, "{v}");
    assert!(v.to_string().contains("holds no signing key"), "{v}");
    assert!(!v.to_string().contains(&w.tmp.path().display().to_string()), "{v}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_deploy_requests_at_once_one_is_blessed_and_the_other_is_refused() {
    let mut w = World::new();
    let s = Served::start_with(&w, 0, &extra(&w, true)).await;
    let r1 = spooled(&mut w, "1").await;
    let r2 = spooled(&mut w, "2").await;
    let ask = |r: &str| serde_json::json!({"app": "web", "env": "prod", "release": r});
    let (a, b) = tokio::join!(request(&s, "ci-secret", ask(&r1.id)), request(&s, "ci-secret", ask(&r2.id)));
    let mut statuses = [a.0, b.0];
    statuses.sort();
    assert_eq!(statuses, [202, 409], "{a:?} {b:?}");
    let (version, _) = haul_store::blessings::latest(&w.store, "web", "prod").await.unwrap().unwrap();
    assert_eq!(version, 1, "exactly one blessing was written");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_verification_posted_to_the_server_for_a_pull_deployment_reaches_the_store() {
    let mut w = World::new();
    let s = Served::start_with(&w, 0, &extra(&w, true)).await;
    let r1 = spooled(&mut w, "1").await;
    let body = serde_json::json!({"app": "web", "env": "prod", "release": r1.id, "digest": r1.digest});
    let (status, v) = request(&s, "ci-secret", body).await;
    assert_eq!(status, 202, "{v}");
    let id = v["deployment"].as_i64().unwrap();
    let port = s.port;
    let r = tokio::task::spawn_blocking(move || {
        let body = serde_json::json!({"name": "smoke", "result": "fail"}).to_string();
        let path = format!("/api/v1/deployments/{id}/verifications");
        http::exchange(port, "POST", &path, &[("Authorization", "Bearer qa-secret")], Some(&body))
    })
    .await
    .unwrap();
    assert_eq!(r.status, 201, "{:?}", r.json());
    let stored =
        haul_store::verifications::read(&w.store, "web", "prod", 1, Some(id), &haul_store::reports::Reporters::Anyone)
            .await
            .unwrap();
    let smoke = &stored["smoke"];
    assert_eq!((smoke.deployment, smoke.result), (id, haul_store::verifications::Outcome::Fail), "{smoke:?}");
    assert_eq!(smoke.reporter, "qa");
    s.stop().await;
}

/// A client that hangs up right after sending its request (CI killed, a
/// proxy timing out) must not leave a blessed release unfollowed: the
/// blessing is still made, followed until the agent is live, and the
/// deployment closed, not left `running` forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_hangs_up_still_gets_its_blessing_followed_and_the_deployment_closed() {
    use std::io::Write;
    let mut w = World::new();
    let s = Served::start_with(&w, 0, &extra(&w, true)).await;
    let r1 = spooled(&mut w, "1").await;
    let body = serde_json::json!({"app": "web", "env": "prod", "release": r1.id, "reason": "hung up"}).to_string();
    let port = s.port;
    let c = tokio::task::spawn_blocking(move || {
        let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        let req = format!(
            "POST /api/v1/deploy-requests HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer ci-secret\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        c.write_all(req.as_bytes()).unwrap();
        c
    })
    .await
    .unwrap();
    // Gone, without reading an answer, the moment the request is taken (its
    // deployment recorded): the window between recording and blessing that
    // a cancelled handler would leave half done. (A client gone before its
    // request is read has asked for nothing; that race is not this test.)
    let t = Instant::now();
    let id = loop {
        if let Some(d) = s.ledger.deployments(Some("web"), Some("prod"), 10).await.unwrap().first() {
            c.shutdown(std::net::Shutdown::Both).unwrap();
            break d.id;
        }
        assert!(t.elapsed() < Duration::from_secs(30), "the request was not taken");
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    drop(c);
    let t = Instant::now();
    while haul_store::blessings::latest(&w.store, "web", "prod").await.unwrap().is_none() {
        assert!(t.elapsed() < Duration::from_secs(30), "deployment {id} was recorded and never blessed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let log = agent_once(&w);
    assert_eq!(w.live("h1").as_deref(), Some(r1.id.as_str()), "{log}");
    let t = Instant::now();
    loop {
        let d = s.ledger.deployment(id).await.unwrap();
        if d.status != DeploymentStatus::Running {
            assert_eq!(d.status, DeploymentStatus::Succeeded, "{d:?}");
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(30), "deployment {id} is left running after its client hung up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    s.stop().await;
}
