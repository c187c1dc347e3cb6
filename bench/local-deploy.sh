#!/usr/bin/env bash
# bench/local-deploy.sh: a reproducible benchmark of haul's local deploys.
#
# It builds haul in release mode, generates a deterministic tree of 5,000
# files (100 dirs x 50 files x 10,240 bytes of seeded pseudo-random data,
# 51.2 MB, which does not compress), and times with hyperfine:
#   (a)  a cold deploy to an empty host, deploy-only and build+deploy
#   (b)  a redeploy after changing exactly one file (a new release every run),
#        deploy-only and build+deploy
#   (c)  a rollback, plain (`haul rollback`) and with `--to`
# with rsync as the baseline in the same run:
#   (a') rsync -a <tree>/ <new dir>/                       (cold copy)
#   (b') rsync -a --link-dest=<previous copy> <tree>/ <new dir>/  (one file changed)
# It also measures the disk space one one-file redeploy adds on the host
# (`du`, where hard links count once) against the bytes haul reports sent,
# and the same for rsync --link-dest.
#
# Usage:   bash bench/local-deploy.sh            (from anywhere; run as root
#          to let it install rsync and hyperfine with apt-get)
# Tunable: RUNS=<n> runs per redeploy measurement (default 15),
#          COLD_RUNS (10), BUILD_RUNS (8), ROLLBACK_RUNS (2 x RUNS).
#          TMPDIR=/dev/shm puts the tree, the cache and the host on tmpfs
#          (no disk: numbers then show CPU and syscall cost only).
#          PROFILE=1 adds a timeline of the processes one redeploy runs
#          (needs strace; traced, so slower than untraced).
#          KEEP_TMP=1 keeps the temp dir for inspection.
#
# Progress and hyperfine's own output go to stderr; the results (markdown)
# go to stdout, so `bash bench/local-deploy.sh > results.md` keeps them.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUNS=${RUNS:-15}
COLD_RUNS=${COLD_RUNS:-10}                  # each cold run writes 51 MB
BUILD_RUNS=${BUILD_RUNS:-8}                 # each build snapshots the tree into the cache
ROLLBACK_RUNS=${ROLLBACK_RUNS:-$((RUNS * 2))}  # rollbacks are short: more samples

# Results go to fd 3 (the real stdout); everything else to stderr.
exec 3>&1 1>&2
log() { printf '\n### %s\n' "$*" >&2; }

# ---------------------------------------------------------------------------
# 1. Build haul and install the tools.
# ---------------------------------------------------------------------------
log "building haul (release)"
(cd "$REPO" && cargo build --release -p haul)
HAUL="$REPO/target/release/haul"
# What was built: the commit, and whether tracked files differed from it.
REV=$(cd "$REPO" && git rev-parse --short HEAD 2>/dev/null || echo '?')
if [ -n "$(cd "$REPO" && git status --porcelain --untracked-files=no 2>/dev/null)" ]; then
    REV="$REV + uncommitted changes"
fi
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

missing=()
command -v rsync >/dev/null || missing+=(rsync)
command -v hyperfine >/dev/null || missing+=(hyperfine)
if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    apt-get update
    apt-get install -y rsync hyperfine
fi
command -v python3 >/dev/null || { echo "python3 is needed to generate the tree" >&2; exit 1; }

# ---------------------------------------------------------------------------
# 2. A fresh temp dir: the tree, a haul.toml, one local host.
# ---------------------------------------------------------------------------
WORK=$(mktemp -d "${TMPDIR:-/tmp}/haul-bench.XXXXXX")
cleanup() {
    if [ "${KEEP_TMP:-0}" = 1 ]; then
        echo "kept $WORK" >&2
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT

TREE="$WORK/app/tree"          # what ships
CFG="$WORK/app/haul.toml"
HOSTROOT="$WORK/host"          # the "server": a directory
APPDIR="$HOSTROOT/bench"       # <root>/<app>
CACHE="$WORK/app/.haul/releases"
RS="$WORK/rsync"               # rsync baseline destinations
RES="$WORK/results"            # hyperfine JSON exports
mkdir -p "$WORK/app" "$RS" "$RES"

log "generating the tree in $TREE"
python3 - "$TREE" <<'PY'
import os, random, sys
root = sys.argv[1]
rng = random.Random(20261123)          # fixed seed: the same tree every time
fixed = 1577836800                      # 2020-01-01: fixed mtimes, so rsync's quick check is stable
for d in range(100):
    dp = os.path.join(root, f"d{d:03d}")
    os.makedirs(dp)
    for f in range(50):
        p = os.path.join(dp, f"f{f:02d}.bin")
        with open(p, "wb") as fh:
            fh.write(rng.randbytes(10240))
        os.utime(p, (fixed, fixed))
PY

# No build steps: the release is the tree as it is. keep = 5 is haul's
# default; in steady state every deploy therefore also prunes one release.
cat > "$CFG" <<EOF
[apps.bench]
ship = "tree"
keep = 5

[environments.bench]
hosts = ["h"]

[hosts.h]
transport = "local"
root = "$HOSTROOT"
EOF

# Changes exactly one file (same size, new content) to a content never seen
# before, so every build is a new release. Deterministic: run n writes the
# bytes of seed n.
MUTATE="$WORK/mutate"
cat > "$MUTATE" <<EOF
#!/bin/sh
set -e
n=\$(cat "$WORK/counter" 2>/dev/null || echo 0); n=\$((n + 1)); echo "\$n" > "$WORK/counter"
python3 -c 'import random,sys; open(sys.argv[1],"wb").write(random.Random(int(sys.argv[2])).randbytes(10240))' "$TREE/d050/f25.bin" "\$n"
EOF
chmod +x "$MUTATE"

H="$HAUL -c $CFG"
files=$(find "$TREE" -type f | wc -l)
bytes=$(find "$TREE" -type f -printf '%s\n' | awk '{s+=$1} END {print s}')
echo "tree: $files files, $bytes bytes" >&2

# The rsync --link-dest reference: a copy of the tree as generated.
rsync -a "$TREE/" "$RS/base/"

# hf NAME RUNS [hyperfine args...]: one hyperfine benchmark, exported as JSON.
hf() {
    local name=$1 runs=$2
    shift 2
    log "$name"
    hyperfine --style basic --runs "$runs" --export-json "$RES/$name.json" "$@"
}

# ---------------------------------------------------------------------------
# 3a. Cold deploys (empty host) and the cold rsync baseline.
# ---------------------------------------------------------------------------
R0=$($H build bench)   # the release of the tree as generated
hf cold_build_deploy "$BUILD_RUNS" --warmup 1 --prepare "rm -rf $HOSTROOT" \
    "$H deploy bench bench"
hf cold_deploy "$COLD_RUNS" --warmup 1 --prepare "rm -rf $HOSTROOT" \
    "$H deploy bench bench --release $R0"
hf rsync_cold "$COLD_RUNS" --warmup 1 --prepare "rm -rf $RS/cold" \
    "rsync -a $TREE/ $RS/cold/"
rm -rf "$RS/cold"

# ---------------------------------------------------------------------------
# 4. Bytes written by one one-file redeploy (the host holds R0 only, so no
#    release is pruned and the du difference is exactly the new release).
# ---------------------------------------------------------------------------
log "bytes written by a one-file redeploy"
du_b() { du -sB1 "$@" | awk '{s+=$1} END {print s}'; }
"$MUTATE"
cache_before=$(du_b "$CACHE")
R1=$($H build bench)
cache_after=$(du_b "$CACHE")
host_before=$(du_b "$APPDIR")
deploy_json=$($H deploy bench bench --release "$R1" --json 2>"$WORK/bytes-deploy.err")
host_after=$(du_b "$APPDIR")
# --json prints events as JSON lines, the last being the report; take the
# host's stage report: files and file bytes sent, files reused, and (where
# haul reports it) the bytes of the whole stage stream.
read -r haul_sent_files haul_sent_bytes haul_reused haul_stream_bytes < <(
    echo "$deploy_json" | python3 -c '
import json, sys
rep = [json.loads(l) for l in sys.stdin if l.strip().startswith("{")]
rep = [r for r in rep if r.get("event", "report") == "report" and "hosts" in r][-1]
st = rep["hosts"][0]["stage"]
print(st["sent_files"], st["sent_bytes"], st["reused_files"], st.get("stream_bytes", "n/a"))')
manifest_bytes=$(stat -c %s "$APPDIR/releases/$R1.manifest" 2>/dev/null || echo 0)
record_bytes=$(stat -c %s "$CACHE/bench/$R1.record" 2>/dev/null || echo 0)
times_bytes=$(stat -c %s "$CACHE/bench/$R1.times" 2>/dev/null || echo 0)

rs_before=$(du_b "$RS")
rs_stats=$(rsync -a --stats --link-dest="$RS/base" "$TREE/" "$RS/one/")
rs_after=$(du_b "$RS")
rm -rf "$RS/one"
rs_sent_files=$(echo "$rs_stats" | sed -n 's/^Number of regular files transferred: *\([0-9,]*\).*/\1/p' | tr -d ,)
rs_sent_bytes=$(echo "$rs_stats" | sed -n 's/^Total transferred file size: *\([0-9,]*\).*/\1/p' | tr -d ,)
rs_stream_bytes=$(echo "$rs_stats" | sed -n 's/^Total bytes sent: *\([0-9,]*\).*/\1/p' | tr -d ,)
dirs=$(find "$TREE" -type d | wc -l)
# Directories cannot be hard-linked: every release has its own, and their
# blocks are part of what a release adds (the same for rsync --link-dest).
dir_bytes=$(find "$APPDIR/releases/$R1" -type d -printf '%b\n' | awk '{s+=$1} END {print s * 512}')
file_blocks=$(find "$APPDIR/releases/$R1/d050/f25.bin" -printf '%b\n' | awk '{print $1 * 512}')

# ---------------------------------------------------------------------------
# 3b. Redeploys after changing one file: a new release every run.
# ---------------------------------------------------------------------------
hf build_only "$BUILD_RUNS" --prepare "$MUTATE" \
    "$H build bench"
hf redeploy_build_deploy "$RUNS" --warmup 2 --prepare "$MUTATE" \
    "$H deploy bench bench"
hf redeploy_deploy "$RUNS" --warmup 2 \
    --prepare "$MUTATE && $H build bench > $WORK/next-id" \
    "$H deploy bench bench --release \$(cat $WORK/next-id)"
hf rsync_link_dest "$RUNS" --warmup 2 --prepare "$MUTATE && rm -rf $RS/new" \
    "rsync -a --link-dest=$RS/base $TREE/ $RS/new/"
# The floor of haul's staging: hard-link a whole 5,000-file release.
LIVE_DIR="$APPDIR/$(readlink "$APPDIR/current")"
hf cp_al "$RUNS" --warmup 2 --prepare "rm -rf $WORK/cpal" \
    "cp -al $LIVE_DIR/. $WORK/cpal"
rm -rf "$WORK/cpal" "$RS/new"

# One more redeploy with its progress lines, for where the time goes.
"$MUTATE"
RP=$($H build bench)
TIMEFORMAT='total: wall %3Rs, user %3Us, sys %3Ss'
phases=$( { time $H deploy bench bench --release "$RP" >/dev/null; } 2>&1 )

# Optional: which processes one redeploy starts, and how long each takes
# (strace follows forks but stops only at execve/exit, via seccomp-bpf).
timeline=""
if [ "${PROFILE:-0}" = 1 ] && command -v strace >/dev/null; then
    "$MUTATE"
    RP=$($H build bench)
    strace -f --seccomp-bpf -ttt -e trace=execve,exit_group -o "$WORK/trace" \
        $H deploy bench bench --release "$RP" >/dev/null 2>&1
    timeline=$(python3 - "$WORK/trace" <<'PY'
import re, sys
start, t0, t = {}, None, 0.0
for line in open(sys.argv[1]):
    m = re.match(r"(\d+)\s+(\d+\.\d+) (.*)", line)
    if not m:
        continue
    pid, t, rest = m.group(1), float(m.group(2)), m.group(3)
    t0 = t if t0 is None else t0
    if rest.startswith("execve(") and rest.rstrip().endswith("= 0"):
        start[pid] = (t, " ".join(re.findall(r'"([^"]*)"', rest)[1:4])[:60])
    elif rest.startswith("+++ exited") and pid in start:
        s, what = start.pop(pid)
        print(f"{(s - t0) * 1000:7.1f} ms  took {(t - s) * 1000:6.1f} ms  {what}")
if t0 is not None:
    print(f"{(t - t0) * 1000:7.1f} ms  end")
PY
)
fi

# ---------------------------------------------------------------------------
# 3c. Rollbacks: no build, no transfer; a switch of `current`.
# ---------------------------------------------------------------------------
# The two newest releases; B is live. Plain: each run first switches to B
# (untimed), then times `haul rollback` (back to A by the deploy history).
B=$(readlink "$APPDIR/current"); B=${B#releases/}
A=$(ls "$APPDIR/releases" | grep -v '\.manifest' | grep -v '^\.' | sort | grep -v -x "$B" | tail -n 1)
hf rollback "$ROLLBACK_RUNS" --warmup 3 \
    --prepare "$H rollback bench bench --to $B > /dev/null 2>&1" \
    "$H rollback bench bench"
# --to: each run goes to whichever of A and B is not live.
hf rollback_to "$ROLLBACK_RUNS" --warmup 3 \
    --prepare "if [ \"\$(readlink $APPDIR/current)\" = releases/$A ]; then echo $B; else echo $A; fi > $WORK/to" \
    "$H rollback bench bench --to \$(cat $WORK/to)"

# ---------------------------------------------------------------------------
# 5. The results, as markdown on stdout.
# ---------------------------------------------------------------------------
{
echo "## haul local-deploy benchmark"
echo
echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "- haul: $REV ($("$HAUL" --version), release profile)"
echo "- machine: $(nproc) CPUs, $(lscpu | sed -n 's/^Model name: *//p'), $(free -h | awk '/^Mem:/ {print $2}') RAM, kernel $(uname -r), temp dir on $(df --output=fstype "$WORK" | tail -n 1) ($(df --output=source "$WORK" | tail -n 1))"
echo "- tools: $(hyperfine --version), $(rsync --version | head -n 1 | awk '{print $1, $3}'), runs per row in the table"
echo "- load average (1/5/15 min) at start: $LOAD_START, at end: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine skews the numbers)"
echo "- tree: $files files in $((dirs - 1)) dirs, $bytes bytes (seeded random, incompressible); page cache warm"
echo
} >&3

python3 - "$RES" >&3 <<'PY'
import json, os, sys
res = sys.argv[1]
def get(name):
    with open(os.path.join(res, name + ".json")) as f:
        r = json.load(f)["results"][0]
    return r
def ms(s):
    return f"{s * 1000:.1f} ms" if s < 1 else f"{s:.3f} s"
rows = [
    ("(a) cold deploy, empty host: deploy only", "haul deploy --release ID", "cold_deploy"),
    ("(a) cold deploy, empty host: build + deploy", "haul deploy", "cold_build_deploy"),
    ("(a') cold copy (baseline)", "rsync -a tree/ new/", "rsync_cold"),
    ("(b) redeploy, 1 file changed: deploy only", "haul deploy --release ID", "redeploy_deploy"),
    ("(b) redeploy, 1 file changed: build + deploy", "haul deploy", "redeploy_build_deploy"),
    ("(b) build only, 1 file changed", "haul build", "build_only"),
    ("(b') copy, 1 file changed (baseline)", "rsync -a --link-dest=prev tree/ new/", "rsync_link_dest"),
    ("floor of (b): hard-link 5,000 files", "cp -al release/. new", "cp_al"),
    ("(c) rollback to the previous release", "haul rollback", "rollback"),
    ("(c) rollback, alternating", "haul rollback --to ID", "rollback_to"),
]
print("| scenario | command | median | mean ± σ | min … max | runs |")
print("|---|---|---:|---:|---:|---:|")
for scen, cmd, name in rows:
    r = get(name)
    print(f"| {scen} | `{cmd}` | **{ms(r['median'])}** | {ms(r['mean'])} ± {ms(r['stddev'] or 0)} "
          f"| {ms(r['min'])} … {ms(r['max'])} | {len(r['times'])} |")
PY

kib() { awk -v b="$1" 'BEGIN {printf "%.1f KiB", b / 1024}'; }
{
echo
echo "### Bytes for one one-file redeploy (10,240-byte file changed)"
echo
echo "| | haul | rsync --link-dest |"
echo "|---|---:|---:|"
echo "| files sent (reported) | $haul_sent_files (reused $haul_reused) | $rs_sent_files |"
echo "| file bytes sent (reported) | $haul_sent_bytes | $rs_sent_bytes |"
echo "| whole stream sent (reported) | $haul_stream_bytes | $rs_stream_bytes |"
echo "| disk added on the host (du, hard links once) | $((host_after - host_before)) B ($(kib $((host_after - host_before)))) | $((rs_after - rs_before)) B ($(kib $((rs_after - rs_before)))) |"
echo "| of which: release record \`<id>.manifest\` | $manifest_bytes B ($(kib "$manifest_bytes")) | — |"
echo "| of which: the changed file's blocks | $file_blocks B | same |"
echo "| of which: $dirs new directories' blocks | $dir_bytes B | same |"
echo "| build side: release cache growth (new contents + \`<id>.record\` + \`<id>.times\`) | $((cache_after - cache_before)) B ($(kib $((cache_after - cache_before)))); record $record_bytes B, times $times_bytes B | — |"
echo
echo "### One redeploy (deploy only), haul's progress lines"
echo
echo '```'
echo "$phases"
echo '```'
if [ -n "$timeline" ]; then
    echo
    echo "### One redeploy (deploy only) under strace: each process, start and duration"
    echo
    echo '```'
    echo "$timeline"
    echo '```'
fi
} >&3

# Targets from the issue.
python3 - "$RES" "$((host_after - host_before))" "$bytes" "$haul_sent_bytes" "$file_blocks" \
    "$dir_bytes" "$manifest_bytes" "$((rs_after - rs_before))" >&3 <<'PY'
import json, os, sys
res = sys.argv[1]
added, total, sent, changed, dirs, manifest, rs_added = map(int, sys.argv[2:])
med = lambda n: json.load(open(os.path.join(res, n + ".json")))["results"][0]["median"]
yes = lambda ok: "**met**" if ok else "**NOT met**"
d, bd, rb, rt = med("redeploy_deploy"), med("redeploy_build_deploy"), med("rollback"), med("rollback_to")
print()
print("### Targets")
print()
print(f"- one-file redeploy < 0.5 s: deploy only {d*1000:.0f} ms {yes(d < 0.5)}; "
      f"build + deploy {bd*1000:.0f} ms {yes(bd < 0.5)}")
# What any hard-link scheme must write: the changed file's blocks plus one
# block per directory (directories cannot be hard-linked). 64 KiB of slack.
floor = changed + dirs
verdict = ("**met**" if added <= floor + 65536 else
           "**met for file data, not for metadata**" if sent <= changed else "**NOT met**")
print(f"- one-file redeploy writes O(changed bytes): {verdict}. File data sent {sent} B; "
      f"disk added on the host {added} B ({added / 1024:.0f} KiB, {100 * added / total:.2f} % of the tree): "
      f"{changed} B for the file, {dirs} B for new directories (rsync --link-dest pays the same; it adds {rs_added} B in all), "
      f"{manifest} B for the release record, which grows with the number of files")
print(f"- rollback < 50 ms: {rb*1000:.1f} ms {yes(rb < 0.05)} (`--to`: {rt*1000:.1f} ms {yes(rt < 0.05)})")
PY
