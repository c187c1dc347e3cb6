//! The release format: a content-addressed snapshot of the tree that ships.
//!
//! A release is built once and is the same bytes on every host of every
//! environment. This crate owns the three things that make that true: the
//! manifest (every path with its mode, size and blake3), the id (time-sortable,
//! ending in the manifest's digest) and the archive (tar + zstd) kept in a local
//! cache. It also owns the one rule for what a host must receive: the diff of a
//! new manifest against the host's newest one. It never talks to hosts.

mod blobs;
mod cache;
mod diff;
mod error;
mod foreign;
mod id;
mod import;
mod index;
mod links;
mod manifest;
mod members;
mod pack;
mod record;
mod refusal;
mod stream;
mod verify;

pub use cache::{Built, Contents, Pruned, Release, ReleaseCache};
pub use diff::Diff;
pub use error::ReleaseError;
pub use id::{ReleaseId, check_release_id, is_release_id, new_release_id};
pub use import::{ImportLimits, STALE_SCRATCH, unpack_foreign};
pub use links::{LinkEscape, MAX_HOPS, resolve_link};
pub use manifest::{Entry, Kind, Manifest};
pub use pack::{pack, pack_paths};
pub use record::{cksum, sha256_hex};
pub use refusal::ArchiveRefusal;
pub use stream::{extract_files, write_stage_stream};
pub use verify::verify_archive;
