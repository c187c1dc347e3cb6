//! The signed form of a blessing, as stored: the document's exact bytes and
//! the signatures over them. Signing bytes, not a re-serialization, leaves
//! no canonical-JSON rule to get wrong.
//!
//! Each signature is ed25519 over [`SIGNING_CONTEXT`] followed by the
//! document's JSON bytes (the payload decoded), so a haul key's signature
//! can never be passed off as a signature over anything but a blessing.
//! The same form seals what agents write into the store (their reports and
//! claims) under [`REPORT_CONTEXT`]: a report key's signature is never a
//! blessing's, nor the other way round.

use crate::Refusal;
use crate::doc::Blessing;
use crate::keys::{KeyId, SecretKey};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::Signer;
use serde::{Deserialize, Serialize};

/// What every signed message starts with (domain separation).
pub const SIGNING_CONTEXT: &[u8] = b"haul blessing v1\0";
/// What every signature over an agent's report or claim starts with.
pub const REPORT_CONTEXT: &[u8] = b"haul report v1\0";

/// What the store holds for one blessing version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    /// The [`Blessing`] as JSON, base64 (standard alphabet, padded).
    pub payload: String,
    pub signatures: Vec<Signature>,
}

/// One signature over the payload's bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Signature {
    pub key: KeyId,
    /// ed25519 signature, base64.
    pub sig: String,
}

/// The message a signature covers: the context, then the document's bytes.
pub(crate) fn signed_message(context: &[u8], doc: &[u8]) -> Vec<u8> {
    let mut msg = Vec::with_capacity(context.len() + doc.len());
    msg.extend_from_slice(context);
    msg.extend_from_slice(doc);
    msg
}

impl Envelope {
    /// Serializes `doc` and signs it with every key of `keys`.
    pub fn sign(doc: &Blessing, keys: &[&SecretKey]) -> Envelope {
        Envelope::sign_json(serde_json::to_vec(doc).expect("a blessing serializes"), keys)
    }

    /// Signs a document already serialized, as it is: for tools that build
    /// the JSON themselves. Nothing is checked here; [`crate::verify`]
    /// judges the result like any other.
    pub fn sign_json(json: Vec<u8>, keys: &[&SecretKey]) -> Envelope {
        Envelope::sign_in(SIGNING_CONTEXT, json, keys)
    }

    /// Seals what an agent writes into the store (a report, a claim) with
    /// its environment's report key; [`Envelope::open`] checks it.
    pub fn seal(json: Vec<u8>, key: &SecretKey) -> Envelope {
        Envelope::sign_in(REPORT_CONTEXT, json, &[key])
    }

    fn sign_in(context: &[u8], json: Vec<u8>, keys: &[&SecretKey]) -> Envelope {
        let msg = signed_message(context, &json);
        let signatures = keys
            .iter()
            .map(|k| Signature { key: k.public().id(), sig: STANDARD.encode(k.key.sign(&msg).to_bytes()) })
            .collect();
        Envelope { payload: STANDARD.encode(&json), signatures }
    }

    /// Adds `key`'s signature to an envelope another key signed (k of n
    /// signers, each with their own key file). The document is not changed.
    pub fn cosign(&mut self, key: &SecretKey) -> Result<(), Refusal> {
        let json = self.payload_bytes()?;
        let sig = key.key.sign(&signed_message(SIGNING_CONTEXT, &json));
        self.signatures.push(Signature { key: key.public().id(), sig: STANDARD.encode(sig.to_bytes()) });
        Ok(())
    }

    /// The envelope's bytes as written to the store.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("an envelope serializes")
    }

    /// Reads an envelope, bounded: larger than [`Envelope::MAX_BYTES`] is refused.
    pub fn from_bytes(bytes: &[u8]) -> Result<Envelope, crate::Refusal> {
        if bytes.len() > Self::MAX_BYTES {
            return Err(Refusal::TooLarge { size: bytes.len(), max: Self::MAX_BYTES });
        }
        serde_json::from_slice(bytes).map_err(|e| Refusal::Malformed(format!("the envelope: {e}")))
    }

    /// blake3 of [`Envelope::to_bytes`], hex: what [`crate::Accepted`]
    /// remembers, so the same version with other contents is noticed.
    pub fn digest(&self) -> String {
        blake3::hash(&self.to_bytes()).to_hex().to_string()
    }

    /// The document's JSON bytes (the payload decoded), strict base64.
    pub(crate) fn payload_bytes(&self) -> Result<Vec<u8>, Refusal> {
        if self.payload.len() > Self::MAX_BYTES {
            return Err(Refusal::TooLarge { size: self.payload.len(), max: Self::MAX_BYTES });
        }
        STANDARD
            .decode(self.payload.as_bytes())
            .map_err(|e| Refusal::Malformed(format!("the payload is not base64: {e}")))
    }

    /// The sealed bytes, when one of `keys` signed them as a report (a
    /// signature naming one of `keys` that does not verify refuses them,
    /// like a blessing's).
    pub fn open(&self, keys: &[crate::PublicKey]) -> Result<Vec<u8>, Refusal> {
        let json = self.payload_bytes()?;
        let trust = crate::Trust { keys: keys.to_vec(), threshold: 1 };
        crate::trust::check_signatures(REPORT_CONTEXT, self, &json, &trust)?;
        Ok(json)
    }

    /// The sealed bytes WITHOUT judging a signature: for a reader that
    /// was given no report keys (an environment that has none).
    pub fn unverified_payload(&self) -> Result<Vec<u8>, Refusal> {
        self.payload_bytes()
    }

    /// The document, read WITHOUT judging its signatures, version or
    /// expiry: for telling a person what a store holds (who won a race,
    /// `haul store ls`), never for acting on it — agents use [`crate::verify`].
    pub fn unverified_blessing(&self) -> Result<Blessing, Refusal> {
        crate::trust::parse_doc(&self.payload_bytes()?)
    }

    /// The largest envelope an agent reads (TUF's endless-data attack).
    pub const MAX_BYTES: usize = 1 << 20;
}
