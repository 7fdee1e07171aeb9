"""Device-aware update schemes (eqprop_hw/learning/schemes.py) and measurement-side mitigations
(averaged reads) against their closed forms; determinism and exact resume in training."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest

from eqprop_hw.circuit.spec import load_spec, parse_spec
from eqprop_hw.errors import CircuitError, SpecError
from eqprop_hw.learning.devices import Hardware, Measurement, PulsedDevice
from eqprop_hw.learning.schemes import UpdateScheme
from eqprop_hw.learning.train import train

ROOT = Path(__file__).resolve().parents[1]
G_MIN, G_MAX = 1e-6, 101e-6         # 101 states: dw_min = 1 uS
DW = 1e-6


def accumulating(n, threshold=1.0, **device):
    device = {"model": "constant_step", "states": 101, **device}
    return Hardware(PulsedDevice(**device), Measurement(), np.full(n, G_MIN), np.full(n, G_MAX),
                    scheme=UpdateScheme("accumulate", threshold))


# -- the accumulator ---------------------------------------------------------------------------
def test_accumulator_fires_floor_of_the_summed_request_over_the_step():
    """A constant request u for T minibatches fires floor(T u / dw) pulses (threshold 1), with
    the sign of u, and the register keeps T u - n dw: nothing is lost."""
    requests = np.array([0.3, -0.3, 0.07, -0.77, 1.6, 0.0]) * DW
    hw = accumulating(requests.size)
    values = np.full(requests.size, 50e-6)
    steps = 13
    for t in range(steps):
        values = hw.update(values, requests, np.random.default_rng(t))
    total = steps * requests / DW
    expected = np.sign(total) * np.floor(np.abs(total) + 1e-9)
    np.testing.assert_allclose((values - 50e-6) / DW, expected, rtol=0, atol=1e-9)
    np.testing.assert_array_equal(hw.pulses, np.abs(expected).astype(int))
    np.testing.assert_allclose(hw.buffer / DW, total - expected, rtol=0, atol=1e-9)


def test_accumulator_with_a_threshold_fires_only_past_it_and_conserves_the_request():
    """threshold k: no pulse while |b| < k dw; when fired, all whole steps go out (trunc)."""
    hw = accumulating(1, threshold=3.0)
    values, fired = np.full(1, 50e-6), []
    for t in range(10):                    # 0.7 of a step each: b = 0.7, 1.4, 2.1, 2.8, 3.5 ...
        before = hw.pulses.copy()
        values = hw.update(values, np.array([0.7 * DW]), np.random.default_rng(t))
        fired.append(int(hw.pulses[0] - before[0]))
        assert abs(hw.buffer[0]) < 3 * DW
    # b = 0.7, 1.4, 2.1, 2.8, 3.5 -> 3 out (0.5 kept), 1.2, 1.9, 2.6, 3.3 -> 3 out, 1.0
    assert fired == [0, 0, 0, 0, 3, 0, 0, 0, 3, 0]
    assert hw.buffer[0] == pytest.approx(1.0 * DW, rel=1e-9)
    assert values[0] == pytest.approx(56e-6, rel=1e-12)


def test_accumulator_turns_alternating_noise_into_no_pulses():
    """Requests +a, -a, +a, ... (|a| < 1 step) cancel in the register: zero pulses, no drift on
    an asymmetric device; direct stochastic rounding fires about a pulses per minibatch and
    drifts by up_down dw per up/down pair."""
    n, steps, a = 2000, 40, 0.6 * DW
    acc = accumulating(n, up_down=0.2)
    direct = Hardware(PulsedDevice(model="constant_step", states=101, up_down=0.2,
                                   rounding="stochastic"), Measurement(), np.full(n, G_MIN),
                      np.full(n, G_MAX))
    start = np.full(n, 50e-6)
    g_acc, g_direct = start.copy(), start.copy()
    for t in range(steps):
        request = np.full(n, a if t % 2 == 0 else -a)
        g_acc = acc.update(g_acc, request, np.random.default_rng([t, 0]))
        g_direct = direct.update(g_direct, request, np.random.default_rng([t, 1]))
    assert acc.pulses.sum() == 0 and np.all(g_acc == start)
    # direct: each minibatch fires one pulse with probability 0.6 -> 0.6 steps pulses per cell
    assert direct.pulses.mean() == pytest.approx(0.6 * steps, rel=0.02)
    # up pulses add 1.2 dw, down pulses remove 0.8 dw: mean drift 0.6 * (steps/2) * 0.4 dw
    drift = (g_direct - start).mean() / DW
    assert drift == pytest.approx(0.6 * steps / 2 * 0.4, rel=0.1)


def test_accumulator_saturates_at_max_pulses():
    hw = accumulating(2, max_pulses=5)
    values = hw.update(np.full(2, 50e-6), np.array([40 * DW, -40 * DW]),
                       np.random.default_rng(0))
    np.testing.assert_allclose(values, [55e-6, 45e-6], rtol=1e-12)
    np.testing.assert_allclose(hw.buffer, [5 * DW, -5 * DW], rtol=1e-12)   # register full
    low, high = hw.buffer_range()
    assert np.all((hw.buffer >= low) & (hw.buffer <= high))


# -- averaged reads ----------------------------------------------------------------------------
@pytest.mark.parametrize("reads", [1, 4, 16])
def test_averaged_reads_bring_read_noise_down_by_sqrt_k(reads):
    voltages = np.full((20000, 3), 0.37)
    read = Measurement(read_noise=2e-3, reads=reads).read(voltages, slice(None),
                                                          np.random.default_rng(reads))
    assert (read - voltages).std() == pytest.approx(2e-3 / np.sqrt(reads), rel=0.02)
    assert abs((read - voltages).mean()) < 5 * 2e-3 / np.sqrt(reads * voltages.size)


def test_one_read_draws_what_it_always_drew():
    voltages = np.linspace(-1, 1, 12).reshape(3, 4)
    read = Measurement(read_noise=1e-3, reads=1).read(voltages, slice(None),
                                                      np.random.default_rng(7))
    expected = voltages + 1e-3 * np.random.default_rng(7).standard_normal(voltages.shape)
    np.testing.assert_array_equal(read, expected)


def test_averaged_reads_dither_an_adc_only_as_far_as_the_noise_reaches():
    """Averaging K conversions with noise sigma >> LSB approaches the true voltage (error
    ~ sigma / sqrt(K)); without noise every conversion rounds the same way (error stays)."""
    adc = {"adc_bits": 4, "adc_range": (0.0, 1.5)}            # LSB 0.1 V
    true = np.full((4000, 1), 0.43)                           # 0.03 V from the nearest level
    plain = Measurement(reads=16, **adc).read(true, slice(None), np.random.default_rng(0))
    assert np.allclose(plain, 0.4)
    noisy = Measurement(read_noise=0.1, reads=16, **adc).read(true, slice(None),
                                                             np.random.default_rng(0))
    assert abs(noisy.mean() - 0.43) < 0.003


# -- validation --------------------------------------------------------------------------------
@pytest.mark.parametrize("devices,message", [
    ({"conductance": {"model": "constant_step", "states": 64}, "update": {"scheme": "tiki"}},
     "devices.update.scheme must be one of"),
    ({"conductance": {"model": "constant_step", "states": 64},
      "update": {"scheme": "accumulate", "threshold": 0.5}}, r"devices.update.threshold must "
                                                             r"be in \[1, 1000\]"),
    ({"update": {"scheme": "accumulate"}}, "devices.update.scheme accumulate needs a pulsed "
                                           "device"),
    ({"update": {"buffer": 3}}, "unknown key 'buffer'"),
    ({"measurement": {"reads": 0}}, "devices.measurement.reads"),
    ({"measurement": {"reads": 5000}}, "devices.measurement.reads must be at most 1024"),
    ({"measurement": {"reads": "many"}}, "devices.measurement.reads"),
])
def test_bad_scheme_fields_are_refused_naming_the_field(devices, message):
    with pytest.raises(SpecError, match=message):
        parse_spec({"name": "d", "kind": "layered", "layers": [2, 2, 1], "devices": devices})


def test_bad_scheme_arguments_are_refused_in_python():
    with pytest.raises(CircuitError, match="devices.update.threshold"):
        UpdateScheme("accumulate", threshold=0.2)
    with pytest.raises(CircuitError, match="devices.measurement.reads"):
        Measurement(reads=0)
    with pytest.raises(CircuitError, match="needs a pulsed device"):
        Hardware(PulsedDevice(), Measurement(), np.full(1, G_MIN), np.full(1, G_MAX),
                 scheme=UpdateScheme("accumulate"))


# -- training ----------------------------------------------------------------------------------
ACCUMULATE = {"conductance": {"model": "constant_step", "states": 200, "up_down": 0.1,
                              "step_std": 0.2, "step_dtod": 0.1},
              "measurement": {"read_noise": 1e-3, "reads": 2},
              "update": {"scheme": "accumulate", "threshold": 1.0}, "seed": 5}


def xor_with(devices, epochs):
    data = copy.deepcopy(load_spec(ROOT / "circuits" / "xor.yaml").data)
    data["training"]["epochs"] = epochs
    data["devices"] = devices
    return parse_spec(data)


def test_accumulate_training_is_deterministic_and_resumes_exactly(tmp_path):
    whole = train(xor_with(ACCUMULATE, 4), tmp_path / "whole", progress=False, plots=False)
    again = train(xor_with(ACCUMULATE, 4), tmp_path / "again", progress=False, plots=False)
    assert whole["train_loss"] == again["train_loss"]
    assert whole["device_update"] == "accumulate, threshold 1"
    train(xor_with(ACCUMULATE, 2), tmp_path / "split", progress=False, plots=False,
          keep_checkpoint=True)
    with np.load(tmp_path / "split" / "checkpoint.npz") as state:
        assert np.any(state["device_buffer"] != 0)      # the register is part of the state
        pulses = state["device_pulses"].mean()
    assert pulses == pytest.approx(whole["pulses_per_cell"][1])
    resumed = train(xor_with(ACCUMULATE, 4), tmp_path / "split", resume=True, progress=False,
                    plots=False)
    assert resumed["train_loss"] == whole["train_loss"]
    assert resumed["pulses_per_cell"] == whole["pulses_per_cell"]
    assert whole["pulses_per_cell"][0] < whole["pulses_per_cell"][-1]
    direct = copy.deepcopy(ACCUMULATE)
    direct["update"] = {"scheme": "direct"}
    plain = train(xor_with(direct, 4), tmp_path / "direct", progress=False, plots=False)
    assert plain["train_loss"] != whole["train_loss"]          # the scheme did act
    assert "device_update" not in plain


# -- per-layer beta ----------------------------------------------------------------------------
def test_layer_beta_bias_per_crossbar_is_order_beta_squared_centered_and_beta_one_sided():
    """Crossbar k's estimate under layer_beta carries the EP bias of its own beta_k: halving
    beta_k divides its error against the exact gradient by ~4 (centered) or ~2 (one-sided),
    whatever the other crossbar's beta."""
    from eqprop_hw.backends import make_backend
    from eqprop_hw.circuit.build import build_circuit
    from eqprop_hw.learning.ep import ep_gradient
    from eqprop_hw.learning.reference import exact_gradient
    from eqprop_hw.learning.train import crossbar_of, layer_gradient
    spec = load_spec(ROOT / "circuits" / "xor.yaml")
    circuit = build_circuit(spec)
    x = np.array([[0.0, 1.0], [1.0, 1.0], [1.0, 0.0]])
    y = np.array([[0.3], [-0.2], [0.25]])
    _, exact = exact_gradient(circuit, x, y)
    layers = crossbar_of(circuit)
    with make_backend("native", circuit) as engine:
        def error(nudge, betas, layer):
            estimate = layer_gradient(lambda b: ep_gradient(engine, x, y, b, nudge)[0],
                                      layers, betas)
            chosen = layers == layer
            return np.linalg.norm(estimate[chosen] - exact[chosen]) / \
                np.linalg.norm(exact[chosen])
        beta = 1e-5          # asymptotic regime: errors 1e-2 (centered), 1e-1 (one-sided)
        for nudge, order in (("centered", 2), ("positive", 1)):
            for layer in (0, 1):
                big = [beta if k == layer else beta / 8 for k in (0, 1)]
                small = [beta / 2 if k == layer else beta * 3 for k in (0, 1)]
                ratio = error(nudge, big, layer) / error(nudge, small, layer)
                assert ratio == pytest.approx(2 ** order, rel=0.1), (nudge, layer, ratio)


def test_layer_beta_with_one_value_trains_exactly_like_beta(tmp_path):
    data = copy.deepcopy(load_spec(ROOT / "circuits" / "xor.yaml").data)
    data["training"]["epochs"] = 2
    plain = train(parse_spec(data), tmp_path / "plain", progress=False, plots=False)
    data["training"]["layer_beta"] = [data["training"]["beta"]] * 2
    layered = train(parse_spec(data), tmp_path / "layered", progress=False, plots=False)
    assert layered["train_loss"] == plain["train_loss"]
    assert layered["layer_beta"] == data["training"]["layer_beta"]
    data["training"]["layer_beta"] = [1e-4]
    with pytest.raises(SpecError, match=r"training.layer_beta lists 1 value\(s\) but the "
                                        r"circuit has 2 crossbar\(s\)"):
        train(parse_spec(data), tmp_path / "short", progress=False, plots=False)


def test_layer_beta_with_devices_resumes_exactly(tmp_path):
    devices = copy.deepcopy(ACCUMULATE)
    data = copy.deepcopy(load_spec(ROOT / "circuits" / "xor.yaml").data)
    data["training"]["layer_beta"] = [4e-4, 1e-4]
    data["devices"] = devices
    data["training"]["epochs"] = 4
    whole = train(parse_spec(data), tmp_path / "whole", progress=False, plots=False)
    data["training"]["epochs"] = 2
    train(parse_spec(data), tmp_path / "split", progress=False, plots=False,
          keep_checkpoint=True)
    data["training"]["epochs"] = 4
    resumed = train(parse_spec(data), tmp_path / "split", resume=True, progress=False,
                    plots=False, keep_checkpoint=True)
    assert resumed["train_loss"] == whole["train_loss"]
    data["training"]["layer_beta"] = [4e-4, 2e-4]
    with pytest.raises(Exception, match="it was written with layer_beta"):
        train(parse_spec(data), tmp_path / "split", resume=True, progress=False, plots=False)


@pytest.mark.parametrize("value,message", [
    ([], "training.layer_beta must be a list of 1 to 64"),
    ([1e-4, -1e-4], r"training.layer_beta\[1\] must be positive"),
    ("1e-4", "training.layer_beta must be a list"),
    ([1e-4] * 65, "training.layer_beta must be a list of 1 to 64"),
])
def test_bad_layer_beta_is_refused(value, message):
    with pytest.raises(SpecError, match=message):
        parse_spec({"name": "d", "kind": "layered", "layers": [2, 2, 1],
                    "training": {"layer_beta": value}})


# -- two-array transfer (Tiki-Taka style) -----------------------------------------------------
def transferring(n, **options):
    device = {"model": options.pop("model", "constant_step"), "states": 101}
    device.update({key: options.pop(key) for key in ("up_down",) if key in options})
    return Hardware(PulsedDevice(**device), Measurement(), np.full(n, G_MIN), np.full(n, G_MAX),
                    scheme=UpdateScheme("transfer", **options))


def test_transfer_moves_whole_steps_of_the_fast_array_into_the_slow_one_by_columns():
    """One step requested per minibatch, 2 column groups read in turn (group 0 after
    minibatches 1, 3, 5; group 1 after 2, 4, 6): after 6 minibatches group 0 has moved
    1 + 2 + 2 = 5 steps into C and holds 1 in A, group 1 moved 2 + 2 + 2 = 6 and holds 0."""
    hw = transferring(4, columns=2)
    values = np.full(4, 50e-6)
    for t in range(6):
        values = hw.update(values, np.full(4, DW), np.random.default_rng(t))
    np.testing.assert_allclose((values - 50e-6) / DW, [5, 6, 5, 6], rtol=0, atol=1e-9)
    np.testing.assert_allclose(hw.buffer / DW, [1, 0, 1, 0], rtol=0, atol=1e-9)
    # pulses: 6 into A per cell, plus each transferred step twice (into C, back out of A)
    np.testing.assert_array_equal(hw.pulses, [6 + 10, 6 + 12, 6 + 10, 6 + 12])
    assert hw.updates == 6


def test_transfer_reference_is_the_soft_bounds_symmetric_point_and_gamma_adds_the_fast_array():
    hw = transferring(1, model="soft_bounds", up_down=0.2, gamma=0.5, transfer_every=1000)
    symmetric = (1.2 * G_MAX + 0.8 * G_MIN) / 2
    assert hw.reference[0] == pytest.approx(symmetric, rel=1e-12)
    # at the symmetric point one up pulse and one down pulse have the same size
    up = hw.apply_pulses(hw.reference, np.array([1]), np.random.default_rng(0)) - symmetric
    down = symmetric - hw.apply_pulses(hw.reference, np.array([-1]), np.random.default_rng(0))
    assert up[0] == pytest.approx(down[0], rel=1e-9)
    values = hw.update(np.full(1, 30e-6), np.array([3 * DW]), np.random.default_rng(0))
    assert values[0] == 30e-6                          # no transfer before minibatch 1000
    expected_fast = hw.apply_pulses(hw.reference, np.array([3]), np.random.default_rng(0))
    assert hw.buffer[0] == pytest.approx(expected_fast[0] - symmetric, rel=1e-12)
    assert hw.effective(values)[0] == pytest.approx(30e-6 + 0.5 * hw.buffer[0], rel=1e-12)


TRANSFER = {"conductance": {"model": "soft_bounds", "states": 200, "up_down": 0.1,
                            "step_std": 0.2, "rounding": "stochastic"},
            "measurement": {"read_noise": 1e-3},
            "update": {"scheme": "transfer", "gamma": 0.3, "columns": 3, "transfer_every": 2},
            "seed": 5}


def test_transfer_training_resumes_exactly(tmp_path):
    whole = train(xor_with(TRANSFER, 4), tmp_path / "whole", progress=False, plots=False)
    train(xor_with(TRANSFER, 2), tmp_path / "split", progress=False, plots=False,
          keep_checkpoint=True)
    with np.load(tmp_path / "split" / "checkpoint.npz") as state:
        assert np.any(state["device_buffer"] != 0) and int(state["device_updates"]) > 0
    resumed = train(xor_with(TRANSFER, 4), tmp_path / "split", resume=True, progress=False,
                    plots=False)
    assert resumed["train_loss"] == whole["train_loss"]
    assert whole["device_update"] == "transfer, threshold 1, gamma 0.3, transfer_every 2, " \
                                     "columns 3"


@pytest.mark.parametrize("update,message", [
    ({"scheme": "transfer", "gamma": 1.5}, r"devices.update.gamma must be in \[0, 1\]"),
    ({"scheme": "transfer", "columns": 0}, "devices.update.columns must be >= 1"),
    ({"scheme": "transfer", "transfer_every": 10**9}, "devices.update.transfer_every must be "
                                                       "at most 1000000"),
    ({"scheme": "accumulate", "gamma": 0.1}, "devices.update.gamma is a setting of the "
                                             "transfer scheme, not of accumulate"),
])
def test_bad_transfer_fields_are_refused(update, message):
    with pytest.raises(SpecError, match=message):
        parse_spec({"name": "d", "kind": "layered", "layers": [2, 2, 1], "devices": {
            "conductance": {"model": "constant_step", "states": 64}, "update": update}})


# -- mid-epoch stops keep the scheme's state ---------------------------------------------------
@pytest.mark.parametrize("signals", [["SIGTERM"], ["SIGINT", "SIGINT"]])
def test_a_stopped_accumulate_run_resumes_to_the_uninterrupted_result(tmp_path, monkeypatch,
                                                                      signals):
    """One signal finishes the minibatch and checkpoints it; two abandon it and checkpoint the
    state before it (the mark: conductances and registers). Resuming ends bitwise where the
    uninterrupted run ends."""
    import json
    import os
    import signal

    from eqprop_hw.errors import TrainingInterrupted
    data = copy.deepcopy(load_spec(ROOT / "circuits" / "iris.yaml").data)
    data["training"]["epochs"] = 2
    data["devices"] = ACCUMULATE
    spec = parse_spec(data)
    train(spec, tmp_path / "whole", progress=False, plots=False)
    original, calls = Hardware.update, []

    def signalling(self, *args, **kwargs):
        # The first signal arrives before minibatch 9's pulses, the second (if any) after
        # them: abandoning that minibatch must restore the registers as they were before it.
        calls.append(1)
        if len(calls) == 9:
            os.kill(os.getpid(), getattr(signal, signals[0]))
        values = original(self, *args, **kwargs)
        if len(calls) == 9 and len(signals) > 1:
            os.kill(os.getpid(), getattr(signal, signals[1]))
        return values
    monkeypatch.setattr(Hardware, "update", signalling)
    with pytest.raises(TrainingInterrupted):
        train(spec, tmp_path / "stopped", progress=False, plots=False)
    monkeypatch.setattr(Hardware, "update", original)
    with np.load(tmp_path / "stopped" / "checkpoint.npz") as state:
        assert int(state["position"]) == (9 if len(signals) == 1 else 8) * 4
        assert np.any(state["device_buffer"] != 0)
    train(spec, tmp_path / "stopped", resume=True, progress=False, plots=False)
    timing = ("seconds", "samples_per_second", "epoch_seconds_total", "wall_seconds")
    whole, resumed = (json.loads((tmp_path / name / "metrics.json").read_text())
                      for name in ("whole", "stopped"))
    assert {k: v for k, v in whole.items() if k not in timing} == \
        {k: v for k, v in resumed.items() if k not in timing}
    assert (tmp_path / "whole" / "params.npz").read_bytes() == \
        (tmp_path / "stopped" / "params.npz").read_bytes()


# -- accumulate with step_estimate read: pulses counted by the device model's change ------------
SOFT = {"model": "soft_bounds", "states": 101, "up_down": 0.1}     # dw_min = 1 uS, no noise
SPAN = G_MAX - G_MIN


def reading(n, estimate="read", **device):
    return Hardware(PulsedDevice(**{**SOFT, **device}), Measurement(), np.full(n, G_MIN),
                    np.full(n, G_MAX), scheme=UpdateScheme("accumulate",
                                                           step_estimate=estimate))


def test_read_estimate_fires_the_soft_bounds_pulses_whose_change_fits_the_request():
    """Noiseless soft bounds: n pulses from g move the room r (distance to the bound) by
    r (1 - (1 - q)^n), q = 2 dw (1 +- up_down) / (g_max - g_min); the register fires the most
    n whose change fits and keeps the request minus the change the device really made."""
    hw = reading(3)
    start = np.array([20e-6, 20e-6, 80e-6])
    request = np.array([-3.3, 2.4, -0.5]) * DW
    values = hw.update(start, request, np.random.default_rng(0))
    q_down, q_up = 2 * DW * 0.9 / SPAN, 2 * DW * 1.1 / SPAN
    room = np.array([20e-6 - G_MIN, G_MAX - 20e-6, 80e-6 - G_MIN])
    q = np.array([q_down, q_up, q_down])
    n = [int(np.floor(np.log(1 - abs(r) / m) / np.log(1 - f)))
         for r, m, f in zip(request, room, q)]
    # 20 uS: a down pulse is 0.34 dw there (ten of them fit 3.3 dw), an up pulse 1.78 dw (one
    # fits 2.4 dw); 80 uS: one down pulse (1.42 dw) is more than 0.5 dw
    assert n == [10, 1, 0]
    moved = room * (1 - (1 - q) ** np.array(n))
    np.testing.assert_allclose(values - start, np.sign(request) * moved, rtol=1e-12, atol=0)
    np.testing.assert_allclose(hw.buffer, request - (values - start), rtol=0, atol=1e-18)
    np.testing.assert_array_equal(hw.pulses, n)


def test_read_estimate_undoes_the_asymmetry_of_a_constant_step_device():
    """up_down 0.1: an up pulse moves 1.1 dw, a down pulse 0.9 dw; +3.3 dw and -2.7 dw are
    three pulses each and leave the register empty."""
    hw = reading(2, model="constant_step")
    values = hw.update(np.full(2, 50e-6), np.array([3.3, -2.7]) * DW, np.random.default_rng(0))
    np.testing.assert_allclose((values - 50e-6) / DW, [3.3, -2.7], rtol=1e-12)
    np.testing.assert_array_equal(hw.pulses, [3, 3])
    np.testing.assert_allclose(hw.buffer, 0.0, atol=1e-18)


def test_read_estimate_stops_the_soft_bounds_drift_of_alternating_requests():
    """+dw, -dw, ... from 10 uS. Counting nominal steps fires one pulse up, one down: each pair
    maps g -> (1 - b)(g + a (g_max - g)) + b g_min (a, b the up and down fractions), so g
    climbs to the symmetric point: g_T = g* + ((1 - a)(1 - b))^T (g_0 - g*). Counting the
    model's change, g moves only by what the register lost (g_T - g_0 = -b_T) and stays within
    one step of where it started."""
    pairs, start = 200, np.full(1, 10e-6)
    results = {}
    for estimate in ("nominal", "read"):
        hw, values = reading(1, estimate), start.copy()
        for t in range(2 * pairs):
            values = hw.update(values, np.array([DW if t % 2 == 0 else -DW]),
                               np.random.default_rng(t))
        results[estimate] = (values[0], hw.buffer[0])
    a, b = 2 * DW * 1.1 / SPAN, 2 * DW * 0.9 / SPAN
    fixed = ((1 - b) * a * G_MAX + b * G_MIN) / (1 - (1 - a) * (1 - b))
    closed = fixed + ((1 - a) * (1 - b)) ** pairs * (10e-6 - fixed)
    assert results["nominal"][0] == pytest.approx(closed, rel=1e-10)
    assert closed > 50e-6                                       # drifted up by 40 steps
    value, register = results["read"]
    assert value - 10e-6 == pytest.approx(-register, abs=1e-18)
    assert abs(value - 10e-6) < DW


def test_read_estimate_never_aims_closer_than_half_a_step_to_a_bound():
    """Down requests far past g_min: from 3 dw above it, the pulses stop at the first count
    that leaves at least dw/2 of room; from 0.4 dw above it, none fire (the request stays in
    the register, saturating at max_pulses steps)."""
    hw = reading(2)
    start = G_MIN + np.array([3.0, 0.4]) * DW
    values = hw.update(start, np.full(2, -500 * DW), np.random.default_rng(0))
    q = 2 * DW * 0.9 / SPAN
    n = int(np.floor(np.log(0.5 / 3.0) / np.log(1 - q)))
    assert hw.pulses.tolist() == [n, 0]
    assert values[0] - G_MIN == pytest.approx(3 * DW * (1 - q) ** n, rel=1e-12)
    assert 0.5 * DW <= values[0] - G_MIN < 0.5 * DW / (1 - q)
    assert values[1] == start[1]
    np.testing.assert_allclose(hw.buffer, -100 * DW, rtol=1e-12)


def test_bad_step_estimates_are_refused_in_python():
    with pytest.raises(CircuitError, match="devices.update.step_estimate must be one of "
                                           "nominal, read"):
        UpdateScheme("accumulate", step_estimate="oracle")
    with pytest.raises(CircuitError, match="step_estimate read is a setting of the accumulate "
                                           "scheme, not of transfer"):
        UpdateScheme("transfer", step_estimate="read")


READ = {"conductance": {"model": "soft_bounds", "states": 200, "up_down": 0.1,
                        "step_std": 0.2, "step_dtod": 0.1, "range_dtod": 0.05},
        "measurement": {"read_noise": 1e-3},
        "update": {"scheme": "accumulate", "threshold": 1.0, "step_estimate": "read"},
        "seed": 5}


def test_read_estimate_training_is_deterministic_and_resumes_exactly(tmp_path):
    whole = train(xor_with(READ, 4), tmp_path / "whole", progress=False, plots=False)
    again = train(xor_with(READ, 4), tmp_path / "again", progress=False, plots=False)
    assert whole["train_loss"] == again["train_loss"]
    assert whole["device_update"] == "accumulate, threshold 1, step_estimate read"
    train(xor_with(READ, 2), tmp_path / "split", progress=False, plots=False,
          keep_checkpoint=True)
    resumed = train(xor_with(READ, 4), tmp_path / "split", resume=True, progress=False,
                    plots=False)
    assert resumed["train_loss"] == whole["train_loss"]
    assert resumed["pulses_per_cell"] == whole["pulses_per_cell"]
    nominal = copy.deepcopy(READ)
    del nominal["update"]["step_estimate"]
    plain = train(xor_with(nominal, 4), tmp_path / "nominal", progress=False, plots=False)
    assert plain["train_loss"] != whole["train_loss"]          # the estimate did act
