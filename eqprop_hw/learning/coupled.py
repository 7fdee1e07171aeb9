"""Coupled Learning beside EP: outputs clamped by voltage sources, the same local rule.

Coupled Learning (Stern, Hexner, Rocks and Liu, Phys. Rev. X 11, 021045, 2021) replaces EP's
nudging conductance by a *clamp*: in the second phase an ideal voltage source holds every
output node k at

    V_C,k = V_F,k + eta (y_k - V_F,k)                                     (V)

where V_F is the free phase's output and ``eta`` (dimensionless, 0 < eta <= 1) the clamping
fraction. The local rule is EP's one-sided rule with ``eta`` in place of ``beta``: each
trainable conductance measures its own drop in both phases and

    d_k(eta) = (dV_C^2 - dV_F^2) / (2 eta)                                (V^2)

(the learning step is ``g <- g - lr * d``). As eta -> 0 the clamped state is the free state
moved along the output displacement eta (y - V_F), so

    d(0) = (dV_O/dg)^T H_O (V_F - y)

where ``H_O`` (S) is the output conductance matrix of the free state (the Hessian of the
circuit's co-content with respect to the output voltages, hidden nodes relaxed). EP's
limit is the same expression without ``H_O``: ``dL/dg = (dV_O/dg)^T (V_F - y)``. With one
output ``H_O`` is a positive number and Coupled Learning follows the squared-loss gradient
exactly in direction; with several outputs it is the gradient preconditioned by ``H_O``. The
exact limit is computed by :func:`eqprop_hw.learning.coupled_reference.coupled_limit`; at
finite eta the estimate is biased by O(eta) (for a linear network exactly
``eta * d_delta^2 / 2``, with ``d_delta`` the drop's change per unit eta).

The clamped phase is an ordinary operating point of :func:`clamped_circuit`: the circuit
with one more grounded voltage source per output, driven like an input. Both backends
simulate it unchanged, and an exported clamped netlist is what ``ngspice -b`` runs.

Examples
--------
>>> import numpy as np
>>> import eqprop_hw
>>> from eqprop_hw.backends import make_backend
>>> net = eqprop_hw.load(CIRCUITS / "xor.yaml")
>>> clamped = clamped_circuit(net.circuit)
>>> [port.name for port in clamped.inputs[-len(net.circuit.outputs):]]
['clamp_y0']
>>> with make_backend("native", net.circuit) as free, make_backend("native", clamped) as held:
...     d, phases = coupled_gradient(free, held, [[1.0, 0.0]], [[0.1]], eta=0.01)
>>> d.shape == (len(net.circuit.trainable),)
True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from eqprop_hw.circuit.graph import GROUND, Circuit, Element, InputPort
from eqprop_hw.errors import CircuitError
from eqprop_hw.learning.ep import make_probe, measure_drops

if TYPE_CHECKING:       # annotations only
    from eqprop_hw.backends.base import Backend, SolveResult

CLAMP_PREFIX = "VCLAMP"
"""Name prefix of the clamping sources (``VCLAMP0``, ``VCLAMP1``... in output order)."""


def check_eta(eta) -> float:
    """``eta`` as a float in (0, 1], else CircuitError naming it."""
    if isinstance(eta, bool) or not isinstance(eta, (int, float, np.floating, np.integer)):
        raise CircuitError(f"eta must be a number in (0, 1], got {eta!r}")
    eta = float(eta)
    if not 0.0 < eta <= 1.0:
        raise CircuitError(f"eta must be in (0, 1] (the clamped fraction of the "
                                    f"output error), got {eta!r}")
    return eta


def _clamp_names(circuit: Circuit) -> list[str]:
    """One unused source name per output: VCLAMP{k}, or VCLAMP{k}_{j} if that is taken."""
    taken = {element.name.upper() for element in circuit.elements}
    names = []
    for k in range(len(circuit.outputs)):
        name, j = f"{CLAMP_PREFIX}{k}", 0
        while name.upper() in taken:
            j += 1
            name = f"{CLAMP_PREFIX}{k}_{j}"
        taken.add(name.upper())
        names.append(name)
    return names


def clamped_circuit(circuit: Circuit) -> Circuit:
    """The circuit with every output node held by a grounded voltage source.

    The sources ``VCLAMP{k}`` (k in output order) are driven as extra inputs named
    ``clamp_<output>`` with gain 1, so their value is the clamp voltage in V; the first
    ``len(circuit.inputs)`` inputs are the circuit's own.

    Parameters
    ----------
    circuit : Circuit
        A resistive circuit with at least one output.

    Returns
    -------
    Circuit
        Same elements, trainables, models (diode and transistor) and options, plus the
        clamping sources.

    Raises
    ------
    CircuitError
        When the circuit has no outputs, an output is ground, or an output node is already
        set by a grounded voltage source (a clamp there would short two sources).

    Examples
    --------
    >>> import eqprop_hw
    >>> c = clamped_circuit(eqprop_hw.load(CIRCUITS / "iris.yaml").circuit)
    >>> [(e.name, e.nodes) for e in c.elements[-3:]]
    [('VCLAMP0', ('out0', '0')), ('VCLAMP1', ('out1', '0')), ('VCLAMP2', ('out2', '0'))]
    """
    if not circuit.outputs:
        raise CircuitError("coupled learning needs at least one output to clamp")
    pinned = {element.nodes[0] for element in circuit.elements
              if element.type == "V" and element.nodes[1] == GROUND}
    pinned |= {element.nodes[1] for element in circuit.elements
               if element.type == "V" and element.nodes[0] == GROUND}
    for port in circuit.outputs:
        if port.node == GROUND:
            raise CircuitError(f"output {port.name} is the ground node; it cannot be clamped")
        if port.node in pinned:
            raise CircuitError(f"output {port.name} (node {port.node}) is already set by a "
                               "voltage source; it cannot be clamped")
    names = _clamp_names(circuit)
    sources = [Element(name, "V", (port.node, GROUND), 0.0)
               for name, port in zip(names, circuit.outputs)]
    ports = [InputPort(f"clamp_{port.name}", port.node, ((name, 1.0),))
             for name, port in zip(names, circuit.outputs)]
    return Circuit(name=circuit.name, kind=circuit.kind,
                   elements=list(circuit.elements) + sources, models=dict(circuit.models),
                   inputs=list(circuit.inputs) + ports, outputs=list(circuit.outputs),
                   trainable=list(circuit.trainable), options=dict(circuit.options),
                   crossbars=circuit.crossbars, device_models=dict(circuit.device_models))


def clamp_voltages(free_outputs, targets, eta: float) -> np.ndarray:
    """Clamp voltages ``V_F + eta (y - V_F)`` (V), shape (batch, n_outputs).

    Examples
    --------
    >>> clamp_voltages([[1.0, 0.0]], [[0.0, 1.0]], 0.25).tolist()
    [[0.75, 0.25]]
    """
    free_outputs = np.asarray(free_outputs, dtype=float)
    return free_outputs + eta * (np.asarray(targets, dtype=float) - free_outputs)


def coupled_rule(free_drops, clamped_drops, eta: float) -> np.ndarray:
    """The local rule ``(dV_C^2 - dV_F^2) / (2 eta)`` (V^2), per sample and element.

    Examples
    --------
    >>> round(float(coupled_rule([[1.0]], [[1.1]], eta=0.1)[0, 0]), 12)   # (1.21 - 1) / 0.2
    1.05
    """
    eta = check_eta(eta)
    free_drops, clamped_drops = np.asarray(free_drops), np.asarray(clamped_drops)
    return (clamped_drops - free_drops) * (clamped_drops + free_drops) / (2.0 * eta)


@dataclass(frozen=True)
class CoupledPhases:
    """The two measured phases of one coupled-learning step.

    Attributes
    ----------
    free, clamped : SolveResult
        Free phase (original circuit) and clamped phase (:func:`clamped_circuit`).
    clamp : ndarray, shape (batch, n_outputs)
        The clamp voltages (V) the second phase held the outputs at.
    """

    free: "SolveResult"
    clamped: "SolveResult"
    clamp: np.ndarray


def coupled_gradient(free_backend: "Backend", clamped_backend: "Backend", inputs, targets,
                     eta: float) -> tuple[np.ndarray, CoupledPhases]:
    """Coupled Learning's batch-mean update direction from two measured phases.

    Parameters
    ----------
    free_backend : Backend
        A backend of the circuit.
    clamped_backend : Backend
        A backend of :func:`clamped_circuit` of the same circuit, with the same values.
    inputs : array_like, shape (batch, n_inputs)
    targets : array_like, shape (batch, n_outputs)
        Target voltages (V).
    eta : float
        Clamped fraction of the output error, in (0, 1].

    Returns
    -------
    direction : ndarray, shape (n_trainable,)
        Batch mean of :func:`coupled_rule` (V^2), in ``circuit.trainable`` order; it tends
        to :func:`eqprop_hw.learning.coupled_reference.coupled_limit` as eta -> 0.
    phases : CoupledPhases
    """
    eta = check_eta(eta)
    inputs = np.atleast_2d(np.asarray(inputs, dtype=float))
    targets = np.atleast_2d(np.asarray(targets, dtype=float))
    circuit = free_backend.circuit
    if len(clamped_backend.circuit.inputs) != len(circuit.inputs) + len(circuit.outputs):
        raise CircuitError("the clamped backend must simulate clamped_circuit(circuit)")
    if targets.shape != (inputs.shape[0], len(circuit.outputs)):
        raise CircuitError(f"targets must have shape ({inputs.shape[0]}, "
                                    f"{len(circuit.outputs)}), got {targets.shape}")
    free = free_backend.solve(inputs)
    clamp = clamp_voltages(free.outputs, targets, eta)
    clamped = clamped_backend.solve(np.hstack([inputs, clamp]))
    free_drops = measure_drops(free.voltages, make_probe(circuit, free.node_names))
    clamped_drops = measure_drops(clamped.voltages,
                                  make_probe(clamped_backend.circuit, clamped.node_names))
    direction = coupled_rule(free_drops, clamped_drops, eta).mean(axis=0)
    return direction, CoupledPhases(free, clamped, clamp)
