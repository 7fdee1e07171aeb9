"""The cross-entropy loss and its physical nudge: the current (beta / tau)(y - p) into each output.

Checks: the nudge current is -beta dL/dV (KCL at the output nodes of the native solution); native
agrees with an independent ``ngspice -b`` run of the exported netlist (B sources) and with the
shared-library backend; EP from measured voltages matches the exact cross-entropy gradient;
a short training run on iris lowers the test loss (native and ngspice agree); exported netlists
round-trip byte-identically through the importer; bad inputs are refused clearly.
"""

from pathlib import Path

import numpy as np
import pytest
import yaml

from eqprop_hw.backends import make_backend
from eqprop_hw.backends.native import NativeBackend
from eqprop_hw.backends.ngspice import run_ngspice_batch
from eqprop_hw.circuit.build import build_circuit
from eqprop_hw.io.data import load_dataset
from eqprop_hw.learning.ep import cross_entropy_loss, ep_gradient
from eqprop_hw.errors import CircuitError, EqpropError, NetlistError, SpecError
from eqprop_hw.learning.losses import DEFAULT_TEMPERATURE, cross_entropy_gradient, softmax
from eqprop_hw.circuit.netlist import write_netlist
from eqprop_hw.learning.check import finite_difference_gradient
from eqprop_hw.learning.reference import EnergyModel, exact_gradient, gradient_agreement, software_ep
from eqprop_hw.circuit.spec import load_spec, parse_spec
from eqprop_hw.circuit.spice_import import import_netlist
from eqprop_hw.learning.train import evaluate, train

ROOT = Path(__file__).resolve().parents[1]
CE = {"loss": "cross_entropy"}
TAU = 0.1


def iris():
    return build_circuit(load_spec(ROOT / "circuits" / "iris.yaml"))


def bridge():
    return build_circuit(load_spec(ROOT / "circuits" / "graph_bridge.yaml"))


def linear_graph():
    """No diodes (the CE term alone makes Newton iterate); output ``a`` is a pinned node."""
    return build_circuit(parse_spec({
        "name": "lin", "kind": "graph",
        "elements": [{"name": "VA", "nodes": ["a", "0"], "dc": 0.0},
                     {"name": "VB", "nodes": ["b", "0"], "dc": 0.0},
                     {"name": "R1", "nodes": ["a", "m"], "g": 1e-4},
                     {"name": "R2", "nodes": ["b", "m"], "g": 2e-4},
                     {"name": "R3", "nodes": ["m", "n"], "g": 3e-4},
                     {"name": "R4", "nodes": ["n", "0"], "g": 5e-5},
                     {"name": "R5", "nodes": ["b", "n"], "g": 1e-4}],
        "inputs": ["VA", "VB"], "outputs": ["a", "m", "n"], "trainable": ["R*"]}))


def iris_batch(n=6):
    spec = load_spec(ROOT / "circuits" / "iris.yaml")
    dataset = load_dataset(spec, build_circuit(spec))
    return dataset.x_train[:n], dataset.probabilities(dataset.y_train[:n])


# -- the loss ------------------------------------------------------------------------------------
def test_loss_softmax_and_gradient_values():
    v = np.array([[0.3, -0.2, 0.05], [400.0, 0.0, -400.0]])   # the second row would overflow exp
    y = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    p = softmax(v, TAU)
    assert np.all(np.isfinite(p)) and np.allclose(p.sum(axis=1), 1.0)
    naive = np.exp(v[0] / TAU) / np.exp(v[0] / TAU).sum()
    np.testing.assert_allclose(p[0], naive, rtol=1e-14)
    loss = cross_entropy_loss(v, y, TAU)
    assert loss[0] == pytest.approx(-np.log(naive[1]), rel=1e-14) and loss[1] == 0.0
    np.testing.assert_allclose(cross_entropy_gradient(v, y, TAU), (p - y) / TAU, rtol=1e-14)


# -- the physical nudge --------------------------------------------------------------------------
@pytest.mark.parametrize("beta", [2e-8, -2e-8, 1e-6])
def test_nudge_current_is_minus_beta_dl_dv_by_kcl(beta):
    """Current the network draws from each output (KCL on the solved voltages) is the injected
    nudge, and it equals -beta dL/dV from central differences of the loss."""
    circuit = iris()
    x, y = iris_batch(4)
    with make_backend("native", circuit, loss="cross_entropy", temperature=TAU) as backend:
        result = backend.solve(x, beta, y)
    volts = [result.voltage_dict(row) for row in range(len(x))]
    for k, port in enumerate(circuit.outputs):
        touching = [e for e in circuit.elements if port.node in e.nodes[:2]]
        assert {e.type for e in touching} == {"R"}
        for row in range(len(x)):
            v = dict(volts[row], **{"0": 0.0})
            leaving = sum(e.value * (v[port.node] - v[e.nodes[1] if e.nodes[0] == port.node
                                                      else e.nodes[0]]) for e in touching)
            outputs = result.outputs[row:row + 1]
            step = 1e-6
            bump = np.zeros_like(outputs)
            bump[0, k] = step
            dl_dv = (cross_entropy_loss(outputs + bump, y[row:row + 1], TAU)[0] -
                     cross_entropy_loss(outputs - bump, y[row:row + 1], TAU)[0]) / (2 * step)
            injected = -beta * dl_dv
            scale = abs(beta) / TAU
            assert leaving == pytest.approx(injected, abs=1e-6 * scale)
            p = softmax(outputs, TAU)[0]
            assert leaving == pytest.approx(beta / TAU * (y[row, k] - p[k]), abs=1e-9 * scale)
    # the nudge moves the outputs towards the label (positive beta)
    if beta > 0:
        free = NativeBackend(circuit, loss="cross_entropy").solve(x).outputs
        gained = np.sum(y * (softmax(result.outputs, TAU) - softmax(free, TAU)), axis=1)
        assert np.all(gained > 0)


@pytest.mark.ngspice
@pytest.mark.parametrize("make", [iris, bridge, linear_graph], ids=["iris", "bridge", "linear"])
def test_native_matches_raw_ngspice_with_cross_entropy_nudge(make):
    circuit = make()
    rng = np.random.default_rng(3)
    n_in, n_out = len(circuit.inputs), len(circuit.outputs)
    x = rng.uniform(-1, 1, (2, n_in))
    y = np.eye(n_out)[[0, n_out - 1]]
    tau = 0.05
    native = NativeBackend(circuit, loss="cross_entropy", temperature=tau)
    sparse = NativeBackend(circuit, loss="cross_entropy", temperature=tau, dense_limit=0)
    shared = make_backend("ngspice", circuit, loss="cross_entropy", temperature=tau)
    worst = 0.0
    try:
        for beta in (0.0, 1e-8, -1e-8, 1e-7, 2e-6):
            got = native.solve(x, beta, y)
            np.testing.assert_allclose(sparse.solve(x, beta, y).voltages, got.voltages,
                                       rtol=0, atol=1e-12)
            np.testing.assert_allclose(shared.solve(x, beta, y).voltages, got.voltages,
                                       rtol=0, atol=1e-6)
            for row in range(len(x)):
                text = write_netlist(circuit, inputs=x[row], beta=beta, targets=y[row],
                                     loss="cross_entropy", temperature=tau)
                if beta != 0.0:
                    assert "BNUDGE0" in text and "VNUDGEBETA nudgebeta 0 DC" in text
                raw = run_ngspice_batch(text)
                for column, node in enumerate(got.node_names):
                    diff = abs(float(raw[f"v({node})"][0]) - got.voltages[row, column])
                    worst = max(worst, diff)
    finally:
        shared.close()
    assert worst <= 1e-6


# -- EP vs the exact cross-entropy gradient -----------------------------------------------------
def test_ep_matches_exact_cross_entropy_gradient_native():
    circuit = iris()
    x, y = iris_batch(6)
    model = EnergyModel(circuit, loss="cross_entropy", temperature=TAU)
    loss, exact = exact_gradient(model, x, y)
    assert loss == pytest.approx(cross_entropy_loss(model.solve(x).outputs, y, TAU).mean())
    fd = finite_difference_gradient(circuit, x, y, "native", 1e-4, circuit.trainable[::9],
                                    loss="cross_entropy", temperature=TAU)
    subset = exact[::9]
    assert gradient_agreement(fd, subset)["rel_error"] <= 1e-5
    beta = 1e-9                      # W: conductance scale beta / tau^2 = 1e-7 S << g
    with make_backend("native", circuit, loss="cross_entropy", temperature=TAU) as backend:
        estimate, _ = ep_gradient(backend, x, y, beta, "centered")
    agreement = gradient_agreement(estimate, exact)
    assert agreement["cosine"] >= 0.9999 and agreement["rel_error"] <= 1e-3
    soft = software_ep(model, x, y, beta)
    assert gradient_agreement(soft, exact)["rel_error"] <= 1e-3
    # the squared-loss gradient is a different vector
    _, squared = exact_gradient(circuit, x, y)
    assert gradient_agreement(squared, exact)["cosine"] < 0.99


@pytest.mark.ngspice
def test_ep_from_ngspice_measurements_matches_exact_cross_entropy_gradient():
    circuit = iris()
    x, y = iris_batch(4)
    _, exact = exact_gradient(circuit, x, y, loss="cross_entropy", temperature=TAU)
    with make_backend("ngspice", circuit, loss="cross_entropy", temperature=TAU) as backend:
        estimate, _ = ep_gradient(backend, x, y, 1e-9, "centered")
    agreement = gradient_agreement(estimate, exact)
    assert agreement["cosine"] >= 0.999 and agreement["rel_error"] <= 1e-2


# -- training ------------------------------------------------------------------------------------
def iris_ce_spec(**training):
    data = yaml.safe_load((ROOT / "circuits" / "iris.yaml").read_text())
    data["training"] = dict(data["training"], loss="cross_entropy", temperature=TAU, beta=1e-8,
                            learning_rate=0.003, **training)
    return parse_spec(data)


def test_short_cross_entropy_training_on_iris_lowers_test_loss(tmp_path):
    spec = iris_ce_spec(epochs=3)
    circuit = build_circuit(spec)
    dataset = load_dataset(spec, circuit)
    with make_backend("native", circuit, loss="cross_entropy", temperature=TAU) as backend:
        before = evaluate(backend, dataset, dataset.x_test, dataset.y_test)
    assert before["loss"] > 0.5                       # about log 3 for an untrained network
    metrics = train(spec, tmp_path, progress=False, plots=False)
    assert metrics["loss"] == "cross_entropy" and metrics["temperature"] == TAU
    assert metrics["test_loss"][-1] < 0.5 * before["loss"]
    assert metrics["test_accuracy"][-1] >= 0.9


@pytest.mark.ngspice
def test_cross_entropy_training_with_ngspice_matches_native(tmp_path):
    data = yaml.safe_load((ROOT / "circuits" / "iris.yaml").read_text())
    data["dataset"] = dict(data["dataset"], samples=40)
    data["training"] = dict(data["training"], loss="cross_entropy", beta=1e-8,
                            learning_rate=0.003, epochs=1)
    spec = parse_spec(data)
    native = train(spec, tmp_path / "native", progress=False, plots=True)
    spice = train(spec, tmp_path / "ngspice", backend="ngspice", progress=False, plots=False)
    assert native["temperature"] == DEFAULT_TEMPERATURE
    np.testing.assert_allclose(spice["test_loss"], native["test_loss"], rtol=1e-6)
    assert spice["test_accuracy"] == native["test_accuracy"]


# -- netlists --------------------------------------------------------------------------------------
@pytest.mark.parametrize("beta", [1e-8, -3e-7, 0.0])
@pytest.mark.parametrize("make", [iris, bridge], ids=["iris", "bridge"])
def test_export_import_export_is_byte_identical(make, beta, tmp_path):
    circuit = make()
    n_out = len(circuit.outputs)
    text = write_netlist(circuit, inputs=np.linspace(-0.5, 0.7, len(circuit.inputs)), beta=beta,
                         targets=np.eye(n_out)[n_out - 1], loss="cross_entropy",
                         temperature=0.07)
    assert text.count("BNUDGE") == n_out and "/0.07" in text
    # the softmax nudge is written in the netlist grammar (parsed, not pattern-matched)
    from eqprop_hw.circuit.spice_grammar import parse_expression
    for line in text.splitlines():
        if line.startswith("BNUDGE"):
            assert parse_expression(line.split(" ", 3)[3]).kind == "I"
    # its names are reserved: the nudged netlist is refused by name, the circuit round-trips
    path = tmp_path / "ce.cir"
    path.write_text(text)
    with pytest.raises(NetlistError, match="'VNUDGE0' is reserved"):
        import_netlist(path)
    plain = write_netlist(circuit, inputs=np.linspace(-0.5, 0.7, len(circuit.inputs)))
    path.write_text(plain)
    assert write_netlist(build_circuit(parse_spec(import_netlist(path)))) == plain


# -- bad inputs ------------------------------------------------------------------------------------
@pytest.mark.parametrize("temperature", [0, -0.1, 0.0])
def test_spec_refuses_non_positive_temperature(temperature):
    data = {"name": "t", "kind": "layered", "layers": [2, 3],
            "training": {"loss": "cross_entropy", "temperature": temperature}}
    with pytest.raises(SpecError, match=r"training.temperature \(the softmax temperature of "
                                        r"the cross-entropy loss, in V\) must be > 0"):
        parse_spec(data)
    with pytest.raises(SpecError, match="training.loss"):
        parse_spec({"name": "t", "kind": "layered", "layers": [2, 3],
                    "training": {"loss": "hinge"}})


def test_backends_and_writer_refuse_bad_cross_entropy_inputs():
    circuit = iris()
    x, y = iris_batch(2)
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(CircuitError, match="temperature must be a finite number > 0"):
            make_backend("native", circuit, loss="cross_entropy", temperature=bad)
    with pytest.raises(CircuitError, match="unknown loss"):
        make_backend("native", circuit, loss="hinge")
    backend = make_backend("native", circuit, loss="cross_entropy")
    with pytest.raises(CircuitError, match="probability vectors"):
        backend.solve(x, 1e-8, [[1.0, 0.0, -1.0]])          # voltages, not probabilities
    backend.solve(x, 0.0, [[1.0, 0.0, -1.0]])                # free phase: targets unused
    with pytest.raises(CircuitError, match="probability vectors"):
        write_netlist(circuit, beta=1e-8, targets=[1.0, 1.0, 0.0], loss="cross_entropy")
    single = build_circuit(load_spec(ROOT / "circuits" / "xor.yaml"))
    with pytest.raises(CircuitError, match="at least two outputs"):
        make_backend("native", single, loss="cross_entropy")
    with pytest.raises(CircuitError, match="at least two outputs"):
        write_netlist(single, beta=1e-8, targets=[1.0], loss="cross_entropy")
    xor = load_spec(ROOT / "circuits" / "xor.yaml")
    dataset = load_dataset(xor, single)
    with pytest.raises(EqpropError, match="one output per class"):
        dataset.probabilities([0, 1])
