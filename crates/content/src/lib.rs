//! `haul content sync`: copying an app's content sets from one
//! environment into another.
//!
//! Code moves between environments by promotion; content (a database, the
//! uploads) by this crate. Which way it may flow and into which
//! environments it may go at all is decided here, once, before any host is
//! touched (`rules`); a `commands` set is streamed host to host through
//! this machine (`chain`), never held whole or written to disk on the way,
//! with its bytes and digest measured (`meter`); `run` is one set's whole
//! sync: snapshot, stream, and restore when the import failed; `files` is
//! a `files` set: only changed files travel, through `haul_host::gate`
//! (only the regular files asked for pass), staged then switched.

mod chain;
mod error;
mod files;
mod meter;
mod rules;
mod run;

pub use error::{ContentError, StepKind};
pub use rules::{Request, SyncPlan};
pub use run::{SetOutcome, sync};
