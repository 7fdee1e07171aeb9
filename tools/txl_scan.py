"""Which TXL (Y element) models ngspice 39 can set up: a seeded log-uniform scan.

Each model runs in plain ``ngspice -b`` (a 3 V source, 1 kOhm into the line, 1 kOhm load; an
operating point), in a temporary folder, one process per model, 20 s each at most. The scan
prints, for the models inside :data:`eqprop_hw.circuit.line_devices.TXL_LIMITS` and for all:
how many ngspice could not set up (a fatal error, which ends an in-process ngspice, or no
answer), the largest "excess loss" ``LENGTH sqrt(L C) (sqrt(R/L) - sqrt(G/C))^2 / 2`` among
the failures on ngspice's lossy path, how many of them
:func:`eqprop_hw.circuit.line_devices.txl_problem` accepts (must be 0 inside the ranges) and
how many that ngspice set up it refuses.

Usage: ``python tools/txl_scan.py [--samples N] [--seed S] [--wide | --near]``
(``--wide``: draw from ranges around the accepted ones, 1e-6..1e9 Ohm, 1e-15..1 H,
1e-15..1e6 S, 1e-30..1 F, 1e-9..1e6 units; ``--near``: inside the ranges, near-distortionless
lines on ngspice's lossy path, G = r C R / L with r log-uniform in 0.5..2, where the failures
inside the ranges are).
"""

from __future__ import annotations

import argparse
import math
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from eqprop_hw.circuit.line_devices import TXL_LIMITS, txl_problem

WIDE = {"R": (1e-6, 1e9), "L": (1e-15, 1.0), "G": (1e-15, 1e6), "C": (1e-30, 1.0),
        "LENGTH": (1e-9, 1e6)}


def ngspice_sets_up(model: dict, folder: Path) -> bool:
    """Whether plain ``ngspice -b`` finds the operating point with a TXL line of ``model``."""
    path = folder / "txl.cir"
    path.write_text("txl scan\nVDD vdd 0 DC 3\nR1 vdd a 1k\nRL b 0 1k\nY1 a 0 b 0 LL\n"
                    ".model LL TXL(" + " ".join(f"{k}={v:.6g}" for k, v in model.items())
                    + ")\n.op\n.print op v(b)\n.end\n")
    try:
        run = subprocess.run(["ngspice", "-b", str(path)], capture_output=True, text=True,
                             timeout=20, cwd=folder)
    except subprocess.TimeoutExpired:
        return False
    return run.returncode == 0 and "v(b)" in run.stdout


def excess_loss(model: dict) -> float | None:
    """The excess loss of a model on ngspice's lossy path, None on its lossless one."""
    r, inductance, g, c, length = (model[k] for k in ("R", "L", "G", "C", "LENGTH"))
    inductance = max(inductance, 1e-12)          # ngspice's own floor of L
    if r / inductance < 5e5 and g < 1e-2:
        return None
    return length * math.sqrt(inductance * c) * \
        (math.sqrt(r / inductance) - math.sqrt(g / c)) ** 2 / 2


def draw(rng, ranges: dict) -> dict:
    """One model, log-uniform in ``ranges``; R = 0 in 10% and G = 0 in 20% of draws."""
    model = {k: float(np.exp(rng.uniform(np.log(lo), np.log(hi)))) for k, (lo, hi) in
             ranges.items()}
    if rng.random() < 0.1:
        model["R"] = 0.0
    if rng.random() < 0.2:
        model["G"] = 0.0
    return model


def near(rng) -> dict:
    """A model inside the ranges, on ngspice's lossy path, with G/C within 2x of R/L."""
    while True:
        model = draw(rng, TXL_LIMITS)
        ratio = float(np.exp(rng.uniform(np.log(0.5), np.log(2.0))))
        model["G"] = ratio * model["C"] * model["R"] / model["L"]
        lo, hi = TXL_LIMITS["G"]
        if lo <= model["G"] <= hi and excess_loss(model) is not None:
            return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--wide", action="store_true")
    parser.add_argument("--near", action="store_true")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for _ in range(args.samples):
            model = near(rng) if args.near else draw(rng, WIDE if args.wide else TXL_LIMITS)
            rows.append((model, ngspice_sets_up(model, Path(folder))))
    inside = [row for row in rows if all(
        (model_value == 0.0 and key in "RG") or lo <= model_value <= hi
        for key, (lo, hi) in TXL_LIMITS.items() for model_value in [row[0][key]])]
    for label, chosen in (("inside the ranges", inside), ("all", rows)):
        failed = [model for model, ok in chosen if not ok]
        lossy = [excess_loss(m) for m in failed if excess_loss(m) is not None]
        print(f"{label}: {len(chosen)} models, ngspice failed on {len(failed)} "
              f"({len(failed) - len(lossy)} on its lossless path); largest excess loss of a "
              f"failure {max(lossy, default=float('nan')):.3g}; failures txl_problem accepts: "
              f"{sum(txl_problem(m) is None for m in failed)}; set-up models it refuses: "
              f"{sum(ok and txl_problem(m) is not None for m, ok in chosen)}")


if __name__ == "__main__":
    main()
