//! A pull deploy through a real S3-protocol server (moto on loopback): the
//! store named by `[store]` (url, endpoint, region, allow_http), the agent
//! by its `HAUL_STORE_*` variables, credentials from the usual `AWS_*`
//! variables for both.

use crate::common::Project;
use std::process::Stdio;

#[test]
fn spool_bless_and_deploy_through_an_s3_store() {
    let s3 = haul_tests3::S3Server::start();
    let url = s3.url("haul");
    let rest = format!(
        "[store]\nurl = \"{url}\"\nendpoint = \"{}\"\nregion = \"us-east-1\"\nallow_http = true\n",
        s3.endpoint()
    );
    let p = Project::pull(&["h1"], "", &rest);
    let env = s3.env();
    let creds: Vec<(&str, &str)> = env
        .iter()
        .filter(|(k, _)| k.starts_with("AWS_ACCESS") || k.starts_with("AWS_SECRET"))
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let id = p.haul(&["build", "app"]).ok().stdout.trim().to_string();
    let first = p.haul_env(&["spool", "app", "--json"], &creds).ok().json();
    assert_eq!(first["uploaded"], true, "{first}");
    let again = p.haul_env(&["spool", "app", "--json"], &creds).ok().json();
    assert_eq!(again["uploaded"], false, "{again}");

    let root = p.agent_root("h1");
    std::fs::create_dir_all(&root).unwrap();
    let trust = p.path().join("keys/release.pub").display().to_string();
    let root = root.display().to_string();
    let endpoint = s3.endpoint();
    let mut vars = vec![
        ("HAUL_STORE", url.as_str()),
        ("HAUL_STORE_ENDPOINT", endpoint.as_str()),
        ("HAUL_STORE_REGION", "us-east-1"),
        ("HAUL_STORE_ALLOW_HTTP", "true"),
        ("HAUL_ROOT", root.as_str()),
        ("HAUL_APPS", "app"),
        ("HAUL_ENV", "fleet"),
        ("HAUL_HOST", "h1"),
        ("HAUL_TRUST", trust.as_str()),
        ("HAUL_INTERVAL", "200ms"),
    ];
    vars.extend(creds.iter().copied());
    let mut agent = p.command(&["agent"], &vars);
    agent.stdout(Stdio::null()).stderr(Stdio::null());
    let _agent = crate::common::Killed(agent.spawn().unwrap());

    let r = p.haul_env(&["deploy", "app", "fleet", "--release", &id, "--json"], &creds).ok().report();
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(p.agent_live("h1").as_deref(), Some(id.as_str()));
    let ls = p.haul_env(&["store", "ls", "--json"], &creds).ok().json();
    assert_eq!(ls["store"], url);
    assert_eq!(ls["apps"][0]["environments"][0]["blessing"]["status"], "verified", "{ls}");
    assert_eq!(ls["apps"][0]["environments"][0]["agents"][0]["phase"], "live", "{ls}");
}
