//! The store's primitives on `file://` and on a real S3 server: create-if-
//! absent, bounded reads, conditional reads, the start-up overwrite check,
//! agents' reports; and an S3 server that overwrites, refused.

mod common;

use bytes::Bytes;
use common::{Backend, Fixture};
use haul_store::reports::{self, AgentPhase, AgentReport, Reporters};
use haul_store::{Created, Fetched, Store, StoreError, StoreOptions};

backends!(
    create_twice_keeps_the_first,
    two_creators_at_once_one_wins,
    a_huge_object_is_refused_by_max,
    an_unchanged_object_costs_no_body,
    the_store_refuses_overwrites,
    reports_round_trip,
    odd_report_names_are_refused,
    an_unreadable_report_is_named,
    a_report_under_another_hosts_key_is_refused,
    a_hostile_report_reads_back_as_plain_text,
    sealed_reports_are_taken_with_a_listed_key_only,
    a_blessing_signature_is_no_report_seal,
    read_each_names_a_forged_report_and_keeps_the_others,
);

async fn create_twice_keeps_the_first(b: Backend) {
    let f = Fixture::new(b);
    assert_eq!(f.store.create("claims/a/e/x/migrate", Bytes::from_static(b"one")).await.unwrap(), Created::New);
    assert_eq!(f.store.create("claims/a/e/x/migrate", Bytes::from_static(b"two")).await.unwrap(), Created::Exists);
    assert_eq!(f.store.get("claims/a/e/x/migrate", 10).await.unwrap().unwrap(), "one");
}

async fn two_creators_at_once_one_wins(b: Backend) {
    let f = Fixture::new(b);
    let stores: Vec<Store> = (0..8).map(|_| f.reopen()).collect();
    let tries = stores
        .iter()
        .enumerate()
        .map(|(i, s)| s.create("blessings/a/e/00000000000000000002.json", Bytes::from(i.to_string())));
    let results = futures_util::future::join_all(tries).await;
    let won: Vec<usize> =
        results.iter().enumerate().filter(|(_, r)| *r.as_ref().unwrap() == Created::New).map(|(i, _)| i).collect();
    assert_eq!(won.len(), 1, "{results:?}");
    let stored = f.store.get("blessings/a/e/00000000000000000002.json", 10).await.unwrap().unwrap();
    assert_eq!(stored, won[0].to_string());
}

async fn a_huge_object_is_refused_by_max(b: Backend) {
    let f = Fixture::new(b);
    f.store.overwrite("reports/a/e/h.json", Bytes::from(vec![b' '; 100_000])).await.unwrap();
    let e = f.store.get("reports/a/e/h.json", 1000).await.unwrap_err();
    assert!(matches!(e, StoreError::TooLarge { size: 100_000, max: 1000, .. }), "{e}");
    assert!(f.store.get("reports/a/e/h.json", 100_000).await.unwrap().is_some());
    assert_eq!(f.store.get("reports/a/e/missing.json", 1000).await.unwrap(), None);
}

async fn an_unchanged_object_costs_no_body(b: Backend) {
    let f = Fixture::new(b);
    f.store.overwrite("blessings/a/e/latest", Bytes::from_static(b"v1")).await.unwrap();
    let Fetched::Body { bytes, etag } = f.store.fetch("blessings/a/e/latest", None, 100).await.unwrap() else {
        panic!("missing")
    };
    assert_eq!(bytes, "v1");
    let etag = etag.expect("an entity tag");
    assert_eq!(f.store.fetch("blessings/a/e/latest", Some(&etag), 100).await.unwrap(), Fetched::Unchanged);
    f.store.overwrite("blessings/a/e/latest", Bytes::from_static(b"v2 longer")).await.unwrap();
    let Fetched::Body { bytes, .. } = f.store.fetch("blessings/a/e/latest", Some(&etag), 100).await.unwrap() else {
        panic!("a changed object came back unchanged")
    };
    assert_eq!(bytes, "v2 longer");
}

async fn the_store_refuses_overwrites(b: Backend) {
    let f = Fixture::new(b);
    f.store.check_refuses_overwrite().await.unwrap();
    // The probe leaves nothing behind.
    assert_eq!(f.store.list_keys("probes/").await.unwrap(), Vec::<String>::new());
}

fn report(host: &str) -> AgentReport {
    AgentReport {
        host: host.into(),
        app: "web".into(),
        env: "prod".into(),
        roles: vec!["app".into()],
        labels: [("zone".to_string(), "eu-1".to_string())].into(),
        wave: Some(1),
        blessing: Some(7),
        release: Some("20261202T040000.000Z-0123456789ab".into()),
        live: None,
        phase: AgentPhase::Waiting,
        error: None,
        steps: vec![],
        at: jiff::Timestamp::now(),
        agent: "0.1.0".into(),
    }
}

async fn reports_round_trip(b: Backend) {
    let f = Fixture::new(b);
    let (one, two) = (report("web-2"), report("web-1"));
    reports::write(&f.store, &one, None).await.unwrap();
    reports::write(&f.store, &two, None).await.unwrap();
    let mut newer = one.clone();
    newer.phase = AgentPhase::Live;
    newer.live = newer.release.clone();
    reports::write(&f.store, &newer, None).await.unwrap();
    assert_eq!(reports::read_all(&f.store, "web", "prod", &Reporters::Anyone).await.unwrap(), vec![two, newer]);
    assert_eq!(reports::read_all(&f.store, "web", "staging", &Reporters::Anyone).await.unwrap(), vec![]);
}

async fn odd_report_names_are_refused(b: Backend) {
    let f = Fixture::new(b);
    for host in ["../prod/x", "a/b", "", ".", "..", "h\n"] {
        let mut r = report("h");
        r.host = host.into();
        assert!(reports::write(&f.store, &r, None).await.is_err(), "{host:?}");
    }
    assert!(reports::read_all(&f.store, "web/../x", "prod", &Reporters::Anyone).await.is_err());
    assert_eq!(f.store.list_keys("").await.unwrap(), Vec::<String>::new());
}

async fn an_unreadable_report_is_named(b: Backend) {
    let f = Fixture::new(b);
    f.store.overwrite("reports/web/prod/h.json", Bytes::from_static(b"{not json")).await.unwrap();
    let e = reports::read_all(&f.store, "web", "prod", &Reporters::Anyone).await.unwrap_err();
    assert!(matches!(&e, StoreError::Corrupt { key, .. } if key == "reports/web/prod/h.json"), "{e}");
}

async fn a_report_under_another_hosts_key_is_refused(b: Backend) {
    let f = Fixture::new(b);
    let body = serde_json::to_vec(&report("web-1")).unwrap();
    f.store.overwrite("reports/web/prod/web-2.json", Bytes::from(body.clone())).await.unwrap();
    let e = reports::read_all(&f.store, "web", "prod", &Reporters::Anyone).await.unwrap_err();
    assert!(matches!(&e, StoreError::Corrupt { key, .. } if key == "reports/web/prod/web-2.json"), "{e}");
    // Nor under another environment's.
    f.store.delete("reports/web/prod/web-2.json").await.unwrap();
    f.store.overwrite("reports/web/staging/web-1.json", Bytes::from(body)).await.unwrap();
    assert!(reports::read_all(&f.store, "web", "staging", &Reporters::Anyone).await.is_err());
}

/// npm's s3rver ignores `If-None-Match`: a second create silently replaces
/// the first. It is a real S3 server that overwrites, which is exactly what
/// the start-up check exists to refuse.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_overwrites_is_refused() {
    let server = haul_tests3::OverwritingS3::start();
    let store = Store::open_with(&server.url("pull"), &StoreOptions::default(), server.env()).unwrap();
    // The server works: plain writes and reads go through.
    store.overwrite("x", Bytes::from_static(b"hello")).await.unwrap();
    assert_eq!(store.get("x", 10).await.unwrap().unwrap(), "hello");
    let e = store.check_refuses_overwrite().await.unwrap_err();
    assert!(matches!(e, StoreError::Overwrites { .. }), "{e}");
    assert!(e.to_string().contains(&server.url("pull")), "{e}");
    assert_eq!(store.list_keys("probes/").await.unwrap(), Vec::<String>::new());
}

/// The endpoint given to haul wins over `AWS_ENDPOINT`; credentials come
/// from the variables.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn options_win_over_the_environment() {
    let server = haul_tests3::S3Server::start();
    let mut env = server.env();
    for (k, v) in &mut env {
        if k == "AWS_ENDPOINT" {
            *v = "http://127.0.0.1:9".into();
        }
    }
    let wrong = Store::open_with(&server.url("x"), &StoreOptions::default(), env.clone()).unwrap();
    assert!(wrong.get("k", 10).await.is_err(), "the variables' endpoint is used without options");
    let options = StoreOptions {
        endpoint: Some(server.endpoint()),
        region: Some("eu-west-1".into()),
        allow_http: true,
        ..Default::default()
    };
    let right = Store::open_with(&server.url("x"), &options, env).unwrap();
    right.overwrite("k", Bytes::from_static(b"v")).await.unwrap();
    assert_eq!(right.get("k", 10).await.unwrap().unwrap(), "v");
    // Plain HTTP is refused unless allowed.
    let env: Vec<_> = server.env().into_iter().filter(|(k, _)| k != "AWS_ALLOW_HTTP").collect();
    let options = StoreOptions { endpoint: Some(server.endpoint()), ..Default::default() };
    let https_only = Store::open_with(&server.url("x"), &options, env).unwrap();
    assert!(https_only.get("k", 10).await.is_err());
}

/// Whoever can write the store can write a report: its texts read back
/// plain (no terminal escapes, no carriage return overwriting a line,
/// bounded), and a parse error quoting it is plain too.
async fn a_hostile_report_reads_back_as_plain_text(b: Backend) {
    let f = Fixture::new(b);
    let mut r = report("web-1");
    r.error = Some(format!("\u{1b}]0;owned\u{7}\u{1b}[2Jfailed\r\nline two\t{}", "x".repeat(100_000)));
    r.agent = "0.1\u{1b}[31m".into();
    r.roles = vec!["app\u{9b}".into()];
    r.labels.insert("zone\u{1b}".into(), "eu\rwest".into());
    reports::write(&f.store, &r, None).await.unwrap();
    let read = reports::read_all(&f.store, "web", "prod", &Reporters::Anyone).await.unwrap();
    let error = read[0].error.as_deref().unwrap();
    assert!(error.starts_with("\u{FFFD}]0;owned\u{FFFD}\u{FFFD}[2Jfailed\u{FFFD}\nline two\tx"), "{:?}", &error[..40]);
    assert_eq!(error.chars().count(), 16 * 1024);
    assert_eq!(read[0].agent, "0.1\u{FFFD}[31m");
    assert_eq!(read[0].roles, ["app\u{FFFD}"]);
    assert_eq!(read[0].labels.get("zone\u{FFFD}").map(String::as_str), Some("eu\u{FFFD}west"));
    let text =
        serde_json::to_string(&report("web-2")).unwrap().replace("\"phase\":\"waiting\"", "\"phase\":\"\\u001b[2J\"");
    f.store.overwrite("reports/web/prod/web-2.json", Bytes::from(text)).await.unwrap();
    let e = reports::read_all(&f.store, "web", "prod", &Reporters::Anyone).await.unwrap_err().to_string();
    assert!(!e.contains('\u{1b}') && e.contains("unknown variant"), "{e:?}");
}

async fn sealed_reports_are_taken_with_a_listed_key_only(b: Backend) {
    let f = Fixture::new(b);
    let (agents, other) = (haul_bless::SecretKey::generate("agents"), haul_bless::SecretKey::generate("other"));
    let listed = Reporters::of(vec![agents.public()]);
    let r = report("web-1");
    reports::write(&f.store, &r, Some(&agents)).await.unwrap();
    assert_eq!(reports::read_all(&f.store, "web", "prod", &listed).await.unwrap(), vec![r.clone()]);
    // An environment with no report keys reads it too.
    assert_eq!(reports::read_all(&f.store, "web", "prod", &Reporters::Anyone).await.unwrap(), vec![r.clone()]);
    // Sealed by a key not listed, or not sealed at all: refused, named.
    let only_other = Reporters::of(vec![other.public()]);
    let e = reports::read_all(&f.store, "web", "prod", &only_other).await.unwrap_err().to_string();
    assert!(e.contains("reports/web/prod/web-1.json") && e.contains("no report key"), "{e}");
    reports::write(&f.store, &r, None).await.unwrap();
    let e = reports::read_all(&f.store, "web", "prod", &listed).await.unwrap_err().to_string();
    assert!(e.contains("not sealed"), "{e}");
    // A seal still checks the host of its key: a sealed report of web-1
    // put under web-2 speaks for no one.
    let sealed = reports::sealed(serde_json::to_vec(&r).unwrap(), Some(&agents));
    f.store.delete("reports/web/prod/web-1.json").await.unwrap();
    f.store.overwrite("reports/web/prod/web-2.json", sealed).await.unwrap();
    assert!(reports::read_all(&f.store, "web", "prod", &listed).await.is_err());
}

async fn a_blessing_signature_is_no_report_seal(b: Backend) {
    let f = Fixture::new(b);
    let agents = haul_bless::SecretKey::generate("agents");
    // The same key's signature, made as a blessing's (another context).
    let json = serde_json::to_vec(&report("web-1")).unwrap();
    let signed = haul_bless::Envelope::sign_json(json, &[&agents]);
    f.store.overwrite("reports/web/prod/web-1.json", Bytes::from(signed.to_bytes())).await.unwrap();
    let e = reports::read_all(&f.store, "web", "prod", &Reporters::of(vec![agents.public()])).await.unwrap_err();
    assert!(e.to_string().contains("does not verify"), "{e}");
}

async fn read_each_names_a_forged_report_and_keeps_the_others(b: Backend) {
    let f = Fixture::new(b);
    let agents = haul_bless::SecretKey::generate("agents");
    let listed = Reporters::of(vec![agents.public()]);
    reports::write(&f.store, &report("web-1"), Some(&agents)).await.unwrap();
    reports::write(&f.store, &report("web-2"), None).await.unwrap();
    let read = reports::read_each(&f.store, "web", "prod", &listed).await.unwrap();
    assert_eq!(read.reports, vec![report_at("web-1", &read.reports)]);
    assert_eq!(read.problems.len(), 1);
    assert!(read.problems[0].to_string().starts_with("reports/web/prod/web-2.json: "), "{}", read.problems[0]);
}

/// The report of `host` among `read` (its time is the one written).
fn report_at(host: &str, read: &[AgentReport]) -> AgentReport {
    let mut r = report(host);
    r.at = read.iter().find(|x| x.host == host).expect("read").at;
    r
}

#[test]
fn a_blessing_whose_report_key_cannot_be_read_believes_no_one() {
    let now = jiff::Timestamp::now();
    let mut b = haul_bless::Blessing {
        format: haul_bless::FORMAT,
        app: "web".into(),
        env: "prod".into(),
        version: 1,
        release: haul_release::ReleaseId::parse("20261202T040000.000Z-0123456789ab").unwrap(),
        archive: haul_bless::ArchiveRef { blake3: "a".repeat(64), size: 1 },
        record: haul_bless::ArchiveRef { blake3: "b".repeat(64), size: 1 },
        previous: None,
        waves: vec![],
        steps: haul_bless::Steps::default(),
        issued: now,
        expires: now,
        by: "alice".into(),
        reason: None,
        deployment: None,
        report_keys: vec![],
    };
    let plain = serde_json::to_vec(&report("web-1")).unwrap();
    assert!(Reporters::of_blessing(&b).open(&plain).is_ok(), "no report keys: anyone speaks");
    b.report_keys = vec!["not a key".into()];
    let e = Reporters::of_blessing(&b).open(&plain).unwrap_err();
    assert!(e.contains("not sealed"), "{e}");
    let agents = haul_bless::SecretKey::generate("agents");
    let sealed = reports::sealed(plain, Some(&agents));
    assert!(Reporters::of_blessing(&b).open(&sealed).is_err(), "a key that cannot be read lets no seal through");
}
