"""A nonlinear filter on a REAL recorded time series (``circuits/lc/lc_eeg_filter.yaml``, dataset
``series``): windows of matplotlib's shipped EEG recording are the input currents, a fixed lossy
Duffing filter whose scales are not the network's own gives the targets; echo training lowers
the loss on the training windows and on held-out ones."""

from pathlib import Path

import numpy as np
import pytest
import yaml
from scipy.integrate import solve_ivp

from eqprop_hw.errors import SpecError
from eqprop_hw.lc.model import build_model
from eqprop_hw.lc.train import lc_dataset, load_recording, series_windows, train_lc
from eqprop_hw.circuit.spec import load_spec, parse_spec

pytest.importorskip("matplotlib")

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "circuits" / "lc" / "lc_eeg_filter.yaml"


def test_recording_is_shipped_and_windows_are_disjoint():
    record = load_recording("eeg")
    assert record.shape == (4, 800) and np.all(np.isfinite(record))
    assert np.min(np.std(record, axis=1)) > 0          # four real, non-constant channels
    assert load_recording("membrane").shape == (1, 12000)
    train, test = series_windows("eeg", 50, 0, 4, 4)
    assert train.shape == test.shape == (4, 50)
    assert np.allclose(train.mean(axis=1), 0)
    distance = np.min(np.abs(train[:, None, :] - test[None, :, :]).max(axis=2))
    assert distance > 0.05                             # no held-out window is a training one
    with pytest.raises(ValueError, match="the recording has 64"):
        series_windows("eeg", 50, 0, 60, 10)


def test_series_targets_are_the_lossy_duffing_filter():
    spec = load_spec(SPEC)
    model = build_model(spec)
    data = spec.data["dataset"]
    assert data["inductance"] != pytest.approx(model.value("L1"), rel=0.2)
    assert data["phi_nl"] != pytest.approx(model.ind_phi_nl[0], rel=0.2)
    assert data["damping"] > 0
    inputs, targets = lc_dataset(spec, model)
    times = model.times
    window = series_windows("eeg", data["segment"], data["seed"], data["samples"],
                            data["test_samples"])[0][0]
    knots = np.linspace(0, model.tstop, window.size)
    assert inputs[0, :, 0] == pytest.approx(np.interp(times, knots, data["amplitude"] * window))
    u = inputs[0, :, 0]
    w0 = 2 * np.pi * data["frequency"]

    def rhs(t, s):
        current = np.interp(t, times, u)
        return [s[1], w0 ** 2 * (data["inductance"] * current - s[0]
                                 - s[0] ** 3 / data["phi_nl"] ** 2) - data["damping"] * w0 * s[1]]

    ref = solve_ivp(rhs, (times[0], times[-1]), [0.0, 0.0], t_eval=times, method="DOP853",
                    rtol=1e-10, atol=1e-22, max_step=float(times[1] - times[0])).y[0]
    scale = np.max(np.abs(ref))
    assert scale > 0.5 * data["phi_nl"]                # into the stiffening range
    assert np.max(np.abs(targets[0, ::10, 0] - ref[::10])) < 1e-6 * scale
    test_inputs, _ = lc_dataset(spec, model, split="test")
    assert test_inputs.shape == inputs.shape


def test_series_spec_errors_name_file_and_line(tmp_path):
    text = SPEC.read_text().replace("source: eeg", "source: ecg")
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    line = next(k for k, row in enumerate(text.splitlines(), 1) if "source: ecg" in row)
    with pytest.raises(SpecError, match=rf"bad.yaml:{line}: .*source.*eeg, membrane"):
        load_spec(path)


def test_echo_training_on_eeg_filter_short(tmp_path):
    """A short native run (2 + 2 windows, 12 epochs, 1 ns steps; about 15 s): the echo updates
    lower the loss on the training windows and on the held-out ones."""
    data = yaml.safe_load(SPEC.read_text())
    data["dataset"].update(samples=2, test_samples=2)
    data["time"]["tstep"] = 1e-9
    metrics = train_lc(parse_spec(data), tmp_path, backend="native", epochs=12, plots=False,
                       check_every=12)
    assert metrics["cosine"][0] >= 0.999 and metrics["cosine"][-1] >= 0.999
    assert metrics["loss_ratio"] >= 3          # measured 5.8
    assert metrics["test_loss_ratio"] >= 2.5   # measured 5.1


@pytest.mark.slow
def test_echo_training_on_eeg_filter_full_spec(tmp_path):
    """The bundled spec as it is (4 + 4 windows, 80 epochs; about 4 minutes on one core)."""
    metrics = train_lc(load_spec(SPEC), tmp_path, backend="native", plots=False)
    assert metrics["loss_ratio"] >= 20         # measured 37
    assert metrics["test_loss_ratio"] >= 10    # measured 22
