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
from eqprop_hw.networks.results import (CheckResult, CoupledGradientResult,  # noqa: F401
                                        GradientResult, Prediction, SimulationResult,
                                        TrainingRun, plain)

__all__ = ["load", "import_netlist", "Network", "SimulationResult", "GradientResult",
           "TrainingRun", "Prediction", "CheckResult", "CoupledGradientResult",
           "InvalidParameterError"]


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


def _names(value, name: str):
    """``inputs``/``outputs``/``trainable`` of :func:`import_netlist`: None or a list of str."""
    if value is None:
        return None
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
        raise InvalidParameterError(f"The {name!r} parameter of import_netlist must be a list "
                                    f"of names; got {type(value).__name__}.")
    for item in value:
        if not isinstance(item, str):
            raise InvalidParameterError(f"The {name!r} parameter of import_netlist must hold "
                                        f"strings; got {type(item).__name__}.")
    return list(value)


def import_netlist(path, *, inputs=None, outputs=None, trainable=None, data=None,
                   output=None, allow_unsafe: bool = False, notes: list | None = None) -> dict:
    """Import a SPICE netlist as a ``graph`` spec, with the roles that make it trainable.

    Long because: the docstring (every parameter and a runnable example); the code is the
    argument checks and one call.

    Parameters
    ----------
    path : str or path-like
        The netlist (the safe subset of ``docs/netlists.md``); untrusted input, nothing in it
        is executed.
    inputs : list of str, optional
        Independent sources (V or I) that become the inputs, in order (case-insensitive). Each
        keeps its imported value as its ``dc``. None: the netlist's own (none, unless it was
        exported by eqprop-hw).
    outputs : list of str, optional
        Nodes whose voltages (V) are the outputs, in order (case-insensitive).
    trainable : list of str, optional
        Resistor names or shell-style patterns (``"R*"``, ``"R[1-4]"``); they train as
        conductances (S) from their imported values. None: every resistor.
    data : str or dict, optional
        The ``dataset`` section: ``"teacher"``, ``"xor"``, ``"iris"``, ``"digits"``,
        ``"none"``, ``"mnist:PATH"`` or a mapping (``docs/specs.md``). Default: ``teacher``
        when ``inputs`` and ``outputs`` are given.
    output : str or path-like, optional
        Also write the spec (YAML) here, atomically; :func:`load` reads it back.
    allow_unsafe : bool
        Let ``.include``/``.lib`` read files outside the netlist's folder (trusted netlists).
    notes : list, optional
        Receives what the import left out, renamed or ignored (one line per kind).

    Returns
    -------
    dict
        The spec mapping.

    Raises
    ------
    NetlistError
        The netlist cannot be imported, or a role names what the circuit does not have (one
        line naming the parameter and the name).
    InvalidParameterError
        An argument of the wrong type, or ``output`` naming the netlist.

    Examples
    --------
    >>> path = TMP / "divider.cir"
    >>> _ = path.write_text("* divider\\nV1 a 0 DC 2\\nR1 a b 1k\\nR2 b 0 1k\\n.op\\n.end\\n")
    >>> spec = eqprop_hw.import_netlist(path, inputs=["V1"], outputs=["b"],
    ...                                 trainable=["R*"], output=TMP / "divider.yaml")
    >>> net = eqprop_hw.load(TMP / "divider.yaml")
    >>> net.input_names, net.output_names, net.trainable
    (['V1'], ['b'], ['R1', 'R2'])
    >>> float(net.simulate([2.0]).outputs[0])
    1.0
    """
    from eqprop_hw.circuit.import_roles import import_with_roles

    method = "import_netlist"
    for value, name in ((path, "path"), (output, "output")):
        if not isinstance(value, (str, os.PathLike)) and not (name == "output" and
                                                             value is None):
            raise InvalidParameterError(f"The {name!r} parameter of {method} must be a file "
                                        f"path; got {type(value).__name__}.")
    if data is not None and not isinstance(data, (str, dict)):
        raise InvalidParameterError(f"The 'data' parameter of {method} must be a data set "
                                    f"name or a dataset mapping; got {type(data).__name__}.")
    if not isinstance(allow_unsafe, bool):
        raise InvalidParameterError(f"The 'allow_unsafe' parameter of {method} must be True "
                                    f"or False; got {type(allow_unsafe).__name__}.")
    if notes is not None and not isinstance(notes, list):
        raise InvalidParameterError(f"The 'notes' parameter of {method} must be a list; got "
                                    f"{type(notes).__name__}.")
    if output is not None and os.path.realpath(output) == os.path.realpath(path):
        raise InvalidParameterError(f"The 'output' parameter of {method} names the netlist "
                                    f"{os.fspath(path)!r}; it would be overwritten.")
    spec = import_with_roles(path, _names(inputs, "inputs"), _names(outputs, "outputs"),
                             _names(trainable, "trainable"), data, allow_unsafe=allow_unsafe,
                             notes=notes)
    if output is not None:
        from eqprop_hw.circuit.spice_import import spec_to_yaml
        from eqprop_hw.io.fileio import atomic_write_text
        atomic_write_text(output, spec_to_yaml(spec))
    return spec
