//! Blessings: the signed, versioned, expiring pointer that tells the agents
//! of one app and environment which release to run, and how.
//!
//! A pull deploy has no SSH session to carry intent, so everything an agent
//! acts on travels in one document signed by a key the agent trusts: the
//! release, the archive's digest and size, the waves, the steps a push
//! deploy would run (post-upload, migrate, service, health), a version that
//! only grows and an expiry. Binding it all into one signature is what
//! defeats TUF's rollback, freeze, mix-and-match and endless-data attacks;
//! [`verify`] is the one place that judges a document, and every agent goes
//! through it. This crate is pure: it reads and writes no store; the store
//! keeps the signed bytes ([`Envelope`]) and the agent decides with them.

mod doc;
mod envelope;
mod keys;
mod trust;

pub use doc::{ArchiveRef, Blessing, HealthDoc, ScriptNames, Selector, StepDoc, Steps, Wave};
pub use envelope::{Envelope, REPORT_CONTEXT, SIGNING_CONTEXT, Signature};
pub use keys::{KeyError, KeyId, PublicKey, SecretKey, check_key_name};
pub use trust::{Accepted, Refusal, Trust, check_object, verify};

/// The blessing format this build writes and reads.
pub const FORMAT: u32 = 1;
