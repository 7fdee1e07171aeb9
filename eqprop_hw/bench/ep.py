"""EP training-step benchmarks, measured side by side in one process.

1. ``ngspice_in_the_loop``: training steps (free + centered nudged phases + local update, the
   update pushed into ngspice with ``alter``) on a bundled spec's training samples; reports the
   wall time per training sample against the time ngspice itself spends in its analyses for
   that sample (``op`` calls, less the Python that ngspice's output callback runs from inside
   them), i.e. the overhead of the Python around ngspice. Target: <= 1.5x.
   Also the wall time against *all* time inside libngspice (every ``ngSpice_Command``: alter,
   op, destroy; and the vector reads), less the Python of the output callback
   (``wall_over_in_library``, ``python_share``).
   For iris the three minibatch sizes 4, 8 and 16 run interleaved (best of ``--repeats``
   rounds each) with a per-sample breakdown of the wall time: ``op``, the output callback,
   ``alter`` of the conductances (once per minibatch), ``alter`` of the sources (inputs,
   targets, nudging; the previous ``op``'s ``destroy all`` travels in the same command),
   lone ``destroy all``, reading the node voltages back, and the Python around all that. The
   *floor* is what ngspice's command interpreter alone costs: the ``alter`` commands per sample
   times the cost of one ``alter`` (measured on the loaded circuit, conductances and sources
   apart) over the ``op`` time; ``1 + floor`` bounds ``wall / op`` from below while values go
   in by ``alter`` (before reading anything back or running any Python).
2. ``native_step``: the same training step with the native backend, per sample, for a batch
   size, on ``digits`` and ``mnist_size``; plus the speed-up over ngspice on the same spec.

Run with ``eqprop-hw bench ep`` or ``python -m eqprop_hw.bench.ep [--quick] [--iris-only]
[--cpu-clock]``; the iris table also goes to stderr. ``--cpu-clock`` times everything (this
script, the backend's and the session's clocks) with the thread's CPU time instead of the wall
clock: on a machine shared with other busy processes the wall clock also counts the time this
process waits for a core, in every part at random, which blurs the ratios; ngspice runs in the
calling thread, so the thread's CPU time still holds all of ngspice's and Python's work.
``--ngspice-module FILE`` runs another version of ``eqprop_hw/backends/ngspice.py`` (e.g.
``git show HEAD:eqprop_hw/backends/ngspice.py > /tmp/ngspice_before.py``) for before/after
comparisons; counters that version lacks show as 0 (its ``alter_seconds`` holds all alters).
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

from eqprop_hw.backends import make_backend
from eqprop_hw.bench import spec_path
from eqprop_hw.circuit.build import build_circuit
from eqprop_hw.learning.ep import ep_gradient, make_probe
from eqprop_hw.circuit.spec import load_spec
from eqprop_hw.learning.train import conductance_bounds, learning_rates, settings_from
from eqprop_hw.bench._table import Row


#: The rows of `eqprop-hw bench`'s table (eqprop_hw/bench/_table.py).
TABLE = (
    Row("iris.ngspice_wall_over_analysis",
        "iris training step, minibatch 4: wall time / ngspice `op` time", "x", "<= 1.5"),
    Row("iris.batch8.ngspice_wall_over_analysis", "same, minibatch 8", "x", "<= 1.5"),
    Row("iris.batch16.ngspice_wall_over_analysis", "same, minibatch 16", "x", "<= 1.5"),
    Row("iris.ngspice_floor_over_analysis",
        "iris, minibatch 4: floor set by ngspice's `alter` commands / `op` time", "x"),
    Row("iris.ngspice_wall_over_in_library", "iris: wall time / all time inside libngspice",
        "x"),
    Row("digits.ngspice_wall_over_analysis",
        "digits training step: wall time / ngspice `op` time", "x", "<= 1.5"),
    Row("digits.ngspice_wall_over_in_library", "digits: wall time / all time inside libngspice",
        "x"),
    Row("digits.native_speedup", "digits training step: ngspice / native time per sample", "x"),
)

#: The keys the table shows (kept for scripts that read them).
SUMMARY = tuple(row.key for row in TABLE)

#: Per-sample parts of the wall time (µs), in table order; see :func:`training_steps`.
PARTS = ("op", "callback", "alter_conductances", "alter_sources", "destroy", "readback",
         "python")

MINIBATCHES = (4, 8, 16)


def _inputs(circuit, samples: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    return (rng.uniform(0.0, 1.0, (samples, len(circuit.inputs))),
            rng.uniform(0.0, 1.0, (samples, len(circuit.outputs))))


def training_steps(spec_name: str, backend_name: str, samples: int, batch_size: int) -> dict:
    """Run training steps on random data; time them and read the backend's counters.

    For ngspice, ``breakdown_us`` splits the wall time per sample into :data:`PARTS`:
    ``op`` (ngspice's own analysis time: wall time inside the ``op`` commands less the output
    callback), ``callback`` (Python run by ngspice's output callback, nearly all of it during
    ``op``), ``alter_conductances`` (``set_trainable``), ``alter_sources`` (the per-sample
    ``alter`` commands, each carrying the previous ``destroy all``), ``destroy`` (the lone
    ``destroy all`` after a minibatch's last ``op``), ``readback`` (node voltages through
    ``ngGet_Vec_Info``) and ``python`` (the rest: numpy, the EP rule, building commands).
    """
    spec = load_spec(spec_path(spec_name))
    circuit = build_circuit(spec)
    settings = settings_from(spec)
    g_min, g_max = conductance_bounds(spec, circuit)
    rates = learning_rates(settings, circuit, spec.source) * g_max ** 2
    x, y = _inputs(circuit, samples)
    values = np.array(circuit.trainable_values())
    with make_backend(backend_name, circuit, compiled=True) as backend:
        probe = make_probe(circuit, backend.node_names)
        ep_gradient(backend, x[:1], y[:1], settings.beta, settings.nudge, probe)  # warm-up
        backend.set_trainable(values)
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
        alter_us = _alter_microseconds(backend) if stats else (None, None)
    out = {"spec": spec_name, "backend": backend_name, "samples": samples,
           "batch_size": batch_size, "ms_per_sample": 1e3 * wall / samples}
    if not stats:
        return out
    delta = {key: stats[key] - stats_before.get(key, 0) for key in stats}
    callback = library["callback"]
    analysis = delta["analysis_seconds"] - callback       # ngspice's own time in `op`
    out["analysis_ms_per_sample"] = 1e3 * analysis / samples
    out["wall_over_analysis"] = wall / analysis
    # Inside libngspice: every command (alter, op, destroy, ...) and the vector reads, less the
    # Python that ngspice's output callback runs from inside those commands.
    inside = library["command"] + library["read"] - callback
    out["in_library_ms_per_sample"] = 1e3 * inside / samples
    out["callback_ms_per_sample"] = 1e3 * callback / samples
    out["commands_per_sample"] = library["commands"] / samples
    out["wall_over_in_library"] = wall / inside
    out["python_share"] = 1.0 - inside / wall
    seconds = {"op": analysis, "callback": callback,
               "alter_conductances": delta.get("update_seconds", 0.0),
               "alter_sources": delta["alter_seconds"], "destroy": delta["destroy_seconds"],
               "readback": delta["read_seconds"]}
    seconds["python"] = wall - sum(seconds.values())
    out["breakdown_us"] = {key: 1e6 * seconds[key] / samples for key in PARTS}
    updates, alters = delta.get("updates", 0) / samples, delta.get("alters", 0) / samples
    out["alters_per_sample"] = updates + alters
    out["alter_us"], out["alter_source_us"] = alter_us
    # ngspice's interpreter alone: `alter` commands per sample at the measured cost of one
    # (nan when the backend does not count its alters).
    floor = 1e-6 * (updates * alter_us[0] + alters * alter_us[1]) / (analysis / samples)
    out["floor_over_analysis"] = 1.0 + floor if updates + alters else float("nan")
    return out


def _alter_microseconds(backend, repeats: int = 5) -> tuple:
    """Cost (µs) of one ``alter`` inside ngspice, joined as the backend joins them (``;``, at
    most 1000 characters per command), re-sending the values ngspice holds: of a conductance
    (``alter R... resistance=``) and of a source or nudging gain (``dc=``, ``gain=``)."""
    if not hasattr(backend, "trainable_alters"):
        return float("nan"), float("nan")
    session = backend.session
    updates = backend.trainable_alters(backend.circuit.trainable_values())
    if not updates:
        return float("nan"), float("nan")
    result = []
    with session.lock:
        backend.ensure_loaded()
        sources = backend.controlled_alters()
        for commands in (updates, sources * max(1, len(updates) // len(sources))):
            best = float("inf")
            for _ in range(repeats):
                started = time.perf_counter()
                backend.send_alters(commands)
                best = min(best, time.perf_counter() - started)
            result.append(1e6 * best / len(commands))
    return tuple(result)


def _library_counters(session) -> dict:
    """Cumulative time inside libngspice calls of the ngspice session (zeros for native)."""
    if session is None:
        return {"command": 0.0, "read": 0.0, "callback": 0.0, "commands": 0}
    return {"command": session.command_seconds, "read": session.read_seconds,
            "callback": session.callback_seconds, "commands": session.commands}


def iris_minibatches(samples: int, repeats: int) -> dict:
    """iris with ngspice at minibatch 4, 8 and 16, interleaved; the fastest round of each."""
    best: dict[int, dict] = {}
    spread: dict[int, list] = {batch: [] for batch in MINIBATCHES}
    for _ in range(repeats):
        for batch in MINIBATCHES:
            result = training_steps("iris", "ngspice", samples, batch)
            spread[batch].append(result["wall_over_analysis"])
            if batch not in best or result["ms_per_sample"] < best[batch]["ms_per_sample"]:
                best[batch] = result
    for batch in MINIBATCHES:
        best[batch]["wall_over_analysis_range"] = [min(spread[batch]), max(spread[batch])]
    return best


def table(results: dict) -> str:
    """The side-by-side iris table (text) of :func:`iris_minibatches`' results."""
    batches = sorted(results)
    rows = [("minibatch", [str(b) for b in batches]),
            ("wall / op (best round)",
             [f"{results[b]['wall_over_analysis']:.2f}" for b in batches]),
            ("wall / op (all rounds)",
             ["{:.2f}-{:.2f}".format(*results[b]["wall_over_analysis_range"]) for b in batches]),
            ("wall / in-library", [f"{results[b]['wall_over_in_library']:.2f}" for b in batches]),
            ("floor: 1 + alters x alter cost / op",
             [f"{results[b]['floor_over_analysis']:.2f}" for b in batches]),
            ("wall per sample (us)", [f"{1e3 * results[b]['ms_per_sample']:.0f}" for b in batches])]
    rows += [(f"  {part} (us)", [f"{results[b]['breakdown_us'][part]:.1f}" for b in batches])
             for part in PARTS]
    rows += [("alters per sample", [f"{results[b]['alters_per_sample']:.1f}" for b in batches]),
             ("ngspice commands per sample",
              [f"{results[b]['commands_per_sample']:.2f}" for b in batches]),
             ("one alter of a conductance (us)",
              [f"{results[b]['alter_us']:.2f}" for b in batches]),
             ("one alter of a source or gain (us)",
              [f"{results[b]['alter_source_us']:.2f}" for b in batches])]
    width = max(len(label) for label, _ in rows)
    return "\n".join(f"{label:<{width}}  " + "  ".join(f"{v:>9}" for v in values)
                     for label, values in rows)


def run(args=None) -> dict:
    """Entry point for ``eqprop-hw bench``."""
    quick = bool(getattr(args, "quick", False))
    iris_only = bool(getattr(args, "iris_only", False))
    repeats = int(getattr(args, "repeats", None) or (2 if quick else 3))
    result = {}
    iris = iris_minibatches(48 if quick else 112, repeats)
    for batch, spice in iris.items():
        prefix = "iris." if batch == 4 else f"iris.batch{batch}."
        for key in ("ms_per_sample", "analysis_ms_per_sample", "wall_over_analysis",
                    "in_library_ms_per_sample", "wall_over_in_library", "python_share",
                    "callback_ms_per_sample", "commands_per_sample", "alters_per_sample",
                    "alter_us", "alter_source_us", "floor_over_analysis"):
            result[f"{prefix}ngspice_{key}"] = spice[key]
        result[f"{prefix}ngspice_wall_over_analysis_range"] = spice["wall_over_analysis_range"]
        result[f"{prefix}ngspice_breakdown_us"] = spice["breakdown_us"]
    print(table(iris), file=sys.stderr)
    if iris_only:
        return result
    spice = training_steps("digits", "ngspice", 8 if quick else 40, 4)
    for key in ("ms_per_sample", "analysis_ms_per_sample", "wall_over_analysis",
                "in_library_ms_per_sample", "wall_over_in_library", "python_share",
                "callback_ms_per_sample", "commands_per_sample"):
        result[f"digits.ngspice_{key}"] = spice[key]
    for name, samples in (("iris", 40 if quick else 105), ("digits", 8 if quick else 40)):
        native = training_steps(name, "native", samples * (4 if quick else 10), 4)
        result[f"{name}.native_ms_per_sample"] = native["ms_per_sample"]
        result[f"{name}.native_speedup"] = \
            result[f"{name}.ngspice_ms_per_sample"] / native["ms_per_sample"]
    for batch in (4, 64):
        native = training_steps("mnist_size", "native", 64 if quick else 256, batch)
        result[f"mnist_size.native_ms_per_sample_batch{batch}"] = native["ms_per_sample"]
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--iris-only", action="store_true",
                        help="only the iris minibatch table (ngspice)")
    parser.add_argument("--repeats", type=int, default=None,
                        help="interleaved rounds of the iris minibatches (default 3, quick 2)")
    parser.add_argument("--cpu-clock", action="store_true",
                        help="time with the thread's CPU time (robust on a loaded machine)")
    parser.add_argument("--ngspice-module", metavar="FILE",
                        help="use this file as eqprop_hw.backends.ngspice (before/after runs)")
    options = parser.parse_args()
    if options.ngspice_module:
        import importlib.util
        spec = importlib.util.spec_from_file_location("eqprop_hw.backends.ngspice",
                                                      options.ngspice_module)
        module = importlib.util.module_from_spec(spec)
        sys.modules["eqprop_hw.backends.ngspice"] = module
        spec.loader.exec_module(module)
        print(f"ngspice backend from {options.ngspice_module}", file=sys.stderr)
    if options.cpu_clock:
        time.perf_counter = time.thread_time     # every clock below, in every module
    json.dump(run(options), sys.stdout, indent=1)
    print()
