//! The deploy engine: plans as data, and the executor that runs them.
//!
//! Parse → resolve → plan → execute. [`plan`] turns a config, an app and an
//! environment into a [`Plan`] without touching any host; `haul plan` prints
//! it and tests snapshot it. [`Engine`] runs plans, phase by phase with a
//! barrier between phases, across hosts in parallel, and applies the
//! environment's failure policy. Everything it does to a host goes through
//! `haul-host`.

mod build;
mod engine;
mod error;
mod fanout;
mod health;
mod observer;
mod ops;
mod plan;
mod report;
pub mod secrets;
mod whoami;

pub use build::{build_release, run_local};
pub use engine::{Engine, IllegalMove, NoWayBack, RecoveryNote, StepError, StepFailed, TaskError, TaskFailure};
pub use error::{DeployError, LockHeld};
pub use health::{Attempt, HealthError, error_chain, http_client};
pub use observer::{Observer, Progress, Quiet};
pub use ops::{PerHost, Probe};
pub use plan::{
    Action, On, Phase, Plan, PlanKind, PlanPhase, ReleaseChoice, RolloutPlan, Task, plan_deploy, plan_rollback,
};
pub use report::{DeployReport, HostReport, HostStatus};
pub use whoami::Whoami;
