//! What a snapshot of haul's output leaves out: whatever differs between
//! runs of the same test (the temporary project directory, release ids,
//! durations, bytes on the wire), each replaced by a placeholder so that
//! the rest (wording, columns, order) is pinned exactly.

use std::path::Path;

/// insta settings whose filters replace the project directory `dir` by
/// `[DIR]`, release ids by `[RELEASE]`, durations by `[TIME]` and bytes
/// sent by `[BYTES]`. Bind them for the test's scope:
/// `let _s = scrub::settings(p.path()).bind_to_scope();`.
pub fn settings(dir: &Path) -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.add_filter(&escape(&dir.display().to_string()), "[DIR]");
    s.add_filter(r"\b\d{8}T\d{6}\.\d{3}Z-[0-9a-f]{12}\b", "[RELEASE]");
    // A duration inside a table is followed by its column's padding, which
    // depends on its width: the placeholder takes two spaces instead.
    s.add_filter(r"\b\d+(\.\d+)?(ms|s) {2,}", "[TIME]  ");
    s.add_filter(r"\b\d+(\.\d+)?(ms|s)\b", "[TIME]");
    s.add_filter(r"\b\d+(\.\d+)? (B|KiB|MiB|GiB) sent\b", "[BYTES] sent");
    s.set_omit_expression(true);
    s
}

/// `s` as a regular expression that matches it literally.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\.+*?()|[]{}^$#&-~".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Asserts that `text` is the test's snapshot (named after the test, under
/// the test file's `snapshots/`), after the filters of [`settings`] for
/// `dir`. insta compares with the end trimmed, so the text must also end in
/// exactly one newline, as haul's output does.
macro_rules! assert_output {
    ($dir:expr, $text:expr) => {{
        let text: &str = &$text;
        assert!(text.ends_with('\n') && !text.ends_with("\n\n"), "{text:?}");
        let _scrubbed = $crate::common::scrub::settings($dir).bind_to_scope();
        insta::assert_snapshot!(text);
    }};
}
pub(crate) use assert_output;
