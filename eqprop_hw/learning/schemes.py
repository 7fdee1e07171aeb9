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

Extra hardware per cell: one signed register of ``ceil(log2(2 max_pulses + 1)) + f`` bits
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

UPDATE_SCHEMES = ("direct", "accumulate")

#: Largest accumulator threshold, in nominal steps.
MAX_THRESHOLD = 1000.0


@dataclass(frozen=True)
class UpdateScheme:
    """How requested conductance changes (S) become pulses (see the module docstring)."""

    scheme: str = "direct"
    """``direct`` (pulses every minibatch) or ``accumulate`` (per-cell register, threshold)."""
    threshold: float = 1.0
    """``accumulate``: the register fires when ``|b| >= threshold dw_min`` (1 to 1000 steps)."""

    def __post_init__(self):
        if self.scheme not in UPDATE_SCHEMES:
            raise CircuitError(f"devices.update.scheme must be one of "
                               f"{', '.join(UPDATE_SCHEMES)}, got {self.scheme!r}")
        if not 1.0 <= self.threshold <= MAX_THRESHOLD:
            raise CircuitError(f"devices.update.threshold must be in [1, {MAX_THRESHOLD:g}] "
                               f"device steps, got {self.threshold!r}")

    @property
    def stateful(self) -> bool:
        """True when the scheme keeps per-cell state between minibatches."""
        return self.scheme == "accumulate"

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
        counts = np.where(np.abs(ratio) >= self.threshold, np.trunc(ratio), 0.0)
        counts = np.clip(counts, -max_pulses, max_pulses)
        limit = max_pulses * step
        remainder = np.clip(total - counts * step, -limit, limit)
        return counts.astype(np.int64), remainder


def scheme_from_mapping(data: dict | None) -> UpdateScheme:
    """An :class:`UpdateScheme` from a validated ``devices.update`` mapping."""
    return UpdateScheme(**(data or {}))
