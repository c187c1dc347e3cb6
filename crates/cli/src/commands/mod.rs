//! One function per command, dispatched by one `match`.

mod agent;
mod cache;
mod config;
mod content;
mod deploy;
mod hosts;
mod key;
mod ledger;
mod man;
mod pipeline;
mod pull;
mod secrets;
mod server;
mod token;

use crate::cli::{CacheCommand, Cli, Command, StoreCommand};
use crate::error::{Failure, Result};
use crate::printer::Printer;
use haul_config::Config;
use haul_deploy::{Engine, Whoami};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

/// What every command may need, resolved once.
pub struct Ctx {
    config_path: PathBuf,
    parallel: usize,
    printer: Arc<Printer>,
}

impl Ctx {
    pub fn config(&self) -> Result<Config> {
        Ok(Config::load(&self.config_path)?)
    }

    pub fn engine(&self, config: Config) -> Engine {
        let interrupted = Arc::new(AtomicBool::new(false));
        let flag = interrupted.clone();
        let printer = self.printer.clone();
        tokio::spawn(async move {
            use tokio::signal::unix::{SignalKind, signal};
            let (Ok(mut int), Ok(mut term)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) else {
                return;
            };
            // The first SIGINT or SIGTERM stops the run between steps (locks
            // are released, nothing half-done is left live); a second one
            // exits at once.
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
            printer.err("interrupted: stopping after the current step (signal again to force)");
            flag.store(true, std::sync::atomic::Ordering::SeqCst);
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
            std::process::exit(130);
        });
        let mut engine = Engine::new(config, self.printer.clone(), self.parallel, Whoami::current());
        engine.interrupted = interrupted;
        engine
    }
}

pub async fn run(cli: Cli) -> i32 {
    let Cli { config, parallel, verbose, command } = cli;
    let json = match &command {
        Command::Check { json: j, .. } | Command::Build { json: j, .. } => j.json,
        Command::Plan(d) | Command::Deploy(d) => d.run.json.json,
        Command::Rollback { run, .. } | Command::Promote { run, .. } => run.json.json,
        Command::History { json, .. }
        | Command::Pipeline { json, .. }
        | Command::Audit { what: crate::cli::AuditCommand::Verify { json } } => json.json,
        Command::Token { what: crate::cli::TokenCommand::New { json, .. } } => json.json,
        Command::Releases { json, .. } | Command::Status { json, .. } | Command::Prune { json, .. } => json.json,
        Command::Spool { json, .. } | Command::Bless { json, .. } => json.json,
        Command::Key { what: crate::cli::KeyCommand::New { json, .. } } => json.json,
        Command::Store { what: StoreCommand::Ls { json, .. } | StoreCommand::Purge { json, .. } } => json.json,
        Command::Cache { what: CacheCommand::Prune { json, .. } } => json.json,
        Command::Secrets { what: crate::cli::SecretsCommand::Push { json, .. } } => json.json,
        _ => false,
    };
    let mut printer = Printer::new(verbose, json);
    if matches!(command, Command::Exec { .. }) {
        printer = printer.for_exec();
    }
    let ctx = Ctx {
        config_path: config.unwrap_or_else(|| PathBuf::from(haul_config::FILE_NAME)),
        parallel,
        printer: Arc::new(printer),
    };
    let result = match command {
        Command::Init { force } => config::init(&ctx, force),
        Command::Check { hosts: false, json, .. } => config::check(&ctx, json.json),
        Command::Check { hosts: true, env, json } => hosts::probe(&ctx, env.as_deref(), json.json).await,
        Command::Completions { shell } => config::completions(&ctx, shell),
        Command::Man { dir } => man::write_all(&ctx, &dir),
        Command::History { app, env, limit, json } => {
            ledger::history(&ctx, app.as_deref(), env.as_deref(), limit, json.json).await
        }
        Command::Verify { app, env, name, result, link, deployment } => {
            let result = match result {
                crate::cli::ResultArg::Pass => haul_ledger::VerificationResult::Pass,
                crate::cli::ResultArg::Fail => haul_ledger::VerificationResult::Fail,
                crate::cli::ResultArg::Error => haul_ledger::VerificationResult::Error,
            };
            ledger::verify(&ctx, &app, &env, &name, result, link, deployment).await
        }
        Command::Approve { app, release, env, comment } => {
            ledger::approve(&ctx, &app, &release, &env, comment.as_deref()).await
        }
        Command::Quarantine { app, release, reason } => ledger::quarantine(&ctx, &app, &release, &reason).await,
        Command::Pipeline { app, days, json } => pipeline::pipeline(&ctx, &app, days, json.json).await,
        Command::Promote { app, to, release, run } => {
            ledger::promote(&ctx, &app, &to, release.as_deref(), deploy::RunOpts::from(run, true)).await
        }
        Command::Audit { what: crate::cli::AuditCommand::Verify { json } } => {
            ledger::audit_verify(&ctx, json.json).await
        }
        Command::Server { listen } => server::server(&ctx, listen).await,
        Command::Token { what: crate::cli::TokenCommand::New { name, scopes, json } } => {
            token::new(&ctx, &name, &scopes, json.json)
        }
        Command::Build { app, json } => deploy::build(&ctx, &app, json.json).await,
        Command::Plan(args) => deploy::plan(&ctx, args).await,
        Command::Deploy(args) => deploy::deploy(&ctx, args).await,
        Command::Rollback { app, env, to, hosts, run } => {
            deploy::rollback(&ctx, &app, &env, to, &hosts.hosts, deploy::RunOpts::from(run, false)).await
        }
        Command::Releases { app, env, hosts, json } => hosts::releases(&ctx, &app, &env, &hosts.hosts, json.json).await,
        Command::Status { app, env, json } => hosts::status(&ctx, app, env, json.json).await,
        Command::Prune { app, env, keep, hosts, json } => {
            hosts::prune(&ctx, &app, &env, keep, &hosts.hosts, json.json).await
        }
        Command::Remove { app, env, id, hosts } => hosts::remove(&ctx, &app, &env, &id, &hosts.hosts).await,
        Command::Unlock { app, env, reason, hosts } => hosts::unlock(&ctx, &app, &env, &reason, &hosts.hosts).await,
        Command::Key { what: crate::cli::KeyCommand::New { name, dir, json } } => {
            key::new(&ctx, &name, &dir, json.json)
        }
        Command::Spool { app, release, file, json } => {
            pull::spool::spool(&ctx, &app, release, file.as_deref(), json.json).await
        }
        Command::Bless { app, env, release, previous, reason, force, json } => {
            let release = match (release, previous) {
                (Some(r), _) => pull::bless::Choice::Given(r),
                (None, true) => pull::bless::Choice::Previous,
                (None, false) => pull::bless::Choice::Newest,
            };
            let args = pull::bless::BlessArgs { release, reason, force, json: json.json };
            pull::bless::bless(&ctx, &app, &env, args).await
        }
        Command::Cache { what: CacheCommand::Prune { app, keep, json } } => {
            cache::prune(&ctx, app.as_deref(), keep, json.json).await
        }
        Command::Store { what: StoreCommand::Ls { app, json } } => {
            pull::store::ls(&ctx, app.as_deref(), json.json).await
        }
        Command::Store { what: StoreCommand::Purge { app, keep, grace, dry_run, json } } => {
            pull::store::purge(&ctx, app.as_deref(), keep, &grace, dry_run, json.json).await
        }
        Command::Secrets { what: crate::cli::SecretsCommand::Push { app, env, hosts, json } } => {
            secrets::push(&ctx, &app, &env, &hosts.hosts, json.json).await
        }
        Command::Content { what: crate::cli::ContentCommand::Sync { app, to, from, only, reverse, force, reason } } => {
            let request = haul_content::Request { app, to, from, only, reverse, force, reason };
            content::sync(&ctx, request).await
        }
        Command::Agent { once, file } => agent::agent(&ctx, once, file.as_deref()).await,
        Command::Exec { env, role, hosts, command } => {
            hosts::exec(&ctx, &env, &role, &hosts.hosts, &command.join(" ")).await
        }
    };
    ctx.printer.finish();
    match result {
        Ok(()) => 0,
        Err(f) => {
            match &f {
                Failure::Usage(m) | Failure::Run(m) => ctx.printer.err(&format!("error: {m}")),
                Failure::Config(m) => ctx.printer.err(m.trim_end()),
                Failure::Reported => {}
            }
            f.code()
        }
    }
}
