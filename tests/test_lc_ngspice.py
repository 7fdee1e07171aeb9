"""LC transients in ngspice: the shared-library session against raw ``ngspice -b``, native vs
ngspice trajectories, the echo from ngspice measurements against BPTT, reversibility (with
negative controls), finite differences through ngspice, flat memory."""

import copy
import shutil
from pathlib import Path

import numpy as np
import pytest

from eqprop_hw.lc.bptt import agreement, bptt_gradient
from eqprop_hw.lc.examples import random_lc_model
from eqprop_hw.lc.integrate import integrate
from eqprop_hw.lc.model import build_model
from eqprop_hw.lc.netlist import write_lc_netlist
from eqprop_hw.circuit.spec import load_spec

pytestmark = [pytest.mark.ngspice,
              pytest.mark.skipif(shutil.which("ngspice") is None, reason="needs ngspice")]

ROOT = Path(__file__).resolve().parents[1]
BUNDLED = sorted((ROOT / "circuits" / "lc").glob("*.yaml"))


def _ngspice(model, **kwargs):
    from eqprop_hw.lc.ngspice import LCNgspice
    return LCNgspice(model, **kwargs)


def resample(result, key, model):
    from eqprop_hw.lc.ngspice import resample
    return resample(result["time"], result[key], model.times)


def _small(**kwargs):
    options = dict(n_nodes=4, seed=1, nonlinear=True, tstep=1e-10, tstop=1e-6)
    options.update(kwargs)
    return random_lc_model(**options)


def _retrace(model, **kwargs):
    with _ngspice(model, **kwargs) as ng:
        forward = ng.run()
        back = ng.run(ic=ng.reversed_state(ng.end_state(forward)), reverse=True)
    phi_f, phi_b = resample(forward, "phi", model), resample(back, "phi", model)
    return float(np.max(np.abs(phi_b - phi_f[::-1])) / np.max(np.abs(phi_f)))


def test_shared_library_transient_equals_raw_ngspice_batch():
    from eqprop_hw.backends.ngspice import run_ngspice_batch
    model = _small(tstep=2e-10)
    with _ngspice(model) as ng:
        result = ng.run()
    raw = run_ngspice_batch(write_lc_netlist(model))
    # the session prepends the t = 0 initial state, which ngspice (UIC) does not store
    assert result["time"][0] == 0.0
    assert np.allclose(raw["time"], result["time"][1:], rtol=1e-9, atol=0)
    for k, node in enumerate(model.nodes):
        assert np.max(np.abs(raw[f"flx_{node}"] - result["phi"][1:, k])) <= \
            1e-9 * np.max(np.abs(result["phi"]))


@pytest.mark.parametrize("case", ["nonlinear", "linear", "current", "lossy"] +
                         [p.stem for p in BUNDLED])
def test_native_and_ngspice_trajectories_agree(case):
    if case in ("nonlinear", "linear", "current", "lossy"):
        model = _small(nonlinear=case != "linear", output_kind="current" if case == "current"
                       else "flux", conductance=1e-4 if case == "lossy" else None)
    else:
        model = build_model(load_spec(ROOT / "circuits" / "lc" / f"{case}.yaml"))
    native = integrate(model, store=True)
    with _ngspice(model) as ng:
        result = ng.run()
        outputs = ng.outputs(result)
    voltages = resample(result, "V", model)
    scale_out = np.max(np.abs(native.outputs[:, 0]), axis=0)
    assert np.max(np.abs(outputs - native.outputs[:, 0]) / scale_out) <= 1e-4
    assert np.max(np.abs(voltages - native.voltages[:, 0])) <= \
        1e-4 * np.max(np.abs(native.voltages))


def test_echo_from_ngspice_measurements_matches_bptt_on_20_node_nonlinear_network():
    model = build_model(load_spec(ROOT / "circuits" / "lc" / "lc_nonlinear20.yaml"))
    assert model.n >= 20 and np.isfinite(model.ind_phi_nl).any()
    targets = model.target_waveforms()
    loss, grad, _ = bptt_gradient(model, targets=targets)
    with _ngspice(model) as ng:
        measured_loss, estimate = ng.hel_gradient(model.targets, beta=1e3, nudge="centered")
    result = agreement(estimate, grad)
    assert result["cosine"] >= 0.999 and result["rel_error"] <= 1e-2
    assert measured_loss == pytest.approx(loss, rel=1e-4)


def test_one_sided_echo_from_ngspice_is_worse_than_centered():
    model = _small(tstep=2e-10)
    targets = model.target_waveforms()
    _, grad, _ = bptt_gradient(model, targets=targets)
    with _ngspice(model) as ng:
        centered = agreement(ng.hel_gradient(model.targets, 1e4, "centered")[1],
                             grad)["rel_error"]
        positive = agreement(ng.hel_gradient(model.targets, 1e4, "positive")[1],
                             grad)["rel_error"]
    assert centered < 2e-3 and positive > 5 * centered


def test_ngspice_echo_retraces_and_negative_controls_fail():
    assert _retrace(_small()) < 2e-5
    assert _retrace(_small(conductance=1e-4)) > 1e-2          # added resistors
    # Gear (BDF) is dissipative: at moderate tolerances it retraces 5x worse than trap (at the
    # tight default tolerances both errors sit at the step-control level, ~1e-6)
    model = _small(tstep=1e-9)
    model.spec_data = copy.deepcopy(model.spec_data)
    model.spec_data["options"].update(reltol=1e-4, max_step_fraction=1.0)
    trap, gear = _retrace(model), _retrace(model, method="gear")
    assert gear > 5 * trap


def test_bptt_matches_finite_differences_through_ngspice():
    model = _small(tstep=2e-10)
    targets = model.target_waveforms()
    _, grad, _ = bptt_gradient(model, targets=targets)
    theta = model.theta0()
    fd = np.zeros_like(theta)
    with _ngspice(model, with_nudge=False) as ng:
        for k in range(theta.size):
            losses = []
            for sign in (1, -1):
                t = theta.copy()
                t[k] *= 1 + sign * 1e-3
                ng.set_theta(t)
                losses.append(ng.loss(ng.run(), targets))
            fd[k] = (losses[0] - losses[1]) / (2e-3 * theta[k])
    result = agreement(fd, grad)
    assert result["cosine"] > 0.99999 and result["rel_error"] < 1e-3


def test_runs_free_their_plots():
    model = _small(tstep=1e-9)
    with _ngspice(model) as ng:
        for _ in range(5):
            ng.run()
        assert ng.session.plot_names() == ["const"]
        assert ng.stats["runs"] == 5 and ng.stats["loads"] == 1


def test_sequence_bank_echo_matches_bptt():
    """Sampled sequences (data) are loaded once as PWL sources and selected by alter."""
    model = _small(tstep=2e-10, tstop=2e-7)     # every grid point is a PWL breakpoint
    u = model.input_waveforms()
    y = model.target_waveforms()
    inputs = np.stack([u, 0.5 * u[::-1]])
    targets = np.stack([y, -y])
    with _ngspice(model) as ng:
        ng.load_bank(inputs, targets)
        for s in range(2):
            _, grad, _ = bptt_gradient(model, inputs=inputs[s], targets=targets[s])
            loss, estimate = ng.hel_gradient(None, 1e3, sample=s)
            result = agreement(estimate, grad)
            assert result["cosine"] > 0.9999 and result["rel_error"] < 1e-2
        assert ng.stats["loads"] == 2


def test_varactor_network_in_ngspice():
    """Behavioural ddt() varactors: native vs ngspice trajectories, echo from measurements vs
    BPTT (the circuit is reloaded with .ic per run so that ddt()'s history starts at the IC)."""
    model = _small(varactors=True, v_nl=0.3)
    assert np.isfinite(model.cap_v_nl).any()
    native = integrate(model, store=True)
    targets = model.target_waveforms()
    _, grad, _ = bptt_gradient(model, targets=targets)
    with _ngspice(model) as ng:
        outputs = ng.outputs(ng.run())
        _, estimate = ng.hel_gradient(model.targets, 1e3)
    scale = np.max(np.abs(native.outputs))
    assert np.max(np.abs(outputs - native.outputs[:, 0])) <= 1e-4 * scale
    result = agreement(estimate, grad)
    assert result["cosine"] > 0.99999 and result["rel_error"] < 1e-3
    assert _retrace(model) < 2e-4


def test_plain_ngspice_batch_runs_the_exported_netlist_and_prints_the_outputs(tmp_path):
    """`eqprop-hw export` of an lc spec is a netlist that plain `ngspice -b` runs (exit 0): its
    `.print tran` table ends with the outputs the native integrator gives at tstop."""
    import subprocess
    model = build_model(load_spec(ROOT / "circuits" / "lc" / "lc_teacher.yaml"))
    path = tmp_path / "lc_teacher.cir"
    path.write_text(write_lc_netlist(model))
    done = subprocess.run(["ngspice", "-b", str(path)], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-500:] + done.stderr[-500:]
    rows = [line.split() for line in done.stdout.splitlines()
            if line[:1].isdigit() and len(line.split()) == 2 + len(model.outputs)]
    last = np.array([float(value) for value in rows[-1][1:]])
    assert last[0] == pytest.approx(model.tstop, rel=1e-9)
    native = integrate(model, store=True).outputs[-1, 0]
    assert np.max(np.abs(last[1:] - native)) <= 1e-4 * np.max(np.abs(native))
