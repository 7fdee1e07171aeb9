"""What the figures show (issue 19, item 6): titles, labelled axes with units, readable ticks,
legends off the curves, the input image beside the node voltages of image data.

The figures are captured before they are written (``save_figure`` patched) and inspected as
matplotlib objects after a draw, so the checks see what the PNG shows.
"""

from pathlib import Path

import numpy as np
import pytest
from figure_capture import captured_figures, close_figures

pytest.importorskip("matplotlib")

from eqprop_hw.circuit.build import build_circuit  # noqa: E402
from eqprop_hw.circuit.spec import load_spec  # noqa: E402
from eqprop_hw.cli import main  # noqa: E402
from eqprop_hw.io import plots  # noqa: E402
from eqprop_hw.io.data import load_dataset  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def figures(monkeypatch):
    """``{file name: figure}`` of every figure saved while the test runs (drawn, not closed)."""
    saved = captured_figures(monkeypatch)
    yield saved
    close_figures(saved)


def _title(figure) -> str:
    suptitle = figure._suptitle.get_text() if figure._suptitle is not None else ""
    return suptitle or " ".join(axis.get_title() for axis in figure.axes)


def _data_axes(figure):
    """The axes that hold data (not colour bars, not switched off)."""
    return [axis for axis in figure.axes if axis.axison and axis.get_label() != "<colorbar>"]


def test_predict_plot_on_digits_shows_the_input_image_and_readable_outputs(tmp_path, figures):
    spec = ROOT / "circuits" / "digits.yaml"
    assert main(["predict", str(spec), "--plot", str(tmp_path / "d.png"), "--sample", "3"]) == 0
    figure = figures["d.png"]
    assert "test row 3" in _title(figure)
    (image_axis,) = [a for a in figure.axes if a.get_title() == "input image (8 x 8 pixels)"]
    # the independent reference: the data set's encoded test row 3 as an 8 x 8 image
    loaded = load_spec(spec)
    x_test = load_dataset(loaded, build_circuit(loaded)).x_test
    np.testing.assert_array_equal(image_axis.images[0].get_array(), x_test[3].reshape(8, 8))
    assert image_axis.get_xlabel() == "pixel column" and image_axis.get_ylabel() == "pixel row"
    panels = {a.get_title(): a for a in figure.axes if "nodes)" in a.get_title()}
    assert set(panels) == {"inputs and bias (130 nodes)", "hidden layer 1 (100 nodes)",
                           "outputs (10 nodes)"}
    widest = max(a.get_position().width for a in panels.values())
    assert panels["outputs (10 nodes)"].get_position().width >= widest / 3 - 1e-9
    bottom = [a for a in figure.axes if a.get_ylabel() == "" and a.get_xlabel() == "node"]
    assert [t.get_text() for t in bottom[0].get_xticklabels()] == [f"out{k}" for k in range(10)]
    renderer = figure.canvas.get_renderer()
    boxes = [t.get_window_extent(renderer) for t in bottom[0].get_xticklabels()]
    assert all(a.x1 <= b.x0 + 0.5 for a, b in zip(boxes, boxes[1:]))   # no overlapping names


def test_every_training_figure_has_a_title_and_labelled_axes(tmp_path, figures):
    spec = ROOT / "circuits" / "xor.yaml"
    assert main(["train", str(spec), "--epochs", "3", "--out", str(tmp_path)]) == 0
    assert {"loss.png", "accuracy.png", "conductances.png", "conductance_map.png"} <= set(figures)
    assert _title(figures["conductances.png"]).startswith("trained conductances: xor")
    for name, figure in figures.items():
        assert _title(figure).strip(), name
        for axis in _data_axes(figure):
            assert axis.get_xlabel() and axis.get_ylabel(), (name, axis.get_title())
    for name in ("loss.png", "accuracy.png"):
        epochs = [float(t) for t in figures[name].axes[0].get_xticks()]
        assert all(e == int(e) for e in epochs), name                   # whole epochs
    loss = figures["loss.png"].axes[0]
    low, high = loss.get_ylim()
    labelled = [t for t in loss.get_yticklabels() if t.get_text()
                and low <= t.get_position()[1] <= high]
    assert len(labelled) >= 2                                           # not one lone 10^-1


def test_lc_figures_scale_units_and_keep_legends_off_the_curves(tmp_path, figures):
    spec = str(ROOT / "circuits" / "lc" / "lc_teacher.yaml")
    assert main(["predict", spec, "--plot", str(tmp_path / "p.png")]) == 0
    assert main(["simulate", spec, "--plot", str(tmp_path / "s.png")]) == 0
    assert main(["train", spec, "--epochs", "1", "--out", str(tmp_path / "run")]) == 0
    assert {"p.png", "s.png", "loss.png", "trajectories.png", "echo.png"} <= set(figures)
    for name in ("p.png", "s.png", "trajectories.png", "echo.png", "loss.png"):
        figure = figures[name]
        assert _title(figure).strip(), name
        for axis in _data_axes(figure):
            assert axis.yaxis.get_offset_text().get_text() == "", (name, axis.get_ylabel())
            assert axis.get_ylabel(), name
            legend = axis.get_legend()
            if legend is not None:       # above the panel or beside it: never on the data
                box, panel = legend.get_window_extent(), axis.get_window_extent()
                assert box.y0 >= panel.y1 - 1 or box.x0 >= panel.x1 - 1, name
    assert figures["p.png"].axes[0].get_ylabel() == "y0 (nWb)"      # peaks of ~3e-9 Wb
    assert figures["loss.png"].axes[0].get_ylabel().endswith("(Wb² s)")


def test_si_scale_picks_the_prefix_of_the_largest_magnitude():
    from eqprop_hw.lc.plots import si_scale
    assert si_scale([3.4e-9, -1e-12]) == (1e9, "n")
    assert si_scale([999e-6]) == (1e6, "µ")
    assert si_scale([1e-3]) == (1e3, "m")
    assert si_scale([12.0]) == (1.0, "")
    assert si_scale([np.nan]) == (1.0, "") and si_scale([]) == (1.0, "")


def _clash(figure) -> list[str]:
    """Tick labels of one panel that run into another panel's frame (window pixels)."""
    renderer = figure.canvas.get_renderer()
    panels = _data_axes(figure)
    clashes = []
    for axis in panels:
        labels = [t for t in axis.get_yticklabels() + axis.get_xticklabels() if t.get_text()]
        for label in labels:
            box = label.get_window_extent(renderer)
            for other in panels:
                if other is not axis and box.overlaps(other.get_window_extent(renderer)):
                    clashes.append(f"{axis.get_title()!r} tick {label.get_text()!r} "
                                   f"runs into {other.get_title()!r}")
    return clashes


@pytest.mark.parametrize("name", ["iris", "xor", "digits"])
def test_node_voltage_tick_labels_stay_in_their_own_panel(tmp_path, figures, name):
    """After 3 native epochs of iris, predict --plot's hidden-layer 'nudged - free' panel
    (about +-0.012 mV) had its '-0.010' tick label 5.6 px inside the input panel's frame
    (matplotlib's default wspace). Voltages of that shape: a few volts free, nudged phases
    +-0.012 mV off; no label may reach into another panel."""
    spec = load_spec(ROOT / "circuits" / f"{name}.yaml")
    circuit = build_circuit(spec)
    names = [node for _, nodes in plots.voltage_layers(circuit) for node in nodes]
    rng = np.random.default_rng(0)
    free = rng.uniform(-2.0, 3.5, len(names))
    shift = 1.2e-5 * np.sin(np.arange(len(names)))         # V: +-0.012 mV
    phases = {"free": free, "nudged (+beta)": free + shift, "nudged (-beta)": free - shift}
    plots.plot_node_voltages(tmp_path / "p.png", circuit, names, phases, title=name)
    assert _clash(figures["p.png"]) == []
