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
Extra hardware per cell: a second device (array A), a conductance read of A at transfer time
and, for gamma > 0, a periphery that adds gamma times A's reading to C's (not modelled: the
circuit is given g directly).

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

    def __post_init__(self):
        if self.scheme not in UPDATE_SCHEMES:
            raise CircuitError(f"devices.update.scheme must be one of "
                               f"{', '.join(UPDATE_SCHEMES)}, got {self.scheme!r}")
        if not 1.0 <= self.threshold <= MAX_THRESHOLD:
            raise CircuitError(f"devices.update.threshold must be in [1, {MAX_THRESHOLD:g}] "
                               f"device steps, got {self.threshold!r}")
        if not 0.0 <= self.gamma <= 1.0:
            raise CircuitError(f"devices.update.gamma must be in [0, 1], got {self.gamma!r}")
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
