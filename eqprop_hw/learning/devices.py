"""Device models: how hardware measures voltages and turns update requests into conductance.

A spec's ``devices:`` section (see ``docs/specs.md``) describes three small, composable parts,
each a frozen dataclass here:

:class:`PulsedDevice`
    Every trainable conductance is a device updated by programming pulses, with the
    conventions of IBM aihwkit's pulsed devices: a nominal step ``dw_min``, asymmetric up/down
    response (``up_down``), soft bounds, cycle-to-cycle noise of each step (``*_std``) and
    device-to-device variation of range, step and asymmetry (``*_dtod``).
:class:`Measurement`
    What the local rule sees of a node voltage: Gaussian read noise and ADC quantisation.
:class:`AmplifierErrors`
    Gain error and input offset of each bidirectional amplifier (applied when the circuit is
    built, see :func:`eqprop_hw.circuit.build.build_layered`).

:class:`Hardware` puts the first two together for one circuit: it draws the device-to-device
parameters once (from the spec's ``devices.seed``), measures phases, turns the local rule's
requested change of every conductance into a signed pulse count and applies the pulses.

The update path of training is then

    measured voltages  ->  local rule dL/dg  ->  requested dg = -eta g_max^2 dL/dg
    ->  pulses n = round(dg / dw_min)  ->  device response  ->  new conductances

and everything random is drawn from generators the caller seeds (per minibatch), so a run is
reproducible and a resumed run continues exactly.

Examples
--------
>>> import numpy as np
>>> device = PulsedDevice(model="constant_step", states=11)
>>> hardware = Hardware(device, Measurement(), g_min=np.zeros(3) + 1e-6,
...                     g_max=np.zeros(3) + 11e-6)
>>> hardware.update(np.full(3, 5e-6), np.array([2.4e-6, -1.6e-6, 0.2e-6]),
...                 np.random.default_rng(0)) * 1e6
array([7., 3., 5.])
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from eqprop_hw.errors import CircuitError
from eqprop_hw.learning.schemes import UpdateScheme, scheme_from_mapping, whole_step_ratio

#: Most repeated reads one measurement may average.
MAX_READS = 1024

DEVICE_MODELS = ("ideal", "constant_step", "soft_bounds")
ROUNDING = ("nearest", "stochastic")


@dataclass(frozen=True)
class PulsedDevice:
    """A conductance programmed by pulses (aihwkit's pulsed-device conventions, in S).

    Device i has bounds ``[g_min_i, g_max_i]`` and nominal step ``dw_i``; one pulse changes its
    conductance g by

        up:    dg = +dw_i (1 + up_down_i) (1 + step_std xi) s_up(g)
        down:  dg = -dw_i (1 - up_down_i) (1 + step_std xi) s_down(g)

    then clips g to ``[g_min_i, g_max_i]``; ``xi ~ N(0, 1)`` is drawn for every pulse. For
    ``constant_step`` ``s_up = s_down = 1``; for ``soft_bounds`` the step shrinks linearly to
    zero at the bound it approaches and equals the nominal step mid-range,
    ``s_up = 2 (g_max_i - g) / (g_max_i - g_min_i)``, ``s_down = 2 (g - g_min_i) / (g_max_i -
    g_min_i)``. The nominal step is ``dw_min = (g_max - g_min) / (states - 1)`` (or ``step``),
    and device i draws once ``dw_i = dw_min max(0, 1 + step_dtod eta_i)``, ``up_down_i =
    up_down + up_down_dtod eta'_i``, ``g_min_i = g_min (1 + range_dtod zeta_i)``, ``g_max_i =
    g_max (1 + range_dtod zeta'_i)`` (all ``N(0, 1)``). ``ideal`` applies the requested change
    exactly and only clips to the bounds.
    """

    model: str = "ideal"
    """``ideal`` (continuous update), ``constant_step`` or ``soft_bounds``."""
    states: int | None = None
    """Number of conductance levels from g_min to g_max; sets dw_min = (g_max - g_min)/(states - 1)."""
    step: float | None = None
    """Nominal step dw_min (S), instead of ``states``."""
    up_down: float = 0.0
    """Asymmetry: up steps are dw (1 + up_down), down steps dw (1 - up_down)."""
    up_down_dtod: float = 0.0
    """Device-to-device standard deviation of ``up_down``."""
    step_dtod: float = 0.0
    """Device-to-device relative standard deviation of the step dw_min."""
    step_std: float = 0.0
    """Cycle-to-cycle relative standard deviation of every single pulse's step."""
    range_dtod: float = 0.0
    """Device-to-device relative standard deviation of g_min and of g_max."""
    max_pulses: int = 100
    """Most pulses one update may apply to one device (the pulse count is clipped)."""
    rounding: str = "nearest"
    """How the requested change becomes a pulse count: ``nearest`` or ``stochastic`` (unbiased)."""

    def __post_init__(self):
        if self.model not in DEVICE_MODELS:
            raise CircuitError(f"devices.conductance.model must be one of "
                               f"{', '.join(DEVICE_MODELS)}, got {self.model!r}")
        if self.rounding not in ROUNDING:
            raise CircuitError(f"devices.conductance.rounding must be one of "
                               f"{', '.join(ROUNDING)}, got {self.rounding!r}")
        if self.model != "ideal" and (self.states is None) == (self.step is None):
            raise CircuitError(f"devices.conductance: a {self.model} device needs exactly one "
                               "of states (number of levels) or step (S)")
        if self.states is not None and self.states < 2:
            raise CircuitError(f"devices.conductance.states must be >= 2, got {self.states}")
        if self.step is not None and not self.step > 0:
            raise CircuitError(f"devices.conductance.step must be > 0 S, got {self.step!r}")
        if not -1.0 < self.up_down < 1.0:
            raise CircuitError(f"devices.conductance.up_down must be in (-1, 1), "
                               f"got {self.up_down!r}")
        for name in ("up_down_dtod", "step_dtod", "step_std", "range_dtod"):
            if not getattr(self, name) >= 0:
                raise CircuitError(f"devices.conductance.{name} must be >= 0, "
                                   f"got {getattr(self, name)!r}")
        if self.max_pulses < 1:
            raise CircuitError(f"devices.conductance.max_pulses must be >= 1, "
                               f"got {self.max_pulses}")

    def nominal_step(self, g_min: float, g_max: float) -> float:
        """dw_min (S) for the nominal range [g_min, g_max]."""
        if self.step is not None:
            return float(self.step)
        if self.states is not None:
            return (g_max - g_min) / (self.states - 1)
        return 0.0


@dataclass(frozen=True)
class Measurement:
    """What a measured node voltage looks like to the local rule.

    A measurement of true voltage V (V) averages ``reads`` = K conversions,

        V_read = (1/K) sum_k Q(V + read_noise xi_k),   xi_k ~ N(0, 1) per conversion,

    where Q is a ``adc_bits``-bit ADC over ``adc_range = (lo, hi)``: clip to [lo, hi], then round
    to the nearest of the 2^bits levels lo + k (hi - lo) / (2^bits - 1). Averaging brings the
    read noise's standard deviation down to read_noise / sqrt(K) (without an ADC, or when the
    noise spans several ADC levels) at the cost of K conversions per node and phase; the ADC's
    rounding error of a voltage held still is the same in every conversion and does not average
    out (only the noise dithers it). Nodes held by a grounded voltage source (inputs, biases)
    are set, not measured: the controller knows them.
    """

    read_noise: float = 0.0
    """Standard deviation (V) of the Gaussian noise on every read."""
    adc_bits: int | None = None
    """ADC resolution in bits; None: no quantisation."""
    adc_range: tuple | None = None
    """ADC input range (lo, hi) in V; required with ``adc_bits``."""
    adc_ranges: tuple = ()
    """Per-node ADC ranges ((pattern, lo, hi), ...): a node whose name matches a glob pattern
    (first match) is read over that range instead of ``adc_range`` (e.g. outputs, which swing
    much less than hidden nodes, over a narrower range)."""
    at: str = "device"
    """Where a cell's voltage is read: ``device`` (its own terminals) or ``lines`` (the
    row and column line ends at the crossbar's periphery; differs from ``device`` with wires)."""
    reads: int = 1
    """Conversions K averaged per measured node and phase (read noise / sqrt(K), K reads)."""

    def __post_init__(self):
        if not self.read_noise >= 0:
            raise CircuitError(f"devices.measurement.read_noise must be >= 0 V, "
                               f"got {self.read_noise!r}")
        if self.adc_bits is not None:
            if not 1 <= self.adc_bits <= 32:
                raise CircuitError(f"devices.measurement.adc_bits must be in 1..32, "
                                   f"got {self.adc_bits}")
            if self.adc_range is None or len(self.adc_range) != 2 or \
                    not self.adc_range[0] < self.adc_range[1]:
                raise CircuitError("devices.measurement.adc_range must be [lo, hi] in V with "
                                   f"lo < hi when adc_bits is given, got {self.adc_range!r}")
        for pattern, lo, hi in self.adc_ranges:
            if not lo < hi:
                raise CircuitError(f"devices.measurement.adc_ranges[{pattern!r}] needs lo < hi, "
                                   f"got [{lo}, {hi}]")
        if not (isinstance(self.reads, int) and 1 <= self.reads <= MAX_READS):
            raise CircuitError(f"devices.measurement.reads must be an integer in "
                               f"1..{MAX_READS}, got {self.reads!r}")
        if self.at not in ("device", "lines"):
            raise CircuitError(f"devices.measurement.at must be device or lines, "
                               f"got {self.at!r}")

    def ranges_for(self, names: list) -> tuple[np.ndarray, np.ndarray]:
        """ADC (lo, hi) in V for nodes called ``names`` (per-node patterns, else adc_range)."""
        import fnmatch
        lo, hi = np.empty(len(names)), np.empty(len(names))
        for k, name in enumerate(names):
            match = next(((a, b) for pattern, a, b in self.adc_ranges
                          if fnmatch.fnmatchcase(name, pattern)), self.adc_range)
            lo[k], hi[k] = match
        return lo, hi

    @property
    def ideal(self) -> bool:
        return self.read_noise == 0 and self.adc_bits is None

    def read(self, voltages: np.ndarray, measured: np.ndarray,
             rng: np.random.Generator, bounds: tuple | None = None) -> np.ndarray:
        """Read node voltages (V), shape (batch, n_nodes); only ``measured`` columns change.

        ``bounds`` = (lo, hi) arrays over the measured columns (see :meth:`ranges_for`);
        default ``adc_range`` for every column.
        """
        out = np.array(voltages, dtype=float, copy=True)
        if self.ideal:
            return out
        true = out[:, measured]
        total = 0.0
        for _ in range(self.reads):      # one noise draw per conversion (K = 1: as before)
            values = true
            if self.read_noise > 0:
                values = values + self.read_noise * rng.standard_normal(values.shape)
            if self.adc_bits is not None:
                lo, hi = self.adc_range if bounds is None else bounds
                lsb = (hi - lo) / (2 ** self.adc_bits - 1)
                values = lo + np.round((np.clip(values, lo, hi) - lo) / lsb) * lsb
            total = total + values
        out[:, measured] = total if self.reads == 1 else total / self.reads
        return out


@dataclass(frozen=True)
class AmplifierErrors:
    """Static errors of each bidirectional amplifier (drawn once per amplifier).

    Amplifier j of nominal gain A gets gain ``A (1 + gain_dtod eta_j)`` and an input offset
    ``offset_std zeta_j`` (V) in series with its output (``VA{k}_{j}``); ``eta, zeta ~ N(0, 1)``.
    """

    gain_dtod: float = 0.0
    """Relative standard deviation of each amplifier's gain."""
    offset_std: float = 0.0
    """Standard deviation (V) of each amplifier's output offset."""

    def draw(self, count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Relative gain factors and offsets (V) of ``count`` amplifiers."""
        factors = 1.0 + self.gain_dtod * rng.standard_normal(count)
        offsets = self.offset_std * rng.standard_normal(count)
        if np.any(factors <= 0):
            raise CircuitError("devices.amplifier.gain_dtod is so large that an amplifier gain "
                               "came out <= 0; use a smaller spread")
        return factors, offsets


@dataclass
class Hardware:
    """The devices of one circuit: per-device parameters drawn once, plus the measurement.

    Parameters
    ----------
    device : PulsedDevice
    measurement : Measurement
    g_min, g_max : ndarray (n_trainable,)
        Nominal bounds (S) of every trainable conductance.
    seed : int
        Seed of the device-to-device draws.
    measured : ndarray of bool, optional
        Which node columns are read through :class:`Measurement` (default: all).
    node_names : list of str, optional
        The node columns' names (needed with ``measurement.adc_ranges``).
    scheme : UpdateScheme, optional
        How requested changes become pulses (default ``direct``; see
        :mod:`eqprop_hw.learning.schemes`).

    Attributes
    ----------
    buffer : ndarray (n_trainable,)
        The ``accumulate`` scheme's register of every cell (S); zeros otherwise.
    pulses : ndarray of int64 (n_trainable,)
        Pulses every device has received so far (up and down alike: energy and wear).
    """

    device: PulsedDevice
    measurement: Measurement
    g_min: np.ndarray
    g_max: np.ndarray
    seed: int = 0
    measured: np.ndarray | None = None
    node_names: list | None = None
    scheme: UpdateScheme = field(default_factory=UpdateScheme)
    dw: np.ndarray = field(init=False)
    up_down: np.ndarray = field(init=False)
    nominal_step: np.ndarray = field(init=False)

    def __post_init__(self):
        device = self.device
        g_min = np.asarray(self.g_min, dtype=float)
        g_max = np.asarray(self.g_max, dtype=float)
        n = g_min.size
        rng = np.random.default_rng([self.seed, 0x0de71ce])
        zeta = rng.standard_normal((2, n))
        eta = rng.standard_normal((2, n))
        self.nominal_step = np.array([device.nominal_step(lo, hi) for lo, hi in
                                      zip(g_min, g_max)]) if n else np.zeros(0)
        self.nominal_bounds = (g_min.copy(), g_max.copy())
        if device.range_dtod > 0:
            low = g_min * (1.0 + device.range_dtod * zeta[0])
            high = g_max * (1.0 + device.range_dtod * zeta[1])
            low = np.maximum(low, 1e-3 * g_min)
            high = np.maximum(high, low * 1.01)
            g_min, g_max = low, high
        self.g_min, self.g_max = g_min, g_max
        self.dw = self.nominal_step * np.maximum(0.0, 1.0 + device.step_dtod * eta[0])
        self.up_down = np.clip(device.up_down + device.up_down_dtod * eta[1], -0.99, 0.99)
        self.buffer = np.zeros(n)
        self.pulses = np.zeros(n, dtype=np.int64)
        self.updates = 0
        if device.model == "soft_bounds":      # the fast array's reference: symmetric point
            self.reference = ((1 + self.up_down) * g_max + (1 - self.up_down) * g_min) / 2
        else:
            self.reference = (g_min + g_max) / 2
        if self.scheme.stateful and device.model == "ideal":
            raise CircuitError(f"devices.update.scheme {self.scheme.scheme} needs a pulsed "
                               "device (devices.conductance.model constant_step or soft_bounds)")
        self._bounds = None
        measurement = self.measurement
        if measurement.adc_bits is not None and measurement.adc_ranges:
            if self.node_names is None:
                raise CircuitError("devices.measurement.adc_ranges needs the node names")
            names = [name for name, read in zip(self.node_names, self.measured)
                     if read] if self.measured is not None else list(self.node_names)
            self._bounds = measurement.ranges_for(names)

    @property
    def ideal(self) -> bool:
        """True when updates and reads are exact (only the bounds act)."""
        return self.device.model == "ideal" and self.measurement.ideal

    def clip(self, values: np.ndarray) -> np.ndarray:
        """Conductances (S) clipped to every device's own bounds."""
        return np.clip(values, self.g_min, self.g_max)

    def read(self, voltages: dict, rng: np.random.Generator) -> dict:
        """Measured node voltages (V) of every phase (independent noise per phase and read)."""
        measured = self.measured
        return {phase: self.measurement.read(v, slice(None) if measured is None else measured,
                                             rng, self._bounds)
                for phase, v in voltages.items()}

    def pulse_counts(self, requested: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Signed pulse count per device for a requested change (S) of each conductance.

        The controller knows only the nominal step: n = requested / dw_min, rounded to the
        nearest integer or stochastically (n = floor(r) + [u < r - floor(r)], unbiased), and
        clipped to ``max_pulses``.
        """
        ratio = np.divide(requested, self.nominal_step, out=np.zeros_like(requested),
                          where=self.nominal_step > 0)
        if self.device.rounding == "stochastic":
            floor = np.floor(ratio)
            counts = floor + (rng.random(ratio.shape) < ratio - floor)
        else:
            counts = np.round(ratio)
        limit = self.device.max_pulses
        return np.clip(counts, -limit, limit).astype(np.int64)

    def apply_pulses(self, values: np.ndarray, counts: np.ndarray,
                     rng: np.random.Generator) -> np.ndarray:
        """Conductances (S) after each device received ``counts`` pulses (sign = direction)."""
        device = self.device
        values = np.array(values, dtype=float, copy=True)
        remaining = np.abs(counts)
        up = counts > 0
        span = self.g_max - self.g_min
        for _ in range(int(remaining.max(initial=0))):
            active = np.flatnonzero(remaining > 0)
            remaining[active] -= 1
            g = values[active]
            is_up = up[active]
            size = self.dw[active] * np.where(is_up, 1.0 + self.up_down[active],
                                              1.0 - self.up_down[active])
            if device.step_std > 0:
                size = size * (1.0 + device.step_std * rng.standard_normal(active.size))
            if device.model == "soft_bounds":
                distance = np.where(is_up, self.g_max[active] - g, g - self.g_min[active])
                size = size * 2.0 * np.maximum(distance, 0.0) / span[active]
            g = g + np.where(is_up, size, -size)
            values[active] = np.clip(g, self.g_min[active], self.g_max[active])
        return values

    def update(self, values: np.ndarray, requested: np.ndarray,
               rng: np.random.Generator) -> np.ndarray:
        """New conductances (S) after asking every device for a change ``requested`` (S).

        The scheme (:attr:`scheme`) decides the pulse counts; ``accumulate`` updates
        :attr:`buffer`. Every pulse fired is counted in :attr:`pulses`.
        """
        requested = np.asarray(requested, dtype=float)
        if self.device.model == "ideal":
            return self.clip(values + requested)
        self.updates += 1
        if self.scheme.scheme == "transfer":
            return self._transfer(values, requested, rng)
        if self.scheme.scheme == "accumulate" and self.scheme.step_estimate == "read":
            counts, self.buffer = self.scheme.fire_expected(
                self.buffer, requested, *self.predicted_steps(values), self.nominal_step,
                self.device.max_pulses)
        elif self.scheme.scheme == "accumulate":
            counts, self.buffer = self.scheme.fire(self.buffer, requested, self.nominal_step,
                                                   self.device.max_pulses)
        else:
            counts = self.pulse_counts(requested, rng)
        self.pulses += np.abs(counts)
        return self.apply_pulses(values, counts, rng)

    def predicted_steps(self, values: np.ndarray) -> tuple[tuple, tuple]:
        """What the periphery of ``step_estimate: read`` predicts from a read of every cell's
        conductance ``values`` (S) with the nominal device model (nominal ``dw_min``,
        ``up_down``, bounds; not the device's drawn ones): ``((first, room) up, (first, room)
        down)``, the change of one pulse and the distance to the bound approached (S)
        (:func:`eqprop_hw.learning.schemes.expected_change`). A constant-step device has
        ``room = inf``; a soft-bounds one ``first = 2 dw (1 +- up_down) room / (g_max - g_min)``.
        """
        g = np.asarray(values, dtype=float)
        low, high = self.nominal_bounds
        up = self.nominal_step * (1.0 + self.device.up_down)
        down = self.nominal_step * (1.0 - self.device.up_down)
        if self.device.model != "soft_bounds":
            room = np.full(g.shape, np.inf)
            return (up, room), (down, room)
        span = high - low
        room_up, room_down = np.maximum(high - g, 0.0), np.maximum(g - low, 0.0)
        return ((2.0 * up * room_up / span, room_up),
                (2.0 * down * room_down / span, room_down))

    def _transfer(self, values: np.ndarray, requested: np.ndarray,
                  rng: np.random.Generator) -> np.ndarray:
        """The ``transfer`` scheme's minibatch (:mod:`eqprop_hw.learning.schemes`): pulses into
        the fast array A (held as :attr:`buffer` = A - reference), then maybe one column
        group's transfer into the slow array C (``values``)."""
        counts = self.pulse_counts(requested, rng)
        fast = self.apply_pulses(self.reference + self.buffer, counts, rng)
        moved = np.zeros(counts.size, dtype=np.int64)
        group = self.scheme.transfer_group(self.updates)
        if group is not None:
            chosen = np.arange(counts.size) % self.scheme.columns == group
            ratio = whole_step_ratio(np.divide(fast - self.reference, self.nominal_step,
                                               out=np.zeros_like(fast),
                                               where=self.nominal_step > 0))
            fire = chosen & (np.abs(ratio) >= self.scheme.threshold)
            limit = self.device.max_pulses
            moved = np.where(fire, np.clip(np.trunc(ratio), -limit, limit), 0).astype(np.int64)
            values = self.apply_pulses(values, moved, rng)
            fast = self.apply_pulses(fast, -moved, rng)
        self.buffer = fast - self.reference
        self.pulses += np.abs(counts) + 2 * np.abs(moved)
        return values

    def effective(self, values: np.ndarray) -> np.ndarray:
        """Conductances (S) the circuit sees: ``values`` (array C), plus gamma (A - A_ref) for
        the ``transfer`` scheme, clipped to every device's bounds."""
        if self.scheme.scheme != "transfer" or self.scheme.gamma == 0:
            return values
        return self.clip(values + self.scheme.gamma * self.buffer)
    def buffer_range(self) -> tuple[np.ndarray, np.ndarray]:
        """(low, high) of every cell's :attr:`buffer` (S): ``+-max_pulses`` nominal steps for
        ``accumulate``; the fast device's bounds minus its reference for ``transfer``."""
        if self.scheme.scheme == "transfer":
            return self.g_min - self.reference, self.g_max - self.reference
        limit = self.device.max_pulses * self.nominal_step
        return -limit, limit

    def scheme_state(self) -> dict:
        """Copies of the scheme state (what a checkpoint keeps): every cell's register or fast
        device (``buffer``, S) and pulse count, and the number of minibatches applied."""
        return {"buffer": self.buffer.copy(), "pulses": self.pulses.copy(),
                "updates": self.updates}

    def restore(self, state: dict) -> None:
        """Put back state from :meth:`scheme_state` (arrays already checked by the caller)."""
        self.buffer = np.array(state["buffer"], dtype=float, copy=True)
        self.pulses = np.array(state["pulses"], dtype=np.int64, copy=True)
        self.updates = int(state.get("updates", 0))


def device_from_mapping(data: dict | None) -> PulsedDevice:
    """A :class:`PulsedDevice` from a validated ``devices.conductance`` mapping."""
    return PulsedDevice(**(data or {}))


def measurement_from_mapping(data: dict | None) -> Measurement:
    """A :class:`Measurement` from a validated ``devices.measurement`` mapping."""
    data = dict(data or {})
    if data.get("adc_range") is not None:
        data["adc_range"] = tuple(float(v) for v in data["adc_range"])
    data["adc_ranges"] = tuple((pattern, float(lo), float(hi))
                               for pattern, (lo, hi) in (data.get("adc_ranges") or {}).items())
    return Measurement(**data)


def amplifier_errors_from_mapping(data: dict | None) -> AmplifierErrors:
    """An :class:`AmplifierErrors` from a validated ``devices.amplifier`` mapping."""
    return AmplifierErrors(**(data or {}))


def measured_nodes(circuit, node_names: list) -> np.ndarray:
    """Mask of the node columns a measurement reads: all but nodes held by a grounded source.

    Inputs and biases are driven by sources whose values the controller sets, so it knows
    them without reading them.
    """
    from eqprop_hw.circuit.graph import GROUND
    held = set()
    for element in circuit.elements:
        if element.type == "V" and GROUND in element.nodes[:2]:
            held.update(node for node in element.nodes[:2] if node != GROUND)
    return np.array([node not in held for node in node_names], dtype=bool)


def hardware_from_spec(spec, circuit, node_names: list, g_min: float, g_max: float
                       ) -> Hardware | None:
    """The :class:`Hardware` of a spec's ``devices`` section, or None without one.

    Parameters
    ----------
    spec : Spec
    circuit : Circuit
        The built circuit (its trainable elements are the devices).
    node_names : list of str
        The backend's node columns (what a measurement reads).
    g_min, g_max : float
        Nominal conductance bounds (S).
    """
    devices = spec.data.get("devices")
    if not devices:
        return None
    n = len(circuit.trainable)
    return Hardware(device_from_mapping(devices.get("conductance")),
                    measurement_from_mapping(devices.get("measurement")),
                    np.full(n, float(g_min)), np.full(n, float(g_max)),
                    seed=int(devices.get("seed", 0)),
                    measured=measured_nodes(circuit, node_names), node_names=list(node_names),
                    scheme=scheme_from_mapping(devices.get("update")))


def probe_for(hardware: Hardware | None, circuit, node_names: list):
    """The probe a measurement uses: :func:`line_probe` for ``at: lines``, else each cell's own
    terminals (:func:`eqprop_hw.learning.ep.make_probe`)."""
    if hardware is not None and hardware.measurement.at == "lines":
        return line_probe(circuit, node_names)
    from eqprop_hw.learning.ep import make_probe
    return make_probe(circuit, node_names)


def line_probe(circuit, node_names: list):
    """A probe that reads each crossbar cell between its row and column line ends.

    With wire resistance (``wires``) a peripheral circuit cannot reach a cell's own terminals;
    it sees the row driver's node and the column's end node. Elements outside crossbars are
    read at their own terminals.
    """
    from eqprop_hw.learning.ep import Probe, make_probe
    from eqprop_hw.circuit.graph import GROUND
    probe = make_probe(circuit, node_names)
    if not circuit.crossbars:
        return probe
    column = {node: k for k, node in enumerate(node_names)}
    column[GROUND] = -1
    position = {name: k for k, name in enumerate(circuit.trainable)}
    plus, minus = probe.plus.copy(), probe.minus.copy()
    for crossbar in circuit.crossbars:
        rows, columns = crossbar["rows"], crossbar["columns"]
        for name in crossbar["elements"]:
            if name not in position:
                continue
            i, j = (int(part) for part in name.rsplit("_", 2)[-2:])
            plus[position[name]] = column[rows[i]]
            minus[position[name]] = column[columns[j]]
    return Probe(probe.names, plus, minus)


def measured_gradient(backend, hardware: Hardware, inputs, targets, beta: float, nudge: str,
                      probe, rng: np.random.Generator) -> np.ndarray:
    """Batch-mean local-rule estimate of dL/dg (V^2/S) from *read* node voltages.

    The phases run on the backend as usual; every phase's node voltages then pass through
    ``hardware.read`` (read noise, ADC) before the local rule sees them.
    """
    from eqprop_hw.learning.ep import mean_local_rule, run_phases
    phases = run_phases(backend, probe, inputs, targets, beta, nudge)
    return mean_local_rule(hardware.read(phases.voltages, rng), probe, beta, nudge)
