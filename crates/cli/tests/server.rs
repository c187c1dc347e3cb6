//! `haul server` through the real binary: tokens and scopes, JSON errors
//! with the right status and a request id, body limits, text checked at
//! the edge, one bad write failing alone, server errors kept to the log,
//! health, metrics, graceful shutdown.

mod common;

use common::http::text as http;
use common::{Project, Server, config, token};

/// A JSON error's status and message; its request id is the response's.
fn error(body: &str) -> (u16, String) {
    let v: serde_json::Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
    let id = v["error"]["request_id"].as_str().unwrap_or_else(|| panic!("no request id: {body}"));
    assert!(!id.is_empty());
    (v["error"]["status"].as_u64().unwrap() as u16, v["error"]["message"].as_str().unwrap().to_string())
}

#[test]
fn the_api_checks_tokens_and_scopes_and_answers_json() {
    let tokens = format!(
        "[server]\n\n{}{}",
        token("dashboard", "reader-secret", &["read"]),
        token("ci", "ci-secret", &["read", "verify", "approve"])
    );
    let p = Project::new(&config("", &tokens));
    let release = p.deploy();
    let server = Server::start(&p);
    let (port, line) = (server.port, server.listening.clone());

    assert_eq!(http(port, "GET", "/healthz", None, None), (200, r#"{"ok":true}"#.into()));
    // Only /healthz answers without a token.
    assert_eq!(http(port, "GET", "/api/v1/openapi.json", None, None).0, 401);
    assert_eq!(http(port, "GET", "/metrics", None, None).0, 401);
    let (st, doc) = http(port, "GET", "/api/v1/openapi.json", Some("reader-secret"), None);
    assert_eq!(st, 200);
    assert!(doc.contains(r#""openapi":"3.1.0""#));

    let (st, body) = http(port, "GET", "/api/v1/deployments", None, None);
    assert_eq!((st, error(&body)), (401, (401, "a bearer token is needed (Authorization: Bearer …)".into())));
    assert_eq!(http(port, "GET", "/api/v1/deployments", Some("wrong"), None).0, 401);
    let (st, body) = http(port, "GET", "/api/v1/deployments?app=app&limit=1", Some("reader-secret"), None);
    assert_eq!(st, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["items"][0]["release"], release.as_str());
    assert_eq!(v["next_before"], v["items"][0]["id"]);
    assert_eq!(http(port, "GET", "/api/v1/deployments?limit=0", Some("reader-secret"), None).0, 422);
    assert_eq!(http(port, "GET", "/api/v1/deployments?limit=x", Some("reader-secret"), None).0, 400);

    let id = v["items"][0]["id"].as_i64().unwrap();
    let path = format!("/api/v1/deployments/{id}/verifications");
    let good = r#"{"name":"smoke","result":"pass","link":"https://ci/1"}"#;
    let (st, body) = http(port, "POST", &path, Some("reader-secret"), Some(good));
    assert_eq!((st, error(&body)), (403, (403, "token `dashboard` lacks the `verify` scope (it has: read)".into())));
    assert_eq!(http(port, "POST", &path, Some("ci-secret"), Some(good)).0, 201);
    assert_eq!(http(port, "POST", &path, Some("ci-secret"), Some("{not json")).0, 400);
    assert_eq!(http(port, "POST", &path, Some("ci-secret"), Some(r#"{"name":"smoke","result":"maybe"}"#)).0, 422);
    assert_eq!(
        http(port, "POST", &path, Some("ci-secret"), Some(r#"{"name":"smoke","result":"pass","extra":1}"#)).0,
        422
    );
    let huge = format!(r#"{{"name":"{}","result":"pass"}}"#, "x".repeat(70_000));
    assert_eq!(http(port, "POST", &path, Some("ci-secret"), Some(&huge)).0, 413);
    assert_eq!(http(port, "POST", "/api/v1/deployments/99999/verifications", Some("ci-secret"), Some(good)).0, 404);

    let (st, body) = http(port, "GET", &format!("/api/v1/deployments/{id}"), Some("reader-secret"), None);
    assert_eq!(st, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["verifications"][0]["reporter"], "ci", "the token's name is the actor");
    assert_eq!(v["hosts"].as_array().unwrap().len(), 2);

    let approval = format!(r#"{{"app":"app","release":"{release}","env":"test"}}"#);
    assert_eq!(http(port, "POST", "/api/v1/approvals", Some("ci-secret"), Some(&approval)).0, 201);
    assert_eq!(http(port, "POST", "/api/v1/approvals", Some("ci-secret"), Some(&approval)).0, 409);
    let q = format!(r#"{{"app":"app","release":"{release}","reason":"x"}}"#);
    assert_eq!(http(port, "POST", "/api/v1/quarantines", Some("ci-secret"), Some(&q)).0, 403, "quarantine needs admin");
    assert_eq!(http(port, "GET", "/nope", None, None).0, 404);

    let (st, m) = http(port, "GET", "/metrics", Some("reader-secret"), None);
    assert_eq!(st, 200);
    assert!(m.contains("haul_ledger_writes_total 2\n"), "{m}");
    assert!(m.contains("haul_http_requests_total{code=\"4xx\"}"), "{m}");

    // What the server wrote is in the same ledger the CLI reads.
    let h = p.haul(&["history", "--json"]).ok().json();
    assert_eq!(h[0]["id"].as_i64(), Some(id));
    let out = p.haul(&["history"]).ok();
    assert!(out.stdout.contains("smoke pass"), "{}", out.stdout);

    // Graceful shutdown on SIGTERM; no secret was ever logged.
    let rest = server.stop();
    assert_eq!(rest, "haul server stopped\n");
    assert!(!line.contains("secret") && !rest.contains("secret"));
}

#[test]
fn two_servers_over_one_postgresql_database_behave_as_one() {
    let pg = haul_testpg::Postgres::start().expect("PostgreSQL starts");
    let url = pg.create_database("shared").unwrap();
    let tokens = format!("[ledger]\nurl = \"{url}\"\n\n{}", token("ci", "ci-secret", &["admin"]));
    let p = Project::new(&config("", &tokens));
    let release = p.deploy();
    let (a, b) = (Server::start(&p), Server::start(&p));
    let (pa, pb) = (a.port, b.port);
    let id = p.haul(&["history", "--json"]).ok().json()[0]["id"].as_i64().unwrap();
    let path = format!("/api/v1/deployments/{id}/verifications");
    // Writes alternate between the servers, concurrently.
    let writers: Vec<_> = (0..12)
        .map(|i| {
            let (port, path) = (if i % 2 == 0 { pa } else { pb }, path.clone());
            std::thread::spawn(move || {
                let body = format!(r#"{{"name":"check{i}","result":"pass"}}"#);
                http(port, "POST", &path, Some("ci-secret"), Some(&body)).0
            })
        })
        .collect();
    assert!(writers.into_iter().all(|w| w.join().unwrap() == 201));
    // An approval through one server is a conflict through the other.
    let approval = format!(r#"{{"app":"app","release":"{release}","env":"test"}}"#);
    assert_eq!(http(pa, "POST", "/api/v1/approvals", Some("ci-secret"), Some(&approval)).0, 201);
    assert_eq!(http(pb, "POST", "/api/v1/approvals", Some("ci-secret"), Some(&approval)).0, 409);
    // Both see everything, and the audit chain stayed one chain.
    for port in [pa, pb] {
        let (_, body) = http(port, "GET", &format!("/api/v1/deployments/{id}"), Some("ci-secret"), None);
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["verifications"].as_array().unwrap().len(), 12);
        let (_, audit) = http(port, "GET", "/api/v1/audit/verify", Some("ci-secret"), None);
        let audit: serde_json::Value = serde_json::from_str(&audit).unwrap();
        assert!(audit["broken"].is_null(), "{audit}");
    }
    for s in [a, b] {
        s.stop();
    }
}

/// Thirty verifications at once through the server, one with a NUL byte in
/// its name: that one is a 422 naming the field, the 29 others commit.
fn thirty_writes_one_poisoned(port: u16, id: i64) {
    let path = format!("/api/v1/deployments/{id}/verifications");
    let writers: Vec<_> = (0..30)
        .map(|i| {
            let path = path.clone();
            std::thread::spawn(move || {
                let name = if i == 11 { "smo\\u0000ke".to_string() } else { format!("check{i}") };
                let body = format!(r#"{{"name":"{name}","result":"pass"}}"#);
                http(port, "POST", &path, Some("ci-secret"), Some(&body))
            })
        })
        .collect();
    for (i, w) in writers.into_iter().enumerate() {
        let (st, body) = w.join().unwrap();
        if i == 11 {
            assert_eq!(error(&body), (422, "`name` holds a NUL byte at character 4".into()));
            assert!(body.contains(r#""field":"name""#), "{body}");
        } else {
            assert_eq!(st, 201, "{body}");
        }
    }
    let (_, body) = http(port, "GET", &format!("/api/v1/deployments/{id}"), Some("ci-secret"), None);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["verifications"].as_array().unwrap().len(), 29);
    // The same rule for every text field: in paths, queries and bodies.
    for (method, path, body) in [
        ("GET", "/api/v1/deployments?app=a%00b".to_string(), None),
        ("GET", "/api/v1/promotions/app%0A/test".to_string(), None),
        ("POST", "/api/v1/quarantines".to_string(), Some(r#"{"app":"app","release":"r\u001b[1m","reason":"x"}"#)),
        (
            "POST",
            format!("/api/v1/deployments/{id}/finish"),
            Some(
                r#"{"status":"failed","hosts":[{"host":"a","phase":"p","status":"s","elapsed_ms":1,"error":"x\u0000"}]}"#,
            ),
        ),
    ] {
        let (st, body) = http(port, method, &path, Some("ci-secret"), body);
        assert_eq!(st, 422, "{path}: {body}");
        assert_eq!(error(&body).0, 422);
    }
    let (_, body) = http(port, "GET", "/api/v1/audit/verify", Some("ci-secret"), None);
    assert!(body.contains(r#""broken":null"#), "{body}");
}

/// Found by fuzzing: a rollback naming a deployment that does not exist
/// was a 500 (the database's foreign key), a `null` host list a 422.
fn a_rollback_of_a_missing_deployment_is_a_404(port: u16, id: i64, release: &str) {
    let start = format!(
        r#"{{"app":"app","env":"test","release":"{release}","trigger":"rollback","config_digest":"c","undoes":357636774177736064}}"#
    );
    let start = start.as_str();
    let (st, body) = http(port, "POST", "/api/v1/deployments", Some("ci-secret"), Some(start));
    assert_eq!((st, error(&body).1.as_str()), (404, "no deployment 357636774177736064 in the ledger"), "{body}");
    let long = format!(
        r#"{{"app":"app","env":"test","release":"{release}","trigger":"deploy","config_digest":"c","on_behalf_of":"{}"}}"#,
        "x".repeat(300)
    );
    let (st, body) = http(port, "POST", "/api/v1/deployments", Some("ci-secret"), Some(&long));
    assert_eq!(st, 422, "{body}");
    assert!(body.contains(r#""field":"on_behalf_of""#), "{body}");
    // An integer written as `1.0` is an integer.
    let host = r#"{"host":"a","phase":"stage","status":"ok","elapsed_ms":12.0}"#;
    assert_eq!(http(port, "POST", &format!("/api/v1/deployments/{id}/hosts"), Some("ci-secret"), Some(host)).0, 409);
    let finish = r#"{"status":"failed","message":"gave up","hosts":null}"#;
    assert_eq!(http(port, "POST", &format!("/api/v1/deployments/{id}/finish"), Some("ci-secret"), Some(finish)).0, 409);
}

fn admin_project(ledger: &str) -> Project {
    Project::new(&config("", &format!("{ledger}{}", token("ci", "ci-secret", &["admin"]))))
}

#[test]
fn a_nul_byte_in_one_write_is_a_422_and_its_batch_commits_on_sqlite() {
    let p = admin_project("");
    p.deploy();
    let last = p.haul(&["history", "--json"]).ok().json()[0].clone();
    let id = last["id"].as_i64().unwrap();
    let server = Server::start(&p);
    let port = server.port;
    thirty_writes_one_poisoned(port, id);
    a_rollback_of_a_missing_deployment_is_a_404(port, id, last["release"].as_str().unwrap());
    server.stop();
    // The CLI writing to the database directly meets the same rule.
    let out = p.haul(&["verify", "app", "test", "--name", "a\u{1}b", "--result", "pass"]).fails(2);
    assert!(out.stderr.contains("`name` holds the control character U+0001"), "{}", out.stderr);
}

#[test]
fn a_nul_byte_in_one_write_is_a_422_and_its_batch_commits_on_postgres() {
    let pg = haul_testpg::Postgres::start().expect("PostgreSQL starts");
    let url = pg.create_database("poison").unwrap();
    let p = admin_project(&format!("[ledger]\nurl = \"{url}\"\n\n"));
    p.deploy();
    let id = p.haul(&["history", "--json"]).ok().json()[0]["id"].as_i64().unwrap();
    let server = Server::start(&p);
    let port = server.port;
    thirty_writes_one_poisoned(port, id);

    // A database failure is a 500 that names only a request id; the
    // detail is in the server's log under that id.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let l = haul_ledger::Ledger::open(&url).await.unwrap();
        l.execute_raw("ALTER TABLE verifications RENAME TO verifications_gone").await.unwrap();
    });
    let path = format!("/api/v1/deployments/{id}/verifications");
    let (st, body) = http(port, "POST", &path, Some("ci-secret"), Some(r#"{"name":"after","result":"pass"}"#));
    assert_eq!(st, 500, "{body}");
    let (_, message) = error(&body);
    assert!(!message.contains("verifications"), "no database detail reaches the client: {message}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let request = v["error"]["request_id"].as_str().unwrap().to_string();
    assert!(message.contains(&request), "{message}");
    let log = server.stop();
    let line = log.lines().find(|l| l.contains(&request)).unwrap_or_else(|| panic!("{log}"));
    assert!(line.contains("verifications"), "the log has the detail: {line}");
}
