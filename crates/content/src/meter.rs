//! Bytes and digest of a stream, measured as it passes a pipe, so a sync
//! can show its rate and record what it moved without holding any of it.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tokio::io::AsyncWrite;

/// What passed one point of a chain.
#[derive(Default)]
pub(crate) struct Meter {
    bytes: AtomicU64,
    hash: Mutex<blake3::Hasher>,
}

impl Meter {
    pub(crate) fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// blake3 of everything that passed, in hex.
    pub(crate) fn digest(&self) -> String {
        self.hash.lock().unwrap_or_else(|p| p.into_inner()).finalize().to_hex().to_string()
    }
}

/// A writer that measures what it passes on.
pub(crate) struct Metered<W> {
    pub(crate) inner: W,
    pub(crate) meter: Arc<Meter>,
}

impl<W: AsyncWrite + Unpin> AsyncWrite for Metered<W> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let r = Pin::new(&mut this.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = &r {
            this.meter.bytes.fetch_add(*n as u64, Ordering::Relaxed);
            this.meter.hash.lock().unwrap_or_else(|p| p.into_inner()).update(&buf[..*n]);
        }
        r
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// `12.3 MiB`.
pub(crate) fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 { format!("{bytes} B") } else { format!("{v:.1} {}", UNITS[u]) }
}
