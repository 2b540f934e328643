#!/usr/bin/python3
"""Prints the flash-sale table from the JSON reports in a bench/flash-sale output dir."""
import json
import os
import sys

out = sys.argv[1]


def load(name):
    path = os.path.join(out, name + ".json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def rc(name):
    path = os.path.join(out, name + ".rc")
    return open(path).read().strip() if os.path.exists(path) else "?"


nginx = load("nginx")
nginx_rps = nginx["reqPerSec"] if nginx else None
e_server = load("e-server") or {}
main_mem = (load("server-mem") or {}).get("peakMiB")

rows = [
    ("nginx", "baseline: nginx static JSON 200, 2,000 conns"),
    ("health", "ticketing GET /health, 2,000 conns"),
    ("a", "(a) 100,000 buyers, 100 units, 2,000 conns"),
    ("b", "(b) sustained reserves, 10M units, 2,000 conns"),
    ("c", "(c) reserves on a sold-out product, 2,000 conns"),
    ("d", "(d) 10,000 buyers, 10,000 units, all confirm"),
    ("q", "(q) 100,000 buyers through the waiting room, 1,000 units"),
    ("e", "(e) 100,000 conns open at once, 3 buyers each"),
]


def ms(v):
    return "-" if v is None else f"{v:,.1f}"


print("| scenario | requests | req/s | x nginx | p50 ms | p99 ms | p99.9 ms | max ms | "
      "transport err | 5xx | units taken | sell-out ms | all answered ms | checks | notes |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|")
reports = {}
for key, label in rows:
    r = load(key)
    if r is None:
        continue
    reports[key] = r
    lat = r["latencyMs"]
    ratio = f"{r['reqPerSec'] / nginx_rps:.2f}" if nginx_rps else "-"
    fivexx = sum(n for code, n in r["status"].items() if int(code) >= 500)
    checks = r.get("checks", [])
    if r.get("verified"):
        failed = [c["name"] for c in checks if not c["ok"]]
        verdict = "all %d ok" % len(checks) if not failed else "FAILED: " + ", ".join(failed)
    else:
        verdict = "not verified"
    notes = []
    if key == "d":
        secs = max(r["durationMs"], 1) / 1000
        notes.append(f"{r['confirms']:,} confirms = {r['confirms'] / secs:,.0f} confirms/s")
    if key in ("a", "d", "e"):
        notes.append(f"confirms {r['confirms']}, cancels {r['cancels']}")
    if key == "e":
        notes.append(f"peak open conns {r['peakOpenConnections']:,}; "
                     f"{e_server.get('servers', '?')} server processes, peak RSS sum "
                     f"{e_server.get('peakMiB', '?')} MiB; {r['processes']} loadgen processes")
    if key in ("b", "c"):
        notes.append(f"{r['durationMs'] / 1000:.0f} s")
    if key == "q" and "queue" in r:
        q = r["queue"]
        notes.append(f"{q['joined']:,} joined at {q['joinsPerSecond']:,.0f} joins/s; last admitted "
                     f"buyer waited {q['waitMs']['max'] / 1000:,.1f} s; outcomes "
                     + ", ".join(f"{k} {v:,}" for k, v in q["outcomes"].items()))
    if r["errors"]:
        notes.append("errors " + ", ".join(f"{k} {v:,}" for k, v in r["errors"].items()))
    units = f"{r['unitsTaken']:,}" if r["mode"] == "buyers" else "-"
    print(f"| {label} | {r['requests']:,} | {r['reqPerSec']:,.0f} | {ratio} | {lat['p50']:.2f} | "
          f"{lat['p99']:.2f} | {lat['p999']:.2f} | {lat['max']:.1f} | {r['transportErrors']:,} | "
          f"{fivexx:,} | {units} | {ms(r.get('sellOutMs'))} | {ms(r.get('allAnsweredMs'))} | "
          f"{verdict} | {'; '.join(notes)} |")

wrk = {k: load("wrk-" + k) for k in ("nginx", "health", "c")}
if any(wrk.values()):
    print()
    print("| with wrk as the loader (2 threads, 2,000 conns) | requests | req/s | x nginx | "
          "x /health | p50 ms | p99 ms | socket errors | non-2xx |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    labels = {"nginx": "nginx static JSON 200", "health": "ticketing GET /health",
              "c": "sold-out reserve (one buyer's token)"}
    for k, r in wrk.items():
        if not r:
            continue
        x_nginx = f"{r['reqPerSec'] / wrk['nginx']['reqPerSec']:.2f}" if wrk["nginx"] else "-"
        x_health = f"{r['reqPerSec'] / wrk['health']['reqPerSec']:.2f}" if wrk["health"] else "-"
        lat = r["latencyMs"]
        print(f"| {labels[k]} | {r['requests']:,} | {r['reqPerSec']:,.0f} | {x_nginx} | {x_health} | "
              f"{ms(lat.get('p50'))} | {ms(lat.get('p99'))} | {sum(r['socketErrors'].values()):,} | "
              f"{r['non2xx']:,} |")

print()
print("targets (goals, not assertions):")


def target(text, value, met):
    mark = "-" if met is None else ("met" if met else "NOT met")
    print(f"  - {text}: {value} -> {mark}")


def ratio_target(text, part, whole, goal):
    if part and whole:
        r = part["reqPerSec"] / whole["reqPerSec"]
        target(text, f"{part['reqPerSec']:,.0f} / {whole['reqPerSec']:,.0f} = {r:.2f}", r >= goal)


ratio_target("sold-out reserve >= 0.9 x /health", reports.get("c"), reports.get("health"), 0.9)
ratio_target("sold-out reserve >= 0.9 x /health, with wrk", wrk["c"], wrk["health"], 0.9)
ratio_target("in-stock reserve >= 0.5 x nginx", reports.get("b"), nginx, 0.5)
for key in ("a", "b"):
    r = reports.get(key)
    if r:
        target(f"p99 < 25 ms at 2,000 connections ({key})", f"{r['latencyMs']['p99']:.2f} ms",
               r["latencyMs"]["p99"] < 25)
a = reports.get("a")
if a:
    answered = a.get("allAnsweredMs")
    holds = a["unitsTaken"] - a["cancels"]
    target("(a) every buyer answered in < 2 s", ms(answered) + " ms",
           answered is not None and answered < 2000)
    target("(a) 0 transport errors", a["transportErrors"], a["transportErrors"] == 0)
    target("(a) exactly 100 holds (units taken - cancelled)", holds, holds == 100)
q = reports.get("q")
if q and "queue" in q:
    sold = q["queue"]["outcomes"].get("confirmed", 0)
    target("(q) exactly the stock sold through the waiting room", f"{sold:,} of 1,000",
           sold == 1000 and all(c["ok"] for c in q.get("checks", [])))
d = reports.get("d")
if d:
    cps = d["confirms"] / max(d["durationMs"], 1) * 1000
    target("(d) >= 5,000 confirms/s", f"{cps:,.0f}/s", cps >= 5000)
if "peakMiB" in e_server:
    target("(e) peak server memory < 2 GiB", f"{e_server['peakMiB']:,} MiB over "
           f"{e_server['servers']} processes", e_server["peakMiB"] < 2048)
    e = reports.get("e")
    if e:
        target("(e) 100,000 connections open at once", f"{e['peakOpenConnections']:,}",
               e["peakOpenConnections"] >= 100000)
if main_mem:
    print(f"  (server peak RSS over nginx..d: {main_mem} MiB)")
