//! The server's front door: every accepted connection is looked at (its
//! first bytes peeked, nothing consumed) before hyper gets it, so the
//! agents' wake subscriptions, which stay open for hours and number one per
//! agent, can be served without hyper's connection.
//!
//! Why: hyper keeps two 8 KiB buffers (read and header write) for every
//! HTTP/1 connection for as long as it lives, about 16 of the 19 KiB one
//! idle subscription cost; 10,000 agents made that 200 MB (BENCHMARKS.md,
//! "Pull deploys"). A subscription only needs its request read once and
//! its events written as they come.
//!
//! What is served here is only the transport: a `GET` of the wake route
//! whose whole head came in its first bytes, without a body, is parsed
//! (`httparse`), turned into an `http::Request` and given to the same
//! router every other request goes through (authentication, validation,
//! the handler, the middleware: one home for each rule), and its response
//! is written as HTTP/1.1 with `connection: close`, the body's bytes as
//! they come (close-delimited, or with its length when it has one). Any
//! other connection, and any head this reading is not sure of (split,
//! too long, malformed, with a body), goes to hyper untouched: peeking
//! consumed nothing.

use axum::Router;
use axum::body::Body;
use axum::http::{self, HeaderMap, HeaderName, HeaderValue, Request};
use futures_util::StreamExt;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};

/// The request line a wake subscription starts with.
const WAKE: &[u8] = b"GET /api/v1/agents/wake";
/// The longest head read here (a longer one goes to hyper).
const HEAD_MAX: usize = 4096;
/// The most headers a head read here may have.
const HEADERS_MAX: usize = 32;
/// How long a head that came in part may take to come whole before the
/// connection goes to hyper (the pauses double from 1 ms).
const PATIENCE: u32 = 7;
/// How long a connection may say nothing before it goes to hyper (which
/// judges idle connections as it does any other).
const SILENCE: Duration = Duration::from_secs(10);
/// Connections sorted and waiting for hyper to accept them.
const QUEUE: usize = 1024;

/// The listener `axum::serve` is given: the connections the front door
/// did not keep.
pub(crate) struct Front {
    rx: mpsc::Receiver<(TcpStream, SocketAddr)>,
    addr: SocketAddr,
}

impl axum::serve::Listener for Front {
    type Io = TcpStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (TcpStream, SocketAddr) {
        match self.rx.recv().await {
            Some(c) => c,
            // The acceptor ended (the server is stopping): no more
            // connections; axum's graceful shutdown ends the serving.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        Ok(self.addr)
    }
}

/// Accepts on `listener` until `stop` turns true, serving wake
/// subscriptions with `router` and handing every other connection to the
/// returned listener.
pub(crate) fn front(listener: TcpListener, router: Router, mut stop: watch::Receiver<bool>) -> std::io::Result<Front> {
    let addr = listener.local_addr()?;
    // Every route made ready once, not for each subscription.
    let router = router.with_state(());
    let (tx, rx) = mpsc::channel(QUEUE);
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                a = listener.accept() => a,
                _ = stop.wait_for(|s| *s) => return,
            };
            match accepted {
                Ok((stream, peer)) => {
                    tokio::spawn(sort(stream, peer, router.clone(), tx.clone()));
                }
                Err(e) => pause_after(e).await,
            }
        }
    });
    Ok(Front { rx, addr })
}

/// After a failed accept: a connection's own failure is nothing; running
/// out of descriptors or memory waits a little rather than spinning.
async fn pause_after(e: std::io::Error) {
    use std::io::ErrorKind::*;
    if !matches!(e.kind(), ConnectionRefused | ConnectionAborted | ConnectionReset) {
        #[allow(clippy::print_stderr)] // the server's log is its standard error
        {
            eprintln!("haul server: accepting a connection: {e}");
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// What the first bytes of a connection say.
#[derive(Debug, PartialEq, Eq)]
enum Sorted {
    /// A wake subscription's whole head, this long.
    Wake(usize),
    /// Anything else, or not sure: hyper's.
    Hyper,
    /// Closed or broken before saying anything.
    Gone,
}

async fn sort(stream: TcpStream, peer: SocketAddr, router: Router, tx: mpsc::Sender<(TcpStream, SocketAddr)>) {
    match look(&stream).await {
        Sorted::Wake(len) => serve_wake(stream, len, router).await,
        Sorted::Hyper => {
            let _ = tx.send((stream, peer)).await;
        }
        Sorted::Gone => {}
    }
}

/// Peeks at the connection's first bytes until they are sorted.
async fn look(stream: &TcpStream) -> Sorted {
    let mut buf = vec![0u8; HEAD_MAX];
    let mut pauses = 0;
    loop {
        let n = match tokio::time::timeout(SILENCE, stream.peek(&mut buf)).await {
            Err(_) => return Sorted::Hyper,
            Ok(Ok(0) | Err(_)) => return Sorted::Gone,
            Ok(Ok(n)) => n,
        };
        match judge(&buf[..n]) {
            Some(sorted) => return sorted,
            None if n == HEAD_MAX || pauses == PATIENCE => return Sorted::Hyper,
            None => {
                // `peek` would answer the same bytes at once: wait for more.
                tokio::time::sleep(Duration::from_millis(1 << pauses)).await;
                pauses += 1;
            }
        }
    }
}

/// Sorts the bytes seen so far; `None` while they may still become a
/// wake subscription's head.
fn judge(seen: &[u8]) -> Option<Sorted> {
    let k = seen.len().min(WAKE.len());
    if seen[..k] != WAKE[..k] {
        return Some(Sorted::Hyper);
    }
    if seen.len() == k {
        return None;
    }
    if !matches!(seen[k], b'?' | b' ') {
        return Some(Sorted::Hyper);
    }
    let mut headers = [httparse::EMPTY_HEADER; HEADERS_MAX];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(seen) {
        Ok(httparse::Status::Complete(len)) => {
            let body = req.headers.iter().any(|h| {
                h.name.eq_ignore_ascii_case("content-length") && h.value != b"0"
                    || h.name.eq_ignore_ascii_case("transfer-encoding")
                    || h.name.eq_ignore_ascii_case("upgrade")
                    || h.name.eq_ignore_ascii_case("expect")
            });
            Some(if body || req.version != Some(1) { Sorted::Hyper } else { Sorted::Wake(len) })
        }
        Ok(httparse::Status::Partial) => None,
        Err(_) => Some(Sorted::Hyper),
    }
}

/// The request in `head` (a whole head `judge` accepted).
fn request(head: &[u8]) -> Option<Request<Body>> {
    let mut headers = [httparse::EMPTY_HEADER; HEADERS_MAX];
    let mut req = httparse::Request::new(&mut headers);
    req.parse(head).ok()?;
    let mut map = HeaderMap::with_capacity(req.headers.len());
    for h in req.headers.iter() {
        let name = HeaderName::from_bytes(h.name.as_bytes()).ok()?;
        map.append(name, HeaderValue::from_bytes(h.value).ok()?);
    }
    let mut r = Request::builder().method(http::Method::GET).uri(req.path?).version(http::Version::HTTP_11);
    *r.headers_mut()? = map;
    r.body(Body::empty()).ok()
}

/// Reads the head, asks the router, writes the answer until it ends, the
/// client goes away, or the server stops (the handler's stream ends then).
async fn serve_wake(mut stream: TcpStream, len: usize, router: Router) {
    let mut head = vec![0u8; len];
    if stream.read_exact(&mut head).await.is_err() {
        return;
    }
    let Some(req) = request(&head) else {
        // `judge` parsed it; a name or value `http` refuses is answered
        // as hyper would.
        let _ = stream.write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").await;
        return;
    };
    drop(head);
    let mut router = router;
    let res = match tower_service::Service::call(&mut router, req).await {
        Ok(r) => r,
        Err(never) => match never {},
    };
    let (parts, body) = res.into_parts();
    let length = axum::body::HttpBody::size_hint(&body).exact();
    let (mut from, mut to) = stream.split();
    if to.write_all(&response_head(&parts, length)).await.is_err() {
        return;
    }
    let mut data = body.into_data_stream();
    let mut sink = [0u8; 64];
    loop {
        tokio::select! {
            chunk = data.next() => match chunk {
                Some(Ok(bytes)) => {
                    if to.write_all(&bytes).await.is_err() {
                        return;
                    }
                }
                Some(Err(_)) | None => break,
            },
            // The client sends nothing more; what it sends is dropped, and
            // its end (or a reset) ends the subscription.
            read = from.read(&mut sink) => if matches!(read, Ok(0) | Err(_)) { return },
        }
    }
    let _ = to.shutdown().await;
}

/// The status line and headers of a response, with `connection: close`
/// and, when the body's length is known, its length.
fn response_head(parts: &http::response::Parts, length: Option<u64>) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    let reason = parts.status.canonical_reason().unwrap_or("");
    out.extend_from_slice(format!("HTTP/1.1 {} {reason}\r\n", parts.status.as_u16()).as_bytes());
    for (name, value) in &parts.headers {
        if matches!(name.as_str(), "connection" | "content-length" | "transfer-encoding" | "keep-alive") {
            continue;
        }
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if let Some(n) = length {
        out.extend_from_slice(format!("content-length: {n}\r\n").as_bytes());
    }
    out.extend_from_slice(b"connection: close\r\n\r\n");
    out
}

#[cfg(test)]
mod tests;
