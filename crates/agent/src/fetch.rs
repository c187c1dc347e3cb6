//! Getting what the agent acts on from the store, judged before use: the
//! blessing (polled with its entity tag, read from the versioned objects
//! when the hint moved, always through `haul_bless::verify`) and the
//! release it names (the spool's index must name exactly the archive and
//! record the blessing signed, the archive's digest is checked while it
//! streams, then its entries against the record's manifest).

use crate::sync::{AppRun, Stop};
use haul_bless::{Accepted, Blessing, Envelope, Refusal, check_object, verify};
use haul_release::Release;
use haul_store::{Fetched, StoreError, blessings, spool};
use std::path::PathBuf;

/// What the agent keeps in memory between rounds for one app: the hint's
/// entity tag and the last envelope read.
#[derive(Default)]
pub struct Memory {
    pub etag: Option<String>,
    pub envelope: Option<Envelope>,
    /// The version of the object `envelope` was read from (its key in the
    /// store, not what it says: the two must agree).
    pub version: Option<u64>,
    /// The last round's outcome (a looping agent logs changes).
    pub last: Option<crate::sync::Outcome>,
    /// The blessing version whose report keys this agent's seal was last
    /// judged against (warned of once per version).
    pub seal_judged: Option<u64>,
}

fn store_failed(what: &str, e: StoreError) -> Stop {
    Stop::Failed(format!("{what}: {e}"))
}

impl AppRun<'_> {
    /// The newest blessing, judged. `Ok(None)` when the app has never been
    /// blessed in this environment.
    pub(crate) async fn blessing(&mut self, mem: &mut Memory) -> Result<Option<Blessing>, Stop> {
        let (store, app, env) = (&self.agent.store, self.app, self.agent.config.env.as_str());
        let changed = match blessings::poll(store, app, env, mem.etag.as_deref()).await {
            Ok(Fetched::Unchanged) => false,
            Ok(Fetched::Body { etag, .. }) => {
                mem.etag = etag;
                true
            }
            Ok(Fetched::Missing) => {
                mem.etag = None;
                true
            }
            // The hint only saves requests: one that cannot be read (a
            // writer without the key can garble it) must not stop the agent
            // from reading the versioned objects, which are the truth.
            Err(StoreError::Corrupt { .. } | StoreError::TooLarge { .. }) => {
                mem.etag = None;
                true
            }
            Err(e) => return Err(store_failed("reading the blessing hint", e)),
        };
        if changed || mem.envelope.is_none() {
            // The hint only says something moved; the versioned objects are
            // the truth.
            match blessings::latest(store, app, env).await {
                Ok(Some((version, bytes))) => {
                    mem.envelope = Some(Envelope::from_bytes(&bytes).map_err(Stop::Refused)?);
                    mem.version = Some(version);
                }
                Ok(None) => {
                    mem.envelope = None;
                    mem.version = None;
                }
                Err(e) => return Err(store_failed("reading the blessings", e)),
            }
        }
        let Some(envelope) = &mem.envelope else {
            if let Some(acc) = &self.state.accepted {
                // Blessings do not vanish: a store without the accepted one
                // was emptied or replaced, and nothing in it is trusted to
                // move this host.
                return Err(Stop::Refused(Refusal::Mismatch {
                    what: "store".into(),
                    detail: format!("it holds no blessing, though version {} was accepted", acc.version),
                }));
            }
            return Ok(None);
        };
        let doc = verify(envelope, &self.agent.trust, app, env, self.state.accepted.clone(), jiff::Timestamp::now())
            .map_err(Stop::Refused)?;
        // The store's newest version must hold the document signed as that
        // version: an older blessing copied under a higher number (a writer
        // who can add objects but not sign) would otherwise pass on a host
        // that remembers nothing newer, and roll it back while the real
        // newest blessing sits below it.
        if mem.version != Some(doc.version) {
            return Err(Stop::Refused(Refusal::Mismatch {
                what: "store".into(),
                detail: format!(
                    "its newest blessing object is version {}, the document in it is signed as version {}",
                    mem.version.map_or("?".into(), |v| v.to_string()),
                    doc.version
                ),
            }));
        }
        check_path(&doc.steps.path).map_err(Stop::Refused)?;
        let accepted = Accepted { version: doc.version, envelope: envelope.digest() };
        if self.state.accepted.as_ref() != Some(&accepted) {
            self.state.accepted = Some(accepted);
            self.save()?;
        }
        Ok(Some(doc))
    }

    /// Where the archive of the blessed release is downloaded.
    pub(crate) fn archive_path(&self, b: &Blessing) -> PathBuf {
        self.app_dir.join(".haul").join("agent").join(format!("{}.tar.zst", b.release))
    }

    /// Downloads the blessed release's archive and record, checking both
    /// against the blessing and the archive's entries against the record.
    pub(crate) async fn download(&mut self, b: &Blessing) -> Result<(Release, PathBuf), Stop> {
        let store = &self.agent.store;
        let index = match spool::index(store, self.app, &b.release).await {
            Ok(Some(i)) => i,
            Ok(None) => return Err(Stop::Failed(format!("release {} is not in the store {}", b.release, store.url()))),
            Err(e) => return Err(store_failed("reading the release's index", e)),
        };
        check_object("archive named by the store's index", &b.archive, &index.archive.blake3, index.archive.size)
            .map_err(Stop::Refused)?;
        check_object("record named by the store's index", &b.record, &index.record.blake3, index.record.size)
            .map_err(Stop::Refused)?;
        let max = self.agent.config.max_release;
        if b.archive.size > max {
            return Err(Stop::Refused(Refusal::Mismatch {
                what: "archive".into(),
                detail: format!("{} bytes, more than HAUL_MAX_RELEASE ({max})", b.archive.size),
            }));
        }
        let release = spool::record(store, &index).await.map_err(|e| refused_if_corrupt("the release record", e))?;
        if release.id != b.release.as_str() || index.id != b.release {
            return Err(Stop::Refused(Refusal::Mismatch {
                what: "release record".into(),
                detail: format!("it is release {}, the blessing names {}", release.id, b.release),
            }));
        }
        let dest = self.archive_path(b);
        let dir = dest.parent().expect("an archive path has a directory");
        std::fs::create_dir_all(dir).map_err(|e| Stop::Failed(format!("{}: {e}", dir.display())))?;
        // Only this release's download is kept: what an earlier blessing's
        // interrupted or abandoned download left (up to HAUL_MAX_RELEASE
        // each, one per release ever blessed) would otherwise fill the disk.
        if let Ok(rd) = std::fs::read_dir(dir) {
            for item in rd.flatten() {
                let path = item.path();
                if path != dest
                    && path.to_str().is_some_and(|p| p.ends_with(".tar.zst"))
                    && item.file_type().is_ok_and(|t| t.is_file() || t.is_symlink())
                {
                    let _ = std::fs::remove_file(&path);
                }
            }
        }
        spool::download(store, &index, &dest).await.map_err(|e| refused_if_corrupt("the archive", e))?;
        let (path, manifest) = (dest.clone(), release.manifest.clone());
        let checked = tokio::task::spawn_blocking(move || haul_release::verify_archive(&path, &manifest))
            .await
            .map_err(|e| Stop::Failed(format!("checking the archive: {e}")))?;
        if let Err(e) = checked {
            let _ = std::fs::remove_file(&dest);
            return Err(Stop::Refused(Refusal::Mismatch { what: "archive".into(), detail: e.to_string() }));
        }
        Ok((release, dest))
    }
}

/// A store that hands out other bytes than the ones signed is refusing to
/// be trusted, not failing for a while.
fn refused_if_corrupt(what: &str, e: StoreError) -> Stop {
    match e {
        StoreError::Corrupt { .. } | StoreError::TooLarge { .. } | StoreError::Conflict { .. } => {
            Stop::Refused(Refusal::Mismatch { what: what.into(), detail: e.to_string() })
        }
        e => store_failed(&format!("downloading {what}"), e),
    }
}

/// The app's directory under the root, as the blessing names it: relative,
/// each component a plain name.
fn check_path(path: &str) -> Result<(), Refusal> {
    let ok = !path.is_empty()
        && path.split('/').all(|c| {
            !c.is_empty()
                && !c.starts_with('.')
                && c.chars().all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '-' | '_' | '.'))
        });
    if ok {
        Ok(())
    } else {
        Err(Refusal::Malformed(format!("the app's path {path:?} is not a relative path of plain names")))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn paths_that_leave_the_root_are_refused() {
        for bad in ["", "/srv/web", "../web", "web/../../etc", "web/.haul", "a//b", "we b"] {
            assert!(super::check_path(bad).is_err(), "{bad:?}");
        }
        for good in ["web", "sites/web-1", "my_site.v2"] {
            assert!(super::check_path(good).is_ok(), "{good:?}");
        }
    }
}
