"""ngspice behind a process boundary: same numbers as in-process, restart after a crash, and a
clear error naming the sample when a sample crashes ngspice every time."""

import os
import re
import signal
from pathlib import Path

import numpy as np
import pytest

import eqprop_hw.learning.train as train_module
from eqprop_hw.backends import make_backend
from eqprop_hw.backends.isolated import IsolatedBackend
from eqprop_hw.circuit.build import build_circuit
from eqprop_hw.errors import BackendError, CircuitError, SimulatorCrash
from eqprop_hw.io.params import load_params
from eqprop_hw.circuit.spec import load_spec

from isolation_helpers import POISON, SLUMBER, crashing
from process_ended import process_ended

pytestmark = pytest.mark.ngspice

ROOT = Path(__file__).resolve().parents[1]
BETAS = [0.0, 2e-6, -2e-6]


@pytest.fixture(scope="module")
def iris():
    circuit = build_circuit(load_spec(ROOT / "circuits" / "iris.yaml"))
    try:
        reference = make_backend("ngspice", circuit)
    except BackendError as error:
        pytest.skip(str(error))
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(6, 4)), np.eye(3)[np.arange(6) % 3]
    values = np.array(circuit.trainable_values()) * rng.uniform(0.5, 2.0, len(circuit.trainable))
    reference.set_trainable(values)
    expected = reference.solve_phases(x, y, BETAS)
    reference.close()
    return circuit, x, y, values, expected


def _same(results, expected):
    assert len(results) == len(expected)
    for got, want in zip(results, expected):
        assert got.backend == "ngspice" and got.node_names == want.node_names
        assert np.array_equal(got.voltages, want.voltages)
        assert np.array_equal(got.outputs, want.outputs)


def test_isolated_results_are_bitwise_the_in_process_ones_even_after_a_kill(iris):
    circuit, x, y, values, expected = iris
    with make_backend("ngspice", circuit, isolated=True) as backend:
        assert isinstance(backend, IsolatedBackend)
        backend.set_trainable(values)
        _same(backend.solve_phases(x, y, BETAS), expected)
        first = backend.pid
        os.kill(first, signal.SIGKILL)             # between requests
        _same(backend.solve_phases(x, y, BETAS), expected)
        assert backend.restarts == 1 and backend.pid != first
        free = backend.solve(x)
        assert np.array_equal(free.voltages, expected[0].voltages)


def test_errors_in_the_child_come_back_as_themselves(iris):
    circuit = iris[0]
    with make_backend("ngspice", circuit, isolated=True) as backend:
        with pytest.raises(CircuitError, match="must be finite"):
            backend.set_values({circuit.trainable[0]: float("nan")})
        with pytest.raises(CircuitError, match="unknown element|no element"):
            backend.set_values({"RNOPE": 1e-3})
        assert backend.restarts == 0
    with pytest.raises(BackendError, match="closed"):
        backend.solve(iris[1])


def test_a_crash_mid_request_is_retried_in_a_new_child(iris, tmp_path):
    circuit, x, y, values, expected = iris
    marker = tmp_path / "killed"
    with IsolatedBackend(circuit, factory=crashing, marker=str(marker), kill_at=8) as backend:
        backend.set_trainable(values)
        _same(backend.solve_phases(x, y, BETAS), expected)   # killed at its 8th op, retried
        assert marker.exists() and backend.restarts == 1


def test_a_sample_that_always_crashes_is_named(iris):
    circuit, x, y = iris[0], iris[1].copy(), iris[2]
    x[3, 0] = POISON
    with IsolatedBackend(circuit, factory=crashing) as backend:
        with pytest.raises(SimulatorCrash,
                           match=r"sample row 3 of a batch of 6.*SIGABRT") as caught:
            backend.solve_phases(x, y, BETAS)
        assert caught.value.row == 3 and "SIGABRT" in caught.value.reason
        assert backend.restarts == 1
        with pytest.raises(SimulatorCrash, match=r"sample row 3 .*inputs \[123\.25"):
            backend.solve(x)
        # the backend still works for good samples
        assert backend.solve(iris[1][:2]).outputs.shape == (2, 3)


def test_training_survives_a_killed_ngspice_with_the_same_numbers(tmp_path, monkeypatch):
    spec = load_spec(ROOT / "circuits" / "xor.yaml")
    try:
        plain = train_module.train(spec, tmp_path / "plain", backend="ngspice", epochs=12,
                                   isolate=False, progress=False, plots=False)
    except BackendError as error:
        pytest.skip(str(error))
    marker = tmp_path / "killed"

    def backend_with_a_crash(name, circuit, isolated=False, **options):
        assert name == "ngspice" and isolated      # isolation is the default for ngspice
        return IsolatedBackend(circuit, factory=crashing, marker=str(marker), kill_at=40,
                               **options)

    monkeypatch.setattr(train_module, "make_backend", backend_with_a_crash)
    killed = train_module.train(spec, tmp_path / "killed", backend="ngspice", epochs=12,
                                progress=False, plots=False)
    assert marker.exists()                      # the child did die mid-run
    for key in ("train_loss", "test_loss", "train_accuracy"):
        assert killed[key] == plain[key]
    assert load_params(tmp_path / "killed" / "params.npz") == \
        load_params(tmp_path / "plain" / "params.npz")


def test_training_names_the_data_set_row_that_always_crashes(tmp_path, monkeypatch):
    spec = load_spec(ROOT / "circuits" / "xor.yaml")

    def backend_crashing_on_1_0(name, circuit, isolated=False, **options):
        return IsolatedBackend(circuit, factory=crashing, poison=[1.0, 0.0], **options)

    monkeypatch.setattr(train_module, "make_backend", backend_crashing_on_1_0)
    with pytest.raises(SimulatorCrash) as caught:
        train_module.train(spec, tmp_path, backend="ngspice", epochs=2, progress=False,
                           plots=False)
    message = str(caught.value)
    # xor's rows are (0,0), (0,1), (1,0), (1,1): the crashing one is data set row 2
    assert re.search(r"^training sample \d \(data set row 2\) in epoch 1: ngspice died while "
                     r"solving sample row \d of a batch of 4 .*inputs \[1, 0\]", message), message
    assert "SIGABRT" in message


def test_a_child_busy_in_a_request_ends_soon_after_its_parent_is_killed(tmp_path):
    """SIGKILL of the caller mid-request: the child (in its own session, busy for a minute)
    ends within seconds instead of running on re-parented."""
    import subprocess
    import sys
    import time
    script = tmp_path / "parent.py"
    script.write_text(
        "import sys, numpy as np\n"
        f"sys.path[:0] = [{str(ROOT)!r}, {str(ROOT / 'tests')!r}]\n"
        "from eqprop_hw.backends.isolated import IsolatedBackend\n"
        "from eqprop_hw.circuit.build import build_circuit\n"
        "from eqprop_hw.circuit.spec import load_spec\n"
        "from isolation_helpers import SLUMBER, crashing\n"
        f"circuit = build_circuit(load_spec({str(ROOT / 'circuits' / 'iris.yaml')!r}))\n"
        "backend = IsolatedBackend(circuit, factory=crashing)\n"
        "print(backend.pid, flush=True)\n"
        "backend.solve(np.array([[SLUMBER, 0.0, 0.0, 0.0]]))\n")
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        child = int(parent.stdout.readline())
        time.sleep(1.5)                                  # the request is under way
        parent.kill()
        parent.wait(timeout=30)
        if not process_ended(child, 10.0):
            os.kill(child, signal.SIGKILL)
            pytest.fail("the child still runs 10 s after its parent was killed")
    finally:
        parent.kill()
