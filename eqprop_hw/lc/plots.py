"""Plots of LC runs: trajectories, forward vs echo, training curves (PNG, written atomically)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from eqprop_hw.lc.integrate import integrate
from eqprop_hw.io.plots import pyplot, save_figure


def plot_lc_training(out_dir, model, theta0, theta, inputs, targets, metrics) -> None:
    """``loss.png`` (loss per epoch, log scale), ``trajectories.png`` (outputs of the first
    sequence before and after training against the targets) and ``echo.png`` (forward run vs
    the time-reversed echo, which retraces it)."""
    plt = pyplot()
    out = Path(out_dir)
    figure, axis = plt.subplots(figsize=(5, 3.2))
    axis.semilogy(metrics["epochs"], metrics["train_loss"], "o-", ms=3)
    axis.set_xlabel("epoch")
    axis.set_ylabel("loss  ∫ ½|out − y|² dt")
    axis.set_title(f"{model.name}: echo learning ({metrics['backend']})")
    axis.grid(True, which="both", alpha=0.3)
    save_figure(figure, out / "loss.png")
    plot_trajectories(out / "trajectories.png", model, theta0, theta, inputs[0], targets[0])
    plot_forward_vs_echo(out / "echo.png", model.with_theta(theta), inputs[0])


def plot_trajectories(path, model, theta0, theta, inputs, targets) -> None:
    plt = pyplot()
    t = model.times * 1e6
    before = integrate(model.with_theta(theta0), inputs=inputs, store=False).outputs[:, 0]
    after = integrate(model.with_theta(theta), inputs=inputs, store=False).outputs[:, 0]
    n_out = before.shape[1]
    figure, axes = plt.subplots(n_out, 1, figsize=(6, 2.2 * n_out), squeeze=False)
    for k in range(n_out):
        axis = axes[k, 0]
        axis.plot(t, targets[:, k], "k-", lw=2, alpha=0.4, label="target")
        axis.plot(t, before[:, k], "C1--", lw=1, label="before")
        axis.plot(t, after[:, k], "C0-", lw=1, label="after")
        unit = "Wb" if model.outputs[k]["kind"] == "flux" else "A"
        axis.set_ylabel(f"{model.outputs[k]['name']} ({unit})")
    axes[-1, 0].set_xlabel("time (µs)")
    axes[0, 0].legend(fontsize=7, loc="upper right")
    save_figure(figure, path)


def plot_forward_vs_echo(path, model, inputs) -> None:
    plt = pyplot()
    forward = integrate(model, inputs=inputs, store=True)
    echo = integrate(model, inputs=np.asarray(inputs)[::-1], phi0=forward.phi_end,
                     p0=-forward.p_end, store=True)
    t = model.times * 1e6
    figure, axes = plt.subplots(2, 1, figsize=(6, 4), sharex=True)
    axes[0].plot(t, forward.outputs[:, 0, 0], "C0-", label="forward out(t)")
    axes[0].plot(t, echo.outputs[::-1, 0, 0], "C3:", lw=2, label="echo out(T − s), reversed")
    axes[0].legend(fontsize=7)
    axes[0].set_ylabel("output")
    scale = max(np.max(np.abs(forward.outputs[:, 0, 0])), 1e-300)
    error = np.abs(echo.outputs[::-1, 0, 0] - forward.outputs[:, 0, 0]) / scale
    axes[1].semilogy(t, np.maximum(error, 1e-18))
    axes[1].set_ylim(1e-18, 1)
    axes[1].set_ylabel("|echo − forward| / max|out|")
    axes[1].set_xlabel("time (µs)")
    save_figure(figure, path)


def plot_prediction(path, model, outputs, targets, title: str) -> None:
    """Outputs of one sequence (steps+1, n_out) against its targets, one panel per output."""
    plt = pyplot()
    t = model.times * 1e6
    n_out = outputs.shape[1]
    figure, axes = plt.subplots(n_out, 1, figsize=(6, 2.2 * n_out + 0.4), squeeze=False)
    for k in range(n_out):
        axis = axes[k, 0]
        axis.plot(t, targets[:, k], "k-", lw=2, alpha=0.4, label="target")
        axis.plot(t, outputs[:, k], "C0-", lw=1, label="output")
        unit = "Wb" if model.outputs[k]["kind"] == "flux" else "A"
        axis.set_ylabel(f"{model.outputs[k]['name']} ({unit})")
    axes[-1, 0].set_xlabel("time (µs)")
    axes[0, 0].legend(fontsize=7, loc="upper right")
    axes[0, 0].set_title(title, fontsize=8)
    save_figure(figure, path)


def plot_simulation(path, model, outputs, voltages, title: str) -> None:
    """A forward run: each output (steps+1, n_out) over time, then every node voltage
    (steps+1, n_nodes) in one panel."""
    plt = pyplot()
    t = model.times * 1e6
    n_out = outputs.shape[1]
    figure, axes = plt.subplots(n_out + 1, 1, figsize=(6, 2.0 * (n_out + 1) + 0.4),
                                squeeze=False, sharex=True)
    for k in range(n_out):
        unit = "Wb" if model.outputs[k]["kind"] == "flux" else "A"
        axes[k, 0].plot(t, outputs[:, k], "C0-", lw=1)
        axes[k, 0].set_ylabel(f"{model.outputs[k]['name']} ({unit})")
    for k, node in enumerate(model.nodes):
        axes[-1, 0].plot(t, voltages[:, k], lw=0.8, label=node)
    axes[-1, 0].set_ylabel("node voltage (V)")
    if len(model.nodes) <= 12:
        axes[-1, 0].legend(fontsize=6, ncol=4, loc="upper right")
    axes[-1, 0].set_xlabel("time (µs)")
    axes[0, 0].set_title(title, fontsize=8)
    save_figure(figure, path)
