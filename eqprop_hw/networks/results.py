"""The result objects of the network interface: small frozen dataclasses holding numpy arrays,
whose ``to_json()`` is exactly what the corresponding ``eqprop-hw ... --json`` prints.

Re-exported by :mod:`eqprop_hw.api` (and ``eqprop_hw``); the network classes build them.
"""

from __future__ import annotations

import copy
import os
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np


def plain(value: Any) -> Any:
    """Plain JSON types: numpy scalars/arrays to Python, NaN/inf to None, paths to str.

    The same conversion ``eqprop-hw`` applies before printing ``--json`` output.

    Examples
    --------
    >>> plain({"a": np.float64(1.5), "b": np.array([1, 2]), "c": float("nan")})
    {'a': 1.5, 'b': [1, 2], 'c': None}
    """
    if isinstance(value, dict):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    if isinstance(value, np.ndarray):
        return plain(value.tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else None
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if value is None or isinstance(value, str):
        return value
    return str(value)


@dataclass(frozen=True, eq=False)
class _Result:
    """Base of the result objects: keeps the command's JSON object for :meth:`to_json`."""

    data: dict = field(repr=False)

    def to_json(self) -> dict:
        """The object the corresponding ``eqprop-hw ... --json`` command prints (plain JSON
        types; a fresh copy on every call)."""
        return plain(copy.deepcopy(self.data))


@dataclass(frozen=True, eq=False)
class SimulationResult(_Result):
    """Node voltages and outputs of one simulation (``eqprop-hw simulate --json``).

    Attributes
    ----------
    backend : str
        ``"native"`` or ``"ngspice"``.
    outputs : ndarray
        Output voltages (V): shape (n_outputs,) for one input vector, (rows, n_outputs) for a
        batch; lc networks: (n_outputs, n_times), fluxes (Wb) or currents (A), see
        ``output_kind``. Finite temperature: the mean over Gibbs samples.
    voltages : dict of str to float or ndarray
        Node name -> voltage (V), ground ``"0"`` included: a float for one input vector, an
        array (rows,) for a batch, an array (n_times,) for lc networks.
    converged : bool or ndarray
        Whether every operating point converged (per row for a batch).
    seconds : float
        Wall time of the simulation (s).
    time : ndarray or None
        lc networks: the time grid (s).
    output_kind : str or None
        lc networks: ``"flux"``, ``"current"`` or ``"voltage"``.
    stderr : dict of str to float or None
        Finite temperature: standard error (V) of each free node's mean voltage.

    Examples
    --------
    >>> sim = eqprop_hw.load(CIRCUITS / "xor.yaml").simulate([1.0, 0.0])
    >>> sorted(sim.to_json())
    ['backend', 'converged', 'outputs', 'seconds', 'voltages']
    >>> bool(sim.converged), sim.voltages["0"]
    (True, 0.0)
    """

    backend: str = ""
    outputs: np.ndarray = field(default_factory=lambda: np.zeros(0))
    voltages: dict = field(default_factory=dict)
    converged: Any = True
    seconds: float = 0.0
    time: np.ndarray | None = None
    output_kind: str | None = None
    stderr: dict | None = None


@dataclass(frozen=True, eq=False)
class GradientResult(_Result):
    """The EP estimate of dL/dvalue against the exact gradient (``eqprop-hw grad --json``).

    Attributes
    ----------
    loss : float
        The loss (V^2 for the squared loss, nats for cross-entropy; lc: Wb^2 s or A^2 s).
    ep, exact : dict of str to float
        Trainable element name -> dL/dvalue (per S, F or H): the estimate from measured node
        voltages (lc: the echo estimate) and the software reference (lc: BPTT).
    cosine, rel_error : float
        Agreement of the two: cosine similarity and ``|ep - exact| / |exact|``.
    backend : str
        The simulator whose voltages the estimate used.
    beta : float
        Nudging strength (S; W for cross-entropy).
    stderr : dict of str to float or None
        Finite temperature: the standard error of each estimated component.
    reference, reference_stderr, z : dict of str to float or None
        Finite temperature: what the estimate is compared with (V^2/S), its standard error
        (0 when exact) and the z-score ``(ep - reference) / sqrt(stderr^2 +
        reference_stderr^2)``. ``reference_method`` says how it was obtained: ``"gaussian
        closed form"`` or ``"quadrature"`` (exact; then ``exact`` equals it) or ``"mala long
        run"`` (an estimate; ``exact`` is then NaN, null in JSON).
    reference_method : str or None
    time, target : ndarray or None
        lc networks: the time grid (s) and the targets (n_outputs, n_times).

    Examples
    --------
    >>> g = eqprop_hw.load(CIRCUITS / "xor.yaml").gradient([1, 0], [0.1], beta=1e-7)
    >>> g.cosine > 0.999, g.ep_vector.shape == g.exact_vector.shape
    (True, True)
    """

    loss: float = math.nan
    ep: dict = field(default_factory=dict)
    exact: dict = field(default_factory=dict)
    cosine: float = math.nan
    rel_error: float = math.nan
    backend: str = ""
    beta: float = math.nan
    stderr: dict | None = None
    time: np.ndarray | None = None
    target: np.ndarray | None = None
    reference: dict | None = None
    reference_stderr: dict | None = None
    z: dict | None = None
    reference_method: str | None = None

    @property
    def ep_vector(self) -> np.ndarray:
        """``ep`` as an array in trainable order."""
        return np.array(list(self.ep.values()), dtype=float)

    @property
    def exact_vector(self) -> np.ndarray:
        """``exact`` as an array in trainable order."""
        return np.array(list(self.exact.values()), dtype=float)


@dataclass(frozen=True, eq=False)
class CoupledGradientResult(_Result):
    """Coupled Learning's measured update direction against its exact eta -> 0 limit
    (``eqprop-hw grad --rule coupled --json``).

    Attributes
    ----------
    loss : float
        The squared loss (V^2) of the free phase.
    estimate : dict of str to float
        Trainable element -> ``(dV_C^2 - dV_F^2) / (2 eta)`` (V^2) measured on the backend.
    limit : dict of str to float
        The exact eta -> 0 limit ``(dV_O/dg)^T H_O (V_F - y)`` (V^2) from the software
        reference (:func:`eqprop_hw.learning.coupled_reference.coupled_limit`).
    loss_gradient : dict of str to float
        The exact squared-loss gradient dL/dg (V^2/S), which the limit preconditions by the
        output conductance matrix H_O.
    cosine, rel_error : float
        Agreement of ``estimate`` with ``limit``: the bias of a finite clamp is in rel_error.
    loss_cosine : float
        Cosine of ``estimate`` with ``loss_gradient`` (1 for one output, where H_O is a number).
    eta : float
        The clamped fraction of the output error.
    backend : str

    Examples
    --------
    >>> g = eqprop_hw.load(CIRCUITS / "iris.yaml").coupled_gradient(
    ...     [0.5, -1, 1.2, 0.3], [1, 0, 0], eta=1e-3)
    >>> g.rel_error < 1e-3, g.loss_cosine > 0.99
    (True, True)
    """

    loss: float = math.nan
    estimate: dict = field(default_factory=dict)
    limit: dict = field(default_factory=dict)
    loss_gradient: dict = field(default_factory=dict)
    cosine: float = math.nan
    rel_error: float = math.nan
    loss_cosine: float = math.nan
    eta: float = math.nan
    backend: str = ""


@dataclass(frozen=True, eq=False)
class TrainingRun(_Result):
    """A finished training run (``eqprop-hw train --json`` prints ``metrics``).

    Attributes
    ----------
    metrics : dict
        As written to ``out/metrics.json``: per-epoch curves (``train_loss``,
        ``train_accuracy``, ...) and final values.
    params : dict of str to float
        The trained element values (S, F or H), as written to ``out/params.npz`` (resistive)
        or ``out/params.json`` (lc); ``network.with_params(run.params)`` uses them.
    out : pathlib.Path
        The output folder.

    Examples
    --------
    >>> run = eqprop_hw.load(CIRCUITS / "xor.yaml").train(out=TMP / "xor", epochs=1,
    ...                                                   plots=False)
    >>> len(run.metrics["train_loss"]), (run.out / "metrics.json").exists()
    (1, True)
    """

    metrics: dict = field(default_factory=dict)
    params: dict = field(default_factory=dict)
    out: Path = Path(".")

    @property
    def params_file(self) -> Path:
        """The params file written by the run (``params.npz`` or ``params.json``)."""
        for name in ("params.npz", "params.json"):
            if (self.out / name).exists():
                return self.out / name
        return self.out / "params.npz"


@dataclass(frozen=True, eq=False)
class Prediction(_Result):
    """Predictions on the spec's dataset (``eqprop-hw predict --json``).

    Attributes
    ----------
    accuracy : float or None
        Fraction of correct predictions (None for regression and lc networks).
    loss : float
        Mean loss per sample (resistive) or total loss over the sequences (lc).
    split : str
        The split evaluated (lc: ``"train"`` when there are no held-out sequences).
    backend : str
    samples : list of dict
        Per sample: ``index``, ``label``, ``prediction``, ``inputs``, ``outputs`` (lc also
        ``targets`` and ``loss``; resistive also ``source_voltages``). ``inputs`` are what
        ``simulate``'s ``x`` (``--input``) takes, the dataset's encoded features: fed back they
        give ``outputs``. ``source_voltages`` (resistive): input source name -> the voltage
        (V) it applied, ``gain * x`` (until issue 17, ``inputs`` held these voltages).
    outputs : ndarray
        Output voltages (rows, n_outputs); lc: (sequences, n_outputs, n_times).

    Examples
    --------
    >>> pred = eqprop_hw.load(CIRCUITS / "xor.yaml").predict(split="all")
    >>> len(pred.samples), pred.outputs.shape
    (4, (4, 1))
    """

    accuracy: float | None = None
    loss: float = math.nan
    split: str = ""
    backend: str = ""
    samples: list = field(default_factory=list)
    outputs: np.ndarray = field(default_factory=lambda: np.zeros(0))


@dataclass(frozen=True, eq=False)
class CheckResult(_Result):
    """The reference checks of a network (``eqprop-hw check --json``).

    Attributes
    ----------
    rows : list of dict
        One row per comparison: ``name``, ``against``, ``cosine``, ``rel_error``,
        ``norm_ratio``, ``elements``, ``seconds`` (the first row, ``exact``, also ``loss``
        and ``norm``); see :func:`eqprop_hw.learning.reference.check_report`.
    beta : float
        The nudging strength used (S; W for cross-entropy; lc: the echo nudge).
    samples : int
        Inputs (lc: sequences) checked.

    Examples
    --------
    >>> table = eqprop_hw.load(CIRCUITS / "xor.yaml").check(2, ngspice=False)
    >>> table.rows[0]["name"], table.samples
    ('exact', 2)
    """

    rows: list = field(default_factory=list)
    beta: float = math.nan
    samples: int = 0
