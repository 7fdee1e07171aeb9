"""``train --workers 2`` against ``--workers 1`` on the bundled examples, side by side in one
process (issue 19 item 5: two workers are never slower than one).

For each case (iris, digits and xor with the native backend and ngspice: the bundled specs as
they are, with ``--epochs`` shortened where given) and each of ``--runs`` rounds, trains once on a local Dask
cluster of 1 worker and once of 2 workers (the order alternates between rounds), through
:func:`eqprop_hw.learning.train.train`, exactly what ``eqprop-hw train SPEC --workers N
--no-plots`` runs. Per run it records the command's wall time (cluster start, calibration,
training, evaluation, outputs), the training time (sum of the epochs' ``seconds``) and where
the minibatches ran (``workers_dispatch``: ``workers`` or ``client``). Prints per case the
ratio wall(1 worker) / wall(2 workers) per round (>= 1: two are not slower), whether the two
runs' training curves are the same to the bit (then both ran the same computation and the
ratio's spread is the machine's noise), the ratios' range and median, and the load average
before and after (the machine is shared).

Usage::

    PYTHONPATH=$PWD python3 tools/compare_workers.py [--runs 3] [--json FILE]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

from eqprop_hw.bench import spec_path
from eqprop_hw.circuit.spec import load_spec
from eqprop_hw.learning.train import train

#: (name, spec, backend, epochs or None for the spec's)
CASES = (("iris native", "iris", "native", None),
         ("iris ngspice", "iris", "ngspice", 8),
         ("digits native", "digits", "native", 3),
         ("iris ngspice full", "iris", "ngspice", None),
         ("xor native", "xor", "native", None),
         ("xor ngspice", "xor", "ngspice", 40),
         ("digits ngspice", "digits", "ngspice", 1))


def one_run(spec_name: str, backend: str, epochs, workers: int) -> dict:
    """One ``train --workers N --no-plots`` run: wall and training time (s), dispatch and the
    one line the run printed about its workers."""
    lines = []
    spec = load_spec(spec_path(spec_name))
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        metrics = train(spec, out, backend=backend, epochs=epochs, progress=False,
                        plots=False, workers=workers, log=lines.append)
        wall = time.perf_counter() - started
    said = [line for line in lines if line.startswith("workers")]
    return {"wall": wall, "training": float(sum(metrics["seconds"])),
            "dispatch": metrics.get("workers_dispatch"), "chunks": metrics.get("chunks"),
            "line": said[0] if said else None,
            "test_accuracy": metrics.get("test_accuracy", [None])[-1],
            "train_loss": list(metrics["train_loss"])}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("--runs", type=int, default=3,
                        help="rounds per case, 1 and 2 workers each (default: 3)")
    parser.add_argument("--cases", default="all",
                        help="comma-separated case names (default: all): "
                             + ", ".join(case[0] for case in CASES))
    parser.add_argument("--json", help="also write the results to this file")
    options = parser.parse_args(argv)
    names = options.cases.split(",")
    chosen = [c for c in CASES if options.cases == "all" or c[0] in names]
    results = {}
    for name, spec_name, backend, epochs in chosen:
        load_before = os.getloadavg()[0]
        rounds = []
        for index in range(options.runs):
            order = (1, 2) if index % 2 == 0 else (2, 1)
            runs = {n: one_run(spec_name, backend, epochs, n) for n in order}
            rounds.append({"one": runs[1], "two": runs[2],
                           "ratio": runs[1]["wall"] / runs[2]["wall"],
                           "same_curve": runs[1]["train_loss"] == runs[2]["train_loss"]})
            print(f"{name} round {index + 1}: wall 1 worker {runs[1]['wall']:.1f} s "
                  f"({runs[1]['dispatch']}, chunks {runs[1]['chunks']}), 2 workers "
                  f"{runs[2]['wall']:.1f} s ({runs[2]['dispatch']}, chunks {runs[2]['chunks']}); training "
                  f"{runs[1]['training']:.1f} s / {runs[2]['training']:.1f} s; same curve "
                  f"{rounds[-1]['same_curve']}: {rounds[-1]['ratio']:.2f}x; "
                  f"2 workers said: {runs[2]['line']}", flush=True)
        ratios = [r["ratio"] for r in rounds]
        load = (load_before, os.getloadavg()[0])
        results[name] = {"epochs": epochs, "rounds": rounds, "ratio_min": min(ratios),
                         "ratio_max": max(ratios), "ratio_median": statistics.median(ratios),
                         "load": load}
        print(f"== {name} (epochs {epochs or 'spec'}): wall(1 worker)/wall(2 workers) "
              f"{min(ratios):.2f}-{max(ratios):.2f}x (median "
              f"{statistics.median(ratios):.2f}x) over {len(ratios)} rounds, "
              f"load {load[0]:.1f} -> {load[1]:.1f}", flush=True)
    if options.json:
        with open(options.json, "w") as handle:
            json.dump(results, handle, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
