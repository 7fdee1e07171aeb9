"""Figures the study tools draw for docs/results (issue 19, item 6): scaled SI units instead
of a 1e-10 offset label that collides with the panel above, legends off the curves."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from figure_capture import captured_figures

pytest.importorskip("matplotlib")

ROOT = Path(__file__).resolve().parents[1]


def the_figure(saved: dict):
    """The one figure a study tool saved."""
    assert len(saved) == 1, sorted(saved)
    return next(iter(saved.values()))


def test_lc_echo_waveforms_use_scaled_units_and_legends_above(tmp_path, monkeypatch):
    sys.path.insert(0, str(ROOT / "tools"))
    import study_lc_echo
    saved = captured_figures(monkeypatch)
    times = np.linspace(0.0, 1e-6, 101)
    wave = np.sin(2e7 * times)[:, None] * np.array([[0.0, 1.0]])   # node n2 is the output
    model = SimpleNamespace(nodes=["n1", "n2"], outputs=[{"node": "n2"}], tstop=1e-6,
                            times=times, name="demo")
    forward = {"time": times, "phi": 4.5e-10 * wave, "V": 1.1e-2 * wave}
    back = {"time": times, "phi": 4.5e-10 * wave[::-1], "V": -1.1e-2 * wave[::-1]}
    echo = {"time": times, "phi": 4.5e-10 * wave[::-1] + 4e-11 * wave}
    study_lc_echo.draw_waveforms(tmp_path / "w.png", model, forward, back, echo)
    figure = the_figure(saved)
    axes = figure.axes
    assert [a.get_ylabel() for a in axes] == ["flux (pWb)", "voltage (mV)",
                                              "nudged - free echo\nflux (pWb)"]
    for axis in axes:
        assert axis.yaxis.get_offset_text().get_text() == ""          # no 1e-10 label
        legend = axis.get_legend().get_window_extent()
        assert legend.y0 >= axis.get_window_extent().y1 - 1            # above the panel
    # the curves are the data scaled: the forward flux's peak in pWb
    peak = max(abs(line.get_ydata()).max() for line in axes[0].get_lines())
    assert peak == pytest.approx(1e12 * 4.5e-10 * np.abs(wave).max())


def test_lc_echo_limits_legends_stay_below_their_panels(tmp_path, monkeypatch):
    """The documented results (docs/results/lc_echo_limits*.json) redrawn: every legend sits
    below its panel (it covered the floor curves of the beta sweep), the axes say their
    units, and the plotted rel. errors are the JSON's."""
    import json
    sys.path.insert(0, str(ROOT / "tools"))
    import study_lc_echo_limits
    saved = captured_figures(monkeypatch)
    results = json.loads((ROOT / "docs" / "results" / "lc_echo_limits.json").read_text())
    before = json.loads((ROOT / "docs" / "results" / "lc_echo_limits_before.json").read_text())
    study_lc_echo_limits.plot(results, tmp_path / "l.png", before)
    left, right = the_figure(saved).axes
    for axis in (left, right):
        assert axis.get_legend().get_window_extent().y1 <= axis.get_window_extent().y0
        assert axis.get_ylabel().endswith("(1)") and axis.get_title()
    assert right.get_xlabel() == "beta (A/Wb)"
    entry = results["examples"]["lc_duffing"]
    smallest = sorted(entry["residuals"], key=float)[0]
    expected = [r["rel_error"] for r in entry["residuals"][smallest]
                if r["factor"] != "default" and r["mode"] == "after"]
    (line,) = [ln for ln in right.get_lines() if ln.get_label() == "lc_duffing: rel. error"]
    assert list(line.get_ydata()) == expected


def test_temperature_figures_label_their_axes_and_keep_legends_off_the_curves(tmp_path,
                                                                               monkeypatch):
    """The documented temperature study (docs/results/temperature_study.json) redrawn: the
    objectives figure has a y label (it had none); the training legends (eight and nine
    entries) sit below their panels (they covered the curves)."""
    import json
    import matplotlib.figure
    sys.path.insert(0, str(ROOT / "tools"))
    import study_temperature
    saved = {}

    def capture(figure, path, **kwargs):
        figure.canvas.draw()
        saved[Path(path).name] = figure

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", capture)
    result = json.loads((ROOT / "docs" / "results" / "temperature_study.json").read_text())
    study_temperature.plot(result, tmp_path)
    (objectives,) = saved["temperature_objectives.png"].axes
    assert objectives.get_ylabel() == "cosine; norm ratio (1)"
    for axis in saved["temperature_training.png"].axes:
        assert axis.get_xlabel() == "epoch" and axis.get_ylabel() and axis.get_title()
        assert axis.get_legend().get_window_extent().y1 <= axis.get_window_extent().y0


def test_beta_sweep_y_labels_stay_clear_of_the_panel_on_their_left(tmp_path, monkeypatch):
    """docs/results/beta_sweep.json redrawn: each panel's y label and tick labels lie outside
    every other panel (iris's and digits' y labels ran into the panel on their left)."""
    import json
    sys.path.insert(0, str(ROOT / "tools"))
    import study_beta
    saved = captured_figures(monkeypatch)
    sweeps = json.loads((ROOT / "docs" / "results" / "beta_sweep.json").read_text())["sweeps"]
    study_beta.plot(sweeps, tmp_path / "b.png")
    figure = the_figure(saved)
    renderer = figure.canvas.get_renderer()
    axes = figure.axes
    assert len(axes) == 3
    for axis in axes:
        texts = [axis.yaxis.label] + [t for t in axis.get_yticklabels() if t.get_text()]
        for other in axes:
            if other is not axis:
                frame = other.get_window_extent(renderer)
                assert not any(t.get_window_extent(renderer).overlaps(frame) for t in texts)
