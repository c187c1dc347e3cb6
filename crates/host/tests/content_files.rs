//! The `files` content scripts on real trees through the local transport,
//! under each shell a host may have: a host's listing, a pack of some of
//! its files streamed into another host's staged copy, and the switch;
//! the live directory is untouched until the switch, hostile names arrive
//! as they were, links or names with newlines are refused, and the switch
//! is made only while the sync's token holds the app's lock.

mod shells;

use haul_host::HostApp;
use haul_transport::Input;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

const NAMES: &[&str] = &["plain.txt", "-dash", "sp ace/it's \"quoted\".txt", "$(touch pwned)", "back\\slash", "ünï"];

struct Two {
    tmp: tempfile::TempDir,
    a: HostApp,
    b: HostApp,
    rt: tokio::runtime::Runtime,
}

impl Two {
    fn new(shell: &[&str]) -> Two {
        let tmp = tempfile::tempdir().unwrap();
        let app = |h: &str| HostApp::new(shells::local(shell), tmp.path().join(h).join("app").display().to_string());
        let (a, b) = (app("a"), app("b"));
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        Two { tmp, a, b, rt }
    }

    fn uploads(&self, h: &str) -> PathBuf {
        self.tmp.path().join(h).join("app/shared/uploads")
    }

    fn put(&self, h: &str, rel: &str, data: &str) {
        let p = self.uploads(h).join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, data).unwrap();
    }

    fn list(&self, h: &HostApp) -> Result<Vec<haul_host::ContentFile>, String> {
        self.rt.block_on(h.content_list(&["uploads".to_string()])).map_err(|e| e.to_string())
    }

    /// Sends every file of a that b lacks or has otherwise, and drops
    /// what a lacks; stages only, as the sync whose token is "mine" and
    /// holds b's lock.
    fn stage(&self) -> usize {
        self.hold("b", "mine");
        self.stage_as("mine").unwrap()
    }

    /// [`Two::stage`] as the sync whose token is `token`, whoever holds
    /// b's lock.
    fn stage_as(&self, token: &str) -> Result<usize, haul_host::HostError> {
        let (have, theirs) = (self.list(&self.a).unwrap(), self.list(&self.b).unwrap());
        let changed: Vec<String> = have.iter().filter(|f| !theirs.contains(f)).map(|f| f.path.clone()).collect();
        let mut drop: Vec<String> =
            theirs.iter().filter(|t| !have.iter().any(|f| f.path == t.path)).map(|t| t.path.clone()).collect();
        drop.extend(changed.iter().cloned());
        let dirs = ["uploads".to_string()];
        self.rt.block_on(self.b.content_stage("up", token, &dirs, &drop))?;
        self.send(token, &changed).unwrap();
        Ok(changed.len())
    }

    /// Packs `files` on a and unpacks them over b's copy staged for
    /// `token`.
    fn send(&self, token: &str, files: &[String]) -> Result<(), String> {
        if files.is_empty() {
            return Ok(());
        }
        let (pack, pack_args, list) = self.a.content_pack(files);
        let (unpack, unpack_args) = self.b.content_unpack("up", token);
        // Through the gate the stream passes on the machine running haul
        // (held whole here: a test's few files).
        let packed = self.rt.block_on(self.a.transport().exec_args(&pack, &pack_args, list, None)).unwrap();
        assert!(packed.success(), "{}", packed.combined());
        let mut gated = Vec::new();
        assert_eq!(haul_host::gate::pass(files, &packed.stdout[..], &mut gated), Ok(files.len()));
        let i =
            self.rt.block_on(self.b.transport().exec_args(&unpack, &unpack_args, Input::Bytes(gated), None)).unwrap();
        if i.success() { Ok(()) } else { Err(i.combined()) }
    }

    fn switch(&self) {
        self.try_switch("mine").unwrap();
    }

    /// Switches b's staged uploads in as the sync whose token is `token`.
    fn try_switch(&self, token: &str) -> Result<(), haul_host::HostError> {
        self.rt.block_on(self.b.content_switch("up", &["uploads".to_string()], token))
    }

    /// Writes the lock of host `h`'s app as held by `token`.
    fn hold(&self, h: &str, token: &str) {
        let dir = self.tmp.path().join(h).join("app/.haul");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("lock"), format!("{{\"token\":\"{token}\",\"user\":\"t\"}}\n")).unwrap();
    }
}

fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((p.strip_prefix(dir).unwrap().display().to_string(), std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

fn staged_then_switched_with_hostile_names(shell: &[&str]) {
    let t = Two::new(shell);
    for n in NAMES {
        t.put("a", n, &format!("new {n}\n"));
    }
    t.put("b", "plain.txt", "new plain.txt\n");
    t.put("b", "-dash", "old\n");
    t.put("b", "stale/old.txt", "gone soon\n");
    let kept = std::fs::metadata(t.uploads("b").join("plain.txt")).unwrap().ino();
    let before = files(&t.uploads("b"));
    assert_eq!(t.stage(), NAMES.len() - 1, "plain.txt is already there");
    assert_eq!(files(&t.uploads("b")), before, "staging leaves the live directory alone");
    t.switch();
    assert_eq!(files(&t.uploads("b")), files(&t.uploads("a")));
    assert_eq!(std::fs::metadata(t.uploads("b").join("plain.txt")).unwrap().ino(), kept);
    assert!(!t.tmp.path().join("pwned").exists() && !Path::new("/pwned").exists());
    // Again: nothing differs, nothing travels.
    assert_eq!(t.stage(), 0);
    t.switch();
    assert_eq!(files(&t.uploads("b")), files(&t.uploads("a")));
}

fn links_and_newlines_are_refused(shell: &[&str]) {
    let t = Two::new(shell);
    t.put("a", "ok", "x");
    std::os::unix::fs::symlink("/etc", t.uploads("a").join("etc")).unwrap();
    let e = t.list(&t.a).unwrap_err();
    assert!(e.contains("is a link or a special file"), "{e}");
    std::fs::remove_file(t.uploads("a").join("etc")).unwrap();
    t.put("a", "two\nlines", "x");
    let e = t.list(&t.a).unwrap_err();
    assert!(e.contains("holds a newline"), "{e}");
    // The directory itself a link: refused, not followed.
    std::fs::create_dir_all(t.tmp.path().join("b/app/shared")).unwrap();
    std::os::unix::fs::symlink("/etc", t.uploads("b")).unwrap();
    let e = t.list(&t.b).unwrap_err();
    assert!(e.contains("shared/uploads is a symbolic link"), "{e}");
}

/// More names than a command line holds (over SSH the command is one
/// argument of at most 128 KiB; here the lists pass 2 MiB, more than even
/// a local command's whole argument list): they travel on stdin, to pack
/// and to stage alike.
fn a_set_of_more_files_than_a_command_line_holds_is_staged(shell: &[&str]) {
    let t = Two::new(shell);
    let long = "n".repeat(200);
    for i in 0..6000 {
        t.put("a", &format!("many/{long}-{i}"), "x");
        t.put("b", &format!("gone/{long}-{i}"), "y");
    }
    assert_eq!(t.stage(), 6000);
    t.switch();
    assert_eq!(files(&t.uploads("b")), files(&t.uploads("a")));
}

/// A sync whose lock was cleared (`haul unlock`) or taken over after it
/// staged never switches: the live directory stays as it was, the staged
/// copy stays the sync's own, and no guard file is left.
fn a_content_switch_whose_lock_is_no_longer_its_own_moves_nothing(shell: &[&str]) {
    let t = Two::new(shell);
    t.put("a", "new.txt", "new\n");
    t.put("b", "old.txt", "old\n");
    let before = files(&t.uploads("b"));
    assert_eq!(t.stage(), 1);
    let lock = t.tmp.path().join("b/app/.haul/lock");
    for theirs in [true, false] {
        if theirs {
            t.hold("b", "theirs");
        } else {
            std::fs::remove_file(&lock).unwrap();
        }
        let e = t.try_switch("mine").unwrap_err();
        assert!(e.lock_not_held(), "{e}");
        assert!(e.to_string().contains("no longer this sync's"), "{e}");
        assert_eq!(files(&t.uploads("b")), before, "the live directory moved");
    }
    t.hold("b", "mine");
    t.try_switch("mine").unwrap();
    assert_eq!(files(&t.uploads("b")), files(&t.uploads("a")));
    assert!(lock.exists(), "the switch leaves the sync's lock to its unlock");
    let left: Vec<_> = std::fs::read_dir(lock.parent().unwrap()).unwrap().flatten().map(|e| e.file_name()).collect();
    assert!(!left.iter().any(|n| n.to_string_lossy().starts_with("lock.guard")), "a guard file was left: {left:?}");
}

/// A sync that lost its lock while staging stages nothing more, and what
/// it still sends lands in its own copy, which the sync holding the lock
/// never switches in.
fn a_sync_that_lost_its_lock_never_has_its_files_switched_in(shell: &[&str]) {
    let t = Two::new(shell);
    t.put("a", "new.txt", "new\n");
    t.put("b", "old.txt", "old\n");
    assert_eq!(t.stage(), 1);
    t.hold("b", "theirs");
    let e = t.stage_as("mine").unwrap_err();
    assert!(e.lock_not_held(), "{e}");
    assert!(e.to_string().contains("nothing staged"), "{e}");
    let dirs = ["uploads".to_string()];
    t.rt.block_on(t.b.content_stage("up", "theirs", &dirs, &["./uploads/old.txt".to_string()])).unwrap();
    // Late: the sync that lost the lock sends a file the new one never asked for.
    t.put("a", "late.txt", "late\n");
    let _ = t.send("mine", &["./uploads/late.txt".to_string()]);
    t.send("theirs", &["./uploads/new.txt".to_string()]).unwrap();
    t.try_switch("theirs").unwrap();
    assert_eq!(files(&t.uploads("b")), vec![("new.txt".to_string(), b"new\n".to_vec())]);
}

/// A switch stopped between its two renames leaves the live directory
/// absent, the directories it was switching in its copy's `switching` and
/// their old trees under its `old/`: the next sync of that set puts them
/// back before anything else, and then switches as if they had been there
/// all along. A sync of another set leaves them to it.
fn a_content_switch_stopped_between_its_renames_is_put_back_by_the_next_sync(shell: &[&str]) {
    let t = Two::new(shell);
    t.put("a", "new.txt", "new\n");
    t.put("b", "old.txt", "old\n");
    t.put("b", "kept.txt", "kept\n");
    let before = files(&t.uploads("b"));
    assert_eq!(t.stage(), 1);
    let shared = t.tmp.path().join("b/app/shared");
    let content = shared.join(".haul-content/up");
    let copy: Vec<_> = std::fs::read_dir(&content).unwrap().flatten().map(|e| e.path()).collect();
    assert_eq!(copy.len(), 1, "{copy:?}");
    stop(&shared, &copy[0], "uploads");
    // And a switch of another set, stopped the same way.
    std::fs::create_dir_all(shared.join("media/deep")).unwrap();
    std::fs::write(shared.join("media/deep/m"), "m").unwrap();
    let other = shared.join(".haul-content/media/by-gone");
    stop(&shared, &other, "media");
    t.hold("b", "theirs");
    let (have, dirs) = (t.list(&t.a).unwrap(), ["uploads".to_string()]);
    assert_eq!(t.list(&t.b).unwrap(), vec![], "the live directory is absent");
    t.rt.block_on(t.b.content_stage("up", "theirs", &dirs, &[])).unwrap();
    assert_eq!(files(&t.uploads("b")), before, "staging put the live directory back");
    assert!(!shared.join("media").exists() && other.join("old/media/deep/m").exists(), "another set's is its own");
    let all: Vec<String> = have.iter().map(|f| f.path.clone()).collect();
    t.send("theirs", &all).unwrap();
    t.try_switch("theirs").unwrap();
    assert_eq!(files(&t.uploads("b")), files(&t.uploads("a")), "what the listing saw absent was staged empty");
    assert!(!content.exists(), "copies were left");
    t.rt.block_on(t.b.content_stage("media", "theirs", &["media".to_string()], &[])).unwrap();
    assert_eq!(
        std::fs::read_to_string(shared.join("media/deep/m")).unwrap(),
        "m",
        "the other set's next sync puts it back"
    );
}

/// Stops a switch of `dir` in `copy` between its two renames: the live
/// tree set aside, the staged one not yet in its place.
fn stop(shared: &Path, copy: &Path, dir: &str) {
    std::fs::create_dir_all(copy.join("old")).unwrap();
    std::fs::create_dir_all(copy.join("new").join(dir)).unwrap();
    std::fs::write(copy.join("switching"), format!("{dir}\n")).unwrap();
    std::fs::rename(shared.join(dir), copy.join("old").join(dir)).unwrap();
}

/// A switch stopped after both renames of a directory (its staged tree in
/// place, the old one aside) switched it: the next sync goes on from the
/// new tree, with no conflict.
fn a_switch_stopped_after_both_renames_switched(shell: &[&str]) {
    let t = Two::new(shell);
    t.put("a", "new.txt", "new\n");
    t.put("b", "old.txt", "old\n");
    assert_eq!(t.stage(), 1);
    let shared = t.tmp.path().join("b/app/shared");
    let copy = shared.join(".haul-content/up/by-mine");
    stop(&shared, &copy, "uploads");
    std::fs::rename(copy.join("new/uploads"), t.uploads("b")).unwrap();
    let switched = files(&t.uploads("b"));
    t.hold("b", "theirs");
    t.rt.block_on(t.b.content_stage("up", "theirs", &["uploads".to_string()], &[])).unwrap();
    assert_eq!(files(&t.uploads("b")), switched);
    assert!(!copy.exists(), "the stopped switch's copy was kept");
}

/// After a stopped switch, a live directory made anew (an upload's
/// `mkdir -p`) is not guessed at: staging refuses, naming where the old
/// tree is, and keeps it; a `switching` line naming anything but the set's
/// own directories (`..` and all) moves nothing.
fn a_stopped_switch_whose_directory_was_made_anew_is_kept_and_named(shell: &[&str]) {
    let t = Two::new(shell);
    t.put("a", "new.txt", "new\n");
    t.put("b", "cat.jpg", "meow\n");
    assert_eq!(t.stage(), 1);
    let shared = t.tmp.path().join("b/app/shared");
    let copy = shared.join(".haul-content/up/by-mine");
    stop(&shared, &copy, "uploads");
    std::fs::write(copy.join("switching"), "../../../escaped\nuploads\n").unwrap();
    std::fs::create_dir_all(copy.join("old/../../../escaped")).unwrap();
    std::fs::create_dir_all(t.uploads("b").join("2024")).unwrap();
    t.hold("b", "theirs");
    let e = t.rt.block_on(t.b.content_stage("up", "theirs", &["uploads".to_string()], &[])).unwrap_err();
    assert!(e.to_string().contains("was made anew") && e.to_string().contains("(exit 12)"), "{e}");
    assert_eq!(std::fs::read_to_string(copy.join("old/uploads/cat.jpg")).unwrap(), "meow\n", "the old tree was lost");
    assert!(!t.tmp.path().join("escaped").exists(), "a name outside the set was moved");
}

/// Directories of one set whose names are each other's with `.old`, or
/// begin with a dash, are switched as themselves: nothing of one lands in
/// another, and no name is read as an option.
fn directories_named_like_old_trees_or_options_are_only_names(shell: &[&str]) {
    let t = Two::new(shell);
    let dirs: Vec<String> = ["uploads", "uploads.old", "-up"].iter().map(|d| d.to_string()).collect();
    let root = |h: &str| t.tmp.path().join(h).join("app/shared");
    for (h, tag) in [("a", "new"), ("b", "old")] {
        for d in &dirs {
            std::fs::create_dir_all(root(h).join(d)).unwrap();
            std::fs::write(root(h).join(d).join("f"), format!("{tag} {d}\n")).unwrap();
        }
    }
    t.hold("b", "mine");
    let (have, theirs) =
        (t.rt.block_on(t.a.content_list(&dirs)).unwrap(), t.rt.block_on(t.b.content_list(&dirs)).unwrap());
    assert_eq!((have.len(), theirs.len()), (3, 3));
    let changed: Vec<String> = have.iter().map(|f| f.path.clone()).collect();
    t.rt.block_on(t.b.content_stage("up", "mine", &dirs, &changed)).unwrap();
    let (pack, pack_args, list) = t.a.content_pack(&changed);
    let packed = t.rt.block_on(t.a.transport().exec_args(&pack, &pack_args, list, None)).unwrap();
    assert!(packed.success(), "{}", packed.combined());
    let mut gated = Vec::new();
    haul_host::gate::pass(&changed, &packed.stdout[..], &mut gated).unwrap();
    let (unpack, unpack_args) = t.b.content_unpack("up", "mine");
    let i = t.rt.block_on(t.b.transport().exec_args(&unpack, &unpack_args, Input::Bytes(gated), None)).unwrap();
    assert!(i.success(), "{}", i.combined());
    t.rt.block_on(t.b.content_switch("up", &dirs, "mine")).unwrap();
    for d in &dirs {
        assert_eq!(files(&root("b").join(d)), files(&root("a").join(d)), "{d}");
    }
}

under_every_shell!(
    a_switch_stopped_after_both_renames_switched,
    a_stopped_switch_whose_directory_was_made_anew_is_kept_and_named,
    directories_named_like_old_trees_or_options_are_only_names,
    a_sync_that_lost_its_lock_never_has_its_files_switched_in,
    a_content_switch_stopped_between_its_renames_is_put_back_by_the_next_sync,
    a_content_switch_whose_lock_is_no_longer_its_own_moves_nothing,
    staged_then_switched_with_hostile_names,
    links_and_newlines_are_refused,
    a_set_of_more_files_than_a_command_line_holds_is_staged
);
