#!/usr/bin/python3
"""bench/wrk_report.py: wrk's printed summary read into the figures of the flash-sale table."""
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "bench", "wrk_report.py")
spec = importlib.util.spec_from_file_location("wrk_report", SCRIPT)
wrk_report = importlib.util.module_from_spec(spec)
spec.loader.exec_module(wrk_report)

# What wrk 4.1.0 printed for a run with errors and non-2xx answers (trimmed numbers; wrk pads
# a latency in seconds with a space at the end of its line).
RUN = """Running 10s test @ http://127.0.0.1:8080/purchase/reserve
  2 threads and 2000 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    45.10ms   20.02ms   1.20s    90.00%
    Req/Sec    22.10k     3.00k   30.00k    70.00%
  Latency Distribution
     50%  850.00us
     75%   40.00ms
     90%   60.50ms
     99%    1.20s 
  440123 requests in 10.02s, 80.00MB read
  Socket errors: connect 0, read 3, write 0, timeout 17
  Non-2xx or 3xx responses: 440120
Requests/sec:  43924.45
Transfer/sec:      7.98MB
"""


class WrkReportTest(unittest.TestCase):
    def test_reads_the_summary_in_its_units(self):
        r = wrk_report.parse(RUN)
        self.assertEqual(r["requests"], 440123)
        self.assertAlmostEqual(r["seconds"], 10.02)
        self.assertAlmostEqual(r["reqPerSec"], 43924.45)
        self.assertEqual(r["latencyMs"], {"p50": 0.85, "p75": 40.0, "p90": 60.5, "p99": 1200.0})
        self.assertEqual(r["socketErrors"], {"connect": 0, "read": 3, "write": 0, "timeout": 17})
        self.assertEqual(r["non2xx"], 440120)

    def test_a_clean_run_has_no_errors(self):
        clean = "\n".join(l for l in RUN.splitlines() if "errors" not in l and "Non-2xx" not in l)
        r = wrk_report.parse(clean)
        self.assertEqual(sum(r["socketErrors"].values()), 0)
        self.assertEqual(r["non2xx"], 0)

    def test_output_without_a_summary_is_refused(self):
        with self.assertRaises(ValueError):
            wrk_report.parse("unable to connect to 127.0.0.1:8080 Connection refused\n")
        with tempfile.TemporaryDirectory() as d:
            src, dst = os.path.join(d, "w.txt"), os.path.join(d, "w.json")
            with open(src, "w") as f:
                f.write("unable to connect\n")
            p = subprocess.run([sys.executable, SCRIPT, src, dst], capture_output=True, text=True)
            self.assertEqual(p.returncode, 1)
            self.assertFalse(os.path.exists(dst))
            with open(src, "w") as f:
                f.write(RUN)
            subprocess.run([sys.executable, SCRIPT, src, dst], check=True)
            with open(dst) as f:
                self.assertAlmostEqual(json.load(f)["reqPerSec"], 43924.45)


if __name__ == "__main__":
    unittest.main()
