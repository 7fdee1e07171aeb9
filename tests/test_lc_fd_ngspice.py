"""Issue 17's reproducibility target: the gradient ``grad --backend ngspice`` prints for user
input/target files matches central finite differences of the loss taken through plain
``ngspice -b`` of the netlist ``export`` writes for the same inputs.

The reference is tools/lc_fd_ngspice.py: it edits each trainable value in the exported netlist
text, runs ``ngspice -b -r``, reads the binary raw file with its own parser and computes the
trapezoidal loss itself (no project code between ngspice and the number).
"""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from eqprop_hw.lc.examples import random_lc_data

ROOT = Path(__file__).resolve().parents[1]
needs_ngspice = pytest.mark.skipif(shutil.which("ngspice") is None, reason="needs ngspice")


def load_tool():
    spec = importlib.util.spec_from_file_location("lc_fd_ngspice",
                                                  ROOT / "tools" / "lc_fd_ngspice.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


TOOL = load_tool()


@pytest.fixture()
def tiny_spec(tmp_path):
    """4 nodes (2 nonlinear inductors), 5 trainable couplings, 1000 steps of 0.2 ns."""
    path = tmp_path / "lc_tiny.yaml"
    data = random_lc_data(n_nodes=4, seed=1, tstep=2e-10, tstop=2e-7, name="lc_tiny")
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_perturbed_netlist_moves_exactly_one_value_like_export_params(tiny_spec, tmp_path):
    """The tool's text edit is the circuit ``export --params`` writes for the moved value."""
    text = TOOL.cli("export", tiny_spec)
    trainable, nodes = TOOL.netlist_header(text)
    assert trainable and nodes
    name = trainable[0]
    edited = TOOL.perturbed(text, name, 1.001)
    changed = [(a, b) for a, b in zip(text.splitlines(), edited.splitlines()) if a != b]
    assert len(changed) == 1 and changed[0][0].split()[0] == name
    value = float(changed[0][0].split()[3])
    assert float(changed[0][1].split()[3]) == pytest.approx(value * 1.001, rel=1e-15)
    params = tmp_path / "p.json"
    params.write_text(json.dumps({"format": "eqprop-hw params 1",
                                  "values": {name: value * 1.001}}))
    exported = TOOL.cli("export", tiny_spec, "--params", params)
    line = next(x for x in exported.splitlines() if x.split()[:1] == [name])
    assert float(line.split()[3]) == pytest.approx(value * 1.001, rel=1e-15)
    with pytest.raises(ValueError, match="0 value lines"):
        TOOL.perturbed(text, "NOSUCH", 1.001)


@needs_ngspice
def test_raw_reader_and_breakpoint_free_sources_give_the_simulated_outputs(tiny_spec,
                                                                          tmp_path):
    """Raw ngspice of the exported netlist of an input file, read by the tool, reproduces
    ``simulate``'s native outputs; the breakpoint-free rewrite plays the same waveform."""
    times = np.linspace(0.0, 2e-7, 1001)
    u = 2e-3 * np.sin(2 * np.pi * 4.3e6 * times + 0.4)[:, None]
    np.save(tmp_path / "u.npy", u)
    text = TOOL.cli("export", tiny_spec, "--input-file", tmp_path / "u.npy")
    _, nodes = TOOL.netlist_header(text)
    native = np.array(json.loads(TOOL.cli("simulate", tiny_spec, "--input-file",
                                          tmp_path / "u.npy", "--json"))["outputs"]).T
    scale = np.max(np.abs(native))
    phi = TOOL.ngspice_flux(text, nodes, times, tmp_path)
    assert phi.shape == native.shape and np.max(np.abs(phi - native)) <= 1e-4 * scale
    free = TOOL.breakpoint_free(text)
    assert "PWL(" not in free and "I=pwl(time, 0.0, " in free
    phi_free = TOOL.ngspice_flux(free, nodes, times, tmp_path)
    assert np.max(np.abs(phi_free - native)) <= 1e-4 * scale
    with pytest.raises(ValueError, match="no PWL input source"):
        TOOL.breakpoint_free(free)
    (tmp_path / "a.raw").write_bytes(b"Title: x\nFlags: real\nNo. Variables: 1\n"
                                     b"No. Points: 1\nVariables:\n\t0\ttime\ttime\nValues:\n 0 0\n")
    with pytest.raises(ValueError, match="not a binary raw file"):
        TOOL.read_raw(tmp_path / "a.raw")


@needs_ngspice
def test_ngspice_echo_matches_raw_ngspice_finite_differences_small_network(tiny_spec,
                                                                          tmp_path):
    """Every trainable element, residual = the output swing, one FD step (+-0.1 %)."""
    entry = TOOL.study_example(tiny_spec, [1.0], [1e-3], 0, 0, tmp_path)
    row = entry["residuals"]["1"]
    assert entry["fd_parameters"] == entry["trainable"] and len(entry["trainable"]) >= 5
    assert row["echo_vs_fd"]["cosine"] >= 0.99 and row["echo_vs_fd"]["rel_error"] <= 1e-2, row
    assert row["echo_vs_bptt"]["cosine"] >= 0.999, row
    assert abs(row["raw_loss"] / row["grad_loss"] - 1) <= 1e-3     # same circuit, same loss


@needs_ngspice
@pytest.mark.slow
def test_ngspice_echo_matches_raw_ngspice_finite_differences_duffing(tmp_path):
    """lc_duffing, residuals 1e-3 and 1 of the swing, FD at +-0.1 % and +-0.01 % per element."""
    entry = TOOL.study_example(ROOT / "circuits" / "lc" / "lc_duffing.yaml", [1e-3, 1.0],
                               [1e-3, 1e-4], 0, 0, tmp_path)
    for r, row in entry["residuals"].items():
        assert row["echo_vs_fd"]["cosine"] >= 0.99, (r, row["echo_vs_fd"])
        assert row["fd_noise"]["rel_error"] <= 1e-2, (r, row["fd_noise"])   # FD resolved
        assert row["echo_vs_bptt"]["cosine"] >= 0.999, (r, row["echo_vs_bptt"])
