//! The controller side of pull deploys, shared by `haul` (the CLI) and
//! `haul server` (deploy requests): opening the store a config names, the
//! blessing document made from `haul.toml`, choosing and publishing a
//! signed blessing (create-if-absent, so of two blessers one wins), and
//! following the agents' reports with a failure policy. Progress goes
//! through `haul_deploy::Observer` and every failure is a [`PullError`];
//! nothing here prints, and nothing here touches the ledger (the caller
//! records what [`run::go`] hands it).

pub mod bless;
pub mod doc;
mod error;
pub mod follow;
mod open;
pub mod run;
pub mod verify;

pub use error::{PullError, Result};
pub use open::{
    Read, ago, open_store, phase, pull_env, read_blessing, report_keys, reporters, reporters_for, reporters_now,
    signing_keys, trust,
};
