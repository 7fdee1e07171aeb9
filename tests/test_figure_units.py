"""Issue 19 item 6, by eye in the gallery: numbers in figure text carry their units (the nudge
beta in the node-voltage legend: S, or W with the cross-entropy loss; the loss in the lc
prediction title: Wb^2 s, the unit of the loss figure's axis)."""

from pathlib import Path

import pytest
from figure_capture import captured_figures, close_figures

pytest.importorskip("matplotlib")

from eqprop_hw.cli import main  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def figures(monkeypatch):
    """``{file name: figure}`` of the figures saved while the test runs."""
    saved = captured_figures(monkeypatch, draw=False)
    yield saved
    close_figures(saved)


def legend_texts(figure) -> list[str]:
    legends = [figure.legends] + [[a.get_legend()] for a in figure.axes if a.get_legend()]
    return [text.get_text() for group in legends for legend in group
            for text in legend.get_texts()]


@pytest.mark.parametrize("loss, unit", [("squared", "S"), ("cross_entropy", "W")])
def test_node_voltage_legend_gives_beta_with_its_unit(tmp_path, figures, loss, unit):
    spec = str(ROOT / "circuits" / "iris.yaml")
    assert main(["simulate", spec, "--input", "0.5,-1,1.2,0.3", "--beta", "2e-6", "--target",
                 "1,0,0", "--loss", loss, "--plot", str(tmp_path / "v.png")]) == 0
    texts = legend_texts(figures["v.png"])
    assert f"nudged (+beta = 2e-06 {unit})" in texts
    assert f"nudged (-beta = -2e-06 {unit})" in texts


def test_lc_prediction_title_gives_the_loss_with_its_unit(tmp_path, figures, capsys):
    spec = str(ROOT / "circuits" / "lc" / "lc_teacher.yaml")
    assert main(["predict", spec, "--plot", str(tmp_path / "p.png")]) == 0
    out = capsys.readouterr().out
    title = figures["p.png"]._suptitle.get_text()
    loss = title.split("loss ")[1]
    assert loss.endswith(" Wb² s")
    # the same number as the command's per-sequence line (printed in Wb^2 s)
    assert f"per sequence: {loss.split()[0]}" in out and "Wb^2 s" in out
