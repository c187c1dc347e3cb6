//! Staging: making `releases/<id>` on a host from the newest release there
//! plus only what changed.
//!
//! The base release is copied as hard links (`cp -al`: no file data is
//! copied), the diff's `drop` paths are unlinked from the copy, and the sent
//! files are linked in from the unpacked stream. Unlinking a hard link never
//! touches the other name, so the base release does not change by a byte.
//! The tree is assembled under a hidden name and renamed into place, and it
//! only counts as complete once its manifest is moved beside it.

use crate::{HostApp, HostError, quote};
use haul_release::{Diff, Manifest, Release};
use haul_transport::Input;
use std::path::Path;

/// A path that persists across releases.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedPath {
    /// Relative path without a trailing `/`.
    pub path: String,
    pub dir: bool,
}

impl SharedPath {
    /// `log/` is a directory, `config/app.env` a file.
    pub fn parse(s: &str) -> SharedPath {
        SharedPath { path: s.trim_end_matches('/').to_string(), dir: s.ends_with('/') }
    }

    /// The link target, relative to the link's own directory.
    fn link_target(&self) -> String {
        let depth = self.path.matches('/').count();
        format!("{}../../shared/{}", "../".repeat(depth), self.path)
    }
}

/// What staging did on one host.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct StageReport {
    /// The release files were reused from, if any.
    pub base: Option<String>,
    pub sent_files: usize,
    pub sent_bytes: u64,
    pub reused_files: usize,
    /// The release was already complete on the host; nothing was done.
    pub already: bool,
}

impl HostApp {
    /// Stages `release` (archive at `archive`) over `base`, links `shared`
    /// paths and leaves the release incomplete until [`HostApp::complete`].
    pub async fn stage(
        &self,
        release: &Release,
        archive: &Path,
        base: Option<(&str, &Manifest)>,
        shared: &[SharedPath],
    ) -> Result<StageReport, HostError> {
        let id = &release.id;
        crate::check_id(self.host(), id)?;
        let diff = Diff::between(base.map(|b| b.1), &release.manifest);
        let report = StageReport {
            base: base.map(|b| b.0.to_string()),
            sent_files: diff.send_files(),
            sent_bytes: diff.send_bytes(),
            reused_files: diff.reused,
            already: false,
        };
        let mut script = format!(
            r#"set -e
mkdir -p {dir}
cd {dir}
mkdir -p releases shared .haul
S=releases/.stage-{id}
I=releases/.incoming-{id}
rm -rf "$S" "$I" releases/{id} releases/{id}.manifest.tmp
mkdir "$I"
tar -x -o -f - -C "$I"
"#,
            dir = quote(self.dir()),
        );
        match base {
            Some((b, _)) => {
                crate::check_id(self.host(), b)?;
                script.push_str(&format!(
                    "cp -al releases/{b}/. \"$S\"\n(cd \"$S\" && xargs -0 rm -rf -- < ../.incoming-{id}/drop)\n"
                ));
            }
            None => script.push_str("mkdir \"$S\"\n"),
        }
        // Shared paths are links in the base copy; remove them before laying
        // the new files over, or those files would land in `shared/`.
        for s in shared {
            script.push_str(&format!("rm -rf \"$S\"/{}\n", quote(&s.path)));
        }
        script.push_str("if [ -d \"$I/tree\" ]; then cp -al \"$I/tree/.\" \"$S/\"; fi\n");
        for s in shared {
            let p = quote(&s.path);
            if s.dir {
                script.push_str(&format!("mkdir -p shared/{p}\n"));
            } else {
                script.push_str(&format!("mkdir -p \"$(dirname shared/{p})\"\n[ -e shared/{p} ] || : > shared/{p}\n"));
            }
            script.push_str(&format!(
                "rm -rf \"$S\"/{p}\nmkdir -p \"$(dirname \"$S\"/{p})\"\nln -s {t} \"$S\"/{p}\n",
                t = quote(&s.link_target())
            ));
        }
        script.push_str(&format!(
            "mv \"$I/release.json\" releases/{id}.manifest.tmp\nrm -rf \"$I\"\nmv \"$S\" releases/{id}\n"
        ));

        let archive = archive.to_path_buf();
        let rel = release.clone();
        let input = Input::Stream(Box::new(move |w| {
            haul_release::write_stage_stream(&rel, &archive, &diff, w).map_err(std::io::Error::other)
        }));
        self.run_ok(&format!("stage {id}"), &script, input).await?;
        Ok(report)
    }

    /// Marks a staged release complete: from now on it may be switched to and
    /// reused.
    pub async fn complete(&self, id: &str) -> Result<(), HostError> {
        crate::check_id(self.host(), id)?;
        let script =
            format!("cd {dir} && mv releases/{id}.manifest.tmp releases/{id}.manifest", dir = quote(self.dir()));
        self.run_ok(&format!("complete {id}"), &script, Input::None).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::SharedPath;

    #[test]
    fn shared_link_targets_climb_out_of_the_release() {
        assert_eq!(SharedPath::parse("log/").link_target(), "../../shared/log");
        assert_eq!(SharedPath::parse("config/app.env").link_target(), "../../../shared/config/app.env");
        assert!(SharedPath::parse("log/").dir);
        assert!(!SharedPath::parse("config/app.env").dir);
    }
}
