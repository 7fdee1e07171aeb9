"""Twin-network circuitry (one ngspice transient) against the Python-side discrete rule.

For circuits/xor_twin.yaml at several learning rates (10 epochs each, eta 0.25), and for the
bundled spec as it is (100 epochs), the learning curve of ``train --twin`` (conductances read from
the storage capacitors at each epoch's end, evaluated natively) is compared with ``train``
using the same rule (training.rule coupled, batch 1): the largest relative difference of the
train loss over the epochs, the final accuracies, and the wall time of the transient.

Writes ``docs/results/twin_study.json`` (``--out``; ``--quick`` writes nothing unless given
``--out``) and prints a Markdown table.

Usage: ``python tools/study_twin.py [--quick] [--out FILE]``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

import eqprop_hw
from eqprop_hw.io.fileio import atomic_write_text

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "circuits" / "xor_twin.yaml"


def compare(folder: Path, rate: float | None, epochs: int | None) -> dict:
    overrides = {} if rate is None else {"training.learning_rate": rate}
    net = eqprop_hw.load(SPEC, overrides=overrides)
    start = time.perf_counter()
    twin = net.train_twin(folder / f"twin_{rate}_{epochs}", epochs=epochs)
    twin_seconds = time.perf_counter() - start
    start = time.perf_counter()
    python = net.train(out=folder / f"python_{rate}_{epochs}", epochs=epochs, plots=False)
    python_seconds = time.perf_counter() - start
    a = np.array(twin.metrics["train_loss"])
    b = np.array(python.metrics["train_loss"])
    return {"learning_rate": net.spec.data["training"]["learning_rate"], "eta": twin.metrics["eta"], "epochs": len(a),
            "windows": twin.metrics["windows"],
            "max_rel_loss_difference": float(np.max(np.abs(a - b) / b)),
            "twin_final_loss": float(a[-1]), "python_final_loss": float(b[-1]),
            "twin_accuracy": twin.metrics["train_accuracy"][-1],
            "python_accuracy": python.metrics["train_accuracy"][-1],
            "ngspice_seconds": twin.metrics["ngspice_seconds"], "twin_seconds": twin_seconds,
            "python_seconds": python_seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="two short runs only (printed; written only with --out)")
    parser.add_argument("--out", type=Path, default=None,
                        help="JSON to write (default docs/results/twin_study.json, none with "
                             "--quick)")
    args = parser.parse_args()
    out = args.out or (None if args.quick else ROOT / "docs" / "results" / "twin_study.json")
    runs = [(3e-4, 10), (3e-3, 2)] if args.quick else \
        [(1e-4, 10), (3e-4, 10), (1e-3, 10), (3e-3, 10), (None, None)]
    with tempfile.TemporaryDirectory() as scratch:
        rows = [compare(Path(scratch), rate, epochs) for rate, epochs in runs]
    if out is not None:
        atomic_write_text(out, json.dumps({"rows": rows}, indent=1) + "\n")
    print("| learning rate | epochs (windows) | max rel. loss difference | final loss twin / "
          "python | accuracy twin / python | ngspice s |")
    print("| --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['learning_rate']:g} | {r['epochs']} ({r['windows']}) | "
              f"{r['max_rel_loss_difference']:.2%} | {r['twin_final_loss']:.4f} / "
              f"{r['python_final_loss']:.4f} | {100 * r['twin_accuracy']:.0f}% / "
              f"{100 * r['python_accuracy']:.0f}% | {r['ngspice_seconds']:.1f} |")


if __name__ == "__main__":
    main()
