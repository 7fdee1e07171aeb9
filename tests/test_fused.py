"""The compiled Newton loops (eqprop_hw/backends/native/fused.py) against the numpy Newton loop of the
native solver and against LAPACK."""

from pathlib import Path

import numpy as np
import pytest

from eqprop_hw.backends.native import fused
from eqprop_hw.backends.native import NativeBackend
from eqprop_hw.circuit.build import build_circuit
from eqprop_hw.errors import ConvergenceError
from eqprop_hw.circuit.spec import load_spec, parse_spec

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(not fused.AVAILABLE, reason="numba is not installed")


def _pair(circuit):
    """A native backend with the compiled loops and one with the numpy loop."""
    compiled, plain = NativeBackend(circuit, compiled=True), NativeBackend(circuit)
    return compiled, plain


def _assert_same_phases(compiled, plain, x, y, betas):
    for got, want in zip(compiled.solve_phases(x, y, betas), plain.solve_phases(x, y, betas)):
        np.testing.assert_allclose(got.voltages, want.voltages, rtol=0, atol=1e-12)
        np.testing.assert_array_equal(got.iterations, want.iterations)
        np.testing.assert_array_equal(got.converged, want.converged)


def test_compiled_loop_applies_to_the_layered_diode_examples_and_equals_numpy():
    """iris and a 784-100-10-like crossbar: the Schur path runs compiled, with the numpy loop's
    iterates (same Newton iteration counts, voltages to round-off), for the free phase from a
    cold start (junction limiting at work) and both nudged phases."""
    rng = np.random.default_rng(1)
    for spec in (load_spec(ROOT / "circuits" / "iris.yaml"),
                 parse_spec({"name": "wide", "kind": "layered", "layers": [40, 16, 4],
                             "inputs": {"doubling": True, "gain": 1.0, "bias": 1.0},
                             "activation": {"type": "diode"}})):
        circuit = build_circuit(spec)
        compiled, plain = _pair(circuit)
        assert compiled._fused_applies(compiled._phase_matrix(0.0))
        assert not plain._fused_applies(plain._phase_matrix(0.0))
        x = rng.uniform(0.0, 1.0, (300, len(circuit.inputs)))
        y = rng.uniform(0.0, 1.0, (300, len(circuit.outputs)))
        _assert_same_phases(compiled, plain, x, y, [0.0, 0.05, -0.05])
        assert compiled.solve(x).iterations.max() >= 3           # limiting and Newton at work


def test_reverse_biased_junctions_follow_ngspice_reverse_law_in_the_compiled_loop():
    """Inputs of both signs drive junctions below -3 Vte, where the diode law switches to its
    reverse form; the compiled loop agrees with the numpy loop there too."""
    circuit = build_circuit(parse_spec({
        "name": "t", "kind": "layered", "layers": [20, 12, 3],
        "inputs": {"doubling": True, "gain": 3.0, "bias": 1.0},
        "activation": {"type": "diode", "model": {"IS": 1e-14, "N": 1.0}}}))
    compiled, plain = _pair(circuit)
    rng = np.random.default_rng(2)
    x = rng.uniform(-1.0, 1.0, (64, len(circuit.inputs)))
    y = rng.uniform(0.0, 1.0, (64, len(circuit.outputs)))
    free = plain.solve(x)
    diode_voltages = plain._to_diodes(free.unknowns) + plain._pinned_ends[1](
        plain._pinned_voltages(*plain._prepare(x, 0.0, y)[::2])[:, plain._pinned_ends[0]])
    assert np.any(diode_voltages < plain._v_reverse)
    _assert_same_phases(compiled, plain, x, y, [0.0, 1e-3, -1e-3])


def test_an_indefinite_schur_system_continues_with_lapack_from_where_newton_is():
    """A strongly negative nudge makes the Schur systems indefinite: the compiled loop hands
    the rows still iterating to the numpy loop (pivoting LAPACK) and the result is the numpy
    loop's."""
    circuit = build_circuit(load_spec(ROOT / "circuits" / "iris.yaml"))
    compiled, plain = _pair(circuit)
    rng = np.random.default_rng(3)
    x = rng.uniform(0.0, 1.0, (40, len(circuit.inputs)))
    y = rng.uniform(0.0, 1.0, (40, len(circuit.outputs)))
    free = plain.solve(x)
    for backend in (compiled, plain):
        assert backend._schur_blocks(backend._phase_matrix(-1e3))[-1]    # symmetric: no pivots
    got = compiled.solve(x, -1e3, y, initial=free.unknowns)
    want = plain.solve(x, -1e3, y, initial=free.unknowns)
    assert not compiled._schur_blocks(compiled._phase_matrix(-1e3))[-1]  # LAPACK from now
    np.testing.assert_allclose(got.voltages, want.voltages, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(got.iterations, want.iterations)


def test_too_few_iterations_name_the_same_rows_as_the_numpy_loop():
    circuit = build_circuit(load_spec(ROOT / "circuits" / "iris.yaml"))
    rng = np.random.default_rng(4)
    x = rng.uniform(0.0, 1.0, (20, len(circuit.inputs)))
    messages = []
    for backend in _pair(circuit):
        backend.max_iterations = 2
        with pytest.raises(ConvergenceError, match=r"after 2 Newton iterations") as error:
            backend.solve(x)
        messages.append(str(error.value))
    assert messages[0] == messages[1]


def test_schur_kernel_equals_lapack_and_declines_indefinite_systems():
    rng = np.random.default_rng(5)
    n, size = 30, 6
    m = rng.normal(size=(n, size, size))
    spd = m @ m.transpose(0, 2, 1) + 0.1 * np.eye(size)
    b = rng.normal(size=(n, size + 3))
    o_idx = np.arange(3, size + 3)
    coupled = rng.normal(size=(n, size))
    products = rng.normal(size=(n, size, size)) * 0.01
    products = products + products.transpose(0, 2, 1)
    a_oo = (spd + products).reshape(n, -1)
    x_o = np.empty((n, size))
    assert fused.schur_solve(a_oo, products.reshape(n, -1), b, o_idx, coupled, x_o)
    want = np.linalg.solve(spd, (b[:, o_idx] - coupled)[..., None])[..., 0]
    np.testing.assert_allclose(x_o, want, rtol=1e-9, atol=1e-12)
    a_oo[7] -= 100.0 * np.eye(size).ravel()
    assert not fused.schur_solve(a_oo, products.reshape(n, -1), b, o_idx, coupled, x_o)


def test_linearise_reports_a_zero_hidden_diagonal_and_finish_a_non_finite_row():
    """A zero pivot of the eliminated block is reported (the backend raises its singular
    matrix error); a row with a NaN step is neither done nor finite."""
    empty = (np.zeros(2, dtype=np.intp), np.zeros(0, dtype=np.intp), np.zeros(0))
    no_diodes = np.zeros((1, 0))
    rows = np.arange(1)
    b, inverse, w, a_oo = np.empty((1, 1)), np.empty((1, 1)), np.empty((1, 1)), np.empty((1, 1))
    h_idx = np.zeros(1, dtype=np.intp)
    args = (rows, no_diodes, no_diodes, no_diodes, np.ones((1, 1)), np.zeros(0), np.zeros(0),
            np.zeros(0), 1e-12) + empty + empty + empty
    assert not fused.linearise(*args, np.zeros(1), np.zeros(1), h_idx, b, inverse, w, a_oo)
    assert fused.linearise(*args, np.ones(1), np.zeros(1), h_idx, b, inverse, w, a_oo)
    assert inverse[0, 0] == 1.0 and w[0, 0] == 1.0
    x, done, scale = np.zeros((1, 2)), np.ones(1, dtype=bool), np.full(1, np.nan)
    finite = fused.finish(rows, np.array([[np.nan, 0.0]]), np.ones((1, 1)), np.zeros((1, 1)),
                          np.zeros((1, 1)), h_idx, np.ones(1, dtype=np.intp),
                          np.zeros(1, dtype=np.intp), np.zeros(0, dtype=np.intp), np.zeros(0),
                          no_diodes, np.zeros(0), np.zeros(0), x, no_diodes, scale, done)
    assert not finite and not done[0]
