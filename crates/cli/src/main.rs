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
    raise_open_files_limit();
    // TLS (the object store's HTTPS, health checks, a ledger server) is
    // rustls over ring; installed once here, before anything connects.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a tokio runtime starts");
    let code = runtime.block_on(commands::run(args));
    std::process::exit(code);
}

/// A fleet worked on all at once holds a few descriptors per host (its
/// connection to the SSH master and the session's pipes), past the usual
/// soft limit of 1,024 at a few hundred hosts. The soft limit is raised to
/// the hard one, as Go's runtime does for every program. Steps and hooks
/// inherit it, which only matters to a program that uses `select()` and
/// really opens more than 1,024 files.
fn raise_open_files_limit() {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut l = getrlimit(Resource::Nofile);
    if let (Some(cur), Some(max)) = (l.current, l.maximum)
        && cur < max
    {
        l.current = Some(max);
        let _ = setrlimit(Resource::Nofile, l);
    }
}
