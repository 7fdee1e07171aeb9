"""Training LC networks with the echo rule (Hamiltonian Echo Learning), in ngspice or native.

Every update comes from echo measurements only: per sequence, one forward run and two echo runs
(centered) or one (one-sided, plus the un-nudged echo); each trainable element's integrated
local quantity gives its gradient estimate. Parameters move by Adam on log-values (the
estimates are multiplied by the values: a relative, unit-free step), clipped to
``[min_fraction, max_fraction]`` times their initial values.

Data sets (``dataset.name``):

- ``teacher``: a teacher network of the same topology whose trainable values are the
  student's times ``exp(perturbation * N(0, 1))``; ``samples`` input sequences (sines of random
  frequency 2-6 MHz and phase, amplitude of the spec's first input); the targets are the
  teacher's outputs sampled every 10 grid steps (a PWL waveform, exactly what ngspice plays).
- ``sequence``: a small real-data sequence task: rows of scikit-learn's 8x8 digits (pen
  intensities, 64 samples per image) played as an input current; the target is the same
  sequence delayed by ``delay_fraction`` of the window (default 1/4), as a flux (a delay-line
  memory task).
- ``duffing``: nonlinear system identification. The input is a multi-sine (three sines of
  random frequency 1-6 MHz and phase, total amplitude ``amplitude``, played as a PWL of
  ``TARGET_STRIDE`` grid steps); the target is the flux of a fixed lossless Duffing filter
  ``x'' = w0^2 (inductance * u - x - x^3 / phi_nl^2)``, ``w0 = 2 pi frequency``, integrated
  with classical RK4 on a 20x finer grid (independent of the network's leapfrog integrator).
  ``test_samples`` held-out sequences use seed ``seed + 1000``.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np

from eqprop_hw.fileio import atomic_write_text
from eqprop_hw.lc.bptt import agreement, bptt_gradient
from eqprop_hw.lc.echo import hel_gradient
from eqprop_hw.lc.integrate import integrate
from eqprop_hw.lc.model import LCModel, build_model, waveform_values

TARGET_STRIDE = 10


def duffing_response(u, dt: float, frequency: float, inductance: float, phi_nl: float,
                     substeps: int = 20) -> np.ndarray:
    """Flux of the Duffing filter ``x'' = w0^2 (inductance u - x - x^3/phi_nl^2)`` from rest.

    ``u`` (A) is sampled every ``dt`` and interpolated linearly; classical RK4 with
    ``substeps`` steps per sample.
    """
    w0sq = (2 * math.pi * frequency) ** 2
    h = dt / substeps
    x = v = 0.0
    y = np.zeros(len(u))

    def accel(x, current):
        return w0sq * (inductance * current - x - x ** 3 / phi_nl ** 2)

    for i in range(len(u) - 1):
        du = (u[i + 1] - u[i]) / substeps
        for k in range(substeps):
            c0 = u[i] + k * du
            c1 = c0 + 0.5 * du
            c2 = c0 + du
            a1 = accel(x, c0)
            x2, v2 = x + 0.5 * h * v, v + 0.5 * h * a1
            a2 = accel(x2, c1)
            x3, v3 = x + 0.5 * h * v2, v + 0.5 * h * a2
            a3 = accel(x3, c1)
            x4, v4 = x + h * v3, v + h * a3
            a4 = accel(x4, c2)
            x, v = (x + h / 6 * (v + 2 * v2 + 2 * v3 + v4),
                    v + h / 6 * (a1 + 2 * a2 + 2 * a3 + a4))
        y[i + 1] = x
    return y


def lc_dataset(spec, model: LCModel | None = None, waveforms: bool = False,
               split: str = "train"):
    """Input and target sequences of an lc spec's dataset.

    Returns
    -------
    inputs : ndarray (S, steps+1, n_in)
        Input currents (A) on the grid.
    targets : ndarray (S, steps+1, n_out)
        Targets (Wb or A) on the grid.
    split : {"train", "test"}
        ``test``: the ``test_samples`` held-out sequences (``duffing`` only).
    (input_waves, target_waves) : S lists of waveform dicts, when ``waveforms``
    """
    model = model or build_model(spec)
    data = spec.data["dataset"]
    if data is None:
        raise ValueError(f"spec {spec.name!r} has no dataset")
    if split == "test" and not (data["name"] == "duffing" and data.get("test_samples")):
        raise ValueError(f"spec {spec.name!r} has no test split")
    test = split == "test"
    rng = np.random.default_rng(data["seed"] + (1000 if test else 0))
    times = model.times
    if data["name"] == "teacher":
        theta0 = model.theta0()
        teacher = model.with_theta(theta0 * np.exp(data["perturbation"]
                                                   * rng.standard_normal(theta0.size)))
        amplitude = data["amplitude"] or (model.src_waveforms[0].get("amplitude", 5e-3)
                                          if model.src_waveforms else 5e-3)
        input_waves, target_waves, inputs, targets = [], [], [], []
        for _ in range(data["samples"]):
            waves = [{"type": "sine", "amplitude": amplitude,
                      "frequency": data["frequency"] or float(rng.uniform(2e6, 6e6)),
                      "phase": float(rng.uniform(0, 2 * math.pi)), "offset": 0.0,
                      "delay": 0.0} for _ in model.src_names]
            u = np.stack([waveform_values(w, times) for w in waves], axis=1)
            out = integrate(teacher, inputs=u, store=False).outputs[:, 0]
            coarse = list(range(0, model.steps + 1, TARGET_STRIDE))
            if coarse[-1] != model.steps:
                coarse.append(model.steps)
            tw = [{"type": "pwl", "points": [[float(times[i]), float(out[i, k])] for i in coarse]}
                  for k in range(len(model.outputs))]
            input_waves.append(waves)
            target_waves.append(tw)
            inputs.append(u)
            targets.append(np.stack([waveform_values(w, times) for w in tw], axis=1))
    elif data["name"] == "sequence":
        from sklearn.datasets import load_digits
        images = load_digits().data / 16.0
        order = rng.permutation(len(images))[:data["samples"]]
        amplitude = data["amplitude"] or 5e-3
        delay = int(round(data.get("delay_fraction", 0.25) * model.steps))
        input_waves, target_waves, inputs, targets = [], [], [], []
        for index in order:
            seq = images[index]
            knots = np.linspace(0, model.tstop, seq.size)
            u = np.interp(times, knots, amplitude * (seq - seq.mean()))
            u_cols = np.stack([u] * len(model.src_names), axis=1)
            y = np.zeros((model.steps + 1, len(model.outputs)))
            scale = 1e-8 / amplitude
            y[delay:] = scale * u[:model.steps + 1 - delay, None]
            points = [[float(t), float(v)] for t, v in zip(knots, amplitude * (seq - seq.mean()))]
            input_waves.append([{"type": "pwl", "points": points} for _ in model.src_names])
            target_waves.append(y)
            inputs.append(u_cols)
            targets.append(y)
    elif data["name"] == "duffing":
        amplitude = data["amplitude"] or 5e-3
        coarse = list(range(0, model.steps + 1, TARGET_STRIDE))
        if coarse[-1] != model.steps:
            coarse.append(model.steps)
        input_waves, target_waves, inputs, targets = [], [], [], []
        for _ in range(data["test_samples"] if test else data["samples"]):
            freqs = rng.uniform(1e6, 6e6, 3)
            phases = rng.uniform(0, 2 * math.pi, 3)
            knots = times[coarse]
            values = amplitude / 3 * np.sin(2 * math.pi * freqs[:, None] * knots[None, :]
                                            + phases[:, None]).sum(axis=0)
            iw = [{"type": "pwl", "points": [[float(t), float(v)] for t, v in zip(knots, values)]}
                  for _ in model.src_names]
            u = np.stack([waveform_values(w, times) for w in iw], axis=1)
            y = duffing_response(u[:, 0], float(times[1] - times[0]),
                                 data["frequency"] or 4e6, data["inductance"], data["phi_nl"])
            tw = [{"type": "pwl", "points": [[float(times[i]), float(y[i])] for i in coarse]}
                  for _ in model.outputs]
            input_waves.append(iw)
            target_waves.append(tw)
            inputs.append(u)
            targets.append(np.stack([waveform_values(w, times) for w in tw], axis=1))
    else:
        raise ValueError(f"unknown lc dataset {data['name']!r}")
    inputs, targets = np.stack(inputs), np.stack(targets)
    if waveforms:
        return inputs, targets, (input_waves, target_waves)
    return inputs, targets


class _Adam:
    def __init__(self, size, rate, beta1=0.9, beta2=0.999, eps=1e-12):
        self.m = np.zeros(size)
        self.v = np.zeros(size)
        self.t = 0
        self.rate, self.beta1, self.beta2, self.eps = rate, beta1, beta2, eps

    def step(self, grad):
        self.t += 1
        self.m = self.beta1 * self.m + (1 - self.beta1) * grad
        self.v = self.beta2 * self.v + (1 - self.beta2) * grad * grad
        m = self.m / (1 - self.beta1 ** self.t)
        v = self.v / (1 - self.beta2 ** self.t)
        return -self.rate * m / (np.sqrt(v) + self.eps * np.sqrt(np.max(v) + 1e-300))


def train_lc(spec, out_dir, backend: str = "native", epochs: int | None = None,
             seed: int | None = None, params: dict | None = None, plots: bool = True,
             log=None, check_every: int = 0) -> dict:
    """Train an lc spec on its dataset with the echo rule.

    Parameters
    ----------
    spec : Spec
        With ``dataset`` (teacher, sequence or duffing); ``training`` optional. A ``duffing``
        dataset with ``test_samples`` also reports ``test_loss_initial``, ``test_loss`` and
        ``test_loss_ratio`` (held-out sequences, native forward runs).
    out_dir : str or Path
        Receives ``params.json``, ``metrics.json`` and the plots.
    backend : {"native", "ngspice"}
        Where the forward and echo runs happen (ngspice: the shared library, one circuit
        loaded once with all sequences as a bank; only ``alter`` + ``tran`` per run).
    epochs, seed : int, optional
        Override the spec's ``training`` values.
    check_every : int
        Every this many epochs also record the cosine of the echo estimate with BPTT.

    Returns
    -------
    dict
        The metrics (also written to ``metrics.json``).
    """
    from eqprop_hw.lc.cli import default_beta
    from eqprop_hw.params import save_params
    log = log or (lambda message: None)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model = build_model(spec)
    if params:
        model = model.with_values(params)
    training = dict(spec.data.get("training") or {})
    epochs = epochs or training.get("epochs", 50)
    rate = training.get("learning_rate", 0.05)
    nudge = training.get("nudge", "centered")
    decay = training.get("lr_decay", 1.0)
    beta = training.get("beta") or default_beta(model)
    inputs, targets, (input_waves, target_waves) = lc_dataset(spec, model, waveforms=True)
    held_out = None
    if spec.data["dataset"].get("test_samples") and spec.data["dataset"]["name"] == "duffing":
        held_out = lc_dataset(spec, model, split="test")
    theta0 = model.theta0()
    low = theta0 * training.get("min_fraction", 0.1)
    high = theta0 * training.get("max_fraction", 10.0)
    theta = theta0.copy()
    adam = _Adam(theta.size, rate)
    ng = None
    if backend == "ngspice":
        from eqprop_hw.lc.ngspice import LCNgspice
        ng = LCNgspice(model)
        ng.load_bank(input_waves, target_waves)
    metrics = {"epochs": [], "train_loss": [], "cosine": [], "backend": backend, "beta": beta,
               "nudge": nudge, "samples": int(inputs.shape[0]), "seconds": 0.0,
               "train_accuracy": None, "test_accuracy": None, "test_loss": None}

    def test_loss(values):
        return float(sum(integrate(model.with_theta(values), inputs=held_out[0][s],
                                   loss_targets=held_out[1][s], store=False).loss.sum()
                         for s in range(held_out[0].shape[0])))

    if held_out is not None:
        metrics["test_loss_initial"] = test_loss(theta)
    start = time.perf_counter()
    try:
        for epoch in range(epochs + 1):
            total_loss, total_grad = 0.0, np.zeros(theta.size)
            for s in range(inputs.shape[0]):
                if ng is not None:
                    loss, estimate = ng.hel_gradient(None, beta, nudge, sample=s)
                else:
                    loss, estimate = hel_gradient(model.with_theta(theta), inputs=inputs[s],
                                                  targets=targets[s], beta=beta, nudge=nudge)
                total_loss += loss
                total_grad += estimate
            cosine = None
            if check_every and epoch % check_every == 0:
                ref = sum(bptt_gradient(model.with_theta(theta), inputs=inputs[s],
                                        targets=targets[s])[1] for s in range(inputs.shape[0]))
                cosine = agreement(total_grad, ref)["cosine"]
            metrics["epochs"].append(epoch)
            metrics["train_loss"].append(total_loss)
            metrics["cosine"].append(cosine)
            log(f"epoch {epoch}: loss {total_loss:.4g}" +
                (f", cos(echo, BPTT) {cosine:.6f}" if cosine is not None else ""))
            if epoch == epochs:
                break
            adam.rate = rate * decay ** epoch
            theta = np.clip(theta * np.exp(adam.step(theta * total_grad)), low, high)
            if ng is not None:
                ng.set_theta(theta)
    finally:
        if ng is not None:
            ng.close()
    metrics["seconds"] = time.perf_counter() - start
    metrics["loss_ratio"] = metrics["train_loss"][0] / metrics["train_loss"][-1]
    if held_out is not None:
        metrics["test_loss"] = test_loss(theta)
        metrics["test_loss_ratio"] = metrics["test_loss_initial"] / metrics["test_loss"]
    values = dict(zip(model.trainable, theta.tolist()))
    save_params(out / "params.json", values)
    atomic_write_text(out / "metrics.json", json.dumps(metrics, indent=1) + "\n")
    if plots:
        from eqprop_hw.lc.plots import plot_lc_training
        plot_lc_training(out, model, theta0, theta, inputs, targets, metrics)
    return metrics
