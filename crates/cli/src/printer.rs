//! All output goes through here: results to stdout, progress and messages to
//! stderr, a spinner only on a terminal.
//!
//! Output is never what stops a run. A stdout or stderr that cannot be
//! written (a reader gone, as in `| head`: EPIPE; a full disk; a closed
//! descriptor) makes that stream go quiet for the rest of the process, and
//! the run goes on to its end: locks released, the ledger told the real
//! outcome, the exit code the run's. SIGPIPE stays ignored (Rust's default
//! for binaries; nothing here changes it), so a write fails instead of
//! killing the process.

use haul_deploy::{Observer, Progress};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

pub struct Printer {
    verbose: bool,
    /// Progress as JSON lines on stdout instead of text on stderr.
    events: bool,
    /// Lines from hosts go to stdout prefixed by host (for `exec`).
    exec: bool,
    bar: Option<ProgressBar>,
    inflight: Mutex<BTreeMap<String, String>>,
    /// Set once a write to stdout failed: nothing more is written there.
    out_closed: AtomicBool,
    /// Set once a write to stderr failed: messages and the bar stop.
    err_closed: AtomicBool,
}

impl Printer {
    /// `json`: results are JSON, and run progress is a stream of JSON events.
    pub fn new(verbose: bool, json: bool) -> Printer {
        let bar = (!json && std::io::stderr().is_terminal()).then(|| {
            let pb = ProgressBar::new_spinner();
            pb.set_style(ProgressStyle::with_template("{spinner} {elapsed:>4} {wide_msg}").expect("valid template"));
            pb.enable_steady_tick(Duration::from_millis(120));
            pb
        });
        Printer {
            verbose,
            events: json,
            exec: false,
            bar,
            inflight: Mutex::new(BTreeMap::new()),
            out_closed: AtomicBool::new(false),
            err_closed: AtomicBool::new(false),
        }
    }

    fn event(&self, p: &Progress<'_>) {
        use serde_json::json;
        let ms = |d: &Duration| d.as_millis() as u64;
        let v = match p {
            Progress::Work(n) => json!({ "event": "work", "tasks": n }),
            Progress::Phase(phase) => json!({ "event": "phase", "phase": phase }),
            Progress::Started { host, label } => json!({ "event": "started", "host": host, "task": label }),
            Progress::Finished { host, label, ok, elapsed } => {
                json!({ "event": "finished", "host": host, "task": label, "ok": ok, "elapsed_ms": ms(elapsed) })
            }
            Progress::Line { host, line } => json!({ "event": "output", "host": host, "line": line }),
            Progress::Note(m) => json!({ "event": "note", "message": m }),
            Progress::Warn(m) => json!({ "event": "warning", "message": m }),
        };
        self.out(&v.to_string());
    }

    pub fn for_exec(mut self) -> Printer {
        self.exec = true;
        self
    }

    /// A line of results on stdout (nothing once stdout failed).
    pub fn out(&self, line: &str) {
        if self.out_closed.load(Ordering::Relaxed) {
            return;
        }
        self.suspend(|| {
            let mut o = std::io::stdout().lock();
            if writeln!(o, "{line}").and_then(|()| o.flush()).is_err() {
                self.out_closed.store(true, Ordering::Relaxed);
            }
        });
    }

    /// A message on stderr (nothing once stderr failed).
    pub fn err(&self, line: &str) {
        if self.err_closed.load(Ordering::Relaxed) {
            return;
        }
        let written = self.suspend(|| {
            let mut e = std::io::stderr().lock();
            writeln!(e, "{line}").and_then(|()| e.flush()).is_ok()
        });
        if !written {
            self.err_closed.store(true, Ordering::Relaxed);
            // The bar draws on stderr too: it goes quiet with it.
            if let Some(b) = &self.bar {
                b.set_draw_target(ProgressDrawTarget::hidden());
            }
        }
    }

    pub fn json<T: serde::Serialize>(&self, v: &T) {
        self.out(&serde_json::to_string_pretty(v).expect("serializable"));
    }

    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }

    fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        match &self.bar {
            Some(b) => b.suspend(f),
            None => f(),
        }
    }

    fn refresh(&self) {
        if let Some(b) = &self.bar {
            let inflight = self.inflight.lock().expect("not poisoned");
            let mut by_label: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
            for (host, label) in inflight.iter() {
                by_label.entry(label.as_str()).or_default().push(host.as_str());
            }
            let msg: Vec<String> = by_label
                .into_iter()
                .map(|(label, hosts)| {
                    let hosts = if hosts.len() > 4 {
                        format!("{}, … ({} hosts)", hosts[..3].join(", "), hosts.len())
                    } else {
                        hosts.join(", ")
                    };
                    format!("{} [{hosts}]", clip(label, 48))
                })
                .collect();
            b.set_message(msg.join("; "));
        }
    }
}

/// Shortens a progress label to `n` characters.
fn clip(s: &str, n: usize) -> String {
    if s.chars().count() > n { format!("{}…", s.chars().take(n - 1).collect::<String>()) } else { s.to_string() }
}

fn secs(d: Duration) -> String {
    format!("{:.2}s", d.as_secs_f64())
}

impl Observer for Printer {
    fn progress(&self, p: Progress<'_>) {
        if self.events && !self.exec {
            return self.event(&p);
        }
        match p {
            Progress::Work(n) => {
                if let Some(b) = &self.bar {
                    b.set_length(n as u64);
                    b.set_position(0);
                    b.set_style(
                        ProgressStyle::with_template("{spinner} {elapsed:>4} [{bar:30}] {pos}/{len} {wide_msg}")
                            .expect("valid template")
                            .progress_chars("=> "),
                    );
                }
            }
            Progress::Phase(phase) => self.err(&format!("==> {phase}")),
            Progress::Started { host, label } => {
                self.inflight
                    .lock()
                    .expect("not poisoned")
                    .insert(host.unwrap_or("local").to_string(), label.to_string());
                self.refresh();
            }
            Progress::Finished { host, label, ok, elapsed } => {
                self.inflight.lock().expect("not poisoned").remove(host.unwrap_or("local"));
                self.refresh();
                let mark = if ok { "ok" } else { "FAILED" };
                self.err(&format!("  {:<10} {label}  {mark} {}", host.unwrap_or("local"), secs(elapsed)));
            }
            Progress::Line { host: None, line } => self.err(&format!("  │ {line}")),
            Progress::Line { host: Some(host), line } => {
                if self.exec {
                    match host.strip_suffix('!') {
                        Some(h) => self.err(&format!("{h} | {line}")),
                        None => self.out(&format!("{host} | {line}")),
                    }
                } else if self.verbose {
                    self.err(&format!("  │ {host}: {line}"));
                }
            }
            Progress::Note(n) => self.err(&format!("  {n}")),
            Progress::Warn(w) => self.err(&format!("warning: {w}")),
        }
    }
}

/// Lays out rows as aligned columns.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut width: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            width[i] = width[i].max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        cells
            .iter()
            .enumerate()
            .map(|(i, c)| if i + 1 == cells.len() { c.to_string() } else { format!("{c:<w$}", w = width[i]) })
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    let mut out = vec![line(header.to_vec())];
    for r in rows {
        out.push(line(r.iter().map(String::as_str).collect()));
    }
    out.join("\n")
}
