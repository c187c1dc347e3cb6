//! The package scripts a pull agent runs (FTL's five), by path inside the
//! release: set per app, signed into each blessing, so a release that ships
//! its hooks under other names is run by those names.

use serde::Deserialize;
use std::ops::Range;
use toml::Spanned;

/// FTL's package scripts, by path inside the release (a release that does
/// not ship one skips that step; `""` turns a step off). Pull agents run
/// them: `post_sync` after the download, `pre_jump` before the switch (a
/// failure vetoes it), `post_jump` after it, `un_jump` in the release being
/// switched away from, `pre_remove` before a release is pruned.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackageScripts {
    #[serde(default = "script_post_sync")]
    pub post_sync: Spanned<String>,
    #[serde(default = "script_pre_jump")]
    pub pre_jump: Spanned<String>,
    #[serde(default = "script_post_jump")]
    pub post_jump: Spanned<String>,
    #[serde(default = "script_un_jump")]
    pub un_jump: Spanned<String>,
    #[serde(default = "script_pre_remove")]
    pub pre_remove: Spanned<String>,
}

impl PackageScripts {
    /// Each script with its key, in the order an agent meets them.
    pub fn all(&self) -> [(&'static str, &Spanned<String>); 5] {
        [
            ("post_sync", &self.post_sync),
            ("pre_jump", &self.pre_jump),
            ("post_jump", &self.post_jump),
            ("un_jump", &self.un_jump),
            ("pre_remove", &self.pre_remove),
        ]
    }
}

impl Default for PackageScripts {
    fn default() -> Self {
        PackageScripts {
            post_sync: script_post_sync(),
            pre_jump: script_pre_jump(),
            post_jump: script_post_jump(),
            un_jump: script_un_jump(),
            pre_remove: script_pre_remove(),
        }
    }
}

fn script_post_sync() -> Spanned<String> {
    Spanned::new(0..0, "post-sync.sh".into())
}
fn script_pre_jump() -> Spanned<String> {
    Spanned::new(0..0, "pre-jump.sh".into())
}
fn script_post_jump() -> Spanned<String> {
    Spanned::new(0..0, "post-jump.sh".into())
}
fn script_un_jump() -> Spanned<String> {
    Spanned::new(0..0, "un-jump.sh".into())
}
fn script_pre_remove() -> Spanned<String> {
    Spanned::new(0..0, "pre-remove.sh".into())
}

/// A script's path may not begin with `-`: the agent runs `sh PATH`, and sh
/// would read it as an option.
pub(crate) fn not_an_option(key: &str, script: &Spanned<String>) -> Result<(), (Range<usize>, String)> {
    if script.get_ref().starts_with('-') {
        return Err((script.span(), format!("script `{key}` must not begin with `-` (sh would read it as an option)")));
    }
    Ok(())
}
