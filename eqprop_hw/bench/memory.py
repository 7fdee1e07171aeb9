"""Memory of ngspice in the loop: RSS over 10^4 consecutive operating points.

One ngspice backend (shared library, circuit loaded once) solves ``solves`` samples one after
another (``solve`` of one row: ``alter`` the inputs, ``op``, read the vectors, ``destroy all``),
with new conductances pushed (``set_trainable``, one ``alter`` per conductance) every 100
solves, as training does. The process's resident set size (RSS, from ``/proc/self/statm``) is
sampled every ``every`` solves. Reported: the growth over the first and the last 1000 solves
(MB), the total growth after the first 1000 (the first solves allocate ngspice's matrices and
Python caches), and the implied growth per 1000 solves at the end (bounded means ~0).

The measurement runs in a fresh child process, so the RSS is this benchmark's own.

Run with ``eqprop-hw bench memory`` or ``python -m eqprop_hw.bench.memory [--quick]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

from eqprop_hw.backends import make_backend
from eqprop_hw.bench import child_command, child_env, spec_path
from eqprop_hw.circuit.build import build_circuit
from eqprop_hw.circuit.spec import load_spec
from eqprop_hw.bench._table import Row


#: The rows of `eqprop-hw bench`'s table (eqprop_hw/bench/_table.py).
TABLE = (
    Row("solves", "consecutive ngspice solves in one process", ""),
    Row("growth_first_window_mb", "RSS growth over the first 1000 solves", "MB"),
    Row("growth_last_window_mb", "RSS growth over the last 1000 solves", "MB", "bounded (~0)"),
    Row("growth_after_first_window_mb", "RSS growth after the first 1000 solves", "MB",
        "bounded (~0)"),
)

#: The keys the table shows (kept for scripts that read them).
SUMMARY = tuple(row.key for row in TABLE)


def rss_mb() -> float:
    """Current resident set size of this process (MB)."""
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20


def measure(spec_name: str = "iris", solves: int = 10_000, every: int = 100,
            window: int = 1000, seed: int = 0) -> dict:
    circuit = build_circuit(load_spec(spec_path(spec_name)))
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.0, 1.0, (solves, len(circuit.inputs)))
    values = np.array(circuit.trainable_values())
    samples = []
    started = time.perf_counter()
    with make_backend("ngspice", circuit) as backend:
        samples.append((0, rss_mb()))
        for k in range(solves):
            backend.solve(x[k:k + 1])
            if (k + 1) % 100 == 0:
                backend.set_trainable(values * rng.uniform(0.9, 1.1, values.size))
            if (k + 1) % every == 0:
                samples.append((k + 1, rss_mb()))
        commands = backend.session.commands
        plots = backend.session.plot_names()
    seconds = time.perf_counter() - started
    counts = np.array([c for c, _ in samples])
    rss = np.array([r for _, r in samples])

    def at(count):
        return float(rss[np.searchsorted(counts, count)])

    window = min(window, solves // 2)
    first = at(window) - at(0)
    last = at(solves) - at(solves - window)
    return {"spec": spec_name, "solves": solves, "seconds": seconds,
            "ms_per_solve": 1e3 * seconds / solves, "ngspice_commands": commands,
            "plots_left": plots, "rss_start_mb": at(0), "rss_end_mb": at(solves),
            "window": window, "growth_first_window_mb": first, "growth_last_window_mb": last,
            "growth_after_first_window_mb": at(solves) - at(window),
            "max_growth_per_1000_after_first_window_mb":
                float(np.max(np.diff(rss[counts >= window][::max(1, 1000 // every)]),
                             initial=0.0)),
            "rss_samples_mb": rss.tolist()[::max(1, len(rss) // 20)]}


def run(args=None) -> dict:
    """Entry point for ``eqprop-hw bench``: :func:`measure` in a fresh process (so the RSS is
    this benchmark's own, not that of whatever ran before it in the same process)."""
    quick = bool(getattr(args, "quick", False))
    env = child_env()
    command = child_command("memory", "--child") + \
        (["--quick"] if quick else [])
    proc = subprocess.run(command, capture_output=True, text=True, env=env, timeout=1800)
    if proc.returncode != 0:
        raise RuntimeError("bench_memory child failed: "
                           + (proc.stderr.strip().splitlines() or ["?"])[-1])
    return json.loads(proc.stdout)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.child:
        result = measure(solves=2000 if arguments.quick else 10_000,
                         window=500 if arguments.quick else 1000)
    else:
        result = run(arguments)
    json.dump(result, sys.stdout, indent=1)
    print()
