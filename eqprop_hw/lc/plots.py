"""Plots of LC runs: trajectories, forward vs echo, training curves (PNG, written atomically).

Waveforms are drawn in scaled SI units (nWb, µA, ...: :func:`si_scale`) rather than with
matplotlib's offset label (``1e-9`` above the axis, which collides with the panel above), and
legends sit above the panels, off the curves.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from eqprop_hw.lc.integrate import integrate
from eqprop_hw.io.plots import pyplot, save_figure


#: SI prefixes for :func:`si_scale`, by power of 1000.
_PREFIXES = {-5: "f", -4: "p", -3: "n", -2: "µ", -1: "m", 0: "", 1: "k", 2: "M"}


def si_scale(*arrays) -> tuple[float, str]:
    """``(factor, prefix)`` that brings the largest magnitude of ``arrays`` into [1, 1000).

    Examples
    --------
    >>> si_scale([0.0, -2.5e-9, 3.4e-9])
    (1000000000.0, 'n')
    >>> si_scale([0.0])
    (1.0, '')
    """
    peak = max((float(np.max(np.abs(a))) for a in arrays if np.size(a)), default=0.0)
    if not np.isfinite(peak) or peak == 0.0:
        return 1.0, ""
    power = int(np.clip(np.floor(np.log10(peak) / 3), -5, 2))
    return 10.0 ** (-3 * power), _PREFIXES[power]


def _output_unit(model, k: int) -> str:
    return "Wb" if model.outputs[k]["kind"] == "flux" else "A"


def _legend_above(axis, columns: int) -> None:
    """The axis's legend in one row just above it (off the curves)."""
    axis.legend(fontsize=7, loc="lower left", bbox_to_anchor=(0.0, 1.01), ncol=columns,
                frameon=False, borderaxespad=0.0)


def plot_lc_training(out_dir, model, theta0, theta, inputs, targets, metrics) -> None:
    """``loss.png`` (loss per epoch, log scale), ``trajectories.png`` (outputs of the first
    sequence before and after training against the targets) and ``echo.png`` (forward run vs
    the time-reversed echo, which retraces it)."""
    plt = pyplot()
    out = Path(out_dir)
    from matplotlib.ticker import MaxNLocator
    figure, axis = plt.subplots(figsize=(5, 3.2))
    axis.semilogy(metrics["epochs"], metrics["train_loss"], "o-", ms=3)
    axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    axis.set_xlabel("epoch")
    axis.set_ylabel(f"loss  ∫ ½|out − y|² dt  ({_output_unit(model, 0)}² s)")
    axis.set_title(f"{model.name}: echo learning ({metrics['backend']})", fontsize=10)
    axis.grid(True, which="both", alpha=0.3)
    save_figure(figure, out / "loss.png")
    plot_trajectories(out / "trajectories.png", model, theta0, theta, inputs[0], targets[0])
    plot_forward_vs_echo(out / "echo.png", model.with_theta(theta), inputs[0])


def plot_trajectories(path, model, theta0, theta, inputs, targets) -> None:
    """The outputs of one sequence before and after training against its targets."""
    plt = pyplot()
    t = model.times * 1e6
    before = integrate(model.with_theta(theta0), inputs=inputs, store=False).outputs[:, 0]
    after = integrate(model.with_theta(theta), inputs=inputs, store=False).outputs[:, 0]
    n_out = before.shape[1]
    figure, axes = plt.subplots(n_out, 1, figsize=(6, 2.2 * n_out + 0.8), squeeze=False,
                                sharex=True)
    for k in range(n_out):
        axis = axes[k, 0]
        factor, prefix = si_scale(targets[:, k], before[:, k], after[:, k])
        axis.plot(t, factor * targets[:, k], "k-", lw=2, alpha=0.4, label="target")
        axis.plot(t, factor * before[:, k], "C1--", lw=1, label="before training")
        axis.plot(t, factor * after[:, k], "C0-", lw=1, label="after training")
        axis.set_ylabel(f"{model.outputs[k]['name']} ({prefix}{_output_unit(model, k)})")
        axis.grid(alpha=0.3)
    axes[-1, 0].set_xlabel("time (µs)")
    _legend_above(axes[0, 0], 3)
    figure.suptitle(f"{model.name}: outputs of the first training sequence", fontsize=10)
    figure.tight_layout()
    save_figure(figure, path)


def plot_forward_vs_echo(path, model, inputs) -> None:
    plt = pyplot()
    forward = integrate(model, inputs=inputs, store=True)
    echo = integrate(model, inputs=np.asarray(inputs)[::-1], phi0=forward.phi_end,
                     p0=-forward.p_end, store=True)
    t = model.times * 1e6
    figure, axes = plt.subplots(2, 1, figsize=(6, 4.6), sharex=True)
    factor, prefix = si_scale(forward.outputs[:, 0, 0])
    axes[0].plot(t, factor * forward.outputs[:, 0, 0], "C0-", label="forward out(t)")
    axes[0].plot(t, factor * echo.outputs[::-1, 0, 0], "C3:", lw=2,
                 label="echo out(T − s), reversed")
    _legend_above(axes[0], 2)
    axes[0].set_ylabel(f"{model.outputs[0]['name']} ({prefix}{_output_unit(model, 0)})")
    axes[0].grid(alpha=0.3)
    scale = max(np.max(np.abs(forward.outputs[:, 0, 0])), 1e-300)
    error = np.abs(echo.outputs[::-1, 0, 0] - forward.outputs[:, 0, 0]) / scale
    axes[1].semilogy(t, np.maximum(error, 1e-18))
    axes[1].set_ylim(1e-18, 1)
    axes[1].set_ylabel("|echo − forward| / max|out|\n(relative, 1)", fontsize=9)
    axes[1].set_xlabel("time (µs)")
    axes[1].grid(alpha=0.3)
    figure.suptitle(f"{model.name}: the time-reversed echo retraces the forward run",
                    fontsize=10)
    figure.tight_layout()
    save_figure(figure, path)


def plot_prediction(path, model, outputs, targets, title: str) -> None:
    """Outputs of one sequence (steps+1, n_out) against its targets, one panel per output."""
    plt = pyplot()
    t = model.times * 1e6
    n_out = outputs.shape[1]
    figure, axes = plt.subplots(n_out, 1, figsize=(6, 2.2 * n_out + 0.8), squeeze=False,
                                sharex=True)
    for k in range(n_out):
        axis = axes[k, 0]
        factor, prefix = si_scale(targets[:, k], outputs[:, k])
        axis.plot(t, factor * targets[:, k], "k-", lw=2, alpha=0.4, label="target")
        axis.plot(t, factor * outputs[:, k], "C0-", lw=1, label="output")
        axis.set_ylabel(f"{model.outputs[k]['name']} ({prefix}{_output_unit(model, k)})")
        axis.grid(alpha=0.3)
    axes[-1, 0].set_xlabel("time (µs)")
    _legend_above(axes[0, 0], 2)
    figure.suptitle(title, fontsize=9)
    figure.tight_layout()
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
        factor, prefix = si_scale(outputs[:, k])
        axes[k, 0].plot(t, factor * outputs[:, k], "C0-", lw=1)
        axes[k, 0].set_ylabel(f"{model.outputs[k]['name']} ({prefix}{_output_unit(model, k)})")
        axes[k, 0].grid(alpha=0.3)
    factor, prefix = si_scale(voltages)
    for k, node in enumerate(model.nodes):
        axes[-1, 0].plot(t, factor * voltages[:, k], lw=0.8, label=node)
    axes[-1, 0].set_ylabel(f"node voltage ({prefix}V)")
    axes[-1, 0].grid(alpha=0.3)
    if len(model.nodes) <= 12:
        axes[-1, 0].legend(fontsize=6, ncol=1, loc="upper left", bbox_to_anchor=(1.01, 1.0),
                           frameon=False)
    axes[-1, 0].set_xlabel("time (µs)")
    figure.suptitle(title, fontsize=9)
    figure.tight_layout()
    save_figure(figure, path)
