"""``twin.png``: what a twin-network transient did, over time (the ``plot`` extra).

Top: every trainable conductance (S) read from its storage capacitor at each window boundary
(a cut edge until its cut), or for MOSFET edges every gate voltage (V); bottom: the train
loss (V^2) of those values; a dashed line marks the cut.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from eqprop_hw.io.plots import pyplot, save_figure


def plot_twin(path: str | Path, names: list, times: np.ndarray, values: np.ndarray,
              metrics: dict) -> None:
    """Draw ``twin.png``: edge values and train loss over the transient's time (s)."""
    plt = pyplot()
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(7.5, 6.2), sharex=True)
    damage = metrics.get("damage")
    values = np.array(values, dtype=float)
    if damage:              # a cut edge conducts nothing: drawn until its cut
        for name in damage["elements"]:
            values[damage["window"] + 1:, names.index(name)] = np.nan
    for k, name in enumerate(names):
        top.plot(times, values[:, k], lw=1.0, label=name if len(names) <= 12 else None)
    if metrics.get("edge") == "mosfet":      # transistor edges: the gate voltages
        top.set_ylabel("gate voltage (V)")
    else:
        top.set_yscale("log")
        top.set_ylabel("edge conductance (S)")
    top.set_title(f"{metrics['spec']}: twin-network Coupled Learning in one transient "
                  f"(eta={metrics['eta']:g}, {metrics['windows']} samples)")
    if len(names) <= 12:
        top.legend(fontsize=7, ncol=4, loc="best")
    trace = metrics["trace"]
    bottom.semilogy(trace["time"], trace["train_loss"], color="k", lw=1.2)
    bottom.set_xlabel("time (s)")
    bottom.set_ylabel("train loss (V$^2$)")
    if damage:
        for axis in (top, bottom):
            axis.axvline(damage["time"], color="tab:red", ls="--", lw=1.0)
        bottom.annotate(f"cut {', '.join(damage['elements'])}", (damage["time"], 0.95),
                        xycoords=("data", "axes fraction"), color="tab:red", fontsize=8,
                        ha="left", va="top", xytext=(4, 0), textcoords="offset points")
    figure.tight_layout()
    save_figure(figure, path)
