"""Trained element values ("params"): reading, writing and applying them to a circuit.

A params file maps element names (the SPICE names of ``eqprop-hw describe``) to values in SI
units: conductance in S for resistors, capacitance in F, inductance in H. Two formats, chosen by
the file extension:

``.json``
    ``{"format": "eqprop-hw params 1", "values": {"RL1_0_0": 5e-05, ...}}``
``.npz``
    numpy archive with two arrays: ``names`` (strings) and ``values`` (float64), same length.

Writes are atomic (temporary file in the same folder, then :func:`os.replace`), so a params file
is never half-written. Values must be finite and positive; names must be unique. Whether the names
fit a circuit is checked when they are applied (:func:`apply_params`, or
``build_circuit(spec, params)``).

Examples
--------
>>> import os, tempfile
>>> path = os.path.join(tempfile.mkdtemp(), "params.json")
>>> save_params(path, {"R1": 1e-3, "R2": 2.5e-4})
>>> load_params(path)
{'R1': 0.001, 'R2': 0.00025}
"""

from __future__ import annotations

import io
import json
import math
import os
from pathlib import Path
from typing import Mapping

import numpy as np

from eqprop_hw.errors import CircuitError, ParamsError
from eqprop_hw.io.fileio import (MAX_TEXT_BYTES, atomic_write_bytes, check_json_depth, quote,
                              read_bounded, read_npz)
from eqprop_hw.circuit.graph import VALUE_MEANING, Circuit, validate_circuit

FORMAT = "eqprop-hw params 1"
EXTENSIONS = (".json", ".npz")
#: Largest params file (bytes, either format; a circuit of 10^6 elements fits).
MAX_PARAMS_BYTES = MAX_TEXT_BYTES
#: Element types whose value a params file may set (all take positive values).
PARAM_TYPES = "RCL"


def _format_of(path: Path, source: str) -> str:
    suffix = path.suffix.lower()
    if suffix not in EXTENSIONS:
        raise ParamsError(f"unknown params file type {path.suffix or '(no extension)'!r}: "
                          "use .json or .npz", source)
    return suffix


def check_values(pairs, source: str) -> dict[str, float]:
    """Validate (name, value) pairs; return an ordered dict of floats."""
    values: dict[str, float] = {}
    for name, value in pairs:
        if not isinstance(name, str) or not name:
            raise ParamsError(f"element names must be non-empty strings, got "
                              f"{quote(name) if isinstance(name, str) else type(name).__name__}",
                              source)
        if name in values:
            raise ParamsError(f"element {quote(name)} is listed twice", source)
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
            shown = quote(value) if isinstance(value, str) else type(value).__name__
            raise ParamsError(f"value of {quote(name)} must be a number, got {shown}", source)
        try:
            value = float(value)
        except OverflowError:   # a JSON integer of hundreds of digits
            value = math.inf
        if not math.isfinite(value):
            raise ParamsError(f"value of {quote(name)} must be finite, got {value!r}", source)
        if value <= 0:
            raise ParamsError(f"value of {quote(name)} must be positive (conductance in S, "
                              f"capacitance in F or inductance in H), got {value!r}", source)
        values[name] = value
    return values


def _no_duplicate_keys(pairs):
    result = {}
    for key, value in pairs:
        if key in result:
            raise ParamsError(f"element {quote(key)} is listed twice")
        result[key] = value
    return result


def _reject_constant(text):
    raise ValueError(f"{text} is not valid JSON")


def load_params(path: str | os.PathLike) -> dict[str, float]:
    """Read a params file.

    Parameters
    ----------
    path : str or path-like
        A ``.json`` or ``.npz`` file written by :func:`save_params` (or by hand, same format).

    Returns
    -------
    dict of str to float
        Element name -> value (S, F or H), in file order.

    Raises
    ------
    ParamsError
        If the file is missing or unreadable, has another extension, is not in the format,
        or holds a duplicate name or a NaN, infinite, zero or negative value; if it is not a
        regular file, is larger than :data:`MAX_PARAMS_BYTES`, nests JSON deeper than
        :data:`eqprop_hw.io.fileio.MAX_JSON_DEPTH` or holds NPY arrays that are not plain numbers
        and strings (:func:`eqprop_hw.io.fileio.read_npz`). The message starts with the file name.
    """
    path = Path(path)
    source = str(path)
    kind = _format_of(path, source)
    raw = read_bounded(path, MAX_PARAMS_BYTES, ParamsError, "params file")
    if kind == ".json":
        return _load_json(raw, source)
    return _load_npz(raw, source)


def _load_json(raw: bytes, source: str) -> dict[str, float]:
    check_json_depth(raw, source, ParamsError)
    try:
        data = json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicate_keys,
                          parse_constant=_reject_constant)
    except ParamsError as error:
        raise ParamsError(str(error), source) from None
    except UnicodeDecodeError:
        raise ParamsError("not a UTF-8 JSON file", source) from None
    except json.JSONDecodeError as error:
        raise ParamsError(f"malformed JSON: {error.msg} (column {error.colno})", source,
                          error.lineno) from None
    except ValueError as error:  # NaN / Infinity literals
        raise ParamsError(f"malformed JSON: {error}", source) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ParamsError(f"not an eqprop-hw params file: expected a JSON object with "
                          f"\"format\": \"{FORMAT}\" and \"values\"", source)
    unknown = sorted(set(data) - {"format", "values"})
    if unknown:
        raise ParamsError(f"unknown key(s) {', '.join(map(repr, unknown))} "
                          "(allowed: format, values)", source)
    values = data.get("values")
    if not isinstance(values, dict):
        raise ParamsError("\"values\" must be an object {element name: value}", source)
    return check_values(values.items(), source)


def _load_npz(raw: bytes, source: str) -> dict[str, float]:
    arrays = read_npz(raw, source, ("names", "values"), ParamsError, strings=True)
    missing = [key for key in ("names", "values") if key not in arrays]
    if missing:
        raise ParamsError(f"not an eqprop-hw params file: missing array(s) "
                          f"{', '.join(missing)} (needs 'names' and 'values')", source)
    names, values = arrays["names"], arrays["values"]
    if names.ndim != 1 or values.ndim != 1 or names.shape != values.shape:
        raise ParamsError(f"'names' and 'values' must be 1-D arrays of the same length, got "
                          f"shapes {names.shape} and {values.shape}", source)
    if names.dtype.kind != "U":
        raise ParamsError(f"'names' must be an array of strings, got dtype {names.dtype}", source)
    if values.dtype.kind not in "fiu":
        raise ParamsError(f"'values' must be an array of numbers, got dtype {values.dtype}",
                          source)
    return check_values(zip(names.tolist(), values.astype(float).tolist()), source)


def save_params(path: str | os.PathLike, values: Mapping[str, float]) -> None:
    """Write a params file atomically (format by extension, see the module docstring).

    Parameters
    ----------
    path : str or path-like
        Target ``.json`` or ``.npz`` file; its folder must exist.
    values : mapping of str to float
        Element name -> value (S, F or H). Order is kept.

    Raises
    ------
    ParamsError
        For another extension, or a bad name or value (nothing is written then).
    OSError
        If the folder is missing or not writable (nothing is written).
    """
    path = Path(path)
    source = str(path)
    kind = _format_of(path, source)
    checked = check_values(dict(values).items(), source)
    if kind == ".json":
        text = json.dumps({"format": FORMAT, "values": checked}, indent=1, allow_nan=False)
        atomic_write_bytes(path, (text + "\n").encode("utf-8"))
    else:
        buffer = io.BytesIO()
        names = np.array(list(checked), dtype=str) if checked else np.zeros(0, dtype="<U1")
        np.savez(buffer, names=names, values=np.array(list(checked.values()), dtype=float))
        atomic_write_bytes(path, buffer.getvalue())


def apply_params(circuit: Circuit, values: Mapping[str, float],
                 source: str | None = None) -> Circuit:
    """A copy of ``circuit`` with the values of a params file, checked against it.

    Parameters
    ----------
    circuit : Circuit
    values : mapping of str to float
        Element name -> value, e.g. from :func:`load_params`.
    source : str, optional
        File name used in error messages.

    Returns
    -------
    Circuit
        Validated (:func:`eqprop_hw.circuit.graph.validate_circuit`).

    Raises
    ------
    ParamsError
        If a name is not an element of the circuit, or names an element that is not a
        resistor, capacitor or inductor.
    """
    unknown = [name for name in values if not circuit.has_element(name)]
    if unknown:
        shown = ", ".join(quote(name) for name in unknown[:5])
        more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
        example = f" (trainable elements look like {circuit.trainable[0]})" \
            if circuit.trainable else ""
        raise ParamsError(f"{shown}{more}: not an element of circuit {circuit.name!r}{example}",
                          source)
    for name in values:
        element = circuit.element(name)
        if element.type not in PARAM_TYPES:
            raise ParamsError(f"{quote(name)} is a {element.type} element "
                              f"({VALUE_MEANING[element.type]}); params set resistors, "
                              "capacitors and inductors only", source)
    try:
        updated = circuit.with_values(dict(values))
        validate_circuit(updated)
    except CircuitError as error:
        raise ParamsError(str(error), source) from None
    return updated
