"""Nonlinear system identification with the echo rule (``circuits/lc/lc_duffing.yaml``): an LC
network learns to reproduce a fixed Duffing filter's response to multi-sine inputs, natively."""

from pathlib import Path

import numpy as np
import yaml
from scipy.integrate import solve_ivp

from eqprop_hw.lc.model import build_model
from eqprop_hw.lc.train import duffing_response, lc_dataset, train_lc
from eqprop_hw.circuit.spec import load_spec, parse_spec

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "circuits" / "lc" / "lc_duffing.yaml"


def test_duffing_target_matches_scipy():
    spec = load_spec(SPEC)
    model = build_model(spec)
    data = spec.data["dataset"]
    inputs, targets = lc_dataset(spec, model)
    times = model.times
    u = inputs[0, :, 0]
    w0sq = (2 * np.pi * data["frequency"]) ** 2

    def rhs(t, s):
        current = np.interp(t, times, u)
        return [s[1], w0sq * (data["inductance"] * current - s[0] - s[0] ** 3 / data["phi_nl"] ** 2)]

    ref = solve_ivp(rhs, (times[0], times[-1]), [0.0, 0.0], t_eval=times, method="DOP853",
                    rtol=1e-10, atol=1e-20, max_step=float(times[1] - times[0])).y[0]
    scale = np.max(np.abs(ref))
    assert scale > 1e-8  # driven well into the stiffening range (phi_nl ~ 2e-8 Wb)
    own = duffing_response(u, float(times[1] - times[0]), data["frequency"], data["inductance"],
                           data["phi_nl"])
    print("RK4 vs DOP853", np.max(np.abs(own - ref)) / scale)
    assert np.max(np.abs(own - ref)) < 1e-6 * scale
    # the targets are that response played as a PWL through every 10th grid point
    assert np.max(np.abs(targets[0, ::10, 0] - ref[::10])) < 1e-6 * scale
    # held-out sequences differ from the training ones
    test_inputs, _ = lc_dataset(spec, model, split="test")
    assert test_inputs.shape == inputs.shape
    assert np.max(np.abs(test_inputs - inputs)) > 1e-3


def test_echo_training_learns_duffing_filter(tmp_path):
    data = yaml.safe_load(SPEC.read_text())
    data["dataset"].update(samples=2, test_samples=2)
    spec = parse_spec(data)
    metrics = train_lc(spec, tmp_path, backend="native", epochs=30, plots=False,
                       check_every=30)
    # the update is the echo estimate; at the start it agrees with BPTT
    assert metrics["cosine"][0] >= 0.999
    untrained, trained = metrics["train_loss"][0], metrics["train_loss"][-1]
    assert untrained / trained >= 100  # measured 302
    assert metrics["test_loss_initial"] / metrics["test_loss"] >= 100  # measured 272
