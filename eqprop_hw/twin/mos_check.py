"""The transistor twin checked in software: the same network by ngspice operating points.

The native backend and the reference refuse transistors, so every operating point here is
ngspice's (the shared library, :class:`eqprop_hw.backends.ngspice.NgspiceBackend`), on
:func:`eqprop_hw.twin.mosfet.mos_circuit`: the spec's network with MOSFET edges whose gates
are inputs. Three things are computed from those operating points alone, never from the
transient:

- :func:`mos_discrete_run`: the Python-side rule with the matching discrete update, one
  sample per window: a free operating point, the clamp ``V_F + eta (y - V_F)``, a clamped
  operating point, ``d = (dV_C^2 - dV_F^2) / (2 eta)`` per edge, and every gate moved by
  ``-scale lr d / beta`` within its bounds (what one window of the circuit does if the drops
  stay constant during it).
- :func:`mos_losses`: the squared loss (V^2) and accuracy at given gates, as
  :func:`eqprop_hw.learning.train.evaluate` computes them.
- :func:`mos_fd_gradient`: the exact gradient of the loss with respect to the gate voltages
  by central finite differences of operating points, and :func:`mos_coupled_direction`, the
  rule's direction ``d`` at a small eta, for the cosine check as the clamping goes to zero;
  :func:`edge_regimes` tells which edges are ohmic (where the rule is the gradient's), which
  saturated and which off.

Examples
--------
>>> import eqprop_hw
>>> from eqprop_hw.circuit.transistors import DeviceModel
>>> from eqprop_hw.twin.mosfet import MosfetEdge
>>> net = eqprop_hw.load(CIRCUITS / "twin_regression.yaml")
>>> edge = MosfetEdge(DeviceModel("TWMOS", "NMOS", (("VTO", 0.5), ("KP", 2e-5))), w=1e-4)
>>> gates = edge.gate(np.array(net.circuit.trainable_values()))
>>> with MosBackends(net.circuit, edge) as pair:
...     d = mos_coupled_direction(pair, [[0.3, 0.2]], [[0.4, 0.5]], gates, eta=0.01)
>>> d.shape
(11,)
"""

from __future__ import annotations

import numpy as np

from eqprop_hw.circuit.graph import Circuit
from eqprop_hw.learning.coupled import clamped_circuit, coupled_rule
from eqprop_hw.twin.mosfet import MosfetEdge, gate_bounds, mos_circuit
from eqprop_hw.twin.netlist import TwinSettings


class MosBackends:
    """ngspice backends of the transistor network: free, and with its outputs clamped.

    Use as a context manager (both backends are closed on exit).
    """

    def __init__(self, circuit: Circuit, edge: MosfetEdge):
        from eqprop_hw.backends import make_backend
        self.circuit = circuit
        self.edge = edge
        self.mos = mos_circuit(circuit, edge)
        self.free = make_backend("ngspice", self.mos)
        try:
            self.held = make_backend("ngspice", clamped_circuit(self.mos))
        except Exception:
            self.free.close()
            raise

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self) -> None:
        self.free.close()
        self.held.close()

    def drops(self, voltages: np.ndarray, node_names) -> np.ndarray:
        """Every edge's drop V_a - V_b (V), shape (batch, n_edges)."""
        index = {node: k for k, node in enumerate(node_names)}
        out = np.zeros((voltages.shape[0], len(self.circuit.trainable)))
        for k, name in enumerate(self.circuit.trainable):
            a, b = self.circuit.element(name).nodes
            va = voltages[:, index[a]] if a in index else 0.0
            vb = voltages[:, index[b]] if b in index else 0.0
            out[:, k] = va - vb
        return out

    def solve_free(self, x, gates):
        """Free operating points of rows ``x`` at ``gates`` (V): a SolveResult."""
        x = np.atleast_2d(np.asarray(x, dtype=float))
        return self.free.solve(np.hstack([x, np.tile(gates, (len(x), 1))]))

    def phases(self, x, y, gates, eta: float):
        """``(free_drops, clamped_drops, free_outputs)`` of rows ``x`` with targets ``y``."""
        x = np.atleast_2d(np.asarray(x, dtype=float))
        free = self.solve_free(x, gates)
        clamp = free.outputs + eta * (np.atleast_2d(y) - free.outputs)
        held = self.held.solve(np.hstack([x, np.tile(gates, (len(x), 1)), clamp]))
        return (self.drops(free.voltages, free.node_names),
                self.drops(held.voltages, held.node_names), free.outputs)


def mos_discrete_run(pair: MosBackends, settings: TwinSettings, inputs, targets,
                     initial_gates, clock_scale=None, damage: dict | None = None) -> np.ndarray:
    """Gate voltages (V) at every window boundary under the discrete rule, shape
    (windows + 1, n_edges) (row i: after i windows).

    Each window: ``V_G <- clip(V_G - scale lr d / beta)`` with d measured at the window's
    start; a cut edge (``damage``: element -> window) has its gate at the bulk rail and no
    update from its window on (the value reported there is the bulk rail's voltage).
    """
    edge = pair.edge
    settings = edge.unit_settings(settings)
    inputs = np.atleast_2d(np.asarray(inputs, dtype=float))
    targets = np.atleast_2d(np.asarray(targets, dtype=float))
    windows = len(inputs)
    scale = np.ones(windows) if clock_scale is None else np.asarray(clock_scale, dtype=float)
    v_min, v_max = gate_bounds(settings, edge)
    gates = np.clip(np.asarray(initial_gates, dtype=float), v_min, v_max)
    cut = {pair.circuit.trainable.index(name): window
           for name, window in (damage or {}).items()}
    out = [gates.copy()]
    for i in range(windows):
        live = gates.copy()
        for k, window in cut.items():
            if i >= window:
                live[k] = edge.bulk
        free, held, _ = pair.phases(inputs[i:i + 1], targets[i:i + 1], live, settings.eta)
        d = coupled_rule(free, held, settings.eta)[0]
        step = scale[i] * settings.learning_rate * d / edge.beta
        for k, window in cut.items():
            if i >= window:
                step[k] = 0.0
        gates = np.clip(gates - step, v_min, v_max)
        out.append(gates.copy())
    values = np.array(out)
    for k, window in cut.items():
        values[window:, k] = edge.bulk
    return values


def mos_losses(pair: MosBackends, dataset, x, y, gates) -> dict:
    """``{"loss": V^2, "accuracy", "outputs"}`` of split (x, y) at ``gates`` (V), as
    :func:`eqprop_hw.learning.train.evaluate` computes them (squared loss)."""
    from eqprop_hw.learning.losses import loss_values
    outputs = pair.solve_free(x, gates).outputs
    loss = float(loss_values("squared", outputs, dataset.loss_targets(y, "squared"),
                             None).mean())
    return {"loss": loss, "accuracy": dataset.accuracy(outputs, y, "squared"),
            "outputs": outputs}


def squared_loss(outputs, targets) -> float:
    """Batch-mean squared loss (V^2, :func:`eqprop_hw.learning.losses.squared_loss`).

    >>> squared_loss([[0.5], [0.1]], [[0.9], [0.1]])
    0.04000000000000001
    """
    from eqprop_hw.learning.losses import squared_loss as per_sample
    return float(np.mean(per_sample(np.atleast_2d(outputs), np.atleast_2d(targets))))


def mos_fd_gradient(pair: MosBackends, x, y, gates, step: float = 1e-4) -> np.ndarray:
    """d(loss)/d(V_G) (V^2/V) by central differences of ngspice operating points, ``step``
    in V, the loss :func:`squared_loss` of the free outputs."""
    gates = np.asarray(gates, dtype=float)
    grad = np.zeros_like(gates)
    for k in range(len(gates)):
        up, down = gates.copy(), gates.copy()
        up[k] += step
        down[k] -= step
        grad[k] = (squared_loss(pair.solve_free(x, up).outputs, y)
                   - squared_loss(pair.solve_free(x, down).outputs, y)) / (2 * step)
    return grad


def mos_coupled_direction(pair: MosBackends, x, y, gates, eta: float) -> np.ndarray:
    """Batch mean of the rule ``(dV_C^2 - dV_F^2) / (2 eta)`` (V^2) at ``gates``: the
    descent direction in gate space is ``-d`` (the circuit moves ``V_G`` by ``-lr d / beta``)."""
    free, held, _ = pair.phases(x, y, gates, eta)
    return coupled_rule(free, held, eta).mean(axis=0)


#: Regime codes of :func:`edge_regimes`.
OHMIC, SATURATED, OFF = 0, 1, 2


def edge_regimes(pair: MosBackends, x, gates) -> np.ndarray:
    """Each edge's level-1 regime in the free state of every row of ``x``, shape
    (batch, n_edges): :data:`OHMIC` (``V_G - VTO`` above both terminals: ``dI/dV_G =
    beta (V_a - V_b)``, where the local rule is the gradient's), :data:`SATURATED` (above the
    lower terminal only) or :data:`OFF` (above neither: no current, zero gradient, while the
    rule still moves the gate by the drops' change)."""
    free = pair.solve_free(x, gates)
    index = {node: k for k, node in enumerate(free.node_names)}
    out = np.zeros((len(free.voltages), len(pair.circuit.trainable)), dtype=int)
    for k, name in enumerate(pair.circuit.trainable):
        a, b = pair.circuit.element(name).nodes
        va = free.voltages[:, index[a]] if a in index else np.zeros(len(out))
        vb = free.voltages[:, index[b]] if b in index else np.zeros(len(out))
        overdrive = gates[k] - pair.edge.vto
        out[:, k] = np.where(overdrive > np.maximum(va, vb), OHMIC,
                             np.where(overdrive > np.minimum(va, vb), SATURATED, OFF))
    return out
