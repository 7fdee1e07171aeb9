"""Waveform files: one row per grid time, one column per input (or output), as CSV or ``.npy``.

The lc commands (``simulate``, ``grad``, ``check``, ``predict``, ``export``) read their
``--input-file`` and ``--target-file`` here. Both forms go through the bounded, strict readers
of :mod:`eqprop_hw.io.fileio` (size limits before reading, no pickles, NPY headers checked
before allocating), and every refusal is one :class:`~eqprop_hw.errors.InputDataError` line
naming the file, the row (1-based grid row: the CSV line for CSV files) and the column.
"""

from __future__ import annotations

import os

import numpy as np

from eqprop_hw.errors import InputDataError
from eqprop_hw.io.fileio import (MAX_BINARY_BYTES, parse_npy, read_bounded,
                                 read_number_rows)

#: Largest ``.npy`` waveform file (bytes): 1,000,001 rows of 8 float64 columns fit.
MAX_NPY_WAVEFORM_BYTES = min(MAX_BINARY_BYTES, 64 * 2**20)


def read_waveform_file(path, rows: int, names, what: str = "inputs") -> np.ndarray:
    """Waveforms on a time grid from a CSV or ``.npy`` file.

    Parameters
    ----------
    path : str or path-like
        A ``.npy`` file (a 2-D array of numbers, shape (rows, len(names)); a 1-D array for one
        column) or a CSV file (anything else: one line per grid time, optional header).
    rows : int
        Grid points (steps + 1).
    names : sequence of str
        Column names (inputs or outputs), in order.
    what : str
        ``"inputs"`` or ``"targets"``, for messages.

    Returns
    -------
    ndarray, shape (rows, len(names)), float64

    Raises
    ------
    InputDataError
        One line naming the file (and row and column): a missing, oversized or unreadable
        file, a pickle or non-numeric array, a wrong shape or row count, a NaN or infinity.

    Examples
    --------
    >>> _ = (TMP / "w.csv").write_text("0\\n1\\n2\\n")
    >>> read_waveform_file(TMP / "w.csv", 3, ["IIN1"]).ravel().tolist()
    [0.0, 1.0, 2.0]
    """
    source = str(path)
    width = len(names)
    grid = f"one row per grid time ({rows} rows) and one column per {what[:-1]} ({width}: " \
           f"{', '.join(names)})"
    if os.fspath(path).lower().endswith(".npy"):
        raw = read_bounded(path, MAX_NPY_WAVEFORM_BYTES, InputDataError, f"{what} file",
                           missing="No such file or directory")
        if raw[:6] != b"\x93NUMPY":
            raise InputDataError(f"not an .npy file (no NPY magic; expected {grid})", source)
        array = parse_npy(raw, source, what)
        if array.dtype.kind not in "iuf":
            raise InputDataError(f"{what} must be numbers, got dtype {array.dtype.str}", source)
        if array.ndim == 1 and width == 1:
            array = array[:, None]
        if array.ndim != 2 or array.shape != (rows, width):
            raise InputDataError(f"array of shape {array.shape}: expected {grid}", source)
        array = array.astype(float)
        bad = np.argwhere(~np.isfinite(array))
        if bad.size:
            row, column = (int(v) + 1 for v in bad[0])
            raise InputDataError(f"row {row}, column {column} ({names[column - 1]}): not a "
                                 "finite number", source)
        return array
    array = read_number_rows(path, width, list(names))
    if array.shape[0] != rows:
        raise InputDataError(f"{array.shape[0]} data rows: expected {grid}", source)
    return array
