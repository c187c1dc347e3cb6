//! Secret files pushed to a fleet of real `sshd` hosts: written before the
//! switch with their mode and owner, whole or not at all, a failing source
//! stopping the deploy before any host changes, and no value anywhere haul
//! prints or keeps. Needs root, as CI runs.

mod common;

use common::Project;
use common::fleet::on;
use haul_testfleet::{Fleet, FleetOptions};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

const FILE_VALUE: &str = "DB_PASSWORD=file-Vx7q2\nDB_USER=app\n";
const ENV_VALUE: &str = "env-Kd81m-token";
/// The command prints this (assembled by `printf`, so the text is in no
/// argument), a NUL and bytes that are not UTF-8.
const CMD_VALUE: &[u8] = b"cmd-Qz40p\n\0\xff\xfe";
const CMD: &str = r#"["sh", "-c", "printf 'cmd-%s\\n\\000\\377\\376' Qz40p"]"#;

fn setup(n: usize, command: &str) -> (Fleet, Project) {
    let fleet = Fleet::start(FleetOptions { hosts: n, ..FleetOptions::default() }).expect("fleet starts");
    let app = format!(
        r#"shared = ["config/"]
# Build steps do not see the variables secrets are read from: were this
# one to, the value would be in the release, where the leak test looks.
build = ["printenv APP_TOKEN > src/build-env.txt || true"]

[apps.app.migrate]
# Runs before the switch, in the new release: the secrets are there.
per_host = ["test -f ../../shared/.env && test -f ../../shared/config/token"]

[apps.app.secrets.".env"]
from.prod = {{ file = "secrets/prod.env" }}

[apps.app.secrets."config/token"]
from.prod = {{ env = "APP_TOKEN" }}
mode = "0640"
owner = "nobody"

[apps.app.secrets."config/bin.key"]
from.prod = {{ command = {command} }}
"#
    );
    let p = common::fleet::project(&fleet, &app, "");
    p.write("secrets/prod.env", FILE_VALUE);
    (fleet, p)
}

fn haul(p: &Project, args: &[&str]) -> common::Out {
    p.haul_env(args, &[("APP_TOKEN", ENV_VALUE)])
}

/// Every file under `dir`, read whole (the ledger, the release cache, a
/// host's `.haul` and releases).
fn all_bytes(dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        let path = e.path();
        let t = e.file_type().unwrap();
        if t.is_dir() {
            all_bytes(&path, out);
        } else if t.is_file() {
            out.push((path.display().to_string(), std::fs::read(&path).unwrap()));
        }
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn secrets_are_written_before_the_switch_and_appear_nowhere_else() {
    let (fleet, p) = setup(2, CMD);
    let plan = haul(&p, &["plan", "app", "prod"]).ok();
    assert!(
        plan.stdout.contains("write secret files shared/.env, shared/config/bin.key, shared/config/token"),
        "{}",
        plan.stdout
    );
    let plan_json = haul(&p, &["plan", "app", "prod", "--json"]).ok();
    let deploy = haul(&p, &["deploy", "app", "prod", "--json"]).ok();
    assert_eq!(deploy.report()["ok"], true, "{}", deploy.stdout);
    for i in 0..2 {
        let shared = |f: &str| on(&fleet, i, &format!("/srv/app/shared/{f}"));
        assert_eq!(std::fs::read_to_string(shared(".env")).unwrap(), FILE_VALUE);
        assert_eq!(std::fs::read_to_string(shared("config/token")).unwrap(), ENV_VALUE);
        assert_eq!(std::fs::read(shared("config/bin.key")).unwrap(), CMD_VALUE);
        let (env, token) =
            (std::fs::metadata(shared(".env")).unwrap(), std::fs::metadata(shared("config/token")).unwrap());
        assert_eq!(env.mode() & 0o7777, 0o600);
        assert_eq!(token.mode() & 0o7777, 0o640);
        assert_eq!(token.uid(), 65534, "owned by nobody");
        // The release reads them through its shared link.
        assert_eq!(std::fs::read_to_string(on(&fleet, i, "/srv/app/current/config/token")).unwrap(), ENV_VALUE);
    }
    let push = haul(&p, &["secrets", "push", "app", "prod"]).ok();
    assert!(
        push.stdout.contains("h1: wrote shared/.env, shared/config/bin.key, shared/config/token"),
        "{}",
        push.stdout
    );
    let push_json = haul(&p, &["secrets", "push", "app", "prod", "--json"]).ok();
    let status = haul(&p, &["status", "app", "prod", "--json"]).ok();
    let history = haul(&p, &["history", "--json"]).ok();

    let mut places: Vec<(String, Vec<u8>)> = Vec::new();
    for (what, o) in [
        ("plan", &plan),
        ("plan --json", &plan_json),
        ("deploy --json", &deploy),
        ("secrets push", &push),
        ("secrets push --json", &push_json),
        ("status --json", &status),
        ("history --json", &history),
    ] {
        places.push((format!("{what} stdout"), o.stdout.clone().into_bytes()));
        places.push((format!("{what} stderr"), o.stderr.clone().into_bytes()));
    }
    // The ledger (with its journal), the release cache, and on every host
    // everything but the secret files themselves.
    all_bytes(&p.path().join(".haul"), &mut places);
    for i in 0..2 {
        all_bytes(&on(&fleet, i, "/srv/app/.haul"), &mut places);
        all_bytes(&on(&fleet, i, "/srv/app/releases"), &mut places);
    }
    assert!(places.iter().any(|(p, _)| p.ends_with("ledger.db")), "the ledger is searched");
    assert!(places.iter().any(|(p, _)| p.contains("/releases/")), "the release cache is searched");
    for needle in [FILE_VALUE.as_bytes(), b"file-Vx7q2", ENV_VALUE.as_bytes(), CMD_VALUE, b"cmd-Qz40p"] {
        for (place, bytes) in &places {
            assert!(!contains(bytes, needle), "{:?} found in {place}", String::from_utf8_lossy(needle));
        }
    }
}

#[test]
fn a_failing_source_stops_the_deploy_before_any_host_changes() {
    let (fleet, p) = setup(2, CMD);
    let first = common::report(&haul(&p, &["deploy", "app", "prod", "--json"]).ok().stdout);
    let v1 = first["release"].as_str().unwrap().to_string();
    let before = std::fs::read(on(&fleet, 0, "/srv/app/shared/config/bin.key")).unwrap();

    // The source now fails, printing on its error output what might be
    // part of the secret.
    let toml = std::fs::read_to_string(p.path().join("haul.toml"))
        .unwrap()
        .replace(CMD, r#"["sh", "-c", "echo 'partial: stderr-Lw92c' >&2; exit 3"]"#);
    p.write("haul.toml", &toml);
    p.write("src/index.html", "<h1>v2</h1>\n");
    let out = haul(&p, &["deploy", "app", "prod"]).fails(1);
    let err = out.stderr.trim_end();
    assert!(
        err.contains(
            "secret file `config/bin.key` of app `app` in environment `prod`: command `sh` failed with exit status 3"
        ),
        "{err}"
    );
    assert!(err.contains("not shown, as it may hold the secret"), "{err}");
    assert!(err.contains("nothing was changed on any host"), "{err}");
    assert!(!out.stderr.contains("stderr-Lw92c") && !out.stdout.contains("stderr-Lw92c"), "{err}");
    for i in 0..2 {
        assert_eq!(common::fleet::live(&fleet, i).as_deref(), Some(v1.as_str()), "still the old release");
        let releases = std::fs::read_dir(on(&fleet, i, "/srv/app/releases")).unwrap().count();
        assert_eq!(releases, 2, "one release and its record: nothing new was staged");
        assert!(!on(&fleet, i, "/srv/app/.haul/lock").exists(), "no lock left");
    }
    assert_eq!(std::fs::read(on(&fleet, 0, "/srv/app/shared/config/bin.key")).unwrap(), before);
    let push = haul(&p, &["secrets", "push", "app", "prod"]).fails(1);
    assert!(push.stderr.contains("exit status 3") && !push.stderr.contains("stderr-Lw92c"), "{}", push.stderr);
}

/// While `haul secrets push` replaces a large secret again and again, a
/// reader on the host only ever sees one whole value or the other.
#[test]
fn a_reader_never_sees_part_of_a_secret() {
    let (fleet, p) = setup(1, CMD);
    const N: usize = 900 * 1024;
    let values = [vec![b'a'; N], vec![b'b'; N]];
    p.write("secrets/prod.env", std::str::from_utf8(&values[0]).unwrap());
    haul(&p, &["secrets", "push", "app", "prod"]).ok();
    let file = on(&fleet, 0, "/srv/app/shared/.env");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = std::thread::spawn({
        let (file, stop, values) = (file.clone(), stop.clone(), values.clone());
        move || {
            let mut reads = 0;
            let mut seen = [false, false];
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let got = std::fs::read(&file).unwrap();
                let which = values.iter().position(|v| *v == got);
                assert!(which.is_some(), "read {} bytes that are neither value", got.len());
                seen[which.unwrap()] = true;
                reads += 1;
            }
            (reads, seen)
        }
    });
    for round in 1..=6 {
        p.write("secrets/prod.env", std::str::from_utf8(&values[round % 2]).unwrap());
        haul(&p, &["secrets", "push", "app", "prod"]).ok();
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let (reads, seen) = reader.join().unwrap();
    assert!(reads > 10 && seen == [true, true], "{reads} reads, saw {seen:?}");
    let left: Vec<_> =
        std::fs::read_dir(on(&fleet, 0, "/srv/app/shared")).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(!left.iter().any(|n| n.to_string_lossy().contains("haul-secret")), "{left:?}");
}

/// `haul status` says, per host and file, whether what the host was last
/// given is what the source gives now, from the ledger's keyed digests.
#[test]
fn status_shows_a_secret_that_differs_from_its_source() {
    let (_fleet, p) = setup(2, CMD);
    let states = |p: &Project| -> Vec<(String, String, String)> {
        let out = haul(p, &["status", "app", "prod", "--json"]).ok().json();
        let mut v = Vec::new();
        for row in out.as_array().unwrap() {
            for f in row["secrets"].as_array().unwrap_or_else(|| panic!("{row}")) {
                v.push((
                    row["host"].as_str().unwrap().to_string(),
                    f["path"].as_str().unwrap().to_string(),
                    f["state"].as_str().unwrap().to_string(),
                ));
            }
        }
        v
    };
    let all = |state: &str| -> Vec<(String, String, String)> {
        ["h1", "h2"]
            .iter()
            .flat_map(|h| {
                [".env", "config/bin.key", "config/token"].map(|f| (h.to_string(), f.to_string(), state.to_string()))
            })
            .collect()
    };
    assert_eq!(states(&p), all("unrecorded"), "nothing written yet");
    haul(&p, &["deploy", "app", "prod"]).ok();
    assert_eq!(states(&p), all("same"));

    p.write("secrets/prod.env", "DB_PASSWORD=rotated\n");
    let mut want = all("same");
    for w in want.iter_mut().filter(|w| w.1 == ".env") {
        w.2 = "differs".into();
    }
    assert_eq!(states(&p), want);
    let text = haul(&p, &["status", "app", "prod"]).ok();
    assert!(text.stdout.contains("secrets: .env differs"), "{}", text.stdout);

    // A push to one host makes that one the same again.
    haul(&p, &["secrets", "push", "app", "prod", "--hosts", "h1"]).ok();
    for w in want.iter_mut().filter(|w| w.0 == "h1") {
        w.2 = "same".into();
    }
    assert_eq!(states(&p), want);

    // A source that cannot be read now is said, for every host, without
    // failing the status of everything else.
    let out = p.haul(&["status", "app", "prod", "--json"]).ok().json();
    assert!(
        out[0]["secrets"]["error"].as_str().unwrap().contains("environment variable `APP_TOKEN` is not set"),
        "{out}"
    );
}
