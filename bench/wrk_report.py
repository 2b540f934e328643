#!/usr/bin/python3
"""Reads what `wrk --latency` printed into the figures bench/flash-sale's table uses.

    wrk_report.py WRK_OUTPUT REPORT.json

A run that printed no `Requests/sec` line (wrk failed) is an error: exit 1, no report.
"""
import json
import re
import sys

_UNITS_MS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _ms(text):
    m = re.fullmatch(r"([0-9.]+)(us|ms|s|m)", text)
    if not m:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(m.group(1)) * _UNITS_MS[m.group(2)]


def parse(text):
    """The figures of one wrk run: requests, seconds, reqPerSec, latencyMs percentiles (those
    wrk printed: 50, 75, 90, 99), socketErrors by kind and non2xx (responses not 2xx or 3xx)."""
    rps = re.search(r"^Requests/sec:\s+([0-9.]+)", text, re.M)
    total = re.search(r"^\s*(\d+) requests in ([0-9.]+)(us|ms|s|m),", text, re.M)
    if not rps or not total:
        raise ValueError("no wrk summary in the output")
    report = {
        "requests": int(total.group(1)),
        "seconds": _ms(total.group(2) + total.group(3)) / 1000,
        "reqPerSec": float(rps.group(1)),
        "latencyMs": {},
        "socketErrors": {"connect": 0, "read": 0, "write": 0, "timeout": 0},
        "non2xx": 0,
    }
    for pct, value in re.findall(r"^\s+(50|75|90|99)%\s+(\S+)[ \t]*$", text, re.M):
        report["latencyMs"]["p" + pct] = _ms(value)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if errors:
        for kind, n in zip(("connect", "read", "write", "timeout"), errors.groups()):
            report["socketErrors"][kind] = int(n)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if non2xx:
        report["non2xx"] = int(non2xx.group(1))
    return report


def main(argv):
    if len(argv) != 3:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    with open(argv[1]) as f:
        text = f.read()
    try:
        report = parse(text)
    except ValueError as e:
        print(f"wrk_report: {argv[1]}: {e}", file=sys.stderr)
        return 1
    with open(argv[2], "w") as f:
        json.dump(report, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
