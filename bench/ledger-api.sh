#!/usr/bin/env bash
# bench/ledger-api.sh: throughput and latency of `haul server`, measured by
# wrk from a second process on loopback, on SQLite and on PostgreSQL.
#
# For each backend it builds a project with two local hosts, records one real
# deploy (so there is a deployment with host results to read), starts
# `haul server` (release build) and runs, one after the other:
#   reads   GET /api/v1/deployments/1 (the deployment, its hosts and its
#           verifications: three queries), authenticated;
#   list    GET /api/v1/deployments?limit=20;
#   writes  POST /api/v1/deployments/1/verifications: every request is one
#           recorded event (a transaction writing the verification and its
#           hash-chained audit entry);
#   hosts   POST /api/v1/deployments/N/hosts on a running deployment (started
#           through the API): host results of 1,000 hosts reported over and
#           over, each one recorded event, as a large deploy reports;
#   hosts+sse  the same while SUBSCRIBERS (100) clients follow
#           /api/v1/events/stream; afterwards each subscriber's count of
#           events received is checked against the events recorded, and
#           how long after the load the slowest had them all.
# Each for DURATION seconds with CONNS connections on THREADS wrk threads.
# Prints (stdout, markdown) the machine and a table: requests/s, p50, p99.
#
# Usage:   bash bench/ledger-api.sh [> results.md]
#          (installs wrk and PostgreSQL from Debian's packages when missing;
#          as root, PostgreSQL runs as the postgres user)
# Tunable: DURATION (10), CONNS (32), THREADS (1), BACKENDS ("sqlite postgres"),
#          SUBSCRIBERS (100),
#          PG_DURABLE=1 (PostgreSQL with its default durable settings:
#          fsync, full page writes, synchronous commit; without it they
#          are off), NO_BUILD=1 (use target/release as it is).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DURATION=${DURATION:-10}
CONNS=${CONNS:-32}
THREADS=${THREADS:-1}
BACKENDS=${BACKENDS:-"sqlite postgres"}
SUBSCRIBERS=${SUBSCRIBERS:-100}
exec 3>&1 1>&2
log() { printf '\n### [%s, load %s] %s\n' "$(date +%T)" "$(cut -d' ' -f1 /proc/loadavg)" "$*" >&2; }

need=()
command -v wrk >/dev/null || need+=(wrk)
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || command -v initdb >/dev/null || need+=(postgresql)
if ((${#need[@]})); then
    sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
    $sudo apt-get update -qq && $sudo apt-get install -y -qq "${need[@]}"
fi
if [ "${NO_BUILD:-0}" != 1 ]; then
    log "building haul and haul-pg (release)"
    cargo build --release --manifest-path "$REPO/Cargo.toml" -p haul -p haul-testpg
fi
HAUL=$REPO/target/release/haul
T=$(mktemp -d /tmp/haul-bench-XXXXXX)
# shellcheck source=bench/server-lib.sh
source "$REPO/bench/server-lib.sh"
cleanup() {
    stop_server
    exec 5>&- 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$T"
}
trap cleanup EXIT

SECRET=bench-secret
SHA=$(printf %s "$SECRET" | sha256sum | cut -d' ' -f1)

# project DIR LEDGER_URL: a project with one recorded deploy.
project() {
    local dir=$1 url=$2
    mkdir -p "$dir/src"
    echo '<h1>bench</h1>' > "$dir/src/index.html"
    cat > "$dir/haul.toml" <<TOML
[ledger]
url = "$url"

[lock]
lease = "1h"

[[server.tokens]]
name = "bench"
sha256 = "$SHA"
scopes = ["admin"]

[apps.app]
ship = "src"

[environments.test]
hosts = ["a", "b"]

[hosts.a]
transport = "local"
root = ".haul/hosts/a"

[hosts.b]
transport = "local"
root = ".haul/hosts/b"
TOML
    (cd "$dir" && "$HAUL" deploy app test >/dev/null)
}

cat > "$T/post.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local n = 0
request = function()
    n = n + 1
    return wrk.format(nil, nil, nil, '{"name":"check' .. (n % 50) .. '","result":"pass"}')
end
LUA

cat > "$T/hosts.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local n = 0
request = function()
    n = n + 1
    return wrk.format(nil, nil, nil,
        '{"host":"h' .. (n % 1000) .. '","phase":"switch","status":"ok","error":null,"elapsed_ms":' .. (n % 997) .. '}')
end
LUA

# start_deployment DIR: a running deployment of the project's release,
# started through the API (as `haul deploy` through a server does); prints its id.
start_deployment() {
    local dir=$1 release
    release=$(sqlite3_or_api_release "$dir")
    curl -sf -H "Authorization: Bearer $SECRET" -H 'Content-Type: application/json' \
        -d "{\"app\":\"app\",\"env\":\"test\",\"release\":\"$release\",\"trigger\":\"deploy\",\"reason\":null,\"config_digest\":\"bench\",\"undoes\":null,\"on_behalf_of\":null}" \
        "http://127.0.0.1:$PORT/api/v1/deployments" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])'
}

# The release of the project's recorded deploy, from the API.
sqlite3_or_api_release() {
    curl -sf -H "Authorization: Bearer $SECRET" "http://127.0.0.1:$PORT/api/v1/deployments/1" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["deployment"]["release"])'
}

# subscribe N: N clients following the event stream into $T/sub-<i>.
subscribe() {
    SUBS=()
    for i in $(seq "$1"); do
        curl -sN -H "Authorization: Bearer $SECRET" "http://127.0.0.1:$PORT/api/v1/events/stream" > "$T/sub-$i" 2>/dev/null &
        SUBS+=($!)
    done
    sleep 1
}

# run NAME PATH [LUA]: one wrk run; appends "backend|name|rps|p50|p99|errors".
run() {
    local name=$1 path=$2 script=${3:-}
    local args=(-t"$THREADS" -c"$CONNS" -d"${DURATION}s" --latency -H "Authorization: Bearer $SECRET")
    [ -n "$script" ] && args+=(-s "$script")
    log "$BACKEND $name: wrk ${args[*]/$SECRET/***} $path"
    wrk "${args[@]}" "http://127.0.0.1:$PORT$path" > "$T/wrk.out"
    cat "$T/wrk.out" >&2
    local rps p50 p99 non2xx
    rps=$(awk '/^Requests\/sec/ {print $2}' "$T/wrk.out")
    p50=$(awk '$1=="50%" {print $2}' "$T/wrk.out")
    p99=$(awk '$1=="99%" {print $2}' "$T/wrk.out")
    non2xx=$(awk '/Non-2xx/ {print $5}' "$T/wrk.out")
    echo "$BACKEND|$name|$rps|$p50|$p99|${non2xx:-0}" >> "$T/results"
}

for BACKEND in $BACKENDS; do
    case $BACKEND in
        sqlite) URL="sqlite://.haul/ledger.db" ;;
        postgres)
            mkfifo "$T/pg.in"
            HAUL_PG_DURABLE=${PG_DURABLE:-0} "$REPO/target/release/haul-pg" < "$T/pg.in" > "$T/pg.url" &
            exec 5> "$T/pg.in"
            for _ in $(seq 300); do [ -s "$T/pg.url" ] && break; sleep 0.1; done
            URL=$(cat "$T/pg.url") ;;
    esac
    project "$T/$BACKEND" "$URL"
    start_server "$T/$BACKEND"
    run reads /api/v1/deployments/1
    run list "/api/v1/deployments?limit=20"
    run writes /api/v1/deployments/1/verifications "$T/post.lua"
    D=$(start_deployment "$T/$BACKEND")
    run hosts "/api/v1/deployments/$D/hosts" "$T/hosts.lua"
    subscribe "$SUBSCRIBERS"
    run "hosts + $SUBSCRIBERS SSE subscribers" "/api/v1/deployments/$D/hosts" "$T/hosts.lua"
    # Every request of that run was one recorded host result (one event).
    sent=$(awk '/requests in/ {print $1}' "$T/wrk.out")
    # How long the slowest subscriber takes to receive them all after the
    # load stops (up to 30 s): lag, told apart from loss.
    counts() { for i in $(seq "$SUBSCRIBERS"); do grep -c '^id:' "$T/sub-$i" || true; done | sort -n | sed -n '1p;$p' | paste -sd' '; }
    waited=0
    while [ "$(counts | cut -d' ' -f1)" -lt "$sent" ] && [ "$waited" -lt 300 ]; do sleep 0.1; waited=$((waited + 1)); done
    got=$(counts)
    kill "${SUBS[@]}" 2>/dev/null; wait "${SUBS[@]}" 2>/dev/null || true
    echo "$BACKEND|$sent host results recorded during the SSE run; events each subscriber received (fewest, most): $got, the last of them $(awk "BEGIN {print $waited / 10}") s after the load stopped" >> "$T/sse"
    stop_server
done

{
    echo "Machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr); load before: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "wrk: $THREADS thread(s), $CONNS connections, ${DURATION}s per run, on the same machine as the server"
    echo
    echo "| backend | load | requests/s | p50 | p99 | non-2xx |"
    echo "|---|---|---:|---:|---:|---:|"
    while IFS='|' read -r b n r p50 p99 e; do
        echo "| $b | $n | $r | $p50 | $p99 | $e |"
    done < "$T/results"
    echo
    [ -f "$T/sse" ] && while IFS='|' read -r b line; do echo "- $b: $line"; done < "$T/sse"
} >&3
