//! `haul server`: binds the listener, opens the ledger and serves until
//! SIGINT or SIGTERM, finishing requests in flight.

use super::Ctx;
use crate::error::{Failure, Result};

pub async fn server(ctx: &Ctx, listen: Option<String>) -> Result {
    let config = ctx.config()?;
    haul_server::check_webhooks(&config).map_err(Failure::Usage)?;
    haul_server::check_session_key().map_err(Failure::Usage)?;
    let url = config.ledger_url();
    if url.starts_with("http://") || url.starts_with("https://") {
        return Err(Failure::Usage(format!(
            "{}: haul server keeps the ledger in a database, but [ledger] url is the server {url}; \
             give the server a config whose url is sqlite:// or postgres://",
            config.path.display()
        )));
    }
    let ledger = haul_ledger::Ledger::open(&url).await.map_err(|e| Failure::Run(e.to_string()))?;
    let addr = listen.or_else(|| config.server.listen.clone()).unwrap_or_else(|| "127.0.0.1:7878".into());
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .map_err(|e| Failure::Run(format!("cannot listen on {addr}: {e}")))?;
    let local = listener.local_addr().map_err(|e| Failure::Run(e.to_string()))?;
    ctx.printer.err(&format!("haul server listening on http://{local}"));
    let shutdown = async {
        use tokio::signal::unix::{SignalKind, signal};
        if let (Ok(mut int), Ok(mut term)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
        }
    };
    // Pull environments need the store: agents' reports, blessings.
    let store = if config.environments.values().any(|e| e.mode() == haul_config::Mode::Pull) {
        Some(super::pull::open_store(&config, true).await?)
    } else {
        None
    };
    let mut state = haul_server::State::new(ledger, std::sync::Arc::new(config));
    if let Some(store) = store {
        state = state.with_store(store);
    }
    haul_server::serve(listener, state, shutdown).await.map_err(|e| Failure::Run(format!("server: {e}")))?;
    ctx.printer.err("haul server stopped");
    Ok(())
}
