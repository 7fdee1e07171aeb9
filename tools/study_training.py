"""Training results of the bundled layered examples, with both backends.

Runs ``eqprop-hw train`` for: xor and iris with ngspice in the loop and with the native backend
(same seed: the curves must agree), digits with the native backend (full run) and one epoch of
digits with ngspice in the loop (its curve must match the native run's first epoch), then checks
with raw ``ngspice -b`` on the exported trained netlists that the reported test predictions are
the circuit's own (``tools/verify_predictions.py``).

Writes ``docs/results/training.json``, ``docs/results/training.md`` and copies the plots to
``docs/results/<example>_*.png``. Run: ``python tools/study_training.py [--skip-digits-ngspice]``
(about 15 minutes on 2 cores, most of it the ngspice digits epoch).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

from eqprop_hw.io.fileio import atomic_write_text
from eqprop_hw.circuit.spec import load_spec
from eqprop_hw.learning.train import train

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "results"
sys.path.insert(0, str(Path(__file__).resolve().parent))
from verify_predictions import verify  # noqa: E402

RUNS = [("xor", "ngspice", None), ("xor", "native", None), ("iris", "ngspice", None),
        ("iris", "native", None), ("digits", "native", None), ("digits", "ngspice", 1)]


def run_one(example: str, backend: str, epochs: int | None, out_root: Path) -> dict:
    spec = load_spec(ROOT / "circuits" / f"{example}.yaml")
    out = out_root / f"{example}_{backend}"
    if out.exists():
        shutil.rmtree(out)
    started = time.perf_counter()
    metrics = train(spec, out, backend=backend, epochs=epochs, progress=True,
                    log=lambda line: print(f"{example}/{backend}: {line}", file=sys.stderr))
    row = {"example": example, "backend": backend, "epochs": metrics["epochs"][-1],
           "wall_seconds": time.perf_counter() - started,
           "final_test_accuracy": metrics["test_accuracy"][-1],
           "final_train_accuracy": metrics["train_accuracy"][-1],
           "final_test_loss": metrics["test_loss"][-1], "metrics": metrics, "out": str(out)}
    return row


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-digits-ngspice", action="store_true")
    parser.add_argument("--runs", default=str(ROOT / "runs" / "study"))
    args = parser.parse_args(argv)
    out_root = Path(args.runs)
    load_before = os.getloadavg()[0]
    rows = []
    for example, backend, epochs in RUNS:
        if args.skip_digits_ngspice and (example, backend) == ("digits", "ngspice"):
            continue
        rows.append(run_one(example, backend, epochs, out_root))
    by_key = {(r["example"], r["backend"]): r for r in rows}
    comparisons = []
    for example in ("xor", "iris", "digits"):
        spice, native = by_key.get((example, "ngspice")), by_key.get((example, "native"))
        if spice and native:
            n = len(spice["metrics"]["train_loss"])
            gap = max(abs(a - b) for a, b in zip(spice["metrics"]["train_loss"],
                                                 native["metrics"]["train_loss"][:n]))
            comparisons.append({"example": example, "epochs_compared": n,
                                "max_train_loss_difference": gap})
    verifications = []
    for example in ("xor", "iris", "digits"):
        row = by_key.get((example, "native"))
        if row:
            verifications.append(verify(str(ROOT / "circuits" / f"{example}.yaml"),
                                        str(Path(row["out"]) / "params.npz"),
                                        split="test", progress=True))
    RESULTS.mkdir(parents=True, exist_ok=True)
    for row in rows:
        for plot in ("accuracy", "loss", "conductances", "conductance_map"):
            source = Path(row["out"]) / f"{plot}.png"
            if source.exists() and row["backend"] == ("ngspice" if row["example"] != "digits"
                                                      else "native"):
                shutil.copyfile(source, RESULTS / f"{row['example']}_{plot}.png")
    summary = {"runs": [{k: v for k, v in r.items() if k not in ("metrics", "out")} | {
        "test_accuracy": r["metrics"]["test_accuracy"], "train_loss": r["metrics"]["train_loss"],
        "seconds_per_epoch": r["metrics"]["seconds"]} for r in rows],
        "backend_agreement": comparisons, "raw_ngspice_verification": verifications,
        "machine": {"cores": os.cpu_count(), "load_average": [load_before,
                                                              os.getloadavg()[0]]}}
    atomic_write_text(RESULTS / "training.json", json.dumps(summary, indent=1) + "\n")
    atomic_write_text(RESULTS / "training.md", markdown(summary))
    print(markdown(summary))
    return 0


def machine_line(machine: dict | None) -> str:
    """Where the wall times below come from (one run each; the machine and its load)."""
    where = ("load not recorded" if machine is None else
             f"a {machine['cores']}-core machine at a 1-minute load average of "
             f"{machine['load_average'][0]:.1f} at the start and {machine['load_average'][1]:.1f}"
             " at the end")
    return (f"Wall times are one run each of the study ({where}); ranges over 3 runs on the "
            "2-core shared session machine are in `docs/performance.md` (\"Training wall "
            "times\") and the README.")


def markdown(summary: dict) -> str:
    def pct(value):
        return "n/a" if value is None else f"{100 * value:.2f}%"
    lines = ["# Training results (generated by `python tools/study_training.py`)", "",
             "Centered EP with the local rule, settings from each spec's `training` section; "
             "accuracy of the final epoch.", machine_line(summary.get("machine")), "",
             "| example | backend | epochs | test accuracy | train accuracy | test loss (V^2) | "
             "wall time (s) |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in summary["runs"]:
        lines.append(f"| {r['example']} | {r['backend']} | {r['epochs']} | "
                     f"{pct(r['final_test_accuracy'])} | {pct(r['final_train_accuracy'])} | "
                     f"{r['final_test_loss']:.4f} | {r['wall_seconds']:.1f} |")
    if summary["backend_agreement"]:
        lines += ["", "ngspice in the loop against the native backend, same seed (largest "
                  "difference of the per-epoch training loss):", "",
                  "| example | epochs compared | max loss difference (V^2) |", "| --- | --- | --- |"]
        for c in summary["backend_agreement"]:
            lines.append(f"| {c['example']} | {c['epochs_compared']} | "
                         f"{c['max_train_loss_difference']:.2e} |")
    if summary["raw_ngspice_verification"]:
        lines += ["", "Test predictions re-simulated by separate `ngspice -b` runs of the exported "
                  "trained netlists (`tools/verify_predictions.py`):", "",
                  "| example | samples | same predictions | accuracy (reported) | accuracy (raw "
                  "ngspice) | max output difference (V) |", "| --- | --- | --- | --- | --- | --- |"]
        for v in summary["raw_ngspice_verification"]:
            lines.append(f"| {v['spec']} | {v['samples']} | {v['same_predictions']} | "
                         f"{pct(v['reported_accuracy'])} | {pct(v['raw_ngspice_accuracy'])} | "
                         f"{v['max_output_difference_V']:.1e} |")
    lines += ["", "![iris accuracy, ngspice in the loop](iris_accuracy.png)",
              "![digits accuracy, native backend](digits_accuracy.png)", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
