"""EP training-step benchmarks, measured side by side in one process.

1. ``ngspice_in_the_loop``: training steps (free + centered nudged phases + local update, the
   update pushed into ngspice with ``alter``) on a bundled spec's training samples; reports the
   wall time per training sample against the time ngspice itself spends in its analyses for
   that sample (``op`` calls), i.e. the overhead of the Python around ngspice. Target: <= 1.5x.
   Also the wall time against *all* time inside libngspice (every ``ngSpice_Command``: alter,
   op, destroy; and the vector reads), less the Python that ngspice's output callback runs
   from inside those calls (``wall_over_in_library``, ``python_share``).
2. ``native_step``: the same training step with the native backend, per sample, for a batch
   size, on ``digits`` and ``mnist_size``; plus the speed-up over ngspice on the same spec.

Run with ``eqprop-hw bench ep`` or ``python tools/bench_ep.py [--quick]``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from eqprop_hw.backends import make_backend
from eqprop_hw.build import build_circuit
from eqprop_hw.ep import ep_gradient, make_probe
from eqprop_hw.spec import load_spec
from eqprop_hw.train import conductance_bounds, learning_rates, settings_from

ROOT = Path(__file__).resolve().parents[1]

#: Keys shown in the table of `eqprop-hw bench` (the whole suite).
SUMMARY = ("iris.ngspice_wall_over_analysis", "iris.ngspice_wall_over_in_library",
           "iris.batch16.ngspice_wall_over_analysis", "digits.ngspice_wall_over_analysis",
           "digits.ngspice_wall_over_in_library", "digits.native_speedup")


def _inputs(circuit, samples: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    return (rng.uniform(0.0, 1.0, (samples, len(circuit.inputs))),
            rng.uniform(0.0, 1.0, (samples, len(circuit.outputs))))


def training_steps(spec_name: str, backend_name: str, samples: int, batch_size: int) -> dict:
    """Run training steps on random data; time them and read the backend's counters."""
    spec = load_spec(ROOT / "circuits" / f"{spec_name}.yaml")
    circuit = build_circuit(spec)
    settings = settings_from(spec)
    g_min, g_max = conductance_bounds(spec, circuit)
    rates = learning_rates(settings, circuit, spec.source) * g_max ** 2
    x, y = _inputs(circuit, samples)
    values = np.array(circuit.trainable_values())
    with make_backend(backend_name, circuit) as backend:
        probe = make_probe(circuit, backend.node_names)
        ep_gradient(backend, x[:1], y[:1], settings.beta, settings.nudge, probe)  # warm-up
        stats_before = dict(getattr(backend, "stats", {}))
        session = getattr(backend, "session", None)
        library_before = _library_counters(session)
        started = time.perf_counter()
        for first in range(0, samples, batch_size):
            gradient, _ = ep_gradient(backend, x[first:first + batch_size],
                                      y[first:first + batch_size], settings.beta,
                                      settings.nudge, probe)
            values = np.clip(values - rates * gradient, g_min, g_max)
            backend.set_trainable(values)
        wall = time.perf_counter() - started
        stats = dict(getattr(backend, "stats", {}))
        library = {key: value - library_before[key]
                   for key, value in _library_counters(session).items()}
    out = {"spec": spec_name, "backend": backend_name, "samples": samples,
           "batch_size": batch_size, "ms_per_sample": 1e3 * wall / samples}
    if stats:
        analysis = stats["analysis_seconds"] - stats_before.get("analysis_seconds", 0.0)
        out["analysis_ms_per_sample"] = 1e3 * analysis / samples
        out["wall_over_analysis"] = wall / analysis
        # Inside libngspice: every command (alter, op, destroy, ...) and the vector reads,
        # less the Python that ngspice's output callback runs from inside those commands.
        inside = library["command"] + library["read"] - library["callback"]
        out["in_library_ms_per_sample"] = 1e3 * inside / samples
        out["callback_ms_per_sample"] = 1e3 * library["callback"] / samples
        out["commands_per_sample"] = library["commands"] / samples
        out["wall_over_in_library"] = wall / inside
        out["python_share"] = 1.0 - inside / wall
    return out


def _library_counters(session) -> dict:
    """Cumulative time inside libngspice calls of the ngspice session (zeros for native)."""
    if session is None:
        return {"command": 0.0, "read": 0.0, "callback": 0.0, "commands": 0}
    return {"command": session.command_seconds, "read": session.read_seconds,
            "callback": session.callback_seconds, "commands": session.commands}


def run(args=None) -> dict:
    """Entry point for ``eqprop-hw bench``."""
    quick = bool(getattr(args, "quick", False))
    result = {}
    for name, samples in (("iris", 40 if quick else 105), ("digits", 8 if quick else 40)):
        spice = training_steps(name, "ngspice", samples, 4)
        native = training_steps(name, "native", samples * (4 if quick else 10), 4)
        for key in ("ms_per_sample", "analysis_ms_per_sample", "wall_over_analysis",
                    "in_library_ms_per_sample", "wall_over_in_library", "python_share",
                    "callback_ms_per_sample", "commands_per_sample"):
            result[f"{name}.ngspice_{key}"] = spice[key]
        result[f"{name}.native_ms_per_sample"] = native["ms_per_sample"]
        result[f"{name}.native_speedup"] = spice["ms_per_sample"] / native["ms_per_sample"]
    # iris at minibatch 16: the conductance alters (214 per minibatch) spread over 4x more
    # samples; shows how much of the iris overhead is per minibatch.
    spice = training_steps("iris", "ngspice", 48 if quick else 112, 16)
    for key in ("ms_per_sample", "wall_over_analysis", "wall_over_in_library"):
        result[f"iris.batch16.ngspice_{key}"] = spice[key]
    for batch in (4, 64):
        native = training_steps("mnist_size", "native", 64 if quick else 256, batch)
        result[f"mnist_size.native_ms_per_sample_batch{batch}"] = native["ms_per_sample"]
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    json.dump(run(parser.parse_args()), sys.stdout, indent=1)
    print()
