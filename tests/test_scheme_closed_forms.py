"""Issue 18 item 3: every device-aware scheme and mitigation against a closed form on a tiny
circuit, through the training step's own path (phases on the native solver -> measurement ->
local rule -> scheme -> devices -> the conductances the circuit gets).

The circuit is a voltage divider: V_in = 1 V -> R1 (g1) -> out -> R2 (g2) -> ground, target
y = 0.2 V at ``out``. With a nudge conductance b from ``out`` to y (b < 0 for the negative
phase), G = g1 + g2 and V0 = g1 V_in / G,

    V(b) = (g1 V_in + b y) / (G + b),       drops  d1 = V_in - V(b),  d2 = V(b),

the exact gradient of L = (V0 - y)^2 / 2 is dL/dg1 = (V0 - y) V_in g2 / G^2, dL/dg2 =
-(V0 - y) V0 / G, and centered EP gives (d(b)^2 - d(-b)^2) / (4 b); for R2, with e = y - V0,

    (d2(b)^2 - d2(-b)^2) / (4 b) = e G / (G^2 - b^2) (V0 - b^2 e / (G^2 - b^2)),

whose relative bias is b^2 (1 - e / V0) / G^2 + O(b^4); one-sided EP's is O(b).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from eqprop_hw.backends import make_backend
from eqprop_hw.circuit.build import build_circuit
from eqprop_hw.circuit.spec import parse_spec
from eqprop_hw.learning.devices import Hardware, Measurement, PulsedDevice, measured_gradient, \
    measured_nodes
from eqprop_hw.learning.ep import make_probe
from eqprop_hw.learning.reference import exact_gradient
from eqprop_hw.learning.schemes import UpdateScheme
from eqprop_hw.learning.train import layer_gradient

V_IN, Y = 1.0, 0.2
G_MIN, G_MAX, DW = 1e-6, 101e-6, 1e-6           # 101 states: dw_min = 1 uS
START = (30e-6, 50e-6)
X, T = np.array([[V_IN]]), np.array([[Y]])


def divider():
    spec = parse_spec({"name": "divider", "kind": "graph", "elements": [
        {"name": "VIN", "nodes": ["a", "0"], "dc": 0.0},
        {"name": "R1", "nodes": ["a", "out"], "g": START[0]},
        {"name": "R2", "nodes": ["out", "0"], "g": START[1]}],
        "inputs": ["VIN"], "outputs": ["out"], "trainable": ["R1", "R2"]})
    return build_circuit(spec)


def out_voltage(g, b):
    return (g[0] * V_IN + b * Y) / (g[0] + g[1] + b)


def drops(g, b):
    v = out_voltage(g, b)
    return np.array([V_IN - v, v])


def centered(g, b):
    """Centered EP on the divider, in closed form (V^2/S)."""
    return (drops(g, b) ** 2 - drops(g, -b) ** 2) / (4 * b)


def positive(g, b):
    return (drops(g, b) ** 2 - drops(g, 0.0) ** 2) / (2 * b)


def exact(g):
    total, v0 = g[0] + g[1], out_voltage(g, 0.0)
    return np.array([(v0 - Y) * V_IN * g[1] / total ** 2, -(v0 - Y) * v0 / total])


class Loop:
    """One cell pair on the divider, stepped like ``ResistiveTrainer.step`` steps a run."""

    def __init__(self, device: dict, scheme=None, measurement=None, beta=1e-6,
                 nudge="centered", rate=1.0):
        self.circuit = divider()
        self.engine = make_backend("native", self.circuit)
        names = self.engine.node_names
        self.hw = Hardware(PulsedDevice(**device), measurement or Measurement(),
                           np.full(2, G_MIN), np.full(2, G_MAX),
                           measured=measured_nodes(self.circuit, names), node_names=names,
                           scheme=scheme or UpdateScheme())
        self.probe = make_probe(self.circuit, names)
        self.values = np.array(START)
        self.beta, self.nudge, self.rate = beta, nudge, rate
        self.engine.set_trainable(self.values)

    def gradient(self, rng, beta=None):
        return measured_gradient(self.engine, self.hw, X, T, beta or self.beta, self.nudge,
                                 self.probe, rng)

    def step(self, t: int) -> np.ndarray:
        """One minibatch; returns the request (S)."""
        rng = np.random.default_rng([t, 0xDE71CE])
        request = -self.rate * self.gradient(rng)
        self.values = self.hw.update(self.values, request, rng)
        self.engine.set_trainable(self.hw.effective(self.values))
        return request

    def close(self):
        self.engine.close()


@pytest.fixture
def loops():
    made = []
    yield lambda *args, **kwargs: made.append(Loop(*args, **kwargs)) or made[-1]
    for loop in made:
        loop.close()


CONSTANT = {"model": "constant_step", "states": 101}
#: Learning rate (S^2/V^2) making the first requests about +0.49 and -0.29 steps.
RATE = 0.49e-6 / 1367.1875


def test_the_divider_phases_and_exact_gradient_are_the_closed_forms():
    circuit = divider()
    with make_backend("native", circuit) as engine:
        probe = make_probe(circuit, engine.node_names)
        hw = Hardware(PulsedDevice(), Measurement(), np.full(2, G_MIN), np.full(2, G_MAX),
                      measured=measured_nodes(circuit, engine.node_names))
        measured = measured_gradient(engine, hw, X, T, 1e-6, "centered", probe,
                                     np.random.default_rng(0))
    np.testing.assert_allclose(measured, centered(START, 1e-6), rtol=1e-9)
    np.testing.assert_allclose(exact_gradient(circuit, X, T)[1], exact(START), rtol=1e-9)
    np.testing.assert_allclose(exact(START), [1367.1875, -820.3125], rtol=1e-12)


# -- mixed-precision accumulator -----------------------------------------------------------
@pytest.mark.parametrize("scale,threshold,fired", [(1.0, 1.0, [6, 3]), (1.7, 1.0, [9, 4]),
                                                   (1.0, 2.5, [4, 2])])
def test_accumulator_on_the_divider_follows_its_recursion_and_loses_no_request(
        loops, scale, threshold, fired):
    """Register b <- b + u(g); n = trunc(b / dw) once |b| >= threshold dw; g <- g + n dw;
    b <- b - n dw, with u = -rate * centered EP at the conductances of the moment (closed form
    above); and sum_t u_t = g_T - g_0 + b_T exactly (a constant-step device without noise).
    Requests of about -0.45 / +0.28 steps a minibatch at first (scale 1), -0.8 / +0.5
    (scale 1.7: the register reaches 1.6 steps, where trunc and round differ)."""
    loop = loops(CONSTANT, UpdateScheme("accumulate", threshold), rate=scale * RATE)
    g, b, pulses, requested = np.array(START), np.zeros(2), np.zeros(2, dtype=int), np.zeros(2)
    for t in range(14):
        request = loop.step(t)
        u = -scale * RATE * centered(g, 1e-6)
        np.testing.assert_allclose(request, u, rtol=1e-9)
        requested += request
        b = b + request
        n = np.array([math.trunc(v / DW) if abs(v) >= threshold * DW else 0 for v in b])
        g, b, pulses = g + n * DW, b - n * DW, pulses + np.abs(n)
        np.testing.assert_allclose(loop.values, g, rtol=1e-12)
        np.testing.assert_array_equal(loop.hw.pulses, pulses)
    assert pulses.tolist() == fired
    np.testing.assert_allclose(loop.values - START + loop.hw.buffer, requested, rtol=1e-12,
                               atol=1e-20)


def test_read_estimate_on_the_divider_fires_the_most_pulses_that_fit(loops):
    """step_estimate read, noiseless soft bounds with asymmetry 0.1 (the nominal model): each
    minibatch fires the most n with E(n) = r (1 - (1 - q)^n) <= |b| (r the room to the bound
    approached, q = 2 dw (1 +- 0.1) / (g_max - g_min)), and sum_t u_t = g_T - g_0 + b_T."""
    device = {"model": "soft_bounds", "states": 101, "up_down": 0.1}
    loop = loops(device, UpdateScheme("accumulate", step_estimate="read"), rate=3 * RATE)
    requested, span = np.zeros(2), G_MAX - G_MIN
    for t in range(10):
        before, register = loop.values.copy(), loop.hw.buffer.copy()
        request = loop.step(t)
        requested += request
        total = register + request
        for k in range(2):
            up = total[k] >= 0
            room = G_MAX - before[k] if up else before[k] - G_MIN
            q = 2 * DW * (1.1 if up else 0.9) / span
            moved = abs(loop.values[k] - before[k])
            n = round(math.log(1 - moved / room) / math.log(1 - q)) if moved else 0
            assert moved == pytest.approx(room * (1 - (1 - q) ** n), rel=1e-9, abs=1e-20)
            assert room * (1 - (1 - q) ** (n + 1)) > abs(total[k])      # n + 1 would not fit
            assert moved <= abs(total[k]) * (1 + 1e-12)
    assert loop.hw.pulses.min() > 0
    np.testing.assert_allclose(loop.values - START + loop.hw.buffer, requested, rtol=1e-12,
                               atol=1e-20)


# -- two-array transfer ----------------------------------------------------------------------
@pytest.mark.parametrize("up_down", [0.0, 0.2])
def test_transfer_on_the_divider_follows_its_recursion_with_gamma(loops, up_down):
    """Constant steps (up pulses (1 + up_down) dw, down pulses (1 - up_down) dw), nearest
    rounding into A, two column groups (R1: 0, R2: 1) read in turn every minibatch, threshold
    2: A <- A + step(round(u / dw)), then the group's m = trunc(A / dw) if |A| >= 2 dw moves:
    C <- C + step(m), A <- A + step(-m); the circuit sees C + gamma A (gamma 0.5), so the next
    request is -rate * centered EP at C + gamma A. Pulses: sum |round(u/dw)| + 2 sum |m|.
    With asymmetry A holds fractions of a step, where trunc and round differ."""
    def step(count):
        return count * DW * (1 + up_down if count > 0 else 1 - up_down)

    loop = loops({**CONSTANT, "up_down": up_down},
                 UpdateScheme("transfer", threshold=2.0, gamma=0.5, columns=2), rate=4 * RATE)
    c, a, pulses, into_a = np.array(START), np.zeros(2), np.zeros(2, dtype=int), np.zeros(2)
    moved = []
    for t in range(12):
        request = loop.step(t)
        u = -4 * RATE * centered(c + 0.5 * a, 1e-6)
        np.testing.assert_allclose(request, u, rtol=1e-9)
        n = np.round(u / DW).astype(int)
        a = a + [step(count) for count in n]
        pulses, into_a = pulses + np.abs(n), into_a + n
        k = t % 2
        if abs(a[k]) >= 2 * DW * (1 - 1e-9):
            m = math.trunc(round(a[k] / DW, 9))
            c[k], a[k], pulses[k] = c[k] + step(m), a[k] + step(-m), pulses[k] + 2 * abs(m)
            moved.append(m)
        np.testing.assert_allclose(loop.values, c, rtol=1e-12)
        np.testing.assert_allclose(loop.hw.buffer, a, rtol=0, atol=1e-18)
        np.testing.assert_array_equal(loop.hw.pulses, pulses)
    assert moved and np.all(loop.values != START)
    if up_down == 0:       # every pulse into A is either still in A or in C
        np.testing.assert_allclose(loop.values - START + loop.hw.buffer, into_a * DW,
                                   atol=1e-18)
    else:                  # A's remainders are fractions of a step
        assert np.any(np.abs(a / DW - np.round(a / DW)) > 0.1)


# -- stochastic rounding -------------------------------------------------------------------
def test_stochastic_rounding_on_the_divider_is_floor_plus_a_bernoulli_of_the_fraction(loops):
    """n = floor(u / dw) + [xi < frac(u / dw)], xi the minibatch generator's first uniform
    draws (exact measurement draws nothing before them)."""
    loop = loops({**CONSTANT, "rounding": "stochastic"}, rate=RATE)
    g = np.array(START)
    for t in range(10):
        request = loop.step(t)
        ratio = -RATE * centered(g, 1e-6) / DW
        np.testing.assert_allclose(request / DW, ratio, rtol=1e-9)
        xi = np.random.default_rng([t, 0xDE71CE]).random(2)
        n = np.floor(ratio) + (xi < ratio - np.floor(ratio))
        g = g + n * DW
        np.testing.assert_allclose(loop.values, g, rtol=1e-12)
    assert not np.array_equal(g, START)


# -- averaged reads --------------------------------------------------------------------------
@pytest.mark.parametrize("reads", [1, 4])
def test_averaged_reads_on_the_divider_average_the_conversions_of_each_phase(loops, reads):
    """Only ``out`` is measured (``a`` is held by the input source): per phase (free, +b, -b)
    K conversions V(b) + sigma xi_k are averaged, xi_k the generator's next K normal draws;
    the rule is the closed form at those readings."""
    sigma, beta = 1e-3, 1e-5
    loop = loops(CONSTANT, measurement=Measurement(read_noise=sigma, reads=reads), beta=beta)
    measured = loop.gradient(np.random.default_rng(3))
    rng = np.random.default_rng(3)
    read = {}
    for b in (0.0, beta, -beta):
        read[b] = out_voltage(START, b) + sigma * np.mean(
            [rng.standard_normal() for _ in range(reads)])
    d = {b: np.array([V_IN - v, v]) for b, v in read.items()}
    np.testing.assert_allclose(measured, (d[beta] ** 2 - d[-beta] ** 2) / (4 * beta),
                               rtol=1e-7)


def test_an_adc_step_does_not_average_out_without_noise(loops):
    """4-bit ADC over 0..1.5 V (0.1 V levels), no noise: each phase reads round(V / 0.1) 0.1
    whatever K; the rule is the closed form at the rounded voltages (here 0: every phase rounds
    to the same level, the nudge is lost)."""
    adc = {"adc_bits": 4, "adc_range": (0.0, 1.5)}
    for reads in (1, 16):
        loop = loops(CONSTANT, measurement=Measurement(reads=reads, **adc), beta=1e-5)
        levels = {b: round(out_voltage(START, b) / 0.1) * 0.1 for b in (1e-5, -1e-5)}
        expected = (np.array([V_IN - levels[1e-5], levels[1e-5]]) ** 2 -
                    np.array([V_IN - levels[-1e-5], levels[-1e-5]]) ** 2) / 4e-5
        np.testing.assert_allclose(loop.gradient(np.random.default_rng(0)), expected,
                                   atol=1e-6)
    assert np.all(expected == 0)


# -- beta: centered / large / one-sided / per layer --------------------------------------------
@pytest.mark.parametrize("fraction", [0.01, 0.1, 0.3])
def test_large_centered_beta_costs_its_closed_form_bias(loops, fraction):
    """beta = fraction * G: the measured centered estimate is the closed form at that beta,
    its relative bias on R2 is b^2 (1 - e / V0) / G^2 + O(b^4); one-sided EP's is the closed
    form e V0 / (G + b) + b e^2 / (2 (G + b)^2), relative bias -(b / G)(1 - e / (2 V0)) + O(b^2).
    """
    total = sum(START)
    beta = fraction * total
    loop = loops(CONSTANT, beta=beta)
    measured = loop.gradient(np.random.default_rng(0))
    np.testing.assert_allclose(measured, centered(START, beta), rtol=1e-9)
    v0 = out_voltage(START, 0.0)
    e = Y - v0
    closed = e * total / (total ** 2 - beta ** 2) * (v0 - beta ** 2 * e / (total ** 2 - beta ** 2))
    assert measured[1] == pytest.approx(closed, rel=1e-9)
    bias = measured[1] / exact(START)[1] - 1
    leading = fraction ** 2 * (1 - e / v0)
    assert bias == pytest.approx(leading, rel=3 * fraction ** 2 + 1e-6)
    one_sided = loops(CONSTANT, beta=beta, nudge="positive").gradient(np.random.default_rng(0))
    np.testing.assert_allclose(one_sided, positive(START, beta), rtol=1e-9)
    # one-sided, R2: e V0 / (G + b) + b e^2 / (2 (G + b)^2); relative bias -(b/G)(1 - e/(2 V0))
    assert one_sided[1] == pytest.approx(e * v0 / (total + beta) +
                                         beta * e ** 2 / (2 * (total + beta) ** 2), rel=1e-9)
    one_bias = one_sided[1] / exact(START)[1] - 1
    assert one_bias == pytest.approx(-fraction * (1 - e / (2 * v0)), rel=2 * fraction + 1e-6)
    assert abs(one_bias) > abs(bias) / fraction / 2       # O(b) against O(b^2)


def test_per_layer_beta_on_the_divider_takes_each_cells_estimate_at_its_own_beta(loops):
    """R1 in 'crossbar' 0 with beta 2e-5 S, R2 in 1 with 5e-6 S: each estimate is the closed
    form at its own beta (the phases run once per distinct beta)."""
    loop = loops(CONSTANT)
    rng = np.random.default_rng(0)
    estimate = layer_gradient(lambda beta: loop.gradient(rng, beta), np.array([0, 1]),
                              [2e-5, 5e-6])
    np.testing.assert_allclose(estimate, [centered(START, 2e-5)[0], centered(START, 5e-6)[1]],
                               rtol=1e-9)
    assert centered(START, 2e-5)[0] != pytest.approx(centered(START, 5e-6)[0], rel=1e-6)
