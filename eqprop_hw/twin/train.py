"""A whole training run as one twin-network transient: settings from a spec, the curve after.

The spec trains with ``training.rule: coupled`` and ``batch_size: 1`` (the circuitry updates
after every sample); ``training.twin`` holds the circuit's own settings (see
:class:`eqprop_hw.twin.netlist.TwinSettings`). The samples play in the order the training loop
would use (``default_rng([seed, epoch]).permutation``), the learning-rate decay is the height
of the learning clock in each epoch, and the conductances read at every epoch's end are
evaluated on the native backend, giving the same metrics a ``train`` run records.

Examples
--------
>>> import eqprop_hw
>>> from eqprop_hw.circuit.build import build_circuit
>>> spec = eqprop_hw.load(CIRCUITS / "xor.yaml").spec
>>> twin_settings_from(spec, build_circuit(spec)).eta     # xor trains with EP: the default
0.1
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from eqprop_hw.circuit.graph import Circuit
from eqprop_hw.circuit.spec import Spec
from eqprop_hw.circuit.spec_twin import mosfet_section
from eqprop_hw.errors import CircuitError, SpecError
from eqprop_hw.twin.netlist import TwinSettings, twin_lines, twin_schedule
from eqprop_hw.twin.run import TwinRun, run_twin


#: Window boundaries at which ``train_twin`` evaluates the train loss for its error trace.
TRACE_POINTS = 200

#: Most sample windows one transient plays (its PWL sources hold ~4 points per window each).
MAX_WINDOWS = 200_000


def twin_settings_from(spec: Spec, circuit: Circuit) -> TwinSettings:
    """TwinSettings from a spec's ``training`` section (its ``twin`` mapping, ``eta``,
    ``learning_rate`` times g_max, and the conductance bounds of ``circuit``, the spec's)."""
    from eqprop_hw.learning.train import conductance_bounds, settings_from
    settings = settings_from(spec)
    if isinstance(settings.learning_rate, (list, tuple)):
        raise SpecError("training.learning_rate: a twin network has one update gain; give "
                        "one rate, not one per crossbar", spec.source)
    g_min, g_max = conductance_bounds(spec, circuit)
    twin = dict((spec.data.get("training") or {}).get("twin") or {})
    twin.pop("damage", None)
    twin.pop("mosfet", None)        # transistor edges: eqprop_hw.twin.mos_train
    try:
        return TwinSettings(eta=settings.eta,
                            learning_rate=float(settings.learning_rate) * g_max,
                            g_min=g_min, g_max=g_max, **twin)
    except CircuitError as error:
        raise SpecError(f"training.twin: {str(error).removeprefix('twin: ')}",
                        spec.source) from None


@dataclass(frozen=True)
class TwinTraining:
    """A twin-network training run.

    Attributes
    ----------
    metrics : dict
        As a ``train`` run's metrics.json (per-epoch losses and accuracies of the
        conductances read at each epoch's end), plus ``twin`` (the circuit settings),
        ``windows`` and ``ngspice_seconds``.
    values : ndarray, shape (n_trainable,)
        The conductances (S) at the end of the run.
    run : TwinRun
        The transient: every conductance at every window boundary, and the netlist.
    """

    metrics: dict
    values: np.ndarray
    run: TwinRun


def twin_inputs(spec: Spec, circuit: Circuit, epochs: int | None = None,
                seed: int | None = None) -> tuple:
    """``(settings, dataset, inputs, targets, clock_scale, epochs)`` of a twin run."""
    from eqprop_hw.io.data import load_dataset
    from eqprop_hw.learning.train import settings_from
    training = settings_from(spec, epochs=epochs, seed=seed)
    if training.rule != "coupled":
        raise SpecError("a twin network learns by Coupled Learning: set training.rule: "
                        "coupled", spec.source)
    if training.batch_size != 1:
        raise SpecError(f"training.batch_size is {training.batch_size}: a twin network "
                        "updates after every sample; set it to 1", spec.source)
    if training.loss != "squared":
        raise SpecError("a twin network clamps output voltages: training.loss must be "
                        "squared", spec.source)
    settings = twin_settings_from(spec, circuit)
    dataset = load_dataset(spec, circuit)
    samples = len(dataset.x_train)
    if samples * training.epochs > MAX_WINDOWS:
        raise SpecError(f"a twin run of {training.epochs} epochs of {samples} samples plays "
                        f"{samples * training.epochs:,} windows; at most {MAX_WINDOWS:,} fit "
                        "one transient (fewer epochs)", spec.source)
    order = twin_schedule(samples, training.epochs, training.seed)
    inputs = dataset.x_train[order]
    targets = dataset.targets(dataset.y_train)[order]
    scale = np.repeat(training.lr_decay ** np.arange(training.epochs), samples)
    return settings, dataset, inputs, targets, scale, training.epochs


def twin_damage(spec: Spec, circuit: Circuit, samples: int, epochs: int) -> dict:
    """``training.twin.damage`` as {element: window of its cut} (checked against the circuit
    and the run's length)."""
    damage = ((spec.data.get("training") or {}).get("twin") or {}).get("damage")
    if not damage:
        return {}
    names = {name.upper(): name for name in circuit.trainable}
    out = {}
    for name in damage["elements"]:
        if name.upper() not in names:
            raise SpecError(f"training.twin.damage.elements: {name!r} is not a trainable "
                            "element", spec.source)
        out[names[name.upper()]] = damage["epoch"] * samples
    if damage["epoch"] >= epochs:
        raise SpecError(f"training.twin.damage.epoch is {damage['epoch']}: the cut must come "
                        f"before the last epoch (the run has {epochs})", spec.source)
    return out


def _refuse_mosfet(spec: Spec) -> None:
    """The conductance-edge functions never run a transistor twin's spec as a linear one."""
    if mosfet_section(spec) is not None:
        raise SpecError("training.twin.mosfet: a transistor twin is built by "
                        "eqprop_hw.twin.mos_train (train_twin_mos, twin_mos_netlist)",
                        spec.source)


def twin_netlist(spec: Spec, circuit: Circuit, epochs: int | None = None,
                 seed: int | None = None) -> list[str]:
    """The lines of the one transient that trains the spec's circuit (what ``export --twin``
    writes and ``ngspice -b`` runs)."""
    _refuse_mosfet(spec)
    settings, dataset, inputs, targets, scale, epochs = twin_inputs(spec, circuit, epochs, seed)
    damage = twin_damage(spec, circuit, len(dataset.x_train), epochs)
    initial = np.clip(circuit.trainable_values(), settings.g_min, settings.g_max)
    return twin_lines(circuit, settings, inputs, targets, initial, clock_scale=scale,
                      damage=damage)


def train_twin(spec: Spec, circuit: Circuit, epochs: int | None = None,
               seed: int | None = None, timeout: float = 3600.0) -> TwinTraining:
    """Train the spec's circuit with its twin-network circuitry in one ngspice transient
    (conductance edges; MOSFET edges: :func:`eqprop_hw.twin.mos_train.train_twin_mos`)."""
    _refuse_mosfet(spec)
    from eqprop_hw.backends import make_backend
    from eqprop_hw.learning.train import evaluate
    settings, dataset, inputs, targets, scale, epochs = twin_inputs(spec, circuit, epochs,
                                                                    seed)
    samples = len(dataset.x_train)
    damage = twin_damage(spec, circuit, samples, epochs)
    initial = np.clip(circuit.trainable_values(), settings.g_min, settings.g_max)
    run = run_twin(circuit, settings, inputs, targets, initial, timeout=timeout,
                   clock_scale=scale, damage=damage)
    metrics = {"spec": spec.name, "backend": "ngspice", "rule": "coupled", "twin": True,
               "eta": settings.eta, "settings": settings.as_dict(),
               "windows": len(inputs), "ngspice_seconds": run.seconds,
               "epochs": [], "train_loss": [], "test_loss": [], "train_accuracy": [],
               "test_accuracy": []}
    with make_backend("native", circuit) as backend:
        for epoch in range(epochs):
            backend.set_trainable(run.values[(epoch + 1) * samples])
            on_train = evaluate(backend, dataset, dataset.x_train, dataset.y_train)
            on_test = evaluate(backend, dataset, dataset.x_test, dataset.y_test)
            metrics["epochs"].append(epoch + 1)
            metrics["train_loss"].append(on_train["loss"])
            metrics["test_loss"].append(on_test["loss"])
            metrics["train_accuracy"].append(on_train["accuracy"])
            metrics["test_accuracy"].append(on_test["accuracy"])
        # The error over time: the train loss at up to TRACE_POINTS window boundaries.
        points = np.unique(np.linspace(0, len(inputs), min(TRACE_POINTS, len(inputs) + 1))
                           .round().astype(int))
        trace = []
        for window in points:
            backend.set_trainable(run.values[window])
            trace.append(evaluate(backend, dataset, dataset.x_train, dataset.y_train)["loss"])
    metrics["initial_train_loss"] = trace[0]
    metrics["trace"] = {"time": run.times[points].tolist(), "train_loss": trace}
    if damage:
        metrics["damage"] = {"elements": sorted(damage), "window": min(damage.values()),
                             "time": min(damage.values()) * settings.sample_time}
    return TwinTraining(metrics, run.values[-1].copy(), run)


def write_twin_run(out_dir, circuit: Circuit, result: TwinTraining, plots: bool = True) -> None:
    """``params.npz`` (the final conductances), ``metrics.json`` (with ``final_*`` values as a
    ``train`` run writes), ``twin.cir`` (the netlist that ran) and, with ``plots``,
    ``twin.png`` (:func:`eqprop_hw.twin.plots.plot_twin`) in ``out_dir``, each written
    atomically."""
    import json
    from pathlib import Path

    from eqprop_hw.io.fileio import atomic_write_text
    from eqprop_hw.io.params import save_params
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "twin.cir", result.run.netlist)
    save_params(out / "params.npz", dict(zip(circuit.trainable, result.values.tolist())))
    # (MOSFET edges: params.npz holds the zero-bias conductances, metrics.json the gates.)
    summary = dict(result.metrics)
    for key in ("train_accuracy", "test_accuracy", "train_loss", "test_loss"):
        summary[f"final_{key}"] = result.metrics[key][-1] if result.metrics[key] else None
    atomic_write_text(out / "metrics.json", json.dumps(summary, indent=1) + "\n")
    if plots:
        from eqprop_hw.twin.plots import plot_twin
        plot_twin(out / "twin.png", list(circuit.trainable), result.run.times,
                  result.run.values, result.metrics)
