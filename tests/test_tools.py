"""The benchmark modules (eqprop_hw/bench/) run through `eqprop-hw bench` and give
machine-readable ratios.

Only the shape of the output is checked here: timings belong in the benchmarks, never in tests.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _bench_json(name: str) -> dict:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    proc = subprocess.run([sys.executable, "-m", "eqprop_hw", "bench", name, "--quick", "--json"],
                          capture_output=True, text=True, env=env, timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    data = json.loads(proc.stdout)                      # exactly one JSON object on stdout
    assert set(data) == {"benchmarks", "seconds"}
    return data["benchmarks"][name]


@pytest.mark.parametrize("name, keys", [
    ("flops", ["free.mflop_per_sample", "free.achieved_gflops", "free.limit_ratio",
               "three_phases.limit_ratio", "matmul_peak_gflops", "meets_target"]),
    ("memory", ["solves", "growth_first_window_mb", "growth_last_window_mb",
                "growth_after_first_window_mb", "plots_left"]),
])
def test_bench_quick_json_has_ratio_keys(name, keys):
    result = _bench_json(name)
    for key in keys:
        assert key in result, key
    numbers = [result[k] for k in keys if k not in ("meets_target", "plots_left", "solves")]
    assert all(isinstance(v, float) for v in numbers)


def test_every_benchmark_names_summary_keys_it_returns():
    """Each eqprop_hw/bench/NAME.py and its tools/bench_NAME.py script define run(args) and a
    SUMMARY tuple for the suite's table."""
    import importlib.util
    scripts = sorted((ROOT / "tools").glob("bench_*.py"))
    modules = sorted(p for p in (ROOT / "eqprop_hw" / "bench").glob("*.py")
                     if not p.name.startswith("_"))
    assert [p.name for p in scripts] == [f"bench_{p.name}" for p in modules]
    for path in scripts + modules:
        spec = importlib.util.spec_from_file_location(f"_t_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        assert callable(module.run), path.name
        assert isinstance(getattr(module, "SUMMARY", ()), tuple), path.name
