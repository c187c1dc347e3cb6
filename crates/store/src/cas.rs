//! The start-up check: a store that silently overwrites (npm's s3rver, some
//! gateways) would let two blessings both win and two spools both land, so
//! haul writes a probe twice with create-if-absent and refuses to run unless
//! the second write is refused.

use crate::{Store, StoreError};

impl Store {
    /// Refuses a store that does not refuse a second create of one key.
    pub async fn check_refuses_overwrite(&self) -> Result<(), StoreError> {
        todo!("FOUNDATION: store helper")
    }
}
