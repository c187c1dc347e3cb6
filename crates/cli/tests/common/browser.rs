//! Headless Chromium for the dashboard tests, driven through chromedriver
//! by a minimal W3C WebDriver client (plain JSON over HTTP), and the raw
//! HTTP exchanges those tests make beside it.

use super::http::free_port;
use serde_json::{Value, json};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A child process killed (with its process group) when dropped, so a
/// failing test leaves no server, chromedriver or browser behind.
pub struct Reaper(pub Child);

impl Drop for Reaper {
    fn drop(&mut self) {
        let pid = self.0.id().to_string();
        let _ = Command::new("kill").args(["-KILL", "--", &format!("-{pid}")]).status();
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn spawn_in_group(mut c: Command) -> Reaper {
    use std::os::unix::process::CommandExt;
    Reaper(c.process_group(0).spawn().expect("starts"))
}

/// One HTTP/1.1 exchange: status, headers (lowercased names), body.
pub fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> (u16, String, String) {
    let (status, head, body) = http_raw(port, method, path, headers, body);
    (status, head.to_ascii_lowercase(), body)
}

/// `http`, with the response head as sent (cookie values keep their case).
pub fn http_raw(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> (u16, String, String) {
    let r = super::http::exchange(port, method, path, headers, body);
    (r.status, r.head, r.body)
}

/// A W3C WebDriver session through chromedriver. Dropping it ends the
/// session (closing the browser), then kills chromedriver's process group.
pub struct Browser {
    port: u16,
    session: String,
    _driver: Reaper,
    _profile: tempfile::TempDir,
}

impl Browser {
    pub fn start() -> Browser {
        let driver_bin = std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into());
        let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
        assert!(
            std::path::Path::new(&driver_bin).exists() && std::path::Path::new(&chromium).exists(),
            "the dashboard test needs {chromium} and {driver_bin} (Debian: apt-get install chromium chromium-driver; \
             scripts/test.sh installs them)"
        );
        let port = free_port();
        let mut c = Command::new(&driver_bin);
        c.arg(format!("--port={port}")).stdout(Stdio::null()).stderr(Stdio::null()).stdin(Stdio::null());
        let driver = spawn_in_group(c);
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start on port {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        let profile = tempfile::tempdir().unwrap();
        let args = [
            "--headless=new".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-dev-shm-usage".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--window-size=1440,900".into(),
            "--hide-scrollbars".into(),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium, "args": args},
        }}});
        let v = call(port, "POST", "/session", Some(caps));
        let session = v["sessionId"].as_str().unwrap_or_else(|| panic!("no session: {v}")).to_string();
        // A page that takes this long to load is a failure, not a wait:
        // pages that kept their event streams open after being left once
        // made the browser queue every later page for a minute.
        call(port, "POST", &format!("/session/{session}/timeouts"), Some(json!({"pageLoad": 15_000})));
        Browser { port, session, _driver: driver, _profile: profile }
    }

    pub fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        call(self.port, method, &format!("/session/{}{path}", self.session), body)
    }

    pub fn go(&self, url: &str) {
        self.cmd("POST", "/url", Some(json!({ "url": url })));
    }

    pub fn url(&self) -> String {
        self.cmd("GET", "/url", None).as_str().unwrap().to_string()
    }

    /// Waits for the browser to arrive at a URL satisfying `ok` (a click
    /// may return before the page it leads to has loaded).
    pub fn wait_url(&self, ok: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let url = self.url();
            if ok(&url) {
                // And for that page to be complete.
                while self.cmd(
                    "POST",
                    "/execute/sync",
                    Some(json!({"script": "return document.readyState", "args": []})),
                ) != "complete"
                {
                    std::thread::sleep(Duration::from_millis(20));
                }
                return url;
            }
            assert!(Instant::now() < deadline, "still at {url}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn arrive(&self, url: &str) {
        self.wait_url(|u| u == url);
    }

    pub fn find(&self, css: &str) -> String {
        let v = self.cmd("POST", "/element", Some(json!({"using": "css selector", "value": css})));
        v["element-6066-11e4-a52e-4f735466cecf"].as_str().unwrap_or_else(|| panic!("no element {css}: {v}")).to_string()
    }

    pub fn count(&self, css: &str) -> usize {
        let v = self.cmd("POST", "/elements", Some(json!({"using": "css selector", "value": css})));
        v.as_array().map_or(0, Vec::len)
    }

    /// The text of the element `css` finds. A live page replaces parts of
    /// itself when the server says something was recorded, so an element
    /// found may be gone by the time it is read: then it is found again.
    pub fn text(&self, css: &str) -> String {
        for _ in 0..100 {
            let e = self.find(css);
            let path = format!("/session/{}/element/{e}/text", self.session);
            match try_call(self.port, "GET", &path, None) {
                Ok(v) => return v.as_str().unwrap().to_string(),
                Err((_, v)) if v["value"]["error"] == "stale element reference" => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err((status, v)) => panic!("GET {path}: {status} {v}"),
            }
        }
        panic!("{css} was replaced on every read for two seconds")
    }

    pub fn type_into(&self, css: &str, text: &str) {
        let e = self.find(css);
        self.cmd("POST", &format!("/element/{e}/value"), Some(json!({ "text": text })));
    }

    pub fn click(&self, css: &str) {
        let e = self.find(css);
        self.cmd("POST", &format!("/element/{e}/click"), Some(json!({})));
    }

    /// Runs `js` in the page; its `return` value.
    pub fn script(&self, js: &str) -> Value {
        self.cmd("POST", "/execute/sync", Some(json!({"script": js, "args": []})))
    }

    /// Waits until `ok` holds of the page (what a live page shows arrives
    /// when the server says so).
    pub fn wait_for(&self, what: &str, ok: impl Fn(&Browser) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !ok(self) {
            assert!(Instant::now() < deadline, "the page never showed {what}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn screenshot(&self) -> Vec<u8> {
        base64(self.cmd("GET", "/screenshot", None).as_str().unwrap())
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = std::panic::catch_unwind(|| {
            http(self.port, "DELETE", &format!("/session/{}", self.session), &[], None);
        });
    }
}

/// One WebDriver command; returns its `value`, panicking on a WebDriver error.
pub fn call(port: u16, method: &str, path: &str, body: Option<Value>) -> Value {
    try_call(port, method, path, body).unwrap_or_else(|(status, v)| panic!("{method} {path}: {status} {v}"))
}

/// One WebDriver command: its `value`, or the status and body of a
/// WebDriver error.
pub fn try_call(port: u16, method: &str, path: &str, body: Option<Value>) -> Result<Value, (u16, Value)> {
    let body = body.map(|b| b.to_string());
    let (status, _, text) =
        http(port, method, path, &[("Content-Type", "application/json; charset=utf-8")], body.as_deref());
    let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{method} {path}: {status} {e}: {text}"));
    if status == 200 { Ok(v["value"].clone()) } else { Err((status, v)) }
}

pub fn base64(s: &str) -> Vec<u8> {
    let val = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        _ => 63,
    };
    let bytes: Vec<u8> = s.bytes().filter(|c| !matches!(c, b'=' | b'\n' | b'\r')).collect();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, c)| n | (val(*c) as u32) << (18 - 6 * i));
        out.extend_from_slice(&n.to_be_bytes()[1..chunk.len()]);
    }
    out
}
