"""Bounded readers, strict checkpoints and CLI count limits (issue 15, parts 3-6).

Each reader is checked against an independent reference (numpy's own NPY/NPZ reader,
:mod:`gzip`, a recursive JSON depth, the exact byte boundary of a limit), and the forged
checkpoints of the hostile corpus are checked to be *valid* before their one change, so that
each corpus refusal is caused by the attack alone.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from eqprop_hw.io import fileio
from eqprop_hw.cli import MAX_CLI_VALUES, UsageError, parse_numbers
from eqprop_hw.errors import InputDataError, ParamsError
from eqprop_hw.io.fileio import (check_json_depth, decompress_gzip, json_depth, parse_npy,
                              read_bounded, read_npz, read_number_rows)

from hostile import forge
from hostile import cases_state, run_in


run = run_in   # eqprop-hw ARGV in-process in a folder


# -- the bounded reader ------------------------------------------------------------------------
def test_limit_is_exact_to_the_byte(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"x" * 10)
    assert read_bounded(path, 10) == b"x" * 10
    with pytest.raises(InputDataError, match=r"too large: 10 bytes, the limit is 9 bytes"):
        read_bounded(path, 9)


def test_devices_and_fifos_are_refused_at_once(tmp_path):
    os.mkfifo(tmp_path / "pipe")       # no writer: a blocking open would hang forever
    start = time.perf_counter()
    for path, kind in (("/dev/zero", "character device"), (tmp_path / "pipe", "FIFO")):
        with pytest.raises(InputDataError, match=f"not a regular file \\(a {kind}\\)"):
            read_bounded(path, 2**40)
    assert time.perf_counter() - start < 5.0


# -- gzip, NPY, NPZ against the standard readers ------------------------------------------------
def test_gzip_matches_the_standard_library_and_refuses_bombs():
    rng = np.random.default_rng(1)
    parts = [rng.integers(0, 256, size, dtype=np.uint8).tobytes() for size in (0, 1, 70_000)]
    data = b"".join(gzip.compress(part) for part in parts)    # three members
    assert decompress_gzip(data, "x.gz") == gzip.decompress(data) == b"".join(parts)
    with pytest.raises(InputDataError, match="decompresses to more than 1000 bytes"):
        decompress_gzip(gzip.compress(bytes(1001)), "x.gz", limit=1000)
    with pytest.raises(InputDataError, match="decompression bomb"):
        decompress_gzip(forge.gzip_bomb(4), "x.gz")


@pytest.mark.parametrize("array", [
    np.arange(12, dtype=">i4").reshape(3, 4),
    np.asfortranarray(np.linspace(0, 1, 12).reshape(3, 4)),
    np.array(3.5), np.zeros((0, 5), np.uint8), np.array(["R1", "RL1_0_0"]),
    np.array([True, False]), np.arange(6, dtype="<f4").reshape(1, 2, 3)])
def test_npy_parser_matches_numpy(array):
    raw = forge.npy(array)
    expected = np.load(io.BytesIO(raw), allow_pickle=False)
    got = parse_npy(raw, "a.npz", "a", strings=True)
    assert got.dtype == expected.dtype.newbyteorder("=") and got.shape == expected.shape
    assert np.array_equal(got, expected)


def test_npz_reader_matches_numpy_on_compressed_archives():
    buffer = io.BytesIO()
    arrays = {"x": np.random.default_rng(2).normal(size=(50, 3)), "names": np.array(["a", "b"])}
    np.savez_compressed(buffer, **arrays)
    got = read_npz(buffer.getvalue(), "a.npz", ("x", "names", "absent"), strings=True)
    with np.load(io.BytesIO(buffer.getvalue())) as reference:
        for key in arrays:
            assert np.array_equal(got[key], reference[key])
    assert "absent" not in got and sorted(got[""]) == ["names", "x"]


def test_npz_member_lying_about_its_size_is_refused():
    raw = forge.lie_about_size(forge.npz({"x": np.arange(100.0)}), "x.npy", 64)
    with pytest.raises(InputDataError, match="member 'x.npy': cannot read"):
        read_npz(raw, "a.npz", ("x",))


def _reference_depth(value) -> int:
    if isinstance(value, dict):
        return 1 + max((_reference_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_reference_depth(v) for v in value), default=0)
    return 0


def test_json_depth_matches_a_recursive_count():
    rng = np.random.default_rng(3)

    def nested(level):
        if level == 0 or rng.random() < 0.2:
            return rng.choice(['a "[quoted]" {x}', "\\\\", 1.5, None])
        if rng.random() < 0.5:
            return [nested(level - 1) for _ in range(rng.integers(0, 3))]
        return {f"k{i}[": nested(level - 1) for i in range(rng.integers(0, 3))}

    for _ in range(200):
        value = nested(int(rng.integers(0, 12)))
        assert json_depth(json.dumps(value)) == _reference_depth(value)
    check_json_depth("[" * 32 + "]" * 32, "p.json", ParamsError)
    with pytest.raises(ParamsError, match="nested 33 levels deep, the limit is 32"):
        check_json_depth("[" * 33 + "]" * 33, "p.json", ParamsError)


# -- CSV and CLI counts at their limits ---------------------------------------------------------
def test_csv_row_limit_is_exact(tmp_path, monkeypatch):
    monkeypatch.setattr(fileio, "MAX_CSV_ROWS", 5)
    path = tmp_path / "rows.csv"
    path.write_text("x\n" + "".join(f"{k}\n" for k in range(5)))
    assert read_number_rows(path, 1).ravel().tolist() == [0, 1, 2, 3, 4]
    path.write_text("x\n" + "".join(f"{k}\n" for k in range(6)))
    with pytest.raises(InputDataError, match=r"rows.csv:7: more than 5 data rows"):
        read_number_rows(path, 1)


def test_option_value_limit_is_exact():
    assert len(parse_numbers(",".join(["2"] * MAX_CLI_VALUES), "--input")) == MAX_CLI_VALUES
    with pytest.raises(UsageError, match=f"{MAX_CLI_VALUES + 1} values, more than the limit"):
        parse_numbers(",".join(["2"] * (MAX_CLI_VALUES + 1)), "--input")


def test_count_limits_accept_their_bounds(tmp_path):
    from eqprop_hw.cli import MAX_SEED, build_parser
    args = build_parser().parse_args(["train", "s.yaml", "--epochs", "1", "--seed",
                                      str(MAX_SEED), "--workers", "256", "--chunks", "1"])
    assert (args.epochs, args.seed, args.workers, args.chunks) == (1, MAX_SEED, 256, 1)


# -- checkpoints: the corpus's forged states are valid before their one change ------------------
def _folder(tmp_path, name):
    folder = tmp_path / name
    (folder / "run").mkdir(parents=True)
    (folder / "tiny.yaml").write_text(cases_state.TINY)
    (folder / "lc.yaml").write_text(cases_state.LC)
    return folder


def test_forged_checkpoint_without_change_resumes_like_a_real_one(tmp_path):
    real = _folder(tmp_path, "real")
    assert run(["train", "tiny.yaml", "--out", "run", "--epochs", "1", "--no-plots",
                "--keep-checkpoint"], real)[0] == 0
    from eqprop_hw.learning.train import _read_checkpoint
    epoch, values, metrics, position, _ = _read_checkpoint(real / "run" / "checkpoint.npz",
                                                           len(cases_state.tiny_fields()["values"]),
                                                           "tiny", 2, 4)
    assert (epoch, position) == (1, 0) and metrics["spec"] == "tiny"
    from eqprop_hw.io.params import load_params
    trained = load_params(real / "run" / "params.npz")     # written by the same epoch
    assert values.tolist() == list(trained.values())
    forged = _folder(tmp_path, "forged")
    cases_state.state(cases_state.tiny_fields)(forged / "run" / "checkpoint.npz")
    code, _, err = run(["train", "tiny.yaml", "--out", "run", "--epochs", "2", "--resume",
                        "--no-plots"], forged)
    assert code == 0, err
    written = json.loads((forged / "run" / "metrics.json").read_text())
    assert written["epochs"] == [1, 2]


def test_forged_lc_checkpoint_without_change_resumes(tmp_path):
    folder = _folder(tmp_path, "lc")
    cases_state.state(cases_state.lc_fields)(folder / "run" / "checkpoint.npz")
    code, _, err = run(["train", "lc.yaml", "--out", "run", "--epochs", "2", "--resume",
                        "--no-plots"], folder)
    assert code == 0, err
    assert json.loads((folder / "run" / "metrics.json").read_text())["epochs"] == [0, 1, 2]


def test_a_refused_resume_or_no_op_run_leaves_the_trained_run_unchanged(tmp_path):
    folder = _folder(tmp_path, "trained")
    assert run(["train", "tiny.yaml", "--out", "run", "--epochs", "2", "--no-plots",
                "--keep-checkpoint"], folder)[0] == 0
    run_dir = folder / "run"
    before = {p.name: p.read_bytes() for p in run_dir.iterdir()}
    with np.load(run_dir / "checkpoint.npz") as state:
        fields = {key: state[key] for key in state.files}
    fields["values"] = np.where(np.arange(fields["values"].size) == 3, np.nan, fields["values"])
    np.savez(run_dir / "checkpoint.npz", **fields)
    corrupted = (run_dir / "checkpoint.npz").read_bytes()
    for argv in (["--resume", "--epochs", "3"], ["--epochs", "0"], ["--resume", "--epochs", "1"]):
        code, out, err = run(["train", "tiny.yaml", "--out", "run", "--no-plots", *argv],
                             folder)
        assert code == 2 and out == "" and len(err.splitlines()) == 1, (argv, err)
        assert {p.name: p.read_bytes() for p in run_dir.iterdir()} == \
            dict(before, **{"checkpoint.npz": corrupted})
    assert "'values'[3] is nan" in run(["train", "tiny.yaml", "--out", "run", "--resume"],
                                       folder)[2]


def test_checkpoint_written_by_numpy_compressed_is_still_read(tmp_path):
    """The reader is not tied to np.savez's stored members: a deflated archive reads too."""
    folder = _folder(tmp_path, "deflated")
    cases_state.state(cases_state.tiny_fields, method=zipfile.ZIP_DEFLATED)(
        folder / "run" / "checkpoint.npz")
    code, _, err = run(["train", "tiny.yaml", "--out", "run", "--epochs", "1", "--resume",
                        "--no-plots"], folder)
    assert code == 0, err


@pytest.mark.parametrize("name", ["eeg", "membrane"])
def test_recordings_read_through_the_bounded_reader_match_numpy(name):
    import importlib.util
    from eqprop_hw.lc.train import RECORDINGS, load_recording
    package, relative, dtype, channels, _, _ = RECORDINGS[name]
    if importlib.util.find_spec(package) is None:
        pytest.skip(f"{package} is not installed")
    path = Path(list(importlib.util.find_spec(package).submodule_search_locations)[0]) / relative
    expected = np.fromfile(path, dtype=dtype).astype(float).reshape(-1, channels).T
    got = load_recording(name)
    assert got.shape == expected.shape and np.array_equal(got, expected)


def test_a_writer_killed_by_sigkill_leaves_no_file_behind(tmp_path):
    """kill -9 in the middle of an atomic write: the target keeps its old contents and no
    temporary file is left in the folder (Linux: the new contents have no name until done)."""
    import signal
    import subprocess
    import sys
    target = tmp_path / "checkpoint.npz"
    target.write_bytes(b"old")
    script = ("import sys, time\n"
              "from eqprop_hw.io.fileio import atomic_output\n"
              f"with atomic_output({str(target)!r}) as handle:\n"
              "    handle.write(b'new' * 1000)\n"
              "    handle.flush()\n"
              "    print('writing', flush=True)\n"
              "    time.sleep(60)\n")
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
    assert process.stdout.readline() == b"writing\n"
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.npz"]
    assert target.read_bytes() == b"old"
