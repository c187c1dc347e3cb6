//! What a host's environment may hold does not change what a script does:
//! a `CDPATH` or a variable the scripts use, exported by a login's
//! `.bashrc` or inherited by a local host and an agent from haul's own
//! environment, and a lock guard that another taker keeps for a minute
//! (with `sleep` made instant on `PATH`, so the minute passes at once).

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const R1: &str = "20260101T000000.000Z-111111111111";
const R2: &str = "20260101T000001.000Z-222222222222";

const SHELLS: [&[&str]; 3] = [&["dash"], &["busybox", "sh"], &["bash"]];

/// An app at `dir` with two complete releases, `current` at the first,
/// and its lock held by token `mine`.
fn app(dir: &Path) -> PathBuf {
    for r in [R1, R2] {
        std::fs::create_dir_all(dir.join("releases").join(r)).unwrap();
        std::fs::write(dir.join("releases").join(format!("{r}.manifest")), "").unwrap();
    }
    std::os::unix::fs::symlink(format!("releases/{R1}"), dir.join("current")).unwrap();
    std::fs::create_dir_all(dir.join(".haul")).unwrap();
    std::fs::write(dir.join(".haul/lock"), "{\"token\":\"mine\",\"user\":\"t\"}\n").unwrap();
    dir.to_path_buf()
}

fn live(app: &Path) -> String {
    std::fs::read_link(app.join("current")).unwrap().display().to_string()
}

/// Runs `script` under `shell` with `args`, from `cwd`, with `env` added.
fn run(shell: &[&str], script: &str, args: &[&str], cwd: &Path, env: &[(&str, &str)], input: &str) -> Output {
    let mut child = Command::new(shell[0])
        .args(&shell[1..])
        .args(["-c", "--", script, "haul"])
        .args(args)
        .current_dir(cwd)
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

/// A `sleep` that returns at once, first on `PATH`: a guard's minute of
/// waiting passes in a moment.
fn instant_sleep(dir: &Path) -> String {
    use std::os::unix::fs::PermissionsExt;
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::write(bin.join("sleep"), "#!/bin/sh\nexit 0\n").unwrap();
    std::fs::set_permissions(bin.join("sleep"), std::fs::Permissions::from_mode(0o755)).unwrap();
    format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default())
}

/// With `CDPATH` naming a directory that holds another app (its own
/// `.haul`, its lock held by the same token), a switch of this app, named
/// by an absolute or a relative path, judges and switches this app only.
#[test]
fn a_cdpath_in_the_environment_never_sends_a_switch_into_another_app() {
    for shell in SHELLS {
        for relative in [false, true] {
            let tmp = tempfile::tempdir().unwrap();
            let mine = app(&tmp.path().join("srv/app"));
            let decoy = app(&tmp.path().join("decoy/srv/app"));
            let dir = if relative { "srv/app".to_string() } else { mine.display().to_string() };
            let cdpath = format!("{}:{}", tmp.path().join("decoy").display(), decoy.display());
            let out = run(shell, super::SWITCH, &[&dir, R2, "{}", "mine"], tmp.path(), &[("CDPATH", &cdpath)], "");
            let what = format!("{shell:?}, relative: {relative}");
            assert!(out.status.success(), "{what}: {}", String::from_utf8_lossy(&out.stderr));
            assert!(out.stdout.is_empty(), "{what}: a cd went by CDPATH: {}", String::from_utf8_lossy(&out.stdout));
            assert_eq!(live(&mine), format!("releases/{R2}"), "{what}");
            assert_eq!(live(&decoy), format!("releases/{R1}"), "{what}: the other app was switched");
        }
    }
}

/// A variable the guard uses (`gd`, where the guard's identity lives),
/// set in the environment, does not make a switch skip writing its own
/// identity (it would then wait on a guard it could never take).
#[test]
fn a_guard_variable_in_the_environment_does_not_skip_the_switchs_identity() {
    for shell in SHELLS {
        let tmp = tempfile::tempdir().unwrap();
        let mine = app(&tmp.path().join("app"));
        let path = instant_sleep(tmp.path());
        let elsewhere = tmp.path().join("elsewhere").display().to_string();
        let args = [mine.to_str().unwrap(), R2, "{}", "mine"];
        let out = run(shell, super::SWITCH, &args, tmp.path(), &[("gd", &elsewhere), ("PATH", &path)], "");
        assert!(out.status.success(), "{shell:?}: {}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(live(&mine), format!("releases/{R2}"), "{shell:?}");
    }
}

/// A guard another live taker keeps for a minute: the switch gives up
/// before it renames, with its own exit (10, which haul counts as
/// "refused, `current` did not move") and the guard's name; in a held
/// session the `move` answers with that exit and the session goes on, so
/// a later `move` switches once the guard is free. The other's guard is
/// left where it is.
#[test]
fn a_guard_held_for_a_minute_refuses_the_switch_before_it_moves_anything() {
    // A guard whose taker cannot be judged dead (no boot id, no pid).
    let busy = "? ? 1 ?\n";
    for shell in SHELLS {
        let tmp = tempfile::tempdir().unwrap();
        let mine = app(&tmp.path().join("app"));
        let path = instant_sleep(tmp.path());
        let env = [("PATH", path.as_str())];
        std::fs::write(mine.join(".haul/lock.guard"), busy).unwrap();
        let dir = mine.to_str().unwrap();
        for script in [super::SWITCH, super::SWITCH_UNLOCK] {
            let out = run(shell, script, &[dir, R2, "{}", "mine"], tmp.path(), &env, "");
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(super::super::GUARD_BUSY), "{shell:?}: {err}");
            assert!(err.contains("has been held for a minute"), "{shell:?}: {err}");
            assert_eq!(live(&mine), format!("releases/{R1}"), "{shell:?}");
            assert!(mine.join(".haul/lock").exists(), "{shell:?}: the lock went");
            assert_eq!(std::fs::read_to_string(mine.join(".haul/lock.guard")).unwrap(), busy, "{shell:?}");
        }

        // A held session, kept through a deploy: `move` answers 10 and the
        // session still takes the next command.
        std::fs::remove_file(mine.join(".haul/lock")).unwrap();
        let info = crate::LockInfo {
            token: "mine".into(),
            ..crate::LockInfo::new(crate::Holder::current(), "t", "deploy".into())
        };
        let line = serde_json::to_string(&info).unwrap();
        let mut child = Command::new(shell[0])
            .args(&shell[1..])
            .args(["-c", "--", super::LOCK_HOLD, "haul", dir, &line, "@held", "mine", "keep"])
            .env("PATH", &path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut input = child.stdin.take().unwrap();
        let mut output = BufReader::new(child.stdout.take().unwrap());
        let mut until = |end: &str| {
            let mut said = String::new();
            while !said.lines().any(|l| l.starts_with(end)) {
                assert!(output.read_line(&mut said).unwrap() > 0, "{shell:?}: ended: {said}");
            }
            said
        };
        until("@held");
        let mv = format!("move\n{R2}\n{{}}\n");
        input.write_all(mv.as_bytes()).unwrap();
        let said = until("@moved");
        assert!(said.contains("@moved mine 10"), "{shell:?}: {said}");
        assert!(said.contains("has been held for a minute"), "{shell:?}: {said}");
        assert_eq!(live(&mine), format!("releases/{R1}"), "{shell:?}");
        std::fs::remove_file(mine.join(".haul/lock.guard")).unwrap();
        input.write_all(mv.as_bytes()).unwrap();
        let said = until("@moved");
        assert!(said.contains("@moved mine 0"), "{shell:?}: {said}");
        assert_eq!(live(&mine), format!("releases/{R2}"), "{shell:?}");
        input.write_all(b"release\n").unwrap();
        drop(input);
        assert!(child.wait().unwrap().success(), "{shell:?}");
        assert!(!mine.join(".haul/lock").exists(), "{shell:?}: released");
    }
}
