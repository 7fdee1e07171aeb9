"""The one input/target sequence every lc command runs when given none.

``simulate``, ``grad``, ``check``, ``predict`` and ``export`` of an lc spec all take input
waveforms (``x``, ``--input-file``) and targets (``y``, ``--target-file``) on the spec's grid;
without them they all run the same default sequence (:func:`default_sequence`): the spec's own
input waveforms and targets when the spec has targets, else its dataset's first training
sequence (``dataset[0]``), else the spec's input waveforms without targets. Their JSON names it
(``inputs_source``/``targets_source``: ``"spec"``, ``"dataset[0]"``, or the array/file given).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: ``inputs_source`` of arrays given to the Python API (the CLI replaces it by the file name).
GIVEN = "x"


@dataclass
class Sequence:
    """One sequence as a command runs it.

    Attributes
    ----------
    inputs : ndarray (steps + 1, n_in)
        Input currents (A) on the grid.
    targets : ndarray (steps + 1, n_out) or None
        Targets (Wb or A) on the grid; None when the spec has neither targets nor dataset.
    inputs_source, targets_source : str
        ``"spec"``, ``"dataset[0]"``, ``"x"``/``"y"`` (arrays given), or ``None`` (no targets).
    spec_waveforms : bool
        The inputs are the spec's own waveforms (netlists and ngspice use their SIN/PWL text).
    """

    inputs: np.ndarray
    targets: np.ndarray | None
    inputs_source: str
    targets_source: str | None
    spec_waveforms: bool


def default_sequence(spec, model) -> Sequence:
    """The default sequence of an lc spec (see the module docstring).

    Examples
    --------
    >>> net = eqprop_hw.load(CIRCUITS / "lc" / "lc_teacher.yaml")
    >>> seq = default_sequence(net.spec, net.model)
    >>> seq.inputs_source, seq.inputs.shape, seq.targets.shape
    ('dataset[0]', (3001, 1), (3001, 2))
    """
    if model.targets is not None:
        return Sequence(model.input_waveforms(), model.target_waveforms(), "spec", "spec", True)
    if spec.data.get("dataset"):
        from eqprop_hw.lc.model import build_model
        from eqprop_hw.lc.train import lc_dataset
        # the data set is a function of the spec alone, not of trained values (--params)
        inputs, targets = lc_dataset(spec, build_model(spec))
        return Sequence(inputs[0], targets[0], "dataset[0]", "dataset[0]", False)
    return Sequence(model.input_waveforms(), None, "spec", None, True)


def resolve_sequence(spec, model, x=None, y=None) -> Sequence:
    """The sequence a command runs: ``x`` and ``y`` (checked arrays on the grid) where given,
    else the default's.

    Examples
    --------
    >>> net = eqprop_hw.load(CIRCUITS / "lc" / "lc_teacher.yaml")
    >>> seq = resolve_sequence(net.spec, net.model, x=np.zeros((net.steps + 1, 1)))
    >>> seq.inputs_source, seq.targets_source, seq.spec_waveforms
    ('x', 'dataset[0]', False)
    """
    if x is not None and y is not None:
        return Sequence(np.asarray(x, dtype=float), np.asarray(y, dtype=float), GIVEN, "y",
                        False)
    base = default_sequence(spec, model)
    if x is not None:
        base = Sequence(np.asarray(x, dtype=float), base.targets, GIVEN, base.targets_source,
                        False)
    if y is not None:
        base = Sequence(base.inputs, np.asarray(y, dtype=float), base.inputs_source, "y",
                        base.spec_waveforms)
    return base
