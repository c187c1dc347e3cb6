//! The `haul` binary: arguments → config → command → exit code.

mod cli;
mod commands;
mod error;
mod printer;
mod store;

use clap::Parser;

fn main() {
    let args = cli::Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a tokio runtime starts");
    let code = runtime.block_on(commands::run(args));
    std::process::exit(code);
}
