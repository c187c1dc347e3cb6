#!/usr/bin/env bash
# bench/subscribers.sh: what N idle subscriptions cost `haul server`, and how
# long one event takes to reach all of them (BENCHMARKS.md, "Pull deploys").
#
# For each N of SIZES ("1000 10000") and each ROUTE of ROUTES, a fresh
# `haul server` (release build, SQLite ledger) and bench/subscribers
# (`haul-subscribers`, one process, one thread, raw TCP) opening N
# Server-Sent-Events subscriptions to it on loopback. It reads the server's
# VmRSS and CPU time from /proc before any subscription, at rest with N
# (REST seconds, 10), and around each of REPEAT (3) triggers; a trigger is
# done when every subscriber has received an event newer than it.
#   events  GET /api/v1/events/stream (every ledger write; the route that
#           existed before pull deploys), triggered by one recorded
#           verification (POST /api/v1/deployments/1/verifications);
#   wake    GET /api/v1/agents/wake?app=app&env=fleet (agents' wake-ups),
#           triggered by `haul bless app fleet` (a new blessing version);
#           skipped when this haul has no such route.
# The floor beside them: the same N connections to a plain TCP listener
# that holds them (python's asyncio, one thread) and writes one line to all
# of them: the cost of the sockets themselves.
#
# Usage:   bash bench/subscribers.sh [> results.md]
# Tunable: SIZES ("1000 10000"), ROUTES ("events wake"; "" for the floor only), REST (10), REPEAT (3),
#          NO_BUILD=1, KEEP_TMP=1.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SIZES=${SIZES:-"1000 10000"}
ROUTES=${ROUTES-"events wake"}
REST=${REST:-10}
REPEAT=${REPEAT:-3}
exec 3>&1 1>&2
log() { printf '\n### [%s, load %s] %s\n' "$(date +%T)" "$(cut -d' ' -f1 /proc/loadavg)" "$*" >&2; }

if [ "${NO_BUILD:-0}" != 1 ]; then
    log "building haul and haul-subscribers (release)"
    cargo build --release --manifest-path "$REPO/Cargo.toml" -p haul -p haul-bench-subscribers
fi
HAUL=${HAUL_BIN:-$REPO/target/release/haul}
SUBS=${SUBS_BIN:-$REPO/target/release/haul-subscribers}
REV=$(cd "$REPO" && git rev-parse --short HEAD)
[ -z "$(cd "$REPO" && git status --porcelain --untracked-files=no)" ] || REV="$REV + uncommitted changes"
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
# Both sides hold one descriptor per subscription.
max=0; for n in $SIZES; do [ "$n" -gt "$max" ] && max=$n; done
ulimit -n $((max + 1000)) 2>/dev/null || ulimit -n "$(ulimit -Hn)"
[ "$(ulimit -n)" -gt "$max" ] || { echo "ulimit -n is $(ulimit -n): raise it above $max" >&2; exit 1; }

T=$(mktemp -d /tmp/haul-subs-bench.XXXXXX)
# shellcheck source=bench/server-lib.sh
source "$REPO/bench/server-lib.sh"
HOLDER=""
cleanup() {
    set +e
    stop_server
    [ -n "$HOLDER" ] && kill "$HOLDER" 2>/dev/null && wait "$HOLDER" 2>/dev/null
    if [ "${KEEP_TMP:-0}" = 1 ]; then echo "kept $T" >&2; else rm -rf "$T"; fi
}
trap cleanup EXIT

SECRET=bench-subscriber-secret
SHA=$(printf %s "$SECRET" | sha256sum | cut -d' ' -f1)
P=$T/p
mkdir -p "$P/src"
echo '<h1>bench</h1>' > "$P/src/index.html"
cat > "$P/haul.toml" <<TOML
[apps.app]
ship = "src"

[environments.test]
hosts = ["a"]

[hosts.a]
transport = "local"
root = ".haul/hosts/a"

[environments.fleet]
mode = "pull"
hosts = ["h1"]

[keys]
sign = ["keys/release.key"]

[[server.tokens]]
name = "bench"
sha256 = "$SHA"
scopes = ["admin"]
TOML
(cd "$P" && "$HAUL" key new release >/dev/null && "$HAUL" deploy app test >/dev/null 2>&1 \
    && "$HAUL" spool app >/dev/null && "$HAUL" bless app fleet >/dev/null)

: > "$T/results"
for route in $ROUTES; do
    case $route in
        events)
            path=/api/v1/events/stream
            trigger="curl -fsS -o /dev/null -X POST -H 'Authorization: Bearer $SECRET' -H 'Content-Type: application/json' \
-d '{\"name\":\"bench\",\"result\":\"pass\"}' http://127.0.0.1:\$PORT/api/v1/deployments/1/verifications" ;;
        wake)
            path="/api/v1/agents/wake?app=app&env=fleet"
            trigger="cd '$P' && '$HAUL' bless app fleet" ;;
        *) echo "unknown route $route (events, wake)" >&2; exit 2 ;;
    esac
    for n in $SIZES; do
        start_server "$P"
        code=$(curl -s -o /dev/null -m 2 -w '%{http_code}' -H "Authorization: Bearer $SECRET" "http://127.0.0.1:$PORT$path" || true)
        # An SSE route that answers holds the connection: curl times out (28) with 200.
        if [ "$code" = 404 ] || [ "$code" = 000 ]; then
            log "$route: $path answered $code: not measured"
            stop_server
            continue 2
        fi
        log "$route: $n subscribers on port $PORT"
        "$SUBS" --addr "127.0.0.1:$PORT" --path "$path" --token "$SECRET" --n "$n" \
            --server-pid "$SERVER" --rest "$REST" --repeat "$REPEAT" \
            --trigger "${trigger//\$PORT/$PORT}" > "$T/out.json"
        printf '%s %s\n' "$route" "$(cat "$T/out.json")" >> "$T/results"
        stop_server
    done
done

# The floor: N sockets held and written to by a minimal server.
cat > "$T/holder.py" <<'PY'
import asyncio, os, sys
# usage: holder.py PORTFILE; writes one SSE event to every connection on SIGUSR1... simpler: on
# any line on stdin. Holds every connection, reads the request head, answers 200.
conns = []
async def handle(r, w):
    await r.readuntil(b"\r\n\r\n")
    w.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\r\n")
    await w.drain()
    conns.append(w)
    await r.read()
async def main():
    srv = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=4096)
    open(sys.argv[1], "w").write(str(srv.sockets[0].getsockname()[1]))
    loop = asyncio.get_running_loop()
    wake = asyncio.Event()
    loop.add_signal_handler(10, wake.set)   # SIGUSR1: one event to everyone
    while True:
        await wake.wait()
        wake.clear()
        for w in conns:
            w.write(b"data: {}\n\n")
asyncio.run(main())
PY
for n in $SIZES; do
    rm -f "$T/holder.port"
    python3 "$T/holder.py" "$T/holder.port" &
    HOLDER=$!
    for _ in $(seq 100); do [ -s "$T/holder.port" ] && break; sleep 0.1; done
    log "floor: $n connections to a minimal asyncio server"
    "$SUBS" --addr "127.0.0.1:$(cat "$T/holder.port")" --path / --token x --n "$n" --server-pid "$HOLDER" \
        --rest "$REST" --repeat "$REPEAT" --trigger "kill -USR1 $HOLDER" > "$T/out.json"
    printf '%s %s\n' floor "$(cat "$T/out.json")" >> "$T/results"
    kill "$HOLDER"; wait "$HOLDER" 2>/dev/null || true; HOLDER=""
done
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

{
    echo "## haul server subscribers benchmark"
    echo
    echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ); haul $REV ($("$HAUL" --version), release profile), SQLite ledger"
    echo "- machine: $(nproc) CPUs, $(lscpu | sed -n 's/^Model name: *//p'), $(free -h | awk '/^Mem:/ {print $2}') RAM, kernel $(uname -r)"
    echo "- load average at start: $LOAD_START, at end: $LOAD_END; subscribers and server share the CPUs"
    echo
    python3 - "$T/results" <<'PY'
import json, sys
def t(ms):
    return f"{ms:.0f} ms" if ms < 1000 else f"{ms / 1000:.2f} s"
print("| route | subscribers | connected | server RSS before | at rest | per subscription | server CPU at rest | event to all: median (max) of rounds | p50 subscriber | server CPU per event |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for line in open(sys.argv[1]):
    route, js = line.split(" ", 1)
    r = json.loads(js)
    rounds = r["rounds"]
    full = [x["max_ms"] for x in rounds if x["delivered"] == r["connected"]]
    full.sort()
    miss = len(rounds) - len(full)
    deliver = (f"**{t(full[len(full) // 2])}** ({t(full[-1])})" if full else "—") + (f", {miss} of {len(rounds)} incomplete" if miss else "")
    p50 = sorted(x["p50_ms"] for x in rounds)[len(rounds) // 2]
    cpu = sorted(x["server_cpu_s"] for x in rounds)[len(rounds) // 2]
    per = (r["rss_rest_kib"] - r["rss_before_kib"]) / max(r["connected"], 1)
    name = {"events": "`/api/v1/events/stream`", "wake": "`/api/v1/agents/wake`", "floor": "floor: asyncio socket holder"}[route]
    print(f"| {name} | {r['n']} | {r['connected']} | {r['rss_before_kib'] / 1024:.1f} MiB | **{r['rss_rest_kib'] / 1024:.1f} MiB** | "
          f"{per:.1f} KiB | {r['cpu_rest_pct']:.1f} % | {deliver} | {t(p50)} | {cpu:.2f} s |")
PY
    echo
    echo "Times are from the trigger command's return to the last subscriber's event (a median over $REPEAT rounds, the slowest round in brackets); CPU at rest is % of one CPU over $REST s."
} >&3
