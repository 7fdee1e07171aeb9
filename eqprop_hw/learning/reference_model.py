"""The reference energy model (:class:`EnergyModel`, part of
:mod:`eqprop_hw.learning.reference`): a circuit as a differentiable energy over its free node
voltages, its gradient and Hessian, and its minima.

The arrays come from :func:`eqprop_hw.learning.reference_compile.compile_energy`, the diode law
from :mod:`eqprop_hw.learning.reference_diode`, the minimisation (damped Newton with a line
search) from :mod:`eqprop_hw.learning.reference_newton`. The energy and what is refused are
described in :mod:`eqprop_hw.learning.reference`.

Examples
--------
>>> from eqprop_hw.circuit.spec import parse_spec
>>> from eqprop_hw.circuit.build import build_circuit
>>> c = build_circuit(parse_spec({"name": "t", "kind": "layered", "layers": [2, 3, 1]}))
>>> model = EnergyModel(c)
>>> state = model.solve([[0.5, -0.5]])
>>> bool(abs(model.gradient(state.free, [[0.5, -0.5]])).max() < 1e-9)
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from eqprop_hw.errors import CircuitError
from eqprop_hw.circuit.batch import circuit_nodes, prepare_batch
from eqprop_hw.circuit.graph import Circuit, validate_circuit
from eqprop_hw.circuit.transistors import first_transistor, refusal
from eqprop_hw.circuit.cider import first_cider, refusal as cider_refusal
from eqprop_hw.learning.losses import check_loss, log_softmax, loss_gradient, softmax
from eqprop_hw.learning.reference_compile import compile_energy
from eqprop_hw.learning.reference_diode import (ZERO_CELSIUS, diode_cocontent, junction_current,
                                                kelvin_thermal_voltage)
from eqprop_hw.learning.reference_newton import minimise


@dataclass
class Equilibrium:
    """A batch of equilibria of :class:`EnergyModel`.

    Attributes
    ----------
    voltages : ndarray, shape (batch, n_nodes)
        Node voltages (V) in ``EnergyModel.node_names`` order (the backends' column order).
    free : ndarray, shape (batch, n_free)
        The free variables z (V) in ``EnergyModel.free_nodes`` order.
    iterations : ndarray of int, shape (batch,)
        Newton iterations per sample.
    outputs : ndarray, shape (batch, n_outputs)
        Output node voltages (V).
    """

    voltages: np.ndarray
    free: np.ndarray
    iterations: np.ndarray
    outputs: np.ndarray


def _exposed(attribute: str, kind: str, doc: str) -> property:
    """A read-only property returning ``self.<attribute>`` (``kind``: its type, for the docs)."""
    return property(lambda self: getattr(self, attribute), doc=f"{kind}: {doc}")



class EnergyModel:
    """A circuit as a differentiable energy over its free node voltages.

    Parameters
    ----------
    circuit : Circuit
        A validated circuit. Conductances (S) are read from it; change them later with
        :meth:`set_values` / :meth:`set_trainable`.
    max_iterations : int
        Newton iteration cap per equilibrium.
    loss : {"squared", "cross_entropy"}
        The loss L of ``E_beta = E + beta * L`` (see the module docstring).
    temperature : float, optional
        Softmax temperature tau (V) of the cross-entropy loss (default 0.1 V).

    Attributes
    ----------
    node_names : list of str
        Every non-ground node (the backends' ``node_names``).
    free_nodes : list of str
        Nodes whose voltages are the free variables z (neither pinned by a grounded voltage
        source nor set by an amplifier), in circuit order.
    pinned_nodes : dict of str to str
        Node -> the grounded voltage source that pins it.
    amplifiers : list of Amplifier
        The ideal transformers substituted into the energy.
    gmin : float
        Junction parallel conductance (S), the circuit's ``gmin`` option (ngspice default 1e-12).
    vt : float
        Thermal voltage kT/q (V) at the circuit's ``temp`` option (default 27 C).

    Raises
    ------
    CircuitError
        For a circuit that is not energy-based (see the module docstring); the message names
        the element.

    Notes
    -----
    Free variables are solved for with dense batched linear algebra: the Hessian is
    ``n_free x n_free`` per sample (110 x 110 for a 784-100-10 crossbar).
    """

    def __init__(self, circuit: Circuit, max_iterations: int = 300, loss: str = "squared",
                 temperature: float | None = None):
        self.loss, self.temperature = check_loss(loss, temperature)
        if self.loss == "cross_entropy" and len(circuit.outputs) < 2:
            raise CircuitError(f"circuit {circuit.name!r}: the cross-entropy loss needs at least "
                               "two outputs (the softmax of one output is always 1)")
        cider = first_cider(circuit)
        if cider is not None:
            raise CircuitError(cider_refusal(*cider, "software reference", ""))
        transistor = first_transistor(circuit)
        if transistor is not None:
            raise CircuitError(refusal(transistor, "software reference", ""))
        validate_circuit(circuit)
        self._circuit, self._changed = circuit, {}
        self.max_iterations = int(max_iterations)
        self.gmin = float(circuit.options.get("gmin", 1e-12))
        self.celsius = float(circuit.options.get("temp", 27.0))
        if any(e.type == "D" for e in circuit.elements) and not self.celsius > -ZERO_CELSIUS:
            raise CircuitError(f"circuit {circuit.name!r}: options.temp = {self.celsius!r} degC "
                               "is at or below absolute zero")
        self.vt = kelvin_thermal_voltage(self.celsius)
        self.node_names = circuit_nodes(circuit)
        self.n_inputs, self.n_outputs = len(circuit.inputs), len(circuit.outputs)
        compiled = compile_energy(circuit, self.node_names, self.celsius)
        self.node_names = compiled.node_names
        self.amplifiers = compiled.amplifiers
        self.pinned_nodes, self.free_nodes = compiled.pinned_nodes, compiled.free_nodes
        self._dc, self._input_gain = compiled.dc, compiled.input_gain
        self._M, self._P = compiled.free_map, compiled.source_map
        self._resistors, self._r_pos = compiled.resistors, compiled.resistor_position
        self._g, self._b_r = compiled.conductances, compiled.resistor_incidence
        self._a_r, self._r_free = compiled.resistor_map, compiled.resistor_is_free
        self._diodes, self._b_d, self._a_d = (compiled.diodes, compiled.diode_incidence,
                                              compiled.diode_map)
        self._saturation, self._vte = compiled.saturation, compiled.vte
        self._breakdown = compiled.breakdown
        self._J, self._has_current = compiled.current_source_map, compiled.has_current_sources
        self._out_cols, self._a_o = compiled.output_columns, compiled.output_map
        self._trainable_r = compiled.trainable_resistors
        self._assemble()


    def _assemble(self):
        """The constant part of the Hessian: the reduced conductance Laplacian (S)."""
        a_r = self._a_r
        self._h_lin = np.asarray((a_r.T @ sp.diags(self._g) @ a_r).todense())

    # -- values ----------------------------------------------------------------------------------
    @property
    def circuit(self) -> Circuit:
        """The circuit with the model's current conductances (materialised on demand)."""
        if self._changed:
            self._circuit = self._circuit.with_values(self._changed)
            self._changed = {}
        return self._circuit

    @property
    def n_free(self) -> int:
        return len(self.free_nodes)

    @property
    def conductances(self) -> dict:
        """Every resistor's conductance (S) by element name."""
        return dict(zip(self._resistors, self._g.tolist()))

    def set_values(self, values: dict) -> None:
        """New conductances (S) of named resistors (capacitances of capacitors: no DC effect).

        Raises
        ------
        CircuitError
            For a name that is not a resistor or capacitor, or a non-positive or non-finite
            value.
        """
        for name, value in values.items():
            kind = self._circuit.element(name).type
            if kind not in "RC":
                raise CircuitError(f"element {name}: the energy model sets conductances (R) "
                                   f"and capacitances (C, open at DC), not {kind} values")
            value = float(value)
            if not (math.isfinite(value) and value > 0):
                raise CircuitError(f"element {name}: value must be finite and positive "
                                   f"(S for a conductance), got {value!r}")
            if kind == "R":
                self._g[self._r_pos[name]] = value
            self._changed[name] = value
        self._assemble()

    def set_trainable(self, values) -> None:
        """New values of every trainable element (S), in ``circuit.trainable`` order."""
        values = np.asarray(values, dtype=float).ravel()
        names = self._circuit.trainable
        if values.size != len(names):
            raise CircuitError(f"expected {len(names)} trainable values, got {values.size}")
        self.set_values(dict(zip(names, values.tolist())))

    # -- the compiled model, read by the finite-temperature samplers and the gradient code --------
    # Read-only properties returning the model's own arrays (not copies: do not write into them;
    # change conductances with set_values / set_trainable).
    free_map = _exposed("_M", "scipy.sparse.csr_matrix",
                        "dV/dz: node voltages per free voltage (V/V), shape (n_nodes, n_free); "
                        "with :attr:`source_map`, ``V = free_map @ z + source_map @ s``.")
    source_map = _exposed("_P", "ndarray",
                          "dV/ds: node voltages per source value (V/V or V/A), shape (n_nodes, "
                          "n_sources).")
    current_source_map = _exposed("_J", "ndarray",
                                  "``J``, shape (n_sources, n_nodes): the current sources' energy "
                                  "term is ``(s @ J) . V`` (W), so ``s @ J`` is the current (A) "
                                  "each source draws from a node.")
    output_columns = _exposed("_out_cols", "ndarray",
                              "Column of each output node in :attr:`node_names` (int array, shape "
                              "(n_outputs,)).")
    output_map = _exposed("_a_o", "ndarray",
                          "dV_out/dz: output voltages per free voltage (V/V), shape (n_outputs, "
                          "n_free).")
    trainable_resistors = _exposed("_trainable_r", "ndarray",
                                   "Row of each trainable element among the resistors (int array, "
                                   "shape (n_trainable,)); -1 for trainable elements that are not "
                                   "resistors (capacitors, open at DC).")
    resistor_incidence = _exposed("_b_r", "scipy.sparse.csr_matrix",
                                  "Drop of every resistor from the node voltages (V/V): ``drops = "
                                  "B_r @ V``, shape (n_resistors, n_nodes).")
    resistor_map = _exposed("_a_r", "scipy.sparse.csr_matrix",
                            "d(drop)/dz of every resistor (V/V), shape (n_resistors, n_free).")
    resistor_conductances = _exposed("_g", "ndarray",
                                     "Conductance (S) of every resistor, in "
                                     ":attr:`resistor_incidence` row order.")
    resistor_is_free = _exposed("_r_free", "ndarray",
                                "Bool mask of the resistors whose drop depends on z (the others "
                                "add a constant).")
    linear_hessian = _exposed("_h_lin", "ndarray",
                              "The constant part of d2E/dz2: the reduced conductance Laplacian "
                              "(S), shape (n_free, n_free).")
    has_current_sources = _exposed("_has_current", "bool",
                                   "Whether an independent current source adds ``I (V_n+ - V_n-)``"
                                   " to E.")

    @property
    def diode_names(self) -> list[str]:
        """Diodes whose voltage depends on z (the others add a constant), in row order of the
        diode arrays below."""
        return list(self._diodes)

    @property
    def diode_incidence(self) -> sp.csr_matrix:
        """Diode voltages from the node voltages (V/V): ``vd = B_d @ V``, shape
        (n_diodes, n_nodes)."""
        return self._b_d

    @property
    def diode_map(self) -> np.ndarray:
        """d(vd)/dz of every diode (V/V), shape (n_diodes, n_free)."""
        return self._a_d

    @property
    def diode_laws(self) -> tuple:
        """``(saturation, vte, breakdown)``: per diode Is (A) at the circuit temperature,
        ``N k T / q`` (V) and the breakdown voltage (V, ``inf`` without BV), or None for
        ``breakdown`` when no diode has one (see :func:`junction_parameters`)."""
        return self._saturation, self._vte, self._breakdown

    @property
    def chunk_rows(self) -> int:
        """Samples per dense batched solve (about 20 million Hessian entries)."""
        return self._chunk()

    def context(self, inputs, beta: float = 0.0, targets=None) -> tuple:
        """Per-sample source values, targets and beta of a batch, checked.

        Returns
        -------
        sources : ndarray, shape (batch, n_sources)
            Value of every independent source (V or A): its DC value plus its input.
        targets : ndarray, shape (batch, n_outputs)
            Targets (V; probabilities for cross-entropy); zeros without targets.
        beta : float
            Nudging strength (S; W for cross-entropy).

        Raises
        ------
        CircuitError
            As :func:`eqprop_hw.circuit.batch.prepare_batch`.
        """
        return self._context(inputs, beta, targets)

    def voltages_at(self, free, sources) -> np.ndarray:
        """Node voltages (V), shape (batch, n_nodes), from free voltages ``free`` (V, shape
        (batch, n_free)) and source values ``sources`` (from :meth:`context`); unchecked."""
        return self._voltages(free, sources)

    def energy_terms(self, free, sources, targets, beta: float) -> tuple:
        """``(E_beta, scale)`` per sample (W): the energy and the sum of its terms' magnitudes
        (a round-off scale), at ``free`` (V) for a :meth:`context`; unchecked."""
        return self._terms(free, sources, targets, beta)

    def gradient_hessian(self, free, sources, targets, beta: float, hessian: bool = True):
        """``(dE_beta/dz (A), d2E_beta/dz2 (S))`` per sample at ``free`` (V) for a
        :meth:`context`, shapes (batch, n_free) and (batch, n_free, n_free); the Hessian is
        None with ``hessian=False``. Unchecked: :meth:`gradient` / :meth:`hessian` check."""
        return self._grad_hess(free, sources, targets, beta, hessian)

    # -- per-sample context ----------------------------------------------------------------------
    def _context(self, inputs, beta, targets):
        inputs, beta, targets = prepare_batch(inputs, beta, targets, self.n_inputs,
                                              self.n_outputs, self.loss, self._circuit)
        return self._dc + inputs @ self._input_gain, targets, beta

    def _check_free(self, free, batch):
        free = np.asarray(free, dtype=float)
        if free.ndim == 1:
            free = free[None, :]
        if free.shape != (batch, self.n_free):
            raise CircuitError(f"expected free voltages of shape {(batch, self.n_free)}, "
                               f"got {free.shape}")
        return free

    # -- the energy and its derivatives (per sample context s, y, beta) --------------------------
    def _voltages(self, z, s):
        return np.ascontiguousarray((self._M @ z.T).T + s @ self._P.T)

    def _terms(self, z, s, y, beta):
        """Energy (W) and a roundoff scale (sum of |terms|) per sample.

        Every per-sample sum runs over a C-contiguous row, so a sample's energy is the same
        number whatever batch it is evaluated in (numpy sums strided rows in another order),
        which the line search relies on.
        """
        v = self._voltages(z, s)
        drops = np.ascontiguousarray((self._b_r @ v.T).T[:, self._r_free])
        e_r = 0.5 * drops * drops * self._g[self._r_free]
        total = e_r.sum(axis=1)
        scale = np.abs(e_r).sum(axis=1)
        if self._diodes:
            vd = np.ascontiguousarray((self._b_d @ v.T).T)
            phi = diode_cocontent(vd, self._saturation, self._vte, self.gmin, self._breakdown)
            total = total + phi.sum(axis=1)
            scale = scale + np.abs(phi).sum(axis=1)
        if self._has_current:
            e_i = (s @ self._J) * v
            total = total + e_i.sum(axis=1)
            scale = scale + np.abs(e_i).sum(axis=1)
        if beta != 0.0 and len(self._out_cols) and self.loss == "cross_entropy":
            # beta * (-sum y log p): both parts of log p kept in the roundoff scale.
            logits = v[:, self._out_cols] / self.temperature
            e_l = -beta * np.ascontiguousarray(y * log_softmax(v[:, self._out_cols],
                                                               self.temperature))
            total = total + e_l.sum(axis=1)
            scale = scale + abs(beta) * np.abs(y * logits).sum(axis=1) + \
                np.abs(e_l).sum(axis=1)
        elif beta != 0.0 and len(self._out_cols):
            e_l = 0.5 * beta * (v[:, self._out_cols] - y) ** 2
            total = total + e_l.sum(axis=1)
            scale = scale + np.abs(e_l).sum(axis=1)
        return total, scale

    def _grad_hess(self, z, s, y, beta, hessian=True):
        v = self._voltages(z, s)
        drops = (self._b_r @ v.T).T
        grad_v = (self._b_r.T @ (drops * self._g).T).T
        if self._has_current:
            grad_v = grad_v + s @ self._J
        if beta != 0.0 and len(self._out_cols):
            grad_v[:, self._out_cols] += beta * loss_gradient(self.loss, v[:, self._out_cols], y,
                                                              self.temperature)
        if self._diodes:
            vd = (self._b_d @ v.T).T
            current, conductance = junction_current(vd, self._saturation, self._vte, self.gmin,
                                                    self._breakdown)
            grad_v = grad_v + (self._b_d.T @ current.T).T
        grad = (self._M.T @ grad_v.T).T
        if not hessian:
            return grad, None
        h = np.broadcast_to(self._h_lin, (z.shape[0],) + self._h_lin.shape).copy()
        if self._diodes:
            h += np.einsum("dk,bd,dl->bkl", self._a_d, conductance, self._a_d, optimize=True)
        if beta != 0.0 and len(self._out_cols) and self.loss == "cross_entropy":
            p = softmax(v[:, self._out_cols], self.temperature)
            curvature = (y.sum(axis=1) / self.temperature ** 2)[:, None, None] * \
                (p[:, :, None] * np.eye(p.shape[1]) - p[:, :, None] * p[:, None, :])
            h += beta * np.einsum("ok,bol,lm->bkm", self._a_o, curvature, self._a_o,
                                  optimize=True)
        elif beta != 0.0 and len(self._out_cols):
            h += beta * (self._a_o.T @ self._a_o)
        return grad, h

    def voltages(self, free, inputs) -> np.ndarray:
        """Node voltages (V), shape (batch, n_nodes), from free variables z (V)."""
        s, _, _ = self._context(inputs, 0.0, None)
        return self._voltages(self._check_free(free, s.shape[0]), s)

    def energy(self, free, inputs, beta: float = 0.0, targets=None) -> np.ndarray:
        """E_beta (W) per sample at free voltages ``free`` (V), shape (batch,).

        Terms that do not depend on the free voltages (elements between two fixed nodes) are
        left out, so E is defined up to a per-sample constant.
        """
        s, y, beta = self._context(inputs, beta, targets)
        with np.errstate(over="ignore", invalid="ignore"):
            return self._terms(self._check_free(free, s.shape[0]), s, y, beta)[0]

    def gradient(self, free, inputs, beta: float = 0.0, targets=None) -> np.ndarray:
        """dE_beta/dz (A), shape (batch, n_free): the net current leaving each free node.

        Zero at equilibrium (Kirchhoff's current law).
        """
        s, y, beta = self._context(inputs, beta, targets)
        return self._grad_hess(self._check_free(free, s.shape[0]), s, y, beta, False)[0]

    def hessian(self, free, inputs, beta: float = 0.0, targets=None) -> np.ndarray:
        """d2E_beta/dz2 (S), shape (batch, n_free, n_free).

        The reduced conductance Laplacian (amplifier constraints substituted) plus the diode
        small-signal conductances plus ``beta d2L/dV_out2`` on the outputs (``beta`` for the
        squared loss).
        """
        s, y, beta = self._context(inputs, beta, targets)
        return self._grad_hess(self._check_free(free, s.shape[0]), s, y, beta)[1]

    def conductance_energy_gradient(self, voltages) -> np.ndarray:
        """dE/dg = 1/2 (V_a - V_b)^2 (V^2) of every trainable element, shape (batch, n_train).

        Trainable elements that are not resistors (capacitors: open at DC) get 0.
        """
        voltages = np.atleast_2d(np.asarray(voltages, dtype=float))
        drops = (self._b_r @ voltages.T).T
        out = np.zeros((voltages.shape[0], len(self._trainable_r)))
        mask = self._trainable_r >= 0
        out[:, mask] = 0.5 * drops[:, self._trainable_r[mask]] ** 2
        return out

    # -- equilibrium -----------------------------------------------------------------------------
    def solve(self, inputs, beta: float = 0.0, targets=None, initial=None) -> Equilibrium:
        """Minimise E_beta over the free voltages for a batch (damped Newton + line search).

        Parameters
        ----------
        inputs : array_like, shape (batch, n_inputs) or (n_inputs,)
            Input values (the sources take ``gain * x``).
        beta : float
            Nudging strength (S for the squared loss, W for cross-entropy); 0 is the free
            phase. Negative values are allowed as long as E_beta stays convex (|beta| below the
            output nodes' conductance scale; ``|beta| / (2 tau^2)`` for cross-entropy).
        targets : array_like, shape (batch, n_outputs), optional
            Targets (V for squared, probabilities for cross-entropy); required when
            ``beta != 0``.
        initial : array_like, shape (batch, n_free), optional
            Starting free voltages (V), e.g. a free phase's ``Equilibrium.free``.

        Returns
        -------
        Equilibrium

        Raises
        ------
        ConvergenceError
            If Newton does not converge within ``max_iterations``.
        """
        s, y, beta = self._context(inputs, beta, targets)
        batch = s.shape[0]
        z0 = np.zeros((batch, self.n_free)) if initial is None else \
            self._check_free(np.array(initial, dtype=float, copy=True), batch)
        z, iterations = self._minimise(z0, s, y, beta)
        v = self._voltages(z, s)
        return Equilibrium(v, z, iterations, v[:, self._out_cols])

    def equilibrium(self, inputs, beta: float = 0.0, targets=None, initial=None) -> np.ndarray:
        """Node voltages (V) at the minimum of E_beta, shape (batch, n_nodes).

        Columns follow :attr:`node_names`, the backends' order
        (:func:`eqprop_hw.backends.base.circuit_nodes`). See :meth:`solve`.
        """
        return self.solve(inputs, beta, targets, initial).voltages

    def _chunk(self) -> int:
        """Samples per dense batched solve (about 20 million Hessian entries)."""
        return max(1, int(2e7 // max(1, self.n_free ** 2)))


    def _minimise(self, z, s, y, beta):
        return minimise(self, z, s, y, beta)


__all__ = ["EnergyModel", "Equilibrium"]
