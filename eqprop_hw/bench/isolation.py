"""Cost of running ngspice behind a process boundary (``make_backend(..., isolated=True)``).

The same training minibatches (``set_trainable`` + the centered-EP phases of ``ep_gradient``,
batch size 4, the spec's own beta) run on the in-process ngspice backend and on the isolated
one. Each variant runs in a fresh Python process (so neither inherits the other's ngspice
session or a previous benchmark's state), alternating in-process, isolated, in-process, ...
(``rounds`` of each, each the best of ``repeats`` passes). Reported per spec: ms per sample
for both (best over rounds), their ratio (``isolated_over_inprocess``) and the seconds to start
a child (Python, PySpice, ngspice and the circuit; paid once per run and per restart).

Run with ``eqprop-hw bench isolation`` or ``python -m eqprop_hw.bench.isolation [--quick]``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

from eqprop_hw.bench import child_command, child_env, spec_path
from eqprop_hw.bench._table import Row


#: The rows of `eqprop-hw bench`'s table (eqprop_hw/bench/_table.py).
TABLE = (
    Row("xor.isolated_over_inprocess",
        "xor training, ngspice in a child process / in-process, time per sample", "x"),
    Row("iris.isolated_over_inprocess", "same, iris", "x"),
    Row("digits.isolated_over_inprocess", "same, digits", "x"),
    Row("iris.child_start_seconds", "iris: starting the ngspice child process", "s"),
)

#: The keys the table shows (kept for scripts that read them).
SUMMARY = tuple(row.key for row in TABLE)


def minibatches(backend, circuit, dataset, settings, samples: int, batch: int) -> float:
    """Seconds for ``samples`` training samples in minibatches of ``batch`` (updates applied)."""
    from eqprop_hw.learning.ep import ep_gradient, make_probe
    probe = make_probe(circuit, backend.node_names)
    values = np.array(circuit.trainable_values())
    started = time.perf_counter()
    for first in range(0, samples, batch):
        x = dataset.x_train[first:first + batch]
        y = dataset.loss_targets(dataset.y_train[first:first + batch], settings.loss)
        gradient, _ = ep_gradient(backend, x, y, settings.beta, settings.nudge, probe)
        values = np.clip(values - 1e-3 * gradient * values.max() ** 2, 1e-8, 1e-3)
        backend.set_trainable(values)
    return time.perf_counter() - started


def measure(name: str, mode: str, samples: int, repeats: int, batch: int = 4) -> dict:
    """In this process: best seconds of ``repeats`` passes over ``samples`` training samples
    of a bundled spec on the ``mode`` ("inprocess" or "isolated") ngspice backend."""
    from eqprop_hw.backends import make_backend
    from eqprop_hw.circuit.build import build_circuit
    from eqprop_hw.io.data import load_dataset
    from eqprop_hw.circuit.spec import load_spec
    from eqprop_hw.learning.train import settings_from

    spec = load_spec(spec_path(name))
    circuit = build_circuit(spec)
    dataset = load_dataset(spec, circuit)
    settings = settings_from(spec)
    started = time.perf_counter()
    backend = make_backend("ngspice", circuit, isolated=(mode == "isolated"))
    start_seconds = time.perf_counter() - started
    try:
        best = min(minibatches(backend, circuit, dataset, settings, samples, batch)
                   for _ in range(repeats))
    finally:
        backend.close()
    return {"seconds": best, "start_seconds": start_seconds}


def compare(name: str, samples: int, repeats: int, rounds: int = 2) -> dict:
    """In-process vs isolated ngspice, each in fresh processes, alternating."""
    import subprocess
    times: dict = {"inprocess": [], "isolated": []}
    starts = []
    for _ in range(rounds):
        for mode in ("inprocess", "isolated"):
            done = subprocess.run(child_command("isolation", "--one", name, mode, str(samples),
                                                str(repeats)),
                                  capture_output=True, text=True, check=True, env=child_env())
            result = json.loads(done.stdout)
            times[mode].append(result["seconds"])
            if mode == "isolated":
                starts.append(result["start_seconds"])
    best = {mode: min(value) for mode, value in times.items()}
    return {f"{name}.inprocess_ms_per_sample": 1e3 * best["inprocess"] / samples,
            f"{name}.isolated_ms_per_sample": 1e3 * best["isolated"] / samples,
            f"{name}.isolated_over_inprocess": best["isolated"] / best["inprocess"],
            f"{name}.child_start_seconds": min(starts)}


def run(args=None) -> dict:
    """Entry point for ``eqprop-hw bench``."""
    quick = bool(getattr(args, "quick", False))
    result = {}
    for name, samples in (("xor", 4), ("iris", 40 if quick else 104),
                          ("digits", 8 if quick else 40)):
        result.update(compare(name, samples, 3 if quick else 5, 1 if quick else 2))
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--one", nargs=4, metavar=("SPEC", "MODE", "SAMPLES", "REPEATS"),
                        help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.one:
        name, mode, samples, repeats = arguments.one
        json.dump(measure(name, mode, int(samples), int(repeats)), sys.stdout)
        raise SystemExit(0)
    json.dump(run(arguments), sys.stdout, indent=1)
    print()
