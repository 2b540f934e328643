#!/usr/bin/python3
"""The machine's CPU during each flash-sale scenario, from the OUT/NAME.cpu samples.

Each line of NAME.cpu is `<unix time> cpu user nice system idle iowait irq softirq steal ...`
(the aggregate line of /proc/stat, in clock ticks), one a second while the scenario ran and one
at its end. Prints, per scenario, the shares of all CPUs' time: busy (user, nice, system, irq,
softirq), idle (idle, iowait) and steal (time the hypervisor ran something else on our vCPUs),
over the whole scenario and in its worst second. A run whose steal is high measured a smaller
machine than its neighbours did: compare it with care.

Usage: cpu_share.py OUT_DIR [--json]   (--json: one object per scenario instead of a table)
"""
import json
import os
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


def main():
    out = sys.argv[1]
    found = []
    for name in ORDER:
        path = os.path.join(out, name + ".cpu")
        if os.path.exists(path):
            s = scenario(path)
            if s:
                found.append((name, s))
    if "--json" in sys.argv[2:]:
        print(json.dumps(dict(found), indent=1))
        return
    if not found:
        return
    print()
    print("| the machine during each scenario | busy | idle | steal | steal, worst second |")
    print("|---|---:|---:|---:|---:|")
    for name, s in found:
        print(f"| ({name}) | {s['busy']:.0%} | {s['idle']:.0%} | {s['steal']:.0%} | "
              f"{s['worstSecondSteal']:.0%} |")


if __name__ == "__main__":
    main()
