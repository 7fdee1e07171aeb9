"""Coupled Learning versus EP: the clamp's bias over eta, and training with each rule.

1. For each bundled layered example (xor, iris, digits) and a few training samples, the
   Coupled Learning direction measured on the native backend (and on ngspice at two eta) is
   compared with its exact eta -> 0 limit (implicit differentiation with the output
   conductance matrix, :func:`eqprop_hw.learning.coupled_reference.coupled_limit`) over a
   sweep of eta: the relative error should fall as O(eta) down to round-off. The limit itself
   is compared with the exact squared-loss gradient (cosine): the price of clamping instead
   of nudging with a conductance.
2. xor and iris are trained with EP (the spec's own settings) and with Coupled Learning at two
   eta (same learning rate, batch and seed), three seeds each; the final test accuracy and
   loss are tabulated.

Writes ``docs/results/coupled_sweep.json``, ``docs/results/coupled_sweep.png`` and
``docs/results/coupled_learning.md``.

Usage: ``python tools/study_coupled.py [--quick] [--no-ngspice]``.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

import eqprop_hw
from eqprop_hw.backends import make_backend
from eqprop_hw.io.data import load_dataset
from eqprop_hw.io.fileio import atomic_write_text
from eqprop_hw.learning.coupled import clamped_circuit, coupled_gradient
from eqprop_hw.learning.coupled_reference import coupled_limit
from eqprop_hw.learning.reference import exact_gradient, gradient_agreement

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "results"
EXAMPLES = ("xor", "iris", "digits")
ETAS = (1.0, 0.3, 0.1, 3e-2, 1e-2, 3e-3, 1e-3, 1e-4, 1e-5)


def _problem(name: str, samples: int):
    net = eqprop_hw.load(ROOT / "circuits" / f"{name}.yaml")
    dataset = load_dataset(net.spec, net.circuit)
    x = dataset.x_train[:samples]
    return net, x, dataset.targets(dataset.y_train[:samples])


def sweep(name: str, samples: int, ngspice: bool) -> dict:
    """Relative error of the measured direction against the limit, per eta and backend."""
    net, x, y = _problem(name, samples)
    _, limit = coupled_limit(net.circuit, x, y)
    _, gradient = exact_gradient(net.circuit, x, y)
    row = {"samples": len(x), "limit_vs_loss_gradient": gradient_agreement(limit, gradient),
           "native": {}, "ngspice": {}}
    backends = ("native", "ngspice") if ngspice else ("native",)
    for backend in backends:
        etas = ETAS if backend == "native" else (0.1, 1e-3)
        with make_backend(backend, net.circuit) as free, \
                make_backend(backend, clamped_circuit(net.circuit)) as held:
            for eta in etas:
                estimate, _ = coupled_gradient(free, held, x, y, eta)
                row[backend][str(eta)] = gradient_agreement(estimate, limit)
    return row


def _spec_with(name: str, folder: Path, extra: str, seed: int) -> Path:
    text = (ROOT / "circuits" / f"{name}.yaml").read_text()
    head, _, rest = text.partition("training: {")
    settings = rest.split("}", 1)
    path = folder / f"{name}_{abs(hash(extra)) % 10**6}_{seed}.yaml"
    path.write_text(f"{head}training: {{{settings[0]}, seed: {seed}{extra}}}{settings[1]}")
    return path


def training(name: str, seeds: int, epochs: int | None) -> dict:
    """Final test accuracy / loss of EP and of Coupled Learning at two eta."""
    rules = {"ep": "", "coupled eta=0.1": ", rule: coupled, eta: 0.1",
             "coupled eta=0.5": ", rule: coupled, eta: 0.5"}
    out = {}
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        for label, extra in rules.items():
            runs = []
            for seed in range(seeds):
                net = eqprop_hw.load(_spec_with(name, folder, extra, seed))
                start = time.perf_counter()
                run = net.train(out=folder / f"run_{len(runs)}_{label}", epochs=epochs,
                                plots=False)
                runs.append({"seed": seed, "test_accuracy": run.metrics["test_accuracy"][-1],
                             "test_loss": run.metrics["test_loss"][-1],
                             "epochs": len(run.metrics["test_loss"]),
                             "seconds": time.perf_counter() - start})
            out[label] = runs
    return out


def _plot(results: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for name, row in results["sweep"].items():
        etas = [float(eta) for eta in row["native"]]
        errors = [row["native"][eta]["rel_error"] for eta in row["native"]]
        ax.loglog(etas, errors, "o-", label=f"{name} (native)")
        if row["ngspice"]:
            ax.loglog([float(e) for e in row["ngspice"]],
                      [v["rel_error"] for v in row["ngspice"].values()], "kx", ms=9)
    ax.loglog([1e-5, 1], [1e-5, 1], ":", color="grey", label="slope 1")
    ax.set_xlabel("eta (clamped fraction of the output error)")
    ax.set_ylabel("relative error vs the exact eta -> 0 limit")
    ax.set_title("Coupled Learning: bias of a finite clamp (x: ngspice)")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _table(results: dict) -> str:
    lines = ["| example | samples | cos(limit, loss gradient) | " +
             " | ".join(f"eta={eta:g}" for eta in ETAS) + " | ngspice eta=0.1 / 1e-3 |",
             "| --- " * (len(ETAS) + 4) + "|"]
    for name, row in results["sweep"].items():
        spice = row["ngspice"]
        spice_text = (f"{spice['0.1']['rel_error']:.2e} / {spice['0.001']['rel_error']:.2e}"
                      if spice else "not run")
        lines.append(f"| {name} | {row['samples']} | "
                     f"{row['limit_vs_loss_gradient']['cosine']:.6f} | " +
                     " | ".join(f"{row['native'][str(eta)]['rel_error']:.2e}" for eta in ETAS)
                     + f" | {spice_text} |")
    lines += ["", "| example | rule | epochs | test accuracy (min-max over seeds) | "
              "test loss (min-max) |", "| --- | --- | --- | --- | --- |"]
    for name, rules in results["training"].items():
        for label, runs in rules.items():
            acc = [100 * r["test_accuracy"] for r in runs]
            loss = [r["test_loss"] for r in runs]
            lines.append(f"| {name} | {label} | {runs[0]['epochs']} | {min(acc):.1f}-"
                         f"{max(acc):.1f}% | {min(loss):.4f}-{max(loss):.4f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer samples, seeds, epochs")
    parser.add_argument("--no-ngspice", action="store_true")
    args = parser.parse_args()
    samples, seeds = (2, 1) if args.quick else (8, 3)
    results = {"machine": f"{platform.machine()}, {platform.python_version()}",
               "sweep": {name: sweep(name, samples, not args.no_ngspice) for name in EXAMPLES},
               "training": {name: training(name, seeds, 3 if args.quick else None)
                            for name in ("xor", "iris")}}
    RESULTS.mkdir(parents=True, exist_ok=True)
    atomic_write_text(RESULTS / "coupled_sweep.json", json.dumps(results, indent=1) + "\n")
    _plot(results, RESULTS / "coupled_sweep.png")
    print(_table(results))


if __name__ == "__main__":
    main()
