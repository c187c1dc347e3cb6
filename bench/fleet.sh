#!/usr/bin/env bash
# bench/fleet.sh: a reproducible benchmark of haul's push deploys over SSH,
# against a simulated fleet of real sshd hosts on loopback (haul-fleet), with
# plain OpenSSH as the baseline in the same run.
#
# It builds haul and haul-fleet in release mode and times with hyperfine:
#   (a)  `haul exec fleet -- true` on fleets of 8, 32 and 100 hosts, with
#        haul's masters already up (warm) and with none (cold), against
#        parallel raw `ssh host true`, every host at once: through a master
#        opened beforehand (warm) or a fresh connection each (cold);
#   (b)  a cold deploy (empty /srv/site on every host) of a 5,000-file,
#        51.2 MB tree to 8 hosts, deploy only (`--release ID`), against
#        parallel raw `tar -cf - . | ssh host 'tar -xf -'` through masters,
#        and (for reading the gap) the same plus the host-side steps of
#        haul's first stage (extract to a temp dir, cp -al, rm -rf);
#   (c)  a redeploy to 8 hosts after changing exactly one file (a new
#        release every run; built in --prepare, so build time is excluded;
#        and once more with the build included: `haul deploy` from the tree),
#        against a floor: raw `cp -al` of the tree plus a one-file tar on
#        every host, one ssh each; and once more with `keep = 100`, so no
#        old release is pruned (with the default keep = 5 every deploy in
#        steady state also removes one 5,000-file release per host);
#   (d)  `haul rollback site fleet --to ID` on 8 hosts, alternating between
#        two releases, against a floor: raw `ln -s` + `mv -T` on every host,
#        one ssh each.
# Then it prints (stdout, markdown) the machine, a table with haul's and the
# baseline's medians, the ratio and the issue's targets, and where the time
# of one cold deploy and one redeploy goes (haul's --json task timings).
#
# Usage:   sudo bash bench/fleet.sh [> results.md]    (needs root: mount
#          namespaces for the fleet, apt-get for hyperfine; openssh-server)
# Tunable: RUNS (warm exec runs, default 30), COLD_RUNS (cold exec, 3),
#          DEPLOY_RUNS (cold deploys, 5), REDEPLOY_RUNS (10),
#          ROLLBACK_RUNS (20), SIZES ("8 32 100"), PORT (2222),
#          KEEP_TMP=1 (keep the temp dir; fleets are still taken down),
#          NO_BUILD=1 (skip the cargo build, use target/release as it is).
# Progress goes to stderr, results to stdout. Takes ~5 minutes on a quiet
# 2-core machine, plus the build; up to ~9 when other work competes.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUNS=${RUNS:-30}
COLD_RUNS=${COLD_RUNS:-3}
DEPLOY_RUNS=${DEPLOY_RUNS:-5}
REDEPLOY_RUNS=${REDEPLOY_RUNS:-10}
ROLLBACK_RUNS=${ROLLBACK_RUNS:-20}
SIZES=${SIZES:-"8 32 100"}
PORT=${PORT:-2222}
DEPLOY_HOSTS=8                      # (b), (c), (d) run on the 8-host fleet

# Results go to fd 3 (the real stdout); everything else to stderr.
exec 3>&1 1>&2
log() { printf '\n### [%s, load %s] %s\n' "$(date +%T)" "$(cut -d' ' -f1 /proc/loadavg)" "$*" >&2; }

[ "$(id -u)" = 0 ] || { echo "run as root: the fleet needs mount namespaces" >&2; exit 1; }

# Sections 1-3 (build, temp dir and cleanup, sampler, helpers).
# shellcheck source=bench/fleet-lib.sh
source "$REPO/bench/fleet-lib.sh"

# ---------------------------------------------------------------------------
# 4. (a) One trivial command on 8, 32, 100 hosts.
# ---------------------------------------------------------------------------
for n in $SIZES; do
    d="$WORK/f$n"
    H="$HAUL --config $d/haul.toml"
    fleet_up "$n" "$d"
    open_raw_masters "$d"
    $H exec fleet -- true            # haul's masters up (they persist 60 s)
    check_reach "$n" "$d"
    hf "exec_warm_$n" "$RUNS" 2 "$H exec fleet -- true"
    hf "raw_warm_$n" "$RUNS" 2 "$WORK/raw true $d"
    if [ "$n" -gt 32 ]; then
        # Default --parallel is 32; also with every host at once, like the baseline.
        hf "exec_warm_p${n}_$n" "$RUNS" 2 "$H --parallel $n exec fleet -- true"
    fi
    # Cold: every haul master closed before each run; the baseline opens a
    # new connection per host.
    # (No warmup: the binaries and files are already warm from the runs above.)
    hf "exec_cold_$n" "$COLD_RUNS" 0 --prepare "$WORK/stop-haul-masters $d" \
        "$H exec fleet -- true"
    hf "raw_cold_$n" "$COLD_RUNS" 0 "$WORK/raw cold $d"
    fleet_down "$d"
done
# A fresh 8-host fleet for (b)-(d).
D="$WORK/deploy"
H="$HAUL --config $D/haul.toml"
fleet_up "$DEPLOY_HOSTS" "$D"
open_raw_masters "$D"
check_reach "$DEPLOY_HOSTS" "$D"

# ---------------------------------------------------------------------------
# 5. The tree, and app `site` shipping it with no build step.
# ---------------------------------------------------------------------------
log "generating the tree in $TREE"
python3 - "$TREE" <<'PY'
import os, random, sys
root = sys.argv[1]
rng = random.Random(20261123)          # fixed seed: the same tree every time
for d in range(100):
    dp = os.path.join(root, f"d{d:03d}")
    os.makedirs(dp)
    for f in range(50):
        with open(os.path.join(dp, f"f{f:02d}.bin"), "wb") as fh:
            fh.write(rng.randbytes(10240))   # random bytes: incompressible
PY
files=$(find "$TREE" -type f | wc -l)
bytes=$(find "$TREE" -type f -printf '%s\n' | awk '{s+=$1} END {print s}')
echo "tree: $files files, $bytes bytes" >&2

# Replace the generated [apps.site] (a build step shipping dist/) by one that
# ships the tree as it is.
python3 - "$D/haul.toml" "$TREE" <<'PY'
import re, sys
path, tree = sys.argv[1], sys.argv[2]
text = open(path).read()
new, n = re.subn(r"\[apps\.site\]\n(?:.+\n)*", f'[apps.site]\nship = "{tree}"\n', text, count=1)
assert n == 1, "no [apps.site] in haul.toml"
open(path, "w").write(new)
PY
R0=$($H build site)
echo "release of the tree: $R0" >&2

# ---------------------------------------------------------------------------
# 6. (b) Cold deploy: /srv/site (and the baseline's /srv/raw) wiped on every
#    host before each run, through haul's masters (which keeps them warm).
# ---------------------------------------------------------------------------
$H exec fleet -- true
hf deploy_cold "$DEPLOY_RUNS" 1 --prepare "$H exec fleet -- rm -rf /srv/site /srv/raw" \
    "$H deploy site fleet --release $R0"
hf raw_tar "$DEPLOY_RUNS" 1 --prepare "$H exec fleet -- rm -rf /srv/raw" \
    "$WORK/raw tar $D"
hf raw_tarstaged "$DEPLOY_RUNS" 1 --prepare "$H exec fleet -- rm -rf /srv/raw /srv/rawi" \
    "$WORK/raw tarstaged $D"
# One more, with haul's JSON events, for where the time goes.
$H exec fleet -- rm -rf /srv/site
$H deploy site fleet --release "$R0" --json > "$WORK/cold.json"
tar -C "$TREE" -cf - . | wc -c > "$WORK/tar-bytes"
"$WORK/raw" tar "$D"            # /srv/raw: the base of the (c) floor

# ---------------------------------------------------------------------------
# 7. (c) Redeploy after changing one file: a new release each run.
# ---------------------------------------------------------------------------
# Changes exactly one file (same size) to content never seen before; run k
# writes the bytes of seed k, so the sequence is the same every time.
CHANGED=d050/f25.bin
cat > "$WORK/mutate" <<EOF
#!/bin/sh
set -e
k=\$(cat "$WORK/counter" 2>/dev/null || echo 0); k=\$((k + 1)); echo "\$k" > "$WORK/counter"
python3 -c 'import random,sys; open(sys.argv[1],"wb").write(random.Random(int(sys.argv[2])).randbytes(10240))' "$TREE/$CHANGED" "\$k"
EOF
chmod +x "$WORK/mutate"
hf redeploy "$REDEPLOY_RUNS" 2 \
    --prepare "$WORK/mutate && $H build site > $WORK/next-id 2>/dev/null && cat $WORK/next-id >> $WORK/ids" \
    "$H deploy site fleet --release \$(cat $WORK/next-id)"
hf raw_onefile "$REDEPLOY_RUNS" 2 "$WORK/raw onefile $D $CHANGED"
# The same, build included: one `haul deploy` from a tree with one file changed.
hf redeploy_build "$REDEPLOY_RUNS" 2 \
    --prepare "$WORK/mutate" \
    "$H deploy site fleet"
# One more with JSON events.
"$WORK/mutate"
RJ=$($H build site 2>/dev/null)
$H deploy site fleet --release "$RJ" --json > "$WORK/redeploy.json"
echo "$RJ" >> "$WORK/ids"

# The same with `keep = 100`: in the runs above (keep = 5, the default) every
# deploy also prunes the oldest release on each host (`rm -rf` of 5,000
# files); here nothing is pruned, which shows what pruning costs.
python3 - "$D/haul.toml" <<'PY2'
import sys
path = sys.argv[1]
text = open(path).read().replace("[apps.site]\n", "[apps.site]\nkeep = 100\n", 1)
open(path, "w").write(text)
PY2
hf redeploy_keep100 "$REDEPLOY_RUNS" 2 \
    --prepare "$WORK/mutate && $H build site > $WORK/next-id 2>/dev/null && cat $WORK/next-id >> $WORK/ids" \
    "$H deploy site fleet --release \$(cat $WORK/next-id)"

# ---------------------------------------------------------------------------
# 8. (d) Rollback between the two newest releases, alternating.
# ---------------------------------------------------------------------------
B=$(tail -n 1 "$WORK/ids")                  # live now
A=$(tail -n 2 "$WORK/ids" | head -n 1)      # the one before, still kept
echo "$B" > "$WORK/to"
hf rollback "$ROLLBACK_RUNS" 3 \
    --prepare "if [ \"\$(cat $WORK/to)\" = $A ]; then echo $B; else echo $A; fi > $WORK/to" \
    "$H rollback site fleet --to \$(cat $WORK/to)"
echo raw-a > "$WORK/lto"
hf raw_link "$ROLLBACK_RUNS" 3 \
    --prepare "if [ \"\$(cat $WORK/lto)\" = raw-a ]; then echo raw-b; else echo raw-a; fi > $WORK/lto" \
    "$WORK/raw link $D \$(cat $WORK/lto)"
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
FOREIGN=$(foreign_summary)

# ---------------------------------------------------------------------------
# 9. Results, as markdown on stdout.
# ---------------------------------------------------------------------------
{
echo "## haul fleet (SSH) benchmark"
echo
echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "- haul: $REV ($("$HAUL" --version), release profile); $(hyperfine --version); $(ssh -V 2>&1)"
echo "- machine: $(nproc) CPUs, $(lscpu | sed -n 's/^Model name: *//p'), $(free -h | awk '/^Mem:/ {print $2}') RAM, kernel $(uname -r)"
echo "- load average (1/5/15 min) at start: $LOAD_START, at end: $LOAD_END (the end figure is mostly the benchmark's own bursts)"
echo "- CPU used by other processes during the run (sampled every 2 s): $FOREIGN"
echo "- fleet: haul-fleet, sshd per host on 127.0.0.N:$PORT, /srv on tmpfs; client and servers share the $(nproc) CPUs"
echo "- tree: $files files in 100 dirs, $bytes bytes (seeded random, incompressible), $(cat "$WORK/tar-bytes") bytes as a tar stream"
echo
} >&3

python3 - "$RES" "$SIZES" "$DEPLOY_HOSTS" "$WORK/foreign" >&3 <<'PY'
import json, os, sys
res, sizes, dh = sys.argv[1], sys.argv[2].split(), sys.argv[3]
# Other work's CPU during each benchmark (% of all CPUs, mean of samples).
other, cur = {}, None
for line in open(sys.argv[4]):
    if line.startswith("# "):
        cur = line[2:].strip()
        cur = None if cur == "-" else cur
    elif cur and line.strip():
        other.setdefault(cur, []).append(float(line.split()[0]))
def oth(name):
    v = other.get(name)
    return f"{sum(v) / len(v):.0f} %" if v else "–"
def get(name):
    p = os.path.join(res, name + ".json")
    if not os.path.exists(p):
        return None
    return json.load(open(p))["results"][0]
def t(s):
    return f"{s * 1000:.0f} ms" if s < 1 else f"{s:.2f} s"
def cell(r):
    return f"**{t(r['median'])}** (mean {t(r['mean'])}, n={len(r['times'])})"
rows = []   # case, haul, baseline, target kind, target value
for n in sizes:
    rows.append((f"(a) `haul exec fleet -- true`, {n} hosts, masters up", f"exec_warm_{n}",
                 f"raw ssh via ready master, {n} at once", f"raw_warm_{n}", "ratio", 1.5))
    if get(f"exec_warm_p{n}_{n}"):
        rows.append((f"(a) same, `--parallel {n}`", f"exec_warm_p{n}_{n}",
                     f"raw ssh via ready master, {n} at once", f"raw_warm_{n}", "ratio", 1.5))
for n in sizes:
    rows.append((f"(a) cold: no masters, {n} hosts", f"exec_cold_{n}",
                 f"raw ssh, new connection each, {n} at once", f"raw_cold_{n}", None, None))
rows += [
    (f"(b) cold deploy, 5,000 files / 51 MB, {dh} hosts", "deploy_cold",
     "raw `tar -c` piped to `ssh … tar -x`, via masters", "raw_tar", "ratio", 1.3),
    ("(b) same cold deploy", "deploy_cold",
     "raw tar as above + haul's host steps (extract to a temp dir, `cp -al` into place, `rm -rf` temp)",
     "raw_tarstaged", None, None),
    (f"(c) redeploy, 1 file changed, {dh} hosts", "redeploy",
     "floor: raw `cp -al` + 1-file tar, 1 ssh/host", "raw_onefile", "abs", 1.0),
    (f"(c) same, build included (`haul deploy` from the changed tree)", "redeploy_build",
     "floor: raw `cp -al` + 1-file tar, 1 ssh/host", "raw_onefile", "abs", 0.5),
    (f"(c) same, `keep = 100`: no old release pruned", "redeploy_keep100",
     "floor: raw `cp -al` + 1-file tar, 1 ssh/host", "raw_onefile", None, None),
    (f"(d) `rollback --to`, alternating, {dh} hosts", "rollback",
     "floor: raw `ln -s` + `mv -T`, 1 ssh/host", "raw_link", "abs", 0.3),
]
print("| case | haul median | baseline | baseline median | ratio | target | met? | other CPU |")
print("|---|---:|---|---:|---:|---|---|---:|")
for case, hn, bdesc, bn, kind, target in rows:
    h, b = get(hn), get(bn)
    ratio = h["median"] / b["median"]
    if kind == "ratio":
        tgt, ok = f"≤ {target}× raw", ratio <= target
    elif kind == "abs":
        tgt, ok = f"≤ {t(target)}", h["median"] <= target
    else:
        tgt, ok = "— (info)", None
    met = "—" if ok is None else ("**yes**" if ok else "**NO**")
    print(f"| {case} | {cell(h)} | {bdesc} | {cell(b)} | {ratio:.2f}× | {tgt} | {met} | {oth(hn)} / {oth(bn)} |")
print()
print("Medians (mean, runs) from hyperfine; ratio = haul median / baseline median. "
      "Other CPU: what processes outside the benchmark used while haul's / the baseline's runs "
      "were measured (% of all CPUs, sampled every 2 s; – = too short to sample); "
      "anything above a few % means those numbers are inflated.")
PY

# Where the time of one cold deploy and one redeploy goes: per task, the
# slowest host (tasks run on all hosts in parallel, one after another).
python3 - "$WORK/cold.json" "$WORK/redeploy.json" >&3 <<'PY'
import json, sys
for path, title in zip(sys.argv[1:], ["cold deploy", "redeploy (1 file changed)"]):
    tasks, order, report = {}, [], None
    for line in open(path):
        e = json.loads(line)
        if e.get("event") == "finished":
            if e["task"] not in tasks:
                order.append(e["task"]); tasks[e["task"]] = []
            tasks[e["task"]].append(e["elapsed_ms"])
        elif e.get("event") == "report":
            report = e
    print()
    print(f"### One {title} with `--json`: {report['elapsed_ms']} ms in all")
    print()
    print("| task | slowest host | fastest host |")
    print("|---|---:|---:|")
    for t in order:
        print(f"| {t} | {max(tasks[t])} ms | {min(tasks[t])} ms |")
    print(f"| (outside tasks: start, connect, lock, unlock, prune…) | {report['elapsed_ms'] - sum(max(v) for v in tasks.values())} ms | |")
    st = report["hosts"][0].get("stage")
    if st:
        print()
        print(f"per host: {st['sent_files']} files sent, {st['sent_bytes']} bytes of file data, "
              f"{st['stream_bytes']} bytes streamed, {st['reused_files']} reused")
PY
