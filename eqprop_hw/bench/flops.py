"""How close the native solver runs to this machine's FLOP limit, measured in one process.

For ``mnist_size`` (784-100-10 diode crossbar) it

1. counts the floating-point operations one sample needs in the native solver's own algorithm:
   the sizes of the matrices it actually builds (unknowns, pinned nodes, diodes, the
   eliminated hidden block and the Schur block, stored non-zeros of each sparse map) times the
   Newton iterations each sample actually took (``SolveResult.iterations``), for the free phase
   alone and for free + centered nudged phases (the EP training step's solves);
2. times the same solves (best of ``repeats``) and reports the achieved FLOP/s; the solver runs
   as training runs it (``compiled=True``: the compiled Newton loops of
   :mod:`eqprop_hw.backends.native.fused`);
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

With ``--baseline PATH`` (another version of the native solver: the file ``backends/native.py``
of a revision before the package, e.g. from ``git show REV:eqprop_hw/backends/native.py``, or
a ``backends/native/`` package folder) that solver is timed too, interleaved with the
current one on the same inputs in the same processes: keys ``before.*`` (its FLOPs counted with
:data:`BASELINE_OPS`), ``speedup.*`` and ``before_vs_after.*.max_relative_difference``.

Run with ``eqprop-hw bench flops`` or
``python -m eqprop_hw.bench.flops [--quick] [--profile] [--baseline FILE
[--baseline-ops current]]``.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from eqprop_hw.backends import make_backend
from eqprop_hw.bench import blas_threads_env, child_command, child_env, spec_path
from eqprop_hw.circuit.build import build_circuit
from eqprop_hw.circuit.spec import load_spec
from eqprop_hw.learning.train import settings_from
from eqprop_hw.bench._table import Row


#: The rows of `eqprop-hw bench`'s table (eqprop_hw/bench/_table.py).
TABLE = (
    Row("free.limit_ratio", "mnist_size free phase: time / (FLOPs at matmul peak)", "x",
        "<= 5"),
    Row("three_phases.limit_ratio", "mnist_size EP step (3 phases): time / FLOP limit", "x",
        "<= 5"),
    Row("three_phases.achieved_gflops", "mnist_size EP step: achieved FLOP rate", "GFLOP/s"),
    Row("matmul_peak_gflops", "numpy matmul peak (default BLAS threads)", "GFLOP/s"),
    Row("one_thread.free.limit_ratio", "free phase, one BLAS thread: time / FLOP limit", "x",
        "<= 5"),
    Row("one_thread.three_phases.limit_ratio", "EP step, one BLAS thread: time / FLOP limit",
        "x", "<= 5"),
    Row("one_thread.matmul_peak_gflops", "numpy matmul peak, one BLAS thread", "GFLOP/s"),
)

#: The keys the table shows (kept for scripts that read them).
SUMMARY = tuple(row.key for row in TABLE)

#: Elementwise operations per diode per Newton iteration in ``NativeBackend._diode_companion``:
#: the reverse-bias test, the forward law (divide, exp, multiply, divide, subtract, multiply),
#: the gmin terms (3). The reverse law is evaluated only where a junction is reverse biased
#: (none on ``mnist_size``) and is not counted.
DIODE_LAW_OPS = 10
#: Per diode per iteration around it: companion current (2), right-hand side (2).
DIODE_RHS_OPS = 4
#: Elementwise operations per diode in ``native.newton.limit_junctions`` (difference, abs and two
#: tests, and); SPICE's limited voltage (two logs) is evaluated only where a junction is
#: limited (almost nowhere after the first step) and is not counted.
PNJLIM_OPS = 5
#: Per unknown per iteration in the convergence test (difference, abs, max, compare).
STEP_TEST_OPS = 6
#: The same for the solver before the elementwise work was fused (``--baseline``): both
#: branches of the diode law and of the limiting evaluated everywhere and selected by ``where``.
BASELINE_OPS = {"law": 22, "rhs": 4, "limit": 20}


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


def _arrays(backend) -> dict:
    """:meth:`NativeBackend.solver_arrays` of ``backend``, also of a ``--baseline`` solver of
    another revision (which may predate the method: the current one reads the same compiled
    arrays, or None for what that revision does not have)."""
    from eqprop_hw.backends.native import NativeBackend
    return NativeBackend.solver_arrays(backend)


def setup_flops(backend, nudged: bool, warm: bool, shared: bool = False,
                reused_diodes: bool = False) -> float:
    """FLOPs per sample of one solve before its Newton loop.

    ``shared``: a later phase of ``solve_phases``, which reuses the first phase's pinned
    voltages and right-hand side (same inputs and targets) and adds only its nudge;
    ``reused_diodes``: it also starts from the free phase's diode voltages (not recomputed).
    """
    b, a = backend, _arrays(backend)
    flops = 0
    if not shared:
        n_src = len(a["sources"])
        flops += 2 * _nnz(a["input_gain"]) + 2 * _nnz(a["target_gain"]) + 2 * n_src  # sources
        flops += 2 * _nnz(a["pin_map"])                                       # pinned nodes
        flops += 2 * _nnz(a["rhs_map"]) + 2 * _nnz(a["base_rhs"]) + b.n_unknown  # rhs
        if a["diodes"]:
            flops += 2 * _nnz(a["diode_pinned"])                              # diode ends
    if nudged:
        flops += 2 * _nnz(a["nudge_rhs"]) + 2 * b.n_unknown
    if a["diodes"] and warm and not (shared and reused_diodes):
        flops += 2 * _nnz(a["diode_unknown"]) + len(a["diodes"])
    return float(flops)


def iteration_flops(backend, ops: dict | None = None) -> float:
    """FLOPs per sample of one Newton iteration (linearise, solve, limit, test); ``ops``: the
    elementwise operations per diode (``BASELINE_OPS`` for the solver before fusing)."""
    b, a = backend, _arrays(backend)
    n_u, n_d = b.n_unknown, len(a["diodes"])
    ops = ops or {"law": DIODE_LAW_OPS, "rhs": DIODE_RHS_OPS, "limit": PNJLIM_OPS}
    flops = 0.0
    if n_d:
        flops += (ops["law"] + ops["rhs"] + ops["limit"]) * n_d
        # D^T (rhs), D x_new + pinned ends
        flops += 2 * 2 * _nnz(a["diode_unknown"]) + n_u + n_d
    flops += STEP_TEST_OPS * n_u
    h, o = len(a["eliminated"]), len(a["schur"])
    if a["dense"] and h:
        if n_d:
            flops += 2 * _nnz(a["stamp_eliminated"]) + 2 * _nnz(a["stamp_schur"])
        flops += h                                   # 1 / diagonal
        flops += o * h + 2 * o * h * o + o * o       # scaled J_OH, J_OH J_HH^-1 J_HO, subtract
        flops += h + 2 * h * o + o                   # reduced right-hand side
        flops += 2 / 3 * o ** 3 + 2 * o ** 2         # LU solve of the Schur system
        flops += 2 * o * h + 2 * h                   # back-substitution of the hidden block
    elif a["dense"]:
        flops += n_u * n_u + (2 * _nnz(a["stamp"]) if n_d else 0)
        flops += 2 / 3 * n_u ** 3 + 2 * n_u ** 2
    else:
        raise ValueError("FLOP count only for the dense solver path")
    return flops


def count_flops(backend, results, nudged_flags, phases: bool = False,
                ops: dict | None = None, reused_diodes: bool = True) -> float:
    """Total FLOPs of solves whose results (with ``iterations``) are given (``phases``: the
    results of one ``solve_phases`` call, whose nudged phases share the free phase's setup;
    ``reused_diodes``: and its diode voltages, as the current solver does)."""
    total = 0.0
    per_iteration = iteration_flops(backend, ops)
    for k, (result, nudged) in enumerate(zip(results, nudged_flags)):
        batch = result.voltages.shape[0]
        total += batch * setup_flops(backend, nudged, warm=nudged, shared=phases and k > 0,
                                     reused_diodes=reused_diodes)
        total += per_iteration * float(np.sum(result.iterations))
    return total


def load_baseline(path):
    """The ``NativeBackend`` class of another version of the native solver: a file (the single
    ``backends/native.py`` before it became a package, e.g. from ``git show
    REV:eqprop_hw/backends/native.py``) or a folder (the package ``backends/native/``, e.g.
    extracted with ``git archive REV eqprop_hw/backends/native | tar -x -C DIR``)."""
    import importlib.util
    path = Path(path)
    if path.is_dir():
        return _load_baseline_package(path)
    from eqprop_hw.backends.native import fused      # the single file imported backends.fused
    sys.modules.setdefault("eqprop_hw.backends.fused", fused)
    spec = importlib.util.spec_from_file_location("eqprop_hw.backends._native_baseline", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.NativeBackend


def _load_baseline_package(folder: Path):
    """``NativeBackend`` of a native package folder: loaded under the package's own name (its
    modules import each other by absolute name), then the current package is put back."""
    import importlib.util
    name = "eqprop_hw.backends.native"
    ours = [key for key in sys.modules if key == name or key.startswith(name + ".")]
    saved = {key: sys.modules.pop(key) for key in ours}
    try:
        spec = importlib.util.spec_from_file_location(
            name, folder / "__init__.py", submodule_search_locations=[str(folder)])
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        return module.NativeBackend
    finally:
        for key in [key for key in sys.modules if key == name or key.startswith(name + ".")]:
            del sys.modules[key]
        sys.modules.update(saved)


def measure(spec_name: str = "mnist_size", batch: int = 1024, repeats: int = 3,
            seed: int = 0, baseline=None, baseline_ops: str = "fused-before") -> dict:
    """One measurement; with ``baseline`` (a NativeBackend class) also that solver, timed in
    turn with this one on the same inputs (keys ``before.*``, ``speedup.*``).
    ``baseline_ops``: how the baseline's FLOPs are counted: ``"fused-before"`` (the solver
    before the elementwise work was fused, :data:`BASELINE_OPS`) or ``"current"`` (the
    current per-diode counts, for a baseline since then, e.g. ``HEAD``; its nudged phases
    recompute the free phase's diode voltages)."""
    spec = load_spec(spec_path(spec_name))
    circuit = build_circuit(spec)
    beta = settings_from(spec).beta
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.0, 1.0, (batch, len(circuit.inputs)))
    y = rng.uniform(0.0, 1.0, (batch, len(circuit.outputs)))
    solvers = {"": make_backend("native", circuit, compiled=True)}
    if baseline is not None:
        solvers["before."] = baseline(circuit)
    calls = [(label, phase, call) for label, backend in solvers.items()
             for phase, call in (("free", lambda b=backend: b.solve(x)),
                                 ("three_phases", lambda b=backend: b.solve_phases(
                                     x, y, [0.0, beta, -beta])))]
    for _, _, call in calls:           # warm-up
        call()
    peak_before = matmul_peak()
    timed = {}
    for _ in range(repeats):          # interleaved: both solvers see the same machine load
        for label, phase, call in calls:
            start = time.perf_counter()
            result = call()
            seconds = time.perf_counter() - start
            if seconds < timed.get((label, phase), (float("inf"),))[0]:
                timed[label, phase] = (seconds, result)
    peak = max(peak_before, matmul_peak())
    backend = solvers[""]
    arrays = _arrays(backend)
    free, phases = timed["", "free"][1], timed["", "three_phases"][1]
    out = {"spec": spec_name, "batch": batch, "unknowns": backend.n_unknown,
           "pinned": backend.n_pinned, "diodes": len(arrays["diodes"]),
           "eliminated": len(arrays["eliminated"]), "schur": len(arrays["schur"]),
           "newton_iterations_free": float(np.mean(free.iterations)),
           "newton_iterations_nudged": float(np.mean([np.mean(r.iterations)
                                                      for r in phases[1:]])),
           "matmul_peak_gflops": peak / 1e9}
    for label in solvers:
        ops = BASELINE_OPS if label and baseline_ops == "fused-before" else None
        free_result, free_seconds = timed[label, "free"][1], timed[label, "free"][0]
        phase_results, phases_seconds = (timed[label, "three_phases"][1],
                                         timed[label, "three_phases"][0])
        free_flops = count_flops(solvers[label], [free_result], [False], ops=ops)
        phase_flops = count_flops(solvers[label], phase_results, [False, True, True],
                                  phases=True, ops=ops, reused_diodes=not label)
        for phase, flops, seconds in (("free", free_flops, free_seconds),
                                      ("three_phases", phase_flops, phases_seconds)):
            out[f"{label}{phase}.mflop_per_sample"] = flops / batch / 1e6
            out[f"{label}{phase}.us_per_sample"] = seconds / batch * 1e6
            out[f"{label}{phase}.achieved_gflops"] = flops / seconds / 1e9
            out[f"{label}{phase}.limit_us_per_sample"] = flops / peak / batch * 1e6
            out[f"{label}{phase}.limit_ratio"] = seconds / (flops / peak)
    if baseline is not None:
        for phase in ("free", "three_phases"):
            before = timed["before.", phase]
            out[f"speedup.{phase}"] = before[0] / timed["", phase][0]
            voltages = [r.voltages for r in (before[1] if isinstance(before[1], list)
                                             else [before[1]])]
            after = [r.voltages for r in (timed["", phase][1] if phase != "free"
                                          else [timed["", phase][1]])]
            out[f"before_vs_after.{phase}.max_relative_difference"] = max(
                float(np.max(np.abs(a - b)) / np.max(np.abs(b))) for a, b in zip(after, voltages))
            out[f"before_vs_after.{phase}.max_abs_difference_V"] = max(
                float(np.max(np.abs(a - b))) for a, b in zip(after, voltages))
    return out


def profile(spec_name: str = "mnist_size", batch: int = 1024, lines: int = 14) -> str:
    """cProfile of the three phases (text, sorted by own time)."""
    spec = load_spec(spec_path(spec_name))
    circuit = build_circuit(spec)
    beta = settings_from(spec).beta
    rng = np.random.default_rng(0)
    x = rng.uniform(0.0, 1.0, (batch, len(circuit.inputs)))
    y = rng.uniform(0.0, 1.0, (batch, len(circuit.outputs)))
    backend = make_backend("native", circuit, compiled=True)
    backend.solve_phases(x, y, [0.0, beta, -beta])
    profiler = cProfile.Profile()
    profiler.enable()
    backend.solve_phases(x, y, [0.0, beta, -beta])
    profiler.disable()
    stream = io.StringIO()
    pstats.Stats(profiler, stream=stream).sort_stats("tottime").print_stats(lines)
    return stream.getvalue()


RANGED = ("free.limit_ratio", "three_phases.limit_ratio", "free.achieved_gflops",
          "three_phases.achieved_gflops", "matmul_peak_gflops", "free.us_per_sample",
          "three_phases.us_per_sample")


def _runs(quick: bool, baseline=None, baseline_ops: str = "fused-before") -> dict:
    """Measure (several seeds) in this process; median and range of the ratios."""
    solver = load_baseline(baseline) if baseline else None
    runs = [measure(batch=256 if quick else 1024, repeats=2 if quick else 3, seed=seed,
                    baseline=solver, baseline_ops=baseline_ops)
            for seed in range(1 if quick else 3)]
    result = dict(runs[0])
    keys = list(RANGED)
    if solver is not None:
        keys += [f"before.{key}" for key in RANGED if key != "matmul_peak_gflops"]
        keys += ["speedup.free", "speedup.three_phases"]
        for phase in ("free", "three_phases"):       # the largest over all seeds
            for kind in ("max_relative_difference", "max_abs_difference_V"):
                key = f"before_vs_after.{phase}.{kind}"
                result[key] = max(r[key] for r in runs)
    for key in keys:
        values = [r[key] for r in runs]
        result[key] = float(np.median(values))
        if len(runs) > 1:
            result[f"{key}_range"] = [float(min(values)), float(max(values))]
    return result


def _child(quick: bool, threads: int | None, baseline=None,
           baseline_ops: str = "fused-before") -> dict:
    """:func:`_runs` in a fresh process, with ``threads`` BLAS threads (None: the default)."""
    env = child_env(blas_threads_env(threads))
    command = child_command("flops", "--child") + \
        (["--quick"] if quick else []) + (["--baseline", str(baseline)] if baseline else []) + \
        ["--baseline-ops", baseline_ops]
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
    baseline = getattr(args, "baseline", None)
    baseline_ops = getattr(args, "baseline_ops", None) or "fused-before"
    result = _child(quick, None, baseline, baseline_ops)
    single = _child(quick, 1, baseline, baseline_ops)
    for key, value in single.items():
        if key.startswith(("matmul_peak", "free.", "three_phases.", "before.", "speedup.",
                           "before_vs_after.")):
            result[f"one_thread.{key}"] = value
    result["target_limit_ratio"] = 5.0
    for prefix, run_result in (("", result), ("one_thread.", single)):
        result[f"{prefix}meets_target"] = bool(
            run_result["free.limit_ratio"] <= 5.0 and
            run_result["three_phases.limit_ratio"] <= 5.0)
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--profile", action="store_true",
                        help="also print a cProfile of the three phases on stderr")
    parser.add_argument("--baseline", metavar="NATIVE",
                        help="also time another version of the native solver side by side: "
                             "a backends/native.py file (e.g. from `git show "
                             "REV:eqprop_hw/backends/native.py`) or a backends/native/ folder")
    parser.add_argument("--baseline-ops", choices=("fused-before", "current"),
                        default="fused-before",
                        help="count the baseline's FLOPs as the solver before the elementwise "
                             "work was fused (default) or with the current counts (a recent "
                             "baseline such as HEAD)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    json.dump(_runs(arguments.quick, arguments.baseline, arguments.baseline_ops)
              if arguments.child else run(arguments),
              sys.stdout, indent=1)
    print()
    if arguments.profile:
        print(profile(), file=sys.stderr)
