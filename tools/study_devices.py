"""Device study: how far hardware-local updates under real device limits stray from the gradient.

For each profile (one non-ideality at a time, then combined "realistic" profiles, with and
without mitigations) this measures

* ``cosine`` / ``rel_error``: the conductance change the devices actually apply for one
  minibatch (measured voltages -> local rule -> pulses -> device response) against the ideal
  step ``-eta g_max^2 dL/dg`` with the exact gradient of the software reference, averaged over
  ``--batches`` minibatches at the initial conductances; ``cosine_accumulated`` compares the
  sum of those updates with the sum of the ideal ones (noise averages out there, bias does not);
* ``test_accuracy``: the test accuracy after training with that profile (native backend).

Writes ``docs/results/device_study.json``, ``docs/results/device_study.md`` and
``docs/results/device_study.png``. Usage::

    python3 tools/study_devices.py                      # all profiles (about 30-60 minutes)
    python3 tools/study_devices.py --epochs 2 --only ideal,adc --out /tmp/study
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from eqprop_hw.backends import make_backend  # noqa: E402
from eqprop_hw.circuit.build import build_circuit  # noqa: E402
from eqprop_hw.io.data import load_dataset  # noqa: E402
from eqprop_hw.learning.devices import hardware_from_spec, measured_gradient, probe_for  # noqa: E402
from eqprop_hw.learning.ep import ep_gradient, make_probe  # noqa: E402
from eqprop_hw.io.fileio import atomic_write_text  # noqa: E402
from eqprop_hw.learning.reference import exact_gradient, gradient_agreement  # noqa: E402
from eqprop_hw.circuit.spec import load_spec, parse_spec  # noqa: E402
from eqprop_hw.learning.train import (conductance_bounds, crossbar_of, layer_gradient,  # noqa: E402
                                      learning_rates, settings_from, train)

#: A device's range: on/off ratio 100 (the spec's own range, 1e-8..1e-3 S, is effectively
#: unbounded for these networks).
DEVICE_RANGE = {"min": 1.0e-6, "max": 1.0e-4}
FINE = {"model": "constant_step", "states": 2048, "rounding": "stochastic"}
ADC = {"adc_bits": 8, "adc_range": [-2.0, 2.0]}
REALISTIC = {"model": "constant_step", "states": 64, "up_down": 0.1, "step_std": 0.1,
             "step_dtod": 0.05, "range_dtod": 0.05, "up_down_dtod": 0.05}

#: name -> (what it changes, devices section, other spec changes)
PROFILES = {
    "ideal": ("continuous updates, spec range 1e-8..1e-3 S", None, {}),
    "bounds": ("continuous updates in a 1e-6..1e-4 S device range", {}, {"range": True}),
    "quantized": ("64 states, nearest-pulse rounding", {"conductance": {
        "model": "constant_step", "states": 64}}, {"range": True}),
    "asymmetric": ("up/down asymmetry 0.2: up steps 1.2 dw, down 0.8 dw (fine steps)",
                   {"conductance": {**FINE, "up_down": 0.2}}, {"range": True}),
    "soft_bounds": ("soft bounds: the step shrinks to 0 at the bound it approaches "
                    "(fine steps)", {"conductance": {**FINE, "model": "soft_bounds"}},
                    {"range": True}),
    "cycle_noise": ("30% cycle-to-cycle step noise (fine steps)", {"conductance": {
        **FINE, "step_std": 0.3}}, {"range": True}),
    "device_variation": ("5% device-to-device spread of range, step and asymmetry",
                         {"conductance": {**FINE, "step_dtod": 0.05, "range_dtod": 0.05,
                                          "up_down_dtod": 0.05}}, {"range": True}),
    "read_noise": ("1 mV rms read noise on every measured voltage",
                   {"measurement": {"read_noise": 1e-3}}, {}),
    "adc": ("8-bit ADC over -2..2 V on every measured voltage", {"measurement": ADC}, {}),
    "wire_resistance": ("1 Ohm per row/column wire segment, read at the line ends "
                        "(iris, see notes)", {"measurement": {"at": "lines"}},
                        {"wires": {"row_conductance": 1.0, "column_conductance": 1.0},
                         "spec": "iris"}),
    "diode_1n4148": ("1N4148 datasheet diodes (IS 4.35 nA, N 1.906, RS 0.65 Ohm) instead of "
                     "IS 1e-14, N 1", {}, {"diode": "1N4148"}),
    "wire_resistance_digits": ("1 Ohm wire segments on digits, read at the line ends; "
                               "reference: EP read at the cells' own terminals (the software "
                               "reference's dense Hessian does not fit 28,150 nodes)",
                               {"measurement": {"at": "lines"}},
                               {"wires": {"row_conductance": 1.0, "column_conductance": 1.0},
                                "reference": "device_ep"}),
    "realistic": ("64 states, asymmetry 0.1, 10% cycle noise, 5% device "
                  "variation, 8-bit ADC, 1 mV read noise, 1N4148 diodes, nearest rounding",
                  {"conductance": REALISTIC, "measurement": {**ADC, "read_noise": 1e-3}},
                  {"range": True, "diode": "1N4148"}),
    "quantized+stochastic": ("mitigation: 64 states with stochastic pulse rounding",
                             {"conductance": {"model": "constant_step", "states": 64,
                                              "rounding": "stochastic"}}, {"range": True}),
    "read_noise+large_beta": ("mitigation: 1 mV read noise with beta 100x larger (centered)",
                              {"measurement": {"read_noise": 1e-3}}, {"beta_scale": 100.0}),
    "adc+large_beta": ("mitigation: 8-bit ADC with beta 100x larger (centered)",
                       {"measurement": ADC}, {"beta_scale": 100.0}),
    "realistic+mitigations": ("realistic with stochastic rounding and beta 100x larger",
                              {"conductance": {**REALISTIC, "rounding": "stochastic"},
                               "measurement": {**ADC, "read_noise": 1e-3}},
                              {"range": True, "beta_scale": 100.0, "diode": "1N4148"}),
    "realistic+mitigations_beta300": ("realistic+mitigations with beta 300x larger",
                                      {"conductance": {**REALISTIC, "rounding": "stochastic"},
                                       "measurement": {**ADC, "read_noise": 1e-3}},
                                      {"range": True, "beta_scale": 300.0, "diode": "1N4148"}),
    "realistic+mitigations_beta300+wires": (
        "realistic+mitigations_beta300 on a crossbar with 1 Ohm wire segments, read at the "
        "line ends (reference: EP at the cells' own terminals)",
        {"conductance": {**REALISTIC, "rounding": "stochastic"},
         "measurement": {**ADC, "read_noise": 1e-3, "at": "lines"}},
        {"range": True, "beta_scale": 300.0, "diode": "1N4148",
         "wires": {"row_conductance": 1.0, "column_conductance": 1.0}, "reference": "device_ep"}),
    "realistic+soft_bounds+mitigations": (
        "realistic+mitigations with soft-bound devices",
        {"conductance": {**REALISTIC, "model": "soft_bounds", "rounding": "stochastic"},
         "measurement": {**ADC, "read_noise": 1e-3}},
        {"range": True, "beta_scale": 100.0, "diode": "1N4148"}),
    # Device-aware update schemes (eqprop_hw/learning/schemes.py) on the unchanged realistic
    # devices and measurement.
    "realistic+accumulate": (
        "scheme: realistic with a per-cell accumulator (threshold 1 step), beta 300x",
        {"conductance": REALISTIC, "measurement": {**ADC, "read_noise": 1e-3},
         "update": {"scheme": "accumulate", "threshold": 1.0}},
        {"range": True, "beta_scale": 300.0, "diode": "1N4148"}),
    "realistic+accumulate+reads16": (
        "scheme: realistic+accumulate with 16 averaged reads per node and phase",
        {"conductance": REALISTIC, "measurement": {**ADC, "read_noise": 1e-3, "reads": 16},
         "update": {"scheme": "accumulate", "threshold": 1.0}},
        {"range": True, "beta_scale": 300.0, "diode": "1N4148"}),
    "realistic+accumulate+decay": (
        "scheme: realistic+accumulate with the learning rate decaying 0.85x per epoch",
        {"conductance": REALISTIC, "measurement": {**ADC, "read_noise": 1e-3},
         "update": {"scheme": "accumulate", "threshold": 1.0}},
        {"range": True, "beta_scale": 300.0, "diode": "1N4148", "lr_decay": 0.85}),
    "realistic+accumulate+layer_beta": (
        "scheme: realistic+accumulate with per-layer beta: 1000x on the input crossbar, 300x on "
        "the output crossbar",
        {"conductance": REALISTIC, "measurement": {**ADC, "read_noise": 1e-3},
         "update": {"scheme": "accumulate", "threshold": 1.0}},
        {"range": True, "beta_scale": 300.0, "layer_beta_scale": [1000.0, 300.0],
         "diode": "1N4148"}),
    "realistic+transfer": (
        "scheme: realistic with a Tiki-Taka-style fast array (gamma 0, 10 column groups, one "
        "read per minibatch, stochastic rounding of the pulses into A), beta 300x",
        {"conductance": {**REALISTIC, "rounding": "stochastic"},
         "measurement": {**ADC, "read_noise": 1e-3},
         "update": {"scheme": "transfer", "columns": 10}},
        {"range": True, "beta_scale": 300.0, "diode": "1N4148"}),
    "realistic+soft_bounds+transfer": (
        "scheme: realistic+transfer with soft-bound devices (A at its symmetric point)",
        {"conductance": {**REALISTIC, "model": "soft_bounds", "rounding": "stochastic"},
         "measurement": {**ADC, "read_noise": 1e-3},
         "update": {"scheme": "transfer", "columns": 10}},
        {"range": True, "beta_scale": 300.0, "diode": "1N4148"}),
    "realistic+soft_bounds+accumulate": (
        "scheme: realistic+accumulate with soft-bound devices",
        {"conductance": {**REALISTIC, "model": "soft_bounds"},
         "measurement": {**ADC, "read_noise": 1e-3},
         "update": {"scheme": "accumulate", "threshold": 1.0}},
        {"range": True, "beta_scale": 300.0, "diode": "1N4148"}),
    "realistic+soft_bounds+accumulate_read": (
        "scheme: realistic+soft_bounds+accumulate, the register counting each pulse as the "
        "nominal device model's change at the cell's read conductance (step_estimate read)",
        {"conductance": {**REALISTIC, "model": "soft_bounds"},
         "measurement": {**ADC, "read_noise": 1e-3},
         "update": {"scheme": "accumulate", "threshold": 1.0, "step_estimate": "read"}},
        {"range": True, "beta_scale": 300.0, "diode": "1N4148"}),
}

#: Extra state per cell of each scheme (for the table).
EXTRA_STATE = {"direct": "none", "accumulate": "1 register",
               "accumulate_read": "1 register + a conductance read",
               "transfer": "1 device (array A) + a read"}


def profile_spec(base: dict, name: str, seed: int | None = None):
    """The spec of one profile (learning rate rescaled so requested changes in S stay equal).

    ``seed``: one seed for everything random in the run (the training order and device
    noise, ``training.seed``; the initial conductances, ``conductance.seed``; the drawn
    device-to-device parameters, ``devices.seed``); None keeps the spec's (all 0).
    """
    _, devices, changes = PROFILES[name]
    data = copy.deepcopy(base[changes.get("spec", "digits")])
    devices = copy.deepcopy(devices)
    training = data["training"]
    if seed is not None:
        training["seed"] = data["conductance"]["seed"] = seed
        if devices is not None:
            devices["seed"] = seed
    if changes.get("range"):
        old_max = data["conductance"]["max"]
        data["conductance"].update(DEVICE_RANGE)
        low, high = data["conductance"]["init"]["low"], data["conductance"]["init"]["high"]
        data["conductance"]["init"].update(low=max(low, DEVICE_RANGE["min"]),
                                           high=min(high, DEVICE_RANGE["max"]))
        scale = (old_max / DEVICE_RANGE["max"]) ** 2      # eta g_max^2 unchanged
        rate = training["learning_rate"]
        training["learning_rate"] = ([r * scale for r in rate] if isinstance(rate, list)
                                     else rate * scale)
    if "lr_decay" in changes:
        training["lr_decay"] = changes["lr_decay"]
    if "layer_beta_scale" in changes:
        training["layer_beta"] = [training["beta"] * k for k in changes["layer_beta_scale"]]
    if "beta_scale" in changes:
        training["beta"] = training["beta"] * changes["beta_scale"]
    if "wires" in changes:
        data["wires"] = changes["wires"]
    if "diode" in changes:
        data["activation"]["model"] = changes["diode"]
    data["devices"] = devices
    return parse_spec(data, f"<device study: {name}>")


def update_agreement(spec, batches: int, seed: int, reference: str = "exact",
                     base_beta: float | None = None) -> dict:
    """Applied vs ideal conductance change over ``batches`` minibatches at the initial state.

    ``reference``: ``exact`` (the software reference's gradient), ``device_ep`` (centered EP
    at the profile's beta, read ideally at the cells' own terminals) or ``ideal_ep`` (the
    same at ``base_beta``, the network's own small beta: cosine >= 0.9999 to the exact
    gradient on digits, see the ``ideal`` row, at a fraction of its cost).
    """
    circuit = build_circuit(spec)
    dataset = load_dataset(spec, circuit)
    settings = settings_from(spec)
    g_min, g_max = conductance_bounds(spec, circuit)
    rates = learning_rates(settings, circuit, spec.source) * g_max ** 2
    rng = np.random.default_rng(seed)
    cosines, errors, applied_sum, ideal_sum, requested_sum = [], [], 0.0, 0.0, 0.0
    layers = crossbar_of(circuit)
    with make_backend("native", circuit) as engine:
        hardware = hardware_from_spec(spec, circuit, engine.node_names, g_min, g_max)
        probe = probe_for(hardware, circuit, engine.node_names)
        own_terminals = make_probe(circuit, engine.node_names)
        values = np.clip(np.array(circuit.trainable_values()), g_min, g_max)
        if hardware is not None:
            values = hardware.clip(values)
        engine.set_trainable(values)
        for _ in range(batches):
            rows = rng.choice(len(dataset.x_train), settings.batch_size, replace=False)
            x = dataset.x_train[rows]
            y = dataset.loss_targets(dataset.y_train[rows], settings.loss)
            if reference == "device_ep":     # centered EP at the cells' own terminals
                exact, _ = ep_gradient(engine, x, y, settings.beta, "centered", own_terminals)
            elif reference == "ideal_ep":    # ideal centered EP at the network's own beta
                exact, _ = ep_gradient(engine, x, y, base_beta, "centered", own_terminals)
            else:
                _, exact = exact_gradient(engine.circuit, x, y)
            ideal = np.clip(values - rates * exact, g_min, g_max) - values
            if hardware is None:
                estimate, _ = ep_gradient(engine, x, y, settings.beta, settings.nudge, probe)
                applied = np.clip(values - rates * estimate, g_min, g_max) - values
            elif settings.layer_beta:
                estimate = layer_gradient(lambda beta: measured_gradient(
                    engine, hardware, x, y, beta, settings.nudge, probe, rng), layers,
                    settings.layer_beta)
                applied = hardware.update(values, -rates * estimate, rng) - values
            else:
                estimate = measured_gradient(engine, hardware, x, y, settings.beta,
                                             settings.nudge, probe, rng)
                applied = hardware.update(values, -rates * estimate, rng) - values
            requested_sum = requested_sum - rates * estimate
            agreement = gradient_agreement(applied, ideal)
            # A minibatch in which no device moves has no direction: count it as cosine 0.
            cosines.append(agreement["cosine"] if np.any(applied) else 0.0)
            errors.append(agreement["rel_error"])
            applied_sum = applied_sum + applied
            ideal_sum = ideal_sum + ideal
    accumulated = gradient_agreement(applied_sum, ideal_sum)
    requested = gradient_agreement(requested_sum, ideal_sum)
    return {"cosine": float(np.mean(cosines)), "rel_error": float(np.mean(errors)),
            "cosine_requested_accumulated": requested["cosine"],
            "cosine_accumulated": accumulated["cosine"],
            "rel_error_accumulated": accumulated["rel_error"]}


def trained_metrics(spec, name: str, epochs: int, runs: Path | None, collect: bool,
                    seed: int | None = None) -> dict:
    """Train a profile (in ``runs/<name>`` when given, ``runs/<name>/seed<S>`` for an explicit
    seed, resuming a checkpoint found there), or with ``collect`` read the metrics a run there
    has written so far."""
    label = name if seed is None else f"{name} seed {seed}"

    def log(line):
        print(f"{label}: {line}", file=sys.stderr, flush=True)
    if runs is None:
        with tempfile.TemporaryDirectory() as folder:
            return train(spec, folder, epochs=epochs, progress=False, plots=False, log=log)
    folder = runs / name if seed is None else runs / name / f"seed{seed}"
    if collect:
        return json.loads((folder / "metrics.json").read_text())
    return train(spec, folder, epochs=epochs, resume=(folder / "checkpoint.npz").exists(),
                 progress=False, plots=False, log=log)


AGREEMENT_KEYS = ("cosine", "rel_error", "cosine_accumulated", "rel_error_accumulated",
                  "cosine_requested_accumulated", "agreement_batches")
#: Per-seed lists a row measured over several seeds carries (same order as ``seeds``).
SEED_KEYS = ("cosine_accumulated_seeds", "cosine_requested_accumulated_seeds")


def _row_head(name: str, spec) -> dict:
    """The name, description and settings of a profile's row."""
    return {"name": name, "what": PROFILES[name][0],
            "network": PROFILES[name][2].get("spec", "digits"),
            "settings": {"devices": spec.data["devices"],
                         "conductance": {"min": spec.data["conductance"]["min"],
                                         "max": spec.data["conductance"]["max"]},
                         "wires": spec.data.get("wires"),
                         "beta": spec.data["training"]["beta"],
                         "learning_rate": spec.data["training"]["learning_rate"],
                         "lr_decay": spec.data["training"]["lr_decay"],
                         "layer_beta": spec.data["training"]["layer_beta"]}}


def _train_row(row: dict, specs: dict, name: str, epochs: int, runs: Path | None,
               collect: bool) -> None:
    """Train (or collect) every seed of a profile and put the figures into ``row``: the
    accuracy at the last epoch every seed reached, ``test_accuracy`` the lowest of them."""
    network_epochs = epochs if row["network"] == "digits" else None
    per_seed = [trained_metrics(spec, name, network_epochs or spec.data["training"]["epochs"],
                                runs, collect, seed) for seed, spec in specs.items()]
    run_epochs = min(len(metrics["test_accuracy"]) for metrics in per_seed)
    accuracies = [metrics["test_accuracy"][run_epochs - 1] for metrics in per_seed]
    row.update(test_accuracy=min(accuracies), epochs=run_epochs,
               test_accuracy_curve=per_seed[0]["test_accuracy"][:run_epochs])
    if row.get("seeds") is not None:
        row["test_accuracy_seeds"] = accuracies
        row["test_accuracy_curves"] = [metrics["test_accuracy"] for metrics in per_seed]
        row["epochs_seeds"] = [len(metrics["test_accuracy"]) for metrics in per_seed]
    row["epoch_seconds"] = [second for metrics in per_seed
                            for second in (metrics.get("seconds") or [])[:run_epochs]] or None
    pulses = [metrics["pulses_per_cell"][run_epochs - 1] / run_epochs for metrics in per_seed
              if metrics.get("pulses_per_cell")]
    if pulses:
        row["pulses_per_cell_per_epoch"] = float(np.mean(pulses))


def run(names, epochs: int, batches: int, out: Path, train_models: bool,
        runs: Path | None = None, collect: bool = False, agreement: dict | None = None,
        reference_ep: bool = False, seeds: list[int] | None = None) -> list[dict]:
    """Rows of the profiles ``names``; with ``seeds``, each profile is measured and trained
    once per seed (:func:`profile_spec`) and the row carries the per-seed figures."""
    base = {"digits": load_spec(ROOT / "circuits" / "digits.yaml").data,
            "iris": load_spec(ROOT / "circuits" / "iris.yaml").data}
    rows = []
    for name in names:
        specs = ({None: profile_spec(base, name)} if seeds is None else
                 {seed: profile_spec(base, name, seed) for seed in seeds})
        spec = next(iter(specs.values()))
        started = time.perf_counter()
        row = _row_head(name, spec)
        if seeds is not None:
            row["seeds"] = list(seeds)
        reference = PROFILES[name][2].get("reference", "exact")
        row["reference"] = reference
        update = (spec.data["devices"] or {}).get("update") or {"scheme": "direct"}
        row["scheme"] = update["scheme"]
        row["extra_state_per_cell"] = EXTRA_STATE[
            "accumulate_read" if update.get("step_estimate") == "read" else update["scheme"]]
        if agreement is not None:     # measured before, by another run of this tool
            row.update({key: agreement[name][key] for key in
                        AGREEMENT_KEYS + SEED_KEYS + ("reference",) if key in agreement[name]})
        else:
            if reference_ep:
                reference = row["reference"] = "ideal_ep"
            measured = [update_agreement(one, batches, seed=1, reference=reference,
                                         base_beta=base[row["network"]]["training"]["beta"])
                        for one in specs.values()]
            row.update(measured[0], agreement_batches=batches)
            if seeds is not None:
                for key in SEED_KEYS:
                    row[key] = [one[key[:-len("_seeds")]] for one in measured]
        if train_models:
            _train_row(row, specs, name, epochs, runs, collect)
        row["seconds"] = time.perf_counter() - started
        rows.append(row)
        print(f"{name:24s} cos {row['cosine']:.4f} rel {row['rel_error']:.3f} "
              f"cos_acc {row['cosine_accumulated']:.4f} "
              f"cos_req_acc {row['cosine_requested_accumulated']:.4f} "
              f"pulses/cell/epoch {row.get('pulses_per_cell_per_epoch', float('nan')):.2f} "
              f"acc {row.get('test_accuracy', float('nan')):.4f} ({row['seconds']:.0f} s)",
              file=sys.stderr, flush=True)
    return rows


#: Notes on what a row shows (only for rows in the table).
ROW_NOTES = {
    "realistic+soft_bounds+accumulate_read": (
        "- `realistic+soft_bounds+accumulate_read` (`devices.update.step_estimate: read`, "
        "eqprop_hw/learning/schemes.py): before firing, the periphery reads the cell's "
        "conductance g and counts n pulses as the change the nominal soft-bounds model "
        "predicts, r (1 - (1 - q)^n) with r the room to the bound approached and q = 2 dw_min "
        "(1 +- up_down) / (g_max - g_min); it fires the most n whose change fits the register "
        "(never closer than dw_min/2 to a bound) and keeps the rest. Down requests near g_min "
        "then cost more pulses instead of being lost: 3.5 pulses/cell/epoch against 1.0, and "
        "the trained conductances end where the network wants them (seed 0: median 1.8e-6 S, "
        "at the dw_min/2 margin above g_min, where the up-step is 149 times the down-step; "
        "`python3 tools/soft_bounds_spread.py docs/results/device_study_runs/"
        "realistic+soft_bounds+accumulate_read/seed0/params.npz`). Extra hardware beyond the "
        "register: a conductance read of the device before it is pulsed (modelled exact) and "
        "the model lookup in the periphery; the device's own drawn range, step and asymmetry "
        "(5% spread) and its 10% cycle noise still differ from what the periphery assumes."),
    "realistic+accumulate+reads16": (
        "- `realistic+accumulate+reads16`: 16 averaged reads do not raise the agreement: 1 mV of "
        "read noise is far below the 16 mV ADC step, whose rounding of a steady voltage does "
        "not average out (`devices.measurement.reads`), while the ADC rounding is what the "
        "accumulator averages over samples already. Trained (seed 0, 20 epochs): 96.89%, "
        "inside `realistic+accumulate`'s 96.00-97.11% over three seeds: no gain for 16 times "
        "the reads."),
    "realistic+transfer": (
        "- `realistic+transfer` / `realistic+soft_bounds+transfer` (seed 0, 20 epochs): 91.11% "
        "/ 82.67%, below the accumulator's 96.00-97.11% / 96.44-97.11% (`step_estimate: read`), "
        "with a lower summed-update cosine (0.88 / 0.72 against 0.96 / 0.97, (b)) and about "
        "ten times its pulses (12.5 / 10.2 per cell and epoch against 1.2 / 3.5): A receives "
        "stochastically rounded pulses every minibatch, so its device noise and asymmetry act "
        "on every request, where the register acts on whole steps only. No transfer setting "
        "better than these was searched."),
    "realistic+accumulate+layer_beta": (
        "- `realistic+accumulate+layer_beta`: beta 1000x (2e-3 S) on the input crossbar is past "
        "where the centered estimate holds (the -beta phase puts a negative 2e-3 S conductance "
        "on every output, more than the network's own conductances): its summed update points "
        "away from the gradient. Per-layer beta is tested for its per-crossbar O(beta^2) bias "
        "(tests/test_device_schemes.py); no setting better than one beta was found here. "
        "Trained (seed 0): 59.11% after 16 epochs (10% for the first four, 59-73% from epoch "
        "11; stopped at 16 to free a core for the third seeds of the two best schemes). "
        "Output-error scaling is no separate scheme: scaling the squared-loss nudge current "
        "beta (y - V) by s and dividing the rule by s beta is beta -> s beta."),
}


def _timing_notes(rows: list[dict]) -> list[str]:
    """A note on the measured wall time per epoch of the rows that record it."""
    timed = [(row["name"], row["epoch_seconds"]) for row in rows if row.get("epoch_seconds")]
    if not timed:
        return []
    parts = ", ".join(f"`{name}` {min(seconds):.0f}-{max(seconds):.0f} s ({len(seconds)} "
                      f"epoch(s))" for name, seconds in timed)
    return [f"- Wall time per training epoch on the 2-core shared session machine, shared with "
            f"other sessions' jobs (load 5-20) while these ran at nice 10: {parts}. The "
            f"`epochs` column is what fitted in the session, not always the 20 asked for."]


def _number(value, digits: int) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _range(values: list, scale: float, digits: int, unit: str = "") -> str:
    """``min-max`` of per-seed figures (one value when they agree)."""
    low, high = min(values) * scale, max(values) * scale
    if f"{low:.{digits}f}" == f"{high:.{digits}f}":
        return f"{low:.{digits}f}{unit}"
    return f"{low:.{digits}f}-{high:.{digits}f}{unit}"


def _accuracy(row: dict) -> str:
    """The test accuracy cell: one run, or ``min-max% (n seeds)``."""
    seeds = row.get("test_accuracy_seeds")
    if seeds and len(seeds) > 1:
        return f"{_range(seeds, 100, 2, '%')} ({len(seeds)} seeds)"
    accuracy = row.get("test_accuracy")
    return "n/a" if accuracy is None else f"{100 * accuracy:.2f}%"


def _cos_acc(row: dict, mark: str) -> str:
    """The accumulated-cosine cell: one value, or the range over seeds."""
    seeds = row.get("cosine_accumulated_seeds")
    if seeds and len(seeds) > 1:
        return f"{_range(seeds, 1, 4)}{mark}"
    return f"{row['cosine_accumulated']:.4f}{mark}"


def _seed_notes(rows: list[dict]) -> list[str]:
    """A note per row trained over several seeds: each seed's figure, and how far the seeds
    that ran longer got."""
    notes = []
    for row in rows:
        seeds = row.get("seeds")
        if not seeds or not row.get("test_accuracy_seeds"):
            continue
        parts = []
        for seed, accuracy, curve in zip(seeds, row["test_accuracy_seeds"],
                                         row.get("test_accuracy_curves") or [[]] * len(seeds)):
            text = f"seed {seed} {100 * accuracy:.2f}%"
            if len(curve) > row["epochs"]:
                text += f" ({100 * curve[-1]:.2f}% at epoch {len(curve)})"
            parts.append(text)
        cosines = row.get("cosine_accumulated_seeds")
        cos_text = (f"; `cos acc.` per seed " + ", ".join(f"{value:.4f}" for value in cosines)
                    if cosines and len(cosines) > 1 else "")
        which = ("seeds " if len(seeds) > 1 else "seed ") + ", ".join(map(str, seeds))
        notes.append(f"- `{row['name']}` over {which} (each seed "
                     f"sets the training order and device noise, the initial conductances and "
                     f"the drawn device-to-device parameters): test accuracy at epoch "
                     f"{row['epochs']}: {'; '.join(parts)}{cos_text}.")
    return notes


def _pulses(row: dict) -> str:
    value = row.get("pulses_per_cell_per_epoch")
    return "n/a" if value is None else f"{value:.1f}"


def write_results(rows: list[dict], out: Path, commands: list[str]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "device_study.json", json.dumps(
        {"commands": commands, "rows": rows}, indent=1) + "\n")
    measured = " then ".join(f"`{command}`" for command in commands)
    lines = ["# Device study: hardware-local updates under device limits", "",
             f"Measured by {measured}. `cosine` / `rel_error`: the conductance change the "
             "devices apply for one minibatch against the ideal step with the exact gradient "
             "(mean over minibatches at the initial conductances); `cos acc.`: the sum of those "
             "updates against the sum of the ideal ones. `test acc.`: after training with the "
             "profile (native backend).", "",
             "| profile | network | what | cosine | rel_error | cos acc. | test acc. | epochs "
             "| pulses/cell/epoch | extra state/cell |",
             "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for row in rows:
        mark = " (b)" if row.get("reference") == "ideal_ep" else ""
        lines.append(f"| `{row['name']}` | {row['network']} | {row['what']} | "
                     f"{row['cosine']:.4f}{mark} | {row['rel_error']:.3f}{mark} | "
                     f"{_cos_acc(row, mark)} | {_accuracy(row)} | "
                     f"{row.get('epochs', 'n/a')} | {_pulses(row)} | "
                     f"{row.get('extra_state_per_cell', 'none')} |")
    whole = [row for row in rows if row.get("epoch_agreement")]
    if whole:
        lines += ["", "Agreement summed over one epoch of minibatches (at the initial "
                  "conductances; the schemes' registers carry over from minibatch to "
                  "minibatch), against ideal centered EP at the network's own beta (2e-6 S; "
                  "cosine >= 0.9999 to the exact gradient, `ideal` row). `requested`: the "
                  "summed requests -eta g_max^2 dL/dg before the devices; `applied`: what the "
                  "devices did.", "",
                  "| profile | minibatches | applied cosine | applied rel. error | "
                  "requested cosine |", "| --- | ---: | ---: | ---: | ---: |"]
        for row in whole:
            agreement = row["epoch_agreement"]
            applied = agreement.get("cosine_accumulated_seeds")
            applied = (f"{_range(applied, 1, 4)} ({len(applied)} seeds)"
                       if applied and len(applied) > 1
                       else f"{agreement['cosine_accumulated']:.4f}")
            lines.append(f"| `{row['name']}` | {agreement['agreement_batches']} | "
                         f"{applied} | "
                         f"{_number(agreement['rel_error_accumulated'], 3)} | "
                         f"{agreement['cosine_requested_accumulated']:.4f} |")
    lines += ["", "Notes:", "",
              "- Every device row after `bounds` uses the 1e-6..1e-4 S device range (on/off "
              "ratio 100) with the learning rate rescaled so that the requested change in S is "
              "the same as in `ideal`; `FINE` rows use 2048 states with stochastic rounding so "
              "that only the named effect acts.",
              "- At the beta that suits T = 0 EP (2e-6 S) the nudge moves hidden nodes by about "
              "30 uV and outputs by 0.1-4 mV: far below 1 mV of read noise or a 16 mV ADC step. "
              "That is why `read_noise`, `adc` and `realistic` do not learn at all, and why a "
              "larger centered beta (bias O(beta^2), cosine 0.9997 at 100x without noise) is the "
              "mitigation that helps most there.",
              "- Requested changes are 0.05-0.3 of a 64-state step: nearest rounding drops most "
              "of them (`quantized`); stochastic rounding keeps them on average "
              "(`cos acc.` 0.15 -> 0.86).",
              "- Soft bounds cost most among the device effects (`soft_bounds`, and with "
              "everything else `realistic+soft_bounds+mitigations`): the network wants small "
              "conductances, and there a soft-bounds device's down-step is far smaller than its "
              "up-step. Trained on constant-step devices (`realistic+accumulate` seed 1, 20 "
              "epochs), 62% of the conductances end below 1e-5 S (median 5.5e-6 S), where the "
              "up-step is 12 times the down-step or more (median over all conductances 26 "
              "times; `python3 tools/soft_bounds_spread.py "
              "docs/results/device_study_runs/realistic+accumulate/seed1/params.npz`). A "
              "register that counts every pulse as one nominal step fires as many pulses down "
              "as up for balanced requests, so the device climbs to its symmetric point (5.6e-5 "
              "S): on a 1e-6..1.01e-4 S, 101-state device, +-1 step alternating from 1e-5 S ends "
              "at 5.55e-5 S after 200 pairs (closed form, tests/test_device_schemes.py), and "
              "requests to go down are mostly lost.",
              "- Scheme rows (`scheme:`, `devices.update`, see eqprop_hw/learning/schemes.py and "
              "docs/specs.md) keep the `realistic` devices and measurement unchanged and use "
              "beta 300x (6e-4 S, centered). `pulses/cell/epoch`: pulses a device received per "
              "training epoch, averaged over devices (energy and wear); `extra state/cell`: what "
              "each cell's periphery holds beyond the device. An accumulator fires in few "
              "minibatches, so its per-minibatch `cosine` (a minibatch without pulses counts as "
              "0) says little; `cos acc.` is its figure.",
              "- (b): measured against ideal centered EP at the network's own beta (2e-6 S, "
              "cosine >= 0.9999 to the exact gradient) over the `agreement_batches` minibatches "
              "of the JSON, instead of the exact gradient over 16 (its dense Hessian costs about "
              "2 CPU-s a minibatch on digits).",
              *_timing_notes(rows),
              *_seed_notes(rows),
              *[ROW_NOTES[row["name"]] for row in rows if row["name"] in ROW_NOTES],
              "- `wire_resistance` runs on iris, where the software reference's dense Hessian "
              "fits; rows with `reference: device_ep` in the JSON compare with centered EP read "
              "at the cells' own terminals instead of the exact gradient (digits with wires has "
              "28,150 nodes)."]
    atomic_write_text(out / "device_study.md", "\n".join(lines) + "\n")
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    figure, axes = plt.subplots(1, 2, figsize=(12, 0.3 * len(rows) + 2.0), sharey=True)
    names = [row["name"] for row in rows]
    positions = np.arange(len(rows))
    axes[0].barh(positions, [row["cosine"] for row in rows], label="per update")
    axes[0].barh(positions, [row["cosine_accumulated"] for row in rows], height=0.35,
                 label="accumulated")
    axes[0].set_yticks(positions, names)
    axes[0].set_xlabel("cosine(applied update, exact-gradient step)")
    axes[0].invert_yaxis()                          # shared: the right panel follows
    axes[0].legend(loc="upper center", bbox_to_anchor=(0.5, -0.09), ncol=2)   # below the axes
    axes[0].set_title("applied update vs the exact-gradient step")
    accuracy = [100 * (row.get("test_accuracy") or 0.0) for row in rows]
    axes[1].barh(positions, accuracy, color="tab:green")
    axes[1].set_xlabel("test accuracy after training (%)")
    axes[1].set_xlim(0, 100)
    axes[1].set_title("test accuracy after training (digits; iris for wire_resistance)")
    figure.tight_layout()
    figure.savefig(out / "device_study.png", dpi=110)
    plt.close(figure)
    figure, axis = plt.subplots(figsize=(11, 4.8))
    colours = iter(plt.get_cmap("tab20").colors)
    for row in rows:
        curves = row.get("test_accuracy_curves") or [row.get("test_accuracy_curve")]
        if curves[0] and row["network"] == "digits" and (row["name"].startswith("realistic")
                                                         or row["name"] == "ideal"):
            style = "-" if row.get("scheme", "direct") != "direct" else "--"
            for index, curve in enumerate(curves):
                line, = axis.plot(range(1, len(curve) + 1), [100 * value for value in curve],
                                  marker=".", linestyle=style, linewidth=1,
                                  label=row["name"] if index == 0 else None,
                                  color=next(colours) if index == 0 else line.get_color())
    axis.set_xlabel("epoch")
    axis.set_ylabel("digits test accuracy (%)")
    axis.set_title("digits test accuracy per epoch: device profiles (dashed) and schemes (solid)")
    if axis.lines:                                  # beside the axes: it covers no curve
        axis.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    axis.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(out / "device_study_curves.png", dpi=110)
    plt.close(figure)


def read_agreement(path: Path, batches: int | None) -> dict:
    """Agreement rows by profile name from a device_study.json, or from the stderr log of a
    run of this tool (its lines ``name cos C rel R cos_acc A cos_req_acc Q ...``: 4 decimals,
    no accumulated rel. error; ``batches`` minibatches, reference as the log's run had it)."""
    if path.suffix == ".json":
        return {row["name"]: row for row in json.loads(path.read_text())["rows"]}
    rows = {}
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) >= 9 and parts[1:9:2] == ["cos", "rel", "cos_acc", "cos_req_acc"]:
            rows[parts[0]] = {"cosine": float(parts[2]), "rel_error": float(parts[4]),
                              "cosine_accumulated": float(parts[6]),
                              "cosine_requested_accumulated": float(parts[8]),
                              "rel_error_accumulated": None, "agreement_batches": batches,
                              "reference": "ideal_ep"}
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10, help="digits training epochs")
    parser.add_argument("--batches", type=int, default=16,
                        help="minibatches for the update agreement")
    parser.add_argument("--only", help="comma-separated profile names")
    parser.add_argument("--no-train", action="store_true", help="update agreement only")
    parser.add_argument("--out", default=str(ROOT / "docs" / "results"))
    parser.add_argument("--runs", help="train each profile in RUNS/<name> (kept; a checkpoint "
                        "there is resumed)")
    parser.add_argument("--collect", action="store_true",
                        help="with --runs: no training, rows from the epochs done so far")
    parser.add_argument("--agreement-from", help="take the update agreement of each profile "
                        "from this device_study.json instead of measuring it")
    parser.add_argument("--reference-ep", action="store_true",
                        help="compare with ideal centered EP at the network's own beta instead "
                        "of the exact gradient (cheaper: for agreement over a whole epoch)")
    parser.add_argument("--epoch-agreement-from", help="a device_study.json measured with "
                        "--no-train --reference-ep --batches N: its agreement is listed per "
                        "profile as the agreement over N minibatches")
    parser.add_argument("--log-batches", type=int, help="minibatches behind an agreement "
                        "read from a log (the stderr of a --no-train run stopped before it "
                        "wrote its JSON)")
    parser.add_argument("--epoch-log-batches", type=int, help="the same for "
                        "--epoch-agreement-from")
    parser.add_argument("--merge", action="store_true",
                        help="keep the other rows of an existing device_study.json in --out")
    parser.add_argument("--seeds", help="comma-separated seeds: each profile is measured and "
                        "trained once per seed (training order, initial conductances and "
                        "device draws all from that seed) and its row reports the range")
    args = parser.parse_args(argv)
    seeds = None
    if args.seeds:
        try:
            seeds = [int(text) for text in args.seeds.split(",")]
        except ValueError:
            parser.error(f"--seeds must be comma-separated integers, got {args.seeds!r}")
        if any(seed < 0 for seed in seeds) or len(set(seeds)) != len(seeds):
            parser.error(f"--seeds must be distinct integers >= 0, got {args.seeds!r}")
    names = args.only.split(",") if args.only else list(PROFILES)
    unknown = [name for name in names if name not in PROFILES]
    if unknown:
        parser.error(f"unknown profile(s) {', '.join(unknown)} (choose from "
                     f"{', '.join(PROFILES)})")
    out = Path(args.out)
    agreement = None
    if args.agreement_from:
        agreement = read_agreement(Path(args.agreement_from), args.log_batches)
    rows = run(names, args.epochs, args.batches, out, not args.no_train,
               Path(args.runs) if args.runs else None, args.collect, agreement,
               args.reference_ep, seeds)
    command = "python3 tools/study_devices.py " + " ".join(argv if argv is not None
                                                              else sys.argv[1:])
    commands = [command.strip()]
    if args.merge and (out / "device_study.json").exists():
        previous = json.loads((out / "device_study.json").read_text())
        fresh = {row["name"]: row for row in rows}
        rows = [fresh.pop(row["name"], row) for row in previous["rows"]] + list(fresh.values())
        rows.sort(key=lambda row: list(PROFILES).index(row["name"])
                  if row["name"] in PROFILES else len(PROFILES))
        earlier = previous.get("commands") or [previous.get("command")]
        earlier = [c for c in earlier if c]
        # a re-run of the last command (e.g. to redraw) is listed once
        commands = earlier + [c for c in commands if not earlier or c != earlier[-1]]
    if args.epoch_agreement_from:
        measured = read_agreement(Path(args.epoch_agreement_from), args.epoch_log_batches)
        for row in rows:
            if row["name"] in measured:
                row["epoch_agreement"] = {key: measured[row["name"]].get(key) for key in
                                          AGREEMENT_KEYS + SEED_KEYS + ("reference",)}
    write_results(rows, out, commands)
    return 0


if __name__ == "__main__":
    sys.exit(main())
