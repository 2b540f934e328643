#!/usr/bin/python3
"""The machine's CPU during each flash-sale scenario, from the OUT/NAME.cpu samples.

Each line of NAME.cpu is `<unix time> cpu user nice system idle iowait irq softirq steal ...`
(the aggregate line of /proc/stat, in clock ticks), one a second while the scenario ran and one
at its end. Prints, per scenario, the shares of all CPUs' time: busy (user, nice, system, irq,
softirq), idle (idle, iowait) and steal (time the hypervisor ran something else on our vCPUs),
over the whole scenario and in its worst second. A run whose steal is high measured a smaller
machine than its neighbours did: compare it with care.

With OUT/NAME.speed and OUT/idle.speed (bench/cpu_probe.cpp: `<unix time> <microseconds>` per
sample, the CPU time of one fixed unit of work), also the CPU's speed against the idle box's:
the idle median divided by the scenario's median, and by the median of its slowest second.
100% is the idle box's speed; 50%, the vCPU ran at half of it. This VM runs slower at times
without counting any of it as steal.

Usage: cpu_share.py OUT_DIR [--json]   (--json: one object per scenario instead of a table)
"""
import json
import os
import statistics
import sys

ORDER = ["nginx", "health", "a", "b", "c", "ob", "oc", "wrk-nginx", "wrk-health", "wrk-c", "d", "q", "e"]


def samples(path):
    rows = []
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) < 10 or parts[1] != "cpu":
                continue
            rows.append([int(x) for x in parts[2:10]])
    return rows


def shares(a, b):
    """Busy, idle and steal shares (0..1) of the time between two /proc/stat samples."""
    d = [y - x for x, y in zip(a, b)]
    user, nice, system, idle, iowait, irq, softirq, steal = d
    total = sum(d)
    if total <= 0:
        return None
    return {"busy": (user + nice + system + irq + softirq) / total,
            "idle": (idle + iowait) / total, "steal": steal / total}


def scenario(path):
    rows = samples(path)
    if len(rows) < 2:
        return None
    whole = shares(rows[0], rows[-1])
    seconds = [s for s in (shares(a, b) for a, b in zip(rows, rows[1:])) if s]
    if whole is None:
        return None
    whole["worstSecondSteal"] = max(s["steal"] for s in seconds) if seconds else 0.0
    whole["seconds"] = len(seconds)
    return whole


def probe_samples(path):
    """(unix time, microseconds) of each cpu_probe sample in `path`; [] if there is none."""
    rows = []
    if not os.path.exists(path):
        return rows
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 2:
                try:
                    rows.append((float(parts[0]), float(parts[1])))
                except ValueError:
                    pass
    return rows


def speed(path, idle_us):
    """The CPU's speed during a scenario against the idle box's (1.0 = as fast): over the whole
    scenario (medians) and in its slowest whole second; None without samples."""
    rows = probe_samples(path)
    if not rows or not idle_us:
        return None
    by_second = {}
    for t, us in rows:
        by_second.setdefault(int(t), []).append(us)
    seconds = [statistics.median(v) for v in by_second.values() if len(v) >= 5]
    slowest = max(seconds) if seconds else max(us for _, us in rows)
    return {"speed": idle_us / statistics.median(us for _, us in rows),
            "slowestSecondSpeed": idle_us / slowest}


def machine(out):
    """[(scenario, its figures)] for the scenarios sampled in OUT_DIR, in ORDER: the shares of
    scenario() and, with cpu_probe samples, those of speed()."""
    idle = probe_samples(os.path.join(out, "idle.speed"))
    idle_us = statistics.median(us for _, us in idle) if idle else None
    found = []
    for name in ORDER:
        path = os.path.join(out, name + ".cpu")
        if os.path.exists(path):
            s = scenario(path)
            if s:
                s.update(speed(os.path.join(out, name + ".speed"), idle_us) or {})
                found.append((name, s))
    return found


def main():
    found = machine(sys.argv[1])
    if "--json" in sys.argv[2:]:
        print(json.dumps(dict(found), indent=1))
        return
    if not found:
        return
    print()
    pct = lambda s, k: f"{s[k]:.0%}" if k in s else "-"
    print("| the machine during each scenario | busy | idle | steal | steal, worst second "
          "| CPU speed vs idle | CPU speed, slowest second |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, s in found:
        print(f"| ({name}) | {s['busy']:.0%} | {s['idle']:.0%} | {s['steal']:.0%} | "
              f"{s['worstSecondSteal']:.0%} | {pct(s, 'speed')} | {pct(s, 'slowestSecondSpeed')} |")


if __name__ == "__main__":
    main()
