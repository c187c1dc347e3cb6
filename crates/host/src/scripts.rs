//! The host scripts: the `.sh` files of `crates/host/scripts/`, built into
//! haul.
//!
//! Every script takes its data as positional arguments (`"$1"`, `"$2"`…)
//! and none has data written into its text, so a value reaches a host's
//! shell only through the transport's one quoting rule. Files are linted on
//! their own (`scripts/host-scripts.sh`: `shellcheck -s sh`, `dash -n`);
//! where one script needs another's functions (the lock guard, `live`), the
//! files are joined here, at build time, never as strings at run time.

macro_rules! script {
    ($($file:literal),+) => {
        concat!(prelude!(), $(include_str!(concat!("../scripts/", $file))),+)
    };
}

/// The first line of every script: what the environment of the host's
/// login (a `.bashrc` that exports it, or haul's own, inherited by a local
/// host and an agent) must not change. With `CDPATH` set, a `cd` to a
/// relative name such as `.haul` may land in another directory that has
/// one, and a script would judge and switch another app.
macro_rules! prelude {
    () => {
        "unset CDPATH\n"
    };
}

pub(crate) const LOCK: &str = script!("lock.sh", "lock-take.sh");
pub(crate) const LOCK_INSPECT: &str = script!("live.sh", "lock.sh", "leftovers.sh", "inspect.sh", "lock-inspect.sh");
pub(crate) const LOCK_HOLD: &str =
    script!("guard.sh", "live.sh", "lock.sh", "leftovers.sh", "inspect.sh", "switch.sh", "lock-hold.sh");
pub(crate) const UNLOCK: &str = script!("guard.sh", "unlock.sh");
pub(crate) const TAKE_OVER: &str = script!("guard.sh", "take-over.sh");
pub(crate) const FORCE_UNLOCK: &str = script!("guard.sh", "force-unlock.sh");
pub(crate) const PRUNE: &str = script!("guard.sh", "live.sh", "put.sh", "aside.sh", "leftovers.sh", "prune.sh");
pub(crate) const INSPECT: &str = script!("live.sh", "leftovers.sh", "inspect.sh", "inspect-run.sh");
pub(crate) const SWITCH: &str = script!("guard.sh", "switch.sh", "switch-run.sh");
pub(crate) const SWITCH_UNLOCK: &str = script!("guard.sh", "switch.sh", "switch-unlock.sh");
pub(crate) const RECORD: &str = script!("record.sh");
pub(crate) const REMOVE: &str = script!("guard.sh", "live.sh", "put.sh", "aside.sh", "remove.sh");
pub(crate) const DISCARD: &str = script!("guard.sh", "live.sh", "put.sh", "staging.sh", "discard.sh");
pub(crate) const READ_RELEASE: &str = script!("read-release.sh");
pub(crate) const STAGE: &str = script!("guard.sh", "live.sh", "put.sh", "staging.sh", "stage.sh");
pub(crate) const STAGE_FINISH: &str = script!("guard.sh", "live.sh", "put.sh", "staging.sh", "stage-finish.sh");
pub(crate) const COMPLETE: &str = script!("guard.sh", "live.sh", "put.sh", "staging.sh", "complete.sh");
pub(crate) const STEP: &str = script!("step.sh");
pub(crate) const SECRET: &str = script!("guard.sh", "secret.sh");
pub(crate) const CONTENT_LIST: &str = script!("content-list.sh");
pub(crate) const CONTENT_PACK: &str = script!("content-pack.sh");
pub(crate) const CONTENT_STAGE: &str = script!("guard.sh", "put.sh", "content-stage.sh");
pub(crate) const CONTENT_SWITCH: &str = script!("guard.sh", "put.sh", "content-switch.sh");
pub(crate) const CONTENT_UNPACK: &str = script!("content-unpack.sh");
pub(crate) const TOOLS: &str = script!("tools.sh");
pub(crate) const CHECK: &str = script!("tools.sh", "check.sh");
#[cfg(test)]
pub(crate) const LIVE: &str = script!("live.sh");

/// Every file of `scripts/`, by name, for the test that none is left out.
#[cfg(test)]
const FILES: &[&str] = &[
    "aside.sh",
    "check.sh",
    "complete.sh",
    "content-list.sh",
    "content-pack.sh",
    "content-stage.sh",
    "content-switch.sh",
    "content-unpack.sh",
    "discard.sh",
    "force-unlock.sh",
    "guard.sh",
    "inspect-run.sh",
    "inspect.sh",
    "leftovers.sh",
    "live.sh",
    "lock-hold.sh",
    "lock-inspect.sh",
    "lock-take.sh",
    "lock.sh",
    "prune.sh",
    "put.sh",
    "read-release.sh",
    "record.sh",
    "remove.sh",
    "secret.sh",
    "stage-finish.sh",
    "stage.sh",
    "staging.sh",
    "step.sh",
    "switch-run.sh",
    "switch-unlock.sh",
    "switch.sh",
    "take-over.sh",
    "tools.sh",
    "unlock.sh",
];

#[cfg(test)]
mod environment;

#[cfg(test)]
mod tests {
    /// Every script the crate runs, so each is parsed by every shell.
    const ALL: &[&str] = &[
        super::LOCK,
        super::LOCK_INSPECT,
        super::LOCK_HOLD,
        super::UNLOCK,
        super::TAKE_OVER,
        super::FORCE_UNLOCK,
        super::PRUNE,
        super::INSPECT,
        super::SWITCH,
        super::SWITCH_UNLOCK,
        super::RECORD,
        super::REMOVE,
        super::DISCARD,
        super::READ_RELEASE,
        super::STAGE,
        super::STAGE_FINISH,
        super::COMPLETE,
        super::STEP,
        super::SECRET,
        super::CONTENT_LIST,
        super::CONTENT_PACK,
        super::CONTENT_STAGE,
        super::CONTENT_SWITCH,
        super::CONTENT_UNPACK,
        super::TOOLS,
        super::CHECK,
    ];

    #[test]
    fn every_file_in_scripts_is_listed() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts");
        let mut found: Vec<String> =
            std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        found.sort();
        assert_eq!(found, super::FILES);
    }

    #[test]
    fn every_script_as_composed_parses_under_every_shell() {
        for shell in [&["dash"][..], &["bash", "--posix"], &["busybox", "sh"]] {
            for script in ALL {
                let out = std::process::Command::new(shell[0])
                    .args(&shell[1..])
                    .args(["-n", "-c", script])
                    .output()
                    .expect("the shell runs (scripts/test.sh installs it)");
                assert!(out.status.success(), "{shell:?}: {}\n{script}", String::from_utf8_lossy(&out.stderr));
            }
        }
    }

    /// `put_free` never renames into a name that is taken, by a directory
    /// or a dangling link: it takes the first free one.
    #[test]
    fn put_free_takes_the_first_free_name() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        for shell in [&["dash"][..], &["bash", "--posix"], &["busybox", "sh"]] {
            std::fs::create_dir_all(d.join("from")).unwrap();
            std::fs::create_dir_all(d.join("to.1")).unwrap();
            let _ = std::os::unix::fs::symlink("nowhere", d.join("to.2"));
            let script = concat!(include_str!("../scripts/put.sh"), "cd \"$1\" && put_free from to");
            let out = std::process::Command::new(shell[0])
                .args(&shell[1..])
                .args(["-c", script, "sh", &d.display().to_string()])
                .output()
                .unwrap();
            assert!(out.status.success(), "{shell:?}: {}", String::from_utf8_lossy(&out.stderr));
            assert!(d.join("to.3").is_dir() && !d.join("from").exists(), "{shell:?}");
            assert_eq!(std::fs::read_dir(d.join("to.1")).unwrap().count(), 0, "{shell:?}: moved into a taken name");
            std::fs::remove_dir(d.join("to.3")).unwrap();
        }
    }
}
