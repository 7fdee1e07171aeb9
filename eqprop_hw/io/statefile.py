"""Reading training checkpoints (``checkpoint.npz``) strictly: every field checked.

A checkpoint is someone else's file as much as a spec is: it may be truncated, empty, from
another spec, hold NaN, or be forged. :class:`CheckpointReader` reads it through the bounded
NPZ reader (:func:`eqprop_hw.io.fileio.read_npz`: regular file, size cap, no pickles, NPY headers
checked before allocating) and gives typed accessors; every refusal is one
:class:`~eqprop_hw.errors.ParamsError` ``"<file>: cannot resume from this checkpoint:
<reason>"`` naming the field, so ``train --resume`` never trains on a bad state.
:func:`write_checkpoint` is the one writer (atomic: a checkpoint is never half-written).
"""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import numpy as np

from eqprop_hw.errors import ParamsError
from eqprop_hw.io.fileio import (MAX_BINARY_BYTES, atomic_write_bytes, check_json_depth, quote,
                                 read_bounded, read_npz)

#: Largest text (JSON) field of a checkpoint, characters.
MAX_CHECKPOINT_TEXT = 16 * 2**20
PREFIX = "cannot resume from this checkpoint"


class CheckpointReader:
    """The arrays of a checkpoint file, with checked accessors.

    Parameters
    ----------
    path : path-like
    keys : sequence of str
        Every field the reader may ask for (others are not decompressed).
    """

    def __init__(self, path, keys):
        self.source = str(path)
        try:
            raw = read_bounded(Path(path), MAX_BINARY_BYTES, ParamsError, "checkpoint file")
            if not raw:
                raise ParamsError("the file is empty", self.source)
            self.arrays = read_npz(raw, self.source, tuple(keys), ParamsError, strings=True)
        except ParamsError as error:
            raise self.error(error.message) from None

    def error(self, reason: str) -> ParamsError:
        """The refusal ``"<file>: cannot resume from this checkpoint: <reason>"``."""
        return ParamsError(f"{PREFIX}: {reason}", self.source)

    def check_format(self, formats) -> str:
        """The ``format`` field, refused unless it is one of ``formats`` (the ones read)."""
        found = self.text("format")
        if found not in formats:
            raise self.error(f"format {quote(found)} is not one of {', '.join(formats)}")
        return found

    def place(self, samples: int) -> tuple[int, float]:
        """``(position, seconds)`` within the epoch: ``position`` in [0, ``samples``] and
        finite ``seconds`` >= 0 (0 and 0.0 when the checkpoint has none: epoch boundaries)."""
        position = self.integer("position", 0, samples) if self.has("position") else 0
        seconds = self.number("seconds") if self.has("seconds") else 0.0
        return position, seconds

    def has(self, key: str) -> bool:
        return key in self.arrays

    def _get(self, key: str) -> np.ndarray:
        if key not in self.arrays:
            raise self.error(f"the field {key!r} is missing")
        return self.arrays[key]

    def _scalar(self, key: str, kinds: str, what: str) -> np.ndarray:
        array = self._get(key)
        if array.shape != () or array.dtype.kind not in kinds:
            raise self.error(f"{key!r} must be {what}, got an array of shape {array.shape} and "
                             f"dtype {array.dtype}")
        return array

    def text(self, key: str) -> str:
        """A string field (``format``, JSON fields), at most :data:`MAX_CHECKPOINT_TEXT`."""
        value = str(self._scalar(key, "U", "a string"))
        if len(value) > MAX_CHECKPOINT_TEXT:
            raise self.error(f"{key!r} holds {len(value)} characters, the limit is "
                             f"{MAX_CHECKPOINT_TEXT}")
        return value

    def integer(self, key: str, minimum: int = 0, maximum: int | None = None) -> int:
        """An integer scalar in [minimum, maximum]."""
        value = int(self._scalar(key, "iu", "an integer"))
        if value < minimum or (maximum is not None and value > maximum):
            bound = f"in [{minimum}, {maximum}]" if maximum is not None else f">= {minimum}"
            raise self.error(f"{key!r} is {value}, it must be {bound}")
        return value

    def number(self, key: str, minimum: float = 0.0) -> float:
        """A finite real scalar >= minimum."""
        value = float(self._scalar(key, "iuf", "a number"))
        if not math.isfinite(value) or value < minimum:
            raise self.error(f"{key!r} is {value!r}, it must be a finite number >= {minimum:g}")
        return value

    def vector(self, key: str, size: int, what: str, positive: bool = False) -> np.ndarray:
        """A 1-D array of ``size`` finite numbers (all > 0 when ``positive``)."""
        array = self._get(key)
        if array.dtype.kind not in "iuf":
            raise self.error(f"{key!r} must hold numbers, got dtype {array.dtype}")
        if array.shape != (size,):
            raise self.error(f"{key!r} has shape {array.shape} but the circuit has {size} "
                             f"{what}, shape ({size},) (a checkpoint of another spec?)")
        array = array.astype(float)
        bad = np.flatnonzero(~np.isfinite(array) | ((array <= 0) if positive else False))
        if bad.size:
            needed = "finite and positive" if positive else "finite"
            raise self.error(f"{key!r}[{int(bad[0])}] is {float(array[bad[0]])!r} ({bad.size} "
                             f"value(s) not {needed})")
        return array

    def json(self, key: str, kind: type = dict):
        """A JSON field (depth-checked, NaN allowed: metrics may hold it), of type ``kind``."""
        text = self.text(key)
        try:
            check_json_depth(text, self.source, ParamsError)
            value = json.loads(text)
        except ParamsError as error:
            raise self.error(f"{key!r}: {error.message}") from None
        except (ValueError, RecursionError) as error:
            raise self.error(f"{key!r} is not valid JSON ({quote(error, 80)})") from None
        if not isinstance(value, kind):
            raise self.error(f"{key!r} must be a JSON {kind.__name__}, got "
                             f"{type(value).__name__}")
        return value

    def curves(self, metrics: dict, keys, epochs: int, first: int, key: str = "metrics") -> None:
        """Refuse metrics whose per-epoch lists ``keys`` do not each hold ``epochs`` items, or
        whose ``epochs`` list is not ``first, first + 1, ...``."""
        for name in keys:
            values = metrics.get(name)
            if not isinstance(values, list) or len(values) != epochs:
                got = f"{len(values)} item(s)" if isinstance(values, list) else \
                    type(values).__name__
                raise self.error(f"{key}[{name!r}] must list one value per done epoch "
                                 f"({epochs}), got {got}")
        numbers = list(range(first, first + epochs))
        if metrics.get("epochs") != numbers:
            shown = str(metrics.get("epochs"))[:60]
            raise self.error(f"{key}['epochs'] is {shown}, expected {numbers[:5]}"
                             f"{'...' if epochs > 5 else ''}")


def write_checkpoint(path, fields: dict) -> None:
    """Write a checkpoint atomically: the arrays ``fields`` (name -> array-like, in order) as
    an uncompressed NPZ archive (read back with :class:`CheckpointReader`).

    Parameters
    ----------
    path : path-like
    fields : dict of str to array-like
        Numbers, number arrays and strings only (JSON fields as strings).
    """
    buffer = io.BytesIO()
    np.savez(buffer, **{key: np.asarray(value) for key, value in fields.items()})
    atomic_write_bytes(Path(path), buffer.getvalue())


def check_resumed_settings(path, metrics: dict, now: dict) -> None:
    """Refuse to resume a checkpoint whose run recorded other settings than ``now``
    (``{setting: value}``; settings the checkpoint does not record are not compared): a run
    continued with another seed, backend, beta, ... would give neither run's result while
    metrics.json kept the old settings.

    Raises
    ------
    ParamsError
        ``"<path>: cannot resume from this checkpoint: it was written with seed 0, not 9 ..."``.
    """
    for key, value in now.items():
        if key in metrics and metrics[key] != value:
            raise ParamsError(f"{PREFIX}: it was written with {key} {_shown(metrics[key])}, "
                              f"not {_shown(value)} (resume with the run's own settings, or "
                              "train into a new --out folder)", str(path))


def check_epoch_times(state: CheckpointReader, metrics: dict, key: str, epochs: int,
                      first: int) -> None:
    """Check the per-epoch times ``metrics[key]`` of a checkpoint after ``epochs`` epochs (one
    finite number >= 0, in s, or None per epoch; ``first``: the number of the first epoch);
    a checkpoint written before the list existed gets ``None`` for each epoch.

    Raises
    ------
    ParamsError
        ``"<path>: cannot resume from this checkpoint: ..."``.
    """
    if key not in metrics:
        metrics[key] = [None] * epochs
    state.curves(metrics, (key,), epochs, first)
    for value in metrics[key]:
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                  or not math.isfinite(value) or value < 0):
            raise state.error(f"metrics[{key!r}] holds {str(value)[:40]!r}, not a time in s")


def check_resumed_bounds(path, values, low, high, name: str, bounds: str,
                         unit: str = "") -> None:
    """Refuse checkpoint ``values`` outside ``[low, high]`` (training keeps every value inside
    its bounds, so one outside them is forged or corrupted).

    Raises
    ------
    ParamsError
        ``"<path>: cannot resume from this checkpoint: 'NAME'[i] is X UNIT, outside BOUNDS
        [low, high] UNIT (n value(s) outside)"``.
    """
    values = np.asarray(values, dtype=float)
    low = np.broadcast_to(np.asarray(low, dtype=float), values.shape)
    high = np.broadcast_to(np.asarray(high, dtype=float), values.shape)
    bad = np.flatnonzero((values < low) | (values > high))
    if bad.size:
        index = int(bad[0])
        raise ParamsError(f"{PREFIX}: {name!r}[{index}] is {float(values[index])!r}{unit}, "
                          f"outside {bounds} [{float(low[index])!r}, {float(high[index])!r}]"
                          f"{unit} ({bad.size} value(s) outside)", str(path))


def _shown(value) -> str:
    """A setting's value for a message: numbers and None as they are, anything else quoted."""
    if value is None or isinstance(value, (bool, int, float)):
        return repr(value)
    return quote(value)
