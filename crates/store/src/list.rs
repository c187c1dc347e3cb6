//! Listing what a store holds: `haul store ls`.

use crate::{Store, StoreError};
use futures_util::TryStreamExt;

impl Store {
    /// Every key under `prefix` (relative to the store), sorted.
    pub async fn list_keys(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let base = self.key(prefix);
        let skip = self.prefix.parts().count();
        let mut keys: Vec<String> = self
            .inner
            .list(Some(&base))
            .map_ok(|m| m.location.parts().skip(skip).map(|p| p.as_ref().to_string()).collect::<Vec<_>>().join("/"))
            .try_collect()
            .await
            .map_err(|e| self.error(prefix, e))?;
        keys.sort();
        Ok(keys)
    }
}
