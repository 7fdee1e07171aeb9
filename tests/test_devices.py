"""Device models (eqprop_hw/learning/devices.py) against their update equations and the solvers."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest

from eqprop_hw.backends import make_backend
from eqprop_hw.circuit.build import build_circuit
from eqprop_hw.learning.devices import (Hardware, Measurement, PulsedDevice, line_probe, measured_nodes)
from eqprop_hw.learning.ep import make_probe
from eqprop_hw.errors import CircuitError, SpecError
from eqprop_hw.learning.check import finite_difference_gradient
from eqprop_hw.learning.reference import exact_gradient, gradient_agreement
from eqprop_hw.circuit.spec import load_spec, parse_spec
from eqprop_hw.learning.train import train

ROOT = Path(__file__).resolve().parents[1]
G_MIN, G_MAX = 1e-6, 101e-6         # 101 states: dw_min = 1 uS


def hardware(n=1, measurement=None, seed=0, **device):
    return Hardware(PulsedDevice(**device), measurement or Measurement(),
                    np.full(n, G_MIN), np.full(n, G_MAX), seed=seed)


# -- pulses ------------------------------------------------------------------------------------
def test_constant_step_rounds_requests_to_whole_pulses():
    hw = hardware(4, model="constant_step", states=101)
    start = np.full(4, 50e-6)
    new = hw.update(start, np.array([2.4e-6, -1.6e-6, 0.4e-6, 300e-6]), np.random.default_rng(0))
    np.testing.assert_allclose(new, [52e-6, 48e-6, 50e-6, G_MAX], rtol=0, atol=1e-18)


def test_asymmetric_steps_follow_one_plus_minus_up_down():
    hw = hardware(2, model="constant_step", states=101, up_down=0.25)
    new = hw.update(np.full(2, 50e-6), np.array([3e-6, -3e-6]), np.random.default_rng(0))
    np.testing.assert_allclose(new - 50e-6, [3 * 1.25e-6, -3 * 0.75e-6], rtol=1e-12)


def test_soft_bounds_follow_the_geometric_closed_form():
    """n up pulses from g0: g_n = g_max - (g_max - g0)(1 - 2 dw / span)^n (and mirrored)."""
    hw = hardware(2, model="soft_bounds", states=101)
    g0, n, span, dw = 30e-6, 17, G_MAX - G_MIN, 1e-6
    new = hw.apply_pulses(np.array([g0, g0]), np.array([n, -n]), np.random.default_rng(0))
    shrink = (1 - 2 * dw / span) ** n
    np.testing.assert_allclose(new, [G_MAX - (G_MAX - g0) * shrink,
                                     G_MIN + (g0 - G_MIN) * shrink], rtol=1e-12)


def test_pulse_counts_are_clipped_to_max_pulses():
    hw = hardware(1, model="constant_step", states=101, max_pulses=5)
    assert hw.pulse_counts(np.array([40e-6]), np.random.default_rng(0))[0] == 5
    new = hw.update(np.array([50e-6]), np.array([-40e-6]), np.random.default_rng(0))
    assert new[0] == pytest.approx(45e-6, rel=1e-12)


def test_stochastic_rounding_is_unbiased_and_nearest_is_not():
    n = 200_000
    request = np.full(n, 0.3e-6)                 # 0.3 of a step
    stochastic = hardware(n, model="constant_step", states=101, rounding="stochastic")
    counts = stochastic.pulse_counts(request, np.random.default_rng(1))
    assert set(np.unique(counts)) == {0, 1}
    standard_error = np.sqrt(0.3 * 0.7 / n)
    assert abs(counts.mean() - 0.3) < 5 * standard_error
    nearest = hardware(n, model="constant_step", states=101)
    assert np.all(nearest.pulse_counts(request, np.random.default_rng(1)) == 0)


def test_cycle_to_cycle_noise_has_the_stated_spread():
    """n pulses of relative noise s: the total change has mean n dw and sd sqrt(n) dw s."""
    devices, pulses, spread = 50_000, 9, 0.3
    hw = hardware(devices, model="constant_step", states=101, step_std=spread)
    change = hw.apply_pulses(np.full(devices, 50e-6), np.full(devices, pulses),
                             np.random.default_rng(2)) - 50e-6
    sd = np.sqrt(pulses) * 1e-6 * spread
    assert abs(change.mean() - pulses * 1e-6) < 5 * sd / np.sqrt(devices)
    assert change.std() == pytest.approx(sd, rel=0.02)


def test_device_to_device_variation_is_drawn_once_with_the_stated_spread():
    devices = 40_000
    hw = hardware(devices, model="constant_step", states=101, step_dtod=0.1, range_dtod=0.05,
                  up_down_dtod=0.02, seed=3)
    assert (hw.dw / 1e-6 - 1).std() == pytest.approx(0.1, rel=0.03)
    assert (hw.g_max / G_MAX - 1).std() == pytest.approx(0.05, rel=0.03)
    assert hw.up_down.std() == pytest.approx(0.02, rel=0.03)
    again = hardware(devices, model="constant_step", states=101, step_dtod=0.1, range_dtod=0.05,
                     up_down_dtod=0.02, seed=3)
    np.testing.assert_array_equal(hw.dw, again.dw)          # same seed, same devices
    # Every device stays inside its own bounds whatever it is asked.
    new = hw.update(np.full(devices, 50e-6), np.full(devices, 1.0), np.random.default_rng(0))
    expected = np.minimum(hw.g_max, 50e-6 + 100 * hw.dw * (1 + hw.up_down))
    np.testing.assert_allclose(new, expected, rtol=1e-12)     # 100 pulses summed one by one
    assert np.all(new <= hw.g_max)


def test_ideal_device_applies_the_request_and_clips():
    hw = hardware(3)
    new = hw.update(np.full(3, 50e-6), np.array([1.234e-7, -60e-6, 80e-6]),
                    np.random.default_rng(0))
    np.testing.assert_allclose(new, [50e-6 + 1.234e-7, G_MIN, G_MAX], rtol=1e-15)


def test_invalid_device_parameters_are_refused():
    with pytest.raises(CircuitError, match="states"):
        PulsedDevice(model="constant_step")
    with pytest.raises(CircuitError, match="up_down"):
        PulsedDevice(up_down=1.5)
    with pytest.raises(CircuitError, match="adc_range"):
        Measurement(adc_bits=8)


# -- measurement -------------------------------------------------------------------------------
def test_adc_rounds_to_the_nearest_level_and_clips():
    adc = Measurement(adc_bits=3, adc_range=(0.0, 7.0))       # levels 0, 1, ..., 7 V
    read = adc.read(np.array([[-1.0, 0.4, 0.6, 3.49, 9.0]]), slice(None),
                    np.random.default_rng(0))
    np.testing.assert_array_equal(read, [[0.0, 0.0, 1.0, 3.0, 7.0]])


def test_read_noise_has_the_stated_spread_and_spares_source_nodes():
    circuit = build_circuit(load_spec(ROOT / "circuits" / "xor.yaml"))
    with make_backend("native", circuit) as engine:
        nodes = engine.node_names
        voltages = engine.solve(np.tile([[1.0, 0.0]], (4000, 1))).voltages
    mask = measured_nodes(circuit, nodes)
    assert not mask[nodes.index("x0p")] and not mask[nodes.index("biasp")]
    assert mask[nodes.index("out0")]
    hw = Hardware(PulsedDevice(), Measurement(read_noise=2e-3), np.full(1, G_MIN),
                  np.full(1, G_MAX), measured=mask)
    read = hw.read({"free": voltages}, np.random.default_rng(4))["free"]
    noise = read - voltages
    assert np.all(noise[:, ~mask] == 0)
    assert noise[:, mask].std() == pytest.approx(2e-3, rel=0.02)


# -- probes ------------------------------------------------------------------------------------
def test_line_probe_reads_crossbar_cells_at_the_line_ends():
    plain = {"name": "p", "kind": "layered", "layers": [2, 3, 1]}
    circuit = build_circuit(parse_spec(plain))
    nodes = circuit.nodes[1:]
    lines, own = line_probe(circuit, nodes), make_probe(circuit, nodes)
    assert np.array_equal(lines.plus, own.plus) and np.array_equal(lines.minus, own.minus)
    wired = build_circuit(parse_spec({**plain, "wires": {"row_conductance": 1.0,
                                                         "column_conductance": 1.0}}))
    nodes = [n for n in wired.nodes if n != "0"]
    probe = line_probe(wired, nodes)
    k = wired.trainable.index("RL1_3_2")            # row x1n, column n1_2
    assert nodes[probe.plus[k]] == "x1n" and nodes[probe.minus[k]] == "n1_2"
    assert nodes[make_probe(wired, nodes).plus[k]] == "w1r3_2"


# -- circuits with device errors: the solvers and the reference still agree ------------------
AMPLIFIED = {"name": "ampdev", "kind": "layered", "layers": [3, 4, 2], "inputs": {"gain": 5.0},
             "activation": {"type": "rectify", "model": "1N4148"},
             "amplifiers": {"gain": 2.0},
             "devices": {"amplifier": {"gain_dtod": 0.05, "offset_std": 0.02}, "seed": 1}}


def test_amplifier_errors_and_1n4148_native_matches_ngspice_and_exact_matches_fd():
    spec = parse_spec(AMPLIFIED)
    circuit = build_circuit(spec)
    gains = [e.value for e in circuit.elements if e.name.startswith("EA")]
    offsets = [e.value for e in circuit.elements if e.name.startswith("VA")]
    assert np.std(gains) > 0.01 and np.std(offsets) > 1e-3     # errors were drawn
    assert circuit.models["DACT"].RS == pytest.approx(0.6458)
    x = np.array([[0.3, -0.9, 0.7], [0.8, 0.2, -0.5], [-1.0, 0.4, 0.1]])
    y = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
    with make_backend("native", circuit) as native, make_backend("ngspice", circuit) as spice:
        difference = np.abs(native.solve(x).voltages - spice.solve(x).voltages).max()
    assert difference < 1e-6
    _, exact = exact_gradient(circuit, x, y)
    subset = circuit.trainable[::3]
    positions = [circuit.trainable.index(name) for name in subset]
    fd = finite_difference_gradient(circuit, x, y, backend="ngspice", elements=subset)
    agreement = gradient_agreement(fd, exact[positions])
    assert agreement["cosine"] > 0.99999 and agreement["rel_error"] < 1e-4


# -- spec --------------------------------------------------------------------------------------
@pytest.mark.parametrize("devices,message", [
    ({"conductance": {"model": "constant_step"}}, "exactly one of states"),
    ({"conductance": {"model": "memristor"}}, "must be one of"),
    ({"conductance": {"up_down": 1.0}}, r"up_down must be in \(-1, 1\)"),
    ({"measurement": {"adc_bits": 8}}, "adc_range"),
    ({"measurement": {"adc_bits": 8, "adc_range": [1, -1]}}, "lo < hi"),
    ({"conductance": {"step_std": -0.1}}, ">= 0"),
    ({"wire": {}}, "unknown key 'wire'"),
])
def test_bad_devices_sections_are_refused_with_the_key(devices, message):
    with pytest.raises(SpecError, match=message):
        parse_spec({"name": "d", "kind": "layered", "layers": [2, 2, 1], "devices": devices})


def test_unknown_named_diode_model_is_refused():
    with pytest.raises(SpecError, match="unknown diode model '1N9999'"):
        parse_spec({"name": "d", "kind": "layered", "layers": [2, 2, 1],
                    "activation": {"model": "1N9999"}})


# -- training ----------------------------------------------------------------------------------
def xor_with(devices, epochs=6):
    data = copy.deepcopy(load_spec(ROOT / "circuits" / "xor.yaml").data)
    data["training"]["epochs"] = epochs
    if devices is not None:
        data["devices"] = devices
    return parse_spec(data)


def test_ideal_devices_train_exactly_like_no_devices(tmp_path):
    plain = train(xor_with(None), tmp_path / "plain", progress=False, plots=False)
    ideal = train(xor_with({}), tmp_path / "ideal", progress=False, plots=False)
    assert plain["train_loss"] == ideal["train_loss"]


NOISY = {"conductance": {"model": "soft_bounds", "states": 200, "up_down": 0.1,
                         "step_std": 0.2, "step_dtod": 0.1, "rounding": "stochastic"},
         "measurement": {"read_noise": 1e-3, "adc_bits": 12, "adc_range": [-6, 6]},
         "seed": 5}


def test_noisy_devices_are_deterministic_and_resume_exactly(tmp_path):
    whole = train(xor_with(NOISY, 4), tmp_path / "whole", progress=False, plots=False)
    again = train(xor_with(NOISY, 4), tmp_path / "again", progress=False, plots=False)
    assert whole["train_loss"] == again["train_loss"]
    train(xor_with(NOISY, 2), tmp_path / "split", progress=False, plots=False)
    resumed = train(xor_with(NOISY, 4), tmp_path / "split", resume=True, progress=False,
                    plots=False)
    assert resumed["train_loss"] == whole["train_loss"]
    plain = train(xor_with(None, 4), tmp_path / "plain", progress=False, plots=False)
    assert plain["train_loss"] != whole["train_loss"]           # the devices did act


def test_device_study_ideal_row_follows_the_exact_gradient(tmp_path):
    """tools/study_devices.py: the ideal row's applied update has cosine >= 0.999 to the exact
    step; 64-state devices with nearest rounding do not (most requests are below one step)."""
    import json
    import subprocess
    import sys
    done = subprocess.run([sys.executable, str(ROOT / "tools" / "study_devices.py"), "--no-train",
                           "--batches", "2", "--only", "ideal,quantized", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    rows = {row["name"]: row for row in
            json.loads((tmp_path / "device_study.json").read_text())["rows"]}
    assert rows["ideal"]["cosine"] >= 0.999 and rows["ideal"]["rel_error"] < 1e-2
    assert rows["quantized"]["cosine"] < 0.9
    assert (tmp_path / "device_study.md").exists() and (tmp_path / "device_study.png").exists()


def test_per_node_adc_ranges_pick_the_first_matching_pattern():
    adc = Measurement(adc_bits=3, adc_range=(0.0, 7.0), adc_ranges=(("out*", 0.0, 0.7),))
    names = ["n1_0", "out0", "out1"]
    hw = Hardware(PulsedDevice(), adc, np.full(1, G_MIN), np.full(1, G_MAX),
                  measured=np.array([True, True, False]), node_names=names)
    read = hw.read({"free": np.array([[3.4, 0.34, 0.34]])}, np.random.default_rng(0))["free"]
    np.testing.assert_allclose(read, [[3.0, 0.3, 0.34]], rtol=1e-12)   # out1 is not measured
    spec = parse_spec({"name": "d", "kind": "layered", "layers": [2, 2, 1], "devices": {
        "measurement": {"adc_bits": 8, "adc_range": [-2, 2], "adc_ranges": {"out*": [-1, 1]}}}})
    assert spec.data["devices"]["measurement"]["adc_ranges"] == {"out*": [-1.0, 1.0]}
    with pytest.raises(SpecError, match="lo < hi"):
        parse_spec({"name": "d", "kind": "layered", "layers": [2, 2, 1], "devices": {
            "measurement": {"adc_bits": 8, "adc_range": [-2, 2],
                            "adc_ranges": {"out*": [1, -1]}}}})
