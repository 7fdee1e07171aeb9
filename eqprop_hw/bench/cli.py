"""Native vs ngspice through the command line, start-up and CSV parsing included.

Runs ``python -m eqprop_hw simulate SPEC --input-file ROWS.csv --backend B --json`` (the same
program as ``eqprop-hw simulate``) as real subprocesses and times them from outside: interpreter
start, imports, spec parsing, circuit build, reading the CSV, the solves and writing the JSON.

* native: ``rows`` random input rows (thousands) in one file;
* ngspice: the same spec on a small row count (each op of ``mnist_size`` takes seconds). A
  run's wall time is start-up + rows x per-row time: the per-row time is the solve time the
  command itself reports (``"seconds"`` in its JSON: every ``alter``/``op``/read of the rows,
  the first, slower op included) over its rows, the start-up is the rest of the wall time
  (interpreter, imports, build, loading the netlist into ngspice, CSV, JSON). ngspice on the
  native run's row count is extrapolated as ``start_up + rows x per_row``. (A two-point fit
  of wall times over row counts was tried first; on this shared machine the start-up, which
  includes loading 160,000 netlist lines into ngspice, varies more than a few ops take.)

The ratio is that extrapolated ngspice time over the measured native time for the same rows
(target >= 200x on ``mnist_size``). Each run is repeated (``repeats``) and the range reported.

Run with ``eqprop-hw bench cli`` or ``python -m eqprop_hw.bench.cli [--quick]``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from eqprop_hw.bench import child_env, spec_path
from eqprop_hw.bench._table import Row


#: The rows of `eqprop-hw bench`'s table (eqprop_hw/bench/_table.py).
TABLE = (
    Row("ratio", "ngspice / native wall time, `simulate --input-file` of {rows} rows of {spec} "
        "(start-up included; median of repeats)", "x", ">= 200 (mnist_size)", "meets_target"),
    Row("native_seconds", "native `simulate` of {rows} rows, wall time", "s"),
    Row("ngspice_start_up_seconds", "ngspice `simulate` start-up (interpreter, load, CSV)", "s"),
)

#: The keys the table shows (kept for scripts that read them).
SUMMARY = tuple(row.key for row in TABLE)


def _write_rows(path: Path, rows: int, width: int, seed: int = 0) -> None:
    values = np.random.default_rng(seed).uniform(0.0, 1.0, (rows, width))
    np.savetxt(path, values, fmt="%.6g", delimiter=",")


def _simulate(spec: Path, rows_file: Path, backend: str, expected_rows: int):
    command = [sys.executable, "-m", "eqprop_hw", "simulate", str(spec), "--input-file",
               str(rows_file), "--backend", backend, "--json"]
    started = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True, env=child_env(),
                          timeout=3600)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed: "
                           + (proc.stderr.strip().splitlines() or ["?"])[-1])
    data = json.loads(proc.stdout)
    if len(data["outputs"]) != expected_rows:
        raise RuntimeError(f"expected {expected_rows} output rows, got {len(data['outputs'])}")
    return seconds, float(data["seconds"])


def measure(spec_name: str, rows: int, spice_rows: int, repeats: int) -> dict:
    spec = spec_path(spec_name)
    from eqprop_hw.circuit.build import build_circuit
    from eqprop_hw.circuit.spec import load_spec
    width = len(build_circuit(load_spec(spec)).inputs)
    with tempfile.TemporaryDirectory(prefix="eqprop-bench-cli-") as folder:
        files = {}
        for count in (rows, spice_rows):
            files[count] = Path(folder, f"rows{count}.csv")
            _write_rows(files[count], count, width)
        native, spice = [], []
        for _ in range(repeats):          # interleaved, so load changes hit both alike
            native.append(_simulate(spec, files[rows], "native", rows))
            spice.append(_simulate(spec, files[spice_rows], "ngspice", spice_rows))
        csv_bytes = files[rows].stat().st_size
    per_row = [solve / spice_rows for _, solve in spice]
    start_up = [wall - solve for wall, solve in spice]
    extrapolated = [s + rows * p for s, p in zip(start_up, per_row)]
    ratios = [e / wall for e, (wall, _) in zip(extrapolated, native)]
    return {"spec": spec_name, "rows": rows, "csv_megabytes": csv_bytes / 1e6,
            "native_seconds": [wall for wall, _ in native],
            "native_solve_seconds": [solve for _, solve in native],
            "native_ms_per_row": [1e3 * wall / rows for wall, _ in native],
            "ngspice_rows": spice_rows, "ngspice_seconds": [wall for wall, _ in spice],
            "ngspice_ms_per_row": [1e3 * p for p in per_row],
            "ngspice_start_up_seconds": start_up,
            "ngspice_extrapolated_seconds": extrapolated,
            "ratio": float(np.median(ratios)), "ratio_range": [min(ratios), max(ratios)],
            # the target is for mnist_size (784-100-10); smaller circuits are start-up bound
            "target_ratio": 200.0 if spec_name == "mnist_size" else None,
            "meets_target": min(ratios) >= 200.0 if spec_name == "mnist_size" else None}


def run(args=None) -> dict:
    """Entry point for ``eqprop-hw bench``."""
    quick = bool(getattr(args, "quick", False))
    if quick:
        return measure("digits", 1000, 16, 1)
    return measure("mnist_size", 4096, 3, 3)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    json.dump(run(parser.parse_args()), sys.stdout, indent=1)
    print()
