"""The software reference (energy model, exact gradient) against the backends and against EP."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from scipy.integrate import quad

from eqprop_hw.backends import make_backend
from eqprop_hw.backends.native import diode_current, thermal_voltage
from eqprop_hw.circuit.build import build_circuit
from eqprop_hw.learning.ep import ep_gradient
from eqprop_hw.errors import BackendError, CircuitError
from eqprop_hw.learning.check import check_report, finite_difference_gradient
from eqprop_hw.learning.reference import (EnergyModel, diode_cocontent, exact_gradient,
                                          format_report, gradient_agreement, software_ep)
from eqprop_hw.circuit.spec import load_spec, parse_spec

ROOT = Path(__file__).resolve().parents[1]

AMPLIFIED = {"name": "amp", "kind": "layered", "layers": [3, 4, 2], "amplifiers": {"gain": 2.0}}
RECTIFY = {"name": "rect", "kind": "layered", "layers": [3, 4, 2], "inputs": {"gain": 20.0},
           "activation": {"type": "rectify"}}
AMP_RECTIFY = {"name": "amprect", "kind": "layered", "layers": [3, 6, 2],
               "inputs": {"gain": 20.0}, "activation": {"type": "rectify"},
               "amplifiers": {"gain": 2.0}}
DIODE = {"name": "diode", "kind": "layered", "layers": [2, 5, 2], "inputs": {"gain": 20.0}}
LINEAR = {"name": "lin", "kind": "layered", "layers": [3, 5, 2], "activation": {"type": "none"},
          "amplifiers": {"gain": 1.5}}
SMALL = {"amp": AMPLIFIED, "rect": RECTIFY, "amprect": AMP_RECTIFY, "diode": DIODE,
         "linear": LINEAR}


@pytest.fixture(scope="module", autouse=True)
def single_threaded_blas():
    """Small dense solves: threaded BLAS only adds contention on a loaded machine."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield
        return
    with threadpool_limits(1):
        yield


def circuit_of(name):
    if name in SMALL:
        return build_circuit(parse_spec(SMALL[name]))
    return build_circuit(load_spec(ROOT / "circuits" / f"{name}.yaml"))


def batch(circuit, rows=4, seed=1, scale=1.0):
    rng = np.random.default_rng(seed)
    x = scale * rng.normal(size=(rows, len(circuit.inputs)))
    y = rng.uniform(-0.5, 0.5, size=(rows, len(circuit.outputs)))
    return x, y


def typical_g(circuit):
    return float(np.mean(circuit.trainable_values()))


def graph(elements, inputs=(), outputs=(), models=None, trainable=None):
    spec = {"name": "g", "kind": "graph", "elements": list(elements), "inputs": list(inputs),
            "outputs": list(outputs), "models": models or {}}
    if trainable is not None:
        spec["trainable"] = trainable
    return build_circuit(parse_spec(spec))


def conducting(model, voltages, threshold=1e-6):
    """Number of diodes carrying more than ``threshold`` A forward."""
    vd = (model.diode_incidence @ voltages.T).T
    current, _ = diode_current(vd, *model.diode_laws[:2], model.gmin)
    return int(np.sum(current > threshold))


# -- the equilibrium -----------------------------------------------------------------------------
@pytest.mark.parametrize("name,rows,scale,conducts", [
    ("xor", 4, 1.0, True), ("xor", 4, 5.0, True), ("iris", 4, 1.0, False),
    ("iris", 4, 5.0, True), ("digits", 3, 1.0, True), ("amp", 4, 5.0, True),
    ("rect", 4, 1.0, True), ("amprect", 4, 1.0, True), ("diode", 4, 1.0, True),
    ("linear", 4, 1.0, False)])
def test_equilibrium_equals_native(name, rows, scale, conducts):
    circuit = circuit_of(name)
    x, y = batch(circuit, rows, scale=scale)
    model = EnergyModel(circuit)
    native = make_backend("native", circuit)
    assert model.node_names == native.node_names
    beta = 1e-2 * typical_g(circuit)
    for b in (0.0, beta, -beta):
        state = model.solve(x, b, y)
        expected = native.solve(x, b, y).voltages
        assert np.max(np.abs(state.voltages - expected)) <= 1e-9
        # Stationarity of E_beta is KCL: the residual currents vanish.
        residual = model.gradient(state.free, x, b, y)
        assert np.max(np.abs(residual)) <= 1e-12 * max(1.0, np.max(np.abs(expected)))
    if conducts:        # the diode law's exponential branch is exercised, not only gmin
        assert conducting(model, model.equilibrium(x)) > 0


def test_r2r_ladder_is_analytic():
    g = 1e-3
    elements = [{"name": "VIN", "nodes": ["t0", "0"], "dc": 0.0}]
    for k in range(4):
        elements.append({"name": f"RS{k}", "nodes": [f"t{k}", f"t{k + 1}"], "g": g})
        elements.append({"name": f"RP{k}", "nodes": [f"t{k + 1}", "0"], "g": g / 2})
    elements[-1]["g"] = g
    circuit = graph(elements, ["VIN"], ["t1", "t2", "t3", "t4"])
    model = EnergyModel(circuit)
    state = model.solve([[1.6], [-0.4]])
    np.testing.assert_allclose(state.outputs, [[0.8, 0.4, 0.2, 0.1], [-0.2, -0.1, -0.05, -0.025]],
                               rtol=1e-13)


def test_transformer_and_current_source_are_analytic():
    g1, g2, g3, g4, gain, offset, current = 1e-3, 4e-4, 7e-4, 2e-4, 2.5, 0.3, 2e-4
    circuit = graph([
        {"name": "VIN", "nodes": ["in", "0"], "dc": 0.0},
        {"name": "R1", "nodes": ["in", "n"], "g": g1},
        {"name": "R2", "nodes": ["n", "0"], "g": g2},
        {"name": "EA", "nodes": ["ae", "0", "n", "0"], "gain": gain},
        {"name": "VA", "nodes": ["ae", "a"], "dc": offset},
        {"name": "FA", "nodes": ["n", "0"], "control": "VA", "gain": gain},
        {"name": "R3", "nodes": ["a", "0"], "g": g3},
        {"name": "R4", "nodes": ["a", "m"], "g": g4},
        {"name": "IIN", "nodes": ["0", "m"], "dc": current},
    ], ["VIN"], ["n", "a", "m"])
    model = EnergyModel(circuit)
    assert model.free_nodes == ["n", "m"] and len(model.amplifiers) == 1
    vin = 0.9
    # KCL: g1 (n - vin) + g2 n + A I_a = 0 with I_a = g3 a + g4 (a - m) and a = A n - offset;
    # at m: g4 (m - a) = current.
    # => I_a = g3 a - current, so n (g1 + g2 + A^2 g3) = g1 vin + A g3 offset + A current.
    n = (g1 * vin + gain * g3 * offset + gain * current) / (g1 + g2 + gain ** 2 * g3)
    a = gain * n - offset
    m = a + current / g4
    state = model.solve([[vin]])
    np.testing.assert_allclose(state.outputs[0], [n, a, m], rtol=1e-12)
    assert state.voltages[0, model.node_names.index("ae")] == pytest.approx(gain * n, rel=1e-12)
    native = make_backend("native", circuit).solve([[vin]])
    np.testing.assert_allclose(state.voltages, native.voltages, rtol=0, atol=1e-12)


def test_infinite_start_uses_source_stepping():
    # A diode from a 30 V source: E is infinite at z = 0 (exp(30 / Vt) overflows).
    circuit = graph([{"name": "VIN", "nodes": ["in", "0"], "dc": 0.0},
                     {"name": "D1", "nodes": ["in", "m"], "model": "DX"},
                     {"name": "R1", "nodes": ["m", "0"], "g": 1e-3}],
                    ["VIN"], ["m"], {"DX": {"IS": 1e-14, "N": 1.0}})
    model = EnergyModel(circuit)
    assert not np.isfinite(model.energy([[0.0]], [[30.0]])[0])
    got = model.equilibrium([[30.0], [0.2], [-5.0]])
    expected = make_backend("native", circuit).solve([[30.0], [0.2], [-5.0]]).voltages
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9)


def test_set_trainable_tracks_native():
    circuit = circuit_of("rect")
    x, y = batch(circuit)
    model, native = EnergyModel(circuit), make_backend("native", circuit)
    values = np.asarray(circuit.trainable_values()) * np.linspace(0.5, 2.0, len(circuit.trainable))
    model.set_trainable(values)
    native.set_trainable(values)
    np.testing.assert_allclose(model.equilibrium(x), native.solve(x).voltages, atol=1e-9)
    with pytest.raises(CircuitError, match="positive"):
        model.set_values({circuit.trainable[0]: -1e-3})


# -- the energy and its derivatives ----------------------------------------------------------------
def test_diode_cocontent_integrates_ngspice_law():
    vt = thermal_voltage()
    saturation, vte, gmin = 3e-14, 1.4 * vt, 1e-12
    v = np.array([-2.0, -0.5, -3 * vte - 1e-9, -3 * vte, -3 * vte + 1e-9, -0.01, 0.0, 0.3, 0.75])
    phi = diode_cocontent(v, saturation, vte, gmin)
    for vk, pk in zip(v, phi):
        integral, _ = quad(lambda u: float(diode_current(np.array(u), saturation, vte, gmin)[0]),
                           0.0, vk, epsabs=0, epsrel=1e-12, points=[-3 * vte] if vk < -3 * vte
                           else None, limit=200)
        assert pk == pytest.approx(integral, rel=1e-9, abs=1e-30)
    h = 1e-7
    numeric = (diode_cocontent(v + h, saturation, vte, gmin) -
               diode_cocontent(v - h, saturation, vte, gmin)) / (2 * h)
    np.testing.assert_allclose(numeric, diode_current(v, saturation, vte, gmin)[0],
                               rtol=1e-6, atol=1e-20)
    assert diode_cocontent(np.array(0.0), saturation, vte, gmin) == 0.0


def test_gradient_and_hessian_are_derivatives_of_the_energy():
    circuit = circuit_of("amprect")
    x, y = batch(circuit, rows=2)
    model = EnergyModel(circuit)
    beta = 1e-2 * typical_g(circuit)
    z = model.solve(x, beta, y).free + np.random.default_rng(3).normal(0, 0.03, (2, model.n_free))
    vd = (model.diode_incidence @ model.voltages(z, x).T).T
    assert np.any(vd < -3 * model.vt) and np.any(vd > 0.45)    # both diode branches in play
    grad, hess = model.gradient(z, x, beta, y), model.hessian(z, x, beta, y)
    h = 1e-5
    for k in range(model.n_free):
        step = np.zeros_like(z)
        step[:, k] = h
        numeric = (model.energy(z + step, x, beta, y) - model.energy(z - step, x, beta, y)) / (2 * h)
        np.testing.assert_allclose(numeric, grad[:, k], rtol=1e-5, atol=1e-9 * np.abs(grad).max())
        column = (model.gradient(z + step, x, beta, y) - model.gradient(z - step, x, beta, y)) / (2 * h)
        np.testing.assert_allclose(column, hess[:, :, k], rtol=1e-5,
                                   atol=1e-7 * np.abs(hess).max())
    np.testing.assert_allclose(hess, np.swapaxes(hess, 1, 2), rtol=1e-12, atol=0)


# -- exact gradient, EP, finite differences --------------------------------------------------------
@pytest.mark.parametrize("name", ["rect", "amprect", "diode", "linear"])
def test_exact_gradient_matches_native_finite_differences(name):
    circuit = circuit_of(name)
    x, y = batch(circuit)
    model = EnergyModel(circuit)
    if name != "linear":
        assert conducting(model, model.equilibrium(x)) >= 2
    loss, exact = exact_gradient(model, x, y)
    native = make_backend("native", circuit)
    assert loss == pytest.approx(float(np.mean(0.5 * np.sum((native.solve(x).outputs - y) ** 2,
                                                            axis=1))), rel=1e-12)
    fd = finite_difference_gradient(circuit, x, y, native, step=1e-4)
    agreement = gradient_agreement(fd, exact)
    assert agreement["rel_error"] < 1e-5, agreement
    np.testing.assert_allclose(native.circuit.trainable_values(), circuit.trainable_values())


@pytest.mark.parametrize("name", ["xor", "iris", "rect", "amprect", "diode"])
def test_centered_ep_on_native_matches_exact(name):
    circuit = circuit_of(name)
    x, y = batch(circuit, scale=1.0)
    _, exact = exact_gradient(circuit, x, y)
    ep, _ = ep_gradient(make_backend("native", circuit), x, y, 1e-3 * typical_g(circuit),
                        "centered")
    agreement = gradient_agreement(ep, exact)
    assert agreement["cosine"] >= 0.9999 and agreement["rel_error"] <= 1e-3, agreement


def test_ep_bias_is_order_beta_one_sided_and_beta_squared_centered():
    circuit = circuit_of("diode")
    x, y = batch(circuit)
    _, exact = exact_gradient(circuit, x, y)
    native = make_backend("native", circuit)
    betas = typical_g(circuit) * np.array([0.1, 0.05, 0.025, 0.0125])
    slopes = {}
    for nudge in ("positive", "negative", "centered"):
        errors = [gradient_agreement(ep_gradient(native, x, y, b, nudge)[0], exact)["rel_error"]
                  for b in betas]
        slopes[nudge] = np.polyfit(np.log(betas), np.log(errors), 1)[0]
    assert 0.9 < slopes["positive"] < 1.1, slopes
    assert 0.9 < slopes["negative"] < 1.1, slopes
    assert 1.8 < slopes["centered"] < 2.2, slopes


@pytest.mark.parametrize("name", ["rect", "amprect", "iris"])
@pytest.mark.parametrize("nudge", ["positive", "negative", "centered"])
def test_software_ep_equals_native_ep(name, nudge):
    circuit = circuit_of(name)
    x, y = batch(circuit)
    beta = 1e-3 * typical_g(circuit)
    soft = software_ep(circuit, x, y, beta, nudge)
    native, _ = ep_gradient(make_backend("native", circuit), x, y, beta, nudge)
    assert np.linalg.norm(soft - native) <= 1e-8 * np.linalg.norm(native)


def test_gradient_agreement():
    out = gradient_agreement([1.0, 2.0, 2.0], [1.0, 2.0, 2.0])
    assert out == {"cosine": pytest.approx(1.0), "rel_error": 0.0, "norm_ratio": 1.0}
    out = gradient_agreement([0.0, 2.0], [1.0, 0.0])
    assert out["cosine"] == 0.0 and out["rel_error"] == pytest.approx(math.sqrt(5))
    assert math.isnan(gradient_agreement([1.0], [0.0])["rel_error"])
    with pytest.raises(CircuitError):
        gradient_agreement([1.0, 2.0], [1.0])


def test_check_report_native_only():
    circuit = circuit_of("rect")
    x, y = batch(circuit)
    rows = check_report(circuit, x, y, 1e-3 * typical_g(circuit), backends=("native",),
                        fd_count=5, fd_step=1e-4)
    names = [row["name"] for row in rows]
    assert names == ["exact", "ep native", "ep software", "fd native"]
    for row in rows[1:]:
        assert row["cosine"] > 0.9999 and row["rel_error"] < 1e-3, row
    assert rows[-1]["elements"] == 5 and len(rows[-1]["subset"]) == 5
    assert "ep software" in format_report(rows)


# -- refusals ---------------------------------------------------------------------------------------
BASE = [{"name": "VIN", "nodes": ["in", "0"], "dc": 0.0},
        {"name": "R1", "nodes": ["in", "m"], "g": 1e-3},
        {"name": "R2", "nodes": ["m", "0"], "g": 1e-3}]


@pytest.mark.parametrize("extra,message", [
    ([{"name": "B1", "nodes": ["m", "0"], "expr": "I=1e-3*tanh(v(m))"}], r"B1: behavioural"),
    ([{"name": "G1", "nodes": ["m", "0", "in", "0"], "gain": 1e-4}], r"G1: a VCCS"),
    ([{"name": "E1", "nodes": ["buf", "0", "m", "0"], "gain": 1.0},
      {"name": "R3", "nodes": ["buf", "0"], "g": 1e-3}], r"E1: a voltage-controlled"),
    ([{"name": "VS", "nodes": ["m", "k"], "dc": 0.0},
      {"name": "R3", "nodes": ["k", "0"], "g": 1e-3},
      {"name": "F1", "nodes": ["m", "0"], "control": "VS", "gain": 2.0}], r"F1: a CCCS"),
    ([{"name": "H1", "nodes": ["h", "0"], "control": "VIN", "gain": 10.0},
      {"name": "R3", "nodes": ["h", "0"], "g": 1e-3}], r"H1: a CCVS"),
    ([{"name": "EA", "nodes": ["ae", "0", "m", "0"], "gain": 2.0},
      {"name": "VA", "nodes": ["ae", "a"], "dc": 0.0},
      {"name": "FA", "nodes": ["m", "0"], "control": "VA", "gain": 3.0},
      {"name": "R3", "nodes": ["a", "0"], "g": 1e-3}], r"EA: E with voltage source VA does not"),
    ([{"name": "VF", "nodes": ["m", "k"], "dc": 0.1},
      {"name": "R3", "nodes": ["k", "0"], "g": 1e-3}], r"VF: a floating voltage source"),
    ([{"name": "L1", "nodes": ["m", "0"], "l": 1e-3}], r"L1: inductors"),
], ids=["B", "G", "E-buffer", "F", "H", "bad-transformer", "floating-V", "L"])
def test_refuses_non_energy_based_circuits(extra, message):
    circuit = graph(BASE + extra, ["VIN"], ["m"])
    with pytest.raises(CircuitError, match=message) as error:
        EnergyModel(circuit)
    assert "energy" in str(error.value)
    with pytest.raises(CircuitError):
        exact_gradient(circuit, [[0.5]], [[0.1]])


def series_resistance_circuit():
    """A diode with RS = 2 kOhm (area 2) whose drop across RS is a sizeable part of the total."""
    elements = BASE + [{"name": "D1", "nodes": ["m", "k"], "model": "DRS", "area": 2.0},
                       {"name": "R3", "nodes": ["k", "0"], "g": 2e-3}]
    return graph(elements, ["VIN"], ["m", "k"], {"DRS": {"IS": 1e-12, "N": 1.5, "RS": 2000.0}},
                 trainable=["R1", "R2", "R3"])


def test_series_resistance_matches_both_backends():
    """RS as an internal node + conductance area/RS gives ngspice's and native's voltages."""
    circuit = series_resistance_circuit()
    x = np.array([[0.4], [1.5], [3.0], [-2.0]])
    model = EnergyModel(circuit)
    assert model.node_names[-1] == "d1_rs"
    reference = model.solve(x).voltages[:, :-1]
    for backend in ("native", "ngspice"):
        with make_backend(backend, circuit) as engine:
            solved = engine.solve(x)
            assert engine.node_names == model.node_names[:-1]
            assert np.max(np.abs(solved.voltages - reference)) < 1e-9
    # The drop across RS is not negligible at 3 V input (so the expansion is exercised).
    full = model.solve(x).voltages
    rs_drop = full[:, model.node_names.index("m")] - full[:, -1]
    assert rs_drop[2] > 0.05


def test_series_resistance_gradient_matches_finite_differences_through_ngspice():
    circuit = series_resistance_circuit()
    x, y = np.array([[1.5], [3.0]]), np.array([[0.8, 0.2], [1.2, 0.6]])
    _, exact = exact_gradient(circuit, x, y)
    fd = finite_difference_gradient(circuit, x, y, backend="ngspice")
    agreement = gradient_agreement(fd, exact)
    assert agreement["cosine"] > 0.99999 and agreement["rel_error"] < 1e-5


def test_refuses_bundled_graph_with_vcvs_buffer():
    with pytest.raises(CircuitError, match="E1"):
        EnergyModel(circuit_of("graph_bridge"))


def test_capacitors_are_dc_opens():
    circuit = graph(BASE + [{"name": "C1", "nodes": ["m", "0"], "c": 1e-9}], ["VIN"], ["m"],
                    trainable=["R1", "C1"])
    loss, grad = exact_gradient(circuit, [[1.0]], [[0.2]])
    assert loss == pytest.approx(0.5 * 0.3 ** 2, rel=1e-12)
    # V_m = g1 / (g1 + g2) vin: dL/dg1 = (V_m - y) g2 vin / (g1 + g2)^2
    assert grad[0] == pytest.approx(0.3 * 1e-3 / 4e-6, rel=1e-12) and grad[1] == 0.0


# -- ngspice ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ngspice():
    from eqprop_hw.backends.ngspice import NgspiceSession
    try:
        return NgspiceSession.get()
    except BackendError as error:
        pytest.skip(str(error))


XOR_X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
XOR_Y = np.array([[-0.1], [0.1], [0.1], [-0.1]])


def example_batch(name):
    circuit = circuit_of(name)
    if name == "xor":
        return circuit, XOR_X, XOR_Y
    x, y = batch(circuit, rows=6)
    return circuit, x, y


@pytest.mark.ngspice
@pytest.mark.parametrize("name", ["xor", "iris", "rect", "amprect"])
def test_ep_from_ngspice_measurements_matches_exact(ngspice, name):
    circuit, x, y = example_batch(name)
    beta = 1e-3 * typical_g(circuit)
    _, exact = exact_gradient(circuit, x, y)
    with make_backend("ngspice", circuit) as backend:
        measured, _ = ep_gradient(backend, x, y, beta, "centered")
    agreement = gradient_agreement(measured, exact)
    assert agreement["cosine"] >= 0.999 and agreement["rel_error"] <= 1e-2, agreement
    native, _ = ep_gradient(make_backend("native", circuit), x, y, beta, "centered")
    assert np.linalg.norm(measured - native) <= 1e-6 * np.linalg.norm(native)


@pytest.mark.ngspice
@pytest.mark.parametrize("name", ["xor", "rect"])
def test_exact_gradient_matches_ngspice_finite_differences(ngspice, name):
    circuit, x, y = example_batch(name)
    _, exact = exact_gradient(circuit, x, y)
    top = sorted(np.argsort(-np.abs(exact))[:6])
    subset = [circuit.trainable[k] for k in top]
    fd = finite_difference_gradient(circuit, x, y, "ngspice", step=1e-4, elements=subset)
    agreement = gradient_agreement(fd, exact[top])
    assert agreement["rel_error"] < 1e-5, agreement


@pytest.mark.ngspice
def test_check_report_with_ngspice(ngspice):
    circuit, x, y = example_batch("iris")
    rows = check_report(circuit, x, y, 1e-3 * typical_g(circuit), fd_count=4)
    by_name = {row["name"]: row for row in rows}
    assert list(by_name) == ["exact", "ep ngspice", "ep native", "ep software", "fd native",
                             "fd ngspice", "ep ngspice vs ep native"]
    for name in ("ep ngspice", "ep native", "ep software", "fd native", "fd ngspice"):
        assert by_name[name]["cosine"] >= 0.999 and by_name[name]["rel_error"] <= 1e-2
    assert by_name["ep ngspice vs ep native"]["against"] == "ep native"
    assert by_name["ep ngspice vs ep native"]["rel_error"] < 1e-6


@pytest.mark.ngspice
def test_exact_gradient_matches_finite_differences_through_ngspice_with_wires():
    from eqprop_hw.learning.check import finite_difference_gradient
    from eqprop_hw.learning.reference import exact_gradient, gradient_agreement
    spec = parse_spec({"name": "wired", "kind": "layered", "layers": [3, 4, 2],
                       "inputs": {"gain": 5.0}, "activation": {"type": "rectify"},
                       "wires": {"row_conductance": 0.5, "column_conductance": 0.5}})
    circuit = build_circuit(spec)
    x, y = np.array([[0.3, 0.9, 0.1], [0.8, 0.2, 0.5]]), np.array([[1.0, 0.0], [0.0, 1.0]])
    _, exact = exact_gradient(circuit, x, y)
    subset = circuit.trainable[::5]
    positions = [circuit.trainable.index(name) for name in subset]
    fd = finite_difference_gradient(circuit, x, y, backend="ngspice", elements=subset)
    agreement = gradient_agreement(fd, exact[positions])
    assert agreement["cosine"] > 0.99999 and agreement["rel_error"] < 1e-5
