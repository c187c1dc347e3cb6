//! The one judgement of a blessing: signed by enough trusted keys, for this
//! app and environment, newer than what was accepted, not expired.

//!
//! The order matters: a bounded parse, then the signatures, then the
//! contents. Nothing of the document is looked at before enough trusted
//! keys vouch for its bytes.

use crate::doc::{ArchiveRef, Blessing};
use crate::envelope::{Envelope, SIGNING_CONTEXT, signed_message};
use crate::keys::{KeyId, PublicKey};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use jiff::Timestamp;
use std::collections::BTreeSet;

/// The keys an agent trusts and how many of them must have signed.
#[derive(Debug, Clone)]
pub struct Trust {
    pub keys: Vec<PublicKey>,
    /// At least 1, at most `keys.len()`.
    pub threshold: usize,
}

impl Trust {
    /// `keys`, of which `threshold` must sign; refuses a threshold of 0 or
    /// more than the distinct keys given (either would never mean what was
    /// asked: accept unsigned, or accept nothing).
    pub fn new(keys: Vec<PublicKey>, threshold: usize) -> Result<Trust, String> {
        let distinct: BTreeSet<KeyId> = keys.iter().map(PublicKey::id).collect();
        if threshold == 0 {
            return Err("a trust threshold must be at least 1".into());
        }
        if threshold > distinct.len() {
            return Err(format!(
                "a trust threshold of {threshold} needs at least {threshold} distinct keys; {} given",
                distinct.len()
            ));
        }
        Ok(Trust { keys, threshold })
    }
}

/// The highest version an agent accepted for one app and environment.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Accepted {
    pub version: u64,
    /// blake3 of the accepted envelope's bytes ([`Envelope::digest`]: of
    /// its compact JSON, so the same whether read from a version's object
    /// or from the store's `latest` hint), hex.
    pub envelope: String,
}

impl Accepted {
    /// What an agent remembers after accepting `blessing` from `envelope`.
    pub fn of(blessing: &Blessing, envelope: &Envelope) -> Accepted {
        Accepted { version: blessing.version, envelope: envelope.digest() }
    }
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
    let json = envelope.payload_bytes()?;
    check_signatures(SIGNING_CONTEXT, envelope, &json, trust)?;
    let doc = parse_doc(&json)?;
    // Compared field by field: "a/b" + "c" must not pass for "a" + "b/c".
    if doc.app != app || doc.env != env {
        let (expected, found) = (format!("{app}/{env}"), format!("{}/{}", doc.app, doc.env));
        return Err(Refusal::WrongTarget { expected, found });
    }
    if let Some(acc) = accepted {
        if doc.version < acc.version {
            return Err(Refusal::Replayed { found: doc.version, accepted: acc.version });
        }
        if doc.version == acc.version && envelope.digest() != acc.envelope {
            return Err(Refusal::Substituted { version: doc.version });
        }
    }
    if doc.expires <= now {
        return Err(Refusal::Expired { expires: doc.expires });
    }
    if doc.issued > doc.expires {
        return Err(Refusal::Malformed(format!("issued {} after it expires {}", doc.issued, doc.expires)));
    }
    Ok(doc)
}

/// Counts the distinct trusted keys whose signature verifies (strictly).
/// A signature by a key not trusted is ignored; one naming a trusted key
/// that does not verify is a forgery and refuses the whole document.
pub(crate) fn check_signatures(context: &[u8], envelope: &Envelope, json: &[u8], trust: &Trust) -> Result<(), Refusal> {
    if envelope.signatures.is_empty() {
        return Err(Refusal::Unsigned);
    }
    let msg = signed_message(context, json);
    let mut good: BTreeSet<&KeyId> = BTreeSet::new();
    let ids: Vec<(KeyId, &PublicKey)> = trust.keys.iter().map(|k| (k.id(), k)).collect();
    // The same signature repeated is checked once (a document padded with
    // copies costs one verification, not thousands).
    let mut checked: BTreeSet<(&KeyId, &str)> = BTreeSet::new();
    for sig in &envelope.signatures {
        let Some((id, key)) = ids.iter().find(|(id, _)| *id == sig.key) else { continue };
        if !checked.insert((&sig.key, sig.sig.as_str())) {
            continue;
        }
        let forged = || Refusal::BadSignature { key: format!("{id} ({})", key.name) };
        let mut raw = [0u8; 64];
        match STANDARD.decode_slice(sig.sig.as_bytes(), &mut raw[..]) {
            Ok(64) => {}
            _ => return Err(forged()),
        }
        let sig = ed25519_dalek::Signature::from_bytes(&raw);
        key.key.verify_strict(&msg, &sig).map_err(|_| forged())?;
        good.insert(id);
    }
    let need = trust.threshold.max(1);
    if good.len() < need {
        return Err(Refusal::NotEnoughSignatures { have: good.len(), need });
    }
    Ok(())
}

/// The document from its JSON bytes: the format first (so a newer format
/// is named as such, not as unknown fields), then strictly.
pub(crate) fn parse_doc(json: &[u8]) -> Result<Blessing, Refusal> {
    #[derive(serde::Deserialize)]
    struct Probe {
        format: u32,
    }
    let probe: Probe = serde_json::from_slice(json).map_err(|e| Refusal::Malformed(e.to_string()))?;
    if probe.format != crate::FORMAT {
        return Err(Refusal::Format(probe.format));
    }
    let doc: Blessing = serde_json::from_slice(json).map_err(|e| Refusal::Malformed(e.to_string()))?;
    for (what, r) in [("archive", &doc.archive), ("record", &doc.record)] {
        if r.blake3.len() != 64 || !r.blake3.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            return Err(Refusal::Malformed(format!(
                "the {what}'s blake3 {:?} is not 64 lowercase hex digits",
                r.blake3
            )));
        }
    }
    for (i, line) in doc.report_keys.iter().enumerate() {
        crate::PublicKey::parse(&format!("report key {}", i + 1), line)
            .map_err(|e| Refusal::Malformed(e.to_string()))?;
    }
    for wave in &doc.waves {
        if let crate::doc::Selector::Percent(p) = wave.select
            && !(1..=100).contains(&p)
        {
            return Err(Refusal::Malformed(format!("wave {:?} takes {p}% of the hosts", wave.name)));
        }
    }
    Ok(doc)
}

/// Checks downloaded bytes against what the blessing says they are
/// (`what` names the object in the refusal): size first, then blake3.
pub fn check_object(what: &str, expected: &ArchiveRef, blake3: &str, size: u64) -> Result<(), Refusal> {
    if size != expected.size {
        return Err(Refusal::Mismatch {
            what: what.to_string(),
            detail: format!("{size} bytes, the blessing says {}", expected.size),
        });
    }
    if !blake3.eq_ignore_ascii_case(&expected.blake3) {
        return Err(Refusal::Mismatch {
            what: what.to_string(),
            detail: format!("blake3 {blake3}, the blessing says {}", expected.blake3),
        });
    }
    Ok(())
}
