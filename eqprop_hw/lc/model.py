"""The Hamiltonian LC system of an ``lc`` spec, as arrays.

Canonical description (``docs/theory.md``, LC networks): positions are the node fluxes
``phi`` (Wb, ``dphi/dt = V``), momenta the node charges ``p = C V`` (C), with ``C`` the
capacitance matrix (node capacitors plus coupling capacitors, F)::

    H(phi, p; theta) = 1/2 p^T C(theta)^-1 p + U(phi; theta) - u(t)^T B^T phi

``U`` is the inductive energy: an inductor of inductance L (H) with branch flux x (Wb) stores
``x^2/(2L) + x^4/(4 L phi_nl^2)`` (J) and carries ``I = x/L (1 + (x/phi_nl)^2)`` (A); linear
when ``phi_nl`` is absent. ``u`` are the input currents (A) injected at the input nodes.
Resistors (``R``, conductance g in S) add the non-Hamiltonian current ``-G V`` (lossy studies
only).

Varactors (grounded capacitors with ``v_nl``) make the node charges ``p = C V + q_nl(V)`` a
nonlinear (odd) function of the voltages; the kinetic energy is then the Legendre transform of
the co-energy and ``V(p)`` is found by Newton's method. Flipping every voltage still flips every
momentum (the law is odd), so the echo's time reversal is unchanged.

Local quantities (what an element measures about itself, J):

- capacitor c across (i, j): ``dH/dc |_(phi,p) = -1/2 (V_i - V_j)^2``; for a varactor (co-energy
  ``c (dV^2/2 + dV^4/(12 v_nl^2))``) minus its co-energy per farad,
  ``-(dV^2/2 + dV^4/(12 v_nl^2))``
- inductor L with branch flux x: ``dH/dL |_phi = dU/dL = -U_L(x)/L``, i.e. ``-1/2 I^2`` when
  linear.

Every trainable element (linear or nonlinear C or L) measures only its own terminals.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np

from eqprop_hw.errors import SpecError


#: Most time steps of a grid (the spec's limit on ``time.tstop / time.tstep``).
MAX_STEPS = 2_000_000


# -- waveforms ----------------------------------------------------------------------------
def waveform_values(waveform: dict, t: np.ndarray) -> np.ndarray:
    """Values of a validated waveform mapping at times ``t`` (s)."""
    t = np.asarray(t, dtype=float)
    kind = waveform["type"]
    if kind == "dc":
        return np.full_like(t, waveform["value"])
    if kind == "sine":
        shifted = np.maximum(t - waveform["delay"], 0.0)
        value = waveform["amplitude"] * np.sin(2 * math.pi * waveform["frequency"] * shifted
                                               + waveform["phase"])
        value = np.where(t >= waveform["delay"], value,
                         waveform["amplitude"] * math.sin(waveform["phase"]))
        return waveform["offset"] + value
    points = np.asarray(waveform["points"], dtype=float)
    return np.interp(t, points[:, 0], points[:, 1])


@dataclass
class LCModel:
    """Arrays of an LC network (SI units).

    Attributes
    ----------
    name : str
        Spec name.
    nodes : list of str
        Non-ground node names, in index order.
    cap_names, cap_incidence, cap_values, cap_v_nl
        Capacitors: names, incidence rows (``(m_c, n)``: +1 at the first terminal, -1 at
        the second, ground dropped), capacitances (F) and ``v_nl`` (V, inf when linear): a
        varactor to ground holds the charge ``q = c (V + V^3 / (3 v_nl^2))``.
    ind_names, ind_incidence, ind_values, ind_phi_nl
        Inductors: names, incidence ``(m_l, n)``, inductances (H), ``phi_nl`` (Wb, inf when
        linear).
    res_names, res_incidence, res_values
        Resistors (lossy studies only): conductances (S).
    src_names, src_matrix, src_waveforms
        Input current sources: names, ``B`` (``(n, n_in)``: +1 where the source injects its
        current, -1 where it draws it) and their waveforms from the spec.
    outputs : list of dict
        ``{"name", "kind": "flux" | "current", "node", "element"?}``.
    trainable : list of str
        Trainable element names (capacitors and inductors), the order of ``theta``.
    tstop, tstep : float
        Time window and step (s).
    targets : list of dict or None
        Target waveforms from the spec, one per output.
    """

    name: str
    nodes: list
    cap_names: list
    cap_incidence: np.ndarray
    cap_values: np.ndarray
    cap_v_nl: np.ndarray
    ind_names: list
    ind_incidence: np.ndarray
    ind_values: np.ndarray
    ind_phi_nl: np.ndarray
    res_names: list
    res_incidence: np.ndarray
    res_values: np.ndarray
    src_names: list
    src_matrix: np.ndarray
    src_waveforms: list
    outputs: list
    trainable: list
    tstop: float
    tstep: float
    targets: list | None = None
    spec_data: dict = field(default_factory=dict, repr=False)

    # -- sizes and parameters -----------------------------------------------------------
    @property
    def n(self) -> int:
        return len(self.nodes)

    @property
    def steps(self) -> int:
        return int(round(self.tstop / self.tstep))

    @property
    def times(self) -> np.ndarray:
        """The time grid ``t_n = n * tstep``, n = 0..steps (s)."""
        return np.arange(self.steps + 1) * self.tstep

    def theta0(self) -> np.ndarray:
        """Current values of the trainable elements (F or H), in ``trainable`` order."""
        return np.array([self.value(name) for name in self.trainable])

    def value(self, name: str) -> float:
        """Value of one C/L/R element (F, H, S)."""
        for names, values in ((self.cap_names, self.cap_values), (self.ind_names, self.ind_values),
                              (self.res_names, self.res_values)):
            if name in names:
                return float(values[names.index(name)])
        raise KeyError(name)

    def trainable_index(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(positions in theta of trainable caps, their cap indices, same for inductors)."""
        tc, ic, tl, il = [], [], [], []
        for k, name in enumerate(self.trainable):
            if name in self.cap_names:
                tc.append(k)
                ic.append(self.cap_names.index(name))
            else:
                tl.append(k)
                il.append(self.ind_names.index(name))
        return (np.array(tc, dtype=int), np.array(ic, dtype=int), np.array(tl, dtype=int),
                np.array(il, dtype=int))

    def values(self, theta=None) -> tuple[np.ndarray, np.ndarray]:
        """(capacitances, inductances) with the trainable ones replaced by ``theta``."""
        caps, inds = self.cap_values.copy(), self.ind_values.copy()
        if theta is not None:
            theta = np.asarray(theta, dtype=float)
            tc, ic, tl, il = self.trainable_index()
            caps[ic] = theta[tc]
            inds[il] = theta[tl]
        return caps, inds

    def with_values(self, values: dict) -> "LCModel":
        """A copy with new element values (F, H, S) by name."""
        import copy
        model = copy.copy(self)
        model.cap_values = self.cap_values.copy()
        model.ind_values = self.ind_values.copy()
        model.res_values = self.res_values.copy()
        for name, value in values.items():
            value = float(value)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"element {name}: value must be positive and finite, "
                                 f"got {value!r}")
            for names, array in ((model.cap_names, model.cap_values),
                                 (model.ind_names, model.ind_values),
                                 (model.res_names, model.res_values)):
                if name in names:
                    array[names.index(name)] = value
                    break
            else:
                raise KeyError(f"no C, L or R element named {name!r}")
        return model

    def with_tstep(self, tstep: float) -> "LCModel":
        """A copy on another time grid: the same circuit, values and waveforms with step
        ``tstep`` (s) over the same window (e.g. a finer grid for the continuous-time reference,
        :func:`eqprop_hw.lc.continuous.continuous_gradient`).

        Raises
        ------
        ValueError
            ``tstep`` not positive and finite, ``tstop`` not a whole number (>= 2) of it, or
            more than :data:`MAX_STEPS` steps (the spec's own rules for ``time.tstep``).

        Examples
        --------
        >>> fine = eqprop_hw.load(CIRCUITS / "lc" / "lc_teacher.yaml").model.with_tstep(1e-10)
        >>> fine.steps, fine.times.size, fine.tstep
        (6000, 6001, 1e-10)
        """
        import copy
        tstep = float(tstep)
        if not (math.isfinite(tstep) and tstep > 0):
            raise ValueError(f"tstep must be positive and finite, got {tstep!r}")
        steps = self.tstop / tstep
        if abs(steps - round(steps)) > 1e-6 * steps or round(steps) < 2:
            raise ValueError(f"tstop ({self.tstop:g} s) must be a whole number (>= 2) of tstep "
                             f"({tstep:g} s)")
        if round(steps) > MAX_STEPS:
            raise ValueError(f"tstep {tstep:g} s: {round(steps):,} steps is too many (limit "
                             f"{MAX_STEPS:,})")
        model = copy.copy(self)
        model.tstep = tstep
        if self.spec_data:
            model.spec_data = {**self.spec_data,
                               "time": {**self.spec_data.get("time", {}), "tstep": tstep,
                                        "steps": int(round(steps))}}
        return model

    def with_theta(self, theta) -> "LCModel":
        return self.with_values(dict(zip(self.trainable, np.asarray(theta, dtype=float))))

    def capacitance_matrix(self, caps: np.ndarray) -> np.ndarray:
        """``C = D_c^T diag(c) D_c`` (F), shape (n, n)."""
        d = self.cap_incidence
        return d.T @ (caps[:, None] * d)

    def conductance_matrix(self) -> np.ndarray:
        d = self.res_incidence
        return d.T @ (self.res_values[:, None] * d)

    # -- inductors --------------------------------------------------------------------
    def inductor_current(self, x: np.ndarray, inds: np.ndarray) -> np.ndarray:
        """Currents (A) of every inductor at branch fluxes ``x`` (Wb), shape (..., m_l)."""
        return x / inds * (1.0 + (x / self.ind_phi_nl) ** 2)

    def inductor_slope(self, x: np.ndarray, inds: np.ndarray) -> np.ndarray:
        """dI/dx (1/H)."""
        return (1.0 + 3.0 * (x / self.ind_phi_nl) ** 2) / inds

    def inductor_energy(self, x: np.ndarray, inds: np.ndarray, phi_nl=None) -> np.ndarray:
        """Stored energy (J) ``x^2/(2L) + x^4/(4 L phi_nl^2)`` of inductors at branch fluxes
        ``x`` (Wb); ``phi_nl`` (Wb): their stiffening fluxes (default every inductor's)."""
        phi_nl = self.ind_phi_nl if phi_nl is None else phi_nl
        return x ** 2 / (2 * inds) + x ** 4 / (4 * inds * phi_nl ** 2)

    @staticmethod
    def capacitor_local(dv: np.ndarray, v_nl=None) -> np.ndarray:
        """Minus the co-energy per farad (V^2) of capacitors at branch voltages ``dv`` (V),
        ``-(dv^2/2 + dv^4/(12 v_nl^2))``: their local learning quantity; the quartic term only
        with ``v_nl`` (varactors' stiffening voltages, V)."""
        local = -0.5 * dv * dv
        if v_nl is not None:
            local = local - dv ** 4 / (12 * v_nl ** 2)
        return local

    # -- inputs and outputs -------------------------------------------------------------
    def input_waveforms(self, times=None) -> np.ndarray:
        """Input currents of the spec's waveforms, shape (steps+1, n_in) (A)."""
        times = self.times if times is None else times
        if not self.src_names:
            return np.zeros((len(times), 0))
        return np.stack([waveform_values(w, times) for w in self.src_waveforms], axis=1)

    def target_waveforms(self, times=None) -> np.ndarray:
        """Targets of the spec, shape (steps+1, n_out) (Wb or A); SpecError if absent."""
        if self.targets is None:
            raise SpecError(f"spec {self.name!r} has no targets (give 'targets', one waveform "
                            "per output, or a dataset)")
        times = self.times if times is None else times
        return np.stack([waveform_values(w, times) for w in self.targets], axis=1)

    def output_kind(self) -> str:
        kinds = {o["kind"] for o in self.outputs}
        return kinds.pop() if len(kinds) == 1 else "mixed"

    def output_values(self, phi: np.ndarray, inds: np.ndarray) -> np.ndarray:
        """Outputs (Wb or A) from node fluxes ``phi`` (..., n) -> (..., n_out)."""
        cols = []
        for output in self.outputs:
            if output["kind"] == "flux":
                cols.append(phi[..., self.nodes.index(output["node"])])
            else:
                k = self.ind_names.index(output["element"])
                x = phi @ self.ind_incidence[k]
                cols.append(x / inds[k] * (1.0 + (x / self.ind_phi_nl[k]) ** 2))
        return np.stack(cols, axis=-1)

    def output_grad(self, phi: np.ndarray, weights: np.ndarray, inds: np.ndarray) -> np.ndarray:
        """``sum_k weights_k d out_k / d phi`` (..., n) for weights (..., n_out)."""
        grad = np.zeros(phi.shape)
        for j, output in enumerate(self.outputs):
            if output["kind"] == "flux":
                grad[..., self.nodes.index(output["node"])] += weights[..., j]
            else:
                k = self.ind_names.index(output["element"])
                x = phi @ self.ind_incidence[k]
                slope = (1.0 + 3.0 * (x / self.ind_phi_nl[k]) ** 2) / inds[k]
                grad += (weights[..., j] * slope)[..., None] * self.ind_incidence[k]
        return grad


def build_model(spec) -> LCModel:
    """The :class:`LCModel` of a validated ``lc`` spec (:class:`eqprop_hw.circuit.spec.Spec`)."""
    data = spec.data if hasattr(spec, "data") else spec
    elements = data["elements"]
    nodes = sorted({n for e in elements for n in e["nodes"]} - {"0"}, key=_node_key)
    index = {node: k for k, node in enumerate(nodes)}

    def incidence(items):
        d = np.zeros((len(items), len(nodes)))
        for row, element in enumerate(items):
            a, b = element["nodes"]
            if a != "0":
                d[row, index[a]] += 1.0
            if b != "0":
                d[row, index[b]] -= 1.0
        return d

    caps = [e for e in elements if e["type"] == "C"]
    inds = [e for e in elements if e["type"] == "L"]
    ress = [e for e in elements if e["type"] == "R"]
    srcs = [e for e in elements if e["type"] == "I" and e["name"] in data["inputs"]]
    srcs.sort(key=lambda e: data["inputs"].index(e["name"]))
    b = np.zeros((len(nodes), len(srcs)))
    for col, element in enumerate(srcs):
        a, c = element["nodes"]      # SPICE: current flows from a through the source into c
        if c != "0":
            b[index[c], col] += 1.0
        if a != "0":
            b[index[a], col] -= 1.0
    return LCModel(
        name=data["name"], nodes=nodes,
        cap_names=[e["name"] for e in caps], cap_incidence=incidence(caps),
        cap_values=np.array([e["c"] for e in caps], dtype=float),
        cap_v_nl=np.array([e["v_nl"] if e.get("v_nl") else np.inf for e in caps], dtype=float),
        ind_names=[e["name"] for e in inds], ind_incidence=incidence(inds),
        ind_values=np.array([e["l"] for e in inds], dtype=float),
        ind_phi_nl=np.array([e["phi_nl"] if e.get("phi_nl") else np.inf for e in inds],
                            dtype=float),
        res_names=[e["name"] for e in ress], res_incidence=incidence(ress),
        res_values=np.array([e["g"] for e in ress], dtype=float),
        src_names=[e["name"] for e in srcs], src_matrix=b,
        src_waveforms=[e["waveform"] for e in srcs],
        outputs=[dict(o) for o in data["outputs"]], trainable=list(data["trainable"]),
        tstop=data["time"]["tstop"], tstep=data["time"]["tstep"],
        targets=data.get("targets"), spec_data=data)


def _node_key(name: str):
    """Natural order: n2 before n10."""
    parts = re.split(r"(\d+)", name)
    return [int(p) if p.isdigit() else p for p in parts]

