//! The start-up check: a store that silently overwrites (npm's s3rver, some
//! gateways) would let two blessings both win and two spools both land, so
//! haul writes a probe twice with create-if-absent and refuses to run unless
//! the second write is refused and the first one's bytes are still there.

use crate::{Created, Store, StoreError, keys};
use bytes::Bytes;

/// The largest probe read back (a probe is a few dozen bytes).
const MAX_PROBE: u64 = 4096;

impl Store {
    /// Refuses a store that does not refuse a second create of one key.
    /// Writes `probes/<random>` twice, reads it back and removes it.
    pub async fn check_refuses_overwrite(&self) -> Result<(), StoreError> {
        let mut raw = [0u8; 16];
        getrandom::fill(&mut raw).map_err(|e| StoreError::Local {
            path: "the system's random source".into(),
            source: std::io::Error::other(e.to_string()),
        })?;
        let nonce: String = raw.iter().map(|b| format!("{b:02x}")).collect();
        let key = keys::probe(&nonce);
        let first = Bytes::from(format!("haul create-if-absent probe {nonce}: first\n"));
        let second = Bytes::from(format!("haul create-if-absent probe {nonce}: second\n"));
        let outcome = self.probe_twice(&key, first, second).await;
        // Leave nothing behind, whatever the probe found.
        let removed = self.delete(&key).await;
        outcome?;
        removed
    }

    async fn probe_twice(&self, key: &str, first: Bytes, second: Bytes) -> Result<(), StoreError> {
        let overwrites = || StoreError::Overwrites { url: self.url.clone(), key: key.to_string() };
        if self.create(key, first.clone()).await? == Created::Exists {
            // A fresh random key that is already there: nothing is certain.
            return Err(StoreError::Corrupt {
                url: self.url.clone(),
                key: key.to_string(),
                message: "a new random key already exists".into(),
            });
        }
        let again = self.create(key, second).await?;
        let stored = self.get(key, MAX_PROBE).await?;
        if again == Created::New || stored.as_ref() != Some(&first) {
            return Err(overwrites());
        }
        Ok(())
    }
}
