//! One `commands` set's stream: the export on a source host, each
//! transform on this machine, the import on a target host, joined by
//! bounded pipes.
//!
//! Every stage goes through `Transport::exec_stream` (the transforms
//! through the local transport), so quoting, SSH and the closed-pipe rule
//! are the transport's. A pipe holds at most [`PIPE`] bytes: a slow import
//! slows the export down, and nothing is ever held whole. When a stage
//! fails, the one to blame is the first (upstream-most) that failed by
//! itself: a stage that failed only because the next one stopped reading
//! is not.

use crate::StepKind;
use crate::meter::{Meter, Metered};
use haul_transport::{Input, LineSink, Output, Transport, TransportError};
use std::sync::Arc;
use tokio::task::JoinHandle;
use tokio_util::io::SyncIoBridge;

/// Bytes buffered between two stages.
pub(crate) const PIPE: usize = 256 * 1024;

/// One command of the chain, ready to run where it runs.
pub(crate) struct Stage {
    pub(crate) kind: StepKind,
    pub(crate) host: String,
    pub(crate) transport: Transport,
    pub(crate) script: String,
    pub(crate) args: Vec<String>,
    pub(crate) sink: Option<LineSink>,
}

/// A check on this machine that the stream into the import passes
/// through (`haul_host::gate::pass` for a `files` set): it reads what the stage
/// before wrote and writes what the import is given, and an error fails
/// the chain, blamed on the stage before it.
pub(crate) type Gate = Box<dyn FnOnce(&mut dyn std::io::Read, &mut dyn std::io::Write) -> Result<(), String> + Send>;

/// The stage that failed the chain, and how.
#[derive(Debug)]
pub(crate) struct Blame {
    pub(crate) kind: StepKind,
    pub(crate) host: String,
    pub(crate) message: String,
}

/// Runs `stages` (export, transforms…, import) joined by pipes, the export
/// given `first` on its stdin and, with a `gate`, the stream into the
/// import passed through it. `exported` measures what the export wrote,
/// `imported` what the import was given.
pub(crate) async fn run(
    stages: Vec<Stage>,
    first: Input,
    gate: Option<Gate>,
    exported: Arc<Meter>,
    imported: Arc<Meter>,
) -> Result<(), Blame> {
    assert!(stages.len() >= 2, "a chain has an export and an import");
    let last = stages.len() - 1;
    let mut input = first;
    let mut gate = gate;
    let mut gated = None;
    let mut handles = Vec::new();
    let mut names = Vec::new();
    for (i, s) in stages.into_iter().enumerate() {
        names.push((s.kind, s.host.clone()));
        let this_input = std::mem::replace(&mut input, Input::None);
        if i == last {
            handles
                .push(tokio::spawn(async move { s.transport.exec_args(&s.script, &s.args, this_input, s.sink).await }));
            break;
        }
        let (w, r) = tokio::io::duplex(PIPE);
        let mut w: haul_transport::Writer = Box::new(w);
        let mut r: haul_transport::Reader = Box::new(r);
        if i + 1 == last {
            if let Some(g) = gate.take() {
                let (gw, gr) = tokio::io::duplex(PIPE);
                let gw: haul_transport::Writer = Box::new(Metered { inner: Box::new(gw), meter: imported.clone() });
                gated = Some((i, through(g, r, gw)));
                r = Box::new(gr);
            } else {
                w = Box::new(Metered { inner: w, meter: imported.clone() });
            }
        }
        if i == 0 {
            w = Box::new(Metered { inner: w, meter: exported.clone() });
        }
        input = Input::Reader(r);
        handles.push(tokio::spawn(
            async move { s.transport.exec_stream(&s.script, &s.args, this_input, w, s.sink).await },
        ));
    }
    let mut results: Vec<Result<Output, TransportError>> = Vec::new();
    for h in handles {
        results.push(h.await.unwrap_or_else(|e| Err(TransportError { host: "haul".into(), message: e.to_string() })));
    }
    if let Some((i, g)) = gated {
        // What the gate refused is the fault of the stage that sent it,
        // whatever the import made of the cut-off stream.
        let refused = g.await.unwrap_or_else(|e| Err(e.to_string()));
        if let Err(message) = refused {
            judge(&names[..=i], &results[..=i])?;
            return Err(Blame { kind: names[i].0, host: names[i].1.clone(), message });
        }
    }
    judge(&names, &results)
}

/// Runs `gate` on a blocking thread between `from` and `to`; `to` is shut
/// down when the gate passed everything, and dropped (the reader sees the
/// stream cut off) when it did not.
fn through(gate: Gate, from: haul_transport::Reader, to: haul_transport::Writer) -> JoinHandle<Result<(), String>> {
    tokio::task::spawn_blocking(move || {
        let mut from = SyncIoBridge::new(from);
        let mut to = SyncIoBridge::new(to);
        gate(&mut from, &mut to)?;
        to.shutdown().map_err(|e| format!("the stream to the import ended: {e}"))
    })
}

/// The upstream-most stage that failed by itself, else the stage after
/// one whose output was cut off (it stopped reading before the end).
fn judge(names: &[(StepKind, String)], results: &[Result<Output, TransportError>]) -> Result<(), Blame> {
    let blame = |i: usize, message: String| Blame { kind: names[i].0, host: names[i].1.clone(), message };
    for (i, r) in results.iter().enumerate() {
        match r {
            Err(e) => return Err(blame(i, e.message.clone())),
            Ok(o) if !o.success() && !o.downstream_closed => return Err(blame(i, describe(o))),
            Ok(_) => {}
        }
    }
    if let Some(i) = results.iter().position(|r| r.as_ref().is_ok_and(|o| o.downstream_closed)) {
        return Err(blame(i + 1, "it ended before reading the whole stream".into()));
    }
    Ok(())
}

/// `exit code 3: <the last lines it printed>`.
pub(crate) fn describe(o: &Output) -> String {
    let status = match o.code {
        Some(c) => format!("exit code {c}"),
        None => "killed by a signal".to_string(),
    };
    let text = String::from_utf8_lossy(&o.stderr);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let tail = &lines[lines.len().saturating_sub(8)..];
    if tail.is_empty() { status } else { format!("{status}: {}", tail.join("\n  ")) }
}
