//! The commented example written by `haul init`, and the page its app ships,
//! so that what `init` writes deploys as written.

/// What the example app builds from, relative to the config's directory.
pub const EXAMPLE_PAGE_PATH: &str = "public/index.html";

/// The page `haul init` puts at [`EXAMPLE_PAGE_PATH`] when `public/` does not
/// exist yet: the example app's build copies `public/` into what ships.
pub const EXAMPLE_PAGE: &str = "<!doctype html>\n<title>web</title>\n<h1>Deployed by haul</h1>\n";

/// A complete, valid `haul.toml` that explains every section.
pub const EXAMPLE: &str = r#"# haul.toml — what haul deploys, where, and how.
# Paths are relative to this file. Unknown keys are errors.

# Built releases are cached here (default: .haul/releases).
# cache = ".haul/releases"

[lock]
# A deploy lock whose holder may still run (another machine or container)
# is reported as stale once older than this.
stale_after = "1h"
# A running deployment's lease in the ledger, renewed by its live runner.
# lease = "30s"

[apps.web]
# Local build steps, run in `workdir`. haul invokes your build system;
# it is not one. `haul init` wrote public/index.html for this one to copy.
build = ["mkdir -p dist && cp -R public/. dist/"]
workdir = "."
# The tree that ships (relative to workdir).
ship = "dist"
# Releases kept on each host.
keep = 5
# Persist across releases; a trailing `/` makes a directory.
shared = ["log/", "config/secrets.env"]
# Run in the new release directory after upload, before the switch.
post_upload = []

[apps.web.service]
# With `refresh`, haul switches then refreshes; otherwise stop, switch, start.
stop = []
start = []
refresh = []

[apps.web.migrate]
once = []        # on the first host with `role`
per_host = []    # on every host
# role = "db"

[apps.web.hooks]
# before_stage, after_stage, before_migrate, after_migrate,
# before_switch, after_switch, before_verify, after_verify.
# A step is a command string or { run = "...", local = true, roles = ["web"] }.
after_switch = [{ run = "echo deployed $HAUL_RELEASE", local = true }]

# [[apps.web.health]]
# http = "http://{host}:8080/health"   # or: command = "test -f current/index.html"
# status = 200
# timeout = "5s"
# retries = 2
# interval = "1s"

[environments.staging]
hosts = ["local-a", "local-b"]
code = "build"          # build, or the environment whose releases it takes
content = "canonical"   # canonical, or the environment whose content it copies
failure = "rollback"    # rollback, halt or continue

# [environments.production]
# hosts = ["web1"]
# code = "staging"

# A pull environment: agents on the hosts (`haul agent`) fetch what is
# blessed from the store; `haul deploy` spools, blesses and follows them.
# [environments.fleet]
# mode = "pull"
# code = "staging"
# hosts = []            # empty: agents announce themselves; listed: waited for
# waves = [{ name = "canary", roles = ["canary"] }, { name = "rest" }]
# silent_after = "10m"  # an agent quiet this long is flagged
# timeout = "30m"       # how long `haul deploy` follows the agents
# failure = "rollback"
# report_keys = ["keys/agents.pub"]  # agents seal reports (HAUL_REPORT_KEY)

# The store pull environments go through (default: .haul/store).
# [store]
# url = "s3://my-bucket/haul"     # or file:///srv/haul-store
# endpoint = "http://127.0.0.1:9000"
# region = "us-east-1"
# allow_http = true

# The keys `haul bless` signs with (`haul key new release`).
# [keys]
# sign = ["keys/release.key"]
# trust = ["keys/release.pub"]    # what `haul store ls` verifies with
# expires = "30d"                 # a blessing's life

[hosts.local-a]
transport = "local"     # a directory on this machine stands in for a server
root = ".haul/hosts/local-a"
roles = ["web", "db"]

[hosts.local-b]
transport = "local"
root = ".haul/hosts/local-b"
roles = ["web"]

# [hosts.web1]
# address = "203.0.113.10"
# user = "deploy"
# port = 22
# jump = "bastion"      # or a chain: ["outer", "inner"]
# root = "/srv"
# roles = ["web"]
# labels = { zone = "a" }
"#;
