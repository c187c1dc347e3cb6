# shellcheck shell=bash
# Starting and stopping `haul server` for the benchmarks that need one
# (pull.sh, ledger-api.sh, subscribers.sh), sourced by them. Expects
# `$HAUL`; sets `SERVER` (its pid, recorded so only it is ever stopped)
# and `PORT` (where it listens: it picks a free loopback port itself).

SERVER=""
PORT=""

# start_server DIR: runs `haul server` in DIR (its haul.toml, its ledger),
# its log in DIR/server.log, and waits until it says where it listens.
start_server() {
    local dir=$1
    : > "$dir/server.log"
    (cd "$dir" && exec "$HAUL" server --listen 127.0.0.1:0 2> "$dir/server.log") &
    SERVER=$!
    for _ in $(seq 100); do
        PORT=$(sed -n 's/.*listening on http:\/\/127.0.0.1:\([0-9]*\).*/\1/p' "$dir/server.log")
        [ -n "$PORT" ] && return
        sleep 0.1
    done
    echo "the server did not start:" >&2; cat "$dir/server.log" >&2; exit 1
}

# stop_server: stops the server start_server started, if it runs.
stop_server() {
    [ -n "$SERVER" ] || return 0
    kill "$SERVER" 2>/dev/null || true
    wait "$SERVER" 2>/dev/null || true
    SERVER=""
}
