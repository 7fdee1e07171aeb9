"""Scaling curves: time per sample and memory against network size, batch size and workers.

Layered diode crossbars (``[n_in, n_hidden, n_out]``, doubled inputs, the ``mnist_size``
device settings) are generated in-process from about 10^2 to 10^6 conductances. Each size runs
in fresh child processes (so peak memory is that size's own; one BLAS thread, see
:data:`BLAS_THREADS`): one builds the circuit and the native backend, solves one batch of
``batch`` random inputs (time per sample, best of 5) and reports its peak RSS; another, while
the size is in the ngspice range, loads the circuit into ngspice and times ``op`` for a few
samples (the first one excluded) and the RSS the loaded circuit adds. ngspice stops after the
first size whose ``op`` takes over ``ngspice_limit`` seconds (larger sizes only take longer).

Also the native time per sample against batch size (1 .. 1024) on ``mnist_size``, and, from
:mod:`eqprop_hw.bench.distributed` (with ``--workers``), one epoch of a digits subset with
ngspice on 1 and 2 Dask workers. Results go to ``docs/results/scaling.json`` and PNG plots
``docs/results/scaling_*.png`` (full runs from a source checkout only; ``--quick`` and an
installed wheel write nothing unless ``--out``).

Run with ``eqprop-hw bench scaling`` or ``python -m eqprop_hw.bench.scaling [--quick] [--workers]``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from eqprop_hw.bench import PACKAGE_PARENT, blas_threads_env, child_command, child_env, spec_path
from eqprop_hw.bench._table import Row

#: Where full runs write scaling.json and the plots by default: the source checkout's
#: docs/results/ when this package runs from one, else nowhere (an installed wheel; pass --out).
RESULTS = PACKAGE_PARENT / "docs" / "results"
SOURCE_CHECKOUT = (PACKAGE_PARENT / "pyproject.toml").is_file()

#: The rows of `eqprop-hw bench`'s table (eqprop_hw/bench/_table.py).
TABLE = (
    Row("size136.speedup", "136 conductances: ngspice / native time per sample", "x"),
    Row("size1780.speedup", "1,780 conductances: ngspice / native time per sample", "x"),
    Row("size14020.speedup", "14,020 conductances: ngspice / native time per sample", "x"),
    Row("size159792.speedup", "159,792 conductances: ngspice / native time per sample", "x"),
    Row("batch1_over_batch_max", "mnist_size native: time per sample at batch 1 / largest batch",
        "x"),
    Row("ngspice_stop", "where ngspice stopped", ""),
)

#: The keys the table shows (kept for scripts that read them).
SUMMARY = tuple(row.key for row in TABLE)

#: [inputs, hidden, outputs] per target size; conductances = (2 n_in + 2) n_h + (n_h + 2) n_out.
SIZES = [(4, 10, 3), (16, 40, 10), (64, 100, 10), (250, 200, 10), (784, 100, 10),
         (500, 500, 10), (1000, 500, 10)]
QUICK_SIZES = [(4, 10, 3), (16, 40, 10), (64, 100, 10)]


def conductances(layers) -> int:
    n_in, n_h, n_out = layers
    return (2 * n_in + 2) * n_h + (n_h + 2) * n_out


def layered_spec(layers):
    """A Spec object of a layered diode crossbar of the given sizes (mnist_size's devices)."""
    from eqprop_hw.circuit.spec import parse_spec
    return parse_spec({
        "name": "scale_" + "_".join(map(str, layers)), "kind": "layered", "layers": list(layers),
        "inputs": {"doubling": True, "gain": 1.0, "bias": 1.0},
        "conductance": {"min": 1e-8, "max": 1e-3,
                        "init": {"distribution": "uniform", "low": 1e-7, "high": 4e-6},
                        "seed": 0},
        "activation": {"type": "diode", "model": {"IS": 1e-14, "N": 1.0},
                       "high": 0.0, "low": 0.0}})


def _rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20


#: BLAS threads in the measuring child processes (None: numpy's default). One, because these
#: 2 cores are shared with other busy processes: with two threads a solve's small matrix
#: products stall waiting for the second core (measured: batch 4 of mnist_size 0.22 ms per
#: sample with one thread, 23.6 ms with two, same process and load).
BLAS_THREADS: int | None = 1


def _child_env() -> dict:
    return child_env(blas_threads_env(BLAS_THREADS))


def _peak_rss_mb() -> float:
    """This process's peak RSS (MB): ``VmHWM``, which starts afresh at exec (unlike
    ``ru_maxrss``, which a child inherits from its parent's peak)."""
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def measure_size(layers, batch: int, ngspice_samples: int) -> dict:
    """One size, in this process: native time/sample and peak RSS (``ngspice_samples`` 0), or
    ngspice's time per sample and the RSS its loaded circuit adds (``ngspice_samples`` > 0)."""
    from eqprop_hw.backends import make_backend
    from eqprop_hw.circuit.build import build_circuit
    rss_start = _rss_mb()
    started = time.perf_counter()
    circuit = build_circuit(layered_spec(layers))
    build_seconds = time.perf_counter() - started
    started = time.perf_counter()
    native = make_backend("native", circuit)
    compile_seconds = time.perf_counter() - started
    rng = np.random.default_rng(0)
    x = rng.uniform(0.0, 1.0, (batch, len(circuit.inputs)))
    if ngspice_samples:                        # the ngspice child: one native solve to compare
        result = native.solve(x[:ngspice_samples + 1])
        native = None
    else:
        native.solve(x[:2])
    best = float("inf")
    for _ in range(5 if native is not None else 0):
        started = time.perf_counter()
        result = native.solve(x)
        best = min(best, time.perf_counter() - started)
    out = {"layers": list(layers), "conductances": len(circuit.trainable),
           "elements": len(circuit.elements)}
    if native is not None:
        out.update({"unknowns": native.n_unknown, "batch": batch, "build_seconds": build_seconds,
                    "compile_seconds": compile_seconds,
                    "native_ms_per_sample": 1e3 * best / batch,
                    "native_newton_iterations": float(np.mean(result.iterations)),
                    "native_peak_rss_mb": _peak_rss_mb(), "start_rss_mb": rss_start})
    if ngspice_samples:
        rss_before = _rss_mb()
        started = time.perf_counter()
        with make_backend("ngspice", circuit) as spice:
            load_seconds = time.perf_counter() - started
            first = spice.solve(x[:1])
            analysis_first, analyses_first = (spice.stats["analysis_seconds"],
                                              spice.stats["analyses"])
            times = []
            for row in range(1, 1 + ngspice_samples):
                started = time.perf_counter()
                spice_result = spice.solve(x[row:row + 1])
                times.append(time.perf_counter() - started)
            analysis = spice.stats["analysis_seconds"] - analysis_first
            analyses = spice.stats["analyses"] - analyses_first
            out["ngspice_rss_increase_mb"] = _rss_mb() - rss_before
        out.update({"ngspice_load_seconds": load_seconds,
                    "ngspice_ms_per_sample": 1e3 * float(np.median(times)),
                    "ngspice_ms_per_sample_range": [1e3 * min(times), 1e3 * max(times)],
                    "ngspice_op_ms": 1e3 * analysis / analyses,
                    "native_vs_ngspice_max_dV": float(np.max(np.abs(
                        spice_result.voltages - result.voltages[ngspice_samples:
                                                                ngspice_samples + 1]))),
                    "ngspice_first_op_ms": 1e3 * analysis_first / analyses_first,
                    "first_op_ok": bool(first.converged.all())})
    return out


def _child(layers, batch: int, ngspice_samples: int, timeout: float) -> dict:
    """Run :func:`measure_size` in a fresh Python process (its own peak RSS, its own ngspice)."""
    command = child_command("scaling", "--one", ",".join(map(str, layers)),
                            "--batch", str(batch), "--ngspice-samples", str(ngspice_samples))
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                              env=_child_env())
    except subprocess.TimeoutExpired:
        return {"layers": list(layers), "conductances": conductances(layers),
                "error": f"timed out after {timeout:.0f} s"}
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["?"])[-1]
        return {"layers": list(layers), "conductances": conductances(layers), "error": tail}
    return json.loads(proc.stdout)


def _progress_line(layers, row: dict) -> str:
    """One human line per size on stderr while the curve runs (the numbers go in the JSON)."""
    parts = [f"size {'-'.join(map(str, layers))} ({conductances(layers):,} conductances):"]
    if "native_ms_per_sample" in row:
        parts.append(f"native {row['native_ms_per_sample']:.3g} ms/sample")
    if "ngspice_ms_per_sample" in row:
        parts.append(f"ngspice {row['ngspice_ms_per_sample']:.3g} ms/sample")
    if "speedup" in row:
        parts.append(f"speed-up {row['speedup']:.3g}x")
    for key in ("error", "ngspice_error"):
        if key in row:
            parts.append(f"{key.replace('_', ' ')}: {row[key]}")
    return " ".join(parts)


def size_curve(sizes, batch: int, ngspice_samples: int, ngspice_limit: float,
               timeout: float = 900.0, ngspice_timeout: float = 300.0) -> tuple[list, str]:
    """Native (one child per size), then ngspice (another child) until an op is too slow."""
    rows, stop, samples = [], "", ngspice_samples
    for layers in sizes:
        row = _child(layers, batch, 0, timeout)
        if not stop:
            spice = _child(layers, batch, samples, ngspice_timeout)
            if "error" in spice:
                stop = (f"ngspice stopped at {conductances(layers)} conductances: "
                        f"{spice['error']} (loading the netlist, a first op and {samples} "
                        f"timed op(s))")
                row["ngspice_error"] = spice["error"]
            else:
                row.update({k: v for k, v in spice.items() if k.startswith("ngspice")
                            or k in ("native_vs_ngspice_max_dV", "first_op_ok")})
                if "native_ms_per_sample" in row:
                    row["speedup"] = row["ngspice_ms_per_sample"] / row["native_ms_per_sample"]
                if row["ngspice_op_ms"] > 1e3 * ngspice_limit:
                    stop = (f"ngspice stopped after {row['conductances']} conductances: one op "
                            f"took {row['ngspice_op_ms'] / 1e3:.1f} s (> {ngspice_limit:g} s)")
                elif row["ngspice_op_ms"] > 1e3:
                    samples = 1                  # seconds per op: time one after the first
        rows.append(row)
        print(_progress_line(layers, row), file=sys.stderr)
    if not stop:
        stop = "ngspice ran every size"
    return rows, stop


def batch_curve(batches, spec_name: str = "mnist_size") -> list:
    """Native time per sample against batch size (same process, best of 3)."""
    from eqprop_hw.backends import make_backend
    from eqprop_hw.circuit.build import build_circuit
    from eqprop_hw.circuit.spec import load_spec
    circuit = build_circuit(load_spec(spec_path(spec_name)))
    native = make_backend("native", circuit)
    x = np.random.default_rng(0).uniform(0.0, 1.0, (max(batches), len(circuit.inputs)))
    native.solve(x[:4])
    rows = []
    for batch in batches:
        repeats = 3 if batch >= 64 else 10
        best = float("inf")
        for _ in range(repeats):
            started = time.perf_counter()
            native.solve(x[:batch])
            best = min(best, time.perf_counter() - started)
        rows.append({"batch": batch, "native_ms_per_sample": 1e3 * best / batch})
    return rows


def _batch_child(batches) -> list:
    """:func:`batch_curve` in a fresh process with :data:`BLAS_THREADS` BLAS threads."""
    command = child_command("scaling", "--batches", ",".join(map(str, batches)))
    proc = subprocess.run(command, capture_output=True, text=True, timeout=1800,
                          env=_child_env())
    if proc.returncode != 0:
        raise RuntimeError("batch curve failed: " + (proc.stderr.strip().splitlines() or ["?"])[-1])
    return json.loads(proc.stdout)


def workers_curve(quick: bool) -> list:
    """One epoch of a digits subset with ngspice on Dask: 1 and 2 workers (bench_distributed)."""
    from eqprop_hw.bench import distributed as bench_distributed
    spec = bench_distributed.subset_spec("digits", 16, 48 if quick else 96)
    rows = []
    for workers in (1, 2):
        epoch = bench_distributed.one_epoch(spec, "ngspice", workers)
        rows.append({"workers": workers, "epoch_seconds": epoch["seconds"]})
    return rows


def plots(data: dict, folder: Path) -> list[str]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from eqprop_hw.io.plots import save_figure
    written = []
    sizes = [r for r in data["sizes"] if "native_ms_per_sample" in r]
    figure, axis = plt.subplots(figsize=(6, 4))
    axis.loglog([r["conductances"] for r in sizes], [r["native_ms_per_sample"] for r in sizes],
                "o-", label=f"native (batch {data['size_batch']})")
    spice = [r for r in sizes if "ngspice_ms_per_sample" in r]
    axis.loglog([r["conductances"] for r in spice], [r["ngspice_ms_per_sample"] for r in spice],
                "s-", label="ngspice in the loop (alter + op)")
    axis.set_xlabel("conductances")
    axis.set_ylabel("ms per sample (DC operating point)")
    axis.set_title("Time per sample vs network size")
    axis.grid(True, which="both", alpha=0.3)
    axis.legend()
    save_figure(figure, folder / "scaling_size.png")
    written.append("scaling_size.png")

    figure, axis = plt.subplots(figsize=(6, 4))
    axis.loglog([r["batch"] for r in data["batches"]],
                [r["native_ms_per_sample"] for r in data["batches"]], "o-")
    axis.set_xlabel("batch size")
    axis.set_ylabel("ms per sample")
    axis.set_title("Native solver, mnist_size: time per sample vs batch")
    axis.grid(True, which="both", alpha=0.3)
    save_figure(figure, folder / "scaling_batch.png")
    written.append("scaling_batch.png")

    figure, axis = plt.subplots(figsize=(6, 4))
    axis.loglog([r["conductances"] for r in sizes], [r["native_peak_rss_mb"] for r in sizes],
                "o-", label="native: peak RSS of the process (build + solve)")
    spice = [r for r in sizes if "ngspice_rss_increase_mb" in r]
    axis.loglog([r["conductances"] for r in spice],
                [max(r["ngspice_rss_increase_mb"], 0.1) for r in spice], "s-",
                label="ngspice: RSS added by loading + op")
    axis.set_xlabel("conductances")
    axis.set_ylabel("MB")
    axis.set_title("Memory vs network size")
    axis.grid(True, which="both", alpha=0.3)
    axis.legend()
    save_figure(figure, folder / "scaling_memory.png")
    written.append("scaling_memory.png")

    if data.get("workers"):
        figure, axis = plt.subplots(figsize=(5, 3.5))
        axis.plot([r["workers"] for r in data["workers"]],
                  [r["epoch_seconds"] for r in data["workers"]], "o-")
        axis.set_xlabel("Dask workers")
        axis.set_ylabel("s per epoch")
        axis.set_xticks([r["workers"] for r in data["workers"]])
        axis.set_title("digits subset, ngspice in the loop")
        axis.grid(True, alpha=0.3)
        save_figure(figure, folder / "scaling_workers.png")
        written.append("scaling_workers.png")
    return written


def run(args=None) -> dict:
    """Entry point for ``eqprop-hw bench``."""
    quick = bool(getattr(args, "quick", False))
    out = getattr(args, "out", None)
    out = Path(out) if out else (None if quick or not SOURCE_CHECKOUT else RESULTS)
    batch = 64 if quick else 256
    sizes, stop = size_curve(QUICK_SIZES if quick else SIZES, batch, 2 if quick else 3,
                             ngspice_limit=getattr(args, "ngspice_limit", None) or 10.0)
    batches = _batch_child([1, 4, 16, 64] if quick else [1, 2, 4, 8, 16, 32, 64, 128, 256, 512,
                                                         1024])
    data = {"size_batch": batch, "blas_threads": BLAS_THREADS, "sizes": sizes,
            "ngspice_stop": stop, "batches": batches}
    if getattr(args, "workers", False):
        data["workers"] = workers_curve(quick)
    result = {}
    for row in sizes:
        prefix = f"size{row['conductances']}"
        for key in ("native_ms_per_sample", "ngspice_ms_per_sample", "speedup",
                    "native_peak_rss_mb", "error"):
            if key in row:
                result[f"{prefix}.{key}"] = row[key]
    for row in batches:
        result[f"mnist_size.batch{row['batch']}.native_ms_per_sample"] = row["native_ms_per_sample"]
    result["batch1_over_batch_max"] = (batches[0]["native_ms_per_sample"]
                                       / batches[-1]["native_ms_per_sample"])
    result["ngspice_stop"] = stop
    for row in data.get("workers", []):
        result[f"workers{row['workers']}.epoch_seconds"] = row["epoch_seconds"]
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "scaling.json").write_text(json.dumps(data, indent=1) + "\n")
        result["plots"] = plots(data, out)
        result["written"] = str(out / "scaling.json")
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--workers", action="store_true",
                        help="also time one digits epoch on 1 and 2 Dask workers")
    parser.add_argument("--out", help="folder for scaling.json and plots "
                                      "(default docs/results/ for full runs)")
    parser.add_argument("--ngspice-limit", type=float, default=10.0,
                        help="stop ngspice after the first size whose op takes longer (s)")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--batches", help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, default=256, help=argparse.SUPPRESS)
    parser.add_argument("--ngspice-samples", type=int, default=3, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.batches:
        json.dump(batch_curve([int(v) for v in arguments.batches.split(",")]), sys.stdout)
        print()
    elif arguments.one:
        layers = tuple(int(v) for v in arguments.one.split(","))
        json.dump(measure_size(layers, arguments.batch, arguments.ngspice_samples), sys.stdout)
        print()
    else:
        json.dump(run(arguments), sys.stdout, indent=1)
        print()
