//! `haul content sync` between two environments of real `sshd` hosts
//! (`haul-testfleet`), each environment with a PostgreSQL server of its
//! own (`haul-testpg`): the dump streams from a host of `prod` through the
//! transforms here into a host of `stage`. Needs root, as CI runs.

mod common;

use common::Project;
use haul_testfleet::{Fleet, FleetOptions};
use haul_testpg::Postgres;
use std::process::Command;

/// Two hosts (`prod` is the first, `stage` the second), a database per
/// environment on a server of its own, and the project syncing it.
struct Setup {
    _fleet: Fleet,
    p: Project,
    prod: String,
    stage: String,
    _pg: (Postgres, Postgres),
}

const USERS: &str = "CREATE TABLE users (id int PRIMARY KEY, email text NOT NULL, name text NOT NULL);
INSERT INTO users VALUES (1, 'alice@example.com', 'Alice'), (2, 'bob@example.com', 'Bob'), (3, 'carol@example.com', 'Carol');";

/// The scrub: every email in the `users` data becomes `user<id>@example.invalid`.
const SCRUB: &str = r"sed -E '/^COPY public\.users /,/^\\\.$/ s/^([0-9]+)\t[^\t]*\t/\1\tuser\1@example.invalid\t/'";

/// The content syncs the project's ledger recorded, newest first.
fn recorded(p: &Project) -> Vec<haul_ledger::ContentSync> {
    let url = format!("sqlite://{}", p.path().join(".haul/ledger.db").display());
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        haul_ledger::Ledger::open(&url).await.unwrap().content_syncs(Some("app"), None, 10).await.unwrap()
    })
}

fn psql(url: &str, sql: &str) -> String {
    let out = Command::new("psql")
        .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql])
        .output()
        .expect("psql runs");
    assert!(out.status.success(), "{sql}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// `set` is the body of `[apps.app.content.db]` after its `kind`, with
/// `PROD` and `STAGE` standing for the two databases' URLs.
fn setup(set: &str) -> Setup {
    let fleet = Fleet::start(FleetOptions { hosts: 2, ..FleetOptions::default() }).expect("fleet starts");
    let pg = (Postgres::start().expect("prod's PostgreSQL"), Postgres::start().expect("stage's PostgreSQL"));
    let prod = pg.0.create_database("app").unwrap();
    let stage = pg.1.create_database("app").unwrap();
    psql(&prod, USERS);
    let set = set.replace("PROD", &prod).replace("STAGE", &stage);
    let body = format!(
        r#"[apps.app]
ship = "src"
shared = ["dumps/"]

[apps.app.content.db]
kind = "commands"
{set}

[environments.prod]
hosts = ["{h1}"]

[environments.stage]
hosts = ["{h2}"]
content = "prod"
"#,
        h1 = fleet.hosts[0].name,
        h2 = fleet.hosts[1].name
    );
    let p = Project::new(&fleet.haul_toml(&body));
    for env in ["prod", "stage"] {
        p.haul(&["deploy", "app", env]).ok();
    }
    Setup { _fleet: fleet, p, prod, stage, _pg: pg }
}

/// Export as a custom-format dump, scrub it as SQL here, import with psql.
fn set(import_extra: &str, snapshot: bool) -> String {
    let mut s = format!(
        r#"export = "pg_dump -Fc --no-owner -d 'PROD'"
transform = ["pg_restore --clean --if-exists --no-owner -f -", '''{SCRUB}''']
import = "{import_extra}psql -X -q -v ON_ERROR_STOP=1 -d 'STAGE'"
"#
    );
    if snapshot {
        s.push_str(
            "snapshot = \"pg_dump -Fc -d 'STAGE' > shared/dumps/before.dump\"\nrestore = \"pg_restore --clean --if-exists --no-owner -d 'STAGE' shared/dumps/before.dump\"\n",
        );
    }
    s
}

#[test]
fn a_database_streams_from_prod_into_stage_with_a_column_scrubbed() {
    let s = setup(&set("", false));
    let out = s.p.haul(&["content", "sync", "app", "--to", "stage"]).ok();
    assert!(out.stdout.starts_with("db: prod ("), "{}", out.stdout);
    assert_eq!(
        psql(&s.stage, "SELECT id, email, name FROM users ORDER BY id"),
        "1|user1@example.invalid|Alice\n2|user2@example.invalid|Bob\n3|user3@example.invalid|Carol"
    );
    // The source is read, never written.
    assert_eq!(psql(&s.prod, "SELECT email FROM users WHERE id = 1"), "alice@example.com");
    // Recorded: who, from, to, the bytes the import read and their digest.
    let r = recorded(&s.p);
    assert_eq!(r.len(), 1);
    assert_eq!((r[0].from_env.as_str(), r[0].to_env.as_str(), r[0].sets.as_str()), ("prod", "stage", "db"));
    assert_eq!(r[0].outcome, haul_ledger::ContentOutcome::Succeeded);
    assert!(r[0].bytes > 0);
    let digest = serde_json::from_str::<serde_json::Value>(&r[0].digests).unwrap()["db"].as_str().unwrap().to_string();
    assert!(out.stdout.contains(&format!("blake3 {digest}")), "{}", out.stdout);
}

#[test]
fn a_failed_import_is_restored_from_the_snapshot() {
    // The import takes the whole scrubbed dump (tables dropped and
    // recreated), then fails at its last statement.
    let s = setup(&set("{ cat; echo 'NOT SQL;'; } | ", true));
    psql(
        &s.stage,
        "CREATE TABLE users (id int PRIMARY KEY, email text, name text); INSERT INTO users VALUES (9, 'old@stage', 'Old')",
    );
    let out = s.p.haul(&["content", "sync", "app", "--to", "stage"]).fails(1);
    assert!(out.stderr.contains("content set `db`: import on h2 failed: exit code 3"), "{}", out.stderr);
    assert!(out.stderr.contains("environment `stage` (host h2) was restored from the snapshot"), "{}", out.stderr);
    assert_eq!(psql(&s.stage, "SELECT id, email, name FROM users ORDER BY id"), "9|old@stage|Old");
    let r = recorded(&s.p);
    assert_eq!(r[0].outcome, haul_ledger::ContentOutcome::Failed);
    assert!(r[0].error.as_deref().unwrap().contains("import on h2 failed"), "{:?}", r[0].error);
}

#[test]
fn a_failed_import_without_a_snapshot_says_the_target_may_be_partly_changed() {
    let s = setup(&set("{ cat; echo 'NOT SQL;'; } | ", false));
    let out = s.p.haul(&["content", "sync", "app", "--to", "stage"]).fails(1);
    assert!(out.stderr.contains("import on h2 failed"), "{}", out.stderr);
    assert!(
        out.stderr.contains("has no snapshot: environment `stage` (host h2) may be partly changed"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_killed_export_fails_the_sync_naming_the_export_and_restores() {
    // Part of a dump, then the export's shell is killed.
    let s = setup(&set("", true).replace(
        "export = \"pg_dump -Fc --no-owner -d 'PROD'\"",
        "export = \"pg_dump -Fc --no-owner -d 'PROD' | head -c 300; kill -KILL $$\"",
    ));
    psql(
        &s.stage,
        "CREATE TABLE users (id int PRIMARY KEY, email text, name text); INSERT INTO users VALUES (9, 'old@stage', 'Old')",
    );
    let out = s.p.haul(&["content", "sync", "app", "--to", "stage"]).fails(1);
    assert!(out.stderr.contains("content set `db`: export on h1 failed"), "{}", out.stderr);
    assert!(out.stderr.contains("restored from the snapshot"), "{}", out.stderr);
    assert_eq!(psql(&s.stage, "SELECT id, email, name FROM users ORDER BY id"), "9|old@stage|Old");
}

#[test]
fn a_protected_target_and_a_flow_against_the_content_source_are_refused() {
    let s = setup(&set("", false));
    let before = psql(&s.prod, "SELECT count(*) FROM users");
    // `stage` takes its content from `prod`: copying back is refused…
    let out = s.p.haul(&["content", "sync", "app", "--to", "prod", "--from", "stage"]).fails(2);
    assert!(out.stderr.contains("content flows from an environment's source only"), "{}", out.stderr);
    // …and `prod` is canonical, so protected: --reverse is not enough…
    let out = s.p.haul(&["content", "sync", "app", "--to", "prod", "--from", "stage", "--reverse"]).fails(2);
    assert!(out.stderr.contains("environment `prod` is protected"), "{}", out.stderr);
    // …nor --force without a reason, nor with an empty one.
    s.p.haul(&["content", "sync", "app", "--to", "prod", "--from", "stage", "--reverse", "--force"]).fails(2);
    let out = s
        .p
        .haul(&["content", "sync", "app", "--to", "prod", "--from", "stage", "--reverse", "--force", "--reason", " "])
        .fails(2);
    assert!(out.stderr.contains("is protected"), "{}", out.stderr);
    assert_eq!(psql(&s.prod, "SELECT count(*) FROM users"), before);
    assert_eq!(psql(&s.prod, "SELECT email FROM users WHERE id = 1"), "alice@example.com");
    // No source to default to.
    let out = s.p.haul(&["content", "sync", "app", "--to", "prod"]).fails(2);
    assert!(out.stderr.contains("is canonical for its content"), "{}", out.stderr);
}
