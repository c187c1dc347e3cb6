//! Running a plan and recording it in the ledger, without the CLI.
//!
//! A deploy is recorded around the engine: before any host changes, its
//! release is registered, the gate judges it and a deployment starts under a
//! lease; while it runs, each host's progress is reported and the lease
//! renewed; afterwards the outcome is written. `haul` and the coming pull
//! agent (`haul agent`) both need exactly this, so it lives here, returns
//! [`RecordError`] (the CLI maps it to exit codes), and prints nothing.
//!
//! The ledger is reached through one trait, [`LedgerClient`]: the database
//! itself ([`haul_ledger::Ledger`], SQLite or PostgreSQL) or a `haul server`
//! over HTTP(S) ([`Server`]). [`open`] picks one by `[ledger] url`; callers
//! never know which. (The name "store" is kept for the object store of pull
//! deploys.)

mod client;
mod convert;
mod database;
mod error;
mod live;
mod recorder;
mod run;
mod server;

pub use client::{Answer, Client, LedgerClient, open};
pub use error::{BREAK_GLASS, NoPredecessor, RecordError};
pub use recorder::{Recorder, host_results, runner};
pub use run::{Outcome, check_built_for_downstream, run, trigger_of};
pub use server::Server;

pub type Result<T = (), E = RecordError> = std::result::Result<T, E>;
