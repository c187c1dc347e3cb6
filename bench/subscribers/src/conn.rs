//! One subscription: an HTTP/1.1 GET over a plain TCP socket, its status
//! line checked, then the body read for ever, every Server-Sent Event
//! (a `data:` line; comments and keep-alives are not events) reported
//! with the instant it arrived. Raw TCP rather than an HTTP client keeps
//! the per-connection cost on this side small and obvious.

use std::sync::Arc;
use std::time::Instant;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{Semaphore, mpsc};

pub fn request(addr: &str, path: &str, token: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nAccept: text/event-stream\r\n\r\n")
}

pub struct Sub {
    pub index: usize,
    pub addr: String,
    pub request: Arc<[u8]>,
    pub gate: Arc<Semaphore>,
    pub ready: mpsc::UnboundedSender<Result<(), String>>,
    pub events: mpsc::UnboundedSender<(usize, Instant)>,
}

impl Sub {
    pub async fn run(self) {
        let permit = self.gate.clone().acquire_owned().await;
        let (mut sock, mut pending) = match self.open().await {
            Ok(v) => v,
            Err(e) => {
                let _ = self.ready.send(Err(e));
                return;
            }
        };
        drop(permit);
        let _ = self.ready.send(Ok(()));
        let mut buf = vec![0u8; 4096];
        let mut in_event = false;
        loop {
            // Complete lines of what arrived so far.
            while let Some(nl) = pending.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = pending.drain(..=nl).collect();
                let line = line.strip_suffix(b"\n").unwrap_or(&line);
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                if line.starts_with(b"data:") && !in_event {
                    in_event = true;
                    let _ = self.events.send((self.index, Instant::now()));
                } else if line.is_empty() {
                    in_event = false;
                }
            }
            match sock.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => pending.extend_from_slice(&buf[..n]),
            }
        }
    }

    /// Connects, sends the request and reads the response head; returns
    /// the socket and what of the body came with the head.
    async fn open(&self) -> Result<(TcpStream, Vec<u8>), String> {
        let mut sock = TcpStream::connect(&self.addr).await.map_err(|e| format!("connect {}: {e}", self.addr))?;
        sock.write_all(&self.request).await.map_err(|e| format!("send: {e}"))?;
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        loop {
            let n = sock.read(&mut buf).await.map_err(|e| format!("read: {e}"))?;
            if n == 0 {
                return Err(format!("closed before the response head ({} bytes)", head.len()));
            }
            head.extend_from_slice(&buf[..n]);
            if let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
                let status =
                    String::from_utf8_lossy(&head[..head.iter().position(|&b| b == b'\r').unwrap_or(0)]).to_string();
                if !status.starts_with("HTTP/1.1 200") {
                    return Err(format!("answered {status:?}"));
                }
                return Ok((sock, head[end + 4..].to_vec()));
            }
            if head.len() > 64 << 10 {
                return Err("response head over 64 KiB".into());
            }
        }
    }
}
