"""The exact small-clamp limit of Coupled Learning, by implicit differentiation.

Software reference for :mod:`eqprop_hw.learning.coupled`, built on the reference energy model
(:class:`eqprop_hw.learning.reference.EnergyModel`), not on a backend. At the free
equilibrium z (free node voltages) with Hessian ``H = d2E/dz2`` (S) and output map ``O``
(outputs = O z), clamping the outputs to ``V_F + eta e`` (``e = y - V_F``) moves the state by

    dz = eta A S^{-1} e + O(eta^2),      A = H^{-1} O^T,   S = O A = H_O^{-1}

(hidden nodes relax with the outputs held; ``H_O = S^{-1}`` is the output conductance matrix).
The local term of a conductance g_k is ``1/2 dV_k^2``, so the rule's limit is

    d_k(0) = (dV_k/dz . dz/eta) dV_k = -(dV_k/dz . lambda) dV_k,   lambda = A H_O (V_F - y)

which is :func:`eqprop_hw.learning.reference.exact_gradient`'s formula with the adjoint
``H^{-1} O^T (V_F - y)`` replaced by ``H^{-1} O^T H_O (V_F - y)``: the squared-loss gradient
preconditioned by the output conductance matrix.

Examples
--------
>>> import eqprop_hw
>>> circuit = eqprop_hw.load(CIRCUITS / "xor.yaml").circuit
>>> loss, limit = coupled_limit(circuit, [[1.0, 0.0]], [[0.1]])
>>> limit.shape == (len(circuit.trainable),)
True
"""

from __future__ import annotations

import numpy as np

from eqprop_hw.errors import CircuitError
from eqprop_hw.learning.losses import loss_values
from eqprop_hw.learning.reference import EnergyModel


def output_conductance(hessian: np.ndarray, output_map: np.ndarray) -> tuple:
    """``A = H^{-1} O^T`` and the output conductance matrix ``H_O = (O A)^{-1}`` per sample.

    Parameters
    ----------
    hessian : ndarray, shape (batch, n_free, n_free)
        ``d2E/dz2`` at the free equilibrium (S).
    output_map : ndarray, shape (n_outputs, n_free)
        Output voltages = ``output_map @ z``.

    Returns
    -------
    a : ndarray, shape (batch, n_free, n_outputs)
    h_o : ndarray, shape (batch, n_outputs, n_outputs)
        Small-signal conductance (S) seen between the outputs and ground with the inputs held.

    Examples
    --------
    >>> h = np.array([[[3.0, -1.0], [-1.0, 2.0]]])      # two nodes, output is node 0
    >>> float(output_conductance(h, np.array([[1.0, 0.0]]))[1][0, 0, 0])   # 3 - 1/2
    2.5
    """
    o = np.asarray(output_map, dtype=float)
    a = np.linalg.solve(hessian, np.broadcast_to(o.T, hessian.shape[:-1] + (o.shape[0],)))
    s = np.einsum("kn,bno->bko", o, a)
    if np.any(np.abs(np.linalg.det(s)) == 0.0):
        raise CircuitError("an output is not a free node (set by a source), so it has no "
                           "output conductance to clamp against")
    return a, np.linalg.inv(s)


def coupled_limit(circuit, inputs, targets, per_sample: bool = False):
    """Coupled Learning's update direction in the limit eta -> 0 (exact, V^2).

    Parameters
    ----------
    circuit : Circuit or EnergyModel
        A resistive circuit with the squared loss.
    inputs : array_like, shape (batch, n_inputs)
    targets : array_like, shape (batch, n_outputs)
        Target voltages (V).
    per_sample : bool
        Also return the per-sample directions.

    Returns
    -------
    loss : float
        Batch mean of ``1/2 sum_k (V_out_k - y_k)^2`` (V^2).
    direction : ndarray, shape (n_trainable,)
        Batch mean of ``(dV_O/dg)^T H_O (V_F - y)`` in ``circuit.trainable`` order (0 for
        trainable capacitors, open at DC).
    directions : ndarray, shape (batch, n_trainable)
        Only with ``per_sample=True``.

    Examples
    --------
    With one output ``H_O`` is a number, so the limit is the squared-loss gradient scaled by
    it (same direction):

    >>> import eqprop_hw
    >>> from eqprop_hw.learning.reference import exact_gradient
    >>> circuit = eqprop_hw.load(CIRCUITS / "xor.yaml").circuit
    >>> _, limit = coupled_limit(circuit, [[1.0, 1.0]], [[0.1]])
    >>> _, grad = exact_gradient(circuit, [[1.0, 1.0]], [[0.1]])
    >>> bool(abs(limit @ grad / np.linalg.norm(limit) / np.linalg.norm(grad) - 1) < 1e-12)
    True
    """
    model = circuit if isinstance(circuit, EnergyModel) else EnergyModel(circuit)
    if model.loss != "squared":
        raise CircuitError("coupled learning clamps output voltages: it is defined for the "
                           f"squared loss, not {model.loss!r}")
    s, y, _ = model.context(inputs, 0.0, targets)
    state = model.solve(inputs)
    z, v = state.free, state.voltages
    outputs = v[:, model.output_columns]
    losses = loss_values("squared", outputs, y)
    directions = np.zeros((z.shape[0], len(model.circuit.trainable)))
    mask = model.trainable_resistors >= 0
    columns = model.trainable_resistors[mask]
    chunk = model.chunk_rows
    for start in range(0, z.shape[0], chunk):
        rows = slice(start, start + chunk)
        _, hess = model.gradient_hessian(z[rows], s[rows], y[rows], 0.0)
        a, h_o = output_conductance(hess, model.output_map)
        weighted = np.einsum("bko,bo->bk", h_o, outputs[rows] - y[rows])      # A (V*S)
        adjoint = np.einsum("bno,bo->bn", a, weighted)                       # lambda (V)
        drops = (model.resistor_incidence[columns] @ v[rows].T).T
        sensitivity = (model.resistor_map[columns] @ adjoint.T).T
        directions[rows, np.flatnonzero(mask)] = -sensitivity * drops
    direction = directions.mean(axis=0)
    if per_sample:
        return float(losses.mean()), direction, directions
    return float(losses.mean()), direction
