"""Spec loading and validation: defaults, line numbers in errors."""

from pathlib import Path

import pytest

from eqprop_hw.errors import SpecError
from eqprop_hw.circuit.spec import load_spec, parse_spec, read_yaml

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("path", sorted((ROOT / "circuits").glob("*.yaml")), ids=lambda p: p.stem)
def test_bundled_specs_validate(path):
    spec = load_spec(path)
    assert spec.name == path.stem
    assert spec.kind in ("layered", "graph")


def test_layered_defaults_are_filled_in():
    data = parse_spec({"name": "t", "kind": "layered", "layers": [2, 3, 1]}).data
    assert data["inputs"] == {"doubling": True, "gain": 1.0, "bias": 1.0}
    assert data["activation"]["type"] == "diode"
    assert data["activation"]["model"]["IS"] == 1e-14
    assert data["options"]["reltol"] == 1e-9
    assert data["amplifiers"] is None


def write(tmp_path, text):
    path = tmp_path / "s.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("text, line, fragment", [
    ("name: t\nkind: layered\nlayers: [2, 3\n", 4, "malformed YAML"),
    ("name: t\nkind: layered\nlayers: [2, 3, 1]\nfoo: 1\n", 4, "unknown key 'foo'"),
    ("name: t\nkind: layered\nlayers: [2, 0, 1]\n", 3, "layers[1]"),
    ("name: t\nkind: layered\nlayers: [2, 1]\nconductance:\n  min: 1e-3\n  max: 1e-4\n", 5,
     "must be below"),
    ("name: t\nkind: layered\nlayers: [2, 1]\nconductance:\n  min: -1e-3\n", 5, "positive"),
    ("name: t\nkind: graph\nelements:\n  - {name: R1, nodes: [a, 0], g: -1}\n", 4,
     "conductance must be positive"),
    ("name: t\nkind: graph\nelements:\n  - {name: R1, nodes: [a, 0], g: 1}\n"
     "  - {name: R1, nodes: [a, 0], g: 1}\n", 5, "duplicate element name"),
    ("name: t\nkind: graph\nelements:\n  - {name: K1, nodes: [a, 0, b]}\n", 4,
     "unknown element type"),
    ("name: t\nkind: graph\nelements:\n  - {name: D1, nodes: [a, 0], model: DX}\n", 4,
     "unknown diode model"),
    ("name: t\nkind: wobble\n", 2, "kind must be one of"),
    ("name: t\nname: u\nkind: layered\n", 2, "duplicate key"),
])
def test_errors_name_file_and_line(tmp_path, text, line, fragment):
    path = write(tmp_path, text)
    with pytest.raises(SpecError) as info:
        load_spec(path)
    message = str(info.value)
    assert message.startswith(f"{path}:{line}: "), message
    assert fragment in message


def test_missing_file_and_non_mapping(tmp_path):
    with pytest.raises(SpecError, match="no such file"):
        load_spec(tmp_path / "nope.yaml")
    with pytest.raises(SpecError, match="must be a YAML mapping"):
        load_spec(write(tmp_path, "- 1\n- 2\n"))


def test_yaml_keeps_line_numbers():
    data = read_yaml("a: 1\nb:\n  c: 2\n")
    assert data.key_lines == {"a": 1, "b": 2}
    assert data["b"].key_lines == {"c": 3}


def test_control_character_is_one_line_error_with_its_line(tmp_path):
    path = write(tmp_path, "name: t\nkind: layered\nlayers: [2,\x0c 1]\n")
    with pytest.raises(SpecError) as info:
        load_spec(path)
    assert str(info.value).startswith(f"{path}:3: malformed YAML")
    assert "\n" not in str(info.value)
