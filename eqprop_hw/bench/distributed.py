"""Data-parallel training benchmark: one epoch of iris with ngspice in the loop on Dask.

Trains one epoch (training time only, as ``metrics["seconds"]``; the per-epoch evaluation runs
in the client process and is excluded) with every minibatch split into 2 chunks, on a local
cluster of 1 worker and of 2 workers (one ngspice per worker process), and reports the
speed-up (target >= 1.6x on a 2-core machine). Both runs compute the same numbers
(``same_result``). ``train --workers`` first weighs a minibatch's work against a scheduler round
trip and runs the minibatches in the client when the workers cannot gain (``*_dispatch``:
``workers`` or ``client``; :meth:`eqprop_hw.learning.distributed.DaskGradient.calibrate`). Also at minibatch 16 (the spec's is 4), where the per-minibatch round trip
weighs less, on a 128-sample subset of digits (64-100-10, 14,020 conductances), and the
single-process time (no Dask, same 2-chunk gradient) for reference.

Run with ``eqprop-hw bench distributed`` or ``python -m eqprop_hw.bench.distributed [--quick]``.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import tempfile

from eqprop_hw.bench import spec_path
from eqprop_hw.circuit.spec import Spec, load_spec
from eqprop_hw.learning.train import train
from eqprop_hw.bench._table import Row


#: The rows of `eqprop-hw bench`'s table (eqprop_hw/bench/_table.py).
TABLE = (
    Row("iris.batch4.speedup_2_over_1", "one epoch, iris ngspice, minibatch 4: 1 / 2 Dask workers",
        "x", ">= 1.6"),
    Row("iris.batch16.speedup_2_over_1", "one epoch, iris ngspice, minibatch 16: 1 / 2 workers",
        "x", ">= 1.6"),
    Row("digits.batch16.speedup_2_over_1",
        "one epoch, digits subset ngspice, minibatch 16: 1 / 2 workers", "x", ">= 1.6"),
    Row("digits.batch16.same_result", "digits: same loss on 1 process, 1 and 2 workers", "",
        "yes", "digits.batch16.same_result"),
    Row("iris.batch4.speedup_2_over_single_process",
        "one epoch, iris ngspice, minibatch 4: one process / 2 workers", "x", ">= 1"),
    Row("iris.batch4.two_workers_dispatch", "iris, minibatch 4: where 2 workers' minibatches ran",
        ""),
    Row("digits.batch16.two_workers_dispatch", "digits: where 2 workers' minibatches ran", ""),
)

#: The keys the table shows (kept for scripts that read them).
SUMMARY = tuple(row.key for row in TABLE)


def subset_spec(name: str, batch_size: int, samples: int | None) -> Spec:
    """The bundled spec ``name`` with ``batch_size`` and, unless None, only ``samples``
    training samples and 16 test samples."""
    spec = load_spec(spec_path(name))
    data = copy.deepcopy(spec.data)
    data["training"]["batch_size"] = batch_size
    if samples is not None:                  # a subset: training samples, and a small test set
        data["dataset"]["samples"] = samples
        data["dataset"]["test_samples"] = 16
    return Spec(data, spec.source)


def one_epoch(spec: Spec, backend: str, workers: int | None) -> dict:
    """One training epoch in a temporary folder, on ``workers`` Dask workers (None: no
    cluster): ``{"seconds": wall time of the epoch (s), "loss": its training loss}``."""
    with tempfile.TemporaryDirectory() as out:
        metrics = train(spec, out, backend=backend, epochs=1, progress=False, plots=False,
                        workers=workers, chunks=2)
    return {"seconds": metrics["seconds"][0], "loss": metrics["train_loss"][0],
            "dispatch": metrics.get("workers_dispatch")}


def run(args=None) -> dict:
    """Entry point for ``eqprop-hw bench``."""
    quick = bool(getattr(args, "quick", False))
    backend = getattr(args, "backend", None) or "ngspice"
    result = {"backend": backend}
    cases = [("iris", 4, None), ("iris", 16, None), ("digits", 16, 48 if quick else 128)]
    for name, batch, samples in (cases[::2] if quick else cases):
        spec = subset_spec(name, batch, samples)
        local = one_epoch(spec, backend, None)
        one = one_epoch(spec, backend, 1)
        two = one_epoch(spec, backend, 2)
        prefix = f"{name}.batch{batch}"
        result[f"{prefix}.single_process_seconds"] = local["seconds"]
        result[f"{prefix}.one_worker_seconds"] = one["seconds"]
        result[f"{prefix}.two_workers_seconds"] = two["seconds"]
        result[f"{prefix}.speedup_2_over_1"] = one["seconds"] / two["seconds"]
        result[f"{prefix}.speedup_2_over_single_process"] = local["seconds"] / two["seconds"]
        result[f"{prefix}.same_result"] = local["loss"] == one["loss"] == two["loss"]
        # where train --workers ran the minibatches (DaskGradient.calibrate): workers or client
        result[f"{prefix}.one_worker_dispatch"] = one["dispatch"]
        result[f"{prefix}.two_workers_dispatch"] = two["dispatch"]
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--backend", choices=("ngspice", "native"), default="ngspice")
    json.dump(run(parser.parse_args()), sys.stdout, indent=1)
    print()
