"""Finite-temperature estimators against their sampled reference on a nonlinear network.

``grad --temperature`` on a network without a closed form or quadrature (here xor's 2-8-1 diode
crossbar, 9 free nodes) compares the estimate with ONE reference per (input, beta, seed): a MALA
run of 16x the estimate's samples per phase (:mod:`eqprop_hw.thermal.reference`). This prints,
for beta = 0.1, 1, 10 g (g the mean trainable conductance) and every estimator, the largest and
the rms z-score over the conductances, for a few seeds, exactly as ``grad --json`` computes them
(``eqprop_hw.load(...).gradient(..., temperature=T, estimator=E, seed=S)``).

Writes ``docs/results/thermal_reference.json``; prints the markdown table of
``docs/results/temperature_study.md``'s section "Estimators against the sampled reference".

Usage: ``python tools/study_thermal_reference.py [--samples N] [--seeds 0,1,2]``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

import eqprop_hw
from eqprop_hw.io.fileio import atomic_write_text
from eqprop_hw.thermal.estimators import ESTIMATORS

ROOT = Path(__file__).resolve().parents[1]
T = 1e-7                                    # W


def measure(samples: int, seeds: list[int]) -> list[dict]:
    """One row per (beta / g, estimator, seed): max |z|, rms z, the reference of RL1_0_0."""
    net = eqprop_hw.load(ROOT / "circuits" / "xor.yaml")
    g = float(np.mean(net.circuit.trainable_values()))
    rows = []
    for scale in (0.1, 1.0, 10.0):
        for seed in seeds:
            for estimator in ESTIMATORS:
                start = time.perf_counter()
                data = net.gradient([1, 0], [1], beta=scale * g, temperature=T,
                                    samples=samples, estimator=estimator, seed=seed).to_json()
                z = np.array(list(data["z"].values()))
                rows.append({"beta_over_g": scale, "estimator": estimator, "seed": seed,
                             "max_abs_z": float(np.max(np.abs(z))),
                             "rms_z": float(np.sqrt(np.mean(z * z))),
                             "reference_RL1_0_0": data["reference"]["RL1_0_0"],
                             "reference_stderr_RL1_0_0": data["reference_stderr"]["RL1_0_0"],
                             "ep_RL1_0_0": data["ep"]["RL1_0_0"],
                             "seconds": time.perf_counter() - start})
                print(json.dumps(rows[-1]), flush=True)
    return rows


def table(rows: list[dict]) -> str:
    lines = ["| beta / g | estimator | max abs z (range over seeds) | rms z (range) |",
             "| --- | --- | --- | --- |"]
    for scale in sorted({r["beta_over_g"] for r in rows}):
        for estimator in ESTIMATORS:
            sel = [r for r in rows if r["beta_over_g"] == scale and r["estimator"] == estimator]
            mz = [r["max_abs_z"] for r in sel]
            rz = [r["rms_z"] for r in sel]
            lines.append(f"| {scale:g} | {estimator} | {min(mz):.2f} - {max(mz):.2f} | "
                         f"{min(rz):.2f} - {max(rz):.2f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=4096)
    parser.add_argument("--seeds", default="0,1,2")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    rows = measure(args.samples, seeds)
    atomic_write_text(ROOT / "docs" / "results" / "thermal_reference.json",
                      json.dumps({"temperature": T, "samples": args.samples, "rows": rows},
                                 indent=1) + "\n")
    print(table(rows))


if __name__ == "__main__":
    main()
