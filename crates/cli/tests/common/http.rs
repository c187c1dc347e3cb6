//! A plain HTTP/1.1 client for the tests that talk to a `haul server` (or
//! chromedriver): one request per connection, written by hand so a test sees
//! exactly what went over the wire and needs no client library.

use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::time::Duration;

/// One answer: its status, its head as sent (status line and headers, their
/// case kept) and its body.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub head: String,
    pub body: String,
}

impl Response {
    /// The body as JSON, `Null` when it is not JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

/// One exchange on a fresh connection to 127.0.0.1:`port`. A body goes as
/// JSON unless `headers` name its type; the answer is read by its
/// `Content-Length` (or chunks), since chromedriver keeps the connection
/// open, and otherwise to its end. The body is written apart from the head,
/// and a failed write is ignored: the server may stop reading a body it
/// refuses and still answer.
pub fn exchange(port: u16, method: &str, path: &str, headers: &[(&str, &str)], body: Option<&str>) -> Response {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if body.is_some() && !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-type")) {
        req.push_str("Content-Type: application/json\r\n");
    }
    if body.is_some() || !matches!(method, "GET" | "HEAD" | "DELETE") {
        req.push_str(&format!("Content-Length: {}\r\n", body.map_or(0, str::len)));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    if let Some(b) = body {
        let _ = s.write_all(b.as_bytes());
    }
    read_response(BufReader::new(s))
}

fn read_response(mut r: BufReader<std::net::TcpStream>) -> Response {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        head.push_str(&line);
    }
    let status =
        head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("no status: {head:?}"));
    let lower = head.to_ascii_lowercase();
    let length = lower
        .lines()
        .find_map(|l| l.strip_prefix("content-length:").map(str::to_string))
        .and_then(|n| n.trim().parse::<u64>().ok());
    let mut body = Vec::new();
    if let Some(n) = length {
        let _ = r.by_ref().take(n).read_to_end(&mut body);
    } else if lower.contains("transfer-encoding: chunked") {
        loop {
            let mut size = String::new();
            r.read_line(&mut size).unwrap();
            let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
            let mut chunk = vec![0; n + 2];
            r.read_exact(&mut chunk).unwrap();
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
    } else {
        let _ = r.read_to_end(&mut body);
    }
    Response { status, head, body: String::from_utf8_lossy(&body).into_owned() }
}

/// An API call with a bearer token: the status and the body as JSON (`Null`
/// when it is not JSON).
pub fn json(port: u16, method: &str, path: &str, token: &str, body: Option<&str>) -> (u16, Value) {
    let r = exchange(port, method, path, &[("Authorization", &format!("Bearer {token}"))], body);
    (r.status, r.json())
}

/// An API call with or without a token: the status and the body as text.
pub fn text(port: u16, method: &str, path: &str, token: Option<&str>, body: Option<&str>) -> (u16, String) {
    let auth = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("Authorization", a.as_str())).collect();
    let r = exchange(port, method, path, &headers, body);
    (r.status, r.body)
}

/// A loopback port nothing listens on (until the test binds it).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}
