#!/usr/bin/env bash
# bench/thousand.sh: how the cost of haul's push deploys grows with the
# fleet, up to 1,000 sshd hosts on loopback (haul-fleet), with plain OpenSSH
# as the baseline in the same run.
#
# For each fleet size in SIZES (default 100, 300 and 1,000 hosts), timed
# with hyperfine:
#   (a) `haul exec fleet -- true`, warm (haul's masters up) with the
#       default --parallel (32) and with every host at once (--parallel N),
#       and cold (no masters: a new connection to every host, 32 at once),
#       against raw
#       `ssh host true` on every host at once, through masters opened
#       beforehand (warm) or with a new connection each (cold);
# and on the largest fleet:
#   (b) a small cold deploy: 10 files, 40 KiB, to every host (nothing of
#       the app on any host), against raw `tar -c | ssh … tar -x` to every
#       host through masters;
#   (c) a one-file redeploy to every host (a new release each run, built
#       before it), against raw `cp -al` + a one-file tar, one ssh per host;
# and for each haul run above, the controller's peak resident memory (the
# `haul` process's maxrss, from getrusage; its ssh masters are separate
# processes and not counted).
# Prints (stdout, markdown) the machine, the table and the memory, and
# writes the plot of time against hosts to PLOT (default
# docs/fleet-scale.svg).
#
# Usage:   sudo bash bench/thousand.sh [> results.md]   (root: mount
#          namespaces for the fleet; apt-get for hyperfine)
# Tunable: SIZES ("100 300 1000"), RUNS (warm runs, 10), COLD_RUNS (3),
#          RESULTS_FROM (a results dir of an earlier run whose other sizes
#          go into the table and the plot too), REPORT_SIZES (default SIZES),
#          DEPLOY_RUNS (3), PORT (2222), PLOT (docs/fleet-scale.svg),
#          NO_BUILD=1, KEEP_TMP=1.
# Takes 10-20 minutes on 2 cores; a 1,000-host fleet uses ~3 GB of memory
# with masters up.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SIZES=${SIZES:-"100 300 1000"}
RUNS=${RUNS:-10}
COLD_RUNS=${COLD_RUNS:-3}
DEPLOY_RUNS=${DEPLOY_RUNS:-3}
PORT=${PORT:-2222}
PLOT=${PLOT:-$REPO/docs/fleet-scale.svg}

exec 3>&1 1>&2
log() { printf '\n### [%s, load %s] %s\n' "$(date +%T)" "$(cut -d' ' -f1 /proc/loadavg)" "$*" >&2; }
[ "$(id -u)" = 0 ] || { echo "run as root: the fleet needs mount namespaces" >&2; exit 1; }

# shellcheck source=bench/fleet-lib.sh
source "$REPO/bench/fleet-lib.sh"

# maxrss NAME CMD...: runs CMD once, untimed, and records the peak resident
# memory of the process it starts (KiB) in $RES/NAME.rss.
maxrss() {
    local name=$1
    shift
    python3 - "$RES/$name.rss" "$@" <<'PY'
import resource, subprocess, sys
out, cmd = sys.argv[1], sys.argv[2:]
subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
open(out, "w").write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))
PY
}

# The small tree of (b) and (c): 10 files of 4 KiB.
python3 - "$TREE" <<'PY'
import os, random, sys
root = sys.argv[1]
rng = random.Random(20261203)
os.makedirs(os.path.join(root, "assets"))
for i in range(10):
    sub = "assets" if i % 2 else ""
    with open(os.path.join(root, sub, f"f{i}.bin"), "wb") as fh:
        fh.write(rng.randbytes(4096))
PY
CHANGED=f0.bin
cat > "$WORK/mutate" <<EOF
#!/bin/sh
set -e
k=\$(cat "$WORK/counter" 2>/dev/null || echo 0); k=\$((k + 1)); echo "\$k" > "$WORK/counter"
python3 -c 'import random,sys; open(sys.argv[1],"wb").write(random.Random(int(sys.argv[2])).randbytes(4096))' "$TREE/$CHANGED" "\$k"
EOF
chmod +x "$WORK/mutate"

[ -n "${RESULTS_FROM:-}" ] && cp "$RESULTS_FROM"/* "$RES"/
REPORT_SIZES=${REPORT_SIZES:-$SIZES}
largest=0; for n in $SIZES; do [ "$n" -gt "$largest" ] && largest=$n; done
for n in $SIZES; do
    d="$WORK/f$n"
    H="$HAUL --config $d/haul.toml"
    fleet_up "$n" "$d"
    # (a) warm: haul's masters up (they persist 60 s past each run), opened
    # with the default --parallel.
    $H exec fleet -- true
    got=$($H exec fleet -- echo ok | grep -c ' ok$' || true)
    [ "$got" = "$n" ] || { echo "haul exec reached $got of $n hosts" >&2; exit 1; }
    hf "exec_warm_$n" "$RUNS" 2 "$H exec fleet -- true"
    hf "exec_warm_all_$n" "$RUNS" 2 "$H --parallel $n exec fleet -- true"
    maxrss "exec_warm_all_$n" $H --parallel "$n" exec fleet -- true
    # haul's masters down before the baseline's go up: both at once would
    # double the fleet's sshd processes.
    "$WORK/stop-haul-masters" "$d"
    open_raw_masters "$d"
    got=$("$WORK/raw" echo "$d" | grep -c '^ok$' || true)
    [ "$got" = "$n" ] || { echo "the raw baseline reached $got of $n hosts" >&2; exit 1; }
    hf "raw_warm_$n" "$RUNS" 2 "$WORK/raw true $d"
    close_raw_masters
    # (a) cold: no masters before each run; connections opened with the
    # default --parallel (32 at once).
    hf "exec_cold_$n" "$COLD_RUNS" 0 --prepare "$WORK/stop-haul-masters $d" \
        "$H exec fleet -- true"
    "$WORK/stop-haul-masters" "$d"
    maxrss "exec_cold_$n" $H exec fleet -- true
    hf "raw_cold_$n" "$COLD_RUNS" 0 "$WORK/raw cold $d"

    if [ "$n" = "$largest" ]; then
        # The app ships the small tree as it is.
        python3 - "$d/haul.toml" "$TREE" <<'PY'
import re, sys
path, tree = sys.argv[1], sys.argv[2]
text = open(path).read()
new, k = re.subn(r"\[apps\.site\]\n(?:.+\n)*", f'[apps.site]\nship = "{tree}"\nkeep = 100\n', text, count=1)
assert k == 1, "no [apps.site] in haul.toml"
open(path, "w").write(new)
PY
        R0=$($H build site)
        # (b) cold deploy, every host at once and with the default --parallel.
        hf "deploy_cold_all_$n" "$DEPLOY_RUNS" 0 \
            --prepare "$H exec fleet -- rm -rf /srv/site" \
            "$H --parallel $n deploy site fleet --release $R0"
        $H exec fleet -- rm -rf /srv/site
        maxrss "deploy_cold_all_$n" $H --parallel "$n" deploy site fleet --release "$R0"
        hf "deploy_cold_$n" "$DEPLOY_RUNS" 0 \
            --prepare "$H exec fleet -- rm -rf /srv/site" \
            "$H deploy site fleet --release $R0"
        # (c) one-file redeploy (built in --prepare: deploy only).
        hf "redeploy_all_$n" "$DEPLOY_RUNS" 1 \
            --prepare "$WORK/mutate && $H build site > $WORK/next-id 2>/dev/null" \
            "$H --parallel $n deploy site fleet --release \$(cat $WORK/next-id)"
        "$WORK/mutate"
        maxrss "redeploy_all_$n" $H --parallel "$n" deploy site fleet
        "$WORK/stop-haul-masters" "$d"
        open_raw_masters "$d"
        hf "raw_tar_$n" "$DEPLOY_RUNS" 0 --prepare "$WORK/raw rm $d" "$WORK/raw tar $d"
        "$WORK/raw" tar "$d"
        hf "raw_onefile_$n" "$DEPLOY_RUNS" 1 "$WORK/raw onefile $d $CHANGED"
        close_raw_masters
    fi
    fleet_down "$d"
done
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
FOREIGN=$(foreign_summary)

{
echo "## haul on fleets of up to $largest hosts"
echo
echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "- haul: $REV ($("$HAUL" --version), release profile); $(hyperfine --version); $(ssh -V 2>&1)"
echo "- machine: $(nproc) CPUs, $(lscpu | sed -n 's/^Model name: *//p'), $(free -h | awk '/^Mem:/ {print $2}') RAM, kernel $(uname -r)"
echo "- load average at start: $LOAD_START, at end: $LOAD_END"
echo "- CPU used by other processes during the run (sampled every 2 s): $FOREIGN"
echo "- fleet: haul-fleet, one sshd per host on its own loopback address, /srv on tmpfs; client and servers share the $(nproc) CPUs"
echo
} >&3

python3 - "$RES" "$REPORT_SIZES" "$largest" "$PLOT" >&3 <<'PY'
import json, os, sys
res, sizes, big, plot = sys.argv[1], [int(s) for s in sys.argv[2].split()], int(sys.argv[3]), sys.argv[4]
def get(name):
    p = os.path.join(res, name + ".json")
    return json.load(open(p))["results"][0] if os.path.exists(p) else None
def rss(name):
    p = os.path.join(res, name + ".rss")
    return int(open(p).read()) if os.path.exists(p) else None
def t(s):
    return f"{s * 1000:.0f} ms" if s < 1 else f"{s:.2f} s"
def cell(r):
    return f"**{t(r['median'])}** ({t(r['mean'])}, {len(r['times'])} runs)" if r else "—"
def mem(name):
    k = rss(name)
    return f"{k / 1024:.0f} MB" if k else "—"
rows = []
for n in sizes:
    rows += [
        (f"(a) `exec -- true`, warm, {n} hosts, `--parallel 32`", f"exec_warm_{n}", f"raw_warm_{n}", None, None),
        (f"(a) same, `--parallel {n}`", f"exec_warm_all_{n}", f"raw_warm_{n}", 1.5 if n == 1000 else None, f"exec_warm_all_{n}"),
        (f"(a) cold: new connections, {n} hosts, `--parallel 32`", f"exec_cold_{n}", f"raw_cold_{n}", None, f"exec_cold_{n}"),
        (f"(a) cold, `--parallel {n}` (earlier runs)", f"exec_cold_all_{n}", f"raw_cold_{n}", None, f"exec_cold_all_{n}"),
    ]
rows += [
    (f"(b) small cold deploy (10 files), {big} hosts, `--parallel {big}`", f"deploy_cold_all_{big}", f"raw_tar_{big}", None, f"deploy_cold_all_{big}"),
    (f"(b) same, `--parallel 32`", f"deploy_cold_{big}", f"raw_tar_{big}", None, None),
    (f"(c) one-file redeploy, {big} hosts, `--parallel {big}`", f"redeploy_all_{big}", f"raw_onefile_{big}", None, f"redeploy_all_{big}"),
]
print("| case | haul median | raw OpenSSH median | ratio | target | controller peak RSS |")
print("|---|---:|---:|---:|---|---:|")
for case, hn, bn, target, mn in rows:
    h, b = get(hn), get(bn)
    if not h:
        continue
    ratio = f"{h['median'] / b['median']:.2f}×" if b else "—"
    tgt = "—"
    if target:
        tgt = f"≤ {t(target)}: " + ("**met**" if h["median"] <= target else "**not met**")
    print(f"| {case} | {cell(h)} | {cell(b)} | {ratio} | {tgt} | {mem(mn) if mn else ''} |")
print()
names = [x[:-4] for x in os.listdir(res) if x.endswith(".rss")]
peak = max((rss(x) or 0 for x in names), default=0)
print(f"Largest controller peak RSS of the run: {peak / 1024:.0f} MB (target at 1,000 hosts: ≤ 200 MB).")

# The plot: median seconds against hosts, one line per series.
series = [
    ("haul exec, warm, --parallel N", "exec_warm_all_{}", "#1f77b4", ""),
    ("raw ssh, warm (masters)", "raw_warm_{}", "#1f77b4", "6,4"),
    ("haul exec, cold, --parallel 32", "exec_cold_{}", "#d62728", ""),
    ("haul exec, cold, --parallel N", "exec_cold_all_{}", "#ff7f0e", ""),
    ("raw ssh, cold", "raw_cold_{}", "#d62728", "6,4"),
    ("haul exec, warm, --parallel 32", "exec_warm_{}", "#2ca02c", ""),
]
pts = {label: [(n, get(key.format(n))["median"]) for n in sizes if get(key.format(n))] for label, key, _, _ in series}
ymax = max((y for p in pts.values() for _, y in p), default=1) * 1.1
W, Hh, L, R, T, B = 640, 400, 60, 200, 20, 50
xmax = max(sizes)
X = lambda n: L + (W - L - R) * n / xmax
Y = lambda s: T + (Hh - T - B) * (1 - s / ymax)
svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{Hh}" font-family="sans-serif" font-size="11">',
       f'<rect width="{W}" height="{Hh}" fill="white"/>',
       f'<line x1="{L}" y1="{Y(0)}" x2="{W - R}" y2="{Y(0)}" stroke="black"/>',
       f'<line x1="{L}" y1="{T}" x2="{L}" y2="{Y(0)}" stroke="black"/>',
       f'<text x="{(L + W - R) / 2}" y="{Hh - 12}" text-anchor="middle">hosts</text>',
       f'<text x="14" y="{(T + Hh - B) / 2}" transform="rotate(-90 14 {(T + Hh - B) / 2})" text-anchor="middle">seconds (median)</text>']
for n in [0] + sizes:
    svg.append(f'<text x="{X(n)}" y="{Y(0) + 15}" text-anchor="middle">{n}</text>')
steps = 5
for i in range(steps + 1):
    v = ymax * i / steps
    svg.append(f'<text x="{L - 6}" y="{Y(v) + 4}" text-anchor="end">{v:.1f}</text>')
    svg.append(f'<line x1="{L}" y1="{Y(v)}" x2="{W - R}" y2="{Y(v)}" stroke="#ddd"/>')
for i, (label, _, color, dash) in enumerate(series):
    p = pts[label]
    if not p:
        continue
    d = " ".join(f"{X(n):.1f},{Y(s):.1f}" for n, s in p)
    svg.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" stroke-dasharray="{dash}" points="{d}"/>')
    for n, s in p:
        svg.append(f'<circle cx="{X(n):.1f}" cy="{Y(s):.1f}" r="3" fill="{color}"/>')
    ly = T + 14 * i + 10
    svg.append(f'<line x1="{W - R + 10}" y1="{ly}" x2="{W - R + 30}" y2="{ly}" stroke="{color}" stroke-width="2" stroke-dasharray="{dash}"/>')
    svg.append(f'<text x="{W - R + 34}" y="{ly + 4}">{label}</text>')
svg.append("</svg>")
open(plot, "w").write("\n".join(svg) + "\n")
print()
print(f"Plot: `{os.path.relpath(plot)}`.")
PY
