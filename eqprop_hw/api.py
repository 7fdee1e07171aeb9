"""The public Python API: :func:`load` a spec, then simulate, differentiate, export, train and
predict with the returned :class:`Network` (see ``docs/api.md``).

>>> import eqprop_hw
>>> net = eqprop_hw.load(CIRCUITS / "xor.yaml")
>>> sim = net.simulate([1.0, 0.0])
>>> sim.outputs.shape
(1,)

Every result is a small frozen dataclass holding numpy arrays; its ``to_json()`` is exactly the
object the corresponding ``eqprop-hw ... --json`` command prints (``CONTRACT.md``). Units are SI:
volts, amperes, siemens (conductance, never resistance), farads, henries, seconds, watts.
Nothing here prints or exits; errors are :class:`~eqprop_hw.errors.EqpropError` subclasses
(bad arguments: :class:`InvalidParameterError`, also a :class:`ValueError`).
"""

from __future__ import annotations

import os

from eqprop_hw.networks.base import InvalidParameterError, Network, check_params
from eqprop_hw.networks.results import (CheckResult, GradientResult, Prediction,  # noqa: F401
                                        SimulationResult, TrainingRun, plain)

__all__ = ["load", "Network", "SimulationResult", "GradientResult", "TrainingRun",
           "Prediction", "CheckResult", "InvalidParameterError"]


def load(path, params=None, overrides=None) -> Network:
    """Load, validate and build a spec: the network of its kind.

    Parameters
    ----------
    path : str or path-like
        A YAML spec (``docs/specs.md``); untrusted input, validated before anything is built.
    params : str, path-like or mapping, optional
        Element values to apply (S, F or H): a params file (``.json`` or ``.npz``, e.g. a
        training run's ``params.npz``) or a mapping of element name to value.
    overrides : mapping, optional
        Spec settings to change without editing the file, ``{dotted key: value}`` (e.g.
        ``{"training.learning_rate": 0.05}``; what ``eqprop-hw train --set KEY=VALUE`` does):
        written into the spec before it is validated, so they pass the same checks as the
        file (a bad one is a :class:`~eqprop_hw.errors.SpecError` naming it). Values are
        bools, numbers, strings or lists of those. A training run records them
        (``metrics["overrides"]``) and resumes only with the same ones.

    Returns
    -------
    Network
        A :class:`~eqprop_hw.networks.resistive.ResistiveNetwork` (``kind: layered`` or
        ``graph``) or a :class:`~eqprop_hw.networks.lc.LCNetwork` (``kind: lc``).

    Raises
    ------
    SpecError, ParamsError, CircuitError
        One line naming the file (and line, element) and what is wrong.
    InvalidParameterError
        ``params`` of the wrong type or holding a bad value; ``overrides`` not a mapping.

    Examples
    --------
    >>> net = eqprop_hw.load(CIRCUITS / "iris.yaml")
    >>> net.kind, len(net.input_names), len(net.output_names)
    ('layered', 4, 3)
    >>> eqprop_hw.load(CIRCUITS / "lc" / "lc_teacher.yaml").kind
    'lc'
    >>> fast = eqprop_hw.load(CIRCUITS / "xor.yaml", overrides={"training.learning_rate": 0.05})
    >>> fast.spec.data["training"]["learning_rate"], fast.spec.overrides
    (0.05, {'training.learning_rate': 0.05})
    """
    from eqprop_hw.circuit.overrides import Override, check_overrides
    from eqprop_hw.circuit.spec import load_spec

    if not isinstance(path, (str, os.PathLike)):
        raise InvalidParameterError(f"The 'path' parameter of load must be a spec file path; "
                                    f"got {type(path).__name__}.")
    if overrides is not None and not hasattr(overrides, "items") and not (
            isinstance(overrides, list) and all(isinstance(o, Override) for o in overrides)):
        raise InvalidParameterError("The 'overrides' parameter of load must be a mapping of "
                                    "dotted spec keys to values; got "
                                    f"{type(overrides).__name__}.")
    settings = check_overrides(overrides, "load")
    spec = load_spec(path, settings)
    values, source = check_params(params, "load")
    if spec.kind == "lc":
        from eqprop_hw.networks.lc import LCNetwork
        return LCNetwork(spec, values, source)
    from eqprop_hw.networks.resistive import ResistiveNetwork
    return ResistiveNetwork(spec, values, source)
