//! `haul-subscribers`: the simulated subscribers of BENCHMARKS.md's "Pull
//! deploys" section. It opens N Server-Sent-Events subscriptions to a
//! running `haul server`, measures the server's memory and CPU at rest
//! from `/proc/<pid>` (the server is another process on the same machine),
//! then runs a trigger command (a blessing, or any ledger write) a few
//! times and times how long the next event takes to reach every
//! subscriber. It exists because 10,000 real agents do not fit on one
//! machine, while 10,000 sockets do; what it costs the server is the same.
//!
//! Usage (all times on one monotonic clock, this process's):
//!
//! ```text
//! haul-subscribers --addr 127.0.0.1:PORT --path /api/v1/events/stream \
//!     --token SECRET --n 10000 --server-pid PID --rest 10 \
//!     --trigger 'haul bless app fleet' [--repeat 3] [--timeout 60] [--parallel 256]
//! ```
//!
//! Prints one JSON object on stdout; progress on stderr. Raise `ulimit -n`
//! (for this process and the server) above N first.

#![allow(clippy::print_stdout, clippy::print_stderr, reason = "a benchmark tool: its output is the point")]

mod args;
mod conn;
mod procfs;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Semaphore, mpsc};

/// What one trigger measured.
struct Round {
    trigger_ms: f64,
    delivered: usize,
    /// Arrival times after the trigger command returned, sorted (ms; an
    /// event can beat the command's exit, which gives a negative time).
    after_return: Vec<f64>,
    max_from_start_ms: f64,
    cpu_s: f64,
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let a = match args::parse(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("haul-subscribers: {e}\n{}", args::USAGE);
            std::process::exit(2);
        }
    };
    let hz = procfs::clock_ticks();
    let base = procfs::sample(a.server_pid).unwrap_or_else(|e| die(&e));

    // Connect everyone, `parallel` handshakes in flight at a time.
    let request: Arc<[u8]> = conn::request(&a.addr, &a.path, &a.token).into_bytes().into();
    let gate = Arc::new(Semaphore::new(a.parallel));
    let (ready_tx, mut ready_rx) = mpsc::unbounded_channel();
    let (event_tx, mut event_rx) = mpsc::unbounded_channel();
    let started = Instant::now();
    for i in 0..a.n {
        let sub = conn::Sub {
            index: i,
            addr: a.addr.clone(),
            request: request.clone(),
            gate: gate.clone(),
            ready: ready_tx.clone(),
            events: event_tx.clone(),
        };
        tokio::spawn(sub.run());
    }
    drop(ready_tx);
    let (mut connected, mut failed) = (0usize, Vec::new());
    while connected + failed.len() < a.n {
        match ready_rx.recv().await {
            Some(Ok(())) => connected += 1,
            Some(Err(e)) => failed.push(e),
            None => break,
        }
        if (connected + failed.len()) % 1000 == 0 {
            eprintln!("haul-subscribers: {connected} connected, {} failed", failed.len());
        }
    }
    let connect_s = started.elapsed().as_secs_f64();
    if let Some(e) = failed.first() {
        eprintln!("haul-subscribers: {} subscriptions failed; the first: {e}", failed.len());
    }

    // At rest: what N idle subscriptions cost the server.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rest_start = procfs::sample(a.server_pid).unwrap_or_else(|e| die(&e));
    let rest_clock = Instant::now();
    tokio::time::sleep(Duration::from_secs_f64(a.rest)).await;
    let rest_end = procfs::sample(a.server_pid).unwrap_or_else(|e| die(&e));
    let rest_cpu_pct = (rest_end.ticks - rest_start.ticks) as f64 / hz / rest_clock.elapsed().as_secs_f64() * 100.0;
    let mut early = 0usize;
    while event_rx.try_recv().is_ok() {
        early += 1;
    }

    // Each trigger: until every connected subscriber has an event newer
    // than the trigger's start, or the timeout.
    let mut rounds = Vec::new();
    for r in 0..a.repeat {
        let before = procfs::sample(a.server_pid).unwrap_or_else(|e| die(&e));
        let t0 = Instant::now();
        let status = tokio::process::Command::new("sh")
            .arg("-c")
            .arg(&a.trigger)
            .stdout(std::process::Stdio::null())
            .status()
            .await
            .unwrap_or_else(|e| die(&format!("cannot run sh for the trigger: {e}")));
        let t1 = Instant::now();
        if !status.success() {
            die(&format!("the trigger {:?} failed: {status}", a.trigger));
        }
        let mut first: HashMap<usize, Instant> = HashMap::new();
        let deadline = tokio::time::Instant::from_std(t0 + Duration::from_secs_f64(a.timeout));
        while first.len() < connected {
            match tokio::time::timeout_at(deadline, event_rx.recv()).await {
                Ok(Some((i, at))) if at >= t0 => {
                    first.entry(i).or_insert(at);
                }
                Ok(Some(_)) => early += 1,
                Ok(None) | Err(_) => break,
            }
        }
        let after = procfs::sample(a.server_pid).unwrap_or_else(|e| die(&e));
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let mut after_return: Vec<f64> = first
            .values()
            .map(|&at| ms(at.saturating_duration_since(t1)) - ms(t1.saturating_duration_since(at)))
            .collect();
        after_return.sort_by(f64::total_cmp);
        let max_from_start_ms = first.values().map(|&at| ms(at - t0)).fold(0.0, f64::max);
        eprintln!(
            "haul-subscribers: trigger {}: {} of {connected} got it, the last {:.0} ms after the trigger returned",
            r + 1,
            first.len(),
            after_return.last().copied().unwrap_or(f64::NAN)
        );
        rounds.push(Round {
            trigger_ms: ms(t1 - t0),
            delivered: first.len(),
            after_return,
            max_from_start_ms,
            cpu_s: (after.ticks - before.ticks) as f64 / hz,
        });
        // Let the stream settle (late duplicates, keep-alives) before the next.
        tokio::time::sleep(Duration::from_secs(2)).await;
        while let Ok((_, _)) = event_rx.try_recv() {}
    }
    let end = procfs::sample(a.server_pid).unwrap_or_else(|e| die(&e));
    println!(
        "{}",
        report(&a, connected, failed.len(), connect_s, &base, &rest_end, rest_cpu_pct, early, &rounds, &end)
    );
}

#[allow(clippy::too_many_arguments)]
fn report(
    a: &args::Args,
    connected: usize,
    failed: usize,
    connect_s: f64,
    base: &procfs::Sample,
    rest: &procfs::Sample,
    rest_cpu_pct: f64,
    early: usize,
    rounds: &[Round],
    end: &procfs::Sample,
) -> String {
    let pct = |v: &[f64], p: f64| {
        if v.is_empty() { f64::NAN } else { v[((v.len() - 1) as f64 * p).round() as usize] }
    };
    let rounds: Vec<String> = rounds
        .iter()
        .map(|r| {
            format!(
                r#"{{"trigger_ms":{:.1},"delivered":{},"p50_ms":{:.1},"p99_ms":{:.1},"max_ms":{:.1},"max_from_start_ms":{:.1},"server_cpu_s":{:.2}}}"#,
                r.trigger_ms,
                r.delivered,
                pct(&r.after_return, 0.5),
                pct(&r.after_return, 0.99),
                pct(&r.after_return, 1.0),
                r.max_from_start_ms,
                r.cpu_s
            )
        })
        .collect();
    format!(
        r#"{{"n":{},"path":{:?},"connected":{connected},"failed":{failed},"connect_s":{connect_s:.2},"rss_before_kib":{},"rss_rest_kib":{},"hwm_rest_kib":{},"threads_rest":{},"cpu_rest_pct":{rest_cpu_pct:.2},"rest_s":{},"early_events":{early},"rss_end_kib":{},"hwm_end_kib":{},"rounds":[{}]}}"#,
        a.n,
        a.path,
        base.rss_kib,
        rest.rss_kib,
        rest.hwm_kib,
        rest.threads,
        a.rest,
        end.rss_kib,
        end.hwm_kib,
        rounds.join(",")
    )
}

fn die(msg: &str) -> ! {
    eprintln!("haul-subscribers: {msg}");
    std::process::exit(1)
}
