//! What a client hears when the server's object store fails: that it
//! failed and the request id its cause is logged under, never the store's
//! URL, bucket or endpoint. A real server over a real SQLite ledger, its
//! store an S3 endpoint on a loopback port where nothing listens.

use serde_json::json;
use std::sync::Arc;

const CONFIG: &str = r#"
[apps.web]
ship = "src"

[environments.prod]
mode = "pull"

[[server.tokens]]
name = "verifier"
sha256 = "SHA_VERIFY"
scopes = ["verify"]
"#;

/// A port on loopback that was free a moment ago: connections to it are refused.
fn dead_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_verify_routes_bad_gateway_names_no_store_url_or_endpoint() {
    let dir = tempfile::tempdir().unwrap();
    let text = CONFIG.replace("SHA_VERIFY", &crate::token_sha256("verify-secret"));
    let config = haul_config::Config::parse(&dir.path().join("haul.toml"), &text).unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("ledger.db").display());
    let ledger = haul_ledger::Ledger::open(&url).await.unwrap();
    let release: haul_release::ReleaseId = "20260101T000000Z-abcdef12".parse().unwrap();
    let r = haul_ledger::NewRelease {
        app: "web".into(),
        id: release.clone(),
        digest: "d1".into(),
        revision: None,
        built_by: "ci".into(),
        created: jiff::Timestamp::now(),
        files: 1,
        bytes: 1,
    };
    ledger.register_release(&r, "ci").await.unwrap();
    let d = haul_ledger::NewDeployment {
        app: "web".into(),
        env: "prod".into(),
        release,
        trigger: haul_ledger::Trigger::Deploy,
        actor: "ci".into(),
        reason: None,
        config_digest: "cfg".into(),
        undoes: None,
        force: None,
    };
    let id = ledger.start_deployment(&d, std::time::Duration::from_secs(3600)).await.unwrap();
    let port = dead_port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let options = haul_store::StoreOptions {
        endpoint: Some(endpoint.clone()),
        region: Some("eu-west-1".into()),
        allow_http: true,
        timeout: Some(std::time::Duration::from_secs(1)),
    };
    let store = haul_store::Store::open("s3://hidden-bucket/secret-prefix", &options).unwrap();
    let state = crate::State::new(ledger, Arc::new(config)).with_store(store);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (_stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(crate::serve(listener, state, async move { drop(stopped.await) }));
    let res = crate::webhooks::http_client()
        .build()
        .unwrap()
        .post(format!("{base}/api/v1/deployments/{id}/verifications"))
        .bearer_auth("verify-secret")
        .header("content-type", "application/json")
        .body(json!({"name": "smoke", "result": "pass"}).to_string())
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let body = res.text().await.unwrap();
    assert_eq!(status, 502, "{body}");
    assert!(body.contains("recorded in the ledger, but not in the store the agents read"), "{body}");
    assert!(body.contains("the cause is logged under request id"), "{body}");
    for hidden in ["hidden-bucket", "secret-prefix", "s3://", "127.0.0.1", &port.to_string()] {
        assert!(!body.contains(hidden), "the answer names `{hidden}`: {body}");
    }
}
