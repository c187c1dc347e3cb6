//! Staging: making `releases/<id>` on a host from the newest release there
//! plus only what changed.
//!
//! The base release is copied as hard links (`cp -al`: no file data is
//! copied), the diff's `drop` paths are unlinked from the copy, and the sent
//! files are linked in from the unpacked stream. Unlinking a hard link never
//! touches the other name, so the base release does not change by a byte.
//! The tree is assembled under a hidden name and renamed into place, and it
//! only counts as complete once its manifest is moved beside it.

use crate::{HostApp, HostError, scripts};
use haul_release::{Contents, Diff, Release};

use haul_transport::Input;

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
    pub(crate) fn link_target(&self) -> String {
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
    /// Bytes sent to the host: the stage stream (file data, headers, the
    /// record or its patch, the list of removals) and what rsync sent.
    pub stream_bytes: u64,
    /// Changed files sent with rsync's delta transfer.
    pub rsync_files: usize,
    /// The release was already complete on the host; nothing was done.
    pub already: bool,
}

impl HostApp {
    /// Stages `release` (its files read from `contents`) over `base`, links `shared`
    /// paths and leaves the release incomplete until [`HostApp::complete`],
    /// for the run whose lock token is `token`. The tree is made under
    /// names of this run's own and moved into place only while `token`
    /// holds the lock ([`HostError::lock_not_held`] otherwise), so two runs
    /// staging the same release never mix their trees.
    /// `host_rsync`: the host has rsync; large modified files then go with
    /// rsync (see `rsync_candidates`).
    pub async fn stage(
        &self,
        release: &Release,
        contents: &Contents,
        base: Option<&Release>,
        shared: &[SharedPath],
        host_rsync: bool,
        token: &str,
    ) -> Result<StageReport, HostError> {
        self.stage_with(release, contents, base, shared, host_rsync, Ending { token, complete: false }).await
    }

    /// [`HostApp::stage`], then [`HostApp::complete`] in the same round trip,
    /// for a deploy that runs nothing between the two (no `post_upload`
    /// step on this host). The release is complete only once every file
    /// and the shared links are in place, as with the two calls.
    pub async fn stage_complete(
        &self,
        release: &Release,
        contents: &Contents,
        base: Option<&Release>,
        shared: &[SharedPath],
        host_rsync: bool,
        token: &str,
    ) -> Result<StageReport, HostError> {
        self.stage_with(release, contents, base, shared, host_rsync, Ending { token, complete: true }).await
    }

    async fn stage_with(
        &self,
        release: &Release,
        contents: &Contents,
        base: Option<&Release>,
        shared: &[SharedPath],
        host_rsync: bool,
        ending: Ending<'_>,
    ) -> Result<StageReport, HostError> {
        let Ending { token, complete } = ending;
        let id = &release.id;
        let run = crate::run_name(token);
        crate::check_id(self.host(), id)?;
        let mut diff = Diff::between(base.map(|b| &b.manifest), &release.manifest);
        let rsync = match (self.rsync_remote(host_rsync), base) {
            (Some(remote), Some(base)) => {
                let paths = rsync_candidates(&diff, base, shared);
                (!paths.is_empty()).then_some((remote, paths))
            }
            _ => None,
        };
        if let Some((_, paths)) = &rsync {
            // Left in the hard-linked copy as rsync's basis; rsync replaces
            // them by renaming, so the base's names are never written through.
            diff.send.retain(|e| !paths.contains(&e.path));
            diff.drop.retain(|p| !paths.contains(p));
        }
        let report = StageReport {
            base: base.map(|b| b.id.clone()),
            sent_files: diff.send_files(),
            sent_bytes: diff.send_bytes(),
            reused_files: diff.reused,
            stream_bytes: 0,
            rsync_files: rsync.as_ref().map_or(0, |(_, p)| p.len()),
            already: false,
        };
        if let Err(message) = crate::guard::check_release(&release.manifest, id, shared) {
            return Err(HostError::Invalid { host: self.host().into(), message });
        }
        if let Some(b) = base {
            crate::check_id(self.host(), &b.id)?;
        }
        // What is dropped from the base copy, laid over it or sent with
        // rsync is reached through directories that must be directories:
        // those of dropped paths in the base copy, those of the new
        // release's paths once the drops are gone. Nothing is dropped from
        // or laid over a release that has no base.
        let rsync_paths = rsync.iter().flat_map(|(_, p)| p.iter().map(String::as_str));
        let (before, after): (Vec<&str>, Vec<&str>) = match base {
            Some(_) => (
                diff.drop.iter().map(String::as_str).collect(),
                diff.send.iter().map(|e| e.path.as_str()).chain(rsync_paths).collect(),
            ),
            None => (vec![], vec![]),
        };
        let mut args = vec![
            self.dir().to_string(),
            id.clone(),
            token.to_string(),
            run.clone(),
            base.map(|b| b.id.clone()).unwrap_or_default(),
            if rsync.is_some() { "rsync" } else { "" }.to_string(),
            if complete { "complete" } else { "" }.to_string(),
        ];
        args.extend(crate::guard::stage_lists(before.into_iter(), shared, after.into_iter()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();

        let (rel, base) = (release.clone(), base.cloned());
        let sent = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counter = sent.clone();
        let input = if diff.send_bytes() <= SHARED_STREAM_MAX {
            // Small streams are built once and shared by every host with the
            // same base.
            let bytes = shared_stream(&rel, base.as_ref(), contents, &diff)
                .await
                .map_err(|source| HostError::Release { host: self.host().into(), source })?;
            counter.store(bytes.len() as u64, std::sync::atomic::Ordering::Relaxed);
            Input::Bytes(bytes.to_vec())
        } else {
            let contents = contents.clone();
            Input::Stream(Box::new(move |w| {
                let mut w = Counting { inner: w, n: &counter };
                haul_release::write_stage_stream(&rel, base.as_ref(), &contents, &diff, &mut w)
                    .map_err(std::io::Error::other)
            }))
        };
        self.run_ok(&format!("stage {id}"), scripts::STAGE, &args, input).await?;
        let mut stream_bytes = sent.load(std::sync::atomic::Ordering::Relaxed);
        if let Some(((shell, prefix), paths)) = rsync {
            stream_bytes += self.rsync_into_stage(release, contents, &paths, &shell, &prefix, &run).await?;
            let complete = if complete { "complete" } else { "" };
            let args = [self.dir(), id, token, &run, complete];
            self.run_ok(&format!("stage {id}"), scripts::STAGE_FINISH, &args, Input::None).await?;
        }
        Ok(StageReport { stream_bytes, ..report })
    }

    /// How rsync reaches this host, when both ends have it and the transport
    /// is SSH (on one machine rsync has nothing to save).
    fn rsync_remote(&self, host_rsync: bool) -> Option<(String, String)> {
        static LOCAL: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        // Asked only for a host reached over SSH that has rsync: a local
        // host (an agent's) never sends with it.
        let here = || {
            *LOCAL.get_or_init(|| {
                std::process::Command::new("rsync")
                    .arg("--version")
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success())
            })
        };
        match self.transport() {
            haul_transport::Transport::Ssh(s) if host_rsync && here() => s.rsync_remote(),
            _ => None,
        }
    }

    /// Sends `paths` of the release with rsync into the stage directory,
    /// where the base's versions wait as the basis. Returns bytes sent.
    async fn rsync_into_stage(
        &self,
        release: &Release,
        contents: &Contents,
        paths: &std::collections::HashSet<String>,
        shell: &str,
        prefix: &str,
        run: &str,
    ) -> Result<u64, HostError> {
        let fail = |message: String| HostError::Invalid { host: self.host().into(), message };
        let tmp = tempfile::tempdir().map_err(|e| fail(e.to_string()))?;
        let id = &release.id;
        let (dest, list, rel, contents) = (tmp.path().to_path_buf(), paths.clone(), release.clone(), contents.clone());
        tokio::task::spawn_blocking(move || haul_release::extract_files(&rel, &contents, &list, &dest))
            .await
            .map_err(|e| fail(e.to_string()))?
            .map_err(|source| HostError::Release { host: self.host().into(), source })?;
        let mut files: Vec<&String> = paths.iter().collect();
        files.sort();
        let mut list = Vec::new();
        for f in files {
            list.extend_from_slice(f.as_bytes());
            list.push(0);
        }
        let target = format!("{prefix}{}/releases/.stage-{id}.{run}/", self.dir());
        let mut child = tokio::process::Command::new("rsync")
            // --ignore-times: these files changed, whatever their size and
            // (whole-second) times say; rsync must not skip them.
            .args(["-a", "--ignore-times", "--stats", "--from0", "--files-from=-", "-e", shell])
            .arg(format!("{}/", tmp.path().display()))
            .arg(&target)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .map_err(|e| fail(format!("cannot run rsync: {e}")))?;
        if let Some(mut stdin) = child.stdin.take() {
            use tokio::io::AsyncWriteExt;
            stdin.write_all(&list).await.map_err(|e| fail(e.to_string()))?;
        }
        let out = child.wait_with_output().await.map_err(|e| fail(e.to_string()))?;
        let text = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() {
            return Err(HostError::Script {
                host: self.host().into(),
                what: "rsync".into(),
                code: out.status.code(),
                output: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            });
        }
        Ok(text
            .lines()
            .find_map(|l| l.strip_prefix("Total bytes sent: "))
            .and_then(|n| n.replace(',', "").trim().parse().ok())
            .unwrap_or(0))
    }

    /// Marks a release this run (lock token `token`) staged complete: from
    /// now on it may be switched to and reused. Only while `token` holds
    /// the lock ([`HostError::lock_not_held`] otherwise).
    pub async fn complete(&self, id: &haul_release::ReleaseId, token: &str) -> Result<(), HostError> {
        let run = crate::run_name(token);
        let args = [self.dir(), id, token, &run];
        self.run_ok(&format!("complete {id}"), scripts::COMPLETE, &args, Input::None).await?;
        Ok(())
    }
}

/// Whose stage it is (the run's lock token) and whether it ends complete.
struct Ending<'a> {
    token: &'a str,
    complete: bool,
}

/// Stage streams up to this size are built once per (release, base) pair.
const SHARED_STREAM_MAX: u64 = 8 << 20;

type StreamKey = (String, Option<String>);

/// The stage stream of `release` over `base`, built once: both ids are
/// content digests, so the key determines the bytes. Keeps a few.
async fn shared_stream(
    release: &Release,
    base: Option<&Release>,
    contents: &Contents,
    diff: &Diff,
) -> Result<std::sync::Arc<Vec<u8>>, haul_release::ReleaseError> {
    use std::sync::{Arc, Mutex};
    type Slot = Arc<tokio::sync::OnceCell<Arc<Vec<u8>>>>;
    static STREAMS: Mutex<Vec<(StreamKey, Slot)>> = Mutex::new(Vec::new());
    let key = (release.id.clone(), base.map(|b| b.id.clone()));
    let slot = {
        let mut all = STREAMS.lock().expect("not poisoned");
        match all.iter().find(|(k, _)| *k == key) {
            Some((_, s)) => s.clone(),
            None => {
                if all.len() >= 4 {
                    all.remove(0);
                }
                let s: Slot = Arc::default();
                all.push((key, s.clone()));
                s
            }
        }
    };
    let (rel, base, contents, diff) = (release.clone(), base.cloned(), contents.clone(), diff.clone());
    slot.get_or_try_init(|| async move {
        tokio::task::spawn_blocking(move || {
            let mut out = Vec::new();
            haul_release::write_stage_stream(&rel, base.as_ref(), &contents, &diff, &mut out).map(|_| Arc::new(out))
        })
        .await
        .expect("stream builder does not panic")
    })
    .await
    .cloned()
}

/// Below this many bytes of modified files, rsync's delta transfer is not
/// worth its scan and extra round trips.
const RSYNC_MIN: u64 = 1 << 20;

/// Files worth sending with rsync: changed files that exist as files at the
/// same path in the base (rsync can diff against those), outside shared
/// paths, when together they are large enough.
fn rsync_candidates(diff: &Diff, base: &Release, shared: &[SharedPath]) -> std::collections::HashSet<String> {
    use haul_release::Kind;
    let old: std::collections::HashMap<&str, &haul_release::Entry> =
        base.manifest.entries.iter().map(|e| (e.path.as_str(), e)).collect();
    let under_shared = |p: &str| shared.iter().any(|s| p == s.path || p.starts_with(&format!("{}/", s.path)));
    let modified: Vec<&haul_release::Entry> = diff
        .send
        .iter()
        .filter(|e| matches!(e.kind, Kind::File { .. }))
        .filter(|e| old.get(e.path.as_str()).is_some_and(|o| matches!(o.kind, Kind::File { .. })))
        .filter(|e| !under_shared(&e.path))
        .collect();
    if modified.iter().map(|e| e.size()).sum::<u64>() < RSYNC_MIN {
        return Default::default();
    }
    modified.into_iter().map(|e| e.path.clone()).collect()
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

/// The exit of `stage.sh` and `stage-finish.sh` when the release is there
/// already, complete or appearing meanwhile: another run staged it.
const STAGED_BY_ANOTHER: i32 = 8;

impl HostError {
    /// Whether staging refused because another run staged the same
    /// release on this host since this run read it: what is there is that
    /// run's (maybe live, maybe still being finished), never this run's
    /// to discard.
    pub fn staged_by_another_run(&self) -> bool {
        matches!(self, HostError::Script { code: Some(STAGED_BY_ANOTHER), .. })
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
