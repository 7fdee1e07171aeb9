"""Command-line option values as the ``eqprop-hw`` commands hand them to a network.

The commands pass their parsed options (an ``argparse`` namespace) to
:meth:`eqprop_hw.networks.base.Network.report`; the checks here give the command-line's own
messages, naming the option (``--input``, ``--beta``, ...), where the Python API's checks
(:mod:`eqprop_hw.networks.base`) name the parameter.
"""

from __future__ import annotations

import math
import os
from typing import Sequence

from eqprop_hw.errors import EqpropError

#: Comma-separated values of one option (--input, --target).
MAX_CLI_VALUES = 100_000



class UsageError(EqpropError):
    """Bad command-line arguments (exit code 2)."""


def parse_numbers(text: str, option: str, expected: int | None = None,
                  names: Sequence[str] | None = None) -> list[float]:
    """Parse ``"0.5,-1,2e-3"`` into floats for option ``option`` (``""`` is no values).

    Raises
    ------
    UsageError
        For an empty item, a non-number, NaN/inf, or a count other than ``expected``.
    """
    from eqprop_hw.io.fileio import parse_decimal, quote
    count = text.count(",") + 1 if text.strip() else 0
    if count > MAX_CLI_VALUES:
        raise UsageError(f"{option}: {count} values, more than the limit of {MAX_CLI_VALUES}"
                         + (f" (expected {expected})" if expected is not None else ""))
    items = [item.strip() for item in text.split(",")] if text.strip() else []
    values = []
    for position, item in enumerate(items, start=1):
        if not item:
            raise UsageError(f"{option}: value {position} is empty in {quote(text)} "
                             "(give comma-separated numbers, e.g. 0.5,-1)")
        value = parse_decimal(item)
        if value is None:
            raise UsageError(f"{option}: value {position} ({quote(item)}) is not a "
                             "number")
        if not math.isfinite(value):
            raise UsageError(f"{option}: value {position} ({quote(item)}) is not a finite "
                             "number")
        values.append(value)
    if expected is not None and len(values) != expected:
        listed = f" ({', '.join(names)})" if names else ""
        raise UsageError(f"{option}: expected {expected} value{'s' if expected != 1 else ''}"
                         f"{listed}, got {len(values)}")
    return values


def option(options, name: str, default=None):
    """The value of option ``name`` (``None`` when the command has no such option)."""
    return getattr(options, name, default)


def progress(options) -> bool:
    """Whether a command shows progress bars on stderr (not with ``--quiet``)."""
    return not option(options, "quiet", False)


def gibbs_temperature(options, spec, loss: str) -> float | None:
    """The Gibbs temperature T (W) a command asks for, or None for the deterministic (T = 0)
    commands: ``--temperature`` with the squared loss, else the spec's ``temperature:``.

    ``--temperature`` has this one meaning (the softmax temperature of the cross-entropy loss
    is ``--softmax-temperature``).

    Raises
    ------
    UsageError
        ``--temperature``, sampling or a spec temperature with the cross-entropy loss, or
        ``--samples``/``--estimator`` without a temperature.
    """
    asked = option(options, "samples") is not None or option(options, "estimator") is not None
    given = option(options, "gibbs_temperature")
    if given is None and not hasattr(options, "gibbs_temperature") and loss == "squared":
        given = option(options, "temperature")       # a namespace built by hand
    if loss != "squared" and given is not None:
        raise UsageError("--temperature is the Gibbs temperature T (W) of finite-temperature "
                         "sampling, squared loss only; the softmax temperature of the "
                         "cross-entropy loss is --softmax-temperature TAU (V)")
    temperature = None
    if loss == "squared" and given is not None:
        temperature = float(given)
    elif spec is not None and spec.data.get("temperature") is not None:
        temperature = float(spec.data["temperature"])
    if loss != "squared" and (asked or (spec is not None and spec.data.get("temperature"))):
        raise UsageError("finite-temperature sampling supports the squared loss only "
                         "(the softmax temperature of the cross-entropy loss is "
                         "--softmax-temperature)")
    if asked and temperature is None:
        raise UsageError("--samples/--estimator need a Gibbs temperature: give "
                         "--temperature T (W) or a spec's top-level 'temperature:'")
    return temperature


def read_rows(path: str, width: int, names=None):
    """Number rows of a CSV file (one row per line, optional header), as an array."""
    import numpy as np
    from eqprop_hw.io.fileio import read_number_rows
    return np.asarray(read_number_rows(path, width, names), dtype=float)


def read_waveforms(path, width: int, model, what: str) -> np.ndarray:
    """Waveforms from a CSV or ``.npy`` file: one row per grid time, ``width`` columns
    (:func:`eqprop_hw.io.waveforms.read_waveform_file`).

    Examples
    --------
    >>> net = eqprop_hw.load(CIRCUITS / "lc" / "lc_teacher.yaml")
    >>> _ = (TMP / "u.csv").write_text((chr(48) + chr(10)) * (net.steps + 1))
    >>> from eqprop_hw.networks.options import read_waveforms
    >>> read_waveforms(TMP / "u.csv", 1, net.model, "inputs").shape
    (3001, 1)
    """
    from eqprop_hw.io.waveforms import read_waveform_file
    names = [o["name"] for o in model.outputs] if what == "targets" else list(model.src_names)
    if len(names) != width:
        names = [f"column {k + 1}" for k in range(width)]
    return read_waveform_file(path, model.steps + 1, names, what)


def train_summary(metrics: dict, out: str, params_name: str, no_plots: bool) -> str:
    """The last line of ``train``: the files written and the run's wall time."""
    written = " and metrics.json" if no_plots else ", metrics.json and plots"
    wall = metrics.get("wall_seconds")
    timing = f"; wall time {wall:.1f} s" if isinstance(wall, float) else ""
    return f"eqprop-hw: wrote {os.path.join(out, params_name)}{written} in {out}{timing}"
