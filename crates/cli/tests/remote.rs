//! Recording through a ledger server: a CLI whose `[ledger] url` is a
//! `haul server` records deploys, verifications, approvals and promotions
//! through its API (the server judging promotions by its own config), and
//! the server streams every event over SSE.

mod common;

use common::http::json as http;
use common::{Project, Server, token};
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};

/// Prod takes staging's releases once `smoke` passed and one person approved.
fn pipeline(rest: &str) -> String {
    common::pipeline(&format!("\n[environments.prod.requires]\nverifications = [\"smoke\"]\napprovals = 1\n\n{rest}"))
}

/// An SSE stream read line by line.
struct Stream(BufReader<std::net::TcpStream>);

impl Stream {
    fn open(port: u16, token: &str, query: &str, last_event_id: Option<i64>) -> Stream {
        let s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(std::time::Duration::from_secs(30))).unwrap();
        let mut req =
            format!("GET /api/v1/events/stream{query} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n");
        if let Some(id) = last_event_id {
            req.push_str(&format!("Last-Event-ID: {id}\r\n"));
        }
        req.push_str("\r\n");
        (&s).write_all(req.as_bytes()).unwrap();
        let mut r = BufReader::new(s);
        let mut status = String::new();
        r.read_line(&mut status).unwrap();
        assert!(status.contains(" 200 "), "{status}");
        Stream(r)
    }

    /// The next event: (id, type, data).
    fn next(&mut self) -> (i64, String, Value) {
        let (mut id, mut kind, mut data) = (None, None, None);
        loop {
            let mut line = String::new();
            assert!(self.0.read_line(&mut line).unwrap() > 0, "the stream ended");
            let line = line.trim_end();
            if let Some(v) = line.strip_prefix("id: ") {
                id = v.parse().ok();
            } else if let Some(v) = line.strip_prefix("event: ") {
                kind = Some(v.to_string());
            } else if let Some(v) = line.strip_prefix("data: ") {
                data = serde_json::from_str(v).ok();
            } else if line.is_empty()
                && let (Some(i), Some(k), Some(d)) = (id, kind.clone(), data.clone())
            {
                return (i, k, d);
            }
        }
    }
}

#[test]
fn the_cli_records_through_a_ledger_server_which_judges_promotions() {
    let tokens = token("ci", "ci-secret", &["read", "deploy", "verify", "approve", "admin"])
        + &token("viewer", "viewer-secret", &["read"]);
    let server_side = Project::new(&pipeline(&tokens));
    let server = Server::start(&server_side);
    let port = server.port;
    let client = Project::new(&pipeline(&server.ledger()));
    let as_ci = [("HAUL_TOKEN", "ci-secret")];

    // Live events from the start of the log.
    let mut stream = Stream::open(port, "viewer-secret", "?after=0", None);

    // Without a token, or with one the server does not know: usage errors.
    let out = client.haul(&["history"]).fails(2);
    assert!(out.stderr.contains("set HAUL_TOKEN to a token it accepts"), "{}", out.stderr);
    let out = client.haul_env(&["history"], &[("HAUL_TOKEN", "nope")]).fails(2);
    assert!(out.stderr.contains("unknown token"), "{}", out.stderr);
    let out = client.haul_env(&["deploy", "app", "staging"], &[("HAUL_TOKEN", "viewer-secret")]).fails(2);
    assert!(out.stderr.contains("token `viewer` lacks the `deploy` scope"), "{}", out.stderr);

    // A deploy is recorded in the server's ledger, as the token acting for
    // the person who ran it.
    let v1 = client.haul_env(&["deploy", "app", "staging", "--json"], &as_ci).ok().report()["release"]
        .as_str()
        .unwrap()
        .to_string();
    let (st, page) = http(port, "GET", "/api/v1/deployments?app=app", "viewer-secret", None);
    assert_eq!(st, 200);
    let d = &page["items"][0];
    assert_eq!((d["release"].as_str(), d["actor"].as_str()), (Some(v1.as_str()), Some("tester via ci")));
    assert_eq!((d["status"].as_str(), d["trigger"].as_str()), (Some("succeeded"), Some("deploy")));
    let (_, rels) = http(port, "GET", "/api/v1/releases?app=app", "viewer-secret", None);
    assert_eq!(rels["items"][0]["id"], v1.as_str());
    let (_, detail) = http(port, "GET", &format!("/api/v1/deployments/{}", d["id"]), "viewer-secret", None);
    assert_eq!(detail["hosts"][0]["host"], "a");
    assert!(server_side.path().join(".haul/ledger.db").exists());
    assert!(!client.path().join(".haul/ledger.db").exists(), "nothing is recorded locally");

    // Promotion: the server lists what is missing; the CLI shows it.
    let out = client.haul_env(&["promote", "app", "--to", "prod"], &as_ci).fails(1);
    assert!(
        out.stderr.contains("    - verification `smoke` has not been reported on deployment 1\n"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("    - 0 of 1 approvals for prod\n"), "{}", out.stderr);
    client.haul_env(&["verify", "app", "staging", "--name", "smoke", "--result", "pass"], &as_ci).ok();
    client.haul_env(&["approve", "app", &v1, "--for", "prod"], &as_ci).ok();

    // A promotion started through the API holds prod: a racing one is told
    // why it may not go ahead, and no host is touched.
    let body = r#"{"app":"app","env":"prod","reason":"train"}"#;
    let (st, started) = http(port, "POST", "/api/v1/promotions", "ci-secret", Some(body));
    assert_eq!(st, 201, "{started}");
    assert_eq!(started["release"], v1.as_str());
    let racing = started["id"].as_i64().unwrap();
    let out = client.haul_env(&["promote", "app", "--to", "prod"], &as_ci).fails(1);
    assert!(out.stderr.contains(&format!("deployment {racing} (promote of {v1} by ci, started ")), "{}", out.stderr);
    assert!(out.stderr.contains("is still running in prod"), "{}", out.stderr);
    assert!(client.live("b").is_none());
    let (st, _) = http(port, "POST", "/api/v1/promotions", "ci-secret", Some(body));
    assert_eq!(st, 409);
    let finish = r#"{"status":"failed","message":"given up","hosts":[]}"#;
    assert_eq!(http(port, "POST", &format!("/api/v1/deployments/{racing}/finish"), "ci-secret", Some(finish)).0, 200);
    assert_eq!(http(port, "POST", &format!("/api/v1/deployments/{racing}/finish"), "ci-secret", Some(finish)).0, 409);

    // Now the CLI's promotion proceeds.
    client.haul_env(&["promote", "app", "--to", "prod"], &as_ci).ok();
    assert_eq!(client.live("b").as_deref(), Some(v1.as_str()));
    let h = client.haul_env(&["history", "--json"], &as_ci).ok().json();
    assert_eq!((h[0]["trigger"].as_str(), h[0]["env"].as_str()), (Some("promote"), Some("prod")));
    let out = client.haul_env(&["status", "--json"], &as_ci).ok().json();
    assert!(out.to_string().contains(&v1), "{out}");
    client.haul_env(&["quarantine", "app", &v1, "--reason", "bad"], &as_ci).ok();
    let out = client.haul_env(&["audit", "verify"], &as_ci).ok();
    assert!(out.stdout.starts_with("audit log intact: "), "{}", out.stdout);

    // The stream saw every write, in order.
    let mut kinds = Vec::new();
    let mut last = 0;
    while kinds.last().map(String::as_str) != Some("quarantine.added") {
        let (id, kind, data) = stream.next();
        assert!(id > last, "events arrive in order");
        assert_eq!(data["seq"].as_i64(), Some(id));
        last = id;
        kinds.push(kind);
    }
    assert_eq!(kinds[0], "release.registered");
    // Hosts are reported while the deploy runs, before it succeeds.
    let first_host = kinds.iter().position(|k| k == "host.result").expect("host progress is streamed");
    let first_done = kinds.iter().position(|k| k == "deployment.succeeded").unwrap();
    assert!(first_host < first_done, "{kinds:?}");
    for k in ["deployment.started", "deployment.succeeded", "verification.reported", "approval.recorded"] {
        assert!(kinds.iter().any(|x| x == k), "{k} in {kinds:?}");
    }
    assert_eq!(kinds.iter().filter(|k| *k == "deployment.failed").count(), 1, "{kinds:?}");

    // A reconnecting client resumes after the last id it saw, filtered.
    let mut resumed = Stream::open(port, "viewer-secret", "?kinds=approval.*", Some(0));
    let (_, kind, data) = resumed.next();
    assert_eq!((kind.as_str(), data["data"]["env"].as_str()), ("approval.recorded", Some("prod")));

    // Paged reads of the same events.
    let (_, p1) = http(port, "GET", "/api/v1/events?kinds=deployment.*&limit=2", "viewer-secret", None);
    let items = p1["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    let next = p1["next_after"].as_i64().unwrap();
    let (_, p2) = http(port, "GET", &format!("/api/v1/events?kinds=deployment.*&after={next}"), "viewer-secret", None);
    assert!(p2["items"].as_array().unwrap().iter().all(|e| e["seq"].as_i64() > Some(next)));
    assert_eq!(http(port, "GET", "/api/v1/events?after=x", "viewer-secret", None).0, 400);

    // Approvals and quarantines are listed too.
    let (_, a) = http(port, "GET", "/api/v1/approvals?app=app&env=prod", "viewer-secret", None);
    assert_eq!((a["items"][0]["actor"].as_str(), a["items"][0]["release"].as_str()), (Some("ci"), Some(v1.as_str())));
    let (_, q) = http(port, "GET", "/api/v1/quarantines?app=app", "viewer-secret", None);
    assert_eq!(q["items"][0]["reason"], "bad");
    assert_eq!(http(port, "GET", "/api/v1/quarantines", "viewer-secret", None).0, 400, "app is required");

    // SIGTERM ends open streams, and the server exits cleanly.
    server.stop_within(std::time::Duration::from_secs(20));
    let mut rest = String::new();
    let _ = resumed.0.read_to_string(&mut rest);
    drop(stream);
}

/// A TLS front for a plain-HTTP server: Python's ssl module terminating TLS
/// with the test certificate and passing bytes through.
const TLS_PROXY: &str = r#"
import socket, ssl, sys, threading
port, backend = int(sys.argv[1]), int(sys.argv[2])
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain("srv.pem", "srv.key")
ls = socket.create_server(("127.0.0.1", port))
print("ready", flush=True)
def pump(a, b):
    try:
        while True:
            d = a.recv(65536)
            if not d:
                break
            b.sendall(d)
    except OSError:
        pass
    for s in (a, b):
        try:
            s.close()
        except OSError:
            pass
def serve(c):
    try:
        t = ctx.wrap_socket(c, server_side=True)
    except OSError:
        return
    u = socket.create_connection(("127.0.0.1", backend))
    threading.Thread(target=pump, args=(u, t), daemon=True).start()
    pump(t, u)
while True:
    c, _ = ls.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
"#;

#[test]
fn the_cli_records_through_a_server_behind_https() {
    let server_side = Project::new(&pipeline(&token("ci", "ci-secret", &["admin"])));
    let server = Server::start(&server_side);
    let certs = tempfile::tempdir().unwrap();
    common::tls::certificates(certs.path());
    std::fs::write(certs.path().join("proxy.py"), TLS_PROXY).unwrap();
    let port = common::http::free_port();
    let mut proxy = std::process::Command::new("python3")
        .args(["proxy.py", &port.to_string(), &server.port.to_string()])
        .current_dir(certs.path())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs");
    let mut ready = String::new();
    BufReader::new(proxy.stdout.take().unwrap()).read_line(&mut ready).unwrap();
    assert_eq!(ready, "ready\n");
    let _proxy = common::Killed(proxy);

    let client = Project::new(&pipeline(&format!("[ledger]\nurl = \"https://127.0.0.1:{port}\"\n")));
    // A certificate the client does not trust is refused, and nothing is
    // recorded.
    let other = certs.path().join("other-ca.pem");
    let env = [("HAUL_TOKEN", "ci-secret"), ("SSL_CERT_FILE", other.to_str().unwrap())];
    let out = client.haul_env(&["deploy", "app", "staging"], &env).fails(1);
    assert!(out.stderr.contains("certificate"), "{}", out.stderr);
    assert!(client.live("a").is_none(), "nothing shipped without a ledger");
    // Trusting the CA that signed it, the deploy is recorded over TLS.
    let ca = certs.path().join("ca.pem");
    let env = [("HAUL_TOKEN", "ci-secret"), ("SSL_CERT_FILE", ca.to_str().unwrap())];
    let v1 = client.haul_env(&["deploy", "app", "staging", "--json"], &env).ok().report()["release"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, page) = http(server.port, "GET", "/api/v1/deployments?app=app", "ci-secret", None);
    assert_eq!(page["items"][0]["release"], v1.as_str());
    assert_eq!(page["items"][0]["status"], "succeeded");
}
