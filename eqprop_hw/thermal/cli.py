"""The finite-temperature modes of ``eqprop-hw simulate`` and ``eqprop-hw grad``.

``--temperature T`` (W, the units of the energy: states follow ``p ∝ exp(-E_beta/T)``) with the
squared loss, or a spec's top-level ``temperature:``, switches both commands to sampling
(:mod:`eqprop_hw.thermal.gibbs`). The cross-entropy loss's softmax temperature (V) is
``--softmax-temperature``; ``--temperature`` with the cross-entropy loss still means the softmax
temperature for one release, with a deprecation warning on stderr
(:class:`TemperatureAction`, :func:`gibbs_temperature`). Finite-temperature sampling is refused
with the cross-entropy loss (squared loss only).

Samplers: ``--backend native`` uses the exact Gaussian sampler for linear networks,
Metropolis-Hastings around the Laplace approximation (:class:`eqprop_hw.thermal.gibbs.LaplaceSampler`)
for nonlinear ones, or Langevin dynamics (MALA) of the spec's ``node_capacitance`` when it gives
one; ``--backend ngspice`` runs noisy transients
(:mod:`eqprop_hw.thermal.ngspice`).
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from eqprop_hw.errors import CircuitError, EqpropError
from eqprop_hw.learning.reference import EnergyModel
from eqprop_hw.thermal import gibbs as th

DEFAULT_SAMPLES = 4096


class ThermalUsageError(EqpropError):
    """Finite-temperature options that do not fit together."""


DEPRECATION = ("warning: --temperature with the cross-entropy loss is deprecated and will "
               "mean the Gibbs temperature T (W) only; use --softmax-temperature TAU for the "
               "softmax temperature (V)")


class TemperatureAction(argparse.Action):
    """``--temperature``: the Gibbs temperature T (W) in ``args.gibbs_temperature``.

    Until the deprecation ends it is also copied to ``args.temperature`` (the softmax
    temperature the loss reads) unless ``--softmax-temperature`` is given (see
    :func:`gibbs_temperature` for the warning). With ``gibbs=False`` (commands
    without finite-temperature modes: export, predict, check) ``--temperature`` is only the
    deprecated softmax alias, and the warning is printed at once."""

    def __init__(self, option_strings, dest, gibbs: bool = True, **kwargs):
        self.gibbs = gibbs
        super().__init__(option_strings, dest, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        namespace.gibbs_temperature = values
        if getattr(namespace, "softmax_temperature", None) is None:
            namespace.temperature = values
            if not self.gibbs:
                print(f"{parser.prog}: {DEPRECATION}", file=sys.stderr)


class SoftmaxTemperatureAction(argparse.Action):
    """``--softmax-temperature``: the cross-entropy loss's softmax temperature (V), in
    ``args.temperature`` (where the loss settings read it) and ``args.softmax_temperature``."""

    def __call__(self, parser, namespace, values, option_string=None):
        namespace.softmax_temperature = values
        namespace.temperature = values


def gibbs_temperature(args, spec, loss: str) -> float | None:
    """The Gibbs temperature T (W) asked for, or None for the deterministic (T = 0) commands.

    With the cross-entropy loss, a ``--temperature`` without ``--softmax-temperature`` is the
    deprecated softmax temperature: a one-line warning goes to stderr."""
    asked = getattr(args, "samples", None) is not None or \
        getattr(args, "estimator", None) is not None
    given = getattr(args, "gibbs_temperature", None)
    if given is None and not hasattr(args, "gibbs_temperature"):    # a namespace built by hand
        given = getattr(args, "temperature", None)
    legacy = loss != "squared" and given is not None and \
        getattr(args, "softmax_temperature", None) is None
    if legacy:
        print(f"eqprop-hw: {DEPRECATION}", file=sys.stderr)
    temperature = None
    if loss == "squared" and given is not None:
        temperature = float(given)
    elif spec is not None and spec.data.get("temperature") is not None:
        temperature = float(spec.data["temperature"])
    if loss != "squared" and (asked or (spec is not None and spec.data.get("temperature")) or
                              (given is not None and not legacy)):
        raise ThermalUsageError("finite-temperature sampling supports the squared loss only "
                                "(the softmax temperature of the cross-entropy loss is "
                                "--softmax-temperature)")
    if asked and temperature is None:
        raise ThermalUsageError("--samples/--estimator need a Gibbs temperature: give "
                                "--temperature T (W) or a spec's top-level 'temperature:'")
    return temperature


def make_sampler(backend_name: str, circuit, temperature: float, spec=None, backend=None):
    """A sampler for a circuit: (sampler, model, backend to close or None)."""
    capacitance = None if spec is None else spec.data.get("node_capacitance")
    model = EnergyModel(circuit)
    if backend_name == "ngspice":
        from eqprop_hw.backends import make_backend
        from eqprop_hw.thermal.ngspice import NgspiceSampler
        owned = backend is None
        backend = backend or make_backend("ngspice", circuit)
        return NgspiceSampler(backend, temperature, capacitance=capacitance), model, \
            (backend if owned else None)
    return th.native_sampler(model, temperature, capacitance), model, None


class _Counted:
    """A sampler whose every ``sample`` call (one phase) advances a progress bar on stderr."""

    def __init__(self, sampler, bar):
        self._sampler, self._bar = sampler, bar

    def __getattr__(self, name):
        return getattr(self._sampler, name)

    def sample(self, *args, **kwargs):
        phase = self._sampler.sample(*args, **kwargs)
        self._bar.update(1)
        return phase


def _phases(estimator: str, exact_by_sampling: bool) -> int:
    """Phases ``grad`` samples: 2 for chl, 1 for covariance, the quadrature nodes for path
    (each again for a sampled 'exact' value)."""
    count = {"chl": 2, "covariance": 1}.get(estimator, th.PATH_NODES)
    return count * (2 if exact_by_sampling else 1)


def exact_value(model, temperature, x, y, beta, estimator, samples, seed, bar=None):
    """Exact expectation of the estimator, or a long Langevin run when none is computable.

    Returns (value, method, stderr or None).
    """
    try:
        return th.exact_thermal_gradient(model, temperature, x, y, beta, estimator), \
            ("gaussian closed form" if th.is_linear(model) else "quadrature"), None
    except CircuitError:
        long_run = th.LangevinSampler(model, temperature, chains=64)
        if bar is not None:
            long_run = _Counted(long_run, bar)
        est = th.thermal_gradient(long_run, x, y, beta, estimator, samples=16 * samples,
                                  seed=seed + 1000003)
        return est.gradient, "langevin long run (16x samples)", est.stderr


def grad_data(args, spec, circuit, x, y, beta: float, temperature: float,
              progress: bool = True) -> dict:
    """The JSON object of ``grad`` at finite temperature (see CONTRACT.md); ``progress``: a
    progress bar over the sampled phases on stderr."""
    from eqprop_hw.learning.reference import gradient_agreement
    estimator = args.estimator or "chl"
    samples = int(args.samples or DEFAULT_SAMPLES)
    seed = int(getattr(args, "seed", None) or 0)
    if estimator == "covariance" and getattr(args, "beta", None) is None:
        beta = 0.0
    start = time.perf_counter()
    sampler, model, owned = make_sampler(args.backend, circuit, temperature, spec)
    from eqprop_hw.learning.train import progress_bar
    bar = progress_bar(_phases(estimator, not th.has_exact_moments(model)),
                       f"sampling ({estimator})", progress, unit="phase")
    try:
        est = th.thermal_gradient(sampler if bar is None else _Counted(sampler, bar), x, y,
                                  beta, estimator,
                                  samples=samples, seed=seed)
        exact, method, exact_se = exact_value(model, temperature, x, y, beta, estimator,
                                              samples, seed, bar)
    finally:
        if bar is not None:
            bar.close()
        if owned is not None:
            owned.close()
    agreement = gradient_agreement(est.gradient, exact)
    spread = est.stderr if exact_se is None else np.hypot(est.stderr, exact_se)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(spread > 0, (est.gradient - exact) / spread, 0.0)
    names = circuit.trainable
    data = {"loss": est.loss, "loss_kind": "squared", "temperature": temperature,
            "backend": args.backend, "beta": beta, "nudge": None, "estimator": estimator,
            "samples": samples, "effective_samples": est.effective_samples,
            "sampler": sampler.name,
            "ep": dict(zip(names, est.gradient.tolist())),
            "exact": dict(zip(names, np.asarray(exact).tolist())),
            "stderr": dict(zip(names, est.stderr.tolist())),
            "exact_method": method, "max_abs_z": float(np.max(np.abs(z))) if z.size else 0.0,
            "cosine": agreement["cosine"], "rel_error": agreement["rel_error"],
            "seconds": time.perf_counter() - start}
    if exact_se is not None:
        data["exact_stderr"] = dict(zip(names, exact_se.tolist()))
    return data


def simulate_data(args, spec, circuit, inputs, beta, targets, temperature: float) -> dict:
    """The JSON object of ``simulate`` at finite temperature: mean node voltages and their
    standard errors over Gibbs samples, and the effective sample size."""
    samples = int(args.samples or DEFAULT_SAMPLES)
    seed = int(getattr(args, "seed", None) or 0)
    if targets is None:
        targets = np.zeros((len(inputs), len(circuit.outputs)))
    start = time.perf_counter()
    sampler, model, owned = make_sampler(args.backend, circuit, temperature, spec)
    try:
        phase = sampler.sample(inputs, 0.0 if beta is None else beta, targets, samples, seed)
    finally:
        if owned is not None:
            owned.close()
    s, _, _ = model._context(inputs[:1], 0.0, None)
    z = phase.free[0]
    mean_z, se_z = th.jackknife(lambda m: z[m].reshape(-1, z.shape[-1]).mean(axis=0),
                                phase.blocks)
    voltages = model._voltages(mean_z[None], s)[0]
    loss = phase.loss[0]
    value, stderr = th.jackknife(lambda m: loss[m].mean(), phase.blocks)
    out_cols = model._out_cols
    return {"backend": args.backend, "voltages": {"0": 0.0, **dict(zip(model.node_names,
                                                                      voltages.tolist()))},
            "outputs": voltages[out_cols].tolist(), "converged": True,
            "seconds": time.perf_counter() - start,
            "temperature": temperature, "samples": samples,
            "effective_samples": phase.effective_samples, "sampler": sampler.name,
            "stderr": dict(zip(model.free_nodes, se_z.tolist())),
            "expected_loss": float(value), "expected_loss_stderr": float(stderr)}


def emit(args, data: dict, print_json) -> None:
    """Print ``data``: one JSON object with ``--json``, else a few readable lines."""
    if getattr(args, "json", False):
        print_json(data)
        return
    if "ep" in data:
        print(f"T = {data['temperature']:g} W, {data['estimator']} estimator, beta = "
              f"{data['beta']:g} S, {data['samples']} samples per phase "
              f"(effective {data['effective_samples']:.0f}, {data['sampler']} sampler)")
        print(f"expected free-phase loss {data['loss']:.6g} V^2; estimate vs exact "
              f"({data['exact_method']}): cosine {data['cosine']:.6f}, relative error "
              f"{data['rel_error']:.3g}, max |z| {data['max_abs_z']:.2f}")
        width = max(len(name) for name in data["ep"]) if data["ep"] else 0
        for name in data["ep"]:
            print(f"{name:<{width}}  {data['ep'][name]: .6g} +- {data['stderr'][name]:.2g}  "
                  f"(exact {data['exact'][name]: .6g}) V^2/S")
    else:
        print(f"T = {data['temperature']:g} W, {data['samples']} samples (effective "
              f"{data['effective_samples']:.0f}, {data['sampler']} sampler); mean voltages:")
        for node, value in data["voltages"].items():
            se = data["stderr"].get(node)
            print(f"V({node}) = {value:.9g} V" + (f" +- {se:.2g}" if se is not None else ""))
