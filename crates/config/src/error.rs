//! Config errors, rendered rustc-style with the offending text underlined.

use std::fmt;
use std::ops::Range;
use std::path::PathBuf;

/// Everything that can be wrong with a config file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {}: {message}", path.display())]
    Io { path: PathBuf, message: String },
    /// The file was read but something in it is wrong at `span`.
    #[error("{}", Rendered(self))]
    At { path: PathBuf, text: String, span: Range<usize>, message: String },
}

impl ConfigError {
    /// The one-line message without the source excerpt.
    pub fn message(&self) -> String {
        match self {
            ConfigError::Io { .. } => self.to_string(),
            ConfigError::At { message, .. } => message.clone(),
        }
    }

    /// 1-based line and column of the error, when it has a position.
    pub fn line_col(&self) -> Option<(usize, usize)> {
        match self {
            ConfigError::Io { .. } => None,
            ConfigError::At { text, span, .. } => {
                let before = &text[..span.start.min(text.len())];
                let line = before.matches('\n').count() + 1;
                let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
                Some((line, col))
            }
        }
    }
}

struct Rendered<'a>(&'a ConfigError);

impl fmt::Display for Rendered<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ConfigError::At { path, text, span, message } = self.0 else {
            return Ok(());
        };
        use annotate_snippets::{AnnotationKind, Level, Renderer, Snippet};
        let path = path.display().to_string();
        // An empty span still deserves a caret.
        let mut span = span.clone();
        if span.is_empty() && span.end < text.len() {
            span.end += 1;
        }
        let report = &[Level::ERROR.primary_title(message.as_str()).element(
            Snippet::source(text.as_str()).path(path.as_str()).annotation(AnnotationKind::Primary.span(span)),
        )];
        write!(f, "{}", Renderer::plain().render(report))
    }
}
