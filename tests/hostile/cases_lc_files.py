"""Waveform files of the lc commands (``--input-file``/``--target-file``, CSV or .npy):
wrong shapes and row counts, NaN/inf, text, pickles, forged NPY headers, FIFOs and devices,
and the lc-only options given to another kind of spec."""

import numpy as np

from hostile import DIVIDER, Case, forge

#: A 2-node lc spec on a 21-point grid (0..20 ns in steps of 1 ns).
TINY_LC = """\
name: tiny
kind: lc
elements:
- {name: C1, nodes: [n1, '0'], c: 1.0e-9}
- {name: L1, nodes: [n1, '0'], l: 1.0e-6}
- {name: C2, nodes: [n2, '0'], c: 1.0e-9}
- {name: L2, nodes: [n2, '0'], l: 1.0e-6}
- {name: CC1_2, nodes: [n1, n2], c: 2.0e-10}
- name: IIN1
  nodes: ['0', n1]
  waveform: {type: sine, amplitude: 0.005, frequency: 5.0e6, phase: 0.0}
inputs: [IIN1]
outputs: [{name: y0, node: n2}]
targets: [{type: sine, amplitude: 1.0e-9, frequency: 5.0e6, phase: 1.0}]
trainable: [CC*]
time: {tstop: 2.0e-8, tstep: 1.0e-9}
"""
ROWS = 21
GOOD_CSV = "".join(f"{0.001 * k}\n" for k in range(ROWS))


def lc_case(case_id, argv, name, content, error, names=None):
    """``eqprop-hw ARGV`` on the tiny lc spec with the waveform file ``name``."""
    files = {"tiny.yaml": TINY_LC}
    if content is not None:
        files[name] = content
    return Case(case_id, argv, files, error=error, names=name if names is None else names)


def column(values) -> bytes:
    return forge.npy(np.asarray(values, dtype=float).reshape(-1, 1))


NAN_ROW = np.zeros(ROWS)
NAN_ROW[6] = np.nan
INF_ROW = np.zeros(ROWS)
INF_ROW[20] = np.inf

CASES = [
    lc_case("lc-csv-too-few-rows", ["grad", "tiny.yaml", "--input-file", "u.csv"], "u.csv",
            "0\n" * 20, ("20 data rows", "21 rows")),
    lc_case("lc-csv-too-many-rows", ["simulate", "tiny.yaml", "--input-file", "u.csv"],
            "u.csv", "0\n" * 22, ("22 data rows", "one row per grid time")),
    lc_case("lc-csv-two-columns", ["export", "tiny.yaml", "--input-file", "u.csv"], "u.csv",
            "0,1\n" * ROWS, ("expected 1 value per row (IIN1), got 2",)),
    lc_case("lc-csv-nan", ["check", "tiny.yaml", "--no-ngspice", "--input-file", "u.csv"],
            "u.csv", "0\n" * 6 + "nan\n" + "0\n" * 14, (":7:", "column 1", "not a finite")),
    lc_case("lc-csv-text", ["predict", "tiny.yaml", "--target-file", "y.csv"], "y.csv",
            "0\n" * 3 + "abc\n" + "0\n" * 17, (":4:", "column 1", "not a number")),
    lc_case("lc-csv-not-utf8", ["grad", "tiny.yaml", "--target-file", "y.csv"], "y.csv",
            b"\xff\xfe0\n" * ROWS, ("not a UTF-8",)),
    lc_case("lc-npy-wrong-shape", ["grad", "tiny.yaml", "--input-file", "u.npy"], "u.npy",
            forge.npy(np.zeros((ROWS, 2))), ("shape (21, 2)", "one column per input (1: IIN1)")),
    lc_case("lc-npy-three-dims", ["simulate", "tiny.yaml", "--input-file", "u.npy"], "u.npy",
            forge.npy(np.zeros((ROWS, 1, 1))), ("shape (21, 1, 1)",)),
    lc_case("lc-npy-nan", ["export", "tiny.yaml", "--input-file", "u.npy"], "u.npy",
            column(NAN_ROW), ("row 7, column 1 (IIN1)", "not a finite")),
    lc_case("lc-npy-inf-target", ["export", "tiny.yaml", "--beta", "10", "--target-file",
                                  "y.npy"], "y.npy", column(INF_ROW),
            ("row 21, column 1 (y0)", "not a finite")),
    lc_case("lc-npy-pickle", ["grad", "tiny.yaml", "--target-file", "y.npy"], "y.npy",
            forge.npy(np.array([{"a": 1}] * ROWS, dtype=object)), ("pickles",)),
    lc_case("lc-npy-strings", ["check", "tiny.yaml", "--no-ngspice", "--input-file",
                               "u.npy"], "u.npy", forge.npy(np.array(["a"] * ROWS)),
            ("dtype",)),
    lc_case("lc-npy-header-asks-1e12", ["predict", "tiny.yaml", "--input-file", "u.npy"],
            "u.npy", forge.npy_header((1_000_000, 1_000_000), "<f8"),
            ("declares shape (1000000, 1000000)", "follow")),
    lc_case("lc-npy-truncated", ["grad", "tiny.yaml", "--input-file", "u.npy"], "u.npy",
            column(np.zeros(ROWS))[:-4], ("declares shape (21, 1)",)),
    lc_case("lc-npy-not-npy", ["grad", "tiny.yaml", "--input-file", "u.npy"], "u.npy",
            GOOD_CSV, ("not an .npy file",)),
    lc_case("lc-npy-complex", ["simulate", "tiny.yaml", "--input-file", "u.npy"], "u.npy",
            forge.npy(np.zeros((ROWS, 1), dtype=complex)), ("dtype",)),
    lc_case("lc-input-fifo", ["grad", "tiny.yaml", "--input-file", "u.csv"], "u.csv",
            forge.fifo, ("not a regular file", "FIFO")),
    lc_case("lc-input-dev-zero", ["export", "tiny.yaml", "--input-file", "/dev/zero"],
            "/dev/zero", None, ("not a regular file", "character device"),
            names="/dev/zero"),
    lc_case("lc-input-missing", ["check", "tiny.yaml", "--no-ngspice", "--input-file",
                                 "none.csv"], "none.csv", None,
            ("none.csv", "No such file")),
    lc_case("lc-input-folder", ["predict", "tiny.yaml", "--input-file", "d.csv"], "d.csv",
            forge.folder, ("folder",)),
    lc_case("lc-export-target-without-beta", ["export", "tiny.yaml", "--target-file",
                                              "y.csv"], "y.csv", GOOD_CSV,
            ("--target-file", "only with --beta"), names=""),
    Case("lc-files-on-graph-spec", ["grad", "divider.yaml", "--input", "1", "--target", "0.5",
                                    "--target-file", "y.csv"],
         {"divider.yaml": DIVIDER, "y.csv": "0\n"}, error=("--target-file", "only lc specs"),
         names=""),
    Case("lc-input-file-on-graph-export", ["export", "divider.yaml", "--input-file", "u.csv"],
         {"divider.yaml": DIVIDER, "u.csv": "1\n"}, error=("--input-file", "only lc specs"),
         names=""),
]
