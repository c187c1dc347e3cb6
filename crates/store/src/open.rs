//! Opening a store by URL: `file://` (or a plain path) and `s3://`, plus
//! what `object_store` gives by URL for GCS (`gs://`) and Azure (`az://`,
//! `abfs://`, …).
//!
//! Credentials and the region come from the variables each service's own
//! tools read (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
//! `AWS_SESSION_TOKEN`, `AWS_REGION`, `AWS_ENDPOINT`, …; `GOOGLE_*`;
//! `AZURE_*`); what [`StoreOptions`] says wins over them. Credentials never
//! appear in a message: errors name the URL as written and what is wrong.
//!
//! Every remote client has timeouts ([`StoreOptions::timeout`], 30s unless
//! said): connecting, and any read that brings no byte for that long, fail,
//! and a failed request is retried only a few times within a bounded time,
//! so a store that hangs makes a command or an agent's round fail (and an
//! agent retry later) rather than wait forever. There is no bound on a
//! whole request: an archive of gigabytes may take minutes to stream, and
//! a stall in it is caught by the read timeout.

use crate::{Store, StoreError};
use object_store::ObjectStoreScheme;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};
use object_store::path::Path as Key;
use object_store::{BackoffConfig, ClientOptions, RetryConfig};
use std::sync::Arc;
use std::time::Duration;

/// How long a store may keep haul waiting when nothing says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// The longest a connection may take to open, even with a longer timeout.
const MAX_CONNECT: Duration = Duration::from_secs(10);

/// Retries of a failed request (connection refused, a timeout, a 5xx).
const RETRIES: usize = 3;

/// Settings beside the URL (`[store]` in `haul.toml`, or the agent's
/// environment). Credentials are never here: they come from the usual
/// environment variables (`AWS_ACCESS_KEY_ID`, …).
#[derive(Debug, Clone, Default)]
pub struct StoreOptions {
    /// An S3-compatible endpoint (MinIO, R2, a test server), e.g. `http://127.0.0.1:9000`.
    pub endpoint: Option<String>,
    pub region: Option<String>,
    /// Allow `http://` endpoints.
    pub allow_http: bool,
    /// The longest wait for a connection or for the next bytes of an
    /// answer ([`DEFAULT_TIMEOUT`] when `None`).
    pub timeout: Option<Duration>,
}

impl StoreOptions {
    /// The timeout in force.
    pub fn timeout(&self) -> Duration {
        self.timeout.filter(|t| !t.is_zero()).unwrap_or(DEFAULT_TIMEOUT)
    }

    /// The HTTP client's settings: connect and read timeouts, no bound on
    /// a whole request (a large archive streams for as long as it needs).
    fn client(&self) -> ClientOptions {
        let t = self.timeout();
        ClientOptions::new().with_connect_timeout(t.min(MAX_CONNECT)).with_read_timeout(t).with_timeout_disabled()
    }

    /// A few retries, all within three timeouts of the first try.
    fn retry(&self) -> RetryConfig {
        let t = self.timeout();
        RetryConfig {
            backoff: BackoffConfig { init_backoff: Duration::from_millis(100), max_backoff: t, base: 2.0 },
            max_retries: RETRIES,
            retry_timeout: t.saturating_mul(3),
        }
    }
}

impl Store {
    /// Opens the store at `url`, with credentials from this process's
    /// environment. Nothing is read or written yet; call
    /// [`Store::check_refuses_overwrite`] before relying on it.
    pub fn open(url: &str, options: &StoreOptions) -> Result<Store, StoreError> {
        Store::open_with(url, options, std::env::vars())
    }

    /// Opens the store at `url` with `vars` in place of the process's
    /// environment (an agent's file, a test's server).
    pub fn open_with(
        url: &str,
        options: &StoreOptions,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Store, StoreError> {
        let bad = |message: String| StoreError::Url { url: url.to_string(), message };
        if let Some(path) = url.strip_prefix("file://").or_else(|| url.starts_with('/').then_some(url)) {
            if path.is_empty() || !path.starts_with('/') {
                return Err(bad("a file:// store needs an absolute path, as in file:///srv/haul".into()));
            }
            std::fs::create_dir_all(path).map_err(|e| bad(format!("cannot create the directory: {e}")))?;
            // fsync: an index (the commit point) must never be on disk
            // before the archive it names, as on S3 or GCS. Purged
            // releases leave no empty directories behind.
            let fs = object_store::local::LocalFileSystem::new_with_prefix(path)
                .map_err(|e| bad(e.to_string()))?
                .with_fsync(true)
                .with_automatic_cleanup(true);
            return Ok(Store { inner: Arc::new(fs), prefix: Key::default(), url: url.to_string() });
        }
        open_remote(url, options, vars)
    }
}

/// `url` without a password, for messages.
fn redacted(url: &url::Url) -> String {
    let mut shown = url.clone();
    if shown.password().is_some() {
        let _ = shown.set_password(Some("REDACTED"));
    }
    shown.to_string()
}

/// `s3://bucket/prefix` and the other remote schemes.
fn open_remote(
    url: &str,
    options: &StoreOptions,
    vars: impl IntoIterator<Item = (String, String)>,
) -> Result<Store, StoreError> {
    let parsed = url::Url::parse(url)
        .map_err(|e| StoreError::Url { url: url.to_string(), message: format!("not a URL: {e}") })?;
    let bad = |message: String| StoreError::Url { url: redacted(&parsed), message };
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(bad(
            "credentials do not belong in the store's URL: use the environment (AWS_ACCESS_KEY_ID, …)".into()
        ));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(bad("a store URL has no query or fragment".into()));
    }
    let (scheme, prefix) = ObjectStoreScheme::parse(&parsed).map_err(|_| {
        bad("unknown kind of store: use file:///path, s3://bucket[/prefix], gs://bucket[/prefix] or az://container[/prefix]".into())
    })?;
    // reqwest's rustls has no provider of its own: ring, as everywhere in haul.
    static PROVIDER: std::sync::Once = std::sync::Once::new();
    PROVIDER.call_once(|| drop(rustls::crypto::ring::default_provider().install_default()));
    let vars: Vec<(String, String)> = vars.into_iter().collect();
    fn with<'a>(vars: &'a [(String, String)], prefix: &'a str) -> impl Iterator<Item = &'a (String, String)> {
        vars.iter().filter(move |(k, _)| k.starts_with(prefix))
    }
    let built: Result<Arc<dyn object_store::ObjectStore>, object_store::Error> = match scheme {
        ObjectStoreScheme::AmazonS3 => {
            let mut b = AmazonS3Builder::new().with_client_options(options.client()).with_retry(options.retry());
            for (k, v) in with(&vars, "AWS_") {
                if let Ok(key) = k.to_ascii_lowercase().parse::<AmazonS3ConfigKey>() {
                    b = b.with_config(key, v);
                }
            }
            b = b.with_url(url);
            if let Some(endpoint) = &options.endpoint {
                b = b.with_endpoint(endpoint);
            }
            if let Some(region) = &options.region {
                b = b.with_region(region);
            }
            if options.allow_http {
                b = b.with_allow_http(true);
            }
            b.build().map(|s| Arc::new(s) as _)
        }
        ObjectStoreScheme::GoogleCloudStorage => {
            let mut b =
                GoogleCloudStorageBuilder::new().with_client_options(options.client()).with_retry(options.retry());
            for (k, v) in with(&vars, "GOOGLE_") {
                if let Ok(key) = k.to_ascii_lowercase().parse::<GoogleConfigKey>() {
                    b = b.with_config(key, v);
                }
            }
            b.with_url(url).build().map(|s| Arc::new(s) as _)
        }
        ObjectStoreScheme::MicrosoftAzure => {
            let mut b = MicrosoftAzureBuilder::new().with_client_options(options.client()).with_retry(options.retry());
            for (k, v) in with(&vars, "AZURE_") {
                if let Ok(key) = k.to_ascii_lowercase().parse::<AzureConfigKey>() {
                    b = b.with_config(key, v);
                }
            }
            b = b.with_url(url);
            if let Some(endpoint) = &options.endpoint {
                b = b.with_endpoint(endpoint.clone());
            }
            if options.allow_http {
                b = b.with_allow_http(true);
            }
            b.build().map(|s| Arc::new(s) as _)
        }
        _ => {
            return Err(bad(
                "unknown kind of store: use file:///path, s3://bucket[/prefix], gs://bucket[/prefix] or az://container[/prefix]"
                    .into(),
            ));
        }
    };
    // object_store's builder errors name the setting, never its value.
    let inner = built.map_err(|e| bad(e.to_string()))?;
    Ok(Store { inner, prefix, url: url.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(url: &str) -> Result<Store, StoreError> {
        Store::open_with(url, &StoreOptions::default(), [("AWS_REGION".to_string(), "eu-west-1".to_string())])
    }

    #[test]
    fn bucket_and_prefix_come_from_the_url() {
        let s = open("s3://bucket/some/prefix").unwrap();
        assert_eq!(s.key("releases/a/index.json").as_ref(), "some/prefix/releases/a/index.json");
        assert_eq!(open("s3://bucket").unwrap().key("x/y").as_ref(), "x/y");
    }

    #[test]
    fn unknown_schemes_are_refused_naming_the_url() {
        for url in ["ftp://host/x", "relative/path", "s3:/bucket", "file://relative"] {
            let e = open(url).err().unwrap_or_else(|| panic!("{url} opened")).to_string();
            assert!(e.contains(url), "{e}");
        }
    }

    #[test]
    fn credentials_in_the_url_are_refused_and_not_repeated() {
        let e = open("s3://AKIDEXAMPLE:s3cr3t@bucket/x").err().unwrap().to_string();
        assert!(e.contains("credentials do not belong"), "{e}");
        assert!(!e.contains("s3cr3t"), "{e}");
    }

    #[test]
    fn queries_are_refused() {
        assert!(open("s3://bucket/x?endpoint=evil").is_err());
    }

    #[test]
    fn gcs_and_azure_open_by_url() {
        let gs = Store::open_with(
            "gs://bucket/pre",
            &StoreOptions::default(),
            [("GOOGLE_BUCKET".to_string(), "other".to_string())],
        )
        .unwrap();
        assert_eq!(gs.key("x").as_ref(), "pre/x");
        let vars = [
            ("AZURE_STORAGE_ACCOUNT_NAME".to_string(), "acct".to_string()),
            ("AZURE_STORAGE_ACCOUNT_KEY".to_string(), "a2V5".to_string()),
        ];
        let az = Store::open_with("az://container/pre", &StoreOptions::default(), vars).unwrap();
        assert_eq!(az.key("x").as_ref(), "pre/x");
        // Without an account, Azure cannot be reached: said, naming the URL.
        let e = Store::open_with("az://container/pre", &StoreOptions::default(), []).err().unwrap().to_string();
        assert!(e.contains("az://container/pre"), "{e}");
    }
}
