//! The words every part of haul uses about a deployment, and the shapes they
//! travel in.
//!
//! The engine that runs a deploy, the ledger that records it, the server that
//! serves it, the dashboard that shows it and the clients (the CLI, the coming
//! pull agent) that report it must agree on what a phase, a host's status and a
//! deployment's status are. Each is one enum here, with one spelling on the
//! wire and in SQL, and a parser that refuses what it does not know, so a
//! misspelt or future value is an error where it is read instead of a silent
//! default.
//!
//! The HTTP API's requests (`requests`), answers (`responses`) and the
//! records they carry (`records`) are here too, once, for the server and its
//! clients; each derives its OpenAPI schema (`utoipa`), so the document the
//! server serves is generated from the types it (de)serializes and cannot
//! drift from them.

pub mod agents;
mod names;
pub mod pipeline;
pub mod pull;
pub mod records;
pub mod requests;
pub mod responses;
pub mod secrets;
pub mod wake;

pub use names::{DeliveryStatus, DeploymentStatus, HostStatus, Phase, Trigger, UnknownName, VerificationResult};
