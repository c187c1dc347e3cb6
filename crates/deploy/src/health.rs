//! Health checks after a switch: a command on the host, or an HTTP GET from
//! here, each with a timeout and retries.

use haul_config::HealthCheck;
use haul_host::HostApp;
use std::time::Duration;

/// Runs `check` against one host until it passes or its retries run out.
/// The error says what the last attempt saw.
pub(crate) async fn check_host(
    check: &HealthCheck,
    host: &HostApp,
    address: &str,
    env: &[(String, String)],
) -> Result<(), String> {
    let mut last = String::new();
    for attempt in 0..=check.retries {
        if attempt > 0 {
            tokio::time::sleep(check.interval.0).await;
        }
        match once(check, host, address, env).await {
            Ok(()) => return Ok(()),
            Err(e) => last = e,
        }
    }
    let tries = check.retries + 1;
    Err(format!(
        "health check `{}` failed after {tries} attempt{}: {last}",
        check.label(),
        if tries == 1 { "" } else { "s" }
    ))
}

async fn once(check: &HealthCheck, host: &HostApp, address: &str, env: &[(String, String)]) -> Result<(), String> {
    let limit = check.timeout.0;
    if let Some(cmd) = &check.command {
        let cwd = format!("{}/current", host.dir());
        let run = host.run_step(cmd, &cwd, env, None);
        return match tokio::time::timeout(limit, run).await {
            Err(_) => Err(format!("timed out after {}", check.timeout)),
            Ok(Err(e)) => Err(e.to_string()),
            Ok(Ok(out)) if out.success() => Ok(()),
            Ok(Ok(out)) => Err(format!(
                "exit {}{}",
                out.code.map_or("by signal".into(), |c| c.to_string()),
                if out.combined().is_empty() { String::new() } else { format!(": {}", out.combined()) }
            )),
        };
    }
    let url = check.http.as_deref().unwrap_or_default().replace("{host}", address);
    let client = http_client()
        .timeout(limit)
        .connect_timeout(limit.min(Duration::from_secs(5)))
        .build()
        .map_err(|e| e.to_string())?;
    match client.get(&url).send().await {
        Ok(resp) if resp.status().as_u16() == check.status => Ok(()),
        Ok(resp) => Err(format!("GET {url} answered {}, expected {}", resp.status().as_u16(), check.status)),
        Err(e) if e.is_timeout() => Err(format!("GET {url} timed out after {}", check.timeout)),
        Err(e) => Err(format!("GET {url}: {}", error_chain(&e))),
    }
}

/// A client builder for HTTP and HTTPS: TLS by rustls over ring,
/// trusting the system's roots (and `SSL_CERT_FILE` / `SSL_CERT_DIR`).
pub fn http_client() -> reqwest::ClientBuilder {
    static PROVIDER: std::sync::Once = std::sync::Once::new();
    // Another part of the process may have installed one first; either will do.
    PROVIDER.call_once(|| drop(rustls::crypto::ring::default_provider().install_default()));
    reqwest::Client::builder()
}

/// An error with its causes ("connection refused" sits a few levels down).
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}
