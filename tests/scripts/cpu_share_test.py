#!/usr/bin/python3
"""bench/cpu_share.py: shares of busy, idle and stolen CPU time from /proc/stat samples, and the
CPU's speed against the idle box's from cpu_probe samples."""
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "bench", "cpu_share.py")
spec = importlib.util.spec_from_file_location("cpu_share", SCRIPT)
cpu_share = importlib.util.module_from_spec(spec)
spec.loader.exec_module(cpu_share)


def line(t, user, nice, system, idle, iowait, irq, softirq, steal):
    # /proc/stat's aggregate line has guest and guest_nice after steal.
    return f"{t} cpu {user} {nice} {system} {idle} {iowait} {irq} {softirq} {steal} 0 0\n"


class CpuShareTest(unittest.TestCase):
    def test_shares_are_of_the_time_between_first_and_last_sample(self):
        with tempfile.TemporaryDirectory() as d:
            with open(os.path.join(d, "b.cpu"), "w") as f:
                f.write(line(1.0, 1000, 0, 500, 9000, 0, 0, 0, 0))
                # second 1: 100 ticks, 50 busy, 50 idle, no steal
                f.write(line(2.0, 1040, 0, 510, 9050, 0, 0, 0, 0))
                # second 2: 100 ticks, 60 busy, 10 idle, 30 stolen
                f.write(line(3.0, 1080, 10, 515, 9055, 5, 3, 2, 30))
            s = cpu_share.scenario(os.path.join(d, "b.cpu"))
        self.assertAlmostEqual(s["busy"], 110 / 200)
        self.assertAlmostEqual(s["idle"], 60 / 200)
        self.assertAlmostEqual(s["steal"], 30 / 200)
        self.assertAlmostEqual(s["worstSecondSteal"], 0.30)
        self.assertEqual(s["seconds"], 2)

    def test_a_scenario_with_one_sample_has_no_figures(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "c.cpu")
            with open(path, "w") as f:
                f.write(line(1.0, 1, 0, 1, 1, 0, 0, 0, 0))
            self.assertIsNone(cpu_share.scenario(path))

    def test_the_table_lists_the_scenarios_in_the_bench_order(self):
        with tempfile.TemporaryDirectory() as d:
            for name, steal in (("ob", 20), ("nginx", 0)):
                with open(os.path.join(d, name + ".cpu"), "w") as f:
                    f.write(line(1.0, 0, 0, 0, 0, 0, 0, 0, 0))
                    f.write(line(2.0, 50, 0, 0, 100 - 50 - steal, 0, 0, 0, steal))
            table = subprocess.run([sys.executable, SCRIPT, d], check=True,
                                   capture_output=True, text=True).stdout
            rows = [r for r in table.splitlines() if r.startswith("| (")]
            self.assertEqual(rows, ["| (nginx) | 50% | 50% | 0% | 0% | - | - |",
                                    "| (ob) | 50% | 30% | 20% | 20% | - | - |"])
            parsed = json.loads(subprocess.run([sys.executable, SCRIPT, d, "--json"], check=True,
                                               capture_output=True, text=True).stdout)
            self.assertAlmostEqual(parsed["ob"]["steal"], 0.2)

    def test_speed_is_the_idle_median_over_the_scenarios(self):
        with tempfile.TemporaryDirectory() as d:
            with open(os.path.join(d, "idle.speed"), "w") as f:
                for i in range(10):
                    f.write(f"{50 + i / 10:.3f} {400 + (i % 3) - 1:.1f}\n")  # median 400
            with open(os.path.join(d, "ob.cpu"), "w") as f:
                f.write(line(100.0, 0, 0, 0, 0, 0, 0, 0, 0))
                f.write(line(102.0, 100, 0, 0, 100, 0, 0, 0, 0))
            with open(os.path.join(d, "ob.speed"), "w") as f:
                for i in range(10):  # second 100: at 80% of the idle speed
                    f.write(f"{100 + i / 10:.3f} 500.0\n")
                for i in range(10):  # second 101: at half of it, but for one sample
                    f.write(f"{101 + i / 10:.3f} {500.0 if i == 0 else 800.0}\n")
                # second 102, cut short by the scenario's end: too few samples to be a second
                f.write("102.000 4000.0\n")
                f.write("garbage\n")
            table = subprocess.run([sys.executable, SCRIPT, d], check=True,
                                   capture_output=True, text=True).stdout
            parsed = json.loads(subprocess.run([sys.executable, SCRIPT, d, "--json"], check=True,
                                               capture_output=True, text=True).stdout)
        # 11 samples at 500, 9 at 800 and one at 4000: the scenario's median is 500 (400 / 500 =
        # 80%); its slowest whole second's median is 800 (50%).
        self.assertAlmostEqual(parsed["ob"]["speed"], 0.8)
        self.assertAlmostEqual(parsed["ob"]["slowestSecondSpeed"], 0.5)
        self.assertIn("| (ob) | 50% | 50% | 0% | 0% | 80% | 50% |", table.splitlines())

    def test_without_an_idle_timing_there_is_no_speed(self):
        with tempfile.TemporaryDirectory() as d:
            with open(os.path.join(d, "b.speed"), "w") as f:
                f.write("1.0 400.0\n")
            self.assertIsNone(cpu_share.speed(os.path.join(d, "b.speed"), None))
            self.assertIsNone(cpu_share.speed(os.path.join(d, "missing.speed"), 400.0))


if __name__ == "__main__":
    unittest.main()
