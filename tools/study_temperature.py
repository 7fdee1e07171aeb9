"""Finite temperature and strong nudges: what CHL at T > 0 estimates, and how it trains.

Parts (``--only PART`` runs one and merges it into the existing temperature_study.json):

``sweep``
    beta sweep on a small diode network (2 free nodes, so every Gibbs expectation is computed
    exactly by grid quadrature): the relative error of deterministic EP (T = 0, one-sided)
    against the true gradient dL/dg, and of finite-T CHL against the exact gradient of its own
    objective J_beta = (F_beta - F_0) / beta, with its standard error; and how grad J_beta
    relates to grad <L>_0 as beta grows (cosine and norm ratio).
``teacher``
    Training curves on a teacher-student task (a diode crossbar teacher) at T > 0 with CHL and
    strong nudges, against T = 0 EP with the same beta (test loss of the deterministic free
    phase after each epoch).
``digits`` (also with ``--digits``)
    The same on scikit-learn's digits with a 64-32-10 diode network (1347 training images):
    T = 0 EP (one-sided) and CHL at T = 1e-6 and 1e-5 W for beta = 2e-6, 2e-5, 2e-4 S, test
    accuracy per epoch. The native sampler is eqprop_hw.thermal.gibbs.LaplaceSampler (40-50 ms
    per minibatch of 4 and both phases, ~25 s per epoch on an idle core; measured 57-100 s
    per epoch with 3 runs sharing 2 busy cores).
``ngspice``
    ngspice's noise sources (TRRANDOM, TRNOISE): variance factors against the prediction, and
    every estimator against the closed form at beta = 0.1, 1, 10 g (a few minutes).

Writes ``docs/results/temperature_study.json``, ``temperature_study.md`` and the PNG plots
``temperature_beta_error.png``, ``temperature_objectives.png``, ``temperature_training.png``.

Usage: ``python tools/study_temperature.py [--quick] [--digits] [--only PART]
[--digits-beta B] [--digits-epochs N] [--out DIR] [--report-only]`` (default run: sweep +
teacher, a few minutes on one core; ``--only digits --digits-epochs 6``: 6 thermal runs of
2.5-10 min each).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from eqprop_hw.circuit.build import build_circuit
from eqprop_hw.learning.reference import EnergyModel, exact_gradient, gradient_agreement, software_ep
from eqprop_hw.circuit.spec import load_spec, parse_spec
from eqprop_hw.thermal import gibbs as th

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "results"

DIODE_NETWORK = {
    "name": "dio", "kind": "graph", "models": {"DM": {"IS": 1e-14, "N": 1.0}},
    "elements": [{"name": "VIN", "nodes": ["in", "0"], "dc": 0.0},
                 {"name": "VCL", "nodes": ["cl", "0"], "dc": 0.0},
                 {"name": "R1", "nodes": ["in", "h"], "g": 1e-3},
                 {"name": "R2", "nodes": ["h", "out"], "g": 5e-4},
                 {"name": "R3", "nodes": ["out", "0"], "g": 8e-4},
                 {"name": "R4", "nodes": ["in", "out"], "g": 2e-4},
                 {"name": "D1", "nodes": ["h", "cl"], "model": "DM"}],
    "inputs": ["VIN"], "outputs": ["out"], "trainable": ["R1", "R2", "R3", "R4"]}
DIODE_T = 2e-6                     # W: node spread ~ 50 mV, wider than the diode's knee
#: W: teacher-student training temperature (node spread sqrt(T/g) ~ 45 mV at g ~ 50 uS)
TEACHER_T = 1e-7
DIODE_X = np.array([[0.8], [0.4], [1.2]])
DIODE_Y = np.array([[0.1], [0.5], [0.2]])


def beta_sweep(betas, samples: int, seed: int = 0) -> list[dict]:
    """Parts 1 and 2: errors and objectives over beta on the diode network."""
    model = EnergyModel(build_circuit(parse_spec(DIODE_NETWORK)))
    _, true_grad = exact_gradient(model, DIODE_X, DIODE_Y)            # dL/dg at T = 0
    grad_l0 = th.quadrature_moments(model, DIODE_T, DIODE_X, 0.0, DIODE_Y).loss_gradient.mean(0)
    sampler = th.LangevinSampler(model, DIODE_T, chains=64)
    rows = []
    for beta in betas:
        ep = software_ep(model, DIODE_X, DIODE_Y, beta, nudge="positive")
        ep_c = software_ep(model, DIODE_X, DIODE_Y, beta, nudge="centered") \
            if beta < 5e-4 else None                # E - beta L stops being convex beyond
        grad_j = th.exact_thermal_gradient(model, DIODE_T, DIODE_X, DIODE_Y, beta, "chl")
        est = th.thermal_gradient(sampler, DIODE_X, DIODE_Y, beta, "chl", samples=samples,
                                  seed=seed)
        norm_j = float(np.linalg.norm(grad_j))
        rows.append({
            "beta": float(beta),
            "ep_t0_rel_error_vs_dL": gradient_agreement(ep, true_grad)["rel_error"],
            "ep_t0_centered_rel_error_vs_dL":
                None if ep_c is None else gradient_agreement(ep_c, true_grad)["rel_error"],
            "chl_rel_error_vs_gradJ": float(np.linalg.norm(est.gradient - grad_j)) / norm_j,
            "chl_rel_stderr": float(np.linalg.norm(est.stderr)) / norm_j,
            "chl_max_abs_z": float(np.max(np.abs((est.gradient - grad_j) / est.stderr))),
            "chl_effective_samples": est.effective_samples,
            "gradJ_vs_gradL0": gradient_agreement(grad_j, grad_l0),
            "gradJ_vs_dL_T0": gradient_agreement(grad_j, true_grad),
            "gradL0_vs_dL_T0": gradient_agreement(grad_l0, true_grad),
        })
        print(f"beta {beta:.3g}: EP(T=0) rel err {rows[-1]['ep_t0_rel_error_vs_dL']:.3g}, "
              f"CHL rel err {rows[-1]['chl_rel_error_vs_gradJ']:.3g} "
              f"(stderr {rows[-1]['chl_rel_stderr']:.3g}, max|z| "
              f"{rows[-1]['chl_max_abs_z']:.2f}), cos(gradJ, grad<L>0) "
              f"{rows[-1]['gradJ_vs_gradL0']['cosine']:.4f}", file=sys.stderr)
    return rows


TEACHER_SPEC = """name: ts_temperature
kind: layered
layers: [4, 8, 2]
inputs: {{doubling: true, gain: 1.0, bias: 1.0}}
activation: {{type: rectify, high: 0.0, low: 0.0}}
conductance: {{min: 1.0e-7, max: 1.0e-3, init: {{low: 2.0e-5, high: 1.0e-4}}, seed: 3}}
dataset: {{name: teacher, samples: {samples}, seed: 1}}
training: {{epochs: {epochs}, batch_size: 16, learning_rate: {lr}, beta: {beta}, nudge: positive,
           estimator: chl, samples: {thermal_samples}}}
"""

DIGITS_SPEC = """name: digits_temperature
kind: layered
layers: [64, 32, 10]
inputs: {{doubling: true, gain: 20.0, bias: 1.0}}
activation: {{type: rectify, model: {{IS: 1.0e-14, N: 1.0}}, high: 0.0, low: 0.0}}
conductance: {{min: 1.0e-8, max: 1.0e-3, init: {{distribution: uniform, low: 1.0e-6, high: 2.0e-5}},
              seed: 0}}
dataset: {{name: digits, test_fraction: 0.25, seed: 0}}
training: {{epochs: {epochs}, batch_size: 4, learning_rate: {lr}, beta: {beta}, nudge: positive,
           estimator: chl, samples: {thermal_samples}}}
"""
#: digits: nudging strengths (S; conductances ~1e-6..2e-5 S, a hidden node's total ~1e-3 S,
#: an output's ~3e-4 S) and Gibbs temperatures (W; thermal spread sqrt(T/g) ~ 30 / 60 mV at
#: 1e-6 W and ~ 90 / 180 mV at 1e-5 W on hidden / output nodes, against signals of volts)
DIGITS_BETAS = (2e-6, 2e-5, 2e-4)
DIGITS_TEMPERATURES = (1e-6, 1e-5)
DIGITS_LR = 0.003


def train_curves(template: str, betas, temperatures, epochs: int, samples: int,
                 lr: float, thermal_samples: int, workdir: Path) -> list[dict]:
    """Part 3: train at T = 0 (EP, one-sided) and at each T > 0 (CHL) for each beta."""
    from eqprop_hw.learning.train import train
    runs = []
    for beta in betas:
        for temp in (None, *temperatures):
            text = template.format(samples=samples, epochs=epochs, lr=lr, beta=beta,
                                   thermal_samples=thermal_samples)
            if temp is not None:
                text += f"temperature: {temp!r}\n"
            path = workdir / f"spec_{len(runs)}.yaml"
            path.write_text(text)
            started = time.perf_counter()
            metrics = train(load_spec(path), workdir / f"run_{len(runs)}", progress=False,
                            plots=False)
            runs.append({"beta": float(beta), "temperature": temp,
                         "method": "EP T=0 (positive)" if temp is None else
                         f"CHL T={temp:g} W",
                         "test_loss": metrics["test_loss"],
                         "test_accuracy": metrics["test_accuracy"],
                         "seconds": time.perf_counter() - started})
            accuracy = metrics["test_accuracy"]
            print(f"beta {beta:.3g} {runs[-1]['method']}: test loss "
                  f"{metrics['test_loss'][0]:.4g} -> {metrics['test_loss'][-1]:.4g}"
                  + (f", test accuracy {accuracy[0]:.4f} -> {accuracy[-1]:.4f}"
                     if accuracy and accuracy[-1] is not None else "") +
                  f" ({runs[-1]['seconds']:.0f} s)", file=sys.stderr, flush=True)
    return runs


def sampler_speed(repeats: int = 10) -> dict:
    """Seconds per CHL minibatch gradient (4 digits images, both phases, 32 kept samples per
    phase) on the digits network, for the training configurations of both native samplers."""
    from eqprop_hw.io.data import load_dataset
    spec = parse_spec(__import__("yaml").safe_load(DIGITS_SPEC.format(
        epochs=1, lr=DIGITS_LR, beta=2e-5, thermal_samples=32)))
    circuit = build_circuit(spec)
    model = EnergyModel(circuit)
    data = load_dataset(spec, circuit)
    x, y = data.x_train[:4], data.loss_targets(data.y_train[:4], "squared")
    out = {}
    for name, sampler in (
            ("langevin (MALA, 16 chains, thin 4, 40-step burn-in)",
             th.LangevinSampler(model, 1e-6, **th.TRAINING_SAMPLERS["langevin"])),
            ("laplace (pCN Metropolis, 16 chains, thin 2)",
             th.LaplaceSampler(model, 1e-6, **th.TRAINING_SAMPLERS["laplace"]))):
        est = th.thermal_gradient(sampler, x, y, 2e-5, "chl", samples=32, seed=0)
        started = time.perf_counter()
        for seed in range(repeats):
            est = th.thermal_gradient(sampler, x, y, 2e-5, "chl", samples=32, seed=seed)
        out[name] = {"seconds_per_minibatch": (time.perf_counter() - started) / repeats,
                     "relative_stderr": float(np.linalg.norm(est.stderr) /
                                              np.linalg.norm(est.gradient)),
                     "acceptance": est.phases[1].info["acceptance"]}
        print(f"{name}: {1e3 * out[name]['seconds_per_minibatch']:.1f} ms per minibatch",
              file=sys.stderr, flush=True)
    # CHL at T -> 0 vs one-sided EP at T = 0 on the same minibatch (Laplace sampler)
    rows = []
    for beta in DIGITS_BETAS:
        ep = software_ep(model, x, y, beta, nudge="positive")
        for temp in (1e-9, *DIGITS_TEMPERATURES):
            sampler = th.LaplaceSampler(model, temp, **th.TRAINING_SAMPLERS["laplace"])
            est = th.thermal_gradient(sampler, x, y, beta, "chl", samples=256, seed=0)
            rows.append({"beta": beta, "temperature": temp,
                         "rel_difference": gradient_agreement(est.gradient, ep)["rel_error"],
                         "rel_stderr": float(np.linalg.norm(est.stderr) /
                                             np.linalg.norm(est.gradient))})
    return {"samplers": out, "chl_vs_ep": rows}


NGSPICE_STEPS = ((1.0, 16384), (0.3, 16384), (0.1, 8192), (0.025, 4096))


def ngspice_noise(quick: bool = False) -> dict:
    """ngspice's noise sources: the variance at the knots of one node (g = 1e-4 S, C = 1 nF)
    for noise steps a = g NT / C, against eqprop_hw.thermal.ngspice.variance_factor; and every
    estimator against the closed form on the linear 2-3-2 network of tests/test_thermal.py at
    beta = 0.1, 1, 10 g (512 samples, seed 2, 4 path nodes: the slow test's settings)."""
    from eqprop_hw.backends import make_backend
    from eqprop_hw.thermal.ngspice import NgspiceSampler, variance_factor
    g, temp, cap = 1e-4, 1e-6, 1e-9
    one = build_circuit(parse_spec({
        "name": "one", "kind": "graph",
        "elements": [{"name": "VIN", "nodes": ["in", "0"], "dc": 0.0},
                     {"name": "R1", "nodes": ["a", "0"], "g": g},
                     {"name": "R2", "nodes": ["in", "a"], "g": 1e-12}],
        "inputs": ["VIN"], "outputs": ["a"], "trainable": ["R1"]}))
    variance = []
    with make_backend("ngspice", one) as backend:
        for kind in ("trrandom", "trnoise"):
            for frac, n in NGSPICE_STEPS[:2] if quick else NGSPICE_STEPS:
                started = time.perf_counter()
                sampler = NgspiceSampler(backend, temp, capacitance=cap, step_fraction=frac,
                                         noise=kind)
                phase = sampler.sample([[0.0]], 0.0, [[0.0]], n, seed=1)
                v2 = 2.0 * phase.dedg[0, :, :, 0] / (temp / g)
                value, se = th.jackknife(lambda m: v2[m].mean(), phase.blocks)
                a = g / cap * phase.info["noise_step"]
                variance.append({"noise": kind, "a": a, "ratio": float(value),
                                 "stderr": float(se),
                                 "predicted": float(variance_factor(a, kind)),
                                 "seconds": time.perf_counter() - started})
                print(f"ngspice {kind} a={a:.3g}: Var/(T/g) {value:.4f} +- {se:.4f}, "
                      f"predicted {variance[-1]['predicted']:.4f}", file=sys.stderr, flush=True)
    spec = {"name": "lin", "kind": "layered", "layers": [2, 3, 2],
            "activation": {"type": "none"},
            "conductance": {"init": {"low": 2e-5, "high": 1e-4}, "seed": 1}}
    model = EnergyModel(build_circuit(parse_spec(spec)))
    x, y, temp_lin = np.array([[0.5, -0.3]]), np.array([[0.2, -0.1]]), 1e-7
    g_typ = float(np.mean(model.circuit.trainable_values()))
    estimators = []
    with make_backend("ngspice", model.circuit) as backend:
        for scale in ((1.0,) if quick else (0.1, 1.0, 10.0)):
            for estimator in th.ESTIMATORS:
                started = time.perf_counter()
                sampler = NgspiceSampler(backend, temp_lin)
                est = th.thermal_gradient(sampler, x, y, scale * g_typ, estimator,
                                          samples=512, seed=2, nodes=4)
                exact = th.exact_thermal_gradient(model, temp_lin, x, y, scale * g_typ,
                                                  estimator)
                z = (est.gradient - exact) / est.stderr
                estimators.append({"beta_over_g": scale, "estimator": estimator,
                                   "max_abs_z": float(np.max(np.abs(z))),
                                   "rms_z": float(np.sqrt(np.mean(z * z))),
                                   "effective_samples": est.effective_samples,
                                   "seconds": time.perf_counter() - started})
                print(f"ngspice beta={scale:g} g {estimator}: max|z| "
                      f"{estimators[-1]['max_abs_z']:.2f}", file=sys.stderr, flush=True)
    return {"variance": variance, "estimators": estimators, "temperature_linear": temp_lin}


def plot(result: dict, out: Path) -> list[str]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    files = []
    rows = result["beta_sweep"]
    b = np.array([r["beta"] for r in rows]) / result["typical_conductance"]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.loglog(b, [r["ep_t0_rel_error_vs_dL"] for r in rows], "o-",
              label="EP at T = 0 (one-sided) vs dL/dg")
    cen = [(x, r["ep_t0_centered_rel_error_vs_dL"]) for x, r in zip(b, rows)
           if r["ep_t0_centered_rel_error_vs_dL"] is not None]
    if cen:
        ax.loglog(*zip(*cen), "s-", label="EP at T = 0 (centered) vs dL/dg")
    ax.loglog(b, [r["chl_rel_error_vs_gradJ"] for r in rows], "^-",
              label="CHL at T > 0 vs grad J_beta (exact)")
    ax.loglog(b, [r["chl_rel_stderr"] for r in rows], "k:", label="CHL standard error")
    ax.set_xlabel("beta / typical conductance")
    ax.set_ylabel("relative error")
    ax.set_title("Finite nudges: deterministic EP vs finite-T CHL")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "temperature_beta_error.png", dpi=120)
    plt.close(fig)
    files.append("temperature_beta_error.png")

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.semilogx(b, [r["gradJ_vs_gradL0"]["cosine"] for r in rows], "o-",
                label="cosine(grad J_beta, grad <L>_0)")
    ax.semilogx(b, [r["gradJ_vs_gradL0"]["norm_ratio"] for r in rows], "s-",
                label="|grad J_beta| / |grad <L>_0|")
    ax.axhline(1.0, color="k", lw=0.5)
    ax.set_xlabel("beta / typical conductance")
    ax.set_ylabel("cosine; norm ratio (1)")
    ax.set_title(f"J_beta vs the expected loss at T = {result['diode_temperature']:g} W")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "temperature_objectives.png", dpi=120)
    plt.close(fig)
    files.append("temperature_objectives.png")

    groups = [("teacher-student", result["training"], "test_loss",
               "test loss (T = 0 free phase, V^2)")]
    if result.get("digits"):
        groups.append(("digits (64-32-10)", result["digits"], "test_accuracy",
                       "test accuracy (T = 0 free phase)"))
    fig, axes = plt.subplots(1, len(groups), figsize=(6.5 * len(groups), 6.5), squeeze=False)
    for ax, (title, runs, key, label) in zip(axes[0], groups):
        temps = sorted({r["temperature"] for r in runs if r["temperature"]})
        betas = sorted({r["beta"] for r in runs})
        colours = {b: f"C{k}" for k, b in enumerate(betas)}
        for run in runs:
            style = "--" if run["temperature"] is None else \
                ("-", ":", "-.")[min(2, temps.index(run["temperature"]))]
            values = run[key]
            draw = ax.semilogy if key == "test_loss" else ax.plot
            draw(range(1, len(values) + 1), values, style, color=colours[run["beta"]],
                 marker="o" if key == "test_accuracy" else None, markersize=3,
                 label=f"{run['method']}, beta={run['beta']:.2g} S")
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2,
                  frameon=False)                   # below the panel, off the curves
    fig.tight_layout()
    fig.savefig(out / "temperature_training.png", dpi=120)
    plt.close(fig)
    files.append("temperature_training.png")
    return files


def machine_words(machine: dict | None) -> str:
    """Where the run's times come from: ``; on a N-core machine at a 1-minute load average of
    A at the start and B at the end`` (nothing for results written before it was recorded)."""
    if not machine:
        return ""
    start, end = machine["load_average"]
    return (f"; on a {machine['cores']}-core machine at a 1-minute load average of {start:.1f} "
            f"at the start and {end:.1f} at the end")


def report(result: dict) -> str:
    g = result["typical_conductance"]
    lines = ["# Finite temperature and strong nudges", "",
             ("Produced by " + "; ".join(f"`{c}`" for c in result["commands"])
              + f" ({result['seconds']:.0f} s of computing in all"
              if result.get("commands") else
              "Produced by `python tools/study_temperature.py"
              f"{' --quick' if result['quick'] else ''}"
              f"{' --digits' if result.get('digits') else ''}` in {result['seconds']:.0f} s "
              "(native samplers, eqprop_hw.thermal.gibbs")
             + ("; parts: " + ", ".join(f"{k} {v:.0f} s" for k, v in
                                        result["part_seconds"].items())
                + "; `--only PART` reruns one part and merges it"
                if result.get("part_seconds") else "") + machine_words(result.get("machine"))
             + ").", "",
             "## Deterministic EP vs finite-T CHL over beta (diode network, exact by quadrature)",
             "", f"Temperature T = {result['diode_temperature']:g} W, typical conductance "
             f"{g:g} S, {result['sweep_samples']} samples per phase and input.", "",
             "| beta / g | EP T=0 rel. error vs dL/dg | CHL rel. error vs grad J_beta | CHL rel. "
             "stderr | CHL max abs z | cos(grad J, grad <L>_0) | norm ratio |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in result["beta_sweep"]:
        lines.append(f"| {r['beta'] / g:.3g} | {r['ep_t0_rel_error_vs_dL']:.3g} | "
                     f"{r['chl_rel_error_vs_gradJ']:.3g} | {r['chl_rel_stderr']:.3g} | "
                     f"{r['chl_max_abs_z']:.2f} | {r['gradJ_vs_gradL0']['cosine']:.4f} | "
                     f"{r['gradJ_vs_gradL0']['norm_ratio']:.3f} |")
    lines += ["", "![errors](temperature_beta_error.png)", "",
              "![objectives](temperature_objectives.png)", "",
              "## Training with strong nudges", "",
              "Final test loss (deterministic free phase, V^2); training curves in "
              "`temperature_training.png`."
              + (f" Teacher-student CHL runs sampled with {result['teacher_sampler']}."
                 if result.get("teacher_sampler") else "")
              + (" Digits: the 64-32-10 diode network of `DIGITS_SPEC` (inputs x20, "
                 "conductances 1e-6..2e-5 S, batch 4, learning rate "
                 f"{result['digits_settings'].get('learning_rate', DIGITS_LR)}, one-sided "
                 f"nudges, {result['digits_settings']['epochs']} epochs, "
                 f"{result['digits_settings']['thermal_samples']} kept samples per phase and "
                 f"image, sampler: {result['digits_settings']['sampler']}); test loss and "
                 "accuracy on the 450 test images are those of the deterministic free phase "
                 "(the trained conductances read out at T = 0)."
                 if result.get("digits_settings") else ""), "",
              "| task | beta (S) | method | first epoch | last epoch | test accuracy first -> "
              "last (best) | seconds |",
              "| --- | --- | --- | --- | --- | --- | --- |"]
    for task, runs in (("teacher-student", result["training"]),
                       ("digits", result.get("digits") or [])):
        for run in runs:
            acc = [a for a in (run.get("test_accuracy") or []) if a is not None]
            acc_text = f"{acc[0]:.4f} -> {acc[-1]:.4f} ({max(acc):.4f})" if acc else "-"
            lines.append(f"| {task} | {run['beta']:.3g} | {run['method']} | "
                         f"{run['test_loss'][0]:.4g} | {run['test_loss'][-1]:.4g} | "
                         f"{acc_text} | {run.get('seconds', 0):.0f} |")
    lines += ["", "![training](temperature_training.png)", ""]
    if result.get("speed"):
        lines += ["## Sampler speed on digits (`--only speed`)", "",
                  "One CHL minibatch gradient (4 images, free and nudged phase, 32 kept "
                  "samples per phase and image, T = 1e-6 W, beta = 2e-5 S) on the 64-32-10 "
                  "digits network, OPENBLAS_NUM_THREADS=1. Both samplers evaluate the energy "
                  "through `ReducedEnergy` (the fixed part of E cached as dense arrays over the "
                  "42 free voltages, so a step is a (chains x 42) @ (42 x 42) product and 32 "
                  "diode exponentials instead of sparse products over all 4,500 resistors and "
                  "all 174 nodes); a minibatch of this size took 244 ms with the Langevin sampler "
                  "of commit 32878d3 (before the cache; 69 ms with the cache, same machine, "
                  "same minute).", "",
                  "| sampler | ms per minibatch | relative stderr of the CHL gradient | "
                  "acceptance |", "| --- | --- | --- | --- |"]
        for name, r in result["speed"]["samplers"].items():
            lines.append(f"| {name} | {1e3 * r['seconds_per_minibatch']:.1f} | "
                         f"{r['relative_stderr']:.3g} | {r['acceptance']:.2f} |")
        lines += ["", "CHL (Laplace sampler, 256 samples per phase) against one-sided EP at "
                  "T = 0 on the same 4 images: relative difference |CHL - EP| / |EP| and the "
                  "CHL estimate's relative standard error.", "",
                  "| beta (S) | T (W) | relative difference | relative stderr |",
                  "| --- | --- | --- | --- |"]
        for r in result["speed"]["chl_vs_ep"]:
            lines.append(f"| {r['beta']:g} | {r['temperature']:g} | "
                         f"{r['rel_difference']:.3g} | {r['rel_stderr']:.3g} |")
        lines.append("")
    if result.get("ngspice"):
        ng = result["ngspice"]
        lines += ["## ngspice's noise sources (`--only ngspice`)", "",
                  "Variance at the knots k NT of one node (g = 1e-4 S, C = 1 nF, T = 1e-6 W) "
                  "for a noise step a = g NT / C, against "
                  "`eqprop_hw.thermal.ngspice.variance_factor` (held values: tanh(a/2)/(a/2); "
                  "interpolated: 1 - a/2 + ...):", "",
                  "| source | a | Var / (T/g) | predicted | z |", "| --- | --- | --- | --- | --- |"]
        for r in ng["variance"]:
            lines.append(f"| {r['noise']} | {r['a']:.3g} | {r['ratio']:.4f} +- "
                         f"{r['stderr']:.4f} | {r['predicted']:.4f} | "
                         f"{(r['ratio'] - r['predicted']) / r['stderr']:+.2f} |")
        lines += ["", "Every estimator from ngspice transients (default `trrandom`, NT = 1/40 of "
                  "the fastest node time constant of each phase) against the closed form on "
                  "the linear 2-3-2 network, 512 samples per phase:", "",
                  "| beta / g | estimator | max abs z | rms z | effective samples |",
                  "| --- | --- | --- | --- | --- |"]
        for r in ng["estimators"]:
            lines.append(f"| {r['beta_over_g']:g} | {r['estimator']} | {r['max_abs_z']:.2f} | "
                         f"{r['rms_z']:.2f} | {r['effective_samples']:.0f} |")
        lines.append("")
    lines += ["## Findings", "",
              *result["findings"], "",
              "Reading: CHL at T > 0 is unbiased for grad J_beta at every beta, but J_beta "
              "is not the loss: as beta grows, |grad J_beta| shrinks (it averages <L>_b over "
              "b in [0, beta], and <L>_b falls as the nudge pulls the outputs to the targets) "
              "and turns away from grad <L>_0, so at a fixed learning rate strong nudges learn "
              "more slowly toward a different optimum, exactly like T = 0 EP with the same "
              "beta. Small nudges are noise-limited instead: the CHL difference of two "
              "sampled means has a standard error ~ sqrt(T g) / beta relative to the signal, "
              "so the hotter the circuit, the larger the best beta (see the best-beta lines "
              "above).", ""]
    if result.get("digits"):
        lines += [digits_reading(result), ""]
    return "\n".join(lines)


def digits_reading(result: dict) -> str:
    """A paragraph on the digits runs, from their numbers."""
    runs = result["digits"]
    ep = {r["beta"]: r for r in runs if r["temperature"] is None}
    parts = []
    for beta in sorted(ep):
        hot = [r for r in runs if r["beta"] == beta and r["temperature"]]
        text = ", ".join(f"T = {r['temperature']:g} W {r['test_accuracy'][-1]:.1%}"
                         for r in hot)
        parts.append(f"beta = {beta:g} S: EP (T = 0) {ep[beta]['test_accuracy'][-1]:.1%}, "
                     f"CHL {text}")
    strong = max(ep)
    text = ("Digits reading (one training seed per run; the curves oscillate by a few points "
            "from epoch to epoch at this learning rate, compare the best and last columns): "
            "final test accuracy " + "; ".join(parts) + ". "
            f"T = 0 EP with the strongest nudge is the slowest start "
            f"({ep[strong]['test_accuracy'][0]:.1%} after one epoch). ")
    rows = (result.get("speed") or {}).get("chl_vs_ep")
    if rows:
        cold = max(r["rel_difference"] for r in rows if r["temperature"] < 1e-8)
        ratios = [r["rel_difference"] / r["rel_stderr"] for r in rows
                  if r["temperature"] >= 1e-8]
        text += (f"Per minibatch, CHL at T = 1e-9 W equals one-sided EP to {cold:.1g} "
                 "(relative); at the training temperatures it differs from it by "
                 f"{min(ratios):.1f} to {max(ratios):.1f} of its own standard errors (table "
                 "under 'Sampler speed'): the sampling noise plus the smoothing of J_beta by "
                 "T. ")
    text += ("Whether the thermal runs' advantage at the strongest nudge comes from that "
             "smoothing or from run-to-run variation is not settled by one seed per run.")
    return text


def findings(result: dict) -> list[str]:
    rows = result["beta_sweep"]
    out = []
    first, last = rows[0], rows[-1]
    g = result["typical_conductance"]
    out.append(f"- Deterministic EP's error against dL/dg grows with beta: "
               f"{first['ep_t0_rel_error_vs_dL']:.2g} at beta = {first['beta'] / g:.2g} g to "
               f"{last['ep_t0_rel_error_vs_dL']:.2g} at {last['beta'] / g:.2g} g.")
    worst = max(r["chl_max_abs_z"] for r in rows)
    out.append(f"- Finite-T CHL matches the exact gradient of its own objective J_beta at every "
               f"beta within its standard error (largest |z| over all conductances and betas: "
               f"{worst:.2f}).")
    out.append(f"- grad J_beta vs grad <L>_0: cosine {first['gradJ_vs_gradL0']['cosine']:.4f} "
               f"(norm ratio {first['gradJ_vs_gradL0']['norm_ratio']:.3f}) at small beta, "
               f"{last['gradJ_vs_gradL0']['cosine']:.4f} "
               f"({last['gradJ_vs_gradL0']['norm_ratio']:.3f}) at the largest: J_beta is the "
               "beta-average of <L>_b, so a strong nudge optimises a different (smoothed, "
               "shrunk) objective than the expected free-phase loss.")
    for task, runs in (("teacher-student", result["training"]),
                       ("digits", result.get("digits") or [])):
        by_method = {}
        for run in runs:
            by_method.setdefault(run["method"], []).append((run["test_loss"][-1], run["beta"]))
        for method, pairs in by_method.items():
            best, worst = min(pairs), max(pairs)
            out.append(f"- {task}, {method}: best final test loss {best[0]:.3g} at beta = "
                       f"{best[1]:.3g} S, worst {worst[0]:.3g} at beta = {worst[1]:.3g} S.")
        by_beta = {}
        for run in runs:
            by_beta.setdefault(run["beta"], {})[run["method"]] = run["test_loss"][-1]
        for beta, methods in sorted(by_beta.items()):
            parts = ", ".join(f"{m} {v:.3g}" for m, v in methods.items())
            out.append(f"- {task}, beta = {beta:.3g} S: final test loss {parts}.")
    by_beta = {}
    for run in result.get("digits") or []:
        by_beta.setdefault(run["beta"], []).append(
            f"{run['method']} {run['test_accuracy'][-1]:.4f} (best {max(run['test_accuracy']):.4f})")
    for beta, parts in sorted(by_beta.items()):
        out.append(f"- digits, beta = {beta:.3g} S: final test accuracy {', '.join(parts)}.")
    return out


PARTS = ("sweep", "teacher", "digits", "ngspice", "speed")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer betas, samples, epochs")
    parser.add_argument("--digits", action="store_true",
                        help="also train the digits network (about 15 min more)")
    parser.add_argument("--only", choices=PARTS, action="append",
                        help="run only this part (repeatable) and merge it into the existing "
                             "temperature_study.json of --out")
    parser.add_argument("--digits-epochs", type=int, default=None, metavar="N",
                        help="epochs of the digits runs (default 10, 2 with --quick)")
    parser.add_argument("--digits-beta", type=float, action="append", metavar="B",
                        help="digits: only this beta (S, repeatable); its runs replace those of "
                             "the same beta in the existing results")
    parser.add_argument("--out", default=str(RESULTS), help="output folder")
    parser.add_argument("--report-only", action="store_true",
                        help="rewrite the .md and plots from an existing temperature_study.json")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    existing = out / "temperature_study.json"
    if args.report_only:
        result = json.loads(existing.read_text())
        result["findings"] = findings(result)
        result["plots"] = plot(result, out)
        existing.write_text(json.dumps(result, indent=1))
        (out / "temperature_study.md").write_text(report(result))
        return 0
    load_before = os.getloadavg()[0]
    parts = set(args.only or ("sweep", "teacher") + (("digits",) if args.digits else ()))
    if args.only and not existing.exists() and parts != set(PARTS):
        parser.error(f"--only merges into {existing}, which does not exist: run the whole "
                     "study first")
    result = json.loads(existing.read_text()) if args.only and existing.exists() else {}
    started = time.perf_counter()
    g = float(np.mean([e["g"] for e in DIODE_NETWORK["elements"] if "g" in e]))
    result.update({"quick": args.quick, "diode_temperature": DIODE_T, "typical_conductance": g,
                   "teacher_temperature": TEACHER_T})
    if "seconds" in result and "part_seconds" not in result:   # a run before --only existed
        result["part_seconds"] = {"sweep+teacher": result["seconds"]}
    timings = result.setdefault("part_seconds", {})
    if "sweep" in parts:
        t0 = time.perf_counter()
        scales = [0.03, 0.3, 3, 30] if args.quick else [0.01, 0.03, 0.1, 0.3, 1, 3, 10, 30]
        result["sweep_samples"] = 1024 if args.quick else 4096
        result["beta_sweep"] = beta_sweep([s * g for s in scales], result["sweep_samples"])
        timings["sweep"] = time.perf_counter() - t0
    epochs = 4 if args.quick else 12
    with tempfile.TemporaryDirectory() as tmp:
        if "teacher" in parts:
            t0 = time.perf_counter()
            result["training"] = train_curves(
                TEACHER_SPEC, [6e-6, 6e-4, 6e-3] if args.quick else [6e-6, 6e-5, 6e-4, 6e-3],
                (TEACHER_T, 10 * TEACHER_T), epochs, 200 if args.quick else 400, 0.05,
                32 if args.quick else 64,
                Path(tmp))
            timings["teacher"] = time.perf_counter() - t0
        if "digits" in parts:
            t0 = time.perf_counter()
            digits_epochs = args.digits_epochs or (2 if args.quick else 10)
            result["digits_settings"] = {
                "learning_rate": DIGITS_LR,
                "spec": DIGITS_SPEC.format(epochs=digits_epochs, lr=DIGITS_LR, beta="BETA",
                                           thermal_samples=32),
                "betas": list(DIGITS_BETAS), "temperatures": list(DIGITS_TEMPERATURES),
                "epochs": digits_epochs, "thermal_samples": 32,
                "sampler": "LaplaceSampler (Metropolis-Hastings around each phase's Laplace "
                           "approximation, 16 chains per input, thin 2)"}
            betas = tuple(args.digits_beta or DIGITS_BETAS)
            runs = train_curves(DIGITS_SPEC, betas, DIGITS_TEMPERATURES, digits_epochs, 0,
                                DIGITS_LR, 32, Path(tmp))
            if args.digits_beta:        # merge: keep the other betas' runs
                runs = [r for r in result.get("digits") or [] if r["beta"] not in betas] + runs
                runs.sort(key=lambda r: (r["beta"], r["temperature"] or 0.0))
            result["digits"] = runs
            timings["digits"] = time.perf_counter() - t0
    if "speed" in parts:
        t0 = time.perf_counter()
        result["speed"] = sampler_speed()
        timings["speed"] = time.perf_counter() - t0
    if "ngspice" in parts:
        t0 = time.perf_counter()
        result["ngspice"] = ngspice_noise(args.quick)
        timings["ngspice"] = time.perf_counter() - t0
    result["seconds"] = sum(timings.values()) if args.only else \
        time.perf_counter() - started
    result["machine"] = {"cores": os.cpu_count(), "load_average": [load_before,
                                                                   os.getloadavg()[0]]}
    existing.write_text(json.dumps(result, indent=1))      # first the numbers, then the rest
    result["findings"] = findings(result)
    result["plots"] = plot(result, out)
    existing.write_text(json.dumps(result, indent=1))
    (out / "temperature_study.md").write_text(report(result))
    print(f"wrote {out}/temperature_study.json, .md and {len(result['plots'])} plots",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
