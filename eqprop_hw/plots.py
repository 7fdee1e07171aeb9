"""PNG plots of training runs (matplotlib, headless). Every file is written atomically."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from eqprop_hw.fileio import atomic_write_bytes


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def save_figure(figure, path: str | Path) -> None:
    """Render a figure to PNG and write it atomically."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    atomic_write_bytes(path, buffer.getvalue())
    _pyplot().close(figure)


def plot_training(out_dir: str | Path, circuit, values: np.ndarray, metrics: dict, spec) -> None:
    """``loss.png``, ``accuracy.png`` (if classification) and ``conductances.png``."""
    plt = _pyplot()
    out_dir = Path(out_dir)
    epochs = metrics["epochs"]
    cross_entropy = metrics.get("loss") == "cross_entropy"
    title = (f"{spec.name} ({metrics['backend']}, {metrics['nudge']} EP, "
             f"beta={metrics['beta']:g} {'W' if cross_entropy else 'S'})")

    figure, axis = plt.subplots(figsize=(6, 4))
    axis.plot(epochs, metrics["train_loss"], "o-", label="train")
    axis.plot(epochs, metrics["test_loss"], "s-", label="test")
    axis.set_xlabel("epoch")
    axis.set_ylabel(f"cross-entropy, tau = {metrics.get('temperature')} V  (nats)"
                    if cross_entropy else "loss 1/2 sum (V_out - y)^2  (V^2)")
    axis.set_yscale("log")
    axis.set_title(title, fontsize=9)
    axis.legend()
    axis.grid(alpha=0.3)
    save_figure(figure, out_dir / "loss.png")

    if any(a is not None for a in metrics["test_accuracy"]):
        figure, axis = plt.subplots(figsize=(6, 4))
        axis.plot(epochs, [100 * (a or 0) for a in metrics["train_accuracy"]], "o-",
                  label="train")
        axis.plot(epochs, [100 * (a or 0) for a in metrics["test_accuracy"]], "s-", label="test")
        axis.set_xlabel("epoch")
        axis.set_ylabel("accuracy (%)")
        axis.set_title(title, fontsize=9)
        axis.legend()
        axis.grid(alpha=0.3)
        save_figure(figure, out_dir / "accuracy.png")

    plot_conductances(out_dir / "conductances.png", circuit, values)


def plot_conductances(path: str | Path, circuit, values: np.ndarray) -> None:
    """Histogram of the trainable conductances (S), one panel per crossbar."""
    plt = _pyplot()
    values = np.asarray(values)
    crossbars = circuit.crossbars or [{"layer": 1, "elements": list(circuit.trainable)}]
    position = {name: k for k, name in enumerate(circuit.trainable)}
    figure, axes = plt.subplots(1, len(crossbars), figsize=(4.5 * len(crossbars), 3.4),
                                squeeze=False)
    for axis, crossbar in zip(axes[0], crossbars):
        g = values[[position[n] for n in crossbar["elements"]]]
        bins = np.logspace(np.log10(max(g.min(), 1e-15)), np.log10(g.max() * 1.0001), 40)
        axis.hist(g, bins=bins, color="tab:blue", alpha=0.8)
        axis.set_xscale("log")
        axis.set_xlabel("conductance (S)")
        axis.set_ylabel("count")
        axis.set_title(f"crossbar {crossbar['layer']} ({g.size} conductances)", fontsize=9)
    save_figure(figure, path)
