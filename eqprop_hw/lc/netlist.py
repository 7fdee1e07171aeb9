"""Transient (``.tran``) netlists of LC networks, with initial conditions and ``UIC``.

Layout (element names are the spec's; auxiliary elements are upper-case prefixed)::

    eqprop-hw <name>
    *@ eqprop-hw lc netlist 1
    .options reltol=... abstol=... vntol=... chgtol=... trtol=... method=trap
    C1 n1 0 1e-09 IC=0.0                   capacitors (node and coupling), IC = initial voltage
    L2 n2 0 1e-06 IC=0.0                   linear inductors, IC = initial current
    VLVAL_L1 lval_l1 0 DC 1e-06            nonlinear inductor L1: its inductance (H) ...
    BL1 n1 0 I=...                         ... as a behavioural current of its branch flux
    BFLX_N1 0 flx_n1 I=V(n1)               node-flux integrators: V(flx_n1) = phi_n1 (Wb)
    CFLX_N1 flx_n1 0 1 IC=0.0
    RD1 n1 0 1000.0                        resistors (lossy studies only)
    IIN1 0 n1 SIN(0 0.005 3e+06 0 0 45)    inputs (SIN, PWL or DC)
    VNUDGEBETA nudgebeta 0 DC 0.0          nudge strength beta (A/Wb), changed by alter
    VTGT0 tgt0 0 SIN(...)                  target of output 0 (V = Wb or A)
    BNUDGE0 n4 0 I=V(nudgebeta)*(V(flx_n4)-V(tgt0))     nudge current -beta (phi - y) into n4
    .tran TSTEP TSTOP 0 TMAX UIC
    .end

Node fluxes are integrated by a 1 F capacitor fed by a behavioural current equal to the node
voltage, so ``V(flx_n) = phi_n(0) + int V(n) dt`` exactly as ngspice integrates any capacitor.
The trapezoidal rule (``method=trap``) is required: it is time-symmetric, so the un-nudged echo
retraces the forward run (Gear is dissipative and does not). ``TMAX`` (the maximum step) is
``options.max_step_fraction * time.tstep``.
"""

from __future__ import annotations

import math

import numpy as np

from eqprop_hw.lc.model import LCModel
from eqprop_hw.circuit.netlist import fmt
from eqprop_hw.errors import quote
from eqprop_hw.circuit.spice_grammar import NetlistTextError, check_name, check_names, join_lines

LC_NETLIST_VERSION = "1"
BETA_SOURCE = "VNUDGEBETA"


def flux_node(node: str) -> str:
    return f"flx_{node}"


def waveform_text(waveform: dict, reverse_from: float | None = None) -> str:
    """SPICE source text of a waveform; ``reverse_from=T`` gives ``w(T - t)``.

    A reversed sine is again a sine: ``sin(2 pi f (T - t) + ph) = sin(2 pi f t + pi - 2 pi f T
    - ph)``; a reversed PWL lists its points backwards. Sines with a delay are written as PWL
    when reversed.
    """
    kind = waveform["type"]
    if kind == "dc":
        return f"DC {fmt(waveform['value'])}"
    if kind == "sine" and (reverse_from is None or waveform["delay"] == 0.0):
        phase = waveform["phase"]
        amplitude = waveform["amplitude"]
        if reverse_from is not None:
            phase = math.pi - 2 * math.pi * waveform["frequency"] * reverse_from - phase
        degrees = math.degrees(math.remainder(phase, 2 * math.pi))
        return (f"SIN({fmt(waveform['offset'])} {fmt(amplitude)} {fmt(waveform['frequency'])} "
                f"{fmt(waveform['delay'])} 0 {fmt(degrees)})")
    if kind == "sine":
        raise ValueError("a delayed sine cannot be reversed; give it as PWL")
    times = [p[0] for p in waveform["points"]]
    values = [p[1] for p in waveform["points"]]
    if reverse_from is None:
        return pwl_text(times, values)
    t_end = reverse_from
    grid = sorted({0.0, t_end} | {t_end - t for t in times if 0.0 <= t <= t_end})
    return pwl_text(grid, [float(np.interp(t_end - s, times, values)) for s in grid])


def pwl_text(times, values) -> str:
    return "PWL(" + " ".join(f"{fmt(t)} {fmt(v)}" for t, v in zip(times, values)) + ")"


def array_waveform(times, values) -> dict:
    """A PWL waveform mapping from samples on a grid."""
    return {"type": "pwl", "points": [[float(t), float(v)] for t, v in zip(times, values)]}


def write_lc_netlist(model: LCModel, *args, **kwargs) -> str:
    """The ``.tran`` netlist of an LC network as text (:func:`lc_netlist_lines`, joined by
    :func:`eqprop_hw.circuit.spice_grammar.join_lines`); same parameters."""
    return join_lines(lc_netlist_lines(model, *args, **kwargs))


def check_lc_text(model: LCModel) -> None:
    """Every name of ``model`` that the writer puts into a line, checked against
    :mod:`eqprop_hw.circuit.spice_grammar` (the spec was checked on loading; this is the writer's own
    check, so that no path around the spec reaches a netlist)."""
    check_name(model.name, "title", "circuit name")
    check_names(list(model.cap_names) + list(model.ind_names) + list(model.res_names)
                + list(model.src_names) + list(model.trainable), "element")
    check_names(model.nodes, "node")
    for out in model.outputs:
        check_name(out["name"], "port", "output name")
        check_name(out["node"], "node", f"output {out['name']}: node name")
        if out["kind"] == "current":
            check_name(out["element"], "element", f"output {out['name']}: element name")
        elif out["kind"] != "flux":
            raise NetlistTextError(f"output {out['name']}: unknown kind {quote(out['kind'])}")


def lc_netlist_lines(model: LCModel, inputs: list | None = None, targets: list | None = None,
                     beta: float = 0.0, ic: dict | None = None, analysis: bool = True,
                     reverse: bool = False, method: str = "trap", bank=None) -> list[str]:
    """The lines of the ``.tran`` netlist of an LC network.

    Parameters
    ----------
    model : LCModel
    inputs : list of dict, optional
        Waveform per input source (default: the spec's).
    targets : list of dict, optional
        Target waveform per output; with targets the nudge elements are written.
    beta : float
        Nudge strength (A per Wb; A per A for current outputs) on ``VNUDGEBETA``.
    ic : dict, optional
        Initial conditions: ``{"V": {capacitor: V}, "I": {inductor: A}, "phi": {node: Wb}}``;
        default all zero (start at rest).
    analysis : bool
        Write the ``.tran ... UIC`` card (``False``: for loading into the shared library).
    reverse : bool
        Write the inputs and targets time-reversed (the echo's sources).
    method : {"trap", "gear"}
        ngspice's integration method; ``gear`` only as the negative control of reversibility.
    bank : dict, optional
        ``{"inputs": (S, steps+1, n_in), "targets": (S, steps+1, n_out)}``: S sampled
        sequences, each written forwards and backwards as PWL voltage sources
        (``UF_<src>_<s>``, ``UR_<src>_<s>``, ``YF<k>_<s>``, ``YR<k>_<s>``: B sources with
        ``pwl(time, ...)`` for grid arrays, V sources for waveforms); the inputs
        become behavioural currents ``B<src>`` and the targets ``BTGT<k>`` that pick one of
        them through the gate sources ``VGF_<s>``/``VGR_<s>`` (1 V = selected), so that the
        shared library switches sequence and direction by ``alter`` alone.

    Returns
    -------
    list of str
        One entry per netlist line, without line breaks (``.end`` last).

    Long because: its docstring documents every parameter (about 30 lines); the code is one
    section per card kind, the long ones in helpers.
    """
    if method not in ("trap", "gear"):
        raise NetlistTextError(f"integration method must be trap or gear, got {quote(method)}")
    check_lc_text(model)
    ic = ic or {}
    caps, inds = model.values()
    options = model.spec_data.get("options", {}) if model.spec_data else {}
    from eqprop_hw.lc.spec import DEFAULT_LC_OPTIONS
    opts = dict(DEFAULT_LC_OPTIONS, **options)
    t_end = model.tstop if reverse else None
    lines = [f"eqprop-hw {model.name}", f"*@ eqprop-hw lc netlist {LC_NETLIST_VERSION}"]
    for k, out in enumerate(model.outputs):
        where = out["node"] if out["kind"] == "flux" else out["element"]
        lines.append(f"*@ output {out['name']} {out['kind']} {where}")
    lines.append("*@ trainable " + " ".join(model.trainable))
    lines.append(f".options reltol={fmt(opts['reltol'])} abstol={fmt(opts['abstol'])} "
                 f"vntol={fmt(opts['vntol'])} chgtol={fmt(opts['chgtol'])} "
                 f"trtol={fmt(opts['trtol'])} method={method}")
    lines.append("* capacitors (F), IC = initial voltage (V)")
    vic = ic.get("V", {})
    lines.extend(_capacitor_lines(model, caps, vic))
    lines.extend(_inductor_lines(model, inds, ic.get("I", {})))
    lines.append("* node-flux integrators: V(flx_<node>) = node flux (Wb)")
    pic = ic.get("phi", {})
    for node in model.nodes:
        lines.append(f"BFLX_{node.upper()} 0 {flux_node(node)} I=V({node})")
        lines.append(f"CFLX_{node.upper()} {flux_node(node)} 0 1 IC={fmt(pic.get(node, 0.0))}")
    if model.res_names:
        lines.append("* resistors (Ohm): lossy, not Hamiltonian")
    for name, d, g in zip(model.res_names, model.res_incidence, model.res_values):
        a, b = _terminals(model, d)
        lines.append(f"{name} {a} {b} {fmt(1.0 / g)}")
    waveforms = model.src_waveforms if inputs is None else inputs
    if model.src_names:
        lines.append("* input current sources (A)")
    spec_elements = {e["name"]: e for e in model.spec_data.get("elements", [])} \
        if model.spec_data else {}
    if bank is not None:
        lines.extend(_bank_lines(model, bank, spec_elements, beta))
    else:
        for name, waveform in zip(model.src_names, waveforms):
            a, b = spec_elements[name]["nodes"] if name in spec_elements else ("0", "?")
            lines.append(f"{name} {a} {b} {waveform_text(waveform, t_end)}")
    if targets is not None and bank is None:
        lines.append("* nudge: current -beta d(1/2 (out - y)^2)/d phi into each output")
        lines.append(f"{BETA_SOURCE} nudgebeta 0 DC {fmt(beta)}")
        for k, (out, waveform) in enumerate(zip(model.outputs, targets)):
            lines.append(f"VTGT{k} tgt{k} 0 {waveform_text(waveform, t_end)}")
            lines.extend(_nudge_lines(model, k, out, inds))
    if np.isfinite(model.cap_v_nl).any():
        lines.append(_initial_condition_line(model, vic, pic))
    if analysis:
        lines.append(tran_card(model))
        # what the loss reads, so that plain `ngspice -b` runs the analysis and prints it
        lines.append(".print tran " + " ".join(
            f"v({flux_node(out['node'])})" if out["kind"] == "flux" else f"i({out['element']})"
            for out in model.outputs))
    lines.append(".end")
    return lines


def _capacitor_lines(model, caps, vic: dict) -> list:
    """The capacitor lines (F, ``IC`` = initial voltage in V from ``vic``) and, for
    varactors, their behavioural excess charge."""
    lines = []
    for name, d, c in zip(model.cap_names, model.cap_incidence, caps):
        a, b = _terminals(model, d)
        lines.append(f"{name} {a} {b} {fmt(c)} IC={fmt(vic.get(name, 0.0))}")
    varactors = [k for k in range(len(caps)) if np.isfinite(model.cap_v_nl[k])]
    if varactors:
        lines.append("* varactors: the linear part above plus the behavioural excess charge "
                     "c V^3 / (3 v_nl^2)")
    for k in varactors:
        a, b = _terminals(model, model.cap_incidence[k])
        v = f"V({a})" if b == "0" else f"(-V({b}))"
        factor = fmt(caps[k] / (3 * model.cap_v_nl[k] ** 2))
        lines.append(f"BQ{model.cap_names[k]} {a} {b} I=ddt({factor}*{v}*{v}*{v})")
    return lines


def _inductor_lines(model, inds, iic: dict) -> list:
    """The linear inductor lines (H, ``IC`` = initial current in A from ``iic``) and the
    behavioural currents of nonlinear inductors (their L on ``VLVAL_<name>``)."""
    lines = []
    linear = [k for k in range(len(inds)) if not np.isfinite(model.ind_phi_nl[k])]
    nonlinear = [k for k in range(len(inds)) if np.isfinite(model.ind_phi_nl[k])]
    if linear:
        lines.append("* linear inductors (H), IC = initial current (A)")
    for k in linear:
        a, b = _terminals(model, model.ind_incidence[k])
        name = model.ind_names[k]
        lines.append(f"{name} {a} {b} {fmt(inds[k])} IC={fmt(iic.get(name, 0.0))}")
    if nonlinear:
        lines.append("* nonlinear inductors: I = x/L (1 + (x/phi_nl)^2) of the branch flux x "
                     "(Wb); L on VLVAL_<name> (H)")
    for k in nonlinear:
        a, b = _terminals(model, model.ind_incidence[k])
        name = model.ind_names[k]
        x = _branch_flux(a, b)
        lval = f"lval_{name.lower()}"
        lines.append(f"VLVAL_{name} {lval} 0 DC {fmt(inds[k])}")
        lines.append(f"B{name} {a} {b} I=({x})/V({lval})*(1+(({x})/{fmt(model.ind_phi_nl[k])})"
                     f"*(({x})/{fmt(model.ind_phi_nl[k])}))")
    return lines


def _initial_condition_line(model, vic: dict, pic: dict) -> str:
    """The ``.ic`` card of every node voltage and node flux: varactors are behavioural ddt()
    charges whose history starts from the initial solution vector, and with UIC ``.ic`` makes
    that vector the initial state (see LCNgspice)."""
    v0 = np.zeros(model.n)
    for name, row in zip(model.cap_names, model.cap_incidence):
        nonzero = np.flatnonzero(row)
        if len(nonzero) == 1:
            v0[nonzero[0]] = row[nonzero[0]] * float(vic.get(name, 0.0))
    return ".ic " + " ".join(
        [f"v({node})={fmt(v)}" for node, v in zip(model.nodes, v0)]
        + [f"v({flux_node(node)})={fmt(pic.get(node, 0.0))}" for node in model.nodes])


def _bank_source(model, name: str, node: str, item, k, reverse: bool) -> str:
    """The voltage source of component k of one bank entry, on ``node``.

    A waveform mapping is an independent source ``V<name>`` (SIN or PWL); a grid array is a
    behavioural source ``B<name> ... V=pwl(time, t0, v0, ...)``: the same piecewise-linear
    waveform, but without a breakpoint at every grid time. ngspice restarts its integration
    with a backward-Euler step after each breakpoint, and that dissipative step breaks the
    time symmetry the echo relies on (measured on lc_nonlinear20, 2000 steps: the un-nudged
    echo's retrace error 6e-6 with PWL sources, 7e-9 with ``pwl()``)."""
    if isinstance(item, np.ndarray):
        values = item[:, k][::-1] if reverse else item[:, k]
        pairs = ", ".join(f"{fmt(t)}, {fmt(v)}" for t, v in zip(model.times, values))
        return f"B{name} {node} 0 V=pwl(time, {pairs})"
    return f"V{name} {node} 0 {waveform_text(item[k], model.tstop if reverse else None)}"


def bank_entries(bank_part):
    """The entries of one part of a sequence bank (inputs or targets): grid arrays, or lists
    of waveform mappings, one per sequence."""
    if isinstance(bank_part, np.ndarray) or (isinstance(bank_part, (list, tuple)) and bank_part
                                             and not isinstance(bank_part[0], (list, tuple))):
        return [np.asarray(entry, dtype=float) for entry in bank_part]
    return [entry if isinstance(entry[0], dict) else np.asarray(entry, dtype=float)
            for entry in bank_part]


def _bank_lines(model, bank, spec_elements, beta) -> list:
    inputs = bank_entries(bank["inputs"])
    targets = bank_entries(bank["targets"])
    samples = len(inputs)
    lines = ["* sequence bank: gates VGF_<s>/VGR_<s> (1 V selects sample s forwards/backwards)"]
    for s in range(samples):
        lines.append(f"VGF_{s} gf_{s} 0 DC 0.0")
        lines.append(f"VGR_{s} gr_{s} 0 DC 0.0")
    for j, name in enumerate(model.src_names):
        a, b = spec_elements[name]["nodes"]
        terms = []
        low = name.lower()
        for s in range(samples):
            lines.append(_bank_source(model, f"UF_{name}_{s}", f"uf_{low}_{s}", inputs[s], j,
                                      False))
            lines.append(_bank_source(model, f"UR_{name}_{s}", f"ur_{low}_{s}", inputs[s], j,
                                      True))
            terms.append(f"V(gf_{s})*V(uf_{low}_{s})+V(gr_{s})*V(ur_{low}_{s})")
        lines.append(f"B{name} {a} {b} I={'+'.join(terms)}")
    lines.append("* nudge: current -beta d(1/2 (out - y)^2)/d phi into each output")
    lines.append(f"{BETA_SOURCE} nudgebeta 0 DC {fmt(beta)}")
    _, inds = model.values()
    for k, out in enumerate(model.outputs):
        terms = []
        for s in range(samples):
            lines.append(_bank_source(model, f"YF{k}_{s}", f"yf{k}_{s}", targets[s], k, False))
            lines.append(_bank_source(model, f"YR{k}_{s}", f"yr{k}_{s}", targets[s], k, True))
            terms.append(f"V(gf_{s})*V(yf{k}_{s})+V(gr_{s})*V(yr{k}_{s})")
        lines.append(f"BTGT{k} tgt{k} 0 V={'+'.join(terms)}")
        lines.extend(_nudge_lines(model, k, out, inds))
    return lines


def tran_card(model: LCModel) -> str:
    options = model.spec_data.get("options", {}) if model.spec_data else {}
    from eqprop_hw.lc.spec import DEFAULT_LC_OPTIONS
    fraction = dict(DEFAULT_LC_OPTIONS, **options)["max_step_fraction"]
    return (f".tran {fmt(model.tstep)} {fmt(model.tstop)} 0 {fmt(model.tstep * fraction)} UIC")


def _terminals(model, row) -> tuple[str, str]:
    plus = [model.nodes[i] for i in np.flatnonzero(row > 0)]
    minus = [model.nodes[i] for i in np.flatnonzero(row < 0)]
    return (plus[0] if plus else "0"), (minus[0] if minus else "0")


def _branch_flux(a: str, b: str) -> str:
    if b == "0":
        return f"V({flux_node(a)})"
    if a == "0":
        return f"-V({flux_node(b)})"
    return f"V({flux_node(a)})-V({flux_node(b)})"


def _nudge_lines(model, k, out, inds) -> list:
    if out["kind"] == "flux":
        node = out["node"]
        return [f"BNUDGE{k} {node} 0 I=V(nudgebeta)*(V({flux_node(node)})-V(tgt{k}))"]
    j = model.ind_names.index(out["element"])
    a, b = _terminals(model, model.ind_incidence[j])
    x = _branch_flux(a, b)
    phi_nl = model.ind_phi_nl[j]
    if np.isfinite(phi_nl):
        current = f"({x})/{fmt(inds[j])}*(1+(({x})/{fmt(phi_nl)})*(({x})/{fmt(phi_nl)}))"
        slope = f"(1+3*(({x})/{fmt(phi_nl)})*(({x})/{fmt(phi_nl)}))/{fmt(inds[j])}"
    else:
        current = f"({x})/{fmt(inds[j])}"
        slope = f"1/{fmt(inds[j])}"
    return [f"BNUDGE{k} {a} {b} I=V(nudgebeta)*(({current})-V(tgt{k}))*({slope})"]
