"""From import to training (issue 21, part 3): ``eqprop-hw import --inputs/--outputs/
--trainable/--data`` and ``eqprop_hw.import_netlist`` give a spec that simulates like the
original netlist, differentiates like any spec and trains; a spec without inputs needs no
``--input``.

References: raw ``ngspice -b`` on the ORIGINAL netlist (``test_import_real.raw_ngspice``, at
eqprop-hw's solver tolerances) for operating points, to 1e-6 V; the exact gradient for EP
(cosine >= 0.999, relative error <= 1e-2 as in ``test_ep``); the loss measured before training
in the same test for training. Refusals are asserted as whole lines.
"""

from __future__ import annotations

import doctest
import json
import shutil

import pytest
import yaml

import eqprop_hw
from eqprop_hw.circuit import import_roles
from eqprop_hw.circuit.import_roles import assign_roles
from eqprop_hw.errors import NetlistError
from eqprop_hw.networks.base import InvalidParameterError
from test_import_real import TOLERANCE, cli, raw_ngspice

needs_ngspice = pytest.mark.skipif(shutil.which("ngspice") is None, reason="needs ngspice")

#: A resistor network with two sources and a diode (written for this test).
NETLIST = """\
* two sources, five resistors and a clamping diode
V1 in1 0 DC 1.5
V2 in2 0 0.7
R1 in1 n3 1k
R2 in2 n3 2.2k
R3 n3 n5 4.7k
R4 n5 0 10k
R5 n3 0 3.3k
D1 n5 0 DX
.model DX D(IS=1e-14 N=1.2)
.op
.end
"""
ROLES = ["--inputs", "V1,v2", "--outputs", "n3,N5", "--trainable", "r*"]
SOURCE_VALUES = "1.5,0.7"     # the imported values of V1, V2


@pytest.fixture()
def netlist(tmp_path):
    path = tmp_path / "net.cir"
    path.write_text(NETLIST)
    return path


def imported(tmp_path, netlist, *roles) -> tuple:
    """``eqprop-hw import NETLIST -o spec.yaml ROLES``: (spec path, spec mapping)."""
    spec = tmp_path / "spec.yaml"
    code, out, err = cli("import", netlist, "-o", spec, *roles)
    assert code == 0 and out == "", err
    return spec, yaml.safe_load(spec.read_text())


def assert_matches(voltages: dict, reference: dict) -> None:
    """Every node of the circuit within TOLERANCE of raw ngspice, and every node compared."""
    nodes = {n for n in reference if not n.endswith("#branch")}
    assert set(voltages) - {"0"} == nodes, (sorted(voltages), sorted(nodes))
    for node in nodes:
        assert abs(voltages[node] - reference[node]) <= TOLERANCE, \
            (node, voltages[node], reference[node])


# -- the spec ---------------------------------------------------------------------------------
def test_roles_give_a_spec_with_inputs_outputs_trainable_and_data(tmp_path, netlist):
    spec, data = imported(tmp_path, netlist, *ROLES)
    assert data["inputs"] == ["V1", "V2"] and data["outputs"] == ["n3", "n5"]
    assert data["trainable"] == ["R*"] and data["dataset"] == {"name": "teacher"}
    assert data["training"] == {"learning_rate": 1e-4}
    net = eqprop_hw.load(spec)
    assert net.input_names == ["V1", "V2"] and net.output_names == ["n3", "n5"]
    assert net.trainable == ["R1", "R2", "R3", "R4", "R5"]
    values = {e["name"]: e["value"] for e in net.describe()["elements"]}
    assert values["R2"] == pytest.approx(1 / 2200.0, rel=1e-15)    # the imported value
    # the sources keep their imported values: the netlist without --input holds them
    text = net.netlist()
    assert "V1 in1 0 DC 1.5\n" in text and "V2 in2 0 DC 0.7\n" in text


def test_a_pattern_subset_is_written_as_given(tmp_path, netlist):
    _spec, data = imported(tmp_path, netlist, "--inputs", "V1", "--outputs", "n5",
                           "--trainable", "R[1-3],r5", "--data", "none")
    assert data["trainable"] == ["R[1-3]", "R5"] and data["dataset"] == {"name": "none"}
    assert "training" not in data
    assert eqprop_hw.load(tmp_path / "spec.yaml").trainable == ["R1", "R2", "R3", "R5"]


def test_current_sources_mnist_paths_and_renamed_nodes(tmp_path):
    path = tmp_path / "vendor.cir"
    path.write_text("vendor\nI1 0 IN+ 1m\nR1 IN+ out 1k\nR2 out 0 1k\n.end\n")
    code, out, err = cli("import", path, "--inputs", "i1", "--outputs", "out",
                         "--data", "mnist:data/mnist.npz")
    assert code == 0, err
    data = yaml.safe_load(out)
    assert data["inputs"] == ["I1"] and data["outputs"] == ["out"]
    assert data["dataset"] == {"name": "mnist", "path": "data/mnist.npz"}
    assert cli("import", path, "--outputs", "IN+")[2] == (
        f"eqprop-hw: error: {path}: --outputs: invalid node name 'IN+': it is not valid; a "
        "node name is lower-case letters, digits and '_'; nodes renamed on import (IN+ -> "
        "in_p, n.1 -> n_1) go by their new names, listed in the import note\n")
    code, out, err = cli("import", path, "--outputs", "in_p")
    assert code == 0 and yaml.safe_load(out)["outputs"] == ["in_p"], err


def test_without_role_options_the_import_is_unchanged(tmp_path, netlist):
    _spec, data = imported(tmp_path, netlist)
    assert data["inputs"] == [] and data["outputs"] == [] and "dataset" not in data
    assert "trainable" not in data


# -- operating point against raw ngspice --------------------------------------------------------
@needs_ngspice
@pytest.mark.parametrize("backend", ["ngspice", "native"])
def test_simulate_at_the_imported_values_matches_raw_ngspice(tmp_path, netlist, backend):
    reference = raw_ngspice(tmp_path, NETLIST)
    spec, _ = imported(tmp_path, netlist, *ROLES)
    code, out, err = cli("simulate", spec, "--input", SOURCE_VALUES, "--backend", backend,
                         "--json")
    assert code == 0, err
    result = json.loads(out)
    assert_matches(result["voltages"], reference)
    assert result["outputs"] == [result["voltages"]["n3"], result["voltages"]["n5"]]


@needs_ngspice
@pytest.mark.parametrize("backend", ["ngspice", "native"])
def test_an_input_less_spec_simulates_without_input_like_raw_ngspice(tmp_path, netlist,
                                                                     backend):
    reference = raw_ngspice(tmp_path, NETLIST)
    spec, data = imported(tmp_path, netlist, "--outputs", "n5")
    assert data["inputs"] == [] and "dataset" not in data
    code, out, err = cli("simulate", spec, "--backend", backend, "--json")
    assert code == 0, err
    result = json.loads(out)
    assert_matches(result["voltages"], reference)
    assert abs(result["outputs"][0] - reference["n5"]) <= TOLERANCE
    code, out, err = cli("simulate", spec, "--backend", backend)        # the readable form
    assert code == 0 and out.startswith("n5  V(n5) = "), err
    # the API: no x for a spec without inputs
    sim = eqprop_hw.load(spec).simulate(backend=backend)
    assert sim.outputs.shape == (1,) and abs(sim.outputs[0] - reference["n5"]) <= TOLERANCE


def test_the_api_of_an_input_less_spec(tmp_path, netlist):
    spec, _ = imported(tmp_path, netlist, "--outputs", "n3,n5", "--trainable", "R*")
    net = eqprop_hw.load(spec)
    single = net.simulate()
    assert single.outputs.shape == (2,)
    assert net.simulate([]).outputs.tolist() == single.outputs.tolist()
    assert net.simulate([[], []]).outputs.tolist() == [single.outputs.tolist()] * 2
    g = net.gradient(y=[0.8, 0.5])
    assert g.cosine >= 0.999 and g.rel_error <= 1e-2
    for bad, shape in (([1.0], "(1,)"), ([[]], "(1, 0)")):
        with pytest.raises(InvalidParameterError, match=rf"must be an array of shape \(0,\); "
                                                        rf"got shape \{shape[:-1]}\)"):
            net.gradient(bad, [0.8, 0.5])
    with pytest.raises(InvalidParameterError, match="'x' and 'y' are required"):
        net.gradient()
    # check (random targets, no inputs) and export need no --input either
    code, out, err = cli("check", spec, "--samples", "2", "--no-ngspice", "--json")
    assert code == 0, err
    rows = {row["name"]: row for row in json.loads(out)["rows"]}
    assert rows["ep native"]["cosine"] >= 0.999 and rows["fd native"]["cosine"] >= 0.999
    code, out, err = cli("export", spec)
    assert code == 0 and "V1 in1 0 DC 1.5\n" in out and "V2 in2 0 DC 0.7\n" in out, err


def test_a_spec_with_inputs_still_needs_input(tmp_path, netlist):
    spec, _ = imported(tmp_path, netlist, *ROLES)
    assert cli("simulate", spec) == (2, "", "eqprop-hw: error: one of the arguments --input "
                                            "--input-file is required (see 'eqprop-hw "
                                            "simulate --help')\n")
    assert cli("grad", spec, "--target", "1,0") == (
        2, "", "eqprop-hw: error: the following arguments are required: --input, --target "
               "(see 'eqprop-hw grad --help')\n")
    with pytest.raises(InvalidParameterError, match="'x' parameter of simulate is required"):
        eqprop_hw.load(spec).simulate()


# -- gradients ---------------------------------------------------------------------------------
@needs_ngspice
@pytest.mark.parametrize("backend", ["ngspice", "native"])
def test_grad_of_the_imported_circuit_agrees_with_the_exact_gradient(tmp_path, netlist,
                                                                      backend):
    spec, _ = imported(tmp_path, netlist, *ROLES)
    code, out, err = cli("grad", spec, "--input", SOURCE_VALUES, "--target", "0.8,0.5",
                         "--backend", backend, "--json")
    assert code == 0, err
    data = json.loads(out)
    assert sorted(data["ep"]) == ["R1", "R2", "R3", "R4", "R5"]
    assert data["cosine"] >= 0.999 and data["rel_error"] <= 1e-2
    # the same on the input-less spec, without --input
    spec, _ = imported(tmp_path, netlist, "--outputs", "n3,n5", "--trainable", "R*")
    code, out, err = cli("grad", spec, "--target", "0.8,0.5", "--backend", backend, "--json")
    assert code == 0, err
    assert json.loads(out)["cosine"] >= 0.999 and json.loads(out)["rel_error"] <= 1e-2
    assert cli("grad", spec)[2] == ("eqprop-hw: error: the following arguments are required: "
                                    "--target (see 'eqprop-hw grad --help')\n")


@needs_ngspice
def test_check_on_the_imported_spec(tmp_path, netlist):
    spec, _ = imported(tmp_path, netlist, *ROLES)
    code, out, err = cli("check", spec, "--samples", "2", "--json")
    assert code == 0, err
    rows = {row["name"]: row for row in json.loads(out)["rows"]}
    for name in ("ep native", "ep ngspice", "ep software", "fd native", "fd ngspice"):
        assert rows[name]["cosine"] >= 0.999 and rows[name]["rel_error"] <= 1e-2, rows[name]


# -- training ----------------------------------------------------------------------------------
def test_train_two_epochs_lowers_the_loss(tmp_path, netlist):
    spec = tmp_path / "tiny.yaml"
    eqprop_hw.import_netlist(netlist, inputs=["V1", "V2"], outputs=["n3", "n5"],
                             trainable=["R*"], data={"name": "teacher", "samples": 24},
                             output=spec)
    net = eqprop_hw.load(spec)
    before = net.predict("train").loss           # the initial loss, same split and loss
    code, out, err = cli("train", spec, "--epochs", "2", "--out", tmp_path / "run",
                         "--no-plots", "--json")
    assert code == 0, err
    metrics = json.loads(out)
    assert len(metrics["train_loss"]) == 2
    after = net.with_params(str(tmp_path / "run" / "params.npz")).predict("train").loss
    assert after == pytest.approx(metrics["train_loss"][-1], rel=1e-9)
    assert metrics["train_loss"][1] < metrics["train_loss"][0] < before, \
        (before, metrics["train_loss"])


def test_the_cli_default_data_set_trains(tmp_path, netlist):
    spec, _ = imported(tmp_path, netlist, *ROLES)          # dataset: teacher (500 samples)
    before = eqprop_hw.load(spec).predict("train").loss
    code, out, err = cli("train", spec, "--epochs", "2", "--out", tmp_path / "run",
                         "--no-plots", "--json")
    assert code == 0, err
    losses = json.loads(out)["train_loss"]
    assert losses[1] < losses[0] < before, (before, losses)


# -- refusals ----------------------------------------------------------------------------------
REFUSALS = [
    (["--inputs", "V9"], "--inputs: no element named 'V9' (independent sources: V1, V2)"),
    (["--inputs", "R1"], "--inputs: 'R1' is a resistor, not an independent source (V or I); "
                         "an input names a source (sources: V1, V2)"),
    (["--inputs", "D1"], "--inputs: 'D1' is a diode, not an independent source (V or I); an "
                         "input names a source (sources: V1, V2)"),
    (["--inputs", "V1,v1"], "--inputs: 'v1' is given twice"),
    (["--inputs", "V1,,V2"], "--inputs: name 2 is empty"),
    (["--inputs", ""], "--inputs: name 1 is empty"),
    (["--outputs", "V1"], "--outputs: 'V1' is an element (a voltage source), not a node; an "
                          "output names a node (nodes: in1, in2, n3, n5)"),
    (["--outputs", "0"], "--outputs: '0' is ground (always 0 V); an output names another node"),
    (["--outputs", "gnd"], "--outputs: 'gnd' is ground (always 0 V); an output names another "
                           "node"),
    (["--outputs", "n7"], "--outputs: 'n7' is not a node of the circuit (nodes: in1, in2, n3, "
                          "n5)"),
    (["--outputs", "n3,N3"], "--outputs: 'N3' is given twice"),
    (["--outputs", "nudgebeta"], "--outputs: node 'nudgebeta' is reserved: the netlist writer "
                                 "names its own nodes like this (ynudge0, ynudge1, ..., "
                                 "nudgebeta); rename it (a netlist exported with --beta: "
                                 "export it without --beta to import it)"),
    (["--trainable", "X*"], "--trainable: pattern 'X*' matches no element (elements: V1, V2, "
                            "R1, R2, R3, R4, R5, D1)"),
    (["--trainable", "R9"], "--trainable: pattern 'R9' matches no element (elements: V1, V2, "
                            "R1, R2, R3, R4, R5, D1)"),
    (["--trainable", "[VD]*"], "--trainable: pattern '[VD]*' matches no resistor (it matches "
                               "V1, V2, D1); only resistors train"),
    (["--trainable", "R 1"], "--trainable: pattern 'R 1' holds the white-space character "
                             "U+0020; a pattern is letters, digits, '_' and the wildcards "
                             "* ? [ ] ! -"),
    (["--data", "cifar"], "--data: unknown data set 'cifar' (one of: teacher, xor, iris, "
                          "digits, none, or mnist:PATH)"),
    (["--data", "mnist:"], "--data: mnist:PATH needs a path (an .npz file or a folder of IDX "
                           "files)"),
]


@pytest.mark.parametrize("argv,message", REFUSALS, ids=[m.split(":")[0] + ":" + a[1][:12]
                                                        for a, m in REFUSALS])
def test_refusals_name_the_option_and_the_name(tmp_path, netlist, argv, message):
    code, out, err = cli("import", netlist, "-o", tmp_path / "spec.yaml", *argv)
    assert (code, out, err) == (2, "", f"eqprop-hw: error: {netlist}: {message}\n")
    assert not (tmp_path / "spec.yaml").exists()


def test_a_capacitor_pattern_is_refused(tmp_path):
    path = tmp_path / "rc.cir"
    path.write_text("rc\nV1 a 0 1\nR1 a b 1k\nC1 b 0 1n\nR2 b 0 1k\n.end\n")
    code, _out, err = cli("import", path, "--trainable", "*")
    assert (code, err) == (2, f"eqprop-hw: error: {path}: --trainable: pattern '*' matches a "
                              "capacitor C1: only resistors train (at DC a capacitor is open "
                              "and an inductor a short); select resistors, e.g. 'R*'\n")


def test_the_api_names_its_parameters(tmp_path, netlist):
    with pytest.raises(NetlistError) as error:
        eqprop_hw.import_netlist(netlist, outputs=["V1"])
    assert str(error.value) == (f"{netlist}: outputs: 'V1' is an element (a voltage source), "
                                "not a node; an output names a node (nodes: in1, in2, n3, n5)")
    with pytest.raises(InvalidParameterError, match="The 'inputs' parameter of import_netlist "
                                                    "must be a list of names; got str."):
        eqprop_hw.import_netlist(netlist, inputs="V1")
    with pytest.raises(InvalidParameterError, match="'output' parameter of import_netlist "
                                                    "names the netlist"):
        eqprop_hw.import_netlist(netlist, output=netlist)
    assert netlist.read_text() == NETLIST
    # [] means none: the metadata-free import's default, written explicitly
    spec = eqprop_hw.import_netlist(netlist, inputs=[], outputs=[], trainable=[])
    assert (spec["inputs"], spec["outputs"], spec["trainable"]) == ([], [], [])
    assert "dataset" not in spec


def test_assign_roles_is_pure():
    spec = {"name": "d", "kind": "graph", "elements": [
        {"name": "V1", "nodes": ["a", "0"], "dc": 1.0},
        {"name": "R1", "nodes": ["a", "b"], "g": 1e-3},
        {"name": "R2", "nodes": ["b", "0"], "g": 1e-3}]}
    copy = json.loads(json.dumps(spec))
    out = assign_roles(spec, ["V1"], ["b"], ["R1"])
    assert spec == copy and out is not spec
    assert out["trainable"] == ["R1"] and out["dataset"] == {"name": "teacher"}


def test_module_examples_run(tmp_path):
    result = doctest.testmod(import_roles, extraglobs={"TMP": tmp_path}, verbose=False)
    assert result.failed == 0 and result.attempted > 0
