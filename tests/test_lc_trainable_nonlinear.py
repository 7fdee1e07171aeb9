"""Trainable nonlinear elements of LC networks: nonlinear inductors (a subset of the inductors
trainable, which used to crash the integrator's local accumulation) and varactors (nonlinear
capacitors to ground). Each one's local quantity is the derivative of its own energy term with
respect to its value, measured across its own terminals: ``-U_L(x)/L`` for an inductor,
``-(dV^2/2 + dV^4/(12 v_nl^2))`` for a varactor. Echo vs BPTT vs finite differences, native
and (for ngspice's behavioural elements) from ngspice measurements."""

import shutil

import numpy as np
import pytest

from eqprop_hw.lc.bptt import agreement, bptt_gradient, fd_gradient
from eqprop_hw.lc.echo import hel_gradient, reversibility_error
from eqprop_hw.lc.examples import random_lc_data
from eqprop_hw.lc.integrate import integrate
from eqprop_hw.lc.model import build_model
from eqprop_hw.circuit.spec import parse_spec


V_NL = 0.08     # V: the varactor C2 swings past v_nl


def _model(trainable, varactors=False, sim_options=None, **kwargs):
    options = dict(n_nodes=4, seed=1, nonlinear=True, varactors=varactors, v_nl=V_NL)
    options.update(kwargs)
    data = random_lc_data(**options)
    data["trainable"] = trainable
    if sim_options:
        data["options"] = sim_options
    return build_model(parse_spec(data))


# L1 and L3 are nonlinear (phi_nl), L2 and L4 linear; C2 is the varactor (with varactors=True)
CASES = {
    "nonlinear_L_subset": (["CC*", "L1"], False),
    "only_nonlinear_L": (["L1", "L3"], False),
    "mixed_L_subset": (["L2", "L3"], False),
    "varactor": (["CC*", "C2"], True),
    "varactor_and_nonlinear_L": (["C2", "L1", "CC1_2"], True),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_trainable_nonlinear_elements_echo_bptt_fd_native(case):
    trainable, varactors = CASES[case]
    model = _model(trainable, varactors)
    if varactors:
        assert np.isfinite(model.cap_v_nl[model.cap_names.index("C2")])
    assert np.isfinite(model.ind_phi_nl[model.ind_names.index("L1")])
    y = model.target_waveforms()
    loss, grad, run = bptt_gradient(model, targets=y)
    assert np.all(np.isfinite(grad)) and np.all(grad != 0)
    assert loss == pytest.approx(integrate(model, loss_targets=y, store=False).loss.sum(),
                                 rel=1e-12)
    fd = fd_gradient(model, targets=y)
    assert agreement(grad, fd)["rel_error"] < 1e-6
    estimate = hel_gradient(model, targets=y, beta=1e3)[1]
    result = agreement(estimate, grad)
    assert result["cosine"] > 1 - 1e-8 and result["rel_error"] < 1e-4   # O(beta^2)
    if varactors:      # the run is well into the varactor's nonlinear range
        node = model.nodes.index("n2")
        assert np.max(np.abs(run.voltages[:, 0, node])) > V_NL
        assert reversibility_error(model)["flux"] < 1e-13


def test_nonlinear_inductor_local_is_its_own_energy_derivative():
    """The integrator's G of a trainable nonlinear inductor equals the trapezoidal integral of
    -U_L(x)/L over its own branch flux (nothing from the other inductors)."""
    model = _model(["L3"])
    run = integrate(model, store=True)
    k = model.ind_names.index("L3")
    x = run.phi[:, 0] @ model.ind_incidence[k]
    inductance, phi_nl = model.ind_values[k], model.ind_phi_nl[k]
    energy = x ** 2 / (2 * inductance) + x ** 4 / (4 * inductance * phi_nl ** 2)
    assert np.max(np.abs(x)) > 0.3 * phi_nl                 # nonlinear range reached
    expected = np.trapezoid(-energy / inductance, model.times)
    assert run.local[0, 0] == pytest.approx(expected, rel=1e-12)


@pytest.mark.ngspice
@pytest.mark.skipif(shutil.which("ngspice") is None, reason="needs ngspice")
@pytest.mark.parametrize("case", ["nonlinear_L_subset", "varactor_and_nonlinear_L"])
def test_trainable_nonlinear_elements_echo_from_ngspice(case):
    """ngspice's behavioural inductor (L on VLVAL_<name>, altered) and varactor (reloaded with
    its new c): the echo from measurements agrees with BPTT. The varactor swings to 1.5 v_nl,
    where ngspice's default maximum step (tstep/4) leaves a 7% error in the estimate (cosine
    0.999995); tstep/20 brings it to 1e-4."""
    from eqprop_hw.lc.ngspice import LCNgspice
    trainable, varactors = CASES[case]
    model = _model(trainable, varactors, tstep=1e-10, tstop=1e-6,
                   sim_options={"max_step_fraction": 0.05})
    theta = model.theta0() * np.linspace(0.9, 1.1, len(model.trainable))
    y = model.target_waveforms()
    _, grad, _ = bptt_gradient(model.with_theta(theta), targets=y)
    with LCNgspice(model) as ng:
        ng.set_theta(theta)                     # the new values must reach ngspice
        loss, estimate = ng.hel_gradient(model.targets, beta=1e3)
    result = agreement(estimate, grad)
    assert result["cosine"] >= 0.999 and result["rel_error"] <= 1e-2, result
    assert loss == pytest.approx(integrate(model.with_theta(theta), loss_targets=y,
                                           store=False).loss.sum(), rel=1e-3)
