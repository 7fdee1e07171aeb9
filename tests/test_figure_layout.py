"""The training figures are laid out once, without cropping (issue 19, item 8): every label
must then fit inside the figure and clear of the neighbouring panel, whatever the labels'
lengths. The reference is the figure's own canvas: each text's rendered box after a draw."""

from pathlib import Path

import numpy as np
import pytest
from figure_capture import captured_figures

pytest.importorskip("matplotlib")

import eqprop_hw  # noqa: E402
from eqprop_hw.circuit.build import build_circuit  # noqa: E402
from eqprop_hw.circuit.spec import parse_spec  # noqa: E402
from eqprop_hw.io import plots  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def figures(monkeypatch):
    """``{file name: figure}`` of the figures saved while the test runs, drawn."""
    return captured_figures(monkeypatch)


def _texts_inside(figure) -> list:
    """The shown texts whose rendered box leaves the figure (should be none)."""
    renderer = figure.canvas.get_renderer()
    width, height = figure.canvas.get_width_height()
    outside = []
    texts = list(figure.texts) + ([figure._suptitle] if figure._suptitle else [])
    for axis in figure.axes:
        texts += [axis.title, axis.xaxis.label, axis.yaxis.label]
        for side in (axis.xaxis, axis.yaxis):           # the tick labels drawn: those in view
            low, high = sorted(side.get_view_interval())
            ticks = side.get_major_ticks(len(side.get_majorticklocs())) + side.get_minor_ticks(
                len(side.get_minorticklocs()))
            slack = 1e-9 * (high - low)
            texts += [label for tick in ticks if low - slack <= tick.get_loc() <= high + slack
                      for label in (tick.label1, tick.label2)]
    for text in texts:
        if not text.get_visible() or not text.get_text():
            continue
        box = text.get_window_extent(renderer)
        if box.x0 < -0.5 or box.y0 < -0.5 or box.x1 > width + 0.5 or box.y1 > height + 0.5:
            outside.append(text.get_text())
    return outside


def _panels_clear(figure) -> bool:
    """No panel with its labels overlaps the next panel on its right with its labels."""
    renderer = figure.canvas.get_renderer()
    axes = sorted(figure.axes, key=lambda axis: axis.get_window_extent().x0)
    return all(left.get_tightbbox(renderer).x1 <= right.get_tightbbox(renderer).x0 + 0.5
               for left, right in zip(axes, axes[1:]))


def test_training_figures_keep_every_label_inside_and_are_drawn_without_pyplot(tmp_path,
                                                                            figures):
    eqprop_hw.load(ROOT / "circuits" / "xor.yaml").train(tmp_path, epochs=3, plots=True)
    assert set(figures) == {"loss.png", "accuracy.png", "conductances.png",
                            "conductance_map.png"}
    for name, figure in figures.items():
        assert figure.canvas.manager is None, name          # not a pyplot figure
        assert _texts_inside(figure) == [], name
        assert _panels_clear(figure), name
        legend = figure.axes[0].get_legend()
        if name in ("loss.png", "accuracy.png"):           # the legend above the data
            assert legend.get_window_extent().y0 >= figure.axes[0].get_window_extent().y1 - 1


def test_long_node_names_grow_the_conductance_map_instead_of_leaving_it(tmp_path, figures):
    long = "an_input_node_with_a_rather_long_name"
    circuit = build_circuit(parse_spec({
        "name": "g", "kind": "graph", "inputs": ["V1"], "outputs": ["b"],
        "elements": [{"name": "V1", "nodes": [long, "0"], "dc": 1.0},
                     {"name": "R1", "nodes": [long, "b"], "g": 1e-3},
                     {"name": "R2", "nodes": ["b", "0"], "g": 2e-3}]}))
    plots.plot_conductance_maps(tmp_path / "long.png", circuit, [1e-3, 2e-3], "long names")
    plots.plot_conductances(tmp_path / "hist.png", circuit, [1e-3, 2e-3])
    for name in ("long.png", "hist.png"):
        assert _texts_inside(figures[name]) == [], name
        assert _panels_clear(figures[name]), name


def test_saved_png_has_the_laid_out_size(tmp_path):
    """save_figure writes a laid-out figure as it is, margins included (a tight crop would cut
    the empty margins of this small panel): the PNG's pixels are its size x DPI."""
    from PIL import Image
    figure = plots.new_figure()
    figure.set_size_inches(4.0, 3.0)
    figure.add_axes([0.4, 0.4, 0.2, 0.2]).plot([0, 1], [0, 1])
    plots.save_figure(figure, tmp_path / "f.png")
    with Image.open(tmp_path / "f.png") as image:
        assert image.size == (4 * plots.DPI, 3 * plots.DPI)


SUPERSCRIPTS = "\u207b\u2070\u00b9\u00b2\u00b3\u2074\u2075\u2076\u2077\u2078\u2079"


@pytest.mark.parametrize("value, text", [
    (1e-8, "10\u207b\u2078"), (2e-4, "2\u00d710\u207b\u2074"), (1.0, "1"),
    (1e3, "10\u00b3"), (5e-15, "5\u00d710\u207b\u00b9\u2075")])
def test_power_labels(value, text):
    """The label, and read back as a number it is the value (mantissa x 10^exponent)."""
    assert plots.power_label(value) == text
    mantissa, _, power = text.partition("\u00d7") if "\u00d7" in text else ("1", "", text)
    exponent = power[2:].translate(str.maketrans(SUPERSCRIPTS, "-0123456789")) or "0"
    assert np.isclose(float(mantissa) * 10.0 ** int(exponent), value)
