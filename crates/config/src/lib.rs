//! The `haul.toml` model: parsing, validation and error rendering.
//!
//! This crate exists so that every other layer works with a configuration that
//! is already known to be whole and consistent. Parsing never touches a host or
//! the release cache; it only reads one file. Every error carries the file and
//! the byte span of the offending text so the CLI can point at it.

mod content;
mod duration;
mod error;
mod example;
mod groups;
mod model;
mod pull;
mod resolve;
mod scripts;
mod secrets;
mod ssh_fields;
mod step;
mod subset;
mod tokens;
mod validate;
mod webhooks;

pub use content::{ContentKind, ContentSet, FilesTo};
pub use duration::Duration;
pub use error::ConfigError;
pub use example::{EXAMPLE, EXAMPLE_PAGE, EXAMPLE_PAGE_PATH};
pub use groups::Groups;
pub use model::*;
pub use pull::{KeysConfig, Mode, StoreConfig, WaveConfig, WaveSelect};
pub use resolve::*;
pub use scripts::PackageScripts;
pub use secrets::{DEFAULT_SECRET_MODE, Secret, SecretConfig, SecretSource, SourceConfig};
pub use ssh_fields::char_problem as ssh_char_problem;
pub use step::Step;
pub use subset::{Effective, Subset};
pub use tokens::{SCOPES, names as bound_names};
pub use webhooks::{EVENT_KINDS, MAX_BACKOFF, Webhook, WebhookConfig, pattern_matches};

use std::path::{Path, PathBuf};

/// The name of the config file haul looks for when none is given.
pub const FILE_NAME: &str = "haul.toml";

impl Config {
    /// Reads, parses and validates the file at `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Io {
            path: path.to_path_buf(),
            message: if e.kind() == std::io::ErrorKind::NotFound {
                "no such file (create one with `haul init`, or name one with --config or HAUL_CONFIG)".into()
            } else {
                e.to_string()
            },
        })?;
        Self::parse(path, &text)
    }

    /// Parses and validates `text` as if read from `path`.
    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
        let at = |span: std::ops::Range<usize>, message: String| ConfigError::At {
            path: path.to_path_buf(),
            text: text.to_string(),
            span,
            message,
        };
        let mut config: Config =
            toml::from_str(text).map_err(|e| at(e.span().unwrap_or(0..0), e.message().trim_end().to_string()))?;
        config.path = absolute(path);
        config.digest = blake3::hash(text.as_bytes()).to_hex().to_string();
        config.dir = config.path.parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."));
        validate::validate(&config).map_err(|(span, message)| at(span, message))?;
        Ok(config)
    }
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}
