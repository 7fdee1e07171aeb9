"""Gradient error of EP versus the nudging strength beta, per nudging mode.

For each bundled layered example (xor, iris, digits) and a few of its training samples, the EP
estimate from native-backend measurements is compared with the exact gradient (implicit
differentiation in the software reference) over a sweep of beta. One-sided nudging should
approach the exact gradient as O(beta), centered nudging as O(beta^2), until floating-point
cancellation in dV(beta)^2 - dV(0)^2 takes over at very small beta. At one chosen beta per
example, EP from ngspice's measured node voltages is also compared (the targets of the crossbar
EP issue: cosine >= 0.999 and relative error <= 1e-2, and ngspice vs native <= 1e-6).

Writes ``docs/results/beta_sweep.json``, ``docs/results/beta_sweep.png`` and
``docs/results/gradient_agreement.md``.

Usage: ``python tools/study_beta.py [--quick] [--no-ngspice]``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from eqprop_hw.backends import make_backend
from eqprop_hw.circuit.build import build_circuit
from eqprop_hw.io.data import load_dataset
from eqprop_hw.learning.ep import ep_gradient
from eqprop_hw.io.fileio import atomic_write_text
from eqprop_hw.learning.reference import exact_gradient, gradient_agreement
from eqprop_hw.circuit.spec import load_spec

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "results"
EXAMPLES = ("xor", "iris", "digits")
MODES = ("positive", "negative", "centered")


def _problem(name: str, samples: int):
    spec = load_spec(ROOT / "circuits" / f"{name}.yaml")
    circuit = build_circuit(spec)
    dataset = load_dataset(spec, circuit)
    x = dataset.x_train[:samples]
    return spec, circuit, x, dataset.targets(dataset.y_train[:samples])


def _slope(betas, errors, high=0.3):
    """Slope of log(error) vs log(beta) in the truncation regime.

    That regime starts a factor 3 above the beta of the smallest error (below it, round-off
    in dV(beta)^2 - dV(0)^2 dominates) and ends at ``high``.
    """
    betas, errors = np.asarray(betas), np.asarray(errors)
    low = 3.0 * betas[int(np.argmin(errors))]
    keep = (betas >= low) & (betas <= high) & (errors > 0)
    if keep.sum() < 2:
        return None
    return float(np.polyfit(np.log(betas[keep]), np.log(errors[keep]), 1)[0])


def sweep(name: str, samples: int, betas_relative: np.ndarray) -> dict:
    """EP vs exact over beta for one example (native backend)."""
    spec, circuit, x, y = _problem(name, samples)
    g_typical = float(np.median(circuit.trainable_values()))
    loss, exact = exact_gradient(circuit, x, y)
    rows = {mode: [] for mode in MODES}
    with make_backend("native", circuit) as backend:
        for relative in betas_relative:
            beta = float(relative * g_typical)
            for mode in MODES:
                estimate, _ = ep_gradient(backend, x, y, beta, mode)
                agreement = gradient_agreement(estimate, exact)
                rows[mode].append({"beta": beta, "beta_relative": float(relative), **agreement})
    result = {"example": name, "samples": int(len(x)), "loss": float(loss),
              "g_typical_S": g_typical, "sweep": rows, "slopes": {}}
    for mode in MODES:
        betas = [r["beta_relative"] for r in rows[mode]]
        errors = [r["rel_error"] for r in rows[mode]]
        result["slopes"][mode] = _slope(betas, errors)
    return result


def ngspice_point(name: str, samples: int, beta_relative: float) -> dict:
    """EP from ngspice measurements vs exact, and vs EP from native, at one beta."""
    spec, circuit, x, y = _problem(name, samples)
    beta = float(beta_relative * np.median(circuit.trainable_values()))
    _, exact = exact_gradient(circuit, x, y)
    out = {"example": name, "samples": int(len(x)), "beta": beta, "beta_relative": beta_relative}
    estimates = {}
    for backend_name in ("ngspice", "native"):
        started = time.perf_counter()
        with make_backend(backend_name, circuit) as backend:
            estimates[backend_name], _ = ep_gradient(backend, x, y, beta, "centered")
        out[f"{backend_name}_seconds"] = time.perf_counter() - started
        out[backend_name] = gradient_agreement(estimates[backend_name], exact)
    difference = np.linalg.norm(estimates["ngspice"] - estimates["native"])
    out["ngspice_vs_native_rel"] = float(difference / np.linalg.norm(estimates["native"]))
    return out


def plot(results: list, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from eqprop_hw.io.plots import save_figure
    figure, axes = plt.subplots(1, len(results), figsize=(4.6 * len(results), 3.8), squeeze=False)
    for axis, result in zip(axes[0], results):
        for mode, style in zip(MODES, ("o-", "s--", "^-")):
            rows = result["sweep"][mode]
            axis.loglog([r["beta_relative"] for r in rows], [r["rel_error"] for r in rows], style,
                        label=f"{mode} (slope {result['slopes'][mode]:.2f})"
                        if result["slopes"][mode] is not None else mode, markersize=4)
        axis.set_xlabel("beta / median conductance")
        axis.set_ylabel("||EP - exact|| / ||exact||")
        axis.set_title(f"{result['example']} ({result['samples']} samples)", fontsize=9)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=7)
    figure.tight_layout()          # y labels clear of the panel on their left
    save_figure(figure, path)


def markdown(results: list, points: list) -> str:
    lines = ["# EP gradient agreement (generated by `python tools/study_beta.py`)", "",
             "Relative error ||EP - exact|| / ||exact|| of the EP estimate from native-backend "
             "node voltages against the exact gradient (implicit differentiation), over beta "
             "relative to the median conductance; slopes fitted from 3x the beta of the smallest error "
             "(below it round-off dominates) up to beta/g = 0.3.", "",
             "| example | samples | slope one-sided (+) | slope one-sided (-) | slope centered | "
             "best centered rel. error |",
             "| --- | --- | --- | --- | --- | --- |"]
    for r in results:
        best = min(row["rel_error"] for row in r["sweep"]["centered"])
        slopes = [("n/a" if r["slopes"][m] is None else f"{r['slopes'][m]:.2f}") for m in MODES]
        lines.append(f"| {r['example']} | {r['samples']} | {slopes[0]} | {slopes[1]} | "
                     f"{slopes[2]} | {best:.2e} |")
    if points:
        lines += ["", "EP from ngspice measurements (centered) against the exact gradient, and "
                  "against EP from the native backend on the same samples:", "",
                  "| example | beta (S) | cosine (ngspice) | rel. error (ngspice) | cosine (native) "
                  "| rel. error (native) | ngspice vs native |",
                  "| --- | --- | --- | --- | --- | --- | --- |"]
        for p in points:
            lines.append(f"| {p['example']} | {p['beta']:.3g} | {p['ngspice']['cosine']:.6f} | "
                         f"{p['ngspice']['rel_error']:.2e} | {p['native']['cosine']:.6f} | "
                         f"{p['native']['rel_error']:.2e} | {p['ngspice_vs_native_rel']:.2e} |")
    lines += ["", "![EP error vs beta](beta_sweep.png)", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer betas and samples")
    parser.add_argument("--no-ngspice", action="store_true", help="skip the ngspice points")
    parser.add_argument("--samples", type=int, default=8)
    args = parser.parse_args(argv)
    betas = np.logspace(-7, 0, 8 if args.quick else 22)
    samples = 2 if args.quick else args.samples
    results, points = [], []
    for name in EXAMPLES:
        print(f"sweeping beta on {name}", file=sys.stderr)
        results.append(sweep(name, samples, betas))
        if not args.no_ngspice:
            points.append(ngspice_point(name, samples, 1e-2))
    RESULTS.mkdir(parents=True, exist_ok=True)
    atomic_write_text(RESULTS / "beta_sweep.json",
                      json.dumps({"sweeps": results, "ngspice": points}, indent=1) + "\n")
    plot(results, RESULTS / "beta_sweep.png")
    atomic_write_text(RESULTS / "gradient_agreement.md", markdown(results, points))
    print(markdown(results, points))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
