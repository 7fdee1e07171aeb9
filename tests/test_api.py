"""The public Python API (eqprop_hw.load and the Network of each kind).

Every result's ``to_json()`` is compared key by key with what the matching ``eqprop-hw ...
--json`` command prints for the same spec and arguments (xor, iris, graph_bridge, lc examples,
a spec with ``temperature``); ``netlist`` byte for byte with ``export``. Numbers are also checked
against independent references: a resistive divider's analytic operating point, and the exact
gradient against central finite differences of the loss computed through ``simulate``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import eqprop_hw
from eqprop_hw.cli import main
from eqprop_hw.errors import ParamsError, SpecError

ROOT = Path(__file__).resolve().parents[1]
CIRCUITS = ROOT / "circuits"
XOR, IRIS, BRIDGE = CIRCUITS / "xor.yaml", CIRCUITS / "iris.yaml", CIRCUITS / "graph_bridge.yaml"
LC_TEACHER = CIRCUITS / "lc" / "lc_teacher.yaml"
LC_DUFFING = CIRCUITS / "lc" / "lc_duffing.yaml"

#: A linear 2-3-2 network at a finite Gibbs temperature (W), given in the spec.
THERMAL_SPEC = """name: lin_t
kind: layered
layers: [2, 3, 2]
activation: {type: none}
conductance: {min: 1.0e-7, max: 1.0e-3, init: {low: 2.0e-5, high: 1.0e-4}, seed: 1}
temperature: 1.0e-7
"""

#: A divider: V(m) = V_in * g1 / (g1 + g2).
DIVIDER = """name: divider
kind: graph
elements:
  - {name: VIN, nodes: [a, 0], dc: 0.0}
  - {name: R1, nodes: [a, m], g: 3.0e-3}
  - {name: R2, nodes: [m, 0], g: 1.0e-3}
inputs: [VIN]
outputs: [m]
trainable: [R1, R2]
"""

#: The divider with a diode from m to ground (nonlinear) and a second output node.
DIODE_GRAPH = """name: diode_graph
kind: graph
models:
  DX: {IS: 1.0e-9, N: 1.9}
elements:
  - {name: VIN, nodes: [a, 0], dc: 0.0}
  - {name: VB, nodes: [b, 0], dc: 0.0}
  - {name: R1, nodes: [a, m], g: 3.0e-3}
  - {name: R2, nodes: [m, 0], g: 1.0e-3}
  - {name: R3, nodes: [b, n], g: 2.0e-3}
  - {name: R4, nodes: [m, n], g: 5.0e-4}
  - {name: R5, nodes: [n, 0], g: 7.0e-4}
  - {name: D1, nodes: [m, 0], model: DX}
inputs: [VIN, VB]
outputs: [m, n]
trainable: [R1, R2, R3, R4, R5]
"""

needs_ngspice = pytest.mark.ngspice


def cli(capsys, *argv) -> dict:
    """Run ``eqprop-hw ARGV --json`` in-process; its one JSON object."""
    code = main([str(a) for a in argv] + ["--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    lines = captured.out.splitlines()
    assert len(lines) == 1
    return json.loads(lines[0])


def cli_text(capsys, *argv) -> str:
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return captured.out


def without_timing(data):
    """``data`` without the wall-clock keys (``seconds``, ``samples_per_second``,
    ``epoch_seconds_total``, ``wall_seconds``)."""
    if isinstance(data, dict):
        return {key: without_timing(value) for key, value in data.items()
                if key not in ("seconds", "samples_per_second", "epoch_seconds_total",
                               "wall_seconds")}
    if isinstance(data, list):
        return [without_timing(value) for value in data]
    return data


def assert_same_json(api_result, cli_data, named=None):
    """to_json() equals the CLI's object key by key (timing aside), as printed and parsed.

    ``named``: {key: (api value, cli value)} for the keys that name where data came from
    (lc ``inputs_source``/``targets_source``: the API says ``"x"``/``"y"``, the CLI the file)."""
    ours = json.loads(json.dumps(api_result.to_json(), allow_nan=False))
    assert list(ours) == list(cli_data)                  # the same keys in the same order
    ours, theirs = without_timing(ours), without_timing(cli_data)
    for key, (api_value, cli_value) in (named or {}).items():
        assert (ours.pop(key), theirs.pop(key)) == (api_value, cli_value), key
    for key in theirs:
        assert ours[key] == theirs[key], key


def write_rows(path: Path, rows) -> Path:
    """A CSV file of numbers, one row per line (shortest round-trip repr)."""
    path.write_text("\n".join(",".join(repr(float(v)) for v in row) for row in rows) + "\n")
    return path


def write(tmp_path, name, text) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# -- load, kinds, exports -------------------------------------------------------------------
def test_load_picks_one_class_per_kind():
    from eqprop_hw.networks.lc import LCNetwork
    from eqprop_hw.networks.resistive import ResistiveNetwork
    kinds = {path.stem: eqprop_hw.load(path) for path in (XOR, BRIDGE, LC_TEACHER)}
    assert type(kinds["xor"]) is ResistiveNetwork and kinds["xor"].kind == "layered"
    assert type(kinds["graph_bridge"]) is ResistiveNetwork and kinds["graph_bridge"].kind == \
        "graph"
    assert type(kinds["lc_teacher"]) is LCNetwork and kinds["lc_teacher"].kind == "lc"
    assert all(isinstance(net, eqprop_hw.Network) for net in kinds.values())


def test_stable_names_are_exported_lazily():
    code = ("import sys, eqprop_hw; before = 'eqprop_hw.api' in sys.modules or 'numpy' in "
            "sys.modules; names = [getattr(eqprop_hw, n).__name__ for n in eqprop_hw.__all__]; "
            "print(before, names)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, check=True, env={"PYTHONPATH": str(ROOT)})
    assert done.stdout.strip() == ("False ['load', 'import_netlist', 'Network', "
                                   "'SimulationResult', "
                                   "'GradientResult', 'TrainingRun', 'Prediction', "
                                   "'CoupledGradientResult', 'InvalidParameterError']")
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        eqprop_hw.nothing  # noqa: B018


def test_a_bad_spec_is_refused_naming_the_file(tmp_path):
    path = write(tmp_path, "bad.yaml", "name: bad\nkind: layered\nlayers: [2, -1]\n")
    with pytest.raises(SpecError, match="bad.yaml"):
        eqprop_hw.load(path)
    with pytest.raises(SpecError, match="missing.yaml: no such file"):
        eqprop_hw.load(tmp_path / "missing.yaml")


# -- describe -------------------------------------------------------------------------------
@pytest.mark.parametrize("spec", [XOR, IRIS, BRIDGE, LC_TEACHER, LC_DUFFING],
                         ids=lambda p: p.stem)
def test_describe_is_describe_json(capsys, spec):
    assert eqprop_hw.load(spec).describe() == cli(capsys, "describe", spec)


def test_params_as_a_file_or_a_mapping(capsys, tmp_path):
    from eqprop_hw.io.params import save_params
    net = eqprop_hw.load(BRIDGE)
    values = {name: 2.5e-4 for name in net.trainable}
    save_params(tmp_path / "p.json", values)
    from_file = eqprop_hw.load(BRIDGE, params=tmp_path / "p.json").describe()
    assert from_file == cli(capsys, "describe", BRIDGE, "--params", tmp_path / "p.json")
    assert eqprop_hw.load(BRIDGE, params=values).describe() == from_file
    assert net.with_params(values).describe() == from_file
    assert [e["value"] for e in from_file["trainable"]] == [2.5e-4] * len(values)
    with pytest.raises(ParamsError, match="'R99': not an element"):
        eqprop_hw.load(BRIDGE, params={"R99": 1e-3})
    with pytest.raises(eqprop_hw.InvalidParameterError, match="value of 'R1' must be positive"):
        eqprop_hw.load(BRIDGE, params={"R1": -1.0})
    lc = eqprop_hw.load(LC_TEACHER)
    first = lc.trainable[0]
    assert lc.with_params({first: 3e-10}).describe()["trainable"][0]["value"] == 3e-10


def test_with_params_changes_only_the_named_values():
    net = eqprop_hw.load(BRIDGE, params={"R1": 2e-3, "R2": 3e-3})
    changed = net.with_params({"R2": 4e-3}).describe()
    values = {e["name"]: e["value"] for e in changed["trainable"]}
    assert values["R1"] == 2e-3 and values["R2"] == 4e-3 and values["R3"] == 2e-4


@pytest.mark.parametrize("spec", [CIRCUITS / "lc" / "lc_eeg_filter.yaml",
                                  CIRCUITS / "lc" / "lc_nonlinear20.yaml"],
                         ids=lambda p: p.stem)
def test_the_other_lc_examples_simulate_as_the_command(capsys, spec):
    net = eqprop_hw.load(spec)
    assert net.describe() == cli(capsys, "describe", spec)
    assert_same_json(net.simulate(), cli(capsys, "simulate", spec))


def test_digits_simulates_and_predicts_as_the_commands(capsys):
    digits = CIRCUITS / "digits.yaml"
    net = eqprop_hw.load(digits)
    x = np.linspace(-1, 1, len(net.input_names))
    assert_same_json(net.simulate(x), cli(capsys, "simulate", digits, "--input",
                                          ",".join(repr(float(v)) for v in x)))
    assert_same_json(net.predict(split="test"), cli(capsys, "predict", digits))


# -- simulate -------------------------------------------------------------------------------
SIMULATIONS = [(XOR, "1,0", [1, 0]), (IRIS, "0.1,-0.5,1.2,0.3", [0.1, -0.5, 1.2, 0.3]),
               (BRIDGE, "0.3,-0.2", [0.3, -0.2])]


@pytest.mark.parametrize("spec,text,x", SIMULATIONS, ids=lambda v: getattr(v, "stem", ""))
def test_simulate_is_simulate_json(capsys, spec, text, x):
    sim = eqprop_hw.load(spec).simulate(x)
    assert_same_json(sim, cli(capsys, "simulate", spec, "--input", text))
    assert sim.outputs.shape == (len(sim.to_json()["outputs"]),)


def test_simulate_batch_is_input_file_json(capsys, tmp_path):
    rows = np.array([[0.1, -0.5, 1.2, 0.3], [1.0, 0.0, -1.0, 0.5], [0.0, 0.2, 0.4, 0.6]])
    path = write_rows(tmp_path / "rows.csv", rows)
    sim = eqprop_hw.load(IRIS).simulate(rows)
    assert_same_json(sim, cli(capsys, "simulate", IRIS, "--input-file", path))
    assert sim.outputs.shape == (3, 3) and sim.converged.tolist() == [True] * 3
    # the batch's voltages are the single runs' (the batched solve is not another model)
    single = eqprop_hw.load(IRIS).simulate(rows[1])
    for node, value in single.voltages.items():
        assert sim.voltages[node][1] == pytest.approx(value, abs=1e-9)


def test_simulate_nudged_is_simulate_json(capsys):
    sim = eqprop_hw.load(XOR).simulate([1, 0], beta=2e-6, target=[0.3])
    assert_same_json(sim, cli(capsys, "simulate", XOR, "--input", "1,0", "--beta", "2e-6",
                              "--target", "0.3"))


def test_simulate_divider_matches_the_analytic_operating_point(tmp_path):
    net = eqprop_hw.load(write(tmp_path, "divider.yaml", DIVIDER))
    sim = net.simulate([[1.0], [-2.0], [0.25]])
    np.testing.assert_allclose(sim.outputs[:, 0], np.array([1.0, -2.0, 0.25]) * 0.75,
                               rtol=1e-9, atol=1e-12)
    # nudged towards y with conductance beta: V = (g1 V_in + beta y) / (g1 + g2 + beta)
    nudged = net.simulate([1.0], beta=1e-3, target=[0.0])
    assert nudged.outputs[0] == pytest.approx(3e-3 / 5e-3, rel=1e-9)


@needs_ngspice
def test_simulate_ngspice_is_simulate_json_and_agrees_with_native(capsys):
    pytest.importorskip("PySpice")
    net = eqprop_hw.load(IRIS)
    sim = net.simulate([0.1, -0.5, 1.2, 0.3], backend="ngspice")
    assert_same_json(sim, cli(capsys, "simulate", IRIS, "--input", "0.1,-0.5,1.2,0.3",
                              "--backend", "ngspice"))
    native = net.simulate([0.1, -0.5, 1.2, 0.3])
    np.testing.assert_allclose(sim.outputs, native.outputs, atol=1e-6)


def test_simulate_lc_is_simulate_json(capsys, tmp_path):
    net = eqprop_hw.load(LC_TEACHER)
    sim = net.simulate()
    assert_same_json(sim, cli(capsys, "simulate", LC_TEACHER))
    assert sim.outputs.shape == (len(net.output_names), net.steps + 1)
    assert sim.time.shape == (net.steps + 1,) and sim.output_kind == "flux"
    # given input waveforms (rows per grid time) = --input-file
    rng = np.random.default_rng(0)
    x = 1e-4 * rng.standard_normal((net.steps + 1, len(net.input_names)))
    path = write_rows(tmp_path / "u.csv", x)
    given = net.simulate(x)
    assert_same_json(given, cli(capsys, "simulate", LC_TEACHER, "--input-file", path),
                     named={"inputs_source": ("x", str(path))})
    assert np.max(np.abs(given.outputs - sim.outputs)) > 0.1 * np.max(np.abs(sim.outputs))


# -- gradient -------------------------------------------------------------------------------
GRADIENTS = [(XOR, "1,0", "0.3", 2e-6), (IRIS, "0.5,-1,1.2,0.3", "1,0,0", 2e-8),
             ("diode_graph", "0.9,-0.4", "0.3,0.05", 1e-6)]


@pytest.mark.parametrize("spec,x,y,beta", GRADIENTS, ids=lambda v: getattr(v, "stem", v))
def test_gradient_is_grad_json(capsys, tmp_path, spec, x, y, beta):
    if spec == "diode_graph":         # graph_bridge's VCVS has no reference energy: grad refuses
        spec = write(tmp_path, "diode_graph.yaml", DIODE_GRAPH)
    g = eqprop_hw.load(spec).gradient([float(v) for v in x.split(",")],
                                      [float(v) for v in y.split(",")], beta=beta)
    assert_same_json(g, cli(capsys, "grad", spec, "--input", x, "--target", y,
                            "--beta", beta))
    assert g.cosine > 0.999 and g.ep_vector.shape == g.exact_vector.shape


def test_gradient_defaults_and_nudge_modes_follow_grad(capsys):
    net = eqprop_hw.load(XOR)
    for nudge in ("positive", "negative"):
        assert_same_json(net.gradient([0, 1], [0.2], nudge=nudge),
                         cli(capsys, "grad", XOR, "--input", "0,1", "--target", "0.2",
                             "--nudge", nudge))
    ce = eqprop_hw.load(IRIS).gradient([0.5, -1, 1.2, 0.3], [0, 1, 0], beta=1e-6,
                                       loss="cross_entropy", softmax_temperature=0.2)
    assert_same_json(ce, cli(capsys, "grad", IRIS, "--input", "0.5,-1,1.2,0.3", "--target",
                             "0,1,0", "--beta", "1e-6", "--loss", "cross_entropy",
                             "--softmax-temperature", "0.2"))
    assert ce.to_json()["loss_kind"] == "cross_entropy"


def test_exact_gradient_matches_finite_differences_of_simulate(tmp_path):
    """The reference gradient against d/dg of 1/2 |out - y|^2, each loss from simulate()."""
    net = eqprop_hw.load(write(tmp_path, "diode_graph.yaml", DIODE_GRAPH))
    x, y = [0.9, -0.4], np.array([0.3, 0.05])
    g = net.gradient(x, y, beta=1e-7)
    assert g.cosine > 0.999
    values = {e["name"]: e["value"] for e in net.describe()["trainable"]}

    def loss(name, value):
        out = net.with_params({name: value}).simulate(x).outputs
        return 0.5 * float(np.sum((out - y) ** 2))

    for name, value in values.items():
        step = 1e-4 * value
        fd = (loss(name, value + step) - loss(name, value - step)) / (2 * step)
        assert fd == pytest.approx(g.exact[name], rel=1e-4, abs=1e-9 * abs(g.exact_vector).max())


@needs_ngspice
def test_gradient_ngspice_is_grad_json(capsys):
    pytest.importorskip("PySpice")
    g = eqprop_hw.load(IRIS).gradient([0.5, -1, 1.2, 0.3], [1, 0, 0], beta=2e-8,
                                      backend="ngspice")
    assert_same_json(g, cli(capsys, "grad", IRIS, "--input", "0.5,-1,1.2,0.3", "--target",
                            "1,0,0", "--beta", "2e-8", "--backend", "ngspice"))
    assert g.cosine > 0.999


def test_gradient_at_the_spec_temperature_is_grad_json(capsys, tmp_path):
    spec = write(tmp_path, "lin_t.yaml", THERMAL_SPEC)
    net = eqprop_hw.load(spec)
    assert net.temperature == 1e-7
    g = net.gradient([0.5, -0.3], [0.2, -0.1], beta=6e-4, samples=256, seed=3)
    data = cli(capsys, "grad", spec, "--input", "0.5,-0.3", "--target", "0.2,-0.1", "--beta",
               "6e-4", "--samples", "256", "--seed", "3")
    assert_same_json(g, data)
    assert g.stderr == data["stderr"] and data["temperature"] == 1e-7
    # the estimate is within a few standard errors of the closed-form expectation
    spread = np.array(list(g.stderr.values()))
    assert np.max(np.abs(g.ep_vector - g.exact_vector) / spread) < 5
    # an explicit temperature on a spec without one = --temperature
    plain = eqprop_hw.load(write(tmp_path, "lin.yaml", THERMAL_SPEC.replace(
        "temperature: 1.0e-7\n", "")))
    assert plain.temperature is None
    explicit = plain.gradient([0.5, -0.3], [0.2, -0.1], beta=6e-4, temperature=1e-7,
                              samples=256, seed=3)
    assert explicit.ep == g.ep
    sim = net.simulate([0.5, -0.3], samples=256)
    assert_same_json(sim, cli(capsys, "simulate", spec, "--input", "0.5,-0.3", "--samples",
                              "256"))


def test_gradient_lc_is_grad_json(capsys, tmp_path):
    net = eqprop_hw.load(LC_TEACHER)
    g = net.gradient()
    assert_same_json(g, cli(capsys, "grad", LC_TEACHER))
    assert g.cosine > 0.99 and g.target.shape == (len(net.output_names), net.steps + 1)
    # given targets = --target-file (rows per grid time)
    y = 0.5 * g.target.T
    path = write_rows(tmp_path / "y.csv", y)
    given = net.gradient(y=y)
    assert_same_json(given, cli(capsys, "grad", LC_TEACHER, "--target-file", path),
                     named={"targets_source": ("y", str(path))})
    assert given.loss != g.loss


@needs_ngspice
def test_gradient_lc_ngspice_is_grad_json(capsys):
    pytest.importorskip("PySpice")
    g = eqprop_hw.load(LC_DUFFING).gradient(backend="ngspice")
    assert_same_json(g, cli(capsys, "grad", LC_DUFFING, "--backend", "ngspice"))


# -- netlist --------------------------------------------------------------------------------
def test_netlist_is_export_byte_for_byte(capsys):
    cases = [(XOR, {}, []),
             (XOR, {"x": [1, 0], "beta": 2e-6, "target": [1]},
              ["--input", "1,0", "--beta", "2e-6", "--target", "1"]),
             (IRIS, {"x": [0.1, -0.5, 1.2, 0.3], "analysis": "tran", "tstep": 1e-7},
              ["--input", "0.1,-0.5,1.2,0.3", "--analysis", "tran", "--tstep", "1e-7"]),
             (BRIDGE, {"x": [0.3, -0.2]}, ["--input", "0.3,-0.2"]),
             (LC_TEACHER, {}, []),
             (CIRCUITS / "lc" / "lc_nonlinear20.yaml", {"beta": 700.0}, ["--beta", "700"])]
    for spec, options, argv in cases:
        text = eqprop_hw.load(spec).netlist(**options)
        assert text == cli_text(capsys, "export", spec, *argv), (spec, argv)


# -- train and predict ----------------------------------------------------------------------
def test_train_is_train_json_and_predict_is_predict_json(capsys, tmp_path):
    from eqprop_hw.io.params import load_params
    net = eqprop_hw.load(XOR)
    run = net.train(out=tmp_path / "api", epochs=2, plots=False)
    data = cli(capsys, "train", XOR, "--epochs", "2", "--no-plots", "--out", tmp_path / "cli")
    assert_same_json(run, data)
    assert run.params == load_params(tmp_path / "cli" / "params.npz")
    assert (tmp_path / "api" / "params.npz").read_bytes() == \
        (tmp_path / "cli" / "params.npz").read_bytes()
    assert not list((tmp_path / "api").glob("*.png"))
    trained = net.with_params(run.params)
    for split in ("test", "all"):
        pred = trained.predict(split=split)
        assert_same_json(pred, cli(capsys, "predict", XOR, "--params",
                                   tmp_path / "cli" / "params.npz", "--split", split))
    assert pred.outputs.shape == (4, 1) and pred.accuracy == data["test_accuracy"][-1]


def test_predict_iris_is_predict_json(capsys):
    pred = eqprop_hw.load(IRIS).predict(split="test")
    assert_same_json(pred, cli(capsys, "predict", IRIS))
    labels = np.array([s["label"] for s in pred.samples])
    predicted = np.array([s["prediction"] for s in pred.samples])
    assert pred.accuracy == pytest.approx(np.mean(labels == predicted))


def test_train_and_predict_lc_are_the_commands_json(capsys, tmp_path):
    net = eqprop_hw.load(LC_TEACHER)
    run = net.train(out=tmp_path / "api", epochs=2, plots=False)
    data = cli(capsys, "train", LC_TEACHER, "--epochs", "2", "--no-plots", "--out",
               tmp_path / "cli")
    assert_same_json(run, data)
    assert run.params_file.name == "params.json" and sorted(run.params) == sorted(net.trainable)
    pred = net.with_params(run.params).predict()
    assert_same_json(pred, cli(capsys, "predict", LC_TEACHER, "--params",
                               tmp_path / "cli" / "params.json"))
    # the prediction's loss is the training run's final loss (same sequences, same values)
    assert pred.loss == pytest.approx(data["train_loss"][-1], rel=1e-9)
    assert pred.outputs.shape == (2, len(net.output_names), net.steps + 1)


# -- argument checks ------------------------------------------------------------------------
BAD_CALLS = [
    (XOR, "simulate", ([1, 0],), {"backend": "spice"},
     "The 'backend' parameter of simulate must be one of 'native', 'ngspice'; got 'spice'."),
    (XOR, "simulate", ([1, 0, 1],), {},
     "The 'x' parameter of simulate must be an array of shape (2,) (last axis: x0, x1); "
     "got shape (3,)."),
    (XOR, "simulate", ([1, float("nan")],), {}, "must hold finite numbers"),
    (XOR, "simulate", (["1", "0"],), {}, "of finite real numbers"),
    (XOR, "simulate", ([[1, 0], [1]],), {}, "The 'x' parameter of simulate"),
    (XOR, "simulate", ([1, 0],), {"beta": 1e-6}, "'beta' and 'target' go together"),
    (XOR, "simulate", ([1, 0],), {"samples": 10}, "need a Gibbs temperature"),
    (XOR, "simulate", (), {}, "The 'x' parameter of simulate is required"),
    (XOR, "gradient", ([1, 0], [0.1]), {"beta": -1.0}, "'beta' parameter of gradient must be "
     "a finite number > 0; got -1.0."),
    (XOR, "gradient", ([1, 0], [0.1]), {"nudge": "both"}, "'nudge' parameter of gradient"),
    (XOR, "gradient", ([1, 0], [0.1]), {"loss": "cross_entropy", "temperature": 1e-7},
     "finite-temperature sampling supports the squared loss only"),
    (XOR, "gradient", ([1, 0], [0.1]), {"seed": True}, "'seed' parameter of gradient must be "
     "an integer"),
    (XOR, "netlist", ([1, 0],), {"tstep": 1e-6}, "apply to analysis='tran' only"),
    (XOR, "netlist", ([1, 0],), {"analysis": "tran", "tstep": 1.0, "tstop": 0.5},
     "'tstep' (1 s) must not exceed 'tstop' (0.5 s)"),
    (XOR, "train", (), {"epochs": 0}, "'epochs' parameter of train must be an integer >= 1"),
    (XOR, "train", (), {"out": 3}, "'out' parameter of train must be a folder path"),
    (XOR, "train", (), {"workers": 2, "scheduler": "tcp://x:1"}, "not both"),
    (XOR, "predict", (), {"split": "validation"}, "'split' parameter of predict"),
    (LC_TEACHER, "simulate", (), {"temperature": 1e-7},
     "'temperature' is not available for lc networks"),
    (LC_TEACHER, "simulate", (np.zeros((5, 1)),), {}, "The 'x' parameter of simulate must be "
     "an array of shape (3001, 1)"),
    (LC_TEACHER, "gradient", (), {"beta": 0}, "'beta' parameter of gradient"),
    (LC_TEACHER, "netlist", ([1.0],), {}, "'x' parameter of netlist must be an array of "
                                           "shape (3001, 1)"),
    (LC_TEACHER, "train", (), {"workers": 2}, "'workers' is not available for lc networks"),
    (LC_TEACHER, "predict", (), {"loss": "cross_entropy"}, "lc networks use the squared loss"),
]


@pytest.mark.parametrize("spec,method,args,options,message", BAD_CALLS,
                         ids=[f"{c[0].stem}-{c[1]}-{k}" for k, c in enumerate(BAD_CALLS)])
def test_bad_arguments_are_refused_naming_the_parameter(tmp_path, monkeypatch, spec, method,
                                                        args, options, message):
    monkeypatch.chdir(tmp_path)
    net = eqprop_hw.load(spec)
    with pytest.raises(eqprop_hw.InvalidParameterError) as caught:
        getattr(net, method)(*args, **options)
    assert message in str(caught.value)
    assert isinstance(caught.value, ValueError)
    assert list(tmp_path.iterdir()) == []          # nothing written before the refusal
