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


def test_bench_table_is_human_and_json_has_the_same_numbers(capsys, monkeypatch):
    """``--json`` prints the machine JSON on stdout (nothing JSON on stderr); the table prints
    one line per headline result (what, value with unit, target, met), no raw keys, with the
    same numbers (echo_memory's quick run, the fastest; its result is replayed for the table
    run, as its tracemalloc peaks differ from run to run in one process)."""
    import types
    from eqprop_hw import cli
    from eqprop_hw.bench._table import HEADER, format_value
    from eqprop_hw.bench.echo_memory import TABLE

    assert cli.main(["bench", "echo_memory", "--quick", "--json"]) == 0
    captured = capsys.readouterr()
    result = json.loads(captured.out)["benchmarks"]["echo_memory"]
    assert "{" not in captured.err                      # no raw JSON on stderr
    load = cli._load_benchmark
    monkeypatch.setattr(cli, "_load_benchmark", lambda name, path: types.SimpleNamespace(
        TABLE=load(name, path).TABLE, run=lambda args: dict(result)))
    assert cli.main(["bench", "echo_memory", "--quick"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == " ".join(HEADER).split()
    assert table[-1].endswith("every measured number: --json")
    rows = table[1:-1]
    assert len(rows) == len(TABLE) == 4
    for line, row in zip(rows, TABLE):
        assert line.startswith("echo_memory  " + row.what)
        assert row.key not in line                      # no opaque keys
        assert format_value(result[row.key], row.unit) in line
    assert f"{result['echo_growth']:.4g} x" in rows[0] and "flat (~1)" in rows[0]
    assert rows[3].split()[-4:] == ["4", "x", "-", "-"]    # lengths 1000..4000: ratio 4


def test_bench_table_checks_targets_and_ranges():
    from eqprop_hw.bench._table import Row, format_table, table_rows
    rows = [Row("r", "a ratio", "x", ">= 200"), Row("t", "a time", "s", "<= 1.5"),
            Row("m", "decided by the benchmark", "x", ">= 200 (mnist_size)", "ok"),
            Row("b", "same result", "", "yes", "b"), Row("missing", "not run", "x")]
    result = {"r": [150.0, 250.0], "t": 1.25, "m": 3.0, "ok": None, "b": False}
    lines = table_rows("demo", rows, result)
    assert [line[1:] for line in lines] == [
        ("a ratio", "150-250 x", ">= 200 x", "NO"),        # a range meets it only if all runs do
        ("a time", "1.25 s", "<= 1.5 s", "yes"),
        ("decided by the benchmark", "3 x", ">= 200 (mnist_size)", "-"),
        ("same result", "no", "yes", "NO")]
    assert format_table(lines).splitlines()[1].split() == ["demo", "a", "ratio", "150-250",
                                                          "x", ">=", "200", "x", "NO"]
