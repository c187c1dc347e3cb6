# bench/fleet-lib.sh: what the SSH fleet benchmarks share (sourced by
# bench/fleet.sh and bench/thousand.sh, after they set REPO, PORT and SIZES):
# building haul and haul-fleet, a temp dir and its cleanup (every fleet
# down, every master closed), the sampler of other work's CPU, fleets up and
# down, the raw OpenSSH baseline, and `hf` (one hyperfine benchmark).
# shellcheck shell=bash

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
SOCKS="$WORK/s"                   # the baseline's masters: $SOCKS/b-<n> for host n
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

# address I: the loopback address of host I (0-based), as haul-fleet gives
# them: 127.0.0.2 … 127.0.0.249, then 127.0.1.1 … and on.
address() {
    local n=$(($1 + 2))
    echo "127.0.$((n / 250)).$((n % 250 + (n >= 250 ? 1 : 0)))"
}
# The same port on the fleet's addresses must be free: a listener there
# would be taken for our sshd.
max=0; for n in $SIZES; do [ "$n" -gt "$max" ] && max=$n; done
for i in $(seq 0 $((max - 1))); do
    if (exec 2>/dev/null; : < "/dev/tcp/$(address "$i")/$PORT"); then
        echo "$(address "$i"):$PORT is in use: another fleet is up? (set PORT=...)" >&2
        exit 1
    fi
done

# ---------------------------------------------------------------------------
# 3. Helpers.
# ---------------------------------------------------------------------------
# fleet_up N DIR: starts an N-host fleet in DIR; writes its host list
# ("<n> <address>" a line, n counting from 1) to DIR/hostlist. Fleets share
# the addresses: only one is up at a time.
fleet_up() {
    local n=$1 d=$2
    log "fleet of $n hosts up in $d"
    FLEETS+=("$d")
    "$FLEET" up "$n" --dir "$d" --port "$PORT" >/dev/null
    grep '^address = ' "$d/haul.toml" | cut -d'"' -f2 | awk '{print NR, $0}' > "$d/hostlist"
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
#   rm       rm -rf /srv/raw /srv/raw1 (a --prepare step), through the master
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
        rm) ssh -n "\${ssh[@]:1}" rm -rf /srv/raw /srv/raw1 & ;;
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

# foreign_summary: one line on what other work used while the benchmarks ran.
foreign_summary() {
python3 - "$WORK/foreign" <<'PY'
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
}
