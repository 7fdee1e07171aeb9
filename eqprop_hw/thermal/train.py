"""Training at finite temperature: the minibatch gradient from Gibbs samples.

A spec with a top-level ``temperature: T`` (W) trains with
:func:`eqprop_hw.thermal.gibbs.thermal_gradient` in place of the deterministic EP rule:
``training.estimator`` (``chl`` default, ``covariance`` or ``path``) from ``training.samples`` kept samples per phase and minibatch, at nudging
strength ``training.beta`` (S; ``nudge`` is not used). The native backend samples exactly
(Gaussian, linear networks) or, with diodes, by Metropolis-Hastings around each phase's
Laplace approximation (:class:`eqprop_hw.thermal.gibbs.LaplaceSampler`: 16 chains per input, every
2nd step kept after a ~20-step burn-in from the equilibrium), or by Langevin dynamics (MALA,
16 chains, every 4th step after 40) when the spec gives ``node_capacitance``; ngspice runs
noisy transients (``TRRANDOM`` sources reseeded by ``setseed``) in this process's own ngspice
session (a training engine isolated in a child process is left alone). The noise seed of each
minibatch depends only on ``(training.seed, epoch, position)``, so training is deterministic
(native; ngspice: same seed, same noise samples) and resumes exactly. It runs in the training
process (``workers``/``scheduler``/``chunks`` are not used for the gradient); a ``devices``
section is refused.
"""

from __future__ import annotations

import numpy as np

from eqprop_hw.errors import EqpropError
from eqprop_hw.learning.reference import EnergyModel
from eqprop_hw.thermal import gibbs as th


class ThermalGradient:
    """Minibatch gradients (V^2/S) at finite temperature for :func:`eqprop_hw.learning.train.train`.

    Parameters
    ----------
    spec : Spec
        With a top-level ``temperature`` (W) and optionally ``node_capacitance`` (F).
    circuit : Circuit
    backend : {"native", "ngspice"}
    """

    def __init__(self, spec, circuit, backend: str):
        training = spec.data.get("training") or {}
        if training.get("loss", "squared") != "squared":
            raise EqpropError(f"{spec.source}: finite-temperature training (top-level "
                              "'temperature:') supports the squared loss only")
        if spec.data.get("devices"):
            raise EqpropError(f"{spec.source}: finite-temperature training (top-level "
                              "'temperature:') does not model devices yet; remove the devices "
                              "section or the temperature")
        self.temperature = float(spec.data["temperature"])
        self.estimator = training.get("estimator", "chl")
        self.samples = int(training.get("samples", 256))
        capacitance = spec.data.get("node_capacitance")
        self._backend = None
        if backend == "ngspice":
            from eqprop_hw.backends import make_backend
            from eqprop_hw.thermal.ngspice import NgspiceSampler
            self._backend = make_backend("ngspice", circuit)
            self.sampler = NgspiceSampler(self._backend, self.temperature,
                                          capacitance=capacitance)
        else:
            self.sampler = th.native_sampler(EnergyModel(circuit), self.temperature,
                                             capacitance, training=True)
        self.last = None

    def __call__(self, values, inputs, targets, beta: float, seed) -> np.ndarray:
        """The estimate at conductances ``values`` (S) for one minibatch; ``seed`` is a tuple of
        ints (e.g. ``(training seed, epoch, position)``)."""
        self.sampler.set_trainable(values)
        seed = int(np.random.SeedSequence(list(seed)).generate_state(1)[0])
        self.last = th.thermal_gradient(self.sampler, inputs, targets, beta, self.estimator,
                                        samples=self.samples, seed=seed)
        return self.last.gradient

    def close(self) -> None:
        if self._backend is not None:
            self._backend.close()


def thermal_trainer(spec, circuit, backend: str):
    """A :class:`ThermalGradient` when the spec has a top-level temperature, else None."""
    if spec.data.get("temperature") is None:
        return None
    return ThermalGradient(spec, circuit, backend)


__all__ = ["ThermalGradient", "thermal_trainer"]
