//! The gate on every way in: deploys, promotions and rollbacks, from the
//! CLI over a database and through a server's API, refuse what may not
//! enter an environment (a quarantined release, one that did not come from
//! upstream, a rollback over a running deployment), and a break-glass
//! (`--force --reason`, an `admin` token) goes ahead recorded as forced.
//! Also: the scopes a token needs, and `haul token new`.

mod common;

use common::http::json as http;
use common::{Project, Server, config, token};
use serde_json::Value;

fn history(p: &Project) -> Vec<Value> {
    p.haul(&["history", "--json"]).ok().json().as_array().unwrap().clone()
}

#[test]
fn deploy_into_an_environment_fed_by_another_is_refused_and_says_to_promote() {
    let p = Project::new(&common::pipeline(""));
    let out = p.haul(&["deploy", "app", "prod"]).fails(2);
    assert!(out.stderr.contains("environment `prod` takes its code from `staging`"), "{}", out.stderr);
    assert!(out.stderr.contains("(`haul promote app --to prod`)"), "{}", out.stderr);
    assert!(!out.stderr.contains("build"), "refused before building: {}", out.stderr);
    assert!(history(&p).is_empty() && p.live("b").is_none());

    // A release that never succeeded in staging is refused too, by the ledger.
    let v1 = p.haul(&["build", "app"]).ok().stdout.trim().to_string();
    let out = p.haul(&["deploy", "app", "prod", "--release", &v1]).fails(1);
    assert!(out.stderr.contains(&format!("release {v1} of app may not enter prod:")), "{}", out.stderr);
    assert!(out.stderr.contains("prod takes its code from staging, and"), "{}", out.stderr);
    assert!(p.live("b").is_none());

    // Once it succeeded there it may go (it meets prod's requirements: none).
    p.haul(&["deploy", "app", "staging", "--release", &v1]).ok();
    p.haul(&["deploy", "app", "prod", "--release", &v1]).ok();
    assert_eq!(p.live("b").as_deref(), Some(v1.as_str()));

    // Breaking glass: a fresh build straight into prod, recorded as forced.
    p.write("src/index.html", "hotfix");
    p.haul(&["deploy", "app", "prod", "--force", "--reason", "outage hotfix"]).ok();
    let d = &history(&p)[0];
    assert_eq!((d["env"].as_str(), d["reason"].as_str()), (Some("prod"), Some("outage hotfix")));
    assert!(d["forced"].as_str().unwrap().contains("never succeeded there"), "{d}");
    assert_ne!(p.live("b").as_deref(), Some(v1.as_str()));
    let out = p.haul(&["history", "app", "prod"]).ok();
    assert!(out.stdout.lines().nth(1).unwrap().contains("deploy (forced)"), "{}", out.stdout);
}

#[test]
fn force_without_a_reason_is_a_usage_error() {
    let p = Project::new(&config("", ""));
    let out = p.haul(&["deploy", "app", "test", "--force"]).fails(2);
    assert!(out.stderr.contains("--reason"), "{}", out.stderr);
    let out = p.haul(&["rollback", "app", "test", "--force", "--reason", " "]).fails(2);
    assert!(out.stderr.contains("--force needs a --reason"), "{}", out.stderr);
    assert!(history(&p).is_empty());
}

#[test]
fn rollback_to_a_quarantined_release_is_refused_and_a_plain_rollback_skips_it() {
    let p = Project::new(&config("", ""));
    let mut v = Vec::new();
    for i in 1..=3 {
        p.write("src/index.html", &format!("v{i}"));
        v.push(p.deploy());
    }
    p.haul(&["quarantine", "app", &v[1], "--reason", "corrupts uploads"]).ok();
    let out = p.haul(&["rollback", "app", "test", "--to", &v[1]]).fails(1);
    assert!(out.stderr.contains(&format!("release {} of app may not enter test:", v[1])), "{}", out.stderr);
    assert!(out.stderr.contains(": corrupts uploads\n(to go ahead anyway, break glass"), "{}", out.stderr);
    assert_eq!(p.live("a").as_deref(), Some(v[2].as_str()), "no host touched");

    // The previous release is quarantined: a plain rollback goes past it.
    let out = p.haul(&["rollback", "app", "test"]).ok();
    assert!(out.stderr.contains(&format!("rolled back app in test to {}", v[0])), "{}", out.stderr);
    assert_eq!((p.live("a"), p.live("b")), (Some(v[0].clone()), Some(v[0].clone())));
    let d = &history(&p)[0];
    assert_eq!((d["trigger"].as_str(), d["release"].as_str()), (Some("rollback"), Some(v[0].as_str())));
    assert!(d["forced"].is_null());

    // Breaking glass, the quarantined release goes live, recorded as forced.
    p.haul(&["rollback", "app", "test", "--to", &v[1], "--force", "--reason", "v1 is worse"]).ok();
    assert_eq!(p.live("a").as_deref(), Some(v[1].as_str()));
    let d = &history(&p)[0];
    assert_eq!((d["actor"].as_str(), d["reason"].as_str()), (Some("tester"), Some("v1 is worse")));
    assert!(d["forced"].as_str().unwrap().starts_with("quarantined by tester at "), "{d}");
}

#[test]
fn a_plain_rollback_with_only_quarantined_releases_behind_is_refused() {
    let p = Project::new(&config("", ""));
    let v1 = p.deploy();
    p.write("src/index.html", "v2");
    let v2 = p.deploy();
    p.haul(&["quarantine", "app", &v1, "--reason", "leaks"]).ok();
    let out = p.haul(&["rollback", "app", "test"]).fails(1);
    assert!(
        out.stderr.contains(&format!(
            "a: no release to roll back to: {v1}, the release before {v2}, is quarantined and no release before it \
             is left; name one with --to"
        )),
        "{}",
        out.stderr
    );
    assert_eq!(p.live("a").as_deref(), Some(v2.as_str()));
    assert_eq!(history(&p).len(), 2, "nothing recorded");
}

#[test]
fn a_failed_deploy_does_not_switch_back_to_a_quarantined_release() {
    let p = Project::new(&config("", "[apps.app.service]\nstart = [\"if [ -f broken ]; then exit 3; fi\"]\n"));
    let v1 = p.deploy();
    p.write("src/index.html", "v2");
    let v2 = p.deploy();
    p.haul(&["quarantine", "app", &v2, "--reason", "leaks"]).ok();
    p.write("src/broken", "");
    let out = p.haul(&["deploy", "app", "test", "--json"]).fails(1).report();
    let msg = out["message"].as_str().unwrap();
    assert!(msg.contains(&format!("a: switched back to {v1}")), "{msg}");
    assert_eq!(p.live("a").as_deref(), Some(v1.as_str()), "not {v2}, which is quarantined");

    // With nothing else left, the hosts stay where they are, and say why.
    let p = Project::new(&config("", "[apps.app.service]\nstart = [\"if [ -f broken ]; then exit 3; fi\"]\n"));
    let v1 = p.deploy();
    p.haul(&["quarantine", "app", &v1, "--reason", "leaks"]).ok();
    p.write("src/broken", "");
    let out = p.haul(&["deploy", "app", "test", "--json"]).fails(1).report();
    let msg = out["message"].as_str().unwrap();
    let v2 = out["release"].as_str().unwrap();
    assert!(
        msg.contains(&format!(
            "a: {v1}, which ran before, is quarantined and no release before it is left; left on {v2}"
        )),
        "{msg}"
    );
}

fn start_body(env: &str, release: &str, trigger: &str, extra: &str) -> String {
    format!(r#"{{"app":"app","env":"{env}","release":"{release}","trigger":"{trigger}","config_digest":"c"{extra}}}"#)
}

#[test]
fn the_api_gates_every_trigger_and_only_admin_breaks_glass() {
    let tokens = token("ci", "ci", &["deploy"]) + &token("root", "root", &["admin"]);
    let server_side = Project::new(&config("", &tokens));
    let server = Server::start(&server_side);
    let port = server.port;
    let client = Project::new(&config("", &format!("[ledger]\nurl = \"http://127.0.0.1:{port}\"\n")));
    let ci = [("HAUL_TOKEN", "ci")];
    let v1 = client.haul_env(&["deploy", "app", "test", "--json"], &ci).ok().report()["release"]
        .as_str()
        .unwrap()
        .to_string();
    client.write("src/index.html", "v2");
    let v2 = client.haul_env(&["deploy", "app", "test", "--json"], &ci).ok().report()["release"]
        .as_str()
        .unwrap()
        .to_string();

    // A deploy of a release the ledger never heard of: 404, as an unknown
    // deployment is.
    let never = "20200101T000000.000Z-000000000000";
    let (st, e) = http(port, "POST", "/api/v1/deployments", "ci", Some(&start_body("test", never, "deploy", "")));
    assert_eq!(st, 404, "{e}");
    assert!(e["error"]["message"].as_str().unwrap().contains("is not in the ledger"), "{e}");

    // A rollback to a quarantined release: 409, for the CLI too.
    let (st, _) = http(
        port,
        "POST",
        "/api/v1/quarantines",
        "root",
        Some(&format!(r#"{{"app":"app","release":"{v1}","reason":"corrupts uploads"}}"#)),
    );
    assert_eq!(st, 201);
    let (st, e) = http(port, "POST", "/api/v1/deployments", "ci", Some(&start_body("test", &v1, "rollback", "")));
    assert_eq!(st, 409, "{e}");
    assert!(e["error"]["refusals"][0].as_str().unwrap().starts_with("quarantined by root at "), "{e}");
    let out = client.haul_env(&["rollback", "app", "test", "--to", &v1], &ci).fails(1);
    assert!(out.stderr.contains("may not enter test:"), "{}", out.stderr);
    assert_eq!(client.live("a").as_deref(), Some(v2.as_str()));

    // Breaking glass needs `admin` and a reason.
    let forced = start_body("test", &v1, "rollback", r#","force":true,"reason":"v2 is worse""#);
    let (st, e) = http(port, "POST", "/api/v1/deployments", "ci", Some(&forced));
    assert_eq!(st, 403, "{e}");
    let out = client.haul_env(&["rollback", "app", "test", "--to", &v1, "--force", "--reason", "x"], &ci).fails(2);
    assert!(out.stderr.contains("token `ci` lacks the `admin` scope"), "{}", out.stderr);
    let (st, e) = http(
        port,
        "POST",
        "/api/v1/deployments",
        "root",
        Some(&start_body("test", &v1, "rollback", r#","force":true"#)),
    );
    assert_eq!(st, 422, "{e}");

    // A deployment left running: a rollback over it is a 409; forced, it
    // takes over, and the ledger and the audit log say so.
    let (st, running) = http(port, "POST", "/api/v1/deployments", "ci", Some(&start_body("test", &v2, "deploy", "")));
    assert_eq!(st, 201, "{running}");
    let (st, e) = http(port, "POST", "/api/v1/deployments", "ci", Some(&start_body("test", &v2, "rollback", "")));
    assert_eq!(st, 409, "{e}");
    assert!(e["error"]["message"].as_str().unwrap().contains("is still running in test"), "{e}");
    let (st, d) = http(port, "POST", "/api/v1/deployments", "root", Some(&forced));
    assert_eq!(st, 201, "{d}");
    let forced_text = d["forced"].as_str().unwrap();
    assert!(forced_text.starts_with("quarantined by root at "), "{d}");
    assert!(forced_text.contains(&format!("deployment {} (deploy of {v2} by ci, started ", running["id"])), "{d}");
    let (_, row) = http(port, "GET", &format!("/api/v1/deployments/{}", d["id"]), "root", None);
    let row = &row["deployment"];
    assert_eq!((row["actor"].as_str(), row["reason"].as_str()), (Some("root"), Some("v2 is worse")));
    assert_eq!(row["forced"], d["forced"]);
    let (_, old) = http(port, "GET", &format!("/api/v1/deployments/{}", running["id"]), "root", None);
    assert_eq!(old["deployment"]["status"], "failed");
    let (_, events) = http(port, "GET", "/api/v1/events?kinds=deployment.forced", "root", None);
    let ev = &events["items"][0];
    assert_eq!((ev["actor"].as_str(), ev["data"]["reason"].as_str()), (Some("root"), Some("v2 is worse")));
    assert_eq!(ev["data"]["id"], d["id"]);
}

#[test]
fn a_deploy_token_deploys_promotes_and_rolls_back_through_a_server_and_a_read_token_cannot() {
    let tokens = token("deployer", "deployer", &["deploy"])
        + &token("checker", "checker", &["verify"])
        + &token("boss", "boss", &["approve"])
        + &token("viewer", "viewer", &["read"]);
    let requires = "\n[environments.prod.requires]\nverifications = [\"smoke\"]\napprovals = 1\n\n";
    let server_side = Project::new(&common::pipeline(&format!("{requires}{tokens}")));
    let server = Server::start(&server_side);
    let port = server.port;
    let client = Project::new(&common::pipeline(&format!("[ledger]\nurl = \"http://127.0.0.1:{port}\"\n")));
    let as_ = |t: &'static str| [("HAUL_TOKEN", t)];

    let out = client.haul_env(&["deploy", "app", "staging"], &as_("viewer")).fails(2);
    assert!(out.stderr.contains("token `viewer` lacks the `deploy` scope"), "{}", out.stderr);
    assert!(client.live("a").is_none());

    let v1 = client.haul_env(&["deploy", "app", "staging", "--json"], &as_("deployer")).ok().report()["release"]
        .as_str()
        .unwrap()
        .to_string();
    client.haul_env(&["verify", "app", "staging", "--name", "smoke", "--result", "pass"], &as_("checker")).ok();
    client.haul_env(&["approve", "app", &v1, "--for", "prod"], &as_("boss")).ok();
    client.haul_env(&["promote", "app", "--to", "prod"], &as_("deployer")).ok();
    assert_eq!(client.live("b").as_deref(), Some(v1.as_str()));
    client.write("src/index.html", "v2");
    client.haul_env(&["deploy", "app", "staging"], &as_("deployer")).ok();
    client.haul_env(&["rollback", "app", "staging"], &as_("deployer")).ok();
    assert_eq!(client.live("a").as_deref(), Some(v1.as_str()));

    let (_, page) = http(port, "GET", "/api/v1/deployments?app=app", "viewer", None);
    let got: Vec<(&str, &str, &str)> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["env"].as_str().unwrap(), d["trigger"].as_str().unwrap(), d["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        got,
        [
            ("staging", "rollback", "succeeded"),
            ("staging", "deploy", "undone"),
            ("prod", "promote", "succeeded"),
            ("staging", "deploy", "succeeded")
        ]
    );
}

#[test]
fn a_new_token_pasted_into_haul_toml_lets_that_token_in_with_exactly_its_scopes() {
    let p = Project::new(&config("", ""));
    let out = p.haul(&["token", "new", "ci-bot", "--scopes", "read,verify"]).ok();
    let (secret, toml) = out.stdout.split_once('\n').unwrap();
    assert!(secret.starts_with("haul_") && secret.len() == 5 + 64, "{secret}");
    assert!(secret[5..].chars().all(|c| c.is_ascii_hexdigit()));
    assert!(!toml.contains(secret), "the secret itself is not in the config lines");
    let again = p.haul(&["token", "new", "ci-bot", "--scopes", "read", "--json"]).ok().json();
    assert_ne!(again["token"].as_str(), Some(secret), "every token is fresh");
    assert_eq!(again["sha256"].as_str().unwrap(), common::sha256(again["token"].as_str().unwrap()));
    assert_eq!(again["scopes"], serde_json::json!(["read"]));

    let server_side = Project::new(&format!("{}\n{}", config("", ""), toml.trim()));
    let server = Server::start(&server_side);
    let port = server.port;
    assert_eq!(http(port, "GET", "/api/v1/deployments", secret, None).0, 200);
    let (st, e) = http(port, "POST", "/api/v1/releases", secret, Some("{}"));
    assert_eq!(st, 403, "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("token `ci-bot` lacks the `deploy` scope (it has: read, verify)")
    );
    assert_eq!(http(port, "GET", "/api/v1/deployments", again["token"].as_str().unwrap(), None).0, 401);

    let out = p.haul(&["token", "new", "ci", "--scopes", "read,root"]).fails(2);
    assert!(out.stderr.contains("unknown scope `root`"), "{}", out.stderr);
    let out = p.haul(&["token", "new", "c\"i", "--scopes", "read"]).fails(2);
    assert!(out.stderr.contains("token name `c\"i`"), "{}", out.stderr);
}

#[test]
fn a_release_id_that_is_not_one_is_refused_by_the_api() {
    let tokens = token("ci", "ci", &["deploy"]);
    let server_side = Project::new(&config("", &tokens));
    let server = Server::start(&server_side);
    let port = server.port;
    for id in ["x; rm -rf / #aaaaaaaaaaaaaa", "../../../../etc/passwd", "<script>alert(1)</script>"] {
        let body = serde_json::json!({
            "app": "app", "id": id, "digest": "d", "built_by": "ci", "created": "2026-01-01T00:00:00Z",
            "files": 1, "bytes": 1,
        })
        .to_string();
        let (st, e) = http(port, "POST", "/api/v1/releases", "ci", Some(&body));
        assert_eq!(st, 422, "{id}: {e}");
        assert!(e["error"]["message"].as_str().unwrap().contains("release id"), "{e}");
        let start = serde_json::json!({"app":"app","env":"test","release":id,"trigger":"deploy","config_digest":"c"});
        let (st, e) = http(port, "POST", "/api/v1/deployments", "ci", Some(&start.to_string()));
        assert_eq!(st, 422, "{id}: {e}");
    }
}
