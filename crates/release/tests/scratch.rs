//! An import killed with SIGKILL cannot clean up its scratch directory; the
//! next import removes it once it is old and its lock is not held, and
//! never removes the scratch of an import still running. The imports here
//! are real processes (this test binary run again as a child) blocked
//! reading a FIFO, then killed.

use haul_release::{ImportLimits, ReleaseCache, STALE_SCRATCH};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant, SystemTime};

/// The child: imports the archive named by `HAUL_TEST_IMPORT` into the
/// cache named by `HAUL_TEST_CACHE` (a FIFO: it blocks until killed).
#[test]
#[ignore = "run as a child process by the tests below"]
fn import_child() {
    let cache = ReleaseCache::new(std::env::var("HAUL_TEST_CACHE").unwrap());
    let _ = cache.import("site", Path::new(&std::env::var("HAUL_TEST_IMPORT").unwrap()), "ci", ImportLimits::default());
}

fn spawn_import(cache: &Path, fifo: &Path) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "import_child", "--ignored", "--nocapture"])
        .env("HAUL_TEST_CACHE", cache)
        .env("HAUL_TEST_IMPORT", fifo)
        .spawn()
        .unwrap()
}

fn scratch_dirs(cache: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> =
        std::fs::read_dir(cache.join("site")).map(|rd| rd.flatten().map(|e| e.path()).collect()).unwrap_or_default();
    out.retain(|p| p.is_dir() && p.file_name().unwrap().to_str().unwrap().starts_with(".import-"));
    out.sort();
    out
}

/// Waits until the cache holds `n` scratch directories.
fn wait_for(cache: &Path, n: usize) -> Vec<PathBuf> {
    let t = Instant::now();
    loop {
        let dirs = scratch_dirs(cache);
        if dirs.len() >= n {
            return dirs;
        }
        assert!(t.elapsed() < Duration::from_secs(60), "no scratch directory appeared: {dirs:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn age(dir: &Path) {
    let past = SystemTime::now() - STALE_SCRATCH - Duration::from_secs(60);
    std::fs::File::open(dir).unwrap().set_modified(past).unwrap();
}

fn mkfifo(path: &Path) {
    assert!(Command::new("mkfifo").arg(path).status().unwrap().success());
}

fn import_a_real_archive(tmp: &Path, cache: &ReleaseCache) {
    let src = tmp.join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("index.html"), "hello").unwrap();
    let tar = tmp.join("site.tar");
    assert!(Command::new("tar").arg("-cf").arg(&tar).arg("-C").arg(&src).arg(".").status().unwrap().success());
    cache.import("site", &tar, "ci", ImportLimits::default()).unwrap();
}

#[test]
fn a_killed_import_leaves_no_scratch_directory_behind_for_long() {
    let tmp = tempfile::tempdir().unwrap();
    let cache_dir = tmp.path().join("cache");
    let cache = ReleaseCache::new(&cache_dir);
    let (dead_fifo, live_fifo) = (tmp.path().join("dead.fifo"), tmp.path().join("live.fifo"));
    mkfifo(&dead_fifo);
    mkfifo(&live_fifo);

    let mut killed = spawn_import(&cache_dir, &dead_fifo);
    let dead = wait_for(&cache_dir, 1)[0].clone();
    killed.kill().unwrap(); // SIGKILL: no destructor runs.
    killed.wait().unwrap();
    assert!(dead.exists(), "a killed import leaves its scratch directory");
    let mut live = spawn_import(&cache_dir, &live_fifo);
    let both = wait_for(&cache_dir, 2);
    let running = both.iter().find(|d| **d != dead).unwrap().clone();

    // Young: left alone (it could be an import that has not locked yet).
    import_a_real_archive(tmp.path(), &cache);
    assert!(dead.exists());
    // Old and unheld: removed with its lock; old but held: kept.
    age(&dead);
    age(&running);
    import_a_real_archive(tmp.path(), &cache);
    assert!(!dead.exists(), "the killed import's scratch is removed");
    assert!(!Path::new(&format!("{}.lock", dead.display())).exists());
    assert!(running.exists(), "a running import's scratch is never removed");

    live.kill().unwrap();
    live.wait().unwrap();
    age(&running);
    import_a_real_archive(tmp.path(), &cache);
    assert_eq!(scratch_dirs(&cache_dir), Vec::<PathBuf>::new());
    let left: Vec<_> = std::fs::read_dir(cache_dir.join("site"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().into_string().unwrap())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}
