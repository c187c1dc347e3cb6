//! Command-line arguments. Every flag is read in exactly one place: the
//! command that owns it destructures its arguments.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "haul",
    version,
    about = "Ship releases to many servers, and know what runs where.",
    after_help = "Exit codes: 0 ok, 1 a deploy or host failed, 2 bad usage or config."
)]
pub struct Cli {
    /// The config file [default: ./haul.toml]
    #[arg(short, long, global = true, env = "HAUL_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Hosts worked on at once.
    #[arg(long, global = true, default_value_t = 32, value_name = "N")]
    pub parallel: usize,
    /// Show the output of steps on hosts as it comes.
    #[arg(short, long, global = true)]
    pub verbose: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Write a commented example haul.toml.
    Init {
        /// Overwrite an existing file.
        #[arg(long)]
        force: bool,
    },
    /// Validate the config; with --hosts, also connect to every host.
    Check {
        /// Connect to every host: unknown host keys, tools, free disk, writable root, locks.
        #[arg(long)]
        hosts: bool,
        /// Only the hosts of this environment (with --hosts).
        #[arg(long, requires = "hosts")]
        env: Option<String>,
        #[command(flatten)]
        json: JsonArg,
    },
    /// Run an app's build steps and pack a release.
    Build {
        app: String,
        #[command(flatten)]
        json: JsonArg,
    },
    /// Show what a deploy would do, without doing it.
    Plan(DeployArgs),
    /// Build (or take --release) and deploy an app to an environment.
    Deploy(DeployArgs),
    /// Switch back to the previous release (or --to ID): no build, no transfer.
    Rollback {
        app: String,
        env: String,
        /// The release to switch to.
        #[arg(long, value_name = "ID")]
        to: Option<String>,
        #[command(flatten)]
        hosts: HostFilter,
        #[command(flatten)]
        run: RunFlags,
    },
    /// List each host's releases, the live one and the switch history.
    Releases {
        app: String,
        env: String,
        #[command(flatten)]
        hosts: HostFilter,
        #[command(flatten)]
        json: JsonArg,
    },
    /// What is live on every host of every environment.
    Status {
        /// Only this app.
        app: Option<String>,
        /// Only this environment.
        env: Option<String>,
        #[command(flatten)]
        json: JsonArg,
    },
    /// Remove all but the newest releases on each host (never the live one).
    Prune {
        app: String,
        env: String,
        /// Releases to keep [default: the app's `keep`].
        #[arg(long, value_name = "N")]
        keep: Option<usize>,
        #[command(flatten)]
        hosts: HostFilter,
        #[command(flatten)]
        json: JsonArg,
    },
    /// Remove one release from every host (never the live one).
    Remove {
        app: String,
        env: String,
        id: String,
        #[command(flatten)]
        hosts: HostFilter,
    },
    /// Clear an app's deploy lock on an environment's hosts.
    Unlock {
        app: String,
        env: String,
        /// Why; recorded in each host's history.
        #[arg(long, required = true)]
        reason: String,
        #[command(flatten)]
        hosts: HostFilter,
    },
    /// Run a command on an environment's hosts, output prefixed by host.
    Exec {
        env: String,
        /// Only hosts with one of these roles (comma-separated).
        #[arg(long, value_delimiter = ',')]
        role: Vec<String>,
        #[command(flatten)]
        hosts: HostFilter,
        /// The command, run with sh -c in each host's deploy root.
        #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
        command: Vec<String>,
    },
    /// Secret files under `shared/` (see docs/secrets.md).
    Secrets {
        #[command(subcommand)]
        what: SecretsCommand,
    },
    /// Every environment of an app in promotion order: what each runs and
    /// since when, verified or not, what waits to enter it and what it still
    /// lacks, its content source and last sync, and the DORA measures.
    Pipeline {
        app: String,
        /// The days the DORA measures cover, ending now.
        #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=3660))]
        days: u32,
        #[command(flatten)]
        json: JsonArg,
    },
    /// Deployments recorded in the ledger, newest first.
    History {
        app: Option<String>,
        env: Option<String>,
        #[arg(long, default_value_t = 20)]
        limit: i64,
        #[command(flatten)]
        json: JsonArg,
    },
    /// Record a verification (pass, fail or error) of an environment's latest deployment.
    Verify {
        app: String,
        env: String,
        /// What was checked, e.g. `smoke`; a newer report of the same name supersedes older ones.
        #[arg(long)]
        name: String,
        #[arg(long, value_enum)]
        result: ResultArg,
        /// Where the details are (a CI job, a dashboard).
        #[arg(long)]
        link: Option<String>,
        /// The deployment verified [default: the environment's latest].
        #[arg(long)]
        deployment: Option<i64>,
    },
    /// Approve a release for an environment.
    Approve {
        app: String,
        release: String,
        #[arg(long = "for", value_name = "ENV")]
        env: String,
        #[arg(long)]
        comment: Option<String>,
    },
    /// Quarantine a release: nothing deploys or promotes it again.
    Quarantine {
        app: String,
        release: String,
        #[arg(long, required = true)]
        reason: String,
    },
    /// Deploy the newest release that meets an environment's requirements,
    /// taken from the environment its code comes from; or say what each
    /// candidate still lacks. A group (`[groups]`) promotes to each member
    /// in order and stops at the first that fails.
    Promote {
        app: String,
        /// The environment (or group of environments) to promote into.
        #[arg(long)]
        to: String,
        /// Promote this release (it must qualify).
        #[arg(long, value_name = "ID")]
        release: Option<String>,
        #[command(flatten)]
        run: RunFlags,
    },
    /// Serve the ledger over HTTP (JSON API, metrics) until SIGINT or SIGTERM.
    Server {
        /// Address to listen on [default: `[server] listen`, else 127.0.0.1:7878].
        #[arg(long, value_name = "ADDR")]
        listen: Option<String>,
    },
    /// Check the ledger's audit log.
    Audit {
        #[command(subcommand)]
        what: AuditCommand,
    },
    /// Make API tokens for `haul server`.
    Token {
        #[command(subcommand)]
        what: TokenCommand,
    },
    /// Make the ed25519 keys blessings are signed with.
    Key {
        #[command(subcommand)]
        what: KeyCommand,
    },
    /// Upload a release into the store, once: the newest cached release,
    /// --release ID, or an archive another tool made (FILE.tar[.gz|.zst]).
    Spool {
        app: String,
        /// Spool this cached release.
        #[arg(long, value_name = "ID", conflicts_with = "file")]
        release: Option<String>,
        /// Import this archive as a release, then spool it.
        file: Option<PathBuf>,
        #[command(flatten)]
        json: JsonArg,
    },
    /// Bless a spooled release for a pull environment: a new signed
    /// version of what its agents run.
    Bless {
        app: String,
        env: String,
        /// The release [default: the newest spooled one].
        release: Option<String>,
        /// Bless the release the current blessing replaced (a new version).
        #[arg(long, conflicts_with = "release")]
        previous: bool,
        /// Why; carried in the blessing.
        #[arg(long)]
        reason: Option<String>,
        /// Bless a quarantined release (needs --reason).
        #[arg(long, requires = "reason")]
        force: bool,
        #[command(flatten)]
        json: JsonArg,
    },
    /// Copy an app's content sets (a database, uploads) between environments.
    Content {
        #[command(subcommand)]
        what: ContentCommand,
    },
    /// The local release cache: removing what no kept release needs.
    Cache {
        #[command(subcommand)]
        what: CacheCommand,
    },
    /// What the object store holds, and removing releases nothing needs.
    Store {
        #[command(subcommand)]
        what: StoreCommand,
    },
    /// Print shell completions.
    Completions { shell: clap_complete::Shell },
    /// Write a man page for every command into DIR (`haul.1`, `haul-deploy.1`, …).
    Man {
        /// Where the pages go (created if missing).
        dir: PathBuf,
    },
    /// Run the pull agent on this host: deploy what the store blesses (settings: HAUL_* variables, see docs/agent.md).
    Agent {
        /// One round over every app, then exit (for cron); exit 1 when any app failed or was refused.
        #[arg(long)]
        once: bool,
        /// A file of NAME=value settings; variables in the environment override it.
        #[arg(long, env = "HAUL_AGENT_FILE", value_name = "FILE")]
        file: Option<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
pub enum CacheCommand {
    /// Remove cached releases but the N most recently built of each app and
    /// any release an environment runs or is being deployed (per the
    /// ledger), then the file contents no remaining release needs.
    Prune {
        /// Only this app.
        app: Option<String>,
        /// Most recently built releases kept per app, at least 1 [default: the app's `keep`].
        #[arg(long, value_name = "N", value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
        keep: Option<usize>,
        #[command(flatten)]
        json: JsonArg,
    },
}

#[derive(Subcommand, Debug)]
pub enum KeyCommand {
    /// Write NAME.key (secret, mode 0600) and NAME.pub; print both and the key id.
    New {
        /// The key's name (its file names).
        name: String,
        /// Where to write them.
        #[arg(long, value_name = "DIR", default_value = "keys")]
        dir: PathBuf,
        #[command(flatten)]
        json: JsonArg,
    },
}

#[derive(Subcommand, Debug)]
pub enum ContentCommand {
    /// Copy content into an environment from where it takes its content.
    Sync {
        app: String,
        /// The environment that receives the content.
        #[arg(long)]
        to: String,
        /// The source (default: the target's `content`).
        #[arg(long)]
        from: Option<String>,
        /// Only this content set.
        #[arg(long, value_name = "NAME")]
        only: Option<String>,
        /// Allow a source that is not upstream of the target's content.
        #[arg(long)]
        reverse: bool,
        /// Sync into a protected environment (needs --reason).
        #[arg(long, requires = "reason")]
        force: bool,
        /// Why (recorded); required with --force.
        #[arg(long)]
        reason: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum StoreCommand {
    /// Releases, sizes, what each environment is blessed with, what agents report.
    Ls {
        /// Only this app.
        app: Option<String>,
        #[command(flatten)]
        json: JsonArg,
    },
    /// Remove spooled releases no environment blessed in its last N blessings.
    Purge {
        /// Only this app.
        app: Option<String>,
        /// Blessings per environment whose releases are kept.
        #[arg(long, value_name = "N", default_value_t = 5)]
        keep: usize,
        /// Never remove a release spooled (or a spool begun) more recently
        /// than this: it may be about to be blessed.
        #[arg(long, value_name = "DURATION", default_value = "1h")]
        grace: String,
        /// Say what would be removed; remove nothing.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        json: JsonArg,
    },
}

#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Print a fresh random token (once) and the `[[server.tokens]]` lines,
    /// with its SHA-256, to add to the server's haul.toml.
    New {
        /// The token's name: the actor its writes are recorded as.
        name: String,
        /// What it may do (comma-separated): read, deploy, verify, approve, admin.
        #[arg(long, value_delimiter = ',', required = true)]
        scopes: Vec<String>,
        #[command(flatten)]
        json: JsonArg,
    },
}

#[derive(Args, Debug)]
pub struct DeployArgs {
    pub app: String,
    pub env: String,
    /// Deploy this cached release instead of building.
    #[arg(long, value_name = "ID")]
    pub release: Option<String>,
    #[command(flatten)]
    pub hosts: HostFilter,
    #[command(flatten)]
    pub run: RunFlags,
}

/// Flags of every command that runs a plan (deploy, rollback, promote).
#[derive(Args, Debug, Default)]
pub struct RunFlags {
    /// Print what would be done (the plan) and stop.
    #[arg(long)]
    pub dry_run: bool,
    /// Leave out hosts that cannot be reached instead of refusing.
    #[arg(long)]
    pub skip_unreachable: bool,
    /// Why; recorded in the ledger.
    #[arg(long)]
    pub reason: Option<String>,
    /// Break glass: go ahead where the ledger's gate refuses (a quarantined
    /// release, one that did not come from the environment's upstream, a
    /// running deployment a rollback takes over). Needs --reason; recorded
    /// as forced, with what it overrode.
    #[arg(long, requires = "reason")]
    pub force: bool,
    #[command(flatten)]
    pub json: JsonArg,
}

#[derive(Args, Debug, Default)]
pub struct HostFilter {
    /// Only these hosts (comma-separated names).
    #[arg(long, value_delimiter = ',', value_name = "NAMES")]
    pub hosts: Vec<String>,
}

#[derive(Args, Debug, Default, Clone, Copy)]
pub struct JsonArg {
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Subcommand, Debug)]
pub enum AuditCommand {
    /// Walk the hash chain; any changed or removed entry is reported.
    Verify {
        #[command(flatten)]
        json: JsonArg,
    },
}

#[derive(clap::ValueEnum, Debug, Clone, Copy)]
pub enum ResultArg {
    Pass,
    Fail,
    Error,
}

/// `haul secrets …`
#[derive(Subcommand, Debug)]
pub enum SecretsCommand {
    /// Read an app's secret files for an environment and write them to its hosts (nothing else changes).
    Push {
        app: String,
        env: String,
        #[command(flatten)]
        hosts: HostFilter,
        #[command(flatten)]
        json: JsonArg,
    },
}
