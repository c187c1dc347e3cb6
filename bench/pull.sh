#!/usr/bin/env bash
# bench/pull.sh: pull deploys with real `haul agent` processes (BENCHMARKS.md,
# "Pull deploys"). Everything runs on this machine, agents and all.
#
#   (a) time from `haul bless` returning until all AGENTS (100) agents report
#       `live` on the new release, one `file://` store, each agent its own
#       deploy root and host name, polling with HAUL_INTERVAL = each of
#       INTERVALS ("1s 5s"), BLESSINGS (5) blessings each (bench/pull.py
#       deploys);
#   (a1) the same with one agent alone, at the first interval (SOLO=1);
#   (a') with every agent subscribed to `haul server` (HAUL_LEDGER and
#       HAUL_TOKEN set, the server's wake route) when this haul has the
#       route (WAKE=auto: when `GET /api/v1/agents/wake` answers), polling
#       every 30 s (the default) behind it;
#   (f) the floor, measured in the same run: AGENTS processes at once each
#       reading the hint and the blessing, copying the archive out of the
#       store, unpacking it (`zstd -d | tar -x`) and switching `current`
#       (`ln -s` + `mv -T`); and one with only the hint read and the switch;
#   (r) requests per agent at rest: the same agents on an S3 store (moto's
#       server, as scripts/test.sh installs it), every request counted from
#       moto's access log for REST seconds (60) while nothing changes, with
#       HAUL_INTERVAL = each of REST_INTERVALS ("1s 5s"); with the agents'
#       CPU and memory.
# The simulated subscribers (10,000 SSE connections) are bench/subscribers.sh.
#
# Usage:   bash bench/pull.sh [> results.md]
# Tunable: AGENTS (100), INTERVALS ("1s 5s"), BLESSINGS (5), REST (60),
#          HAUL_BIN (a haul binary to use instead of building one),
#          REST_INTERVALS ("1s 5s"), WAKE (auto|0), SOLO (1: also one agent alone), NO_BUILD=1 (use
#          target/release as it is), KEEP_TMP=1.
# Progress goes to stderr, results (markdown) to stdout.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
AGENTS=${AGENTS:-100}
INTERVALS=${INTERVALS:-"1s 5s"}
BLESSINGS=${BLESSINGS:-5}
REST=${REST:-60}
REST_INTERVALS=${REST_INTERVALS:-"1s 5s"}
WAKE=${WAKE:-auto}
SOLO=${SOLO:-1}
exec 3>&1 1>&2
log() { printf '\n### [%s, load %s] %s\n' "$(date +%T)" "$(cut -d' ' -f1 /proc/loadavg)" "$*" >&2; }

if [ "${NO_BUILD:-0}" != 1 ]; then
    log "building haul (release)"
    cargo build --release --manifest-path "$REPO/Cargo.toml" -p haul
fi
HAUL=${HAUL_BIN:-$REPO/target/release/haul}
PY="python3 $REPO/bench/pull.py"
for tool in python3 zstd tar curl; do command -v "$tool" >/dev/null || { echo "$tool is needed" >&2; exit 1; }; done
REV=$(cd "$REPO" && git rev-parse --short HEAD)
[ -z "$(cd "$REPO" && git status --porcelain --untracked-files=no)" ] || REV="$REV + uncommitted changes"
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
ulimit -n "$(ulimit -Hn)"

T=$(mktemp -d /tmp/haul-pull-bench.XXXXXX)
RES=$T/results
mkdir -p "$RES"
AGENT_PIDS=()
# shellcheck source=bench/server-lib.sh
source "$REPO/bench/server-lib.sh"
MOTO=""
stop_agents() {
    local p
    for p in "${AGENT_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${AGENT_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    AGENT_PIDS=()
}
cleanup() {
    set +e
    stop_agents
    stop_server
    [ -n "$MOTO" ] && kill "$MOTO" 2>/dev/null && wait "$MOTO" 2>/dev/null
    if [ "${KEEP_TMP:-0}" = 1 ]; then echo "kept $T" >&2; else rm -rf "$T"; fi
}
trap cleanup EXIT

SECRET=bench-agent-secret
SHA=$(printf %s "$SECRET" | sha256sum | cut -d' ' -f1)
seq -f 'h%03g' 1 "$AGENTS" > "$T/hosts"
echo h001 > "$T/hosts1"
HOSTS=$T/hosts N=$AGENTS   # the fleet the functions below work on

# project DIR [STORE_TOML]: app `app` (20 small files) and pull environment
# `fleet` listing every host, signed by keys/release.key; a token the
# agents and the subscribers use.
project() {
    local dir=$1 store=${2:-}
    mkdir -p "$dir/src"
    for i in $(seq -w 1 20); do head -c 2048 /dev/urandom | base64 > "$dir/src/file$i.txt"; done
    echo start > "$dir/src/changed.txt"
    local hosts
    hosts=$(sed 's/.*/"&"/' "$HOSTS" | paste -sd, -)
    cat > "$dir/haul.toml" <<TOML
[apps.app]
ship = "src"

[environments.fleet]
mode = "pull"
hosts = [$hosts]
timeout = "10m"

[keys]
sign = ["keys/release.key"]

[[server.tokens]]
name = "bench"
sha256 = "$SHA"
scopes = ["admin"]
$store
TOML
    (cd "$dir" && "$HAUL" key new release >/dev/null)
}

# start_agents DIR INTERVAL [VAR=VALUE...]: one `haul agent` per host, each
# its own deploy root DIR/agents/<host>, trusting the project's key.
start_agents() {
    local dir=$1 interval=$2 h
    shift 2
    while read -r h; do
        mkdir -p "$dir/agents/$h"
        env HAUL_STORE="${STORE_URL:-file://$dir/.haul/store}" HAUL_ROOT="$dir/agents/$h" HAUL_APPS=app \
            HAUL_ENV=fleet HAUL_HOST="$h" HAUL_TRUST="$dir/keys/release.pub" HAUL_INTERVAL="$interval" \
            "$@" "$HAUL" agent 2> "$dir/agents/$h.log" &
        AGENT_PIDS+=($!)
    done < "$HOSTS"
    printf '%s\n' "${AGENT_PIDS[@]}" > "$dir/pids"
}

# wait_all_live DIR: until every agent's `current` names the blessed release.
wait_all_live() {
    local dir=$1 id=$2 h n
    for _ in $(seq 600); do
        n=0
        while read -r h; do
            [ "$(readlink "$dir/agents/$h/app/current" 2>/dev/null)" = "releases/$id" ] && n=$((n + 1))
        done < "$HOSTS"
        [ "$n" = "$N" ] && return 0
        sleep 0.5
    done
    echo "only $n of $N agents went live on $id" >&2
    exit 1
}

# wait_reports_live DIR ID: until every agent's report in the store (read by
# `haul store ls`, whatever the store) says live on ID.
wait_reports_live() {
    local dir=$1 id=$2
    for _ in $(seq 300); do
        (cd "$dir" && "$HAUL" store ls --json) | python3 -c '
import json, sys
ls, want, n = json.load(sys.stdin), sys.argv[1], int(sys.argv[2])
agents = ls["apps"][0]["environments"][0].get("agents", [])
sys.exit(0 if sum(1 for a in agents if a.get("phase") == "live" and a.get("live") == want) == n else 1)
' "$id" "$N" && return 0
        sleep 1
    done
    echo "not every agent reported live on $id" >&2
    exit 1
}

# first_release DIR: build, spool and bless v1 (the cold install, not timed).
first_release() {
    local dir=$1 id
    id=$(cd "$dir" && "$HAUL" build app)
    (cd "$dir" && "$HAUL" spool app --release "$id" >/dev/null && "$HAUL" bless app fleet "$id" >/dev/null)
    echo "$id"
}

# ---------------------------------------------------------------------------
# (a) Polling, file:// store.
# ---------------------------------------------------------------------------
for iv in $INTERVALS; do
    P=$T/poll-$iv
    log "$AGENTS agents polling every $iv"
    project "$P"
    id=$(first_release "$P")
    start_agents "$P" "$iv"
    wait_all_live "$P" "$id"
    $PY deploys --haul "$HAUL" --project "$P" --hosts "$HOSTS" --roots "$P/agents" \
        --reports "$P/.haul/store/reports/app/fleet" --blessings "$BLESSINGS" --out "$RES/deploys-$AGENTS agents, polling every $iv.json"
    stop_agents
done
# The same with one agent alone: the latency of one host that has the
# machine to itself, without 99 others competing for its 2 CPUs.
if [ "$SOLO" = 1 ]; then
    iv=${INTERVALS%% *}
    P=$T/solo
    HOSTS=$T/hosts1 N=1
    log "1 agent alone polling every $iv"
    project "$P"
    id=$(first_release "$P")
    start_agents "$P" "$iv"
    wait_all_live "$P" "$id"
    $PY deploys --haul "$HAUL" --project "$P" --hosts "$HOSTS" --roots "$P/agents" \
        --reports "$P/.haul/store/reports/app/fleet" --blessings "$BLESSINGS" --out "$RES/deploys-1 agent alone, polling every $iv.json"
    stop_agents
    HOSTS=$T/hosts N=$AGENTS
fi

# ---------------------------------------------------------------------------
# (a') Subscribed to haul server (when this haul has the wake route).
# ---------------------------------------------------------------------------
if [ "$WAKE" != 0 ]; then
    P=$T/wake
    project "$P"
    id=$(first_release "$P")
    start_server "$P"
    code=$(curl -s -o /dev/null -m 2 -w '%{http_code}' -H "Authorization: Bearer $SECRET" \
        "http://127.0.0.1:$PORT/api/v1/agents/wake?app=app&env=fleet" || true)
    if [ "$code" = 404 ] || [ "$code" = 000 ]; then
        log "no wake route in this haul (GET /api/v1/agents/wake answered $code): subscription not measured"
    else
        log "$AGENTS agents subscribed to haul server on port $PORT (wake route answered $code)"
        start_agents "$P" 30s HAUL_LEDGER="http://127.0.0.1:$PORT" HAUL_TOKEN="$SECRET"
        wait_all_live "$P" "$id"
        $PY deploys --haul "$HAUL" --project "$P" --hosts "$HOSTS" --roots "$P/agents" \
            --reports "$P/.haul/store/reports/app/fleet" --blessings "$BLESSINGS" --out "$RES/deploys-$AGENTS agents, subscribed to haul server (polling every 30s behind it).json"
        stop_agents
    fi
    stop_server
fi

# ---------------------------------------------------------------------------
# (f) The floor, on the last project's store.
# ---------------------------------------------------------------------------
log "floor: $AGENTS processes at once, and 1"
S=$P/.haul/store
hint=$S/blessings/app/fleet/latest
blessing=$(find "$S/blessings/app/fleet" -name '*.json' | sort | tail -n 1)
archive=$(find "$S/releases/app" -name '*.tar.zst' | head -n 1)
mkdir -p "$T/floor"
for n in "$AGENTS" 1; do
    $PY floor --dir "$T/floor" --n "$n" --hint "$hint" --blessing "$blessing" --archive "$archive" --out "$RES/floor-$n.json"
done
ARCHIVE_BYTES=$(stat -c %s "$archive")

# ---------------------------------------------------------------------------
# (r) At rest on an S3 store: moto's access log counts every request.
# ---------------------------------------------------------------------------
moto=${HAUL_MOTO:-}
if [ -z "$moto" ]; then
    for m in "$REPO"/target/moto-*/bin/moto_server; do [ -x "$m" ] && moto=$m; done
fi
if [ -z "$moto" ]; then
    log "installing moto into $T/moto"
    python3 -m venv "$T/moto" && "$T/moto/bin/pip" install --quiet "moto[server]==${MOTO_VERSION:-5.2.5}"
    moto=$T/moto/bin/moto_server
fi
MPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$moto" -H 127.0.0.1 -p "$MPORT" > "$T/moto.log" 2>&1 &
MOTO=$!
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$MPORT/moto-api/" && break; sleep 0.2; done
curl -fsS -X PUT "http://127.0.0.1:$MPORT/haul-bench" >/dev/null
export AWS_ACCESS_KEY_ID=haul-bench-key AWS_SECRET_ACCESS_KEY=haul-bench-secret AWS_REGION=us-east-1
STORE_URL=s3://haul-bench/haul
for iv in $REST_INTERVALS; do
    P=$T/rest-$iv
    log "$AGENTS agents at rest on moto, polling every $iv"
    project "$P" "[store]
url = \"$STORE_URL\"
endpoint = \"http://127.0.0.1:$MPORT\"
region = \"us-east-1\"
allow_http = true"
    id=$(first_release "$P")
    STORE_URL=$STORE_URL start_agents "$P" "$iv" HAUL_STORE_ENDPOINT="http://127.0.0.1:$MPORT" \
        HAUL_STORE_REGION=us-east-1 HAUL_STORE_ALLOW_HTTP=true
    wait_all_live "$P" "$id"
    wait_reports_live "$P" "$id"
    sleep "${iv%s}"   # a poll interval more: every agent's round after its switch is done
    secs=${iv%s}
    $PY rest --log "$T/moto.log" --pids "$P/pids" --seconds "$REST" --interval "$secs" --out "$RES/rest-$iv.json"
    stop_agents
done
unset STORE_URL
kill "$MOTO"; wait "$MOTO" 2>/dev/null || true; MOTO=""
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------------------
# Results.
# ---------------------------------------------------------------------------
{
    echo "## haul pull benchmark"
    echo
    echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ); haul $REV ($("$HAUL" --version), release profile)"
    echo "- machine: $(nproc) CPUs, $(lscpu | sed -n 's/^Model name: *//p'), $(free -h | awk '/^Mem:/ {print $2}') RAM, kernel $(uname -r), $(df -T "$T" | awk 'NR==2 {print $2}') under $T"
    echo "- load average at start: $LOAD_START, at end: $LOAD_END"
    echo "- $AGENTS agents (\`haul agent\`, loop mode), one release of 21 files (archive $ARCHIVE_BYTES bytes); each blessing names a new release with one file changed"
    echo
    $PY table --dir "$RES"
} >&3
