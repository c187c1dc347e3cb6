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
use haul_release::{Diff, Release};

/// Applies a record patch (see `haul-release`): reads the patch on stdin and
/// the base record from the file `base`, writes the new record.
const AWK: &str = r#"
NR == 1 && /^h / { print substr($0, 3); if ((getline line < base) <= 0) exit 3; next }
/^k / { n = substr($0, 3) + 0; for (i = 0; i < n; i++) { if ((getline line < base) <= 0) exit 3; print line }; next }
/^s / { n = substr($0, 3) + 0; for (i = 0; i < n; i++) { if ((getline line < base) <= 0) exit 3 }; next }
/^i / { print substr($0, 3); next }
{ exit 4 }
"#;
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
    /// Bytes of the stage stream sent to the host (file data, headers, the
    /// record or its patch, the list of removals).
    pub stream_bytes: u64,
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
        base: Option<&Release>,
        shared: &[SharedPath],
    ) -> Result<StageReport, HostError> {
        let id = &release.id;
        crate::check_id(self.host(), id)?;
        let diff = Diff::between(base.map(|b| &b.manifest), &release.manifest);
        let report = StageReport {
            base: base.map(|b| b.id.clone()),
            sent_files: diff.send_files(),
            sent_bytes: diff.send_bytes(),
            reused_files: diff.reused,
            stream_bytes: 0,
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
            Some(b) => {
                let b = &b.id;
                crate::check_id(self.host(), b)?;
                script.push_str(&format!(
                    r#"cp -al releases/{b}/. "$S"
(cd "$S" && xargs -0 rm -rf -- < ../.incoming-{id}/drop)
awk -v base=releases/{b}.manifest '{AWK}' < "$I/record.patch" > releases/{id}.manifest.tmp \
  && [ "$(cksum < releases/{id}.manifest.tmp)" = "$(cat "$I/record.cksum")" ] \
  || {{ echo "the record of release {b} on this host is damaged; remove that release (haul remove) and deploy again" >&2; exit 6; }}
"#
                ));
            }
            None => script
                .push_str("mkdir \"$S\"\nmv \"$I/record\" releases/{id}.manifest.tmp\n".replace("{id}", id).as_str()),
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
        script.push_str(&format!("rm -rf \"$I\"\nmv \"$S\" releases/{id}\n"));

        let archive = archive.to_path_buf();
        let (rel, base) = (release.clone(), base.cloned());
        let sent = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counter = sent.clone();
        let input = Input::Stream(Box::new(move |w| {
            let mut w = Counting { inner: w, n: &counter };
            haul_release::write_stage_stream(&rel, base.as_ref(), &archive, &diff, &mut w)
                .map_err(std::io::Error::other)
        }));
        self.run_ok(&format!("stage {id}"), &script, input).await?;
        Ok(StageReport { stream_bytes: sent.load(std::sync::atomic::Ordering::Relaxed), ..report })
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

/// Counts the bytes written through it.
struct Counting<'a, W> {
    inner: W,
    n: &'a std::sync::atomic::AtomicU64,
}

impl<W: std::io::Write> std::io::Write for Counting<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let k = self.inner.write(buf)?;
        self.n.fetch_add(k as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(k)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
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
