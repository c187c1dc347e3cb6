//! How haul reaches a host: run a POSIX `sh` script there, feed it a byte
//! stream, read what it prints.
//!
//! Every operation on a host (stage, switch, lock, steps) is a script that
//! goes through [`Transport::exec_args`], so the local transport (a directory
//! on this machine standing in for a server) and SSH behave alike by
//! construction. A script takes its data as positional arguments, and the
//! transport alone turns them into what the host's shell reads (`words`).
//! Transports know nothing of releases or deploys.

mod local;
mod masters;
mod ssh;
mod ssh_args;
mod words;

pub use local::Local;
pub use ssh::{Hop, SshHost, SshOptions, SshPool, SshTarget};
pub use ssh_args::{SshSetupError, unsafe_word};
pub use words::{ArgError, command_line, quote};

use std::io::{self, Write};
use std::sync::Arc;

/// Which output stream a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// Receives output lines as they arrive.
pub type LineSink = Arc<dyn Fn(Stream, &str) + Send + Sync>;

/// A producer of standard input, run on a blocking thread.
pub type Producer = Box<dyn FnOnce(&mut dyn Write) -> io::Result<()> + Send>;

/// A byte stream a script reads as its stdin (another script's stdout,
/// a local process's): copied with a bounded buffer, so a slow reader
/// slows the writer down.
pub type Reader = Box<dyn tokio::io::AsyncRead + Send + Unpin>;

/// Where a script's stdout goes as bytes, instead of lines to a sink.
pub type Writer = Box<dyn tokio::io::AsyncWrite + Send + Unpin>;

/// What a script reads on standard input.
pub enum Input {
    None,
    Bytes(Vec<u8>),
    Stream(Producer),
    Reader(Reader),
}

/// The outcome of a script that ran.
#[derive(Debug, Clone)]
pub struct Output {
    /// Exit code; `None` when killed by a signal.
    pub code: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// The script's stdout went to a [`Writer`] that stopped taking bytes
    /// (the next command of a chain ended first): its failure, if any, is
    /// that one's doing.
    pub downstream_closed: bool,
}

impl Output {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    pub fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// Everything the script printed, stdout then stderr, trimmed.
    pub fn combined(&self) -> String {
        let mut s = String::from_utf8_lossy(&self.stdout).into_owned();
        if !self.stderr.is_empty() {
            if !s.is_empty() && !s.ends_with('\n') {
                s.push('\n');
            }
            s.push_str(&String::from_utf8_lossy(&self.stderr));
        }
        s.trim_end().to_string()
    }
}

/// The host could not be reached or the script could not be started.
#[derive(Debug, thiserror::Error)]
#[error("{host}: {message}")]
pub struct TransportError {
    pub host: String,
    pub message: String,
}

/// A way to run scripts on one host.
#[derive(Debug, Clone)]
pub enum Transport {
    Local(Local),
    Ssh(SshHost),
}

impl Transport {
    /// The host's name, for messages.
    pub fn host(&self) -> &str {
        match self {
            Transport::Local(l) => l.host(),
            Transport::Ssh(s) => s.host(),
        }
    }

    /// Whether the host is this machine (a directory here stands in for
    /// it): what a script would only read there, this process can read
    /// itself, without starting one.
    pub fn is_local(&self) -> bool {
        matches!(self, Transport::Local(_))
    }

    /// Runs `script` with `sh -c` on the host, with no arguments.
    pub async fn exec(&self, script: &str, input: Input, sink: Option<LineSink>) -> Result<Output, TransportError> {
        self.exec_args(script, &[] as &[&str], input, sink).await
    }

    /// Runs `script` with `sh -c` on the host, `args` as its `"$1"`, `"$2"`…
    /// (and `haul` as `$0`). Every argument arrives exactly as given; one
    /// that is not UTF-8 or holds a NUL byte is refused, on every transport.
    pub async fn exec_args<A: AsRef<std::ffi::OsStr>>(
        &self,
        script: &str,
        args: &[A],
        input: Input,
        sink: Option<LineSink>,
    ) -> Result<Output, TransportError> {
        match self {
            Transport::Local(l) => l.exec(script, args, input, None, sink).await,
            Transport::Ssh(s) => s.exec(script, args, input, None, sink).await,
        }
    }

    /// Runs `script` like [`Transport::exec_args`], but its stdout is
    /// copied as bytes into `stdout` (shut down at the end) as it arrives,
    /// never collected: a chain of commands on several hosts is built from
    /// these and [`Input::Reader`], each pipe bounded. Stderr still goes to
    /// `sink` as lines. The [`Output`]'s `stdout` is empty.
    pub async fn exec_stream<A: AsRef<std::ffi::OsStr>>(
        &self,
        script: &str,
        args: &[A],
        input: Input,
        stdout: Writer,
        sink: Option<LineSink>,
    ) -> Result<Output, TransportError> {
        match self {
            Transport::Local(l) => l.exec(script, args, input, Some(stdout), sink).await,
            Transport::Ssh(s) => s.exec(script, args, input, Some(stdout), sink).await,
        }
    }
}

/// What became of a script's stdout.
pub(crate) struct Collected {
    bytes: Vec<u8>,
    downstream_closed: bool,
}

/// Feeds `stdin` from `input` while collecting (and streaming to `sink`) what
/// arrives on `stdout` and `stderr`; shared by every transport. Returns the
/// feeding result separately: a script that stops reading early is judged by
/// its exit status, not by the broken pipe.
pub(crate) async fn drive_io<W, R1, R2>(
    stdin: Option<W>,
    stdout: Option<R1>,
    stderr: Option<R2>,
    input: Input,
    to: Option<Writer>,
    sink: Option<LineSink>,
) -> (io::Result<()>, io::Result<Collected>, io::Result<Vec<u8>>)
where
    W: tokio::io::AsyncWrite + Unpin,
    R1: tokio::io::AsyncRead + Unpin,
    R2: tokio::io::AsyncRead + Unpin,
{
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let feed = async move {
        let Some(mut stdin) = stdin else {
            return Ok(());
        };
        match input {
            Input::None => {}
            Input::Bytes(b) => stdin.write_all(&b).await?,
            Input::Reader(mut r) => {
                tokio::io::copy(&mut r, &mut stdin).await?;
            }
            Input::Stream(produce) => {
                let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<u8>>(8);
                let producer = tokio::task::spawn_blocking(move || {
                    let mut w = ChanWriter { tx, buf: Vec::with_capacity(CHUNK) };
                    produce(&mut w)?;
                    w.flush()
                });
                while let Some(chunk) = rx.recv().await {
                    if let Err(e) = stdin.write_all(&chunk).await {
                        drop(rx);
                        let _ = producer.await;
                        return Err(e);
                    }
                }
                producer.await.map_err(io::Error::other)??;
            }
        }
        stdin.shutdown().await
    };
    async fn read<R: tokio::io::AsyncRead + Unpin>(
        r: Option<R>,
        which: Stream,
        sink: Option<LineSink>,
    ) -> io::Result<Vec<u8>> {
        let mut all = Vec::new();
        let Some(r) = r else { return Ok(all) };
        let mut r = BufReader::new(r);
        let mut line = Vec::new();
        loop {
            line.clear();
            if r.read_until(b'\n', &mut line).await? == 0 {
                break;
            }
            if let Some(s) = &sink {
                s(which, String::from_utf8_lossy(&line).trim_end_matches(['\n', '\r']));
            }
            all.extend_from_slice(&line);
        }
        Ok(all)
    }
    let out_sink = sink.clone();
    let out = async move {
        match to {
            None => {
                read(stdout, Stream::Stdout, out_sink).await.map(|bytes| Collected { bytes, downstream_closed: false })
            }
            Some(w) => {
                pass(stdout, w).await.map(|downstream_closed| Collected { bytes: Vec::new(), downstream_closed })
            }
        }
    };
    tokio::join!(feed, out, read(stderr, Stream::Stderr, sink))
}

/// Copies a script's stdout into `w`; `true` when `w` stopped taking bytes
/// (then the script's stdout is dropped: it sees a closed pipe, as a
/// process in a shell pipeline would).
async fn pass<R: tokio::io::AsyncRead + Unpin>(r: Option<R>, mut w: Writer) -> io::Result<bool> {
    use tokio::io::AsyncWriteExt;
    let Some(mut r) = r else { return Ok(false) };
    let closed = |e: &io::Error| e.kind() == io::ErrorKind::BrokenPipe;
    match tokio::io::copy(&mut r, &mut w).await {
        Ok(_) => match w.shutdown().await {
            Err(e) if !closed(&e) => Err(e),
            _ => Ok(false),
        },
        Err(e) if closed(&e) => Ok(true),
        Err(e) => Err(e),
    }
}

/// Turns the parts of a finished script into its [`Output`].
pub(crate) fn finish(
    fed: io::Result<()>,
    stdout: io::Result<Collected>,
    stderr: io::Result<Vec<u8>>,
    code: Option<i32>,
) -> io::Result<Output> {
    if let Err(e) = fed
        && e.kind() != io::ErrorKind::BrokenPipe
        && code == Some(0)
    {
        return Err(e);
    }
    let out = stdout?;
    Ok(Output { code, stdout: out.bytes, stderr: stderr?, downstream_closed: out.downstream_closed })
}

const CHUNK: usize = 256 * 1024;

struct ChanWriter {
    tx: tokio::sync::mpsc::Sender<Vec<u8>>,
    buf: Vec<u8>,
}

impl Write for ChanWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.flush()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if !self.buf.is_empty() {
            let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
            self.tx
                .blocking_send(chunk)
                .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the host stopped reading"))?;
        }
        Ok(())
    }
}
