"""A transistor twin's whole training run: the spec's ``training.twin.mosfet``, the transient,
the curve after.

A spec whose ``training.twin`` holds a ``mosfet`` mapping (model, w, l, bulk; see
``docs/specs.md``) trains with MOSFET edges (:mod:`eqprop_hw.twin.mosfet`): the spec's
trainable conductances give the initial gates (``V_G = VTO + g / beta``, g clipped to the
conductance bounds) and the bounds of the gates. The samples, learning clock and cuts are the
linear twin's (:mod:`eqprop_hw.twin.train`). The gates read at every epoch's end are evaluated
on the ngspice backend (:mod:`eqprop_hw.twin.mos_check`), since the native backend refuses
transistors.

Examples
--------
>>> import eqprop_hw
>>> spec = eqprop_hw.load(CIRCUITS / "xor_twin_mos.yaml").spec
>>> mosfet_edge_from(spec).beta
1e-05
"""

from __future__ import annotations

import numpy as np

from eqprop_hw.circuit.graph import Circuit
from eqprop_hw.circuit.spec import Spec
from eqprop_hw.circuit.spec_twin import mosfet_section
from eqprop_hw.circuit.spice_grammar import join_lines
from eqprop_hw.circuit.transistors import DeviceModel
from eqprop_hw.errors import CircuitError, SpecError
from eqprop_hw.twin.mosfet import MosfetEdge, gate_bounds, twin_mos_lines
from eqprop_hw.twin.netlist import TwinSettings
from eqprop_hw.twin.run import TwinRun, run_twin_netlist

#: Name of the edges' ``.model`` card in the twin netlist.
MODEL_NAME = "TWMOS"


def mosfet_edge_from(spec: Spec) -> MosfetEdge | None:
    """The spec's ``training.twin.mosfet`` as a :class:`MosfetEdge`, or None (conductance
    edges); SpecError naming the key for a model the twin cannot use."""
    mosfet = mosfet_section(spec)
    if mosfet is None:
        return None
    model = dict(mosfet["model"])
    kind = model.pop("type")
    try:
        return MosfetEdge(DeviceModel(MODEL_NAME, kind, tuple(model.items())),
                          w=mosfet["w"], l=mosfet["l"], bulk=mosfet["bulk"])
    except CircuitError as error:
        raise SpecError(f"training.twin.mosfet: {str(error).removeprefix('twin mosfet: ')}",
                        spec.source) from None


def initial_gates(circuit: Circuit, settings: TwinSettings, edge: MosfetEdge) -> np.ndarray:
    """Gate voltages (V) of the circuit's trainable conductances (clipped to the bounds):
    ``VTO + bulk + g / beta``.

    >>> import eqprop_hw
    >>> from eqprop_hw.twin.netlist import TwinSettings
    >>> net = eqprop_hw.load(CIRCUITS / "xor_twin_mos.yaml")
    >>> edge = mosfet_edge_from(net.spec)
    >>> gates = initial_gates(net.circuit, TwinSettings(g_min=1e-12, g_max=1.0), edge)
    >>> round(float(gates[0]), 6)          # R1: 1.278e-4 S -> 0.5 - 6.5 + 12.78 V
    6.78
    """
    values = np.clip(circuit.trainable_values(), settings.g_min, settings.g_max)
    return edge.gate(np.asarray(values, dtype=float))


def run_twin_mos(circuit: Circuit, settings: TwinSettings, edge: MosfetEdge, inputs, targets,
                 gates, timeout: float = 3600.0, clock_scale=None,
                 damage: dict | None = None) -> TwinRun:
    """Write the transistor twin's netlist, run ``ngspice -b`` on it, read the gates.

    Returns a :class:`~eqprop_hw.twin.run.TwinRun` whose ``values`` are gate voltages (V)
    at every window boundary; a cut edge reads as the bulk rail's voltage from its cut on
    (its gate, as the transistors see it).
    """
    text = join_lines(twin_mos_lines(circuit, settings, edge, inputs, targets, gates,
                                     clock_scale=clock_scale, damage=damage))
    run = run_twin_netlist(text, circuit, np.atleast_2d(inputs).shape[0], settings.sample_time,
                           timeout)
    for name, window in (damage or {}).items():
        run.values[window:, circuit.trainable.index(name)] = edge.bulk
    return run


def twin_mos_netlist(spec: Spec, circuit: Circuit, epochs: int | None = None,
                     seed: int | None = None) -> list[str]:
    """The lines of the one transient in which the transistor twin trains (``export --twin``
    of a spec with ``training.twin.mosfet``)."""
    from eqprop_hw.twin.train import twin_damage, twin_inputs
    edge = mosfet_edge_from(spec)
    settings, dataset, inputs, targets, scale, epochs = twin_inputs(spec, circuit, epochs, seed)
    settings = _settings(spec, settings, edge)
    damage = twin_damage(spec, circuit, len(dataset.x_train), epochs)
    return twin_mos_lines(circuit, settings, edge, inputs, targets,
                          initial_gates(circuit, settings, edge), clock_scale=scale,
                          damage=damage)


def _settings(spec: Spec, settings: TwinSettings, edge: MosfetEdge) -> TwinSettings:
    try:
        return edge.unit_settings(settings)
    except CircuitError as error:
        raise SpecError(f"training.twin: {str(error).removeprefix('twin: ')}",
                        spec.source) from None


def train_twin_mos(spec: Spec, circuit: Circuit, epochs: int | None = None,
                   seed: int | None = None, timeout: float = 3600.0):
    """Train the spec's circuit with MOSFET edges in one ngspice transient; the curve of the
    gates read at each epoch's end, evaluated on the ngspice backend.

    Returns a :class:`~eqprop_hw.twin.train.TwinTraining` whose ``values`` are the final
    zero-bias conductances ``beta (V_G - VTO)`` (S; g_min for a cut edge) and whose metrics
    add ``edge: "mosfet"``, ``beta``, ``vto``, ``gate_bounds`` and ``final_gates`` (V).
    """
    from eqprop_hw.twin.mos_check import MosBackends, mos_losses
    from eqprop_hw.twin.train import TRACE_POINTS, TwinTraining, twin_damage, twin_inputs
    edge = mosfet_edge_from(spec)
    settings, dataset, inputs, targets, scale, epochs = twin_inputs(spec, circuit, epochs, seed)
    settings = _settings(spec, settings, edge)
    samples = len(dataset.x_train)
    damage = twin_damage(spec, circuit, samples, epochs)
    run = run_twin_mos(circuit, settings, edge, inputs, targets,
                       initial_gates(circuit, settings, edge), timeout=timeout,
                       clock_scale=scale, damage=damage)
    metrics = {"spec": spec.name, "backend": "ngspice", "rule": "coupled", "twin": True,
               "edge": "mosfet", "beta": edge.beta, "vto": edge.vto,
               "gate_bounds": list(gate_bounds(settings, edge)),
               "eta": settings.eta, "settings": settings.as_dict(),
               "windows": len(inputs), "ngspice_seconds": run.seconds,
               "epochs": [], "train_loss": [], "test_loss": [], "train_accuracy": [],
               "test_accuracy": []}
    points = np.unique(np.linspace(0, len(inputs), min(TRACE_POINTS, len(inputs) + 1))
                       .round().astype(int))
    with MosBackends(circuit, edge) as pair:
        for epoch in range(epochs):
            gates = run.values[(epoch + 1) * samples]
            on_train = mos_losses(pair, dataset, dataset.x_train, dataset.y_train, gates)
            on_test = mos_losses(pair, dataset, dataset.x_test, dataset.y_test, gates)
            metrics["epochs"].append(epoch + 1)
            metrics["train_loss"].append(on_train["loss"])
            metrics["test_loss"].append(on_test["loss"])
            metrics["train_accuracy"].append(on_train["accuracy"])
            metrics["test_accuracy"].append(on_test["accuracy"])
        trace = [mos_losses(pair, dataset, dataset.x_train, dataset.y_train,
                            run.values[window])["loss"] for window in points]
    metrics["initial_train_loss"] = trace[0]
    metrics["trace"] = {"time": run.times[points].tolist(), "train_loss": trace}
    metrics["final_gates"] = dict(zip(circuit.trainable, run.values[-1].tolist()))
    if damage:
        metrics["damage"] = {"elements": sorted(damage), "window": min(damage.values()),
                             "time": min(damage.values()) * settings.sample_time}
    values = np.maximum(edge.conductance(run.values[-1]), settings.g_min)
    for name in damage:
        values[circuit.trainable.index(name)] = settings.g_min
    return TwinTraining(metrics, values, run)
