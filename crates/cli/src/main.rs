//! The `haul` binary: arguments → config → command → exit code.

mod cli;
mod commands;
mod error;
mod printer;

use clap::Parser;

fn main() {
    // SIGPIPE stays ignored, as the Rust runtime leaves it, so a reader that
    // goes away (`| head`) makes a write fail, which the printer turns into
    // silence, instead of killing a run half-way. Children get the default
    // disposition back when they are spawned.
    let args = cli::Cli::parse();
    // TLS (the object store's HTTPS, health checks, a ledger server) is
    // rustls over ring; installed once here, before anything connects.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a tokio runtime starts");
    let code = runtime.block_on(commands::run(args));
    std::process::exit(code);
}
