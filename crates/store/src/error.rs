//! Store errors, each naming the store and the key.

/// What went wrong with the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A URL that cannot be opened, or (with no URL) a name that cannot
    /// be part of a key.
    #[error("{}", url_message(url, message))]
    Url { url: String, message: String },
    #[error("store {url}: {key}: {source}")]
    Backend {
        url: String,
        key: String,
        #[source]
        source: Box<object_store::Error>,
    },
    #[error("store {url}: {key} is {size} bytes, more than the {max} allowed")]
    TooLarge { url: String, key: String, size: u64, max: u64 },
    #[error("store {url}: {key}: {message}")]
    Corrupt { url: String, key: String, message: String },
    /// A write that must happen once found something else there.
    #[error("store {url}: {key} already exists with other contents: {message}")]
    Conflict { url: String, key: String, message: String },
    /// The store overwrote an object a create-if-absent write should have
    /// left alone: nothing that relies on "exactly once" can run on it.
    #[error(
        "store {url} does not refuse a second create of the same key (it overwrote {key}); haul cannot keep releases and blessings safe on it"
    )]
    Overwrites { url: String, key: String },
    #[error("{path}: {source}")]
    Local {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Release(#[from] haul_release::ReleaseError),
}

fn url_message(url: &str, message: &str) -> String {
    if url.is_empty() { message.to_string() } else { format!("store {url}: {message}") }
}
