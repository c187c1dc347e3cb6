//! Writing a secret file (`secret.sh`) under each shell a host may have:
//! the temporary file is 0600 while its bytes are still arriving, the file
//! appears whole or not at all, nothing is written through a link, and
//! nothing at all once the run's token no longer holds the app's lock.

mod shells;

use haul_host::{HostApp, SecretFile};
use haul_transport::Input;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

/// The app under `dir`, its lock held by the run whose token is "mine".
fn app(dir: &Path, shell: &[&str]) -> HostApp {
    hold(dir, "mine");
    HostApp::new(shells::local(shell), dir.join("app").display().to_string())
}

fn hold(dir: &Path, token: &str) {
    std::fs::create_dir_all(dir.join("app/.haul")).unwrap();
    std::fs::write(dir.join("app/.haul/lock"), format!("{{\"token\":\"{token}\",\"user\":\"t\"}}\n")).unwrap();
}

/// What a write keeps beside the file while it works: its private
/// directories (`.haul-secret.<pid>`).
fn temporaries(dir: &Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(".haul-secret."))
        .collect()
}

fn file(path: &str) -> SecretFile<'_> {
    SecretFile { path, mode: 0o640, owner: None, group: None }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

/// The value arrives in two halves; between them the test looks at what is
/// on disk: only the temporary file, already 0600, and no file yet.
fn the_temporary_file_is_private_before_its_bytes_arrive(shell: &[&str]) {
    let tmp = tempfile::tempdir().unwrap();
    let host = app(tmp.path(), shell);
    let dir = tmp.path().join("app/shared/config");
    let (half_tx, half_rx) = std::sync::mpsc::channel::<()>();
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    let value: Vec<u8> = (0..=255u8).cycle().take(300_000).collect();
    let (a, b) = (value[..150_000].to_vec(), value[150_000..].to_vec());
    let producer: haul_transport::Producer = Box::new(move |w| {
        w.write_all(&a)?;
        w.flush()?;
        half_tx.send(()).unwrap();
        go_rx.recv().unwrap();
        w.write_all(&b)
    });
    let rt = rt();
    let script = rt.spawn({
        let host = host.clone();
        async move {
            let f = file("config/db.key");
            host.write_secret_from(&f, 300_000, Input::Stream(producer), "mine").await
        }
    });
    half_rx.recv().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let temp = loop {
        if let [t] = &temporaries(&dir)[..]
            && std::fs::metadata(t.join("v")).is_ok_and(|m| m.len() > 0)
        {
            assert_eq!(std::fs::metadata(t).unwrap().permissions().mode() & 0o7777, 0o700, "its directory is private");
            break t.join("v");
        }
        assert!(std::time::Instant::now() < deadline, "the temporary file never filled");
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    let meta = std::fs::metadata(&temp).unwrap();
    assert_eq!(meta.permissions().mode() & 0o7777, 0o600, "private while bytes arrive");
    assert!(!dir.join("db.key").exists(), "the file appears only once whole");
    go_tx.send(()).unwrap();
    rt.block_on(script).unwrap().unwrap();
    let written = dir.join("db.key");
    assert_eq!(std::fs::read(&written).unwrap(), value);
    assert_eq!(std::fs::metadata(&written).unwrap().mode() & 0o7777, 0o640);
    assert!(!temp.exists(), "the temporary file is renamed away");
    assert_eq!(temporaries(&dir), Vec::<std::path::PathBuf>::new(), "its directory is removed");
}

/// A value cut short (the connection lost mid-way) leaves the old file.
fn a_value_cut_short_leaves_the_old_file(shell: &[&str]) {
    let tmp = tempfile::tempdir().unwrap();
    let host = app(tmp.path(), shell);
    let rt = rt();
    rt.block_on(host.write_secret(&file(".env"), b"old\n".to_vec(), "mine")).unwrap();
    let cut: haul_transport::Producer = Box::new(|w| w.write_all(b"new but"));
    let err = rt.block_on(host.write_secret_from(&file(".env"), 100, Input::Stream(cut), "mine")).unwrap_err();
    assert!(err.to_string().contains("7 of 100 bytes arrived"), "{err}");
    assert_eq!(std::fs::read(tmp.path().join("app/shared/.env")).unwrap(), b"old\n");
    let left: Vec<_> =
        std::fs::read_dir(tmp.path().join("app/shared")).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left, [".env"], "no temporary file is left");
}

/// A run whose lock was cleared or taken over writes nothing: before any
/// byte is written, and again at the rename, when the lock changed hands
/// while the value was still arriving. An older value never replaces a
/// newer run's, and no temporary file is left.
fn a_secret_whose_lock_is_no_longer_its_own_is_not_written(shell: &[&str]) {
    let tmp = tempfile::tempdir().unwrap();
    let host = app(tmp.path(), shell);
    let (shared, rt) = (tmp.path().join("app/shared"), rt());
    rt.block_on(host.write_secret(&file(".env"), b"newer\n".to_vec(), "mine")).unwrap();
    hold(tmp.path(), "theirs");
    let err = rt.block_on(host.write_secret(&file(".env"), b"older\n".to_vec(), "mine")).unwrap_err();
    assert!(err.lock_not_held() && err.to_string().contains("secret file not written"), "{err}");

    // The lock changes hands between the first check and the rename.
    hold(tmp.path(), "mine");
    let (half_tx, half_rx) = std::sync::mpsc::channel::<()>();
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    let producer: haul_transport::Producer = Box::new(move |w| {
        w.write_all(b"old")?;
        w.flush()?;
        half_tx.send(()).unwrap();
        go_rx.recv().unwrap();
        w.write_all(b"er\n")
    });
    let script = rt.spawn({
        let host = host.clone();
        async move { host.write_secret_from(&file(".env"), 6, Input::Stream(producer), "mine").await }
    });
    half_rx.recv().unwrap();
    hold(tmp.path(), "theirs");
    go_tx.send(()).unwrap();
    let err = rt.block_on(script).unwrap().unwrap_err();
    assert!(err.lock_not_held(), "{err}");
    assert_eq!(std::fs::read(shared.join(".env")).unwrap(), b"newer\n");
    assert_eq!(temporaries(&shared), Vec::<std::path::PathBuf>::new(), "a temporary file was left");
    let guards: Vec<_> =
        std::fs::read_dir(tmp.path().join("app/.haul")).unwrap().flatten().map(|e| e.file_name()).collect();
    assert!(!guards.iter().any(|n| n.to_string_lossy().starts_with("lock.guard")), "a guard file was left: {guards:?}");
}

/// Links anywhere on the way, or at the file, are refused; what they point
/// to is untouched.
fn links_are_never_written_through(shell: &[&str]) {
    let tmp = tempfile::tempdir().unwrap();
    let host = app(tmp.path(), shell);
    let outside = tmp.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("db.key"), "theirs").unwrap();
    let shared = tmp.path().join("app/shared");
    std::fs::create_dir_all(&shared).unwrap();
    std::os::unix::fs::symlink(&outside, shared.join("config")).unwrap();
    std::os::unix::fs::symlink(outside.join("db.key"), shared.join("key")).unwrap();
    let rt = rt();
    for (path, what) in [("config/db.key", "shared/config is a symlink"), ("key", "shared/key is a symlink")] {
        let err = rt.block_on(host.write_secret(&file(path), b"mine".to_vec(), "mine")).unwrap_err();
        assert!(err.to_string().contains(what), "{err}");
    }
    assert_eq!(std::fs::read_to_string(outside.join("db.key")).unwrap(), "theirs");
    assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 1, "nothing was added through the link");

    for bad in ["../escape", "a/../../escape", "/abs", "a//b", "./a", "a/.", "", ".x.haul-secret"] {
        let err = rt.block_on(host.write_secret(&file(bad), b"mine".to_vec(), "mine")).unwrap_err();
        assert!(err.to_string().contains("is not a plain relative path"), "{bad}: {err}");
    }
    assert!(!tmp.path().join("escape").exists());
    for owner in ["-R", "a b", "x;y"] {
        let f = SecretFile { path: "ok", mode: 0o600, owner: Some(owner), group: None };
        let err = rt.block_on(host.write_secret(&f, b"mine".to_vec(), "mine")).unwrap_err();
        assert!(err.to_string().contains("is not a user or group name"), "{owner}: {err}");
    }

    // `shared` itself a link: refused too.
    let tmp2 = tempfile::tempdir().unwrap();
    let host2 = app(tmp2.path(), shell);
    std::os::unix::fs::symlink(&outside, tmp2.path().join("app/shared")).unwrap();
    let err = rt.block_on(host2.write_secret(&file("db.key"), b"mine".to_vec(), "mine")).unwrap_err();
    assert!(err.to_string().contains("shared is a symlink"), "{err}");
    assert_eq!(std::fs::read_to_string(outside.join("db.key")).unwrap(), "theirs");
}

/// Links planted beside the file, at every name a write of it might use
/// (its private directory's, the temporary names older hauls used), all to
/// a FIFO someone reads: the value goes only to the file, never to the
/// reader.
fn a_link_planted_beside_the_file_never_receives_the_value(shell: &[&str]) {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let host = app(tmp.path(), shell);
    let dir = tmp.path().join("app/shared/config");
    std::fs::create_dir_all(&dir).unwrap();
    let fifo = tmp.path().join("fifo");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    // Open for reading without waiting for a writer (O_NONBLOCK).
    let mut reader = std::fs::OpenOptions::new().read(true).custom_flags(0o4000).open(&fifo).unwrap();
    let next = std::process::id();
    for pid in next..next + 3000 {
        for name in [format!(".haul-secret.{pid}"), format!(".db.key.{pid}.haul-secret")] {
            std::os::unix::fs::symlink(&fifo, dir.join(name)).unwrap();
        }
    }
    std::os::unix::fs::symlink(&fifo, dir.join(".db.key.haul-secret")).unwrap();
    rt().block_on(host.write_secret(&file("config/db.key"), b"supersecret\n".to_vec(), "mine")).unwrap();
    assert_eq!(std::fs::read(dir.join("db.key")).unwrap(), b"supersecret\n");
    let mut got = Vec::new();
    let _ = reader.read_to_end(&mut got);
    assert!(got.is_empty(), "the reader got {:?}", String::from_utf8_lossy(&got));
}

/// The private directory swapped, between the write and the rename, for a
/// link to a directory someone else filled: the rename refuses, the file
/// stays as it was, and what they put there never becomes the secret.
/// Played by a `chmod` first on PATH that swaps it once the real one ran.
fn a_private_directory_swapped_for_a_link_is_refused(shell: &[&str]) {
    let shim = shells::Shim::new(
        "chmod",
        "\"$real\" \"$@\" || exit\nd=$(pwd -P); p=${d%/*}\nmv \"$d\" \"$p/moved\" && mkdir \"$p/theirs\" && echo theirs > \"$p/theirs/v\" && ln -s theirs \"$d\"",
    );
    let wrapped = shim.shell(shell);
    let tmp = tempfile::tempdir().unwrap();
    let plain = app(tmp.path(), shell);
    rt().block_on(plain.write_secret(&file("db.pw"), b"old\n".to_vec(), "mine")).unwrap();
    let host = app(tmp.path(), &wrapped);
    let err = rt().block_on(host.write_secret(&file("db.pw"), b"new\n".to_vec(), "mine")).unwrap_err();
    assert!(err.to_string().contains("was replaced by someone"), "{err}");
    assert_eq!(std::fs::read(tmp.path().join("app/shared/db.pw")).unwrap(), b"old\n");
}

/// Values with every byte, NUL and newlines included, arrive exactly; a
/// name made to break a shell is only a name.
fn any_bytes_and_odd_names_arrive_exactly(shell: &[&str]) {
    let tmp = tempfile::tempdir().unwrap();
    let host = app(tmp.path(), shell);
    let value: Vec<u8> = (0..=255u8).chain(b"\n\nline\r\n".iter().copied()).collect();
    let name = "we ird/$(touch pwned) `x` '\"; *.key";
    rt().block_on(host.write_secret(&file(name), value.clone(), "mine")).unwrap();
    assert_eq!(std::fs::read(tmp.path().join("app/shared").join(name)).unwrap(), value);
    assert!(!tmp.path().join("app/shared/we ird/pwned").exists() && !Path::new("pwned").exists());
}

under_every_shell!(
    a_private_directory_swapped_for_a_link_is_refused,
    a_link_planted_beside_the_file_never_receives_the_value,
    a_secret_whose_lock_is_no_longer_its_own_is_not_written,
    the_temporary_file_is_private_before_its_bytes_arrive,
    a_value_cut_short_leaves_the_old_file,
    links_are_never_written_through,
    any_bytes_and_odd_names_arrive_exactly,
);
