//! Shared paths and the links staging never follows, on real trees through
//! the local transport, under each shell a host may have: a shared
//! directory and a shared file are created once and linked into every
//! release, and a link where staging would act (`shared` itself, a
//! directory under it, a shared path leading elsewhere) is refused, naming
//! it, with nothing made through it.

mod shells;
mod staged;

use staged::Host;
use std::os::unix::fs::symlink;
use std::path::Path;

fn link(p: &Path) -> String {
    std::fs::read_link(p).unwrap().display().to_string()
}

fn shared_paths_are_made_once_and_linked_into_every_release(shell: &[&str]) {
    let h = Host::new(shell);
    let v1 = h.build("v1\n");
    h.stage(&v1, None).unwrap();
    let app = h.app();
    assert!(app.join("shared/log").is_dir());
    assert!(app.join("shared/config/app.env").is_file());
    std::fs::write(app.join("shared/config/app.env"), "SECRET=1\n").unwrap();
    let v2 = h.build("v2\n");
    h.stage(&v2, Some(&v1)).unwrap();
    for r in [&v1, &v2] {
        let dir = app.join("releases").join(&r.id);
        assert_eq!(link(&dir.join("log")), "../../shared/log");
        assert_eq!(link(&dir.join("config/app.env")), "../../../shared/config/app.env");
        assert_eq!(std::fs::read_to_string(dir.join("config/app.env")).unwrap(), "SECRET=1\n", "kept");
    }
    assert_eq!(std::fs::read_to_string(app.join("releases").join(&v2.id).join("index.html")).unwrap(), "v2\n");
}

fn links_on_the_way_to_a_shared_path_are_refused(shell: &[&str]) {
    let h = Host::new(shell);
    let v1 = h.build("v1\n");
    h.stage(&v1, None).unwrap();
    let app = h.app();
    let outside = h.tmp.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();

    // `shared` itself a link.
    std::fs::rename(app.join("shared"), app.join("shared.real")).unwrap();
    symlink(&outside, app.join("shared")).unwrap();
    let e = h.stage(&h.build("v2\n"), Some(&v1)).unwrap_err();
    assert!(e.contains("`shared` in the app directory is a symlink") && e.contains("(exit 7)"), "{e}");
    std::fs::remove_file(app.join("shared")).unwrap();
    std::fs::rename(app.join("shared.real"), app.join("shared")).unwrap();

    // A directory on the way under `shared/`.
    std::fs::remove_dir_all(app.join("shared/config")).unwrap();
    symlink(&outside, app.join("shared/config")).unwrap();
    let e = h.stage(&h.build("v3\n"), Some(&v1)).unwrap_err();
    assert!(e.contains("`shared/config` in the app directory is a symlink"), "{e}");
    std::fs::remove_file(app.join("shared/config")).unwrap();

    // The shared path itself a link to something that is not a directory.
    std::fs::remove_dir_all(app.join("shared/log")).unwrap();
    std::fs::write(outside.join("file"), "x").unwrap();
    symlink(outside.join("file"), app.join("shared/log")).unwrap();
    let e = h.stage(&h.build("v4\n"), Some(&v1)).unwrap_err();
    assert!(e.contains("shared/log is a symlink that does not lead to a directory"), "{e}");

    // ... but a link to a directory is used as it is.
    std::fs::remove_file(app.join("shared/log")).unwrap();
    symlink(&outside, app.join("shared/log")).unwrap();
    let v5 = h.build("v5\n");
    h.stage(&v5, Some(&v1)).unwrap();
    assert_eq!(link(&app.join("releases").join(&v5.id).join("log")), "../../shared/log");
    let left: Vec<_> = std::fs::read_dir(&outside).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left, ["file"], "nothing was made outside the app");
}

/// Staging that marks the release complete in the same script does so
/// last: a refused stage leaves nothing complete, a whole one is complete
/// with its shared links, and the next stage builds on it.
fn a_release_staged_and_completed_at_once_is_complete_only_when_whole(shell: &[&str]) {
    let h = Host::new(shell);
    let v1 = h.build("v1\n");
    h.stage_complete(&v1, None).unwrap();
    assert!(h.complete(&v1));
    let app = h.app();
    assert_eq!(link(&app.join("releases").join(&v1.id).join("log")), "../../shared/log");
    let releases: Vec<_> = std::fs::read_dir(app.join("releases")).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(releases.len(), 2, "the release and its record, nothing half-made: {releases:?}");

    let outside = h.tmp.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::remove_dir_all(app.join("shared/config")).unwrap();
    symlink(&outside, app.join("shared/config")).unwrap();
    let v2 = h.build("v2\n");
    let e = h.stage_complete(&v2, Some(&v1)).unwrap_err();
    assert!(e.contains("`shared/config` in the app directory is a symlink"), "{e}");
    assert!(!h.complete(&v2), "a refused stage is not complete");
    std::fs::remove_file(app.join("shared/config")).unwrap();

    h.stage_complete(&v2, Some(&v1)).unwrap();
    assert!(h.complete(&v2));
    assert_eq!(std::fs::read_to_string(app.join("releases").join(&v2.id).join("index.html")).unwrap(), "v2\n");
}

/// A run that read the host before another run staged and switched to the
/// same release never stages it again: the complete (here, live) release
/// is not removed and re-made under the app, nor is a stage moved into it.
fn a_complete_release_is_never_staged_over(shell: &[&str]) {
    let h = Host::new(shell);
    let v1 = h.build("v1\n");
    h.stage(&v1, None).unwrap();
    let app = h.app();
    let index = app.join("releases").join(&v1.id).join("index.html");
    let ino = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&index).unwrap());
    for again in [Host::stage, Host::stage_complete] {
        let e = again(&h, &v1, None).unwrap_err();
        assert!(e.contains("is complete on this host already") && e.contains("(exit 8)"), "{e}");
        assert_eq!(
            std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&index).unwrap()),
            ino,
            "the release was re-made"
        );
    }
    assert!(h.complete(&v1));
    let releases: Vec<_> = std::fs::read_dir(app.join("releases")).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(releases.len(), 2, "nothing was left beside it: {releases:?}");
}

/// A release of the same name that appears while a stage is being filled
/// (another run staging it at once) is never moved into: the stage is
/// refused, and what appeared is left as it was. Made to happen by a `tar`
/// first on PATH that, once the real one has unpacked, makes that
/// directory as the other run would.
fn a_stage_is_never_moved_into_a_release_that_appeared_meanwhile(shell: &[&str]) {
    let shim = shells::Shim::new(
        "tar",
        "\"$real\" \"$@\" || exit\nfor d in releases/.incoming-*; do id=${d#releases/.incoming-}; id=${id%%.by-*}; mkdir -p \"releases/$id/theirs\"; done",
    );
    let wrapped = shim.shell(shell);
    let h = Host::new(&wrapped);
    let v1 = h.build("v1\n");
    let e = h.stage(&v1, None).unwrap_err();
    assert!(e.contains("appeared on this host while it was staged") && e.contains("(exit 8)"), "{e}");
    let theirs: Vec<_> =
        std::fs::read_dir(h.app().join("releases").join(&v1.id)).unwrap().flatten().map(|e| e.file_name()).collect();
    assert_eq!(theirs, ["theirs"], "the stage was moved into the release that appeared");
}

under_every_shell!(
    a_stage_is_never_moved_into_a_release_that_appeared_meanwhile,
    a_complete_release_is_never_staged_over,
    a_release_staged_and_completed_at_once_is_complete_only_when_whole,
    shared_paths_are_made_once_and_linked_into_every_release,
    links_on_the_way_to_a_shared_path_are_refused,
);
