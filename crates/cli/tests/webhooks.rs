//! Webhooks through the real binary and a real HTTP receiver: events
//! recorded while the receiver is down, across a server restart, all arrive
//! once with valid signatures; two servers over one PostgreSQL never send
//! one event twice; filters by kind and environment; redelivery; an
//! `https://` receiver (Python's TLS server with a certificate from a test
//! CA made by the `openssl` command) trusted only through `SSL_CERT_FILE`.
//!
//! The receiver checks each Standard Webhooks signature itself (HMAC-SHA256
//! over `id.timestamp.body` with the decoded secret), independently of the
//! server's code. Nothing here waits a fixed time: every wait polls for a
//! condition under a deadline.

mod common;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use common::http::free_port;
use common::{Project, Server, config, wait_for};
use hmac::{KeyInit, Mac};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Stdio;
use std::sync::{Arc, Mutex};

const SECRET: &str = "whsec_aGF1bC13ZWJob29rLXRlc3Qtc2VjcmV0LTAxMjM0NTY=";
const ADMIN: &str = "admin-secret";

/// An admin token and `hooks` (TOML) after the hosts of the common config.
fn project(extra: &str, hooks: &str) -> Project {
    let rest = format!("{extra}\n{}{hooks}", common::token("ops", ADMIN, &["admin"]));
    Project::new(&config("", &rest))
}

fn hook(name: &str, port: u16, extra: &str) -> String {
    format!(
        "[webhooks.{name}]\nurl = \"http://127.0.0.1:{port}/{name}\"\nsecret_env = \"HOOK_SECRET\"\nbackoff = \"100ms\"\n{extra}\n"
    )
}

/// One HTTP/1.1 request with the admin token; the status and the JSON body.
fn api(port: u16, method: &str, path: &str) -> (u16, Value) {
    common::http::json(port, method, path, ADMIN, None)
}

fn get(port: u16, path: &str) -> Value {
    let (status, v) = api(port, "GET", path);
    assert_eq!(status, 200, "{path}: {v}");
    v
}

/// `haul server` with the webhook secret in its environment.
fn serve(p: &Project) -> Server {
    serve_with(p, &[])
}

/// [`serve`] with `env` added to the server's environment.
fn serve_with(p: &Project, env: &[(&str, &str)]) -> Server {
    let mut all = vec![("HOOK_SECRET", SECRET)];
    all.extend_from_slice(env);
    Server::start_with(p, &all)
}

/// SIGTERM; the server stops cleanly and logs nothing more.
fn stop(server: Server) {
    assert_eq!(server.stop(), "haul server stopped\n");
}

/// What a test reads of a server's webhooks through the API.
trait Webhooks {
    fn cursors(&self, hooks: &[&str]) -> BTreeMap<String, i64>;
    fn events_after(&self, after: i64) -> Vec<Value>;
    fn deliveries(&self, query: &str) -> Vec<Value>;
}

impl Webhooks for Server {
    /// Waits until the server follows each of `hooks`; returns the event
    /// each started after.
    fn cursors(&self, hooks: &[&str]) -> BTreeMap<String, i64> {
        wait_for("the webhooks' cursors", || {
            let v = get(self.port, "/api/v1/webhooks");
            // A webhook's URL is shown as scheme, host and port: its path
            // (and any credentials or query) may be a secret.
            for w in v["items"].as_array().unwrap() {
                let url = w["url"].as_str().unwrap();
                assert!(url.starts_with("http") && url.matches('/').count() == 2, "{url}");
            }
            let got: BTreeMap<String, i64> = v["items"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|w| Some((w["name"].as_str()?.to_string(), w["cursor"].as_i64()?)))
                .collect();
            hooks.iter().all(|h| got.contains_key(*h)).then_some(got)
        })
    }

    /// Every event after `after`, oldest first.
    fn events_after(&self, after: i64) -> Vec<Value> {
        get(self.port, &format!("/api/v1/events?after={after}&limit=500"))["items"].as_array().unwrap().clone()
    }

    fn deliveries(&self, query: &str) -> Vec<Value> {
        get(self.port, &format!("/api/v1/webhooks/deliveries?limit=500{query}"))["items"].as_array().unwrap().clone()
    }
}

/// What the receiver got in one request.
#[derive(Debug, Clone)]
struct Got {
    path: String,
    id: String,
    kind: String,
    seq: i64,
    valid: bool,
}

/// A webhook receiver on 127.0.0.1:`port`: answers 500 to the first
/// `fail_first` requests, then 204.
#[derive(Clone)]
struct Receiver {
    got: Arc<Mutex<Vec<Got>>>,
}

impl Receiver {
    fn start(port: u16, fail_first: usize) -> Receiver {
        let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
        let got: Arc<Mutex<Vec<Got>>> = Arc::default();
        let seen = Arc::new(Mutex::new(0usize));
        let r = Receiver { got: got.clone() };
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (got, seen) = (got.clone(), seen.clone());
                std::thread::spawn(move || {
                    let Some(g) = read_request(&stream) else { return };
                    let n = {
                        let mut s = seen.lock().unwrap();
                        *s += 1;
                        *s
                    };
                    let ok = n > fail_first;
                    if ok {
                        got.lock().unwrap().push(g);
                    }
                    let status = if ok { "204 No Content" } else { "500 Internal Server Error" };
                    let _ = (&stream).write_all(
                        format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").as_bytes(),
                    );
                });
            }
        });
        r
    }

    fn got(&self) -> Vec<Got> {
        self.got.lock().unwrap().clone()
    }

    /// The event numbers received at `/path`.
    fn seqs(&self, path: &str) -> BTreeSet<i64> {
        self.got().iter().filter(|g| g.path == path).map(|g| g.seq).collect()
    }
}

fn read_request(stream: &TcpStream) -> Option<Got> {
    let mut r = BufReader::new(stream);
    let mut line = String::new();
    r.read_line(&mut line).ok()?;
    let path = line.split_whitespace().nth(1)?.to_string();
    let mut headers = BTreeMap::new();
    loop {
        let mut h = String::new();
        r.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':')?;
        headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
    }
    let len: usize = headers.get("content-length")?.parse().ok()?;
    let mut body = vec![0; len];
    r.read_exact(&mut body).ok()?;
    let body = String::from_utf8(body).ok()?;
    let id = headers.get("webhook-id")?.clone();
    let ts: i64 = headers.get("webhook-timestamp")?.parse().ok()?;
    let valid = verify(&id, ts, &body, headers.get("webhook-signature")?);
    let v: Value = serde_json::from_str(&body).ok()?;
    Some(Got {
        path,
        id,
        kind: v["type"].as_str()?.to_string(),
        seq: v["data"]["seq"].as_i64()?,
        valid: valid && headers.get("content-type").map(String::as_str) == Some("application/json"),
    })
}

/// The Standard Webhooks check: one of the space-separated `v1,<base64>`
/// signatures is the HMAC-SHA256 of `id.timestamp.body` under the decoded
/// secret, and the timestamp is within five minutes.
fn verify(id: &str, ts: i64, body: &str, signatures: &str) -> bool {
    let key = B64.decode(SECRET.strip_prefix("whsec_").unwrap()).unwrap();
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{ts}.{body}").as_bytes());
    let expected = format!("v1,{}", B64.encode(mac.finalize().into_bytes()));
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    signatures.split(' ').any(|s| s == expected) && (now - ts).abs() < 300
}

fn seqs(events: &[Value], keep: impl Fn(&Value) -> bool) -> BTreeSet<i64> {
    events.iter().filter(|e| keep(e)).map(|e| e["seq"].as_i64().unwrap()).collect()
}

#[test]
fn a_receiver_down_across_a_server_restart_gets_every_event_once_signed() {
    let port = free_port();
    let p = project("", &hook("all", port, ""));
    let server = serve(&p);
    let start = server.cursors(&["all"])["all"];

    // The receiver is down: deliveries fail and are retried.
    p.deploy();
    p.haul(&["verify", "app", "test", "--name", "smoke", "--result", "pass"]).ok();
    // Which delivery failed first is a matter of timing; the log is checked
    // on one that is known to have failed before the restart.
    let failed = wait_for("a failed attempt", || {
        server
            .deliveries("")
            .into_iter()
            .find(|d| d["attempts"].as_i64() >= Some(1) && d["last_error"].is_string())
            .map(|d| d["id"].clone())
    });

    // Stopped while deliveries are pending; more events meanwhile.
    stop(server);
    p.write("src/index.html", "<h1>v2</h1>\n");
    p.deploy();
    let server = serve(&p);

    // The receiver comes up: everything arrives, once, signed.
    let rx = Receiver::start(port, 0);
    let events = server.events_after(start);
    let expected = seqs(&events, |_| true);
    assert!(expected.len() >= 10, "{events:?}");
    wait_for("every event delivered", || (rx.seqs("/all") == expected).then_some(()));
    wait_for("the outbox to settle", || server.deliveries("&status=pending").is_empty().then_some(()));
    let got = rx.got();
    assert!(got.iter().all(|g| g.valid), "{got:?}");
    let ids: BTreeSet<&str> = got.iter().map(|g| g.id.as_str()).collect();
    assert_eq!(ids.len(), got.len(), "no event twice: {got:?}");
    assert!(got.iter().all(|g| g.id == format!("msg_{}", g.seq)));
    let kinds: BTreeSet<&str> = got.iter().map(|g| g.kind.as_str()).collect();
    for k in ["release.registered", "deployment.started", "deployment.succeeded", "verification.reported"] {
        assert!(kinds.contains(k), "{kinds:?}");
    }

    // The delivery log: failed tries, then success.
    let first = server.deliveries("&webhook=all").into_iter().find(|d| d["id"] == failed).unwrap();
    let first_seq = first["event"].as_i64().unwrap();
    assert_eq!(first["status"], "delivered");
    let one = get(server.port, &format!("/api/v1/webhooks/deliveries/{}", first["id"]));
    let attempts = one["attempts"].as_array().unwrap();
    assert!(attempts.len() >= 2, "{one}");
    assert!(attempts[..attempts.len() - 1].iter().all(|a| a["status"].is_null() && a["error"].is_string()), "{one}");
    assert_eq!(attempts.last().unwrap()["status"], 204);

    // Redelivery sends a delivered event again.
    let (status, v) = api(server.port, "POST", &format!("/api/v1/webhooks/deliveries/{}/redeliver", first["id"]));
    assert_eq!((status, v["delivery"]["status"].as_str()), (200, Some("pending")));
    wait_for("the redelivery", || (rx.got().iter().filter(|g| g.seq == first_seq).count() == 2).then_some(()));
    assert_eq!(api(server.port, "POST", "/api/v1/webhooks/deliveries/99999/redeliver").0, 404);

    let (_, metrics) = {
        let mut s = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
        // /metrics needs a `read` token (admin may do all).
        let req =
            format!("GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer {ADMIN}\r\n\r\n");
        s.write_all(req.as_bytes()).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        ((), out)
    };
    assert!(metrics.contains("haul_webhook_deliveries{webhook=\"all\",status=\"delivered\"}"), "{metrics}");
    stop(server);
}

#[test]
fn two_servers_over_one_postgresql_deliver_each_event_once() {
    let pg = haul_testpg::Postgres::start().expect("PostgreSQL starts");
    let url = pg.create_database("hooks").unwrap();
    let port = free_port();
    let p = project(&format!("[ledger]\nurl = \"{url}\"\n"), &hook("all", port, ""));
    let rx = Receiver::start(port, 0);
    let (a, b) = (serve(&p), serve(&p));
    let start = a.cursors(&["all"])["all"];
    b.cursors(&["all"]);
    for i in 0..3 {
        p.write("src/index.html", &format!("<h1>v{i}</h1>\n"));
        p.deploy();
        p.haul(&["verify", "app", "test", "--name", "smoke", "--result", "pass"]).ok();
    }
    let expected = seqs(&a.events_after(start), |_| true);
    wait_for("every event delivered", || (rx.seqs("/all") == expected).then_some(()));
    wait_for("the outbox to settle", || b.deliveries("&status=pending").is_empty().then_some(()));
    let got = rx.got();
    assert!(got.iter().all(|g| g.valid), "{got:?}");
    let ids: BTreeSet<&str> = got.iter().map(|g| g.id.as_str()).collect();
    assert_eq!(ids.len(), got.len(), "an event was delivered twice: {got:?}");
    // Each delivery was tried exactly once, by one of the servers.
    for d in a.deliveries("") {
        assert_eq!(d["attempts"], 1, "{d}");
    }
    stop(a);
    stop(b);
}

#[test]
fn webhooks_get_only_the_kinds_and_environments_they_ask_for_and_retry_errors() {
    let port = free_port();
    let hooks = [
        hook("deploys", port, "events = [\"deployment.*\"]"),
        hook("prodonly", port, "environments = [\"prod\"]"),
        hook("releases", port, "events = [\"release.registered\"]"),
        format!(
            "[environments.test.webhooks.verifs]\nurl = \"http://127.0.0.1:{port}/verifs\"\nsecret_env = \"HOOK_SECRET\"\nbackoff = \"100ms\"\nevents = [\"verification.reported\"]\n"
        ),
    ]
    .concat();
    let p = project("[environments.prod]\nhosts = [\"b\"]\n", &hooks);
    // The receiver answers 500 to the first request, whichever it is.
    let rx = Receiver::start(port, 1);
    let server = serve(&p);
    let start = *server.cursors(&["deploys", "prodonly", "releases", "test.verifs"]).values().max().unwrap();
    p.deploy();
    p.haul(&["verify", "app", "test", "--name", "smoke", "--result", "pass"]).ok();
    p.haul(&["deploy", "app", "prod", "--json"]).ok();
    p.haul(&["verify", "app", "prod", "--name", "smoke", "--result", "fail"]).ok();

    let events = server.events_after(start);
    let env = |e: &Value| e["data"]["env"].as_str().map(str::to_string);
    let kind = |e: &Value| e["kind"].as_str().unwrap().to_string();
    let want: BTreeMap<&str, BTreeSet<i64>> = [
        ("/deploys", seqs(&events, |e| kind(e).starts_with("deployment."))),
        ("/prodonly", seqs(&events, |e| env(e).as_deref() == Some("prod"))),
        ("/releases", seqs(&events, |e| kind(e) == "release.registered")),
        ("/verifs", seqs(&events, |e| kind(e) == "verification.reported" && env(e).as_deref() == Some("test"))),
    ]
    .into_iter()
    .collect();
    assert!(want.values().all(|s| !s.is_empty()), "{want:?}");
    wait_for("every wanted event", || want.iter().all(|(path, s)| rx.seqs(path) == *s).then_some(()));
    wait_for("the outbox to settle", || server.deliveries("&status=pending").is_empty().then_some(()));
    assert!(rx.got().iter().all(|g| g.valid));
    // The one answered 500 was retried: its log shows both tries.
    let retried: Vec<Value> = server.deliveries("").into_iter().filter(|d| d["attempts"] == 2).collect();
    assert_eq!(retried.len(), 1, "{retried:?}");
    let log = get(server.port, &format!("/api/v1/webhooks/deliveries/{}", retried[0]["id"]));
    let statuses: Vec<&Value> = log["attempts"].as_array().unwrap().iter().map(|a| &a["status"]).collect();
    assert_eq!(statuses, [&Value::from(500), &Value::from(204)], "{log}");
    assert_eq!(log["attempts"][0]["error"], "HTTP 500 Internal Server Error");
    // Listing filters by webhook and status; bad filters are refused.
    let verifs = server.deliveries("&webhook=test.verifs");
    assert_eq!(verifs.len(), want["/verifs"].len());
    assert!(verifs.iter().all(|d| d["kind"] == "verification.reported" && d["status"] == "delivered"));
    assert_eq!(api(server.port, "GET", "/api/v1/webhooks/deliveries?status=lost").0, 422);
    stop(server);
}

#[test]
fn the_server_refuses_to_start_without_a_well_formed_secret() {
    let p = project("", &hook("chat", 1, ""));
    let out = p.haul(&["server", "--listen", "127.0.0.1:0"]).fails(2);
    assert_eq!(
        out.stderr,
        "error: webhook `chat`: the environment variable `HOOK_SECRET` holding its secret is not set\n"
    );
    let out = p.haul_env(&["server", "--listen", "127.0.0.1:0"], &[("HOOK_SECRET", "hunter2")]).fails(2);
    assert_eq!(
        out.stderr,
        "error: webhook `chat`: `HOOK_SECRET` must hold `whsec_` followed by base64 (the secret's bytes)\n"
    );
}

/// Python's HTTPS server as a receiver: appends each request's webhook
/// headers and body to a file, answers 204.
const TLS_RECEIVER: &str = r#"
import http.server, json, ssl, sys
port, cert, key, out = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["content-length"])).decode()
        rec = {h: self.headers[h] for h in ("webhook-id", "webhook-timestamp", "webhook-signature")}
        rec["body"] = body
        with open(out, "a") as f:
            f.write(json.dumps(rec) + "\n")
        self.send_response(204)
        self.end_headers()
    def log_message(self, *args):
        pass
srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
print("ready", flush=True)
srv.serve_forever()
"#;

#[test]
fn an_https_receiver_is_reached_over_tls_when_its_certificate_is_trusted() {
    let certs = tempfile::tempdir().unwrap();
    let d = certs.path();
    common::tls::certificates(d);
    std::fs::write(d.join("receiver.py"), TLS_RECEIVER).unwrap();
    let port = free_port();
    let got = d.join("got.jsonl");
    let mut rx = std::process::Command::new("python3")
        .arg(d.join("receiver.py"))
        .args([&port.to_string(), "srv.pem", "srv.key"])
        .arg(&got)
        .current_dir(d)
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    let mut ready = String::new();
    BufReader::new(rx.stdout.take().unwrap()).read_line(&mut ready).unwrap();
    assert_eq!(ready, "ready\n");
    let _rx = common::Killed(rx);

    let hook = format!(
        "[webhooks.tls]\nurl = \"https://127.0.0.1:{port}/tls\"\nsecret_env = \"HOOK_SECRET\"\nbackoff = \"100ms\"\nevents = [\"deployment.*\"]\n"
    );
    let p = project("", &hook);
    // Trusting only the system's roots, the receiver's certificate is refused.
    let other = d.join("other-ca.pem");
    let server = serve_with(&p, &[("SSL_CERT_FILE", other.to_str().unwrap())]);
    server.cursors(&["tls"]);
    p.deploy();
    let refused = wait_for("a refused try", || {
        server.deliveries("").into_iter().find(|d| d["last_error"].as_str().is_some_and(|e| e.contains("certificate")))
    });
    assert_eq!(refused["status"], "pending", "{refused}");
    assert!(!got.exists(), "nothing reached the receiver");
    stop(server);

    // Trusting the test CA, the pending deliveries go through, signed.
    let ca = d.join("ca.pem");
    let server = serve_with(&p, &[("SSL_CERT_FILE", ca.to_str().unwrap())]);
    wait_for("every delivery", || server.deliveries("&status=pending").is_empty().then_some(()));
    let lines = std::fs::read_to_string(&got).unwrap();
    let kinds: Vec<String> = lines
        .lines()
        .map(|l| {
            let r: Value = serde_json::from_str(l).unwrap();
            let ts = r["webhook-timestamp"].as_str().unwrap().parse().unwrap();
            let body = r["body"].as_str().unwrap();
            assert!(verify(r["webhook-id"].as_str().unwrap(), ts, body, r["webhook-signature"].as_str().unwrap()));
            serde_json::from_str::<Value>(body).unwrap()["type"].as_str().unwrap().to_string()
        })
        .collect();
    assert!(kinds.contains(&"deployment.succeeded".to_string()), "{kinds:?}");
    assert!(kinds.iter().all(|k| k.starts_with("deployment.")), "{kinds:?}");
    stop(server);
}
