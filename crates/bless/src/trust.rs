//! The one judgement of a blessing: signed by enough trusted keys, for this
//! app and environment, newer than what was accepted, not expired.

use crate::doc::Blessing;
use crate::envelope::Envelope;
use crate::keys::PublicKey;
use jiff::Timestamp;

/// The keys an agent trusts and how many of them must have signed.
#[derive(Debug, Clone)]
pub struct Trust {
    pub keys: Vec<PublicKey>,
    /// At least 1, at most `keys.len()`.
    pub threshold: usize,
}

/// The highest version an agent accepted for one app and environment.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Accepted {
    pub version: u64,
    /// blake3 of the accepted envelope's bytes, hex.
    pub envelope: String,
}

/// Why a blessing was refused; each is reported, none is acted on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the blessing cannot be read: {0}")]
    Malformed(String),
    #[error("the blessing is {size} bytes, more than {max}")]
    TooLarge { size: usize, max: usize },
    #[error("the blessing is not signed")]
    Unsigned,
    #[error("the blessing is signed by {have} trusted key(s); {need} are required")]
    NotEnoughSignatures { have: usize, need: usize },
    #[error("a signature by key {key} does not verify")]
    BadSignature { key: String },
    #[error("the blessing is for {found}, not {expected}")]
    WrongTarget { expected: String, found: String },
    #[error("the blessing's version {found} is older than {accepted}, already accepted")]
    Replayed { found: u64, accepted: u64 },
    #[error("the blessing's version {version} was accepted with other contents")]
    Substituted { version: u64 },
    #[error("the blessing expired at {expires}")]
    Expired { expires: Timestamp },
    #[error("the blessing's format {0} is not one this agent reads")]
    Format(u32),
    #[error("the {what} does not match the blessing: {detail}")]
    Mismatch { what: String, detail: String },
}

/// Judges `envelope` for `app` in `env` at `now`, given what was accepted
/// before. A lower version is refused; the same version is accepted again
/// (an agent resuming what it already accepted) only when the envelope's
/// bytes are the ones accepted.
pub fn verify(
    envelope: &Envelope,
    trust: &Trust,
    app: &str,
    env: &str,
    accepted: Option<Accepted>,
    now: Timestamp,
) -> Result<Blessing, Refusal> {
    let _ = (envelope, trust, app, env, accepted, now);
    todo!("FOUNDATION: bless helper")
}
