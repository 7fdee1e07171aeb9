"""Whole training runs as a user starts them: wall time / (training time + start-up).

Issue 19, item 8: a run's wall time is within 1.5x of its training time plus start-up on the
bundled examples. Each case runs ``eqprop-hw train SPEC --backend native --out DIR --json`` in
a fresh process, figures drawn as by default, with the spec's own epochs (``--quick``: iris
only; full: xor, iris, digits), and measures

* ``wall``: the process's wall time (s), interpreter start to exit;
* ``training``: the sum of the epochs' training times (s, metrics ``seconds``; evaluation
  after each epoch excluded);
* ``start_up``: the fixed cost of a run (s): the wall time of the same command with
  ``--epochs 1 --no-plots`` minus that epoch's whole time (metrics ``epoch_seconds_total``):
  interpreter, imports, spec, circuit, data set, backend, writing the results.

The ratio ``wall / (training + start_up)`` is what the per-epoch evaluation and the figures
(drawn once, at the end) add; target <= 1.5. Each case is measured ``repeats`` times,
interleaving the 1-epoch and the full run so that a load change hits both alike; the ratio is
reported as the range over the repeats and the target is met when every repeat meets it. The
result also records the machine's ``cores`` and its 1-minute load average before and after.

Run with ``eqprop-hw bench runs`` or ``python -m eqprop_hw.bench.runs [--quick]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from eqprop_hw.bench import child_env, spec_path
from eqprop_hw.bench._table import Row

#: Target of every case: wall / (training + start-up).
TARGET = 1.5

#: The rows of `eqprop-hw bench`'s table (eqprop_hw/bench/_table.py).
TABLE = tuple(
    Row(f"{name}.wall_over_training_and_start_up",
        f"`train circuits/{name}.yaml` (native, its {epochs} epochs, figures drawn): run wall "
        "time / (training time + start-up)", "x", f"<= {TARGET:g}",
        f"{name}.meets_target")
    for name, epochs in (("xor", 300), ("iris", 40), ("digits", 20))) + (
    Row("iris.wall_seconds", "`train circuits/iris.yaml` (native): run wall time", "s"),
    Row("iris.training_seconds", "iris: the epochs' training time (evaluation excluded)", "s"),
    Row("iris.start_up_seconds", "iris: start-up (a 1-epoch run without figures, less its "
        "epoch)", "s"),
)

#: The keys the table shows (kept for scripts that read them).
SUMMARY = tuple(row.key for row in TABLE)


def timed_train(spec: Path, out: Path, *extra: str) -> tuple[float, dict]:
    """``(process wall time in s, metrics)`` of ``eqprop-hw train SPEC --backend native --out
    OUT --json --quiet EXTRA...`` in a fresh interpreter."""
    command = [sys.executable, "-m", "eqprop_hw", "train", str(spec), "--backend", "native",
               "--out", str(out), "--json", "--quiet", *extra]
    began = time.perf_counter()
    done = subprocess.run(command, env=child_env(), capture_output=True, text=True,
                          timeout=3600)
    wall = time.perf_counter() - began
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {done.stderr.strip()[-500:]}")
    return wall, json.loads(done.stdout)


def ratio(wall: float, training: float, start_up: float) -> float:
    """``wall / (training + start_up)`` (all in s).

    Examples
    --------
    >>> ratio(6.0, 3.0, 1.0)
    1.5
    """
    return wall / (training + start_up)


def measure(name: str, repeats: int) -> dict:
    """One bundled example ``name``, ``repeats`` times (see the module docstring)."""
    walls, trainings, start_ups, ratios = [], [], [], []
    with tempfile.TemporaryDirectory() as scratch:
        for k in range(repeats):
            short_wall, short = timed_train(spec_path(name), Path(scratch, f"s{k}"),
                                            "--epochs", "1", "--no-plots")
            wall, metrics = timed_train(spec_path(name), Path(scratch, f"r{k}"))
            start_up = short_wall - sum(short["epoch_seconds_total"])
            training = sum(metrics["seconds"])
            walls.append(wall)
            trainings.append(training)
            start_ups.append(start_up)
            ratios.append(ratio(wall, training, start_up))
    return {"epochs": len(metrics["seconds"]), "wall_seconds": walls,
            "training_seconds": trainings, "start_up_seconds": start_ups,
            "wall_over_training_and_start_up": ratios,
            "meets_target": max(ratios) <= TARGET}


def run(args=None) -> dict:
    """Entry point for ``eqprop-hw bench``."""
    quick = bool(getattr(args, "quick", False))
    cases = ("iris",) if quick else ("xor", "iris", "digits")
    result = {"target": TARGET, "cores": os.cpu_count(),
              "load_average_before": os.getloadavg()[0]}
    for name in cases:
        for key, value in measure(name, 1 if quick else 2).items():
            result[f"{name}.{key}"] = value
    result["load_average_after"] = os.getloadavg()[0]
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    json.dump(run(parser.parse_args()), sys.stdout, indent=1)
    print()
