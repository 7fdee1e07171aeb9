"""Data files: CSV rows, IDX and NPZ/NPY data sets, refused within bounds with one line.

Zip and gzip bombs, forged NPY/IDX headers asking for huge arrays, pickles, FIFOs and devices
given as data paths, oversized and non-UTF-8 files, huge line and field counts.
"""

import zipfile

import numpy as np

from hostile import forge
from hostile import DIVIDER, Case



def mnist_spec(path: str) -> str:
    return ("name: m\nkind: layered\nlayers: [4, 2]\nconductance: {min: 1.0e-8, max: 1.0e-3, "
            "init: {distribution: uniform, low: 1.0e-6, high: 2.0e-5}, seed: 0}\n"
            f"dataset: {{name: mnist, path: '{path}'}}\n")


_RNG = np.random.default_rng(0)
GOOD = {"x_train": _RNG.integers(0, 255, (6, 2, 2)).astype(np.uint8),
        "y_train": np.array([0, 1] * 3, np.uint8),
        "x_test": _RNG.integers(0, 255, (4, 2, 2)).astype(np.uint8),
        "y_test": np.array([0, 1, 0, 1], np.uint8)}


def arrays(**changes) -> dict:
    members = dict(GOOD)
    for key, value in changes.items():
        if value is None:
            members.pop(key)
        else:
            members[key] = value
    return members


def data_case(case_id, content, error, path="data.npz", names="data.npz"):
    """``predict`` on an mnist spec whose data file is ``content``."""
    files = {"m.yaml": mnist_spec(path)}
    if content is not None:
        files[path] = content
    return Case(case_id, ["predict", "m.yaml"], files, error=error, names=names)


IDX_NAMES = {"x_train": "train-images-idx3-ubyte", "y_train": "train-labels-idx1-ubyte",
             "x_test": "t10k-images-idx3-ubyte", "y_test": "t10k-labels-idx1-ubyte"}


def idx_case(case_id, error, replace: str = "x_train", content=None, name=None):
    """``predict`` on an mnist spec whose IDX folder has one hostile file."""
    files = {"m.yaml": mnist_spec("idx")}
    for key, base in IDX_NAMES.items():
        if key != replace:
            array = GOOD[key]
            files[f"idx/{base}"] = forge.idx(array.shape, array.tobytes())
    target = name or IDX_NAMES[replace]
    files[f"idx/{target}"] = content
    return Case(case_id, ["predict", "m.yaml"], files, error=error, names=target)


def csv_case(case_id, content, error, name="rows.csv", names=None):
    files = {"divider.yaml": DIVIDER}
    if content is not None:
        files[name] = content
    return Case(case_id, ["simulate", "divider.yaml", "--input-file", name], files,
                error=error, names=names if names is not None else name)


HUGE = forge.npy_header((1_000_000, 1_000_000), "|u1")

CASES = [
    # -- NPZ / NPY data sets --------------------------------------------------------------
    data_case("npz-zip-bomb", forge.npz(arrays(x_train=forge.zeros_bomb()),
                                        zipfile.ZIP_DEFLATED), ("decompression bomb",)),
    data_case("npz-declares-4gib", forge.lie_about_size(
        forge.npz(arrays()), "x_train.npy", 2**32 - 1), ("declare", "the limit is")),
    data_case("npz-member-size-lies-small", forge.lie_about_size(
        forge.npz(arrays()), "x_train.npy", 100), ("x_train", "cannot read")),
    data_case("npy-header-asks-1e12", forge.npz(arrays(x_train=HUGE)),
              ("x_train", "declares shape (1000000, 1000000)", "follow")),
    data_case("npy-header-truncated-data", forge.npz(arrays(
        x_test=forge.npy(GOOD["x_test"])[:-5])), ("x_test", "declares shape (4, 2, 2)")),
    data_case("npy-pickled-object-array", forge.npz(arrays(
        x_train=np.array([{"a": 1}] * 6, dtype=object))), ("x_train", "pickles")),
    data_case("npy-structured-dtype", forge.npz(arrays(
        y_train=np.zeros(6, dtype=[("a", "<i4"), ("b", "<f8")]))), ("y_train", "dtype")),
    data_case("npy-header-too-long", forge.npz(arrays(
        x_train=forge.npy_header((6, 2, 2), "|u1", pad=20_000) + bytes(24))),
        ("x_train", "not a valid NPY array")),
    data_case("npy-bad-magic", forge.npz(arrays(x_train=b"NOTNUMPY" + bytes(40))),
              ("x_train", "not a valid NPY array")),
    data_case("npy-unknown-version", forge.npz(arrays(
        x_train=forge.npy_header((6, 2, 2), "|u1", version=(9, 0)) + bytes(24))),
        ("x_train", "not a valid NPY array")),
    data_case("npy-negative-shape", forge.npz(arrays(
        x_train=forge.npy_header((-6, 2, 2), "|u1") + bytes(24))), ("x_train",)),
    data_case("npy-dtype-text-injection", forge.npz(arrays(
        x_train=forge.npy_header((6,), "__import__('os')") + bytes(24))),
        ("x_train", "not a valid NPY array")),
    data_case("npz-too-many-members", forge.npz(dict(
        arrays(), **{f"extra{k}": np.zeros(1) for k in range(70)})), ("members", "limit is 64")),
    data_case("npz-duplicate-member", forge.npz_duplicate("x_train", GOOD["x_train"],
                                                          GOOD["x_train"]),
              ("'x_train' appears twice",)),
    data_case("npz-bzip2-member", forge.npz(arrays(), zipfile.ZIP_BZIP2),
              ("compression method 12",)),
    data_case("npz-is-a-single-npy", forge.npy(GOOD["x_train"]), ("single .npy array",)),
    data_case("npz-empty-file", b"", ("no zip header",)),
    data_case("npz-truncated", forge.npz(arrays())[:300], ("not a readable .npz archive",)),
    data_case("npz-missing-array", forge.npz(arrays(y_test=None)),
              ("missing array(s) y_test",)),
    data_case("npz-text-images", forge.npz(arrays(x_train=np.array([["a", "b"]] * 6))),
              ("x_train must be numbers",)),
    data_case("npz-nan-images", forge.npz(arrays(x_train=np.full((6, 2, 2), np.nan))),
              ("NaN or infinite",)),
    data_case("npz-fifo", forge.fifo, ("not a regular file", "FIFO")),
    data_case("npz-dev-zero", None, ("not a regular file", "character device"),
              path="/dev/zero", names="/dev/zero"),
    data_case("npz-symlink-to-dev-urandom", forge.symlink_to("/dev/urandom"),
              ("not a regular file", "character device")),
    data_case("npz-over-1gib-sparse", forge.sparse(2**30 + 1),
              ("too large", "the limit is 1073741824 bytes")),
    # -- IDX ------------------------------------------------------------------------------
    idx_case("idx-header-asks-1e14-bytes", ("truncated IDX file",),
             content=forge.idx((100_000, 100_000, 10_000), b"")),
    idx_case("idx-gzip-bomb", ("decompression bomb",), content=forge.gzip_bomb(),
             name="train-images-idx3-ubyte.gz"),
    idx_case("idx-gzip-truncated", ("corrupt or truncated gzip",),
             content=__import__("gzip").compress(forge.idx((6, 2, 2)))[:-12],
             name="train-images-idx3-ubyte.gz"),
    idx_case("idx-wrong-magic", ("not an IDX file", "magic number"),
             content=b"\x00\x00\x07\x03" + bytes(40)),
    idx_case("idx-trailing-bytes", ("unexpected byte(s)",),
             content=forge.idx((6, 2, 2)) + b"extra"),
    idx_case("idx-255-dimensions", ("truncated IDX header",),
             content=b"\x00\x00\x08\xff" + bytes(16)),
    idx_case("idx-shorter-than-magic", ("shorter than the 4-byte magic",), content=b"\x00\x00"),
    idx_case("idx-fifo", ("not a regular file", "FIFO"), content=forge.fifo),
    idx_case("idx-symlink-to-dev-zero", ("not a regular file", "character device"),
             content=forge.symlink_to("/dev/zero")),
    idx_case("idx-float-nan", ("NaN or infinite",), content=forge.idx(
        (6, 2, 2), np.full(24, np.nan, ">f4").tobytes(), code=0x0D)),
    idx_case("idx-labels-are-images", ("must be one label per sample",), replace="y_test",
             content=forge.idx((4, 2, 2))),
    # -- CSV rows -------------------------------------------------------------------------
    csv_case("csv-over-a-million-rows", "1\n" * 1_000_001, ("more than 1000000 data rows",)),
    csv_case("csv-over-64mib-sparse", forge.sparse(64 * 2**20 + 1),
             ("too large", "the limit is 67108864 bytes")),
    csv_case("csv-latin1", "x\n\xe9\n".encode("latin-1"), ("not a UTF-8 text file",)),
    csv_case("csv-utf16", "1\n2\n".encode("utf-16"), ("not a UTF-8 text file",)),
    csv_case("csv-nul-bytes", b"1\n\x00\x00\n", ("is not a number",)),
    csv_case("csv-field-over-csv-limit", "1" * 200_000 + "\n", ("malformed CSV",
                                                                "field larger than field limit")),
    csv_case("csv-100k-columns", ",".join(["1"] * 100_000) + "\n",
             ("expected 1 value per row (VIN), got 100000",)),
    csv_case("csv-long-non-number", "1\n" + "x" * 10_000 + "5\n",
             ("is not a number", "(10001 characters)")),
    csv_case("csv-nan", "1\nnan\n", ("'nan' is not a finite number",)),
    csv_case("csv-inf", "-inf\n", ("'-inf' is not a finite number",)),
    csv_case("csv-empty", "", ("no data rows",)),
    csv_case("csv-dev-zero", None, ("not a regular file", "character device"),
             name="/dev/zero", names="/dev/zero"),
    csv_case("csv-fifo", forge.fifo, ("not a regular file", "FIFO")),
    csv_case("csv-folder", forge.folder, ("is a folder, not a file",)),
    csv_case("csv-symlink-to-dev-urandom", forge.symlink_to("/dev/urandom"),
             ("not a regular file",)),
]
