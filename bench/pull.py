#!/usr/bin/env python3
"""bench/pull.py: the measuring half of bench/pull.sh (which sets up the
project, the store and the agents). Python stdlib only. Subcommands:

  deploys  bless K new releases one after the other; for each, the time from
           `haul bless` returning until every agent's report in the store says
           `live` on it (and until every `current` link points to it)
  floor    the raw cost of what 100 agents must do at least for a blessing,
           100 processes at once, timed the same way
  rest     store requests (from moto's access log) and the agents' CPU and
           memory while nothing changes
  table    the markdown tables of BENCHMARKS.md from the JSON the others wrote

Every time is on this process's monotonic clock.
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time


def run(cmd, cwd, env=None):
    p = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stderr}")
    return p.stdout.strip()


def pct(values, p):
    v = sorted(values)
    return v[round((len(v) - 1) * p)] if v else float("nan")


# ---------------------------------------------------------------------------
def deploys(a):
    hosts = open(a.hosts).read().split()
    env = dict(os.environ)
    out = []
    for k in range(a.blessings):
        # A new release: one file changed (build and spool are not timed).
        with open(os.path.join(a.project, "src", "changed.txt"), "w") as f:
            f.write(f"{time.time_ns()} {k}\n")
        rid = run([a.haul, "build", "app"], a.project, env)
        run([a.haul, "spool", "app", "--release", rid], a.project, env)
        time.sleep(a.settle)  # agents at rest, their poll phases wherever they are
        t0 = time.monotonic()
        run([a.haul, "bless", "app", "fleet", rid], a.project, env)
        t1 = time.monotonic()
        switched, live = {}, {}
        target = f"releases/{rid}"
        deadline = t1 + a.timeout
        while len(live) < len(hosts) and time.monotonic() < deadline:
            now = time.monotonic()
            for h in hosts:
                if h not in switched:
                    try:
                        if os.readlink(os.path.join(a.roots, h, "app", "current")) == target:
                            switched[h] = now
                    except OSError:
                        pass
                if h in switched and h not in live:
                    try:
                        r = json.load(open(os.path.join(a.reports, f"{h}.json")))
                    except (OSError, ValueError):
                        continue
                    if r.get("phase") == "live" and r.get("live") == rid:
                        live[h] = now
            time.sleep(0.02)
        rel = lambda d: [(v - t1) * 1000 for v in d.values()]  # noqa: E731
        row = {
            "release": rid,
            "bless_ms": (t1 - t0) * 1000,
            "agents": len(hosts),
            "live": len(live),
            "all_live_ms": max(rel(live)) if len(live) == len(hosts) else None,
            "agent_p50_ms": pct(rel(live), 0.5),
            "agent_p90_ms": pct(rel(live), 0.9),
            "all_switched_ms": max(rel(switched)) if len(switched) == len(hosts) else None,
        }
        print(f"pull.py: blessing {k + 1}: {json.dumps(row)}", file=sys.stderr)
        out.append(row)
    json.dump(out, open(a.out, "w"))


# ---------------------------------------------------------------------------
FLOORS = {
    # What an agent must do at least when a blessing names a new release:
    # read the hint and the blessing, download the archive, unpack it,
    # switch `current` by one rename.
    "fetch": 'cat "$H" > /dev/null && cat "$B" > /dev/null && cat "$A" > "$D/dl.tar.zst" && rm -rf "$D/r$K" && '
    'mkdir "$D/r$K" && zstd -dqc "$D/dl.tar.zst" | tar -x -C "$D/r$K" && ln -sfn "r$K" "$D/cur.new" && '
    'mv -T "$D/cur.new" "$D/current"',
    # Only the poll and the switch (a release already on the host).
    "switch": 'cat "$H" > /dev/null && ln -sfn "r$K" "$D/cur.new" && mv -T "$D/cur.new" "$D/current"',
}


def floor(a):
    out = {"n": a.n}
    for name, body in FLOORS.items():
        script = os.path.join(a.dir, f"{name}.sh")
        with open(script, "w") as f:
            f.write("#!/bin/sh\n# one run: every agent's minimum at once, as separate processes\n")
            f.write(f"for i in $(seq {a.n}); do\n  D={a.dir}/a$i H={a.hint} B={a.blessing} A={a.archive} K=$1 ")
            f.write(f"sh -c '{body}' &\ndone\nwait\n")
        for i in range(1, a.n + 1):
            os.makedirs(os.path.join(a.dir, f"a{i}"), exist_ok=True)
        times = []
        for k in range(a.runs):
            t0 = time.monotonic()
            subprocess.run(["sh", script, str(k % 2)], check=True)
            times.append((time.monotonic() - t0) * 1000)
        out[name] = {"median_ms": statistics.median(times), "min_ms": min(times), "max_ms": max(times), "runs": len(times)}
        print(f"pull.py: floor {name}: {out[name]}", file=sys.stderr)
    json.dump(out, open(a.out, "w"))


# ---------------------------------------------------------------------------
LINE = re.compile(r'"(?:\x1b\[[0-9;]*m)*([A-Z]+) (\S+) HTTP/[0-9.]+(?:\x1b\[[0-9;]*m)*" (\d{3})')


def classify(method, path):
    if "/blessings/" in path and path.split("?")[0].endswith("/latest"):
        return f"{method} blessing hint"
    if "/blessings/" in path or "prefix=" in path and "blessings" in path:
        return f"{method} blessings"
    if "/reports/" in path or "prefix=" in path and "reports" in path:
        return f"{method} reports"
    if "/releases/" in path or "prefix=" in path and "releases" in path:
        return f"{method} releases"
    return f"{method} other"


def ticks(pid):
    try:
        s = open(f"/proc/{pid}/stat").read()
        f = s[s.rfind(")") + 2 :].split()
        rss = next(int(l.split()[1]) for l in open(f"/proc/{pid}/status") if l.startswith("VmRSS:"))
        return int(f[11]) + int(f[12]), rss
    except (OSError, StopIteration):
        return None


def rest(a):
    pids = open(a.pids).read().split()
    hz = os.sysconf("SC_CLK_TCK")
    start = os.path.getsize(a.log)
    before = {p: ticks(p) for p in pids}
    t0 = time.monotonic()
    time.sleep(a.seconds)
    elapsed = time.monotonic() - t0
    after = {p: ticks(p) for p in pids}
    with open(a.log, "rb") as f:
        f.seek(start)
        text = f.read().decode(errors="replace")
    kinds, statuses, total = {}, {}, 0
    for m in LINE.finditer(text):
        method, path, status = m.groups()
        k = classify(method, path)
        kinds[k] = kinds.get(k, 0) + 1
        statuses[status] = statuses.get(status, 0) + 1
        total += 1
    alive = [p for p in pids if before[p] and after[p]]
    cpu = sum(after[p][0] - before[p][0] for p in alive) / hz
    polls = elapsed / a.interval  # poll intervals in the window (mean, jitter is ±10 %)
    out = {
        "interval_s": a.interval,
        "agents": len(pids),
        "alive": len(alive),
        "seconds": elapsed,
        "requests": total,
        "by_kind": kinds,
        "by_status": statuses,
        "per_agent_per_interval": total / len(pids) / polls,
        "per_agent_per_hour": total / len(pids) / elapsed * 3600,
        "agent_cpu_pct_each": cpu / elapsed / max(len(alive), 1) * 100,
        "agent_rss_kib_mean": statistics.mean(after[p][1] for p in alive) if alive else None,
    }
    print(f"pull.py: rest: {json.dumps(out)}", file=sys.stderr)
    json.dump(out, open(a.out, "w"))


# ---------------------------------------------------------------------------
def table(a):
    res = a.dir

    def load(name):
        p = os.path.join(res, name)
        return json.load(open(p)) if os.path.exists(p) else None

    def t(ms):
        return "—" if ms is None else (f"{ms:.0f} ms" if ms < 1000 else f"{ms / 1000:.2f} s")

    floors = [load(f) for f in sorted(os.listdir(res), key=lambda f: -int(re.sub(r"\D", "", f) or 0)) if f.startswith("floor-")]
    print("| how agents learn of it | blessings | all live: median | all live: max | one agent: median of p50 | last `current` switched: median | `haul bless` itself |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for f in sorted(os.listdir(res)):
        m = re.fullmatch(r"deploys-(.+)\.json", f)
        if not m:
            continue
        rows = load(f)
        done = [r["all_live_ms"] for r in rows if r["all_live_ms"] is not None]
        missing = len(rows) - len(done)
        med = statistics.median(done) if done else None
        mx = max(done) if done else None
        note = f" ({missing} timed out)" if missing else ""
        print(
            f"| {m.group(1)} | {len(rows)}{note} | **{t(med)}** | {t(mx)} | "
            f"{t(statistics.median(r['agent_p50_ms'] for r in rows))} | "
            f"{t(statistics.median(r['all_switched_ms'] for r in rows if r['all_switched_ms'] is not None) if any(r['all_switched_ms'] is not None for r in rows) else None)} | "
            f"{t(statistics.median(r['bless_ms'] for r in rows))} |"
        )
    if floors:
        print()
        print("| floor: processes at once, each doing | median | min … max | runs |")
        print("|---|---:|---:|---:|")
        names = {
            "fetch": "read hint + blessing, copy the archive, `zstd -d \| tar -x`, `ln -s` + `mv -T`",
            "switch": "read the hint, `ln -s` + `mv -T`",
        }
        for fl in floors:
            for k, v in fl.items():
                if k == "n":
                    continue
                print(f"| {fl['n']} × {names[k]} | **{t(v['median_ms'])}** | {t(v['min_ms'])} … {t(v['max_ms'])} | {v['runs']} |")
    rests = [(f, load(f)) for f in sorted(os.listdir(res)) if f.startswith("rest-")]
    if rests:
        print()
        print("| at rest, S3 store (moto) | window | requests | per agent per poll interval | per agent per hour | what | agent CPU each | agent RSS |")
        print("|---|---:|---:|---:|---:|---|---:|---:|")
        for _, r in rests:
            what = ", ".join(f"{k} {v}" for k, v in sorted(r["by_kind"].items(), key=lambda x: -x[1]))
            st = ", ".join(f"{k}: {v}" for k, v in sorted(r["by_status"].items()))
            print(
                f"| `HAUL_INTERVAL={r['interval_s']:g}s`, {r['agents']} agents | {r['seconds']:.0f} s | {r['requests']} | "
                f"**{r['per_agent_per_interval']:.2f}** | {r['per_agent_per_hour']:.0f} | {what} ({st}) | "
                f"{r['agent_cpu_pct_each']:.2f} % | {r['agent_rss_kib_mean'] / 1024:.1f} MiB |"
            )


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("deploys")
    d.add_argument("--haul", required=True)
    d.add_argument("--project", required=True)
    d.add_argument("--hosts", required=True, help="a file of host names")
    d.add_argument("--roots", required=True, help="the agents' roots: ROOTS/<host>")
    d.add_argument("--reports", required=True, help="the store's reports/app/fleet directory")
    d.add_argument("--blessings", type=int, default=5)
    d.add_argument("--settle", type=float, default=1.5)
    d.add_argument("--timeout", type=float, default=120)
    d.add_argument("--out", required=True)
    f = sub.add_parser("floor")
    for x in ("--dir", "--hint", "--blessing", "--archive", "--out"):
        f.add_argument(x, required=True)
    f.add_argument("--n", type=int, default=100)
    f.add_argument("--runs", type=int, default=10)
    r = sub.add_parser("rest")
    r.add_argument("--log", required=True)
    r.add_argument("--pids", required=True)
    r.add_argument("--seconds", type=float, default=60)
    r.add_argument("--interval", type=float, required=True)
    r.add_argument("--out", required=True)
    t = sub.add_parser("table")
    t.add_argument("--dir", required=True)
    a = p.parse_args()
    {"deploys": deploys, "floor": floor, "rest": rest, "table": table}[a.cmd](a)


if __name__ == "__main__":
    main()
