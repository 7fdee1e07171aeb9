"""The interface every network kind implements, and the checks of its arguments.

:class:`Network` is what :func:`eqprop_hw.load` returns: one subclass per network kind
(:class:`~eqprop_hw.networks.resistive.ResistiveNetwork` for ``layered`` and ``graph`` specs,
:class:`~eqprop_hw.networks.lc.LCNetwork` for ``lc`` specs), chosen once from the spec's kind.
Callers (the Python API and the command line, through :meth:`Network.report`) never branch
on the kind again.

Arguments are checked up front (scikit-learn style): a bad value raises
:class:`InvalidParameterError` (a :class:`ValueError` and an
:class:`~eqprop_hw.errors.EqpropError`) naming the method and the parameter.
"""

from __future__ import annotations

import abc
import math
import numbers
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from eqprop_hw.errors import EqpropError

#: Simulators a network runs on.
BACKENDS = ("native", "ngspice")
#: Nudging modes of the EP gradient.
NUDGES = ("positive", "negative", "centered")
#: Data-set splits ``predict`` evaluates.
SPLITS = ("train", "test", "all")
#: Largest number of values an array argument may hold (inputs, targets, waveforms): 10^8
#: float64 values, 800 MB (the same order as the largest spec the builder accepts).
MAX_ARRAY_VALUES = 100_000_000


class InvalidParameterError(EqpropError, ValueError):
    """An argument of a Python API call has a bad type, shape or value.

    The message names the method and the parameter, e.g. ``"The 'backend' parameter of
    simulate must be one of 'native', 'ngspice'; got 'spice'."``

    Examples
    --------
    >>> check_choice("spice", "backend", "simulate", BACKENDS)
    Traceback (most recent call last):
    ...
    eqprop_hw.networks.base.InvalidParameterError: The 'backend' parameter of simulate must be \
one of 'native', 'ngspice'; got 'spice'.
    """


def _bad(method: str, name: str, what: str, value: Any) -> InvalidParameterError:
    shown = repr(value)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return InvalidParameterError(f"The {name!r} parameter of {method} must be {what}; "
                                 f"got {shown}.")


def check_choice(value: Any, name: str, method: str, choices: Sequence[str]) -> str:
    """``value`` if it is one of ``choices``, else :class:`InvalidParameterError`.

    Examples
    --------
    >>> check_choice("native", "backend", "simulate", BACKENDS)
    'native'
    """
    if not isinstance(value, str) or value not in choices:
        raise _bad(method, name, "one of " + ", ".join(repr(c) for c in choices), value)
    return value


def check_number(value: Any, name: str, method: str, positive: bool = False,
                 optional: bool = True) -> float | None:
    """A finite real number (``None`` passes when ``optional``), as float.

    Parameters
    ----------
    value : object
        What the caller gave.
    name, method : str
        Named in the error message.
    positive : bool
        Also require ``value > 0``.
    optional : bool
        Accept ``None`` (returned as is).

    Examples
    --------
    >>> check_number(2e-6, "beta", "gradient", positive=True)
    2e-06
    >>> check_number(0.0, "beta", "gradient", positive=True)
    Traceback (most recent call last):
    ...
    eqprop_hw.networks.base.InvalidParameterError: The 'beta' parameter of gradient must be a \
finite number > 0; got 0.0.
    """
    if value is None and optional:
        return None
    what = "a finite number" + (" > 0" if positive else "")
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise _bad(method, name, what, value)
    number = float(value)
    if not math.isfinite(number) or (positive and number <= 0):
        raise _bad(method, name, what, value)
    return number


def check_int(value: Any, name: str, method: str, minimum: int | None = None,
              optional: bool = True) -> int | None:
    """An integer (``None`` passes when ``optional``), at least ``minimum``.

    Examples
    --------
    >>> check_int(3, "epochs", "train", minimum=1)
    3
    >>> check_int(2.5, "epochs", "train", minimum=1)
    Traceback (most recent call last):
    ...
    eqprop_hw.networks.base.InvalidParameterError: The 'epochs' parameter of train must be an \
integer >= 1; got 2.5.
    """
    if value is None and optional:
        return None
    what = "an integer" + (f" >= {minimum}" if minimum is not None else "")
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise _bad(method, name, what, value)
    if minimum is not None and int(value) < minimum:
        raise _bad(method, name, what, value)
    return int(value)


def check_bool(value: Any, name: str, method: str) -> bool:
    """``value`` if it is a bool, else :class:`InvalidParameterError`.

    Examples
    --------
    >>> check_bool(True, "progress", "train")
    True
    """
    if not isinstance(value, bool):
        raise _bad(method, name, "True or False", value)
    return value


def check_array(value: Any, name: str, method: str, shape: tuple, labels: Sequence[str] = (),
                optional: bool = False):
    """A float64 array of finite numbers with the given shape (``None`` dimensions: any size).

    Parameters
    ----------
    value : array_like
        Numbers (bools, strings and complex numbers are refused).
    name, method : str
        Named in the error message.
    shape : tuple of int or None
        Expected shape; ``None`` matches any length >= 1 along that axis.
    labels : sequence of str
        What the last axis holds (e.g. the input names), shown when its length is wrong.
    optional : bool
        Accept ``None`` (returned as is).

    Returns
    -------
    ndarray or None

    Examples
    --------
    >>> check_array([1, 0], "x", "simulate", (2,)).tolist()
    [1.0, 0.0]
    >>> check_array([1, 0, 1], "x", "simulate", (2,), labels=("x1", "x2"))
    Traceback (most recent call last):
    ...
    eqprop_hw.networks.base.InvalidParameterError: The 'x' parameter of simulate must be an \
array of shape (2,) (last axis: x1, x2); got shape (3,).
    """
    import numpy as np

    if value is None and optional:
        return None
    shown = "(" + ", ".join("n" if size is None else str(size) for size in shape) + \
        ("," if len(shape) == 1 else "") + ")"
    what = f"an array of shape {shown}" + (f" (last axis: {', '.join(labels)})" if labels else "")
    if isinstance(value, (str, bytes)) or value is None:
        raise _bad(method, name, what + " of finite numbers", value)
    try:
        array = np.asarray(value)
    except (ValueError, TypeError):      # ragged nested lists
        raise _bad(method, name, what + " of finite numbers", value) from None
    if array.size > MAX_ARRAY_VALUES:
        raise InvalidParameterError(f"The {name!r} parameter of {method} holds {array.size} "
                                    f"values, more than the limit of {MAX_ARRAY_VALUES}.")
    if array.dtype.kind not in "iuf":
        raise _bad(method, name, what + " of finite real numbers",
                   f"an array of {array.dtype.name}" if array.dtype.kind != "O" else value)
    if array.ndim != len(shape) or any(want is not None and got != want
                                       for got, want in zip(array.shape, shape)) \
            or 0 in array.shape:
        raise InvalidParameterError(f"The {name!r} parameter of {method} must be {what}; "
                                    f"got shape {array.shape}.")
    array = array.astype(float)
    if not np.isfinite(array).all():
        raise InvalidParameterError(f"The {name!r} parameter of {method} must hold finite "
                                    "numbers; it holds NaN or infinity.")
    return array


def check_params(value: Any, method: str = "load"):
    """``None``, a params file path, or a mapping of element name to value (S, F or H).

    Returns
    -------
    (dict of str to float or None, str or None)
        The values and the file they came from (``None`` for a mapping).

    Examples
    --------
    >>> check_params({"R1": 2e-3})
    ({'R1': 0.002}, None)
    """
    from collections.abc import Mapping

    if value is None:
        return None, None
    if isinstance(value, (str, os.PathLike)):
        from eqprop_hw.io.params import load_params
        return load_params(value), os.fspath(value)
    if isinstance(value, Mapping):
        from eqprop_hw.errors import ParamsError
        from eqprop_hw.io.params import check_values
        try:
            return check_values(list(value.items()), "params"), None
        except ParamsError as error:
            raise InvalidParameterError(f"The 'params' parameter of {method}: "
                                        f"{error.message}.") from None
    raise _bad(method, "params", "a params file path (.json or .npz) or a mapping of element "
               "name to value", value)


@dataclass
class Report:
    """What one ``eqprop-hw`` command shows for a network (:meth:`Network.report`).

    Attributes
    ----------
    data : dict
        The object ``--json`` prints (export: unused; train: the metrics).
    lines : list of str
        The human-readable output on stdout (without ``--json``).
    trailer : list of str
        Lines for stderr after ``lines`` (without ``--json``): backend and wall time.
    notes : list of str
        Lines for stderr in either mode (notes, "wrote ..." messages).
    text : str or None
        export: the netlist text, written as is.
    failure : Exception or None
        Raised by the command after printing (operating points that did not converge).

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> report = eqprop_hw.load(CIRCUITS / "xor.yaml").report("describe", SimpleNamespace())
    >>> report.lines[0], report.data["name"]
    ('circuit    xor (layered)', 'xor')
    """

    data: dict = field(default_factory=dict)
    lines: list = field(default_factory=list)
    trailer: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    text: str | None = None
    failure: BaseException | None = None


#: The commands :meth:`Network.report` runs.
COMMANDS = ("describe", "export", "simulate", "grad", "check", "predict", "train")


class Network(abc.ABC):
    """A circuit built from a spec, with the operations of every network kind.

    Get one with :func:`eqprop_hw.load`. Arrays in, small result objects out
    (:mod:`eqprop_hw.api`); nothing is printed and nothing exits. Every result's
    ``to_json()`` is the object the corresponding ``eqprop-hw ... --json`` command prints.

    Attributes
    ----------
    spec : eqprop_hw.circuit.spec.Spec
        The validated spec.
    params : dict of str to float or None
        Element values (S, F, H) applied on top of the spec's, if any.

    Examples
    --------
    >>> net = eqprop_hw.load(CIRCUITS / "xor.yaml")
    >>> isinstance(net, eqprop_hw.Network), net.kind, net.name
    (True, 'layered', 'xor')
    """

    def __init__(self, spec, params: dict | None = None, params_source: str | None = None):
        self.spec = spec
        self.params = None if params is None else dict(params)
        self._params_source = params_source

    # -- what the network is -------------------------------------------------------------
    @property
    def name(self) -> str:
        """The spec's name."""
        return self.spec.name

    @property
    def kind(self) -> str:
        """``"layered"``, ``"graph"`` or ``"lc"``."""
        return self.spec.kind

    @property
    def temperature(self) -> float | None:
        """The spec's Gibbs temperature T (W), or None (zero temperature)."""
        value = self.spec.data.get("temperature")
        return None if value is None else float(value)

    @property
    @abc.abstractmethod
    def input_names(self) -> list[str]:
        """Names of the inputs, in input order."""

    @property
    @abc.abstractmethod
    def output_names(self) -> list[str]:
        """Names of the outputs, in output order."""

    @property
    @abc.abstractmethod
    def trainable(self) -> list[str]:
        """Names of the trainable elements (their SPICE names)."""

    def __repr__(self) -> str:
        return (f"<{type(self).__name__} {self.name!r} ({self.kind}): "
                f"{len(self.input_names)} inputs, {len(self.output_names)} outputs, "
                f"{len(self.trainable)} trainable>")

    def with_params(self, params) -> "Network":
        """The same network with some element values changed (a params path or a mapping of
        element name to value in S, F or H; values given before and not named stay).

        Examples
        --------
        >>> net = eqprop_hw.load(CIRCUITS / "xor.yaml")
        >>> first = net.trainable[0]
        >>> net.with_params({first: 2e-4}).describe()["trainable"][0]["value"]
        0.0002
        """
        values, source = check_params(params, "with_params")
        if values is None:
            return type(self)(self.spec, self.params, self._params_source)
        merged = {**(self.params or {}), **values}
        return type(self)(self.spec, merged, source or self._params_source)

    # -- helpers of train -----------------------------------------------------------------
    def _out(self, out, method: str) -> str:
        if out is None:
            return os.path.join("runs", self.name)
        if not isinstance(out, (str, os.PathLike)):
            raise InvalidParameterError(f"The 'out' parameter of {method} must be a folder "
                                        f"path; got {type(out).__name__}.")
        return os.fspath(out)

    @staticmethod
    def _run(metrics: dict, out: Path, params_name: str):
        from eqprop_hw.networks.results import TrainingRun
        from eqprop_hw.io.params import load_params
        return TrainingRun(data=metrics, metrics=metrics,
                           params=load_params(out / params_name), out=out)

    # -- the command line ----------------------------------------------------------------
    def report(self, command: str, options, log=None) -> Report:
        """Run ``eqprop-hw COMMAND`` on this network with the command's parsed ``options`` (an
        ``argparse`` namespace): the library calls of the command, its option checks (messages
        naming the options) and what it prints.

        Parameters
        ----------
        command : str
            One of :data:`COMMANDS`.
        options : argparse.Namespace
            The command's options as ``eqprop_hw.cli`` parses them.
        log : callable, optional
            Called with progress messages (str) of long commands (train).

        Returns
        -------
        Report

        Examples
        --------
        >>> from types import SimpleNamespace
        >>> net = eqprop_hw.load(CIRCUITS / "lc" / "lc_teacher.yaml")
        >>> net.report("describe", SimpleNamespace()).lines[0]
        'circuit    lc_teacher (lc, Hamiltonian LC network)'
        """
        check_choice(command, "command", "report", COMMANDS)
        report = getattr(self, f"_report_{command}")(options, log)
        from eqprop_hw.twin.linearised import annotate   # transistor twins: say what ran
        annotate(report, command, self.spec)
        return report

    def _option_out(self, options) -> str:
        """``train --out``: the output folder (default ``runs/<spec name>``), not a file."""
        from eqprop_hw.networks.options import UsageError
        out = options.out or os.path.join("runs", self.name)
        if os.path.exists(out) and not os.path.isdir(out):
            raise UsageError(f"--out {out}: not a folder (training writes params, metrics and "
                             "a checkpoint into a folder)")
        return out

    # -- the operations ------------------------------------------------------------------
    @abc.abstractmethod
    def describe(self) -> dict:
        """The circuit as built: the object ``eqprop-hw describe --json`` prints."""

    @abc.abstractmethod
    def simulate(self, x=None, **options):
        """Free (or nudged) phase: a :class:`~eqprop_hw.api.SimulationResult`."""

    @abc.abstractmethod
    def gradient(self, x=None, y=None, **options):
        """EP estimate vs the exact gradient: a :class:`~eqprop_hw.api.GradientResult`."""

    @abc.abstractmethod
    def netlist(self, x=None, **options) -> str:
        """The SPICE netlist text ``eqprop-hw export`` writes."""

    @abc.abstractmethod
    def train(self, out=None, **options):
        """Train on the spec's dataset: a :class:`~eqprop_hw.api.TrainingRun`."""

    @abc.abstractmethod
    def predict(self, split: str = "test", **options):
        """Predictions on the spec's dataset: a :class:`~eqprop_hw.api.Prediction`."""

    @abc.abstractmethod
    def check(self, samples: int = 4, **options):
        """The reference checks (``eqprop-hw check --json``): a
        :class:`~eqprop_hw.api.CheckResult`."""


def row_progress(backend, rows: int, description: str, enabled: bool):
    """A context manager: a progress bar on stderr over the operating points of a backend that
    solves row by row (ngspice's ``on_row`` hook) when ``enabled``; else nothing.

    Examples
    --------
    >>> from eqprop_hw.backends import make_backend
    >>> net = eqprop_hw.load(CIRCUITS / "xor.yaml")
    >>> with make_backend("native", net.circuit) as solver, \\
    ...         row_progress(solver, 4, "simulate", enabled=False):
    ...     solver.solve([[1.0, 0.0]]).outputs.shape
    (1, 1)
    """
    import contextlib

    @contextlib.contextmanager
    def bar_context():
        if not enabled or rows < 2:
            yield
            return
        if getattr(backend, "on_row", False) is False:    # all rows in one go: no steps
            from eqprop_hw.learning.progress import waiting
            with waiting(description, True):
                yield
            return
        from eqprop_hw.learning.loop import progress_bar
        bar, previous = progress_bar(rows, description, True), backend.on_row
        backend.on_row = lambda row: bar.update(1)
        try:
            yield
        finally:
            backend.on_row = previous
            bar.close()

    return bar_context()
