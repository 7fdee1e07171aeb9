"""Device-aware update schemes: how a cell's periphery turns measured updates into pulses.

A spec's ``devices.update`` section (see ``docs/specs.md``) picks one, as a frozen dataclass
here (IBM aihwkit's optimizer vocabulary where it fits; here every scheme is hardware-local:
it uses only what one cell's periphery measures and stores):

:class:`UpdateScheme`
    ``direct``: every minibatch's requested change ``dg = -eta g_max^2 dL/dg`` becomes a pulse
    count at once (``devices.conductance.rounding``); no extra state.
    ``accumulate``: mixed-precision accumulation (aihwkit's ``MixedPrecisionCompound`` idea,
    done per cell): a digital register per cell sums the requested changes and fires whole
    pulses only when it crosses a threshold, keeping the remainder.
    ``transfer``: a Tiki-Taka-style pair of arrays (aihwkit's ``TransferCompound`` idea): the
    pulses go to a fast array A; periodically one column group of A is read and its
    accumulated change is transferred, as pulses, into the slow array C (see below).

Stochastic rounding (``devices.conductance.rounding``), averaged reads
(``devices.measurement.reads``), centered / larger / per-layer beta and output-error scaling
(``training``) are not update schemes; ``docs/specs.md`` ("Device-aware schemes and mitigations
at a glance") lists every scheme and mitigation with its equation and the extra hardware it
assumes, and ``tests/test_scheme_closed_forms.py`` checks each against a closed form.

The accumulator of cell i, with nominal step ``dw_min`` (what the controller knows; the
device's own step, asymmetry, noise and bounds act when the pulses land), after minibatch t:

    b_i <- b_i + dg_i(t)
    n_i  = trunc(b_i / dw_min)   if |b_i| >= threshold dw_min, else 0     (sign-aware)
    n_i  = clip(n_i, -max_pulses, max_pulses)
    b_i <- clip(b_i - n_i dw_min, -max_pulses dw_min, max_pulses dw_min)

so ``sum_t n_i dw_min + b_i = sum_t dg_i`` exactly while the register does not saturate: a
constant request ``u`` fires ``floor(t u / dw_min)`` pulses in t minibatches with threshold 1.
Noise in the requests cancels in the register before it becomes pulses, so asymmetric devices
(whose up and down steps differ) do not turn noise into drift, and far fewer pulses are spent.

The ``transfer`` scheme keeps a second device A_i per cell, of the same kind (it shares the
cell's drawn device-to-device parameters: a simplification), starting at its reference point
A_ref,i: the symmetric point of a soft-bounds device, where up and down steps are equal,
``((1 + up_down_i) g_max_i + (1 - up_down_i) g_min_i) / 2``, else mid-range. Per minibatch:

    A_i    <- device(A_i, pulses(dg_i))                (as ``direct``: rounding, noise, bounds)
    every ``transfer_every`` minibatches, for the cells of the next column group
    (i mod columns == k, k cycling): read d_i = A_i - A_ref,i,
    m_i     = trunc(d_i / dw_min)   if |d_i| >= threshold dw_min, else 0
    C_i    <- device(C_i, m_i pulses),   A_i <- device(A_i, -m_i pulses)

and the circuit sees ``g_i = clip(C_i + gamma (A_i - A_ref,i))`` (gamma = 0: C alone). The
register of ``accumulate`` becomes an analog device here, so noise, asymmetry and soft bounds
act on the accumulated change too; near A's symmetric point up and down steps balance.
Extra hardware per cell: a second device (array A), a conductance read of A at transfer time,
the cell's reference A_ref,i to read it against (a reference device or a stored value, e.g.
found by a symmetric-point calibration of the drawn device; modelled exact) and, for
gamma > 0, a periphery that adds gamma times A's reading to C's (not modelled: the circuit is
given g directly).

``step_estimate: read`` (``accumulate`` only) counts a pulse not as ``dw_min`` but as the
change the nominal device model predicts from a read of the cell's conductance g. A soft-bounds
device's step shrinks linearly towards the bound it approaches, so below its symmetric point
down-steps are smaller than up-steps (for the study's 1e-6..1e-4 S devices with asymmetry 0.1:
12 times at 1e-5 S, 120 times at 2e-6 S)
and a nominal register that fires as many pulses down as up drives g up to the symmetric point:
the requests' noise and every down request are turned into upward drift. With r the distance
to the bound approached (``g_max - g`` up, ``g - g_min`` down, nominal bounds) and
``q = 2 dw_min (1 +- up_down) / (g_max - g_min)`` the fraction of r one pulse takes,

    E(n) = r (1 - (1 - q)^n)        (soft bounds; ``n dw_min (1 +- up_down)`` for a constant step)
    b_i <- b_i + dg_i(t)
    n_i  = max { n <= max_pulses : E(n) <= min(|b_i|, r - dw_min / 2) }   if |b_i| >= E(threshold)
    b_i <- clip(b_i - sign(b_i) E(n_i), -max_pulses dw_min, max_pulses dw_min)

so that, for a device that matches the nominal model, ``sum_t dg_i = g_i(t) - g_i(0) + b_i``
exactly: what the register asked for is what the device did. The ``r - dw_min / 2`` cap keeps
the periphery from chasing the last half step before a bound (where pulses get ever smaller).
Extra hardware per cell beyond ``accumulate``'s register: a conductance read of the device
before it is pulsed (a write-verify style read, assumed exact here) and the model evaluation in
the periphery (a lookup of E and its inverse against the read, shared by the cells of a row).
The device's own drawn bounds, step and asymmetry differ from the nominal ones the periphery
assumes, and cycle-to-cycle noise acts on every pulse: those errors stay.

Extra hardware per cell of ``accumulate``: one signed register of ``ceil(log2(2 max_pulses + 1)) + f`` bits
(f fractional bits; simulated here in double precision) and an adder; the update is written
to it once per minibatch, and the pulse driver reads its integer part.

Examples
--------
>>> import numpy as np
>>> scheme = UpdateScheme(scheme="accumulate", threshold=1.0)
>>> buffer, step = np.zeros(2), np.full(2, 1e-6)
>>> for _ in range(5):                       # 0.3 and -0.45 of a step per minibatch
...     counts, buffer = scheme.fire(buffer, np.array([0.3e-6, -0.45e-6]), step, 100)
...     print(counts.tolist(), np.round(buffer / step, 2).tolist())
[0, 0] [0.3, -0.45]
[0, 0] [0.6, -0.9]
[0, -1] [0.9, -0.35]
[1, 0] [0.2, -0.8]
[0, -1] [0.5, -0.25]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from eqprop_hw.errors import CircuitError

UPDATE_SCHEMES = ("direct", "accumulate", "transfer")
#: How the ``accumulate`` register counts a pulse: one nominal step, or the change the nominal
#: device model predicts at the cell's read conductance.
STEP_ESTIMATES = ("nominal", "read")

#: Most column groups and most minibatches between transfers of the ``transfer`` scheme.
MAX_COLUMNS = 100_000
MAX_TRANSFER_EVERY = 1_000_000

#: Largest accumulator threshold, in nominal steps.
MAX_THRESHOLD = 1000.0


@dataclass(frozen=True)
class UpdateScheme:
    """How requested conductance changes (S) become pulses (see the module docstring)."""

    scheme: str = "direct"
    """``direct`` (pulses every minibatch) or ``accumulate`` (per-cell register, threshold)."""
    threshold: float = 1.0
    """``accumulate``: the register fires when ``|b| >= threshold dw_min`` (1 to 1000 steps);
    ``transfer``: a cell transfers when ``|A - A_ref| >= threshold dw_min``."""
    gamma: float = 0.0
    """``transfer``: weight of the fast array in the circuit's conductance (0 to 1)."""
    transfer_every: int = 1
    """``transfer``: minibatches between two column reads."""
    columns: int = 1
    """``transfer``: column groups read in turn (cell i is in group i mod columns)."""
    step_estimate: str = "nominal"
    """``accumulate``: ``nominal`` (a pulse counts as dw_min) or ``read`` (the periphery reads
    the cell's conductance and counts the change the nominal device model predicts there,
    :func:`expected_change`)."""

    def __post_init__(self):
        if self.scheme not in UPDATE_SCHEMES:
            raise CircuitError(f"devices.update.scheme must be one of "
                               f"{', '.join(UPDATE_SCHEMES)}, got {self.scheme!r}")
        if not 1.0 <= self.threshold <= MAX_THRESHOLD:
            raise CircuitError(f"devices.update.threshold must be in [1, {MAX_THRESHOLD:g}] "
                               f"device steps, got {self.threshold!r}")
        if not 0.0 <= self.gamma <= 1.0:
            raise CircuitError(f"devices.update.gamma must be in [0, 1], got {self.gamma!r}")
        if self.step_estimate not in STEP_ESTIMATES:
            raise CircuitError(f"devices.update.step_estimate must be one of "
                               f"{', '.join(STEP_ESTIMATES)}, got {self.step_estimate!r}")
        if self.step_estimate != "nominal" and self.scheme != "accumulate":
            raise CircuitError(f"devices.update.step_estimate {self.step_estimate} is a "
                               f"setting of the accumulate scheme, not of {self.scheme}")
        for name, top in (("transfer_every", MAX_TRANSFER_EVERY), ("columns", MAX_COLUMNS)):
            value = getattr(self, name)
            if not (isinstance(value, int) and 1 <= value <= top):
                raise CircuitError(f"devices.update.{name} must be an integer in 1..{top}, "
                                   f"got {value!r}")

    @property
    def stateful(self) -> bool:
        """True when the scheme keeps per-cell state between minibatches."""
        return self.scheme != "direct"

    def transfer_group(self, updates: int) -> int | None:
        """The column group read after minibatch number ``updates`` (1-based), or None."""
        if updates % self.transfer_every:
            return None
        return (updates // self.transfer_every - 1) % self.columns

    def fire(self, buffer: np.ndarray, requested: np.ndarray, step: np.ndarray,
             max_pulses: int) -> tuple[np.ndarray, np.ndarray]:
        """``(signed pulse counts, new buffer)`` of the accumulator for one minibatch.

        Parameters
        ----------
        buffer : ndarray (n,)
            Register contents (S) before the minibatch.
        requested : ndarray (n,)
            Requested change of each conductance (S).
        step : ndarray (n,)
            Nominal step dw_min (S) of each device (> 0).
        max_pulses : int
            Most pulses one update fires (and the register's saturation, in steps).

        Returns
        -------
        counts : ndarray of int64 (n,)
        buffer : ndarray (n,)
            Register contents (S) after the pulses, the remainder.
        """
        total = np.asarray(buffer, dtype=float) + np.asarray(requested, dtype=float)
        ratio = np.divide(total, step, out=np.zeros_like(total), where=step > 0)
        ratio = whole_step_ratio(ratio)
        counts = np.where(np.abs(ratio) >= self.threshold, np.trunc(ratio), 0.0)
        counts = np.clip(counts, -max_pulses, max_pulses)
        limit = max_pulses * step
        remainder = np.clip(total - counts * step, -limit, limit)
        return counts.astype(np.int64), remainder

    def fire_expected(self, buffer: np.ndarray, requested: np.ndarray, up: tuple,
                      down: tuple, step: np.ndarray, max_pulses: int
                      ) -> tuple[np.ndarray, np.ndarray]:
        """``(signed pulse counts, new buffer)`` of the accumulator with ``step_estimate:
        read``: pulses are counted by the change the device model predicts
        (:func:`expected_change`), not as whole nominal steps.

        Parameters
        ----------
        buffer, requested : ndarray (n,)
            Register contents and requested change (S), as for :meth:`fire`.
        up, down : (first, room), each a pair of ndarray (n,)
            The predicted change of one pulse up / down at the read conductance (S) and the
            distance to the bound that direction approaches (S; ``inf`` for a constant step).
        step : ndarray (n,)
            Nominal step dw_min (S): the register saturates at ``max_pulses`` of them.
        max_pulses : int
            Most pulses one update fires.

        Returns
        -------
        counts : ndarray of int64 (n,)
        buffer : ndarray (n,)
            Register contents (S) after the pulses: the request minus their predicted change.
        """
        total = np.asarray(buffer, dtype=float) + np.asarray(requested, dtype=float)
        rising = total >= 0
        first = np.where(rising, up[0], down[0])
        room = np.where(rising, up[1], down[1])
        # Never aim closer than half a nominal step to the bound approached: the last part of
        # a soft-bounds device's room costs ever more pulses and means nothing to the circuit.
        size = np.minimum(np.abs(total), np.maximum(room - step / 2, 0.0))
        counts = pulses_for(size, first, room, max_pulses)
        fire = size >= expected_change(np.full(size.shape, self.threshold), first, room)
        counts = np.where(fire & (first > 0), counts, 0)
        moved = expected_change(counts.astype(float), first, room)
        limit = max_pulses * step
        remainder = np.clip(total - np.where(rising, moved, -moved), -limit, limit)
        return np.where(rising, counts, -counts).astype(np.int64), remainder


def expected_change(pulses: np.ndarray, first: np.ndarray, room: np.ndarray) -> np.ndarray:
    """Predicted size (S) of the change ``pulses`` pulses in one direction make.

    A pulse changes g by ``first`` while it is ``room`` away from the bound it approaches; for a
    soft-bounds device each pulse takes the same fraction ``q = first / room`` of the room left,
    so ``n`` pulses move ``room (1 - (1 - q)^n)``; a constant-step device (``room = inf``) moves
    ``n first``. ``pulses`` may be fractional (a threshold).

    Examples
    --------
    >>> expected_change(np.array([3.0, 3.0]), np.array([1.0, 1.0]), np.array([np.inf, 4.0]))
    array([3.    , 2.3125])
    """
    pulses = np.asarray(pulses, dtype=float)
    finite = np.isfinite(room)
    safe_room = np.where(finite & (room > 0), room, 1.0)
    fraction = np.clip(np.asarray(first, dtype=float) / safe_room, 0.0, 1.0)
    soft = np.where(room > 0, safe_room * (1.0 - (1.0 - fraction) ** pulses), 0.0)
    return np.where(finite, soft, pulses * first)


def pulses_for(change: np.ndarray, first: np.ndarray, room: np.ndarray,
               max_pulses: int) -> np.ndarray:
    """The most pulses, at most ``max_pulses``, whose :func:`expected_change` does not exceed
    ``change`` (S): ``trunc(change / first)`` for a constant step, ``trunc(log(1 - change /
    room) / log(1 - first / room))`` for soft bounds (``max_pulses`` once ``change >= room``).

    Examples
    --------
    >>> pulses_for(np.array([3.5, 2.5, 9.0]), np.ones(3), np.array([np.inf, 4.0, 4.0]), 100)
    array([  3,   3, 100])
    """
    change = np.asarray(change, dtype=float)
    first = np.asarray(first, dtype=float)
    finite = np.isfinite(room)
    safe_room = np.where(finite & (room > 0), room, 1.0)
    fraction = np.clip(first / safe_room, 0.0, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        linear = np.where(first > 0, change / np.where(first > 0, first, 1.0), 0.0)
        left = 1.0 - change / safe_room
        soft = np.where(left > 0, np.log(np.maximum(left, 1e-300)) /
                        np.log(np.where(fraction < 1, 1.0 - fraction, 0.5)), np.inf)
        soft = np.where(fraction >= 1, np.where(change >= safe_room, 1.0, 0.0), soft)
        soft = np.where((room > 0) & (first > 0), soft, 0.0)
    ratio = np.where(finite, soft, linear)
    ratio = np.where(np.isfinite(ratio), whole_step_ratio(np.minimum(ratio, 2.0 * max_pulses)),
                     max_pulses)
    return np.clip(np.floor(ratio), 0, max_pulses).astype(np.int64)


def whole_step_ratio(ratio: np.ndarray) -> np.ndarray:
    """``ratio`` (a change in nominal steps) rounded to 1e-9 steps, so that a sum that is a
    whole number of steps up to double-precision round-off counts as that whole number.

    Examples
    --------
    >>> float(whole_step_ratio(np.array([(52e-6 - 51e-6) / 1e-6]))[0])
    1.0
    """
    return np.round(ratio, 9)


def scheme_from_mapping(data: dict | None) -> UpdateScheme:
    """An :class:`UpdateScheme` from a validated ``devices.update`` mapping."""
    return UpdateScheme(**(data or {}))
