//! `haul agent`: a host that deploys itself.
//!
//! The agent notices a new blessing for each app it serves, judges it with
//! `haul_bless::verify`, downloads the release into the same layout a push
//! deploy makes (verifying the digest while streaming, reusing unchanged
//! files of the newest release), runs the release's package scripts and the
//! push steps the blessing carries, waits for its wave, switches with the
//! same one-rename switch under the same host lock as push, prunes by the
//! same rule, and reports every step. The on-host work goes through
//! `haul_host::HostApp` over the local transport, so nothing about the
//! layout, the lock or the switch exists twice. Every report goes to the
//! store and, with `HAUL_LEDGER`, to a `haul server` too (`report`), which
//! turns it into the deployment's host result by `record`'s one mapping.

mod config;
mod fetch;
mod migrate;
mod prune;
pub mod record;
pub mod report;
mod run;
mod secrets;
pub mod state;
mod steps;
mod sync;
mod wake;
pub mod waves;
mod work;

pub use config::{AgentConfig, ConfigError, VARIABLES};
pub use run::{AgentError, Mode, Summary, describe, run, run_with};
pub use sync::Outcome;
