//! `haul pipeline`: every environment in promotion order with what it runs,
//! what waits to enter it and what that lacks, and the DORA measures; the
//! same reading over a database, through `haul server`'s JSON route and on
//! its dashboard page. And `haul promote --to GROUP`: each member in order,
//! stopping at the first that fails.

mod common;

use common::http::{json, text};
use common::{Project, Server, pipeline, token};
use serde_json::Value;

fn stage<'a>(p: &'a Value, env: &str) -> &'a Value {
    p["environments"].as_array().unwrap().iter().find(|s| s["env"] == env).unwrap_or_else(|| panic!("{env}: {p}"))
}

fn release(p: &Project, env: &str) -> String {
    p.haul(&["deploy", "app", env, "--json"]).ok().report()["release"].as_str().unwrap().to_string()
}

#[test]
fn the_pipeline_shows_what_runs_where_what_waits_and_what_it_lacks() {
    let p = Project::new(&pipeline("[environments.prod.requires]\nverifications = [\"smoke\"]"));
    let empty = p.haul(&["pipeline", "app", "--json"]).ok().json();
    let order: Vec<&str> =
        empty["environments"].as_array().unwrap().iter().map(|s| s["env"].as_str().unwrap()).collect();
    assert_eq!(order, ["staging", "prod"], "promotion order");
    assert!(stage(&empty, "prod")["live"].is_null() && stage(&empty, "prod")["waiting"].is_null(), "{empty}");

    let v1 = release(&p, "staging");
    let got = p.haul(&["pipeline", "app", "--json"]).ok().json();
    let (staging, prod) = (stage(&got, "staging"), stage(&got, "prod"));
    assert_eq!(staging["live"]["release"], v1.as_str());
    assert_eq!(staging["live"]["verified"], "none");
    assert!(staging["upstream"].is_null() && staging["waiting"].is_null(), "{staging}");
    assert_eq!((staging["dora"]["changes"].as_u64(), staging["dora"]["went_live"].as_u64()), (Some(1), Some(1)));
    assert_eq!(staging["dora"]["change_failure_rate"], 0.0);
    assert!(staging["dora"]["lead_time_s"].as_f64().is_some_and(|s| s >= 0.0), "{staging}");
    assert_eq!(prod["upstream"], "staging");
    assert_eq!(
        (prod["waiting"]["release"].as_str(), prod["waiting"]["qualifies"].as_bool()),
        (Some(v1.as_str()), Some(false))
    );
    let lacks = prod["waiting"]["lacks"].as_array().unwrap();
    assert_eq!(lacks.len(), 1, "{prod}");
    assert!(lacks[0].as_str().unwrap().contains("verification `smoke` has not been reported"), "{prod}");
    assert!(prod["promotable"].is_null() && prod["dora"]["changes"] == 0, "{prod}");
    assert!(prod["dora"]["lead_time_s"].is_null(), "nothing is claimed of nothing: {prod}");

    // The text says the same, with what is missing.
    let out = p.haul(&["pipeline", "app"]).ok().stdout;
    assert!(out.contains(&format!("  waiting  {v1} (upstream deployment 1): blocked\n")), "{out}");
    assert!(out.contains("           - verification `smoke` has not been reported on deployment 1\n"), "{out}");
    assert!(out.find("staging  (builds").unwrap() < out.find("prod  (code from staging").unwrap(), "{out}");

    // Verified: it qualifies, promote would take it; promoted: nothing waits.
    p.haul(&["verify", "app", "staging", "--name", "smoke", "--result", "pass"]).ok();
    let got = p.haul(&["pipeline", "app", "--json"]).ok().json();
    assert_eq!(stage(&got, "staging")["live"]["verified"], "passed");
    assert_eq!(stage(&got, "prod")["waiting"]["qualifies"], true);
    assert_eq!(stage(&got, "prod")["promotable"], v1.as_str());
    p.haul(&["promote", "app", "--to", "prod"]).ok();
    let got = p.haul(&["pipeline", "app", "--json"]).ok().json();
    let prod = stage(&got, "prod");
    assert_eq!(prod["live"]["release"], v1.as_str());
    assert!(prod["waiting"].is_null() && prod["promotable"].is_null(), "{prod}");
    assert_eq!(prod["dora"]["went_live"], 1);

    // A failed change and its restoration count.
    p.write("src/index.html", "v2");
    p.write("haul.toml", &pipeline("[environments.prod.requires]\nverifications = [\"smoke\"]").replace(
        "[environments.staging]\n",
        "[apps.app.service]\nstart = [\"if [ -f broken ]; then exit 3; fi\"]\n\n[environments.staging]\nfailure = \"halt\"\n",
    ));
    p.write("src/broken", "");
    p.haul(&["deploy", "app", "staging"]).fails(1);
    std::fs::remove_file(p.path().join("src/broken")).unwrap();
    release(&p, "staging");
    let d = &stage(&p.haul(&["pipeline", "app", "--json"]).ok().json(), "staging")["dora"].clone();
    assert_eq!(
        (d["changes"].as_u64(), d["failures"].as_u64(), d["unrestored"].as_u64()),
        (Some(3), Some(1), Some(0)),
        "{d}"
    );
    assert!(d["time_to_restore_s"].as_f64().is_some(), "{d}");

    let out = p.haul(&["pipeline", "nope"]).fails(2);
    assert!(out.stderr.contains("nope"), "{}", out.stderr);
    p.haul(&["pipeline", "app", "--days", "0"]).fails(2);
}

#[test]
fn the_server_answers_the_same_pipeline_as_json_and_as_a_page() {
    let toml = format!(
        "{}\n[server]\n\n{}",
        pipeline("[environments.prod.requires]\nverifications = [\"smoke\"]"),
        token("ci", "ci-secret", &["read", "deploy"])
    );
    let p = Project::new(&toml);
    let v1 = release(&p, "staging");
    let local = p.haul(&["pipeline", "app", "--json"]).ok().json();
    let server = Server::start(&p);
    let port = server.port;
    let (st, remote) = json(port, "GET", "/api/v1/pipeline/app", "ci-secret", None);
    assert_eq!(st, 200, "{remote}");
    // The same reading but for the moment it was read.
    let strip = |mut v: Value| {
        v["at"] = Value::Null;
        v
    };
    assert_eq!(strip(remote.clone()), strip(local), "the server and the database agree");
    assert_eq!(remote["window_s"], 30 * 86_400);
    let (st, week) = json(port, "GET", "/api/v1/pipeline/app?days=7", "ci-secret", None);
    assert_eq!((st, week["window_s"].as_u64()), (200, Some(7 * 86_400)));
    for (path, status) in [
        ("/api/v1/pipeline/nope", 404),
        ("/api/v1/pipeline/app?days=0", 422),
        ("/api/v1/pipeline/app?days=99999", 422),
        ("/api/v1/pipeline/app?weeks=1", 400),
    ] {
        let (st, v) = json(port, "GET", path, "ci-secret", None);
        assert_eq!(st, status, "{path}: {v}");
    }
    let (st, _) = text(port, "GET", "/api/v1/pipeline/app", None, None);
    assert_eq!(st, 401);

    // Through the server, the CLI reads the server's answer.
    let cli = format!("{}\n{}", server.ledger(), std::fs::read_to_string(p.path().join("haul.toml")).unwrap());
    p.write("cli.toml", &cli);
    let via =
        p.haul_env(&["--config", "cli.toml", "pipeline", "app", "--json"], &[("HAUL_TOKEN", "ci-secret")]).ok().json();
    assert_eq!(stage(&via, "prod")["waiting"]["release"], v1.as_str());

    let (st, page) = text(port, "GET", "/pipeline/app", Some("ci-secret"), None);
    assert_eq!(st, 200, "{page}");
    assert!(page.contains(&v1) && page.contains("verification `smoke` has not been reported"), "{page}");
    assert!(page.find("data-env=\"staging\"").unwrap() < page.find("data-env=\"prod\"").unwrap(), "{page}");
    let (st, _) = text(port, "GET", "/pipeline/nope", Some("ci-secret"), None);
    assert_eq!(st, 404);
    let (_, matrix) = text(port, "GET", "/", Some("ci-secret"), None);
    assert!(matrix.contains("href=\"/pipeline/app\""), "the matrix links each app's pipeline");

    // /metrics: what the ledger holds per app and environment, beside the
    // server's own route latencies.
    let (st, m) = text(port, "GET", "/metrics", Some("ci-secret"), None);
    assert_eq!(st, 200, "{m}");
    for line in [
        "haul_deployments_total{app=\"app\",env=\"staging\",status=\"succeeded\"} 1\n",
        "haul_deployment_duration_seconds_count{app=\"app\",env=\"staging\"} 1\n",
        "haul_deployment_duration_seconds_bucket{app=\"app\",env=\"staging\",le=\"+Inf\"} 1\n",
        "haul_host_failures_total{app=\"app\",env=\"staging\"} 0\n",
        "haul_http_request_duration_seconds_count{route=\"/api/v1/pipeline/{app}\"} 8\n",
        "haul_http_request_duration_seconds_count{route=\"/pipeline/{app}\"} 2\n",
    ] {
        assert!(m.contains(line), "{line} in\n{m}");
    }
    let last: f64 = m
        .lines()
        .find_map(|l| l.strip_prefix("haul_last_success_timestamp_seconds{app=\"app\",env=\"staging\"} "))
        .expect("a last success for staging")
        .parse()
        .unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
    assert!((now - 600.0..=now).contains(&last), "{last} vs {now}");
    assert!(!m.contains("env=\"prod\",status"), "nothing ran in prod: {m}");
    // The DORA measures: staging's one change, none of prod's (no sample).
    assert!(m.contains("haul_dora_change_failure_rate{app=\"app\",env=\"staging\"} 0\n"), "{m}");
    assert!(m.contains("haul_dora_lead_time_seconds{app=\"app\",env=\"staging\"} "), "{m}");
    assert!(m.contains("haul_dora_deployments_per_day{app=\"app\",env=\"prod\"} 0\n"), "{m}");
    assert!(!m.contains("haul_dora_lead_time_seconds{app=\"app\",env=\"prod\"}"), "{m}");
    server.stop();
}

/// Staging on host a, and prod-eu (b) and prod-us (c) taking code from it,
/// grouped as `prod`; `eu` follows `[environments.prod-eu]`.
fn grouped(eu: &str) -> String {
    let mut t = format!(
        r#"[apps.app]
ship = "src"

[groups]
prod = ["prod-eu", "prod-us"]

[environments.staging]
hosts = ["a"]

[environments.prod-eu]
hosts = ["b"]
code = "staging"
{eu}

[environments.prod-us]
hosts = ["c"]
code = "staging"
"#
    );
    for h in ["a", "b", "c"] {
        t.push_str(&format!("\n[hosts.{h}]\ntransport = \"local\"\nroot = \".haul/hosts/{h}\"\n"));
    }
    t
}

#[test]
fn promoting_to_a_group_promotes_each_member_in_order() {
    let p = Project::new(&grouped(""));
    let v1 = release(&p, "staging");
    let out = p.haul(&["promote", "app", "--to", "prod"]).ok();
    assert!(
        out.stderr.contains("group prod: prod-eu (1 of 2)") && out.stderr.contains("group prod: prod-us (2 of 2)"),
        "{}",
        out.stderr
    );
    assert_eq!((p.live("b").as_deref(), p.live("c").as_deref()), (Some(v1.as_str()), Some(v1.as_str())));
    let h = p.haul(&["history", "--json"]).ok().json();
    let envs: Vec<&str> = h.as_array().unwrap().iter().map(|d| d["env"].as_str().unwrap()).collect();
    assert_eq!(envs, ["prod-us", "prod-eu", "staging"], "newest first: eu, then us");
    let got = p.haul(&["pipeline", "app", "--json"]).ok().json();
    assert_eq!(stage(&got, "prod-eu")["groups"], serde_json::json!(["prod"]));
}

#[test]
fn the_api_names_a_groups_members_instead_of_promoting_it_as_one() {
    let p = Project::new(&format!(
        "{}
[server]

{}",
        grouped(""),
        token("ci", "ci-secret", &["read", "deploy"])
    ));
    release(&p, "staging");
    let server = Server::start(&p);
    let body = r#"{"app": "app", "env": "prod"}"#;
    let (st, v) = json(server.port, "POST", "/api/v1/promotions", "ci-secret", Some(body));
    assert_eq!(st, 422, "{v}");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("`prod` is a group of environments (prod-eu, prod-us)"),
        "{v}"
    );
    assert_eq!(p.haul(&["history", "--json"]).ok().json().as_array().unwrap().len(), 1, "nothing started");
    server.stop();
}

#[test]
fn a_group_stops_at_the_first_member_that_fails_and_names_the_rest() {
    let p = Project::new(&grouped("[environments.prod-eu.requires]\nverifications = [\"smoke\"]"));
    release(&p, "staging");
    let out = p.haul(&["promote", "app", "--to", "prod"]).fails(1);
    assert!(out.stderr.contains("group prod: stopped at prod-eu; not promoted: prod-us"), "{}", out.stderr);
    assert!(out.stderr.contains("verification `smoke` has not been reported"), "{}", out.stderr);
    assert_eq!((p.live("b"), p.live("c")), (None, None), "prod-us is not promoted past a failed prod-eu");
}
