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
#        release every run; built in --prepare, so build time is excluded),
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

# ---------------------------------------------------------------------------
# 1. Build haul and haul-fleet; install hyperfine.
# ---------------------------------------------------------------------------
if [ "${NO_BUILD:-0}" = 1 ]; then
    log "NO_BUILD=1: using the binaries already in target/release"
else
    log "building haul and haul-fleet (release)"
    (cd "$REPO" && cargo build --release -p haul -p haul-testfleet)
fi
HAUL="$REPO/target/release/haul"
FLEET="$REPO/target/release/haul-fleet"
REV=$(cd "$REPO" && git rev-parse --short HEAD 2>/dev/null || echo '?')
if [ -n "$(cd "$REPO" && git status --porcelain --untracked-files=no 2>/dev/null)" ]; then
    REV="$REV + uncommitted changes"
fi
if ! command -v hyperfine >/dev/null; then
    log "installing hyperfine"
    apt-get install -y hyperfine || { apt-get update && apt-get install -y hyperfine; }
fi
for tool in python3 ssh sshd tar; do
    command -v "$tool" >/dev/null || [ -x "/usr/sbin/$tool" ] || { echo "$tool is needed" >&2; exit 1; }
done
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------------------
# 2. A temp dir, and cleanup: every fleet down, every master closed.
# ---------------------------------------------------------------------------
WORK=$(mktemp -d /tmp/haul-fleet-bench.XXXXXX)   # short: holds socket paths
SOCKS="$WORK/s"                   # the baseline's masters: $SOCKS/b-<n> for 127.0.0.<n>
RES="$WORK/results"               # hyperfine JSON exports
TREE="$WORK/tree"                 # what ships in (b)-(d)
mkdir -p "$SOCKS" "$RES"
HAUL_RUN="/tmp/haul-$(id -u)"     # haul's masters, configs, locks and logs
FLEETS=()                         # fleet dirs started, for cleanup
SAMPLER_PID=""                    # the CPU sampler (below)

# stop-haul-masters DIR: closes haul's masters for the fleet in DIR (and no
# other: they are found by the generated ssh config that includes
# DIR/ssh_config), waits until they are gone, and records their sockets so
# cleanup can remove their lock and log files. Also a --prepare step.
cat > "$WORK/stop-haul-masters" <<EOF
#!/usr/bin/env bash
set -u
d=\$1
pids=()
for conf in \$(grep -lsF "Include \$d/ssh_config" "$HAUL_RUN"/*.conf); do
    echo "\$conf" >> "$WORK/haul-files"
    for pid in \$(pgrep -x ssh); do
        args=\$(tr '\0' ' ' 2>/dev/null < "/proc/\$pid/cmdline") || continue
        case "\$args" in
            "ssh -F \$conf -M "*)
                sock=\$(sed -n 's/.* -S \([^ ]*\) .*/\1/p' <<<"\$args")
                printf '%s\n' "\$sock" "\$sock.lock" "\$sock.log" >> "$WORK/haul-files"
                ssh -S "\$sock" -O exit haul >/dev/null 2>&1 &
                pids+=("\$pid")
                ;;
        esac
    done
done
wait
# Gone means exited: a master whose parent has not reaped it yet is a zombie.
alive() { [ -r "/proc/\$1/stat" ] && ! grep -q '^[0-9]* ([^)]*) Z' "/proc/\$1/stat" 2>/dev/null; }
for pid in "\${pids[@]}"; do
    for _ in \$(seq 200); do alive "\$pid" || break; sleep 0.01; done
    if alive "\$pid"; then kill "\$pid" 2>/dev/null || true; fi   # did not answer -O exit
done
exit 0
EOF
chmod +x "$WORK/stop-haul-masters"

# Closes the baseline's masters (opened by open_raw_masters).
close_raw_masters() {
    local s
    for s in "$SOCKS"/b-*; do
        [ -S "$s" ] && ssh -S "$s" -O exit raw >/dev/null 2>&1 || true
    done
}

cleanup() {
    set +e
    log "cleanup"
    [ -n "$SAMPLER_PID" ] && kill "$SAMPLER_PID" 2>/dev/null
    close_raw_masters
    for d in "${FLEETS[@]}"; do
        "$WORK/stop-haul-masters" "$d"
        "$FLEET" down --dir "$d"
    done
    # haul's own files for this run's masters (nothing else in $HAUL_RUN).
    [ -f "$WORK/haul-files" ] && sort -u "$WORK/haul-files" | while read -r f; do rm -f "$f"; done
    if [ "${KEEP_TMP:-0}" = 1 ]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

# Other work on the machine skews every number, and the load average cannot
# tell it from the benchmark's own bursts (100 handshakes at once make a load
# of 100). So a sampler measures, every 2 s, the machine's CPU time minus the
# benchmark's own (this script's descendants, the fleet's sshd and what they
# run, the ssh masters of this run): what other work took.
cat > "$WORK/sampler.py" <<'PY'
import os, re, sys, time
# usage: sampler.py OUT WORKDIR ROOTPID
# Every 2 s: CPU busy time of the whole machine (/proc/stat) minus the CPU
# time of the benchmark's own processes: descendants of ROOTPID, processes
# whose command line names WORKDIR (the fleet's sshd, the baseline's ssh
# masters) and their descendants, and haul's ssh masters whose generated
# config includes a file under WORKDIR. Short-lived processes are counted
# when their parent reaps them (cutime). Writes "<other % of all CPUs> <top
# other commands>" per sample.
out_path, work, root = sys.argv[1], sys.argv[2], int(sys.argv[3])
conf_has_work = {}


def cpu_busy():
    f = open("/proc/stat").readline().split()[1:]
    v = list(map(int, f))
    return sum(v[:3]) + sum(v[5:8])  # user nice system + irq softirq steal


def snap():
    d = {}
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            s = open(f"/proc/{p}/stat").read()
        except OSError:
            continue
        r = s.rfind(")")
        comm, f = s[s.find("(") + 1 : r], s[r + 2 :].split()
        d[int(p)] = (int(f[1]), comm, int(f[11]) + int(f[12]), int(f[13]) + int(f[14]), int(f[19]))
    return d


self_ours = {}


def names_work(pid, start):
    key = (pid, start)
    if key not in self_ours:
        try:
            cl = open(f"/proc/{pid}/cmdline", "rb").read().decode(errors="replace")
        except OSError:
            cl = ""
        ours = work in cl
        m = re.search(r"-F\x00(/tmp/haul-\d+/\w+\.conf)\x00", cl)
        if m and not ours:
            conf = m.group(1)
            if conf not in conf_has_work:
                try:
                    conf_has_work[conf] = work in open(conf).read()
                except OSError:
                    conf_has_work[conf] = False
            ours = conf_has_work[conf]
        self_ours[key] = ours
    return self_ours[key]


def classify(procs):
    memo = {}

    def ours(pid):
        if pid in memo:
            return memo[pid]
        chain, p, res = [], pid, False
        while p in procs and p > 1:
            if p in memo:
                res = memo[p]
                break
            chain.append(p)
            if p == root or names_work(p, procs[p][4]):
                res = True
                break
            p = procs[p][0]
        for c in chain:
            memo[c] = res
        return res

    return {p: ours(p) for p in procs}


out = open(out_path, "a", buffering=1)
hz, ncpu = os.sysconf("SC_CLK_TCK"), os.cpu_count()
prev, prev_ours, prev_busy, t = None, None, cpu_busy(), time.monotonic()
prev = snap()
prev_ours = classify(prev)
while True:
    time.sleep(2)
    cur, busy, now = snap(), cpu_busy(), time.monotonic()
    cur_ours = classify(cur)
    ours_j, other = 0, {}
    for p, (ppid, comm, tt, ct, start) in cur.items():
        old = prev.get(p)
        same = old is not None and old[4] == start
        dt = tt - old[2] if same else tt
        dct = ct - old[3] if same else ct
        if cur_ours[p]:
            ours_j += dt + (dct if p > 1 else 0)
        elif dt > 0:
            other[comm] = other.get(comm, 0) + dt
    # Ours that were reaped by ours since: their time is now in the parent's
    # cutime, and what we saw of them was counted already.
    for p, (ppid, comm, tt, ct, start) in prev.items():
        gone = p not in cur or cur[p][4] != start
        if gone and prev_ours.get(p) and cur_ours.get(ppid) and ppid > 1:
            ours_j -= tt + ct
    total = busy - prev_busy
    scale = 100.0 / (hz * (now - t) * ncpu)
    foreign = max(0, total - ours_j) * scale
    top = ",".join(f"{c}:{v * scale:.0f}" for c, v in sorted(other.items(), key=lambda x: -x[1])[:3])
    out.write(f"{foreign:.1f} {total * scale:.1f} {top}\n")
    prev, prev_ours, prev_busy, t = cur, cur_ours, busy, now
PY
python3 "$WORK/sampler.py" "$WORK/foreign" "$WORK" $$ &
SAMPLER_PID=$!

# The same port on the fleet's addresses must be free: a listener there
# would be taken for our sshd.
max=0; for n in $SIZES; do [ "$n" -gt "$max" ] && max=$n; done
for i in $(seq 2 $((max + 1))); do
    if (exec 2>/dev/null; : < "/dev/tcp/127.0.0.$i/$PORT"); then
        echo "127.0.0.$i:$PORT is in use: another fleet is up? (set PORT=...)" >&2
        exit 1
    fi
done

# ---------------------------------------------------------------------------
# 3. Helpers.
# ---------------------------------------------------------------------------
# fleet_up N DIR: starts an N-host fleet in DIR; writes its host list
# ("<n> <address>" a line, for 127.0.0.<n>) to DIR/hostlist. Fleets share the
# addresses: only one is up at a time.
fleet_up() {
    local n=$1 d=$2
    log "fleet of $n hosts up in $d"
    FLEETS+=("$d")
    "$FLEET" up "$n" --dir "$d" --port "$PORT" >/dev/null
    grep '^address = ' "$d/haul.toml" | cut -d'"' -f2 | awk -F. '{print $4, $0}' > "$d/hostlist"
    [ "$(wc -l < "$d/hostlist")" = "$n" ]
}

fleet_down() {
    local d=$1
    close_raw_masters
    "$WORK/stop-haul-masters" "$d"
    "$FLEET" down --dir "$d"
}

# The baseline's masters, one per host, all opened at once.
open_raw_masters() {
    local d=$1 n addr pids=()
    while read -r n addr <&4; do
        ssh -F "$d/ssh_config" -M -S "$SOCKS/b-$n" -f -N -o ControlPersist=600 -p "$PORT" "$addr" &
        pids+=($!)
    done 4< "$d/hostlist"
    for p in "${pids[@]}"; do wait "$p"; done
}

# raw MODE DIR [ARG]: the baseline. One ssh per host of the fleet in DIR, all
# at once (as many clients as hosts); fails if any fails. The host list is
# read on fd 4 and clients without input get -n: a client in the background
# would otherwise read (and swallow) the rest of the list from stdin.
#   echo     ssh through the host's master: `echo ok` (a check, not timed)
#   true     ssh through the host's master: `true`
#   cold     ssh with a new connection (no master): `true`
#   tar      the whole tree, through the master, into /srv/raw
#   tarstaged  the same with the host-side steps of haul's first stage: the
#            tree lands in a temporary dir, is hard-linked into place
#            (cp -al), and the temporary dir is removed
#   onefile  cp -al /srv/raw /srv/raw1, then the one changed file into it
#   link     ln -s + mv -T (a symlink switched by rename), through the master
cat > "$WORK/raw" <<EOF
#!/usr/bin/env bash
set -u
mode=\$1 d=\$2 arg=\${3:-}
pids=()
while read -r n addr <&4; do
    ssh=(ssh -F "\$d/ssh_config" -S "$SOCKS/b-\$n" -p $PORT "\$addr")
    case \$mode in
        echo) ssh -n "\${ssh[@]:1}" echo ok & ;;
        true) ssh -n "\${ssh[@]:1}" true & ;;
        cold) ssh -n -F "\$d/ssh_config" -o ControlMaster=no -o ControlPath=none -p $PORT "\$addr" true & ;;
        tar) tar -C "$TREE" -cf - . | "\${ssh[@]}" 'mkdir -p /srv/raw && tar -C /srv/raw -xf -' & ;;
        tarstaged) tar -C "$TREE" -cf - . | "\${ssh[@]}" 'mkdir -p /srv/rawi /srv/raw &&
                   tar -C /srv/rawi -xf - && cp -al /srv/rawi/. /srv/raw/ && rm -rf /srv/rawi' & ;;
        onefile) tar -C "$TREE" -cf - "\$arg" |
                 "\${ssh[@]}" 'rm -rf /srv/raw1 && cp -al /srv/raw /srv/raw1 && tar -C /srv/raw1 -xf -' & ;;
        link) ssh -n "\${ssh[@]:1}" "ln -sfn \$arg /srv/rawlink.new && mv -T /srv/rawlink.new /srv/rawlink" & ;;
    esac
    pids+=(\$!)
done 4< "\$d/hostlist"
rc=0
for p in "\${pids[@]}"; do wait "\$p" || rc=1; done
exit \$rc
EOF
chmod +x "$WORK/raw"

# check_reach N DIR: both haul and the baseline reach all N hosts (a baseline
# that silently skipped hosts would look fast).
check_reach() {
    local n=$1 d=$2 got
    got=$("$HAUL" --config "$d/haul.toml" exec fleet -- echo ok | grep -c ' ok$' || true)
    [ "$got" = "$n" ] || { echo "haul exec reached $got of $n hosts" >&2; exit 1; }
    got=$("$WORK/raw" echo "$d" | grep -c '^ok$' || true)
    [ "$got" = "$n" ] || { echo "the raw baseline reached $got of $n hosts" >&2; exit 1; }
}

# hf NAME RUNS WARMUP [hyperfine args...]: one benchmark, exported as JSON.
hf() {
    local name=$1 runs=$2 warmup=$3
    shift 3
    log "$name"
    echo "# $name" >> "$WORK/foreign"      # marks the sampler's lines of this benchmark
    hyperfine --style basic --shell bash --runs "$runs" --warmup "$warmup" \
        --export-json "$RES/$name.json" "$@"
    echo "# -" >> "$WORK/foreign"
}

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
FOREIGN=$(python3 - "$WORK/foreign" <<'PY'
import sys
rows = [l.rstrip("\n").split(" ", 2) for l in open(sys.argv[1]) if l.strip() and not l.startswith("#")]
pct = [float(r[0]) for r in rows]
by = {}
for r in rows:
    for item in filter(None, (r[2] if len(r) > 2 else "").split(",")):
        c, v = item.rsplit(":", 1)
        by[c] = by.get(c, 0) + float(v)
top = ", ".join(c for c, v in sorted(by.items(), key=lambda x: -x[1])[:4] if v > 0) or "nothing"
busy = sum(1 for p in pct if p >= 10)
print(f"mean {sum(pct) / max(len(pct), 1):.0f} %, max {max(pct, default=0):.0f} % of all CPUs; "
      f"{busy} of {len(pct)} samples at 10 % or more; busiest other commands: {top}")
PY
)

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
