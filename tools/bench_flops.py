"""How close the native solver runs to this machine's FLOP limit, measured in one process.

For ``mnist_size`` (784-100-10 diode crossbar) it

1. counts the floating-point operations one sample needs in the native solver's own algorithm:
   the sizes of the matrices it actually builds (unknowns, pinned nodes, diodes, the
   eliminated hidden block and the Schur block, stored non-zeros of each sparse map) times the
   Newton iterations each sample actually took (``SolveResult.iterations``), for the free phase
   alone and for free + centered nudged phases (the EP training step's solves);
2. times the same solves (best of ``repeats``) and reports the achieved FLOP/s;
3. measures numpy's matmul peak (square float64 products, best of several) in the same process;
4. reports ``limit_ratio = time taken / (FLOPs / matmul peak)``, i.e. how many times slower
   than a machine that did only those FLOPs at matmul speed (target: <= 5).

Counting conventions: a sparse product costs 2 FLOPs per stored non-zero and right-hand side
column; a dense (m x k) by (k x n) product 2 m k n; an LU solve of n unknowns 2/3 n^3 + 2 n^2;
each elementwise arithmetic operation, comparison or transcendental function (exp, log) 1 FLOP
per element (so the diode law and SPICE's junction limiting are charged what they evaluate).
Bookkeeping (indexing, copies) is free. The count is therefore the work of the algorithm, not
of a smarter one; for instance the 159,792 conductances enter once per phase, through the
(unknowns x pinned) block that moves the known input voltages to the right-hand side.

Run with ``eqprop-hw bench flops`` or ``python tools/bench_flops.py [--quick] [--profile]``.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from eqprop_hw.backends import make_backend
from eqprop_hw.build import build_circuit
from eqprop_hw.spec import load_spec
from eqprop_hw.train import settings_from

ROOT = Path(__file__).resolve().parents[1]

#: Keys shown in the table of `eqprop-hw bench` (the whole suite).
SUMMARY = ("free.limit_ratio", "three_phases.limit_ratio", "three_phases.achieved_gflops",
           "matmul_peak_gflops", "one_thread.three_phases.limit_ratio",
           "one_thread.matmul_peak_gflops")

#: Elementwise operations per diode evaluated by ``native.diode_current`` (both branches are
#: computed and selected with ``where``: compare, select, divide, exp, the reverse cubic, the
#: selected current and conductance, gmin terms).
DIODE_LAW_OPS = 22
#: Elementwise operations per diode in ``native.pnjlim`` (tests, log of both branches, selects).
PNJLIM_OPS = 20
#: Per diode per iteration around them: companion current (2), right-hand side (2).
DIODE_RHS_OPS = 4
#: Per unknown per iteration in the convergence test (difference, abs, max, compare).
STEP_TEST_OPS = 6


def matmul_peak(size: int = 1024, repeats: int = 5) -> float:
    """numpy's float64 matmul rate (FLOP/s) on square matrices, best of ``repeats``."""
    rng = np.random.default_rng(1)
    a, b = rng.random((size, size)), rng.random((size, size))
    a @ b
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2.0 * size ** 3 / best


def _nnz(matrix) -> int:
    return int(matrix.nnz) if hasattr(matrix, "nnz") else int(np.count_nonzero(matrix))


def setup_flops(backend, nudged: bool, warm: bool, shared: bool = False) -> float:
    """FLOPs per sample of one solve before its Newton loop.

    ``shared``: a later phase of ``solve_phases``, which reuses the first phase's pinned
    voltages and right-hand side (same inputs and targets) and adds only its nudge.
    """
    b = backend
    flops = 0
    if not shared:
        n_src = len(b._dc)
        flops += 2 * _nnz(b._input_gain) + 2 * _nnz(b._target_gain) + 2 * n_src  # sources
        flops += 2 * _nnz(b._pin_map)                                             # pinned nodes
        flops += 2 * _nnz(b._rhs_map) + 2 * _nnz(b._base_up) + b.n_unknown       # rhs
        if b._diodes:
            flops += 2 * _nnz(b._d_pinned)                                        # diode ends
    if nudged:
        flops += 2 * _nnz(b._nudge_up) + 2 * b.n_unknown
    if b._diodes and warm:
        flops += 2 * _nnz(b._d_unknown) + len(b._diodes)
    return float(flops)


def iteration_flops(backend) -> float:
    """FLOPs per sample of one Newton iteration (linearise, solve, limit, test)."""
    b = backend
    n_u, n_d = b.n_unknown, len(b._diodes)
    flops = 0.0
    if n_d:
        flops += (DIODE_LAW_OPS + DIODE_RHS_OPS + PNJLIM_OPS) * n_d
        flops += 2 * 2 * _nnz(b._d_unknown) + n_u + n_d   # D^T (rhs), D x_new + pinned ends
    flops += STEP_TEST_OPS * n_u
    h, o = len(b._h_idx), len(b._o_idx)
    if b._dense and h:
        if n_d:
            flops += 2 * _nnz(b._stamp_h) + 2 * _nnz(b._stamp_o)
        flops += h                                   # 1 / diagonal
        flops += o * h + 2 * o * h * o + o * o       # scaled J_OH, J_OH J_HH^-1 J_HO, subtract
        flops += h + 2 * h * o + o                   # reduced right-hand side
        flops += 2 / 3 * o ** 3 + 2 * o ** 2         # LU solve of the Schur system
        flops += 2 * o * h + 2 * h                   # back-substitution of the hidden block
    elif b._dense:
        flops += n_u * n_u + (2 * _nnz(b._stamp) if n_d else 0)
        flops += 2 / 3 * n_u ** 3 + 2 * n_u ** 2
    else:
        raise ValueError("FLOP count only for the dense solver path")
    return flops


def count_flops(backend, results, nudged_flags, phases: bool = False) -> float:
    """Total FLOPs of solves whose results (with ``iterations``) are given (``phases``: the
    results of one ``solve_phases`` call, whose nudged phases share the free phase's setup)."""
    total = 0.0
    per_iteration = iteration_flops(backend)
    for k, (result, nudged) in enumerate(zip(results, nudged_flags)):
        batch = result.voltages.shape[0]
        total += batch * setup_flops(backend, nudged, warm=nudged, shared=phases and k > 0)
        total += per_iteration * float(np.sum(result.iterations))
    return total


def _best(function, repeats: int):
    function()                                       # warm-up
    best, out = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        out = function()
        best = min(best, time.perf_counter() - start)
    return best, out


def measure(spec_name: str = "mnist_size", batch: int = 1024, repeats: int = 3,
            seed: int = 0) -> dict:
    spec = load_spec(ROOT / "circuits" / f"{spec_name}.yaml")
    circuit = build_circuit(spec)
    beta = settings_from(spec).beta
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.0, 1.0, (batch, len(circuit.inputs)))
    y = rng.uniform(0.0, 1.0, (batch, len(circuit.outputs)))
    backend = make_backend("native", circuit)
    peak_before = matmul_peak()
    free_seconds, free = _best(lambda: backend.solve(x), repeats)
    phases_seconds, phases = _best(lambda: backend.solve_phases(x, y, [0.0, beta, -beta]),
                                   repeats)
    peak = max(peak_before, matmul_peak())
    free_flops = count_flops(backend, [free], [False])
    phase_flops = count_flops(backend, phases, [False, True, True], phases=True)
    out = {"spec": spec_name, "batch": batch, "unknowns": backend.n_unknown,
           "pinned": backend.n_pinned, "diodes": len(backend._diodes),
           "eliminated": len(backend._h_idx), "schur": len(backend._o_idx),
           "newton_iterations_free": float(np.mean(free.iterations)),
           "newton_iterations_nudged": float(np.mean([np.mean(r.iterations)
                                                      for r in phases[1:]])),
           "matmul_peak_gflops": peak / 1e9}
    for label, flops, seconds in (("free", free_flops, free_seconds),
                                  ("three_phases", phase_flops, phases_seconds)):
        out[f"{label}.mflop_per_sample"] = flops / batch / 1e6
        out[f"{label}.us_per_sample"] = seconds / batch * 1e6
        out[f"{label}.achieved_gflops"] = flops / seconds / 1e9
        out[f"{label}.limit_us_per_sample"] = flops / peak / batch * 1e6
        out[f"{label}.limit_ratio"] = seconds / (flops / peak)
    return out


def profile(spec_name: str = "mnist_size", batch: int = 1024, lines: int = 14) -> str:
    """cProfile of the three phases (text, sorted by own time)."""
    spec = load_spec(ROOT / "circuits" / f"{spec_name}.yaml")
    circuit = build_circuit(spec)
    beta = settings_from(spec).beta
    rng = np.random.default_rng(0)
    x = rng.uniform(0.0, 1.0, (batch, len(circuit.inputs)))
    y = rng.uniform(0.0, 1.0, (batch, len(circuit.outputs)))
    backend = make_backend("native", circuit)
    backend.solve_phases(x, y, [0.0, beta, -beta])
    profiler = cProfile.Profile()
    profiler.enable()
    backend.solve_phases(x, y, [0.0, beta, -beta])
    profiler.disable()
    stream = io.StringIO()
    pstats.Stats(profiler, stream=stream).sort_stats("tottime").print_stats(lines)
    return stream.getvalue()


def _runs(quick: bool) -> dict:
    """Measure (several seeds) in this process; median and range of the ratios."""
    runs = [measure(batch=256 if quick else 1024, repeats=2 if quick else 3, seed=seed)
            for seed in range(1 if quick else 3)]
    result = dict(runs[0])
    for key in ("free.limit_ratio", "three_phases.limit_ratio", "free.achieved_gflops",
                "three_phases.achieved_gflops", "matmul_peak_gflops"):
        values = [r[key] for r in runs]
        result[key] = float(np.median(values))
        if len(runs) > 1:
            result[f"{key}_range"] = [float(min(values)), float(max(values))]
    return result


def _child(quick: bool, threads: int | None) -> dict:
    """:func:`_runs` in a fresh process, with ``threads`` BLAS threads (None: the default)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    if threads is not None:
        for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            env[name] = str(threads)
    command = [sys.executable, str(Path(__file__).resolve()), "--child"] + \
        (["--quick"] if quick else [])
    proc = subprocess.run(command, capture_output=True, text=True, env=env, timeout=1800)
    if proc.returncode != 0:
        raise RuntimeError("bench_flops child failed: "
                           + (proc.stderr.strip().splitlines() or ["?"])[-1])
    return json.loads(proc.stdout)


def run(args=None) -> dict:
    """Entry point for ``eqprop-hw bench``.

    Two fresh processes: numpy's default BLAS threads (both cores: the machine's limit; the
    headline keys) and one BLAS thread (``one_thread.*``: against one core's matmul peak). On
    a shared, oversubscribed machine the threaded small products of a solve can stall waiting
    for a core, so the two can differ by far more than the core count.
    """
    quick = bool(getattr(args, "quick", False))
    result = _child(quick, None)
    single = _child(quick, 1)
    for key in ("matmul_peak_gflops", "free.us_per_sample", "free.achieved_gflops",
                "free.limit_ratio", "three_phases.us_per_sample",
                "three_phases.achieved_gflops", "three_phases.limit_ratio",
                "three_phases.limit_ratio_range"):
        if key in single:
            result[f"one_thread.{key}"] = single[key]
    result["target_limit_ratio"] = 5.0
    result["meets_target"] = result["three_phases.limit_ratio"] <= 5.0
    result["one_thread.meets_target"] = single["three_phases.limit_ratio"] <= 5.0
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--profile", action="store_true",
                        help="also print a cProfile of the three phases on stderr")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    json.dump(_runs(arguments.quick) if arguments.child else run(arguments), sys.stdout,
              indent=1)
    print()
    if arguments.profile:
        print(profile(), file=sys.stderr)
