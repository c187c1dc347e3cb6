//! Progress as it happens, for whoever is watching (a terminal, a JSON
//! stream, a test). The engine never prints.

use haul_api::Phase;
use std::time::Duration;

/// One thing that happened during a run.
#[derive(Debug, Clone)]
pub enum Progress<'a> {
    /// How many task runs (a task on one host) the run will make.
    Work(usize),
    Phase(Phase),
    /// A task started on `host` (or locally when `None`).
    Started {
        host: Option<&'a str>,
        label: &'a str,
    },
    Finished {
        host: Option<&'a str>,
        label: &'a str,
        ok: bool,
        elapsed: Duration,
    },
    /// A line a step printed.
    Line {
        host: Option<&'a str>,
        line: &'a str,
    },
    /// Something worth telling the user.
    Note(&'a str),
    /// Something went wrong but the run goes on (or is being undone).
    Warn(&'a str),
}

pub trait Observer: Send + Sync {
    fn progress(&self, p: Progress<'_>);
}

/// Ignores everything.
pub struct Quiet;

impl Observer for Quiet {
    fn progress(&self, _: Progress<'_>) {}
}
