"""MNIST-style files read for the ``mnist`` data set (part of :mod:`eqprop_hw.io.data`, which
re-exports :func:`load_mnist_files`, :func:`read_idx` and the constants): an ``.npz`` with
``x_train``, ``y_train``, ``x_test``, ``y_test`` or a folder with the four IDX files (``.gz``
too), every file bounded and checked before use (sizes, counts, finite images, labels that are
non-negative integers), each refusal one :class:`~eqprop_hw.errors.InputDataError` naming the
file. Nothing is downloaded.

Examples
--------
>>> load_mnist_files("no/such/folder")
Traceback (most recent call last):
...
eqprop_hw.errors.InputDataError: no/such/folder: no such file or folder (mnist needs an .npz file or a folder with the four IDX files)
"""

from __future__ import annotations

import math
import struct
from pathlib import Path

import numpy as np

from eqprop_hw.errors import InputDataError
from eqprop_hw.io.fileio import (MAX_BINARY_BYTES, decompress_gzip, read_bounded, read_npz,
                                 size_text)

#: The four MNIST IDX files (``.gz`` and the ``train-images.idx3-ubyte`` spelling also found).
MNIST_IDX_FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}
#: IDX data type codes: (numpy big-endian dtype, bytes per item).
IDX_TYPES = {0x08: (">u1", 1), 0x09: (">i1", 1), 0x0B: (">i2", 2), 0x0C: (">i4", 4),
             0x0D: (">f4", 4), 0x0E: (">f8", 8)}


def load_mnist_files(path) -> tuple[dict, dict]:
    """Read MNIST-style data: an ``.npz`` file or a folder of IDX files.

    Returns
    -------
    arrays : dict
        ``x_train``, ``x_test`` (images, first axis = sample, numeric, finite) and
        ``y_train``, ``y_test`` (int64 labels >= 0).
    sources : dict
        The file each array came from.

    Raises
    ------
    InputDataError
        Naming the file: missing, not an npz/IDX file, truncated, counts that disagree,
        NaN/inf, labels that are not non-negative integers.
    """
    path = Path(path)
    if path.is_dir():
        arrays, sources = {}, {}
        for key, base in MNIST_IDX_FILES.items():
            file = _find_idx(path, base)
            arrays[key], sources[key] = read_idx(file), str(file)
    elif path.exists():     # a file; FIFOs and devices are refused by the bounded reader
        arrays = _read_npz(path)
        sources = {key: str(path) for key in arrays}
    else:
        raise InputDataError("no such file or folder (mnist needs an .npz file or a folder with "
                             "the four IDX files)", str(path))
    for part in ("train", "test"):
        images, labels = f"x_{part}", f"y_{part}"
        arrays[images] = _check_images(arrays[images], sources[images], images)
        arrays[labels] = _check_labels(arrays[labels], sources[labels], labels)
        if len(arrays[images]) != len(arrays[labels]):
            where = "" if sources[images] == sources[labels] else f" ({sources[labels]})"
            raise InputDataError(f"{len(arrays[images])} {part} images but "
                                 f"{len(arrays[labels])} {part} labels{where}", sources[images])
        if len(arrays[images]) == 0:
            raise InputDataError(f"no {part} images", sources[images])
    return arrays, sources


def _find_idx(folder: Path, base: str) -> Path:
    dotted = base.replace("-idx", ".idx")
    names = [base, base + ".gz", dotted, dotted + ".gz"]
    for name in names:
        if (folder / name).exists():   # read_idx refuses what is not a regular file
            return folder / name
    raise InputDataError(f"missing MNIST file {base} (looked for {', '.join(names)})",
                         str(folder))


def _read_bytes(path: Path) -> bytes:
    """A data file's bytes (bounded, :func:`eqprop_hw.io.fileio.read_bounded`), gunzipped
    within the decompression limits when it starts with the gzip magic number."""
    raw = read_bounded(path, MAX_BINARY_BYTES, InputDataError, "data file")
    if raw[:2] == b"\x1f\x8b":
        raw = decompress_gzip(raw, str(path))
    return raw


def read_idx(path) -> np.ndarray:
    """Read an IDX file (plain or gzip-compressed), the format of the MNIST files.

    The header is the magic number ``00 00 TT DD`` (TT the data type: 08 unsigned byte,
    09 signed byte, 0B int16, 0C int32, 0D float32, 0E float64; DD the number of dimensions)
    followed by DD big-endian uint32 sizes; then the data, big-endian, C order.

    Returns
    -------
    ndarray
        In native byte order (uint8 for MNIST).

    Raises
    ------
    InputDataError
        Naming the file: wrong magic number, truncated header or data, trailing bytes,
        NaN/inf values.
    """
    path = Path(path)
    source = str(path)
    raw = _read_bytes(path)
    if len(raw) < 4:
        raise InputDataError(f"not an IDX file: {len(raw)} byte(s), shorter than the 4-byte "
                             "magic number", source)
    if raw[0] != 0 or raw[1] != 0 or raw[2] not in IDX_TYPES or raw[3] == 0:
        raise InputDataError(f"not an IDX file: magic number 0x{raw[:4].hex()} (expected "
                             "0x0000TTDD with type TT in 08 09 0b 0c 0d 0e, e.g. 0x00000803 "
                             "for images, 0x00000801 for labels)", source)
    dtype, itemsize = IDX_TYPES[raw[2]]
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise InputDataError(f"truncated IDX header: {ndim} dimension sizes need {header} "
                             f"bytes, the file has {len(raw)}", source)
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    count = math.prod(dims)
    expected, actual = count * itemsize, len(raw) - header
    shape = " x ".join(map(str, dims))
    if len(shape) > 80:
        shape = f"{ndim}-dimensional"
    if actual < expected:
        raise InputDataError(f"truncated IDX file: the header declares {shape} values "
                             f"({size_text(expected)} of data) but only {size_text(actual)} "
                             "follow", source)
    if actual > expected:
        raise InputDataError(f"{actual - expected} unexpected byte(s) after the {shape} values "
                             "the IDX header declares", source)
    array = np.frombuffer(raw, dtype=dtype, count=count, offset=header).reshape(dims)
    array = array.astype(np.dtype(dtype).newbyteorder("="))
    if array.dtype.kind == "f" and not np.all(np.isfinite(array)):
        raise InputDataError(_nonfinite_message(array, "values"), source)
    return array


def _read_npz(path: Path) -> dict:
    """The four MNIST arrays of an ``.npz`` file, read within the limits of
    :func:`eqprop_hw.io.fileio.read_npz` (no pickles, headers checked before allocating)."""
    source = str(path)
    keys = ("x_train", "y_train", "x_test", "y_test")
    raw = read_bounded(path, MAX_BINARY_BYTES, InputDataError, "data file")
    if raw[:6] == b"\x93NUMPY":
        raise InputDataError("not an .npz archive but a single .npy array (expected arrays "
                             "x_train, y_train, x_test, y_test)", source)
    arrays = read_npz(raw, source, keys, InputDataError, strings=True)
    missing = [k for k in keys if k not in arrays]
    if missing:
        present = ", ".join(arrays[""][:8]) + (", ..." if len(arrays[""]) > 8 else "")
        raise InputDataError(f"missing array(s) {', '.join(missing)} (the .npz file has "
                             f"{present or 'no arrays'}; expected {', '.join(keys)})", source)
    return {key: arrays[key] for key in keys}


def _nonfinite_message(array, what) -> str:
    flat = array.reshape(len(array), -1) if array.ndim > 1 else array.reshape(-1, 1)
    rows = np.flatnonzero(~np.all(np.isfinite(flat), axis=1))
    listed = ", ".join(map(str, rows[:5].tolist())) + (", ..." if len(rows) > 5 else "")
    return f"{what} hold NaN or infinite values (row(s) {listed})"


def _check_images(array, source, what) -> np.ndarray:
    array = np.asarray(array)
    if array.dtype.kind not in "uifb":
        raise InputDataError(f"{what} must be numbers, got dtype {array.dtype}", source)
    if array.ndim < 2:
        raise InputDataError(f"{what} must have a sample axis and pixels (at least 2 "
                             f"dimensions), got shape {array.shape}"
                             f"{' (a labels file?)' if array.ndim == 1 else ''}", source)
    if array.dtype.kind == "f" and not np.all(np.isfinite(array)):
        raise InputDataError(_nonfinite_message(array, what), source)
    return array


def _check_labels(array, source, what) -> np.ndarray:
    array = np.asarray(array)
    if array.dtype.kind not in "uifb":
        raise InputDataError(f"{what} must be integer labels, got dtype {array.dtype}", source)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    elif array.ndim == 2 and array.shape[1] > 1:  # one-hot rows
        if array.size and not (np.all((array == 0) | (array == 1)) and
                               np.all(array.sum(axis=1) == 1)):
            raise InputDataError(f"{what} has shape {array.shape}: 2-D labels must be one-hot "
                                 "rows", source)
        array = np.argmax(array, axis=1)
    elif array.ndim != 1:
        raise InputDataError(f"{what} must be one label per sample (1 dimension), got shape "
                             f"{array.shape}{' (an images file?)' if array.ndim > 2 else ''}",
                             source)
    if array.dtype.kind == "f":
        if not np.all(np.isfinite(array)):
            raise InputDataError(_nonfinite_message(array, what), source)
        if np.any(array != np.round(array)):
            row = int(np.flatnonzero(array != np.round(array))[0])
            raise InputDataError(f"{what} must be whole numbers (row {row}: {array[row]!r})",
                                 source)
    if array.size and array.min() < 0:
        row = int(np.argmin(array))
        raise InputDataError(f"{what} must be >= 0 (row {row}: {array[row]})", source)
    return array.astype(np.int64)


__all__ = ["MNIST_IDX_FILES", "IDX_TYPES", "load_mnist_files", "read_idx"]
