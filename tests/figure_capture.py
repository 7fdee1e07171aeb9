"""Figures captured instead of written: the shared stub of the figure tests.

``captured_figures(monkeypatch)`` replaces ``save_figure`` in :mod:`eqprop_hw.io.plots` and
:mod:`eqprop_hw.lc.plots` by one that keeps each figure under its file name (drawn first when
``draw``, so that extents and tick labels are laid out as in the PNG), and keeps training runs
from starting their figure helper process (their figures are drawn in the test's process).
"""

from __future__ import annotations

from pathlib import Path

from eqprop_hw.io.figure_helper import FigureHelper


def captured_figures(monkeypatch, draw: bool = True) -> dict:
    """``{file name: figure}`` of the figures "saved" from now on in this test."""
    import eqprop_hw.io.plots as plots
    import eqprop_hw.lc.plots as lc_plots
    saved = {}

    def capture(figure, path):
        if draw:
            figure.canvas.draw()
        saved[Path(path).name] = figure

    monkeypatch.setattr(plots, "save_figure", capture)
    monkeypatch.setattr(lc_plots, "save_figure", capture)
    # a training run's figures are drawn here, not in its helper process
    monkeypatch.setattr(FigureHelper, "start", classmethod(lambda cls: None))
    return saved


def close_figures(saved: dict) -> None:
    """Close the pyplot figures among ``saved`` (the Figure-API ones need no closing)."""
    import matplotlib.pyplot as plt
    for figure in saved.values():
        plt.close(figure)
