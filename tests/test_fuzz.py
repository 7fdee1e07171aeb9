"""Property-based fuzzing: any spec text or command line gives a result or ONE clean error."""

from __future__ import annotations

import string

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eqprop_hw.build import build_circuit
from eqprop_hw.cli import main
from eqprop_hw.errors import EqpropError
from eqprop_hw.spec import parse_spec, read_yaml

VALID = """name: fuzz
kind: layered
layers: [2, 3, 1]
inputs: {doubling: true, gain: 5.0, bias: 1.0}
conductance: {min: 1.0e-8, max: 1.0e-3, init: {low: 1.0e-6, high: 2.0e-5}}
activation: {type: rectify}
dataset: {name: xor}
training: {epochs: 2, batch_size: 4, learning_rate: 0.03, beta: 2.0e-6}
"""

FUZZ = settings(max_examples=150, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow])


def load_or_error(text: str) -> None:
    """Either a spec and circuit come out, or an EqpropError; anything else fails the test."""
    try:
        build_circuit(parse_spec(read_yaml(text, "fuzz.yaml"), "fuzz.yaml"))
    except EqpropError as error:
        assert str(error).strip() and "\n" not in str(error).strip()


@FUZZ
@given(st.text(alphabet=string.printable, max_size=300))
def test_random_text_as_a_spec(text):
    load_or_error(text)


@FUZZ
@given(st.data())
def test_mutated_valid_spec(data):
    lines = VALID.splitlines()
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(0, len(lines) - 1))
        action = data.draw(st.sampled_from(["delete", "duplicate", "garble", "number"]))
        if action == "delete" and len(lines) > 1:
            del lines[position]
        elif action == "duplicate":
            lines.insert(position, lines[position])
        elif action == "garble":
            cut = data.draw(st.integers(0, len(lines[position])))
            lines[position] = lines[position][:cut] + data.draw(
                st.text(alphabet="[]{}:,- '\"\t#&*!|>%@`0123456789.eE", max_size=6))
        else:
            lines[position] = lines[position].replace(
                "1", data.draw(st.sampled_from(["-1", "0", "1e308", "nan", "inf", "1e-400",
                                                "999999999", "true", "null"])), 1)
    load_or_error("\n".join(lines) + "\n")


@FUZZ
@given(st.recursive(st.none() | st.booleans() | st.floats(allow_nan=True) | st.integers()
                    | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(st.sampled_from(["name", "kind", "layers", "inputs",
                                                       "elements", "outputs", "models",
                                                       "conductance", "activation", "gain",
                                                       "nodes", "g", "dc", "training"]),
                                      inner, max_size=5),
                    max_leaves=20))
def test_random_structures_as_a_spec(value):
    load_or_error(yaml.safe_dump(value))


COMMANDS = ["describe", "export", "simulate", "grad", "predict", "check", "import", "train"]


@settings(max_examples=80, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(command=st.sampled_from(COMMANDS),
       args=st.lists(st.sampled_from(["--input", "--target", "--beta", "--params", "--json",
                                      "--backend", "native", "nope", "1,2", "nan", "-1", "",
                                      "--split", "--epochs", "0", "--out", "x.yaml",
                                      "circuits/xor.yaml", "--samples", "--analysis", "tran",
                                      "--nudge", "sideways", "1e999"]), max_size=6))
def test_random_command_lines_exit_cleanly(capsys, tmp_path_factory, command, args):
    folder = tmp_path_factory.mktemp("cli")
    argv = [command] + [str(folder / a) if a == "x.yaml" else a for a in args]
    if "train" == command:
        argv += ["--out", str(folder / "run"), "--epochs", "1"]
    try:
        code = main(argv)
    except SystemExit as stop:   # only --help/--version may exit this way
        code = stop.code
    captured = capsys.readouterr()
    assert code in (0, 1, 2), (argv, code, captured.err)
    if code != 0:
        lines = [line for line in captured.err.splitlines() if line.startswith("eqprop-hw: error")]
        assert len(lines) == 1, (argv, captured.err)
        assert "Traceback" not in captured.err
