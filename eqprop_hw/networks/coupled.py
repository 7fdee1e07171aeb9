"""The Coupled Learning operations of :class:`eqprop_hw.networks.resistive.ResistiveNetwork`
(its ``coupled_gradient`` and ``train_twin`` methods call these): argument checks, the library
calls and the result objects, kept beside the network class so that it stays one screenful per
operation.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from eqprop_hw.networks.base import (BACKENDS, InvalidParameterError, check_bool, check_choice,
                                     check_int, check_number)


def coupled_gradient_result(net, x, y, eta, backend: str):
    """:meth:`ResistiveNetwork.coupled_gradient`'s work (see there); ``x`` and ``y`` are
    checked rows, shapes (1, n_inputs) and (1, n_outputs)."""
    from eqprop_hw.networks.results import CoupledGradientResult
    method = "coupled_gradient"
    check_number(eta, "eta", method, positive=True)
    if eta is not None and eta > 1:
        raise InvalidParameterError(f"{method}: 'eta' must be in (0, 1] (the clamped "
                                    f"fraction of the output error), got {eta!r}")
    check_choice(backend, "backend", method, BACKENDS)
    from eqprop_hw.learning.train import settings_from
    settings = settings_from(net.spec)
    if settings.loss != "squared":
        raise InvalidParameterError(f"{method}: Coupled Learning clamps output voltages; "
                                    "it needs the squared loss, and the spec trains with "
                                    f"{settings.loss}")
    eta = float(eta) if eta is not None else settings.eta
    from eqprop_hw.backends import make_backend
    from eqprop_hw.learning.coupled import clamped_circuit, coupled_gradient
    from eqprop_hw.learning.coupled_reference import coupled_limit
    from eqprop_hw.learning.reference import exact_gradient, gradient_agreement
    with make_backend(backend, net.circuit) as free, \
            make_backend(backend, clamped_circuit(net.circuit)) as held:
        estimate, _ = coupled_gradient(free, held, x, y, eta)
    loss, limit = coupled_limit(net.circuit, x, y)
    _, gradient = exact_gradient(net.circuit, x, y)
    agreement = gradient_agreement(estimate, limit)
    loss_cosine = gradient_agreement(estimate, gradient)["cosine"]
    names = net.circuit.trainable

    def named(values):
        return dict(zip(names, np.asarray(values, dtype=float).tolist()))

    data = {"rule": "coupled", "loss": loss, "backend": backend, "eta": eta,
            "estimate": named(estimate), "limit": named(limit),
            "loss_gradient": named(gradient), "cosine": agreement["cosine"],
            "rel_error": agreement["rel_error"], "loss_cosine": loss_cosine}
    return CoupledGradientResult(data=data, loss=loss, estimate=data["estimate"],
                                 limit=data["limit"], loss_gradient=data["loss_gradient"],
                                 cosine=agreement["cosine"],
                                 rel_error=agreement["rel_error"], loss_cosine=loss_cosine,
                                 eta=eta, backend=backend)


def train_twin_run(net, out, epochs, seed, plots: bool):
    """:meth:`ResistiveNetwork.train_twin`'s work (see there)."""
    check_int(epochs, "epochs", "train_twin")
    check_int(seed, "seed", "train_twin")
    check_bool(plots, "plots", "train_twin")
    from eqprop_hw.learning.limits import check_run_counts
    from eqprop_hw.networks.results import TrainingRun
    from eqprop_hw.twin.train import train_twin, write_twin_run
    check_run_counts(epochs, seed)
    out = Path(out) if out is not None else Path("runs") / net.name
    if has_mosfet_edges(net.spec):                      # transistor twin
        from eqprop_hw.twin.mos_train import train_twin_mos as train_twin
    result = train_twin(net.spec, net.circuit, epochs=epochs, seed=seed)
    write_twin_run(out, net.circuit, result, plots=plots)
    params = dict(zip(net.circuit.trainable, result.values.tolist()))
    return TrainingRun(data=dict(result.metrics), metrics=dict(result.metrics),
                       params=params, out=out)


def has_mosfet_edges(spec) -> bool:
    """Whether the spec's twin has MOSFET edges (``training.twin.mosfet``)."""
    from eqprop_hw.circuit.spec_twin import mosfet_section
    return mosfet_section(spec) is not None


def refuse_mosfet_edges(spec) -> None:
    """SpecError for a transistor twin's spec given to the loop trainer, which would train
    conductances in place of its MOSFETs."""
    if has_mosfet_edges(spec):
        from eqprop_hw.errors import SpecError
        raise SpecError("training.twin.mosfet: this network's edges are MOSFETs, trained by "
                        "their twin circuitry only (train --twin, train_twin)", spec.source)


def loop_train(spec, out, **options):
    """:func:`eqprop_hw.learning.train.train`, after :func:`refuse_mosfet_edges`."""
    from eqprop_hw.learning.train import train
    refuse_mosfet_edges(spec)
    return train(spec, out, **options)


def twin_netlist_text(net, epochs, seed) -> str:
    """:meth:`ResistiveNetwork.twin_netlist`'s work (see there)."""
    check_int(epochs, "epochs", "twin_netlist")
    check_int(seed, "seed", "twin_netlist")
    from eqprop_hw.circuit.spice_grammar import join_lines
    from eqprop_hw.learning.limits import check_run_counts
    from eqprop_hw.twin.train import twin_netlist
    check_run_counts(epochs, seed)
    if has_mosfet_edges(net.spec):                      # transistor twin
        from eqprop_hw.twin.mos_train import twin_mos_netlist as twin_netlist
    return join_lines(twin_netlist(net.spec, net.circuit, epochs=epochs, seed=seed))
