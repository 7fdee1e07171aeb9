"""Native backend against analytic solutions and against raw ``ngspice -b`` on exported netlists."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import brentq

from eqprop_hw.backends.native import NativeBackend, diode_current, thermal_voltage
from eqprop_hw.circuit.build import build_circuit, build_graph
from eqprop_hw.errors import BackendError, CircuitError, ConvergenceError
from eqprop_hw.circuit.netlist import write_netlist
from eqprop_hw.circuit.spec import load_spec, parse_spec
from randomcircuits import random_circuit

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted(p.stem for p in (ROOT / "circuits").glob("*.yaml"))
needs_ngspice = pytest.mark.skipif(shutil.which("ngspice") is None, reason="ngspice not installed")


def graph(elements, inputs=(), outputs=(), models=None):
    return build_circuit(parse_spec({"name": "t", "kind": "graph", "elements": list(elements),
                                     "inputs": list(inputs), "outputs": list(outputs),
                                     "models": models or {}}))


def raw_ngspice_voltages(netlist: str) -> dict:
    """Node voltages (V) from an independent ``ngspice -b -r`` run of a netlist."""
    from eqprop_hw.backends.ngspice import run_ngspice_batch
    vectors = run_ngspice_batch(netlist)
    return {name[2:-1]: float(np.ravel(value)[0]) for name, value in vectors.items()
            if name.startswith("v(")}


# -- analytic -----------------------------------------------------------------------------
def test_divider_is_exact():
    c = graph([{"name": "VIN", "nodes": ["in", "0"], "dc": 0.0},
               {"name": "R1", "nodes": ["in", "mid"], "g": 1e-3},
               {"name": "R2", "nodes": ["mid", "0"], "g": 3e-3}], ["VIN"], ["mid"])
    result = NativeBackend(c).solve([[2.0], [-1.0]])
    np.testing.assert_allclose(result.outputs[:, 0], [2.0 * 1 / 4, -1.0 / 4], rtol=0, atol=1e-15)


def test_diode_with_current_source_matches_scalar_root():
    vt = thermal_voltage()
    c = graph([{"name": "IIN", "nodes": ["0", "a"], "dc": 0.0},
               {"name": "D1", "nodes": ["a", "0"], "model": "DX"}], ["IIN"], ["a"],
              {"DX": {"IS": 2e-14, "N": 1.3}})
    currents = [1e-6, 1e-3, -1e-15]
    result = NativeBackend(c).solve(np.array(currents)[:, None])
    for current, v in zip(currents, result.outputs[:, 0]):
        expected = brentq(lambda x: float(diode_current(np.array(x), 2e-14, 1.3 * vt, 1e-12)[0])
                          - current, -5, 2, xtol=1e-15)
        assert abs(v - expected) < 1e-12


def test_diode_law_is_ngspice_law():
    vt = thermal_voltage()
    assert vt == pytest.approx(0.025864917007157463, rel=1e-15)  # measured from ngspice 39
    v = np.array([0.6, -3 * vt, -1.0])
    current, conductance = diode_current(v, 1e-14, vt, 1e-12)
    assert current[0] == pytest.approx(1e-14 * math.expm1(0.6 / vt) + 1e-12 * 0.6, rel=1e-12)
    assert current[2] == pytest.approx(-1e-14 * (1 + (3 * vt / (-math.e)) ** 3) - 1e-12, rel=1e-12)
    h = 1e-7
    numeric = (diode_current(v + h, 1e-14, vt, 1e-12)[0] - diode_current(v - h, 1e-14, vt, 1e-12)[0]) / (2 * h)
    np.testing.assert_allclose(conductance, numeric, rtol=1e-5)


def test_ladder_network_analytic():
    # Infinite-ladder style: R-2R ladder with 4 rungs gives V_k = V_in / 2^k at the taps.
    g = 1e-3
    elements = [{"name": "VIN", "nodes": ["t0", "0"], "dc": 0.0}]
    for k in range(4):
        elements.append({"name": f"RS{k}", "nodes": [f"t{k}", f"t{k + 1}"], "g": g})
        elements.append({"name": f"RP{k}", "nodes": [f"t{k + 1}", "0"], "g": g / 2})
    elements[-1]["g"] = g  # last shunt is R (not 2R) so every tap sees 2R to ground
    c = graph(elements, ["VIN"], ["t1", "t2", "t3", "t4"])
    out = NativeBackend(c).solve([[1.6]]).outputs[0]
    np.testing.assert_allclose(out, [0.8, 0.4, 0.2, 0.1], rtol=1e-13)


def test_bidirectional_amplifier_is_an_ideal_transformer():
    spec = parse_spec({"name": "amp", "kind": "layered", "layers": [2, 3, 2],
                       "amplifiers": {"gain": 3.0}, "activation": {"type": "none"}})
    c = build_circuit(spec)
    result = NativeBackend(c).solve([[0.7, -0.2]])
    v = result.voltage_dict()
    for j in range(3):
        assert v[f"ae1_{j}"] == pytest.approx(3.0 * v[f"n1_{j}"], rel=1e-12)
    # KCL at a hidden node: crossbar current in = A * current delivered to the next layer.
    for j in range(3):
        current_in = sum(c.element(f"RL1_{i}_{j}").value * (v[row] - v[f"n1_{j}"])
                         for i, row in enumerate(c.crossbars[0]["rows"]))
        delivered = sum(c.element(f"RL2_{j}_{k}").value * (v[f"a1_{j}"] - v[f"out{k}"])
                        for k in range(2))
        assert current_in == pytest.approx(3.0 * delivered, rel=1e-9)


def test_nudge_is_a_conductance_to_the_target():
    c = graph([{"name": "VIN", "nodes": ["in", "0"], "dc": 0.0},
               {"name": "R1", "nodes": ["in", "out"], "g": 1e-3},
               {"name": "R2", "nodes": ["out", "0"], "g": 1e-3}], ["VIN"], ["out"])
    beta, target = 5e-4, 0.9
    out = NativeBackend(c).solve([[1.0]], beta, [[target]]).outputs[0, 0]
    assert out == pytest.approx((1e-3 * 1.0 + beta * target) / (2e-3 + beta), rel=1e-14)


# -- batch, sparse, updates, errors ---------------------------------------------------------
def test_batch_equals_one_by_one_and_sparse_equals_dense():
    c = build_circuit(load_spec(ROOT / "circuits" / "iris.yaml"))
    x = np.random.default_rng(0).uniform(-2, 2, (7, 4))
    dense = NativeBackend(c)
    sparse = NativeBackend(c, dense_limit=0)
    batch = dense.solve(x, 1e-4, np.full((7, 3), 0.1)).voltages
    for row in range(7):
        single = dense.solve(x[row], 1e-4, [0.1] * 3).voltages[0]
        np.testing.assert_allclose(single, batch[row], rtol=0, atol=1e-12)
    np.testing.assert_allclose(sparse.solve(x, 1e-4, np.full((7, 3), 0.1)).voltages, batch,
                               rtol=0, atol=1e-12)


def test_set_values_equals_rebuild():
    spec = load_spec(ROOT / "circuits" / "xor.yaml")
    c = build_circuit(spec)
    new = {name: 2e-5 + 1e-6 * k for k, name in enumerate(c.trainable)}
    backend = NativeBackend(c)
    backend.set_values(new)
    rebuilt = NativeBackend(build_circuit(spec, params=new))
    x = [[1.0, 0.0], [0.0, 1.0]]
    np.testing.assert_array_equal(backend.solve(x).voltages, rebuilt.solve(x).voltages)


def test_warm_start_gives_the_same_answer():
    c = build_circuit(load_spec(ROOT / "circuits" / "graph_bridge.yaml"))
    backend = NativeBackend(c)
    free = backend.solve([[0.9, -0.4]])
    nudged_cold = backend.solve([[0.9, -0.4]], 1e-4, [[0.0, 0.1]])
    nudged_warm = backend.solve([[0.9, -0.4]], 1e-4, [[0.0, 0.1]], initial=free.unknowns)
    np.testing.assert_allclose(nudged_warm.voltages, nudged_cold.voltages, rtol=0, atol=1e-12)


def test_bad_inputs_are_refused():
    c = build_circuit(load_spec(ROOT / "circuits" / "xor.yaml"))
    backend = NativeBackend(c)
    with pytest.raises(CircuitError, match="expected 2 input values"):
        backend.solve([[1.0, 2.0, 3.0]])
    with pytest.raises(CircuitError, match="finite"):
        backend.solve([[float("nan"), 0.0]])
    with pytest.raises(CircuitError, match="needs targets"):
        backend.solve([[0.0, 0.0]], beta=1e-3)


def test_behavioural_sources_need_ngspice():
    c = graph([{"name": "VIN", "nodes": ["in", "0"], "dc": 1.0},
               {"name": "R1", "nodes": ["in", "0"], "g": 1e-3},
               {"name": "B1", "nodes": ["in", "0"], "expr": "I=1e-3*v(in)"}])
    with pytest.raises(BackendError, match="B1"):
        NativeBackend(c)


def test_voltage_source_loop_is_refused_at_build():
    with pytest.raises(CircuitError, match="V3 closes a loop"):
        graph([{"name": "V1", "nodes": ["a", "0"], "dc": 1.0},
               {"name": "V2", "nodes": ["a", "b"], "dc": 1.0},
               {"name": "V3", "nodes": ["b", "0"], "dc": 1.0},
               {"name": "R1", "nodes": ["a", "b"], "g": 1e-3}])


def test_singular_circuit_is_a_clear_error():
    # A VCCS of gain -g across a conductance g cancels it: no unique operating point.
    # The circuit is refused when built (eqprop_hw.circuit.graph.check_dc_matrix); the native solver
    # given it unvalidated still fails with a clear singular-matrix error.
    spec = parse_spec({"name": "t", "kind": "graph", "elements": [
        {"name": "I1", "nodes": ["0", "a"], "dc": 1e-3},
        {"name": "R1", "nodes": ["a", "0"], "g": 1e-3},
        {"name": "G1", "nodes": ["a", "0", "a", "0"], "gain": -1e-3}]})
    with pytest.raises(CircuitError, match="G1 cancel a conductance"):
        build_circuit(spec)
    with pytest.raises(ConvergenceError, match="singular"):
        NativeBackend(build_graph(spec)).solve(np.zeros((1, 0)))


# -- against raw ngspice ------------------------------------------------------------------
@needs_ngspice
@pytest.mark.ngspice
@pytest.mark.parametrize("example", [e for e in EXAMPLES if e != "mnist_size"])
@pytest.mark.parametrize("beta", [0.0, 1e-4, -1e-4])
def test_native_matches_raw_ngspice_on_examples(example, beta):
    c = build_circuit(load_spec(ROOT / "circuits" / f"{example}.yaml"))
    rng = np.random.default_rng(len(example))
    x = rng.uniform(-1.5, 1.5, len(c.inputs))
    y = rng.uniform(-0.3, 0.3, len(c.outputs))
    result = NativeBackend(c).solve(x, beta, y)
    reference = raw_ngspice_voltages(write_netlist(c, inputs=x, beta=beta or None,
                                                   targets=list(y) if beta else None))
    errors = [abs(v - reference[node]) for node, v in result.voltage_dict().items()]
    assert max(errors) <= 1e-6


@needs_ngspice
@pytest.mark.ngspice
def test_native_matches_raw_ngspice_on_mnist_size():
    c = build_circuit(load_spec(ROOT / "circuits" / "mnist_size.yaml"))
    x = np.random.default_rng(3).uniform(0, 1, len(c.inputs))
    result = NativeBackend(c).solve(x)
    reference = raw_ngspice_voltages(write_netlist(c, inputs=x))
    assert max(abs(v - reference[node]) for node, v in result.voltage_dict().items()) <= 1e-6


@needs_ngspice
@pytest.mark.ngspice
@settings(max_examples=100, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31 - 1))
def test_native_matches_raw_ngspice_on_random_graphs(seed):
    c = random_circuit(seed)
    x = np.random.default_rng(seed).uniform(-2, 2, len(c.inputs))
    result = NativeBackend(c).solve(x)
    reference = raw_ngspice_voltages(write_netlist(c, inputs=x))
    errors = {node: abs(v - reference[node]) for node, v in result.voltage_dict().items()}
    worst = max(errors, key=errors.get)
    assert errors[worst] <= 1e-6, f"node {worst} differs by {errors[worst]:.3g} V"


@needs_ngspice
@pytest.mark.ngspice
def test_deep_amplified_network_converges_and_matches_raw_ngspice():
    # Regression: element-wise relative step tests cycled on round-off here (nodes near 0 V
    # beside nodes at tens of volts) and Newton gave up after 200 iterations.
    spec = parse_spec({"name": "deep", "kind": "layered", "layers": [3, 6, 4, 2],
                       "inputs": {"gain": 20.0}, "activation": {"type": "rectify"},
                       "amplifiers": {"gain": 3.0}})
    c = build_circuit(spec)
    c = c.with_values({"RL1_0_0": c.element("RL1_0_0").value * 1.01})
    x = np.random.default_rng(0).uniform(-1, 1, (4, 3))
    result = NativeBackend(c).solve(x)
    assert result.converged.all() and result.iterations.max() < 50
    reference = raw_ngspice_voltages(write_netlist(c, inputs=x[0]))
    assert max(abs(v - reference[n]) for n, v in result.voltage_dict(0).items()) <= 1e-6


WIRED = {"name": "wired", "kind": "layered", "layers": [3, 4, 2], "inputs": {"gain": 5.0},
         "activation": {"type": "rectify"},
         "wires": {"row_conductance": 0.5, "column_conductance": 0.25}}


def test_wire_segments_form_row_and_column_wires():
    c = build_circuit(parse_spec(WIRED))
    rows = 3 * 2 + 2
    assert c.element("RL1_2_1").nodes == ("w1r2_1", "w1c2_1")
    assert c.element("RWR1_2_0").nodes == ("x1p", "w1r2_0")        # from the row's driver
    assert c.element("RWR1_2_1").nodes == ("w1r2_0", "w1r2_1")
    assert c.element("RWC1_2_1").nodes == ("w1c2_1", "w1c3_1")
    assert c.element(f"RWC1_{rows - 1}_1").nodes == (f"w1c{rows - 1}_1", "n1_1")   # to the column
    assert c.element("RWR1_0_0").value == 0.5 and c.element("RWC1_0_0").value == 0.25
    assert not any(name.startswith("RW") for name in c.trainable)


@needs_ngspice
@pytest.mark.ngspice
def test_native_matches_raw_ngspice_with_wire_resistance():
    c = build_circuit(parse_spec(WIRED))
    x = np.array([0.3, 0.9, 0.1])
    result = NativeBackend(c).solve(x, 1e-6, [1.0, 0.0])
    reference = raw_ngspice_voltages(write_netlist(c, inputs=x, beta=1e-6, targets=[1.0, 0.0]))
    assert max(abs(v - reference[n]) for n, v in result.voltage_dict().items()) <= 1e-6
    # The wires matter: without them the outputs differ by far more than the tolerance.
    plain = build_circuit(parse_spec({k: v for k, v in WIRED.items() if k != "wires"}))
    unwired = NativeBackend(plain).solve(x, 1e-6, [1.0, 0.0]).outputs
    assert np.max(np.abs(unwired - result.outputs)) > 1e-5


# -- Kron reduction of the fixed linear part (large sparse circuits) -------------------------
def _reduced_backend(circuit, **options):
    """A native backend forced onto the Kron-reduced sparse path."""
    dense = NativeBackend(circuit, **options)
    reduced = NativeBackend(circuit, dense_limit=dense.n_unknown - 1, **options)
    split = reduced._reduction()
    assert not reduced._dense and split is not None and len(split[1]) > 0
    return dense, reduced


@pytest.mark.parametrize("loss", ["squared", "cross_entropy"])
def test_kron_reduced_path_equals_dense_path_on_a_wired_crossbar(loss):
    c = build_circuit(parse_spec(WIRED))
    dense, reduced = _reduced_backend(c, loss=loss)
    assert len(reduced._reduction()[0]) == 6          # 4 hidden (diodes) + 2 outputs (nudge)
    x = np.random.default_rng(5).uniform(0, 1, (6, 3))
    targets = np.tile([1.0, 0.0], (6, 1))
    beta = 1e-6 if loss == "squared" else 1e-8
    for signed in (0.0, beta, -beta):
        expected = dense.solve(x, signed, targets).voltages
        got = reduced.solve(x, signed, targets).voltages
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9)
    # New conductances refactor the eliminated block.
    values = np.array(c.trainable_values()) * np.linspace(0.5, 2.0, len(c.trainable))
    dense.set_trainable(values), reduced.set_trainable(values)
    np.testing.assert_allclose(reduced.solve(x, beta, targets).voltages,
                               dense.solve(x, beta, targets).voltages, rtol=0, atol=1e-9)


@pytest.mark.parametrize("seed", range(12))
def test_kron_reduced_path_equals_dense_path_on_random_graphs(seed):
    c = random_circuit(seed)
    dense = NativeBackend(c)
    split_probe = NativeBackend(c, dense_limit=0)
    n_fixed = dense.n_unknown - int(np.sum(~split_probe._voltage_unknowns))
    if dense.n_unknown < 2 or n_fixed < 1:
        pytest.skip("no linear-only node to eliminate")
    reduced = NativeBackend(c, dense_limit=dense.n_unknown - 1)
    if reduced._reduction() is None:
        pytest.skip("every unknown touches a diode or a branch")
    x = np.random.default_rng(seed).uniform(-2, 2, (3, len(c.inputs)))
    np.testing.assert_allclose(reduced.solve(x).voltages, dense.solve(x).voltages,
                               rtol=0, atol=1e-9)


def test_wired_crossbar_chooses_the_kron_path_and_matches_dense_lu(monkeypatch):
    import eqprop_hw.backends.native.elimination as native
    spec = parse_spec({**WIRED, "layers": [4, 16, 3]})
    c = build_circuit(spec)
    automatic = NativeBackend(c)
    assert automatic.n_unknown >= native.KRON_MIN_UNKNOWNS and not automatic._dense
    monkeypatch.setattr(native, "KRON_MIN_UNKNOWNS", 10 ** 9)
    dense = NativeBackend(c)
    assert dense._dense
    x = np.random.default_rng(2).uniform(-1, 1, (5, 4))
    targets = np.tile([1.0, 0.0, 0.0], (5, 1))
    for beta in (0.0, 2e-6, -2e-6):
        np.testing.assert_allclose(automatic.solve(x, beta, targets).voltages,
                                   dense.solve(x, beta, targets).voltages, rtol=0, atol=1e-9)


# -- the fused elementwise work and the threaded batch (docs/performance.md, FLOP section) ----
def test_diode_companion_and_limiting_are_the_reference_formulas_to_the_bit():
    from eqprop_hw.backends.native import newton as native
    backend = NativeBackend(build_circuit(load_spec(ROOT / "circuits" / "iris.yaml")))
    rng = np.random.default_rng(3)
    n = len(backend._diodes)
    vd = rng.uniform(-1.0, 0.9, (37, n))          # forward, reverse (< -3 Vte) and mixed rows
    vd[0] = 0.3
    vd_pinned = rng.uniform(-0.5, 0.5, (37, n))
    current, conductance = diode_current(vd, backend._saturation, backend._vte, backend.gmin)
    g, rhs = backend._diode_companion(vd, vd_pinned)
    np.testing.assert_array_equal(g, conductance)
    np.testing.assert_array_equal(rhs, current - conductance * vd + conductance * vd_pinned)
    v_old = vd + rng.normal(0.0, 0.2, vd.shape)
    v_old[1] = vd[1]                               # a row nothing limits
    expected, limited = native.pnjlim(vd, v_old, backend._vte, backend._vcrit)
    v_new = vd.copy()
    rows = native.limit_junctions(v_new, v_old, backend._vte, backend._vcrit)
    np.testing.assert_array_equal(v_new, expected)
    np.testing.assert_array_equal(rows, limited.any(axis=1))
    assert rows.any() and not rows[1]


@pytest.mark.parametrize("form", ["csr", "csc"])
def test_batch_map_is_the_sparse_product_to_the_bit(form):
    import scipy.sparse as sp
    from eqprop_hw.backends.native.assembly import BatchMap
    rng = np.random.default_rng(4)
    matrix = sp.random(30, 50, density=0.05, random_state=5, format=form)
    matrix = matrix + sp.eye(30, 50, format=form) * 0.5       # rows of 0 to several entries
    x = rng.normal(size=(9, 50))
    mapped = BatchMap.build(matrix, max_terms=10)
    np.testing.assert_array_equal(mapped(x), (matrix @ x.T).T)
    assert BatchMap.build(sp.csr_matrix(np.ones((2, 6))), max_terms=4) is None


def test_threaded_batch_and_fallbacks_give_the_same_voltages(monkeypatch):
    """The chunks of a batch on one or two threads, with no BLAS thread control, and the
    sparse source products instead of the gathers: the same numbers to the bit (the chunks
    depend on the batch size only)."""
    from eqprop_hw.backends.native import chunks as native
    spec = parse_spec({"name": "t", "kind": "layered", "layers": [20, 12, 3],
                       "inputs": {"doubling": True, "gain": 1.0, "bias": 1.0},
                       "activation": {"type": "diode", "model": {"IS": 1e-14, "N": 1.0}}})
    c = build_circuit(spec)
    rng = np.random.default_rng(6)
    x = rng.uniform(-1.0, 1.0, (2 * native.CHUNK_ROWS + 7, len(c.inputs)))
    y = rng.uniform(0.0, 1.0, (x.shape[0], len(c.outputs)))
    backend = NativeBackend(c)
    assert backend._pin_gather is not None
    backend.threads = 1
    reference = [r.voltages for r in backend.solve_phases(x, y, [0.0, 1e-6, -1e-6])]
    backend.threads = 2
    for got, want in zip(backend.solve_phases(x, y, [0.0, 1e-6, -1e-6]), reference):
        np.testing.assert_array_equal(got.voltages, want)
    monkeypatch.setattr(native, "_BLAS_CONTROLLER", [None])   # no threadpoolctl
    backend.threads = None
    plain = NativeBackend(c)
    plain._pin_gather = None
    for solver in (backend, plain):
        for got, want in zip(solver.solve_phases(x, y, [0.0, 1e-6, -1e-6]), reference):
            np.testing.assert_array_equal(got.voltages, want)


def test_threaded_slices_cover_cross_entropy_warm_starts_and_error_rows():
    from eqprop_hw.backends.native import chunks as native
    c = build_circuit(parse_spec({"name": "t", "kind": "layered", "layers": [6, 5, 3],
                                  "activation": {"type": "diode"}}))
    rng = np.random.default_rng(7)
    x = rng.uniform(-1.0, 1.0, (2 * native.CHUNK_ROWS + 3, 6))
    y = rng.dirichlet(np.ones(3), x.shape[0])
    for loss in ("squared", "cross_entropy"):
        one, two = (NativeBackend(c, loss=loss) for _ in range(2))
        one.threads, two.threads = 1, 2
        chunks = one._thread_slices(x, y)
        assert chunks == two._thread_slices(x, y) and len(chunks) == 3
        assert one._thread_slices(x[:native.CHUNK_ROWS], y[:native.CHUNK_ROWS]) is None
        betas = [0.0, 1e-6, -1e-6]
        for got, want in zip(two.solve_phases(x, y, betas), one.solve_phases(x, y, betas)):
            np.testing.assert_array_equal(got.voltages, want.voltages)
            np.testing.assert_array_equal(got.converged, want.converged)
        free = one.solve(x)
        warm = two.solve(x, 1e-6, y, initial=free.unknowns)
        np.testing.assert_array_equal(warm.voltages,
                                      one.solve(x, 1e-6, y, initial=free.unknowns).voltages)
    two.max_iterations = 1                        # too few: rows of both slices are named
    with pytest.raises(ConvergenceError, match=r"row\(s\) 0, 1, 2"):
        two.solve(x)


def test_schur_systems_without_pivoting_equal_lapack_and_fall_back_when_indefinite():
    """The batch-last elimination of symmetric Schur systems agrees with LAPACK to round-off
    and declines (None) matrices that are not positive definite; the backend then uses
    LAPACK, so a strongly negative nudge still solves."""
    from eqprop_hw.backends.native import elimination as native
    rng = np.random.default_rng(8)
    m = rng.normal(size=(33, 7, 7))
    spd = m @ m.transpose(0, 2, 1) + 0.1 * np.eye(7)
    b = rng.normal(size=(33, 7))
    got = native.solve_positive(np.ascontiguousarray(spd.transpose(1, 2, 0)),
                                 np.ascontiguousarray(b.T))
    want = np.linalg.solve(spd, b[..., None])[..., 0]
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)
    indefinite = spd.copy()
    indefinite[5] -= 50.0 * np.eye(7)
    assert native.solve_positive(np.ascontiguousarray(indefinite.transpose(1, 2, 0)),
                                  np.ascontiguousarray(b.T)) is None
    spec = load_spec(ROOT / "circuits" / "iris.yaml")
    c = build_circuit(spec)
    x = rng.uniform(0.0, 1.0, (40, len(c.inputs)))
    y = rng.uniform(0.0, 1.0, (40, len(c.outputs)))
    fast, plain = NativeBackend(c), NativeBackend(c)
    plain._schur_blocks = lambda a_uu, f=plain._schur_blocks: f(a_uu)[:-1] + (False,)
    assert fast._schur_blocks(fast._base_uu_dense)[-1]           # symmetric: no pivoting
    for beta in (0.0, 0.5, -0.5, -1e3):                          # -1e3: indefinite, LAPACK
        np.testing.assert_allclose(fast.solve(x, beta, y).voltages,
                                   plain.solve(x, beta, y).voltages, rtol=0, atol=1e-12)


def test_nudged_phases_reuse_the_free_diode_voltages_to_the_bit():
    """solve_phases hands the free phase's diode voltages to the nudged phases: the same
    voltages as separate warm-started solves."""
    c = build_circuit(load_spec(ROOT / "circuits" / "iris.yaml"))
    rng = np.random.default_rng(9)
    x = rng.uniform(0.0, 1.0, (50, len(c.inputs)))
    y = rng.uniform(0.0, 1.0, (50, len(c.outputs)))
    backend = NativeBackend(c)
    backend.threads = 1
    phases = backend.solve_phases(x, y, [0.0, 0.3, -0.3, 0.1])
    free = backend.solve(x)
    np.testing.assert_array_equal(phases[0].voltages, free.voltages)
    for beta, result in zip([0.3, -0.3, 0.1], phases[1:]):
        alone = backend.solve(x, beta, y, initial=free.unknowns)
        np.testing.assert_array_equal(result.voltages, alone.voltages)
        np.testing.assert_array_equal(result.iterations, alone.iterations)


def test_pinned_work_array_is_reused_without_leaking_into_results(monkeypatch):
    """The pinned voltages live in a per-thread work array kept between solves: earlier
    results keep their voltages, and later solves equal a fresh backend's."""
    from eqprop_hw.backends.native import chunks as native
    monkeypatch.setattr(native, "WORK_ARRAY_CELLS", 0)
    c = build_circuit(load_spec(ROOT / "circuits" / "iris.yaml"))
    rng = np.random.default_rng(10)
    x1, x2 = (rng.uniform(0.0, 1.0, (2 * native.CHUNK_ROWS + 5, len(c.inputs)))
              for _ in range(2))
    y = rng.uniform(0.0, 1.0, (x1.shape[0], len(c.outputs)))
    for threads in (1, 2):
        backend = NativeBackend(c)
        backend.threads = threads
        first = backend.solve_phases(x1, y, [0.0, 0.1, -0.1])
        kept = [r.voltages.copy() for r in first]
        second = backend.solve_phases(x2, y, [0.0, 0.1, -0.1])
        assert backend._work.arrays
        fresh = NativeBackend(c)
        fresh.threads = threads
        for got, want in zip(second, fresh.solve_phases(x2, y, [0.0, 0.1, -0.1])):
            np.testing.assert_array_equal(got.voltages, want.voltages)
        for result, voltages in zip(first, kept):
            np.testing.assert_array_equal(result.voltages, voltages)
