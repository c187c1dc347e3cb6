//! Content syncs recorded through `haul server`: the server judges a sync
//! into an environment its config protects (a token with `admin` and a
//! reason), before the sync runs (`/content-syncs/check`) and when it is
//! recorded, and the record becomes a `content.synced` event.

mod common;

use common::http::json;
use common::{Project, Server, token};

fn project() -> Project {
    let toml = format!(
        r#"[apps.app]
ship = "src"

[apps.app.content.notes]
kind = "commands"
export = "cat notes.txt"
import = "cat > notes.txt"

[environments.prod]
hosts = ["a"]

[environments.stage]
hosts = ["b"]
content = "prod"

[hosts.a]
transport = "local"
root = ".haul/hosts/a"

[hosts.b]
transport = "local"
root = ".haul/hosts/b"

[server]

{}{}"#,
        token("ci", "ci-secret", &["read", "deploy"]),
        token("ops", "ops-secret", &["admin"])
    );
    Project::new(&toml)
}

fn body(to: &str, reason: Option<&str>) -> String {
    serde_json::json!({
        "app": "app", "from": if to == "prod" { "stage" } else { "prod" }, "to": to,
        "sets": ["notes"], "reason": reason, "succeeded": true, "bytes": 6,
        "digests": { "notes": "ab12" }, "error": null,
    })
    .to_string()
}

fn check(to: &str, reason: Option<&str>) -> String {
    serde_json::json!({ "app": "app", "from": "stage", "to": to, "reason": reason }).to_string()
}

#[test]
fn the_server_refuses_a_sync_into_a_protected_environment_without_admin_and_a_reason() {
    let p = project();
    let server = Server::start(&p);
    let port = server.port;
    // prod is canonical, so protected.
    let (st, v) = json(port, "POST", "/api/v1/content-syncs/check", "ci-secret", Some(&check("prod", Some("why"))));
    assert_eq!(st, 403, "{v}");
    let (st, v) = json(port, "POST", "/api/v1/content-syncs", "ci-secret", Some(&body("prod", Some("why"))));
    assert_eq!(st, 403, "{v}");
    let (st, v) = json(port, "POST", "/api/v1/content-syncs/check", "ops-secret", Some(&check("prod", Some("  "))));
    assert_eq!(st, 422, "{v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("is protected"), "{v}");
    let (st, _) = json(port, "POST", "/api/v1/content-syncs/check", "ops-secret", Some(&check("prod", Some("why"))));
    assert_eq!(st, 204);
    // Unknown names are not found (named, without the server's paths);
    // unknown fields are refused.
    let (st, v) = json(port, "POST", "/api/v1/content-syncs/check", "ci-secret", Some(&check("nowhere", None)));
    assert_eq!(st, 404, "{v}");
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(msg.contains("no environment `nowhere` in the server's haul.toml") && !msg.contains('/'), "{msg}");
    let extra = body("stage", None).replace("\"app\":", "\"forced\":true,\"app\":");
    let (st, _) = json(port, "POST", "/api/v1/content-syncs", "ci-secret", Some(&extra));
    assert_eq!(st, 422);
    // stage is not protected: a deploy token records, under its name.
    let (st, v) = json(port, "POST", "/api/v1/content-syncs", "ci-secret", Some(&body("stage", None)));
    assert_eq!(st, 201, "{v}");
    let (st, v) = json(port, "POST", "/api/v1/content-syncs", "ops-secret", Some(&body("prod", Some("restore"))));
    assert_eq!(st, 201, "{v}");
    let (st, events) = json(port, "GET", "/api/v1/events", "ci-secret", None);
    assert_eq!(st, 200, "{events}");
    let synced: Vec<&serde_json::Value> =
        events["items"].as_array().unwrap().iter().filter(|e| e["kind"] == "content.synced").collect();
    assert_eq!(synced.len(), 2, "{events}");
    assert_eq!((synced[0]["actor"].as_str(), synced[0]["data"]["env"].as_str()), (Some("ci"), Some("stage")));
    assert_eq!(synced[1]["data"]["forced"], true);

    // The dashboard lists them, newest first, the text escaped.
    let hostile = body("stage", Some("<script>alert(1)</script>")).replace("\"succeeded\":true", "\"succeeded\":false");
    let hostile = hostile.replace("\"error\":null", "\"error\":\"import on b failed: <b>boom</b>\"");
    let (st, v) = json(port, "POST", "/api/v1/content-syncs", "ci-secret", Some(&hostile));
    assert_eq!(st, 201, "{v}");
    let (st, page) = common::http::text(port, "GET", "/content/app", Some("ci-secret"), None);
    assert_eq!(st, 200, "{page}");
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;") && !page.contains("<script>alert"), "{page}");
    assert!(page.contains("import on b failed: &lt;b&gt;boom&lt;/b&gt;"), "{page}");
    let (first, second) = (page.find("<td>3</td>").unwrap(), page.find("<td>1</td>").unwrap());
    assert!(first < second, "newest first");
    assert!(page.contains(">failed<") && page.contains(">synced<"), "{page}");
    let (st, _) = common::http::text(port, "GET", "/content/nope", Some("ci-secret"), None);
    assert_eq!(st, 404);
}

#[test]
fn haul_content_sync_through_a_server_records_the_sync() {
    let p = project();
    let server = Server::start(&p);
    // The CLI records through the server; the server keeps the database.
    let toml = std::fs::read_to_string(p.path().join("haul.toml")).unwrap();
    std::fs::write(p.path().join("cli.toml"), format!("{}\n{toml}", server.ledger())).unwrap();
    let cli = |args: &[&str], secret: &str| {
        let mut full = vec!["--config", "cli.toml"];
        full.extend_from_slice(args);
        p.haul_env(&full, &[("HAUL_TOKEN", secret)])
    };
    for env in ["prod", "stage"] {
        cli(&["deploy", "app", env], "ops-secret").ok();
    }
    std::fs::write(p.path().join(".haul/hosts/a/app/notes.txt"), "hello\n").unwrap();
    cli(&["content", "sync", "app", "--to", "stage"], "ci-secret").ok();
    assert_eq!(std::fs::read_to_string(p.path().join(".haul/hosts/b/app/notes.txt")).unwrap(), "hello\n");
    // Into protected prod with a deploy token: refused by the server before
    // anything runs, though the command line says --force --reason.
    std::fs::write(p.path().join(".haul/hosts/b/app/notes.txt"), "from stage\n").unwrap();
    let out = cli(
        &["content", "sync", "app", "--to", "prod", "--from", "stage", "--reverse", "--force", "--reason", "why"],
        "ci-secret",
    )
    .fails(2);
    assert!(out.stderr.contains("403") || out.stderr.contains("admin"), "{}", out.stderr);
    assert_eq!(std::fs::read_to_string(p.path().join(".haul/hosts/a/app/notes.txt")).unwrap(), "hello\n");
    let (_, events) = json(server.port, "GET", "/api/v1/events", "ci-secret", None);
    let synced: Vec<&serde_json::Value> =
        events["items"].as_array().unwrap().iter().filter(|e| e["kind"] == "content.synced").collect();
    assert_eq!(synced.len(), 1, "{events}");
    assert_eq!(synced[0]["data"]["bytes"], 6);
    assert_eq!(synced[0]["data"]["digests"]["notes"], blake3_hex(b"hello\n"));
}

fn blake3_hex(b: &[u8]) -> String {
    blake3::hash(b).to_hex().to_string()
}
