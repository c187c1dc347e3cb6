//! The fault matrix of the ledger server: PostgreSQL stopped and restarted
//! under a running `haul server`, and a webhook receiver down for longer
//! than the backoff window. Each fault ends with nothing acknowledged lost,
//! the audit chain whole, and the system recovered by itself.

mod common;

use common::{Project, Server, config, wait_for};
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::Stdio;
use std::time::{Duration, Instant};

const TOKEN: &str = "ops-secret";

/// One HTTP/1.1 request with the admin token: the status and the JSON body.
fn http(port: u16, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
    common::http::json(port, method, path, TOKEN, body)
}

fn admin_token() -> String {
    format!("\n{}", common::token("ops", TOKEN, &["admin"]))
}

/// Asserts an answer is the JSON error of an unavailable database.
#[track_caller]
fn unavailable((status, body): (u16, Value)) {
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["status"], 503, "{body}");
    assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
}

#[test]
fn postgresql_stopped_under_a_server_answers_503_loses_no_acknowledged_write_and_recovers_by_itself() {
    let mut pg = haul_testpg::Postgres::start().expect("PostgreSQL starts");
    let url = pg.create_database("faults").unwrap();
    let server_side = Project::new(&config("", &format!("[ledger]\nurl = \"{url}\"\n{}", admin_token())));
    let server = Server::start(&server_side);
    let port = server.port;
    let client = Project::new(&config("", &format!("[ledger]\nurl = \"http://127.0.0.1:{port}\"\n")));
    let as_ops = [("HAUL_TOKEN", TOKEN)];
    let v1 = client.haul_env(&["deploy", "app", "test", "--json"], &as_ops).ok().report()["release"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, page) = http(port, "GET", "/api/v1/deployments?app=app", None);
    let id = page["items"][0]["id"].as_i64().unwrap();
    let path = format!("/api/v1/deployments/{id}/verifications");

    // Writers keep posting while the database goes down; each remembers
    // which of its writes were acknowledged.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writers: Vec<_> = (0..3)
        .map(|w| {
            let (stop, path) = (stop.clone(), path.clone());
            std::thread::spawn(move || {
                let mut acknowledged = Vec::new();
                let mut refused = 0;
                for i in 0.. {
                    if stop.load(std::sync::atomic::Ordering::Relaxed) {
                        break;
                    }
                    let name = format!("w{w}-{i}");
                    let (status, body) =
                        http(port, "POST", &path, Some(&format!(r#"{{"name":"{name}","result":"pass"}}"#)));
                    match status {
                        201 => acknowledged.push(name),
                        503 => {
                            assert_eq!(body["error"]["status"], 503, "{body}");
                            refused += 1;
                        }
                        other => panic!("write {name}: {other} {body}"),
                    }
                }
                (acknowledged, refused)
            })
        })
        .collect();
    wait_for("some acknowledged writes", || {
        let (_, d) = http(port, "GET", &format!("/api/v1/deployments/{id}"), None);
        (d["verifications"].as_array().map_or(0, Vec::len) >= 6).then_some(())
    });
    pg.stop().expect("PostgreSQL stops");

    // While it is down: reads and writes answer 503 with a JSON error.
    // (At once: each waits out the server's few seconds for a connection.)
    let detail = format!("/api/v1/deployments/{id}");
    let asks: Vec<(&str, &str, Option<&str>)> = vec![
        ("GET", "/api/v1/deployments?app=app", None),
        ("GET", "/healthz", None),
        ("GET", &detail, None),
        ("POST", &path, Some(r#"{"name":"down","result":"pass"}"#)),
    ];
    std::thread::scope(|s| {
        let asked: Vec<_> = asks.iter().map(|&(m, path, body)| s.spawn(move || http(port, m, path, body))).collect();
        asked.into_iter().for_each(|a| unavailable(a.join().unwrap()));
    });
    // A deploy recording through the server fails clearly, before any host
    // is touched.
    client.write("src/index.html", "<h1>v2</h1>\n");
    let out = client.haul_env(&["deploy", "app", "test"], &as_ops);
    assert_ne!(out.code, 0, "{out:?}");
    assert!(out.stderr.contains("is unavailable (HTTP 503): ledger: the database is unavailable"), "{}", out.stderr);
    for h in ["a", "b"] {
        assert_eq!(client.live(h).as_deref(), Some(v1.as_str()), "{h} still on v1");
        assert_eq!(client.releases(h), vec![v1.clone()], "{h}: nothing staged");
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (mut acknowledged, mut refused) = (Vec::new(), 0);
    for w in writers {
        let (a, r) = w.join().unwrap();
        acknowledged.extend(a);
        refused += r;
    }
    assert!(refused > 0, "some writes met the stopped database");

    // Back up: the same server answers again, without a restart.
    pg.restart().expect("PostgreSQL restarts");
    let detail = wait_for("the server to recover", || {
        let (status, d) = http(port, "GET", &format!("/api/v1/deployments/{id}"), None);
        (status == 200).then_some(d)
    });
    let stored: std::collections::BTreeSet<&str> =
        detail["verifications"].as_array().unwrap().iter().filter_map(|v| v["name"].as_str()).collect();
    for name in &acknowledged {
        assert!(stored.contains(name.as_str()), "acknowledged write {name} was lost");
    }
    assert_eq!(http(port, "POST", &path, Some(r#"{"name":"after","result":"pass"}"#)).0, 201);
    let (status, audit) = http(port, "GET", "/api/v1/audit/verify", None);
    assert_eq!(status, 200, "{audit}");
    assert!(audit["broken"].is_null(), "{audit}");
    let v2 = client.haul_env(&["deploy", "app", "test", "--json"], &as_ops).ok().report()["release"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(["a", "b"].iter().all(|h| client.live(h).as_deref() == Some(v2.as_str())));
    server.stop();
}

/// A webhook receiver on 127.0.0.1:`port` answering 204 and keeping each
/// request's `webhook-id` header and event number.
fn receiver(port: u16) -> std::sync::Arc<std::sync::Mutex<Vec<(String, i64)>>> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    let got: std::sync::Arc<std::sync::Mutex<Vec<(String, i64)>>> = Default::default();
    let keep = got.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let keep = keep.clone();
            std::thread::spawn(move || {
                let mut r = BufReader::new(&stream);
                let (mut id, mut len) = (String::new(), 0usize);
                loop {
                    let mut h = String::new();
                    if r.read_line(&mut h).is_err() || h.trim_end().is_empty() {
                        break;
                    }
                    if let Some((k, v)) = h.split_once(':') {
                        match k.trim().to_ascii_lowercase().as_str() {
                            "webhook-id" => id = v.trim().to_string(),
                            "content-length" => len = v.trim().parse().unwrap_or(0),
                            _ => {}
                        }
                    }
                }
                let mut body = vec![0; len];
                if r.read_exact(&mut body).is_err() {
                    return;
                }
                let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                if let Some(seq) = v["data"]["seq"].as_i64() {
                    keep.lock().unwrap().push((id, seq));
                }
                let _ =
                    (&stream).write_all(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            });
        }
    });
    got
}

/// Seconds between two ledger times (`2026-12-01T20:59:47.109000Z`).
fn seconds_between(a: &str, b: &str) -> f64 {
    let secs = |t: &str| -> (String, f64) {
        let (date, time) = t.trim_end_matches('Z').split_once('T').unwrap();
        let f: Vec<f64> = time.split(':').map(|x| x.parse().unwrap()).collect();
        (date.to_string(), f[0] * 3600.0 + f[1] * 60.0 + f[2])
    };
    let ((da, sa), (db, sb)) = (secs(a), secs(b));
    sb - sa + if da == db { 0.0 } else { 86400.0 }
}

#[test]
fn a_webhook_receiver_down_longer_than_the_backoff_gets_every_event_exactly_once_across_a_server_restart() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let secret = ("HOOK_SECRET", "whsec_aGF1bC13ZWJob29rLXRlc3Qtc2VjcmV0LTAxMjM0NTY=");
    let hook = format!(
        "\n[webhooks.all]\nurl = \"http://127.0.0.1:{port}/all\"\nsecret_env = \"HOOK_SECRET\"\nbackoff = \"100ms\"\nattempts = 40\n"
    );
    let p = Project::new(&config("", &format!("{}{hook}", admin_token())));
    let server = Server::start_with(&p, &[secret]);
    let start = wait_for("the webhook's cursor", || {
        let (_, v) = http(server.port, "GET", "/api/v1/webhooks", None);
        v["items"].as_array()?.iter().find(|w| w["name"] == "all")?["cursor"].as_i64()
    });

    // Events pile up while the receiver is down.
    p.deploy();
    for i in 0..3 {
        p.haul(&["verify", "app", "test", "--name", &format!("check{i}"), "--result", "pass"]).ok();
    }
    // Down for longer than several backoffs: the first delivery was retried
    // at least four times, each wait at least double the one before.
    let first = wait_for("four failed tries", || {
        let (_, v) = http(server.port, "GET", "/api/v1/webhooks/deliveries?limit=500", None);
        let d = v["items"].as_array()?.iter().find(|d| d["event"].as_i64() == Some(start + 1))?.clone();
        (d["attempts"].as_i64()? >= 4).then_some(d)
    });
    let (_, log) = http(server.port, "GET", &format!("/api/v1/webhooks/deliveries/{}", first["id"]), None);
    let at: Vec<&str> = log["attempts"].as_array().unwrap().iter().map(|a| a["at"].as_str().unwrap()).collect();
    assert!(log["attempts"].as_array().unwrap().iter().all(|a| a["error"].is_string()), "{log}");
    for (i, w) in at.windows(2).enumerate() {
        let waited = seconds_between(w[0], w[1]);
        let backoff = 0.1 * f64::from(1u32 << i);
        assert!(waited >= backoff * 0.95, "retry {} after {waited:.3}s, before its backoff {backoff}s: {log}", i + 1);
    }

    // The server restarts meanwhile; more events are recorded while it is down.
    server.stop();
    p.write("src/index.html", "<h1>v2</h1>\n");
    p.deploy();
    let server = Server::start_with(&p, &[secret]);

    // The receiver returns: every event arrives, each exactly once.
    let got = receiver(port);
    let (_, page) = http(server.port, "GET", &format!("/api/v1/events?after={start}&limit=500"), None);
    let expected: std::collections::BTreeSet<i64> =
        page["items"].as_array().unwrap().iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert!(expected.len() >= 10, "{page}");
    wait_for("every event delivered", || {
        let seqs: std::collections::BTreeSet<i64> = got.lock().unwrap().iter().map(|g| g.1).collect();
        (seqs == expected).then_some(())
    });
    wait_for("the outbox to settle", || {
        let (_, v) = http(server.port, "GET", "/api/v1/webhooks/deliveries?limit=500&status=pending", None);
        v["items"].as_array()?.is_empty().then_some(())
    });
    let (_, v) = http(server.port, "GET", "/api/v1/webhooks/deliveries?limit=500&status=failed", None);
    assert_eq!(v["items"].as_array().map(Vec::len), Some(0), "none ran out of tries: {v}");
    let got = got.lock().unwrap().clone();
    let ids: std::collections::BTreeSet<&str> = got.iter().map(|g| g.0.as_str()).collect();
    assert_eq!(ids.len(), got.len(), "an event arrived twice: {got:?}");
    assert_eq!(got.len(), expected.len(), "{got:?}");
    server.stop();
}

#[test]
fn postgresql_stopping_mid_deploy_through_a_server_leaves_no_host_half_switched() {
    let mut pg = haul_testpg::Postgres::start().expect("PostgreSQL starts");
    let url = pg.create_database("middeploy").unwrap();
    let server_side = Project::new(&config("", &format!("[ledger]\nurl = \"{url}\"\n{}", admin_token())));
    let server = Server::start(&server_side);
    let port = server.port;
    let marks = tempfile::tempdir().unwrap();
    let (hold, held) = (marks.path().join("hold"), marks.path().join("held"));
    let step = format!(
        "post_upload = ['if [ -f {h} ]; then touch {d}; while [ -f {h} ]; do sleep 0.05; done; fi']",
        h = hold.display(),
        d = held.display()
    );
    let client = Project::new(&config(&step, &format!("[ledger]\nurl = \"http://127.0.0.1:{port}\"\n")));
    let as_ops = [("HAUL_TOKEN", TOKEN)];
    let v1 = client.haul_env(&["deploy", "app", "test", "--json"], &as_ops).ok().report()["release"]
        .as_str()
        .unwrap()
        .to_string();

    // The database stops while the deploy stages; then the deploy goes on.
    client.write("src/index.html", "<h1>v2</h1>\n");
    std::fs::write(&hold, "").unwrap();
    let child = client
        .command(&["deploy", "app", "test", "--json"], &as_ops)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !held.exists() {
        assert!(Instant::now() < deadline, "the deploy never reached its post-upload step");
        std::thread::sleep(Duration::from_millis(10));
    }
    pg.stop().expect("PostgreSQL stops");
    std::fs::remove_file(&hold).unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("is unavailable (HTTP 503): ledger: the database is unavailable"), "{stderr}");
    // Every host runs one release (whichever the run reached), unlocked.
    let (a, b) = (client.live("a"), client.live("b"));
    assert_eq!(a, b, "half-switched: a on {a:?}, b on {b:?}");
    for h in ["a", "b"] {
        assert!(!client.host(h).join(".haul/lock").exists(), "{h}: the lock was left held");
    }

    // The database returns: the run that could not record is closed, and
    // an immediate rerun succeeds on every host.
    pg.restart().expect("PostgreSQL restarts");
    wait_for("the server to recover", || (http(port, "GET", "/healthz", None).0 == 200).then_some(()));
    let v2 = client.haul_env(&["deploy", "app", "test", "--json"], &as_ops).ok().report()["release"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(v1, v2);
    assert!(["a", "b"].iter().all(|h| client.live(h).as_deref() == Some(v2.as_str())));
    let (_, page) = http(port, "GET", "/api/v1/deployments?app=app", None);
    let statuses: Vec<&str> = page["items"].as_array().unwrap().iter().map(|d| d["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["succeeded", "failed", "succeeded"], "{page}");
    let (_, audit) = http(port, "GET", "/api/v1/audit/verify", None);
    assert!(audit["broken"].is_null(), "{audit}");
    server.stop();
}
