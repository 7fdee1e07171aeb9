"""Limits of a training run's counts, checked by the library and the command line alike.

The command line refuses the same values when it parses them (``--epochs``, ``--seed``); the
library checks again, so a Python caller cannot start a run of 0 epochs either. Every limit is
listed in ``docs/specs.md`` ("Limits").
"""

from __future__ import annotations

import numbers

from eqprop_hw.errors import EqpropError

#: Limits of a training run's counts (documented in docs/specs.md, "Limits").
MAX_EPOCHS = 1_000_000
MAX_SEED = 2**32 - 1


def check_run_counts(epochs=None, seed=None) -> None:
    """Refuse an ``epochs`` outside 1..:data:`MAX_EPOCHS` or a ``seed`` outside
    0..:data:`MAX_SEED` (None: the spec's). A run of 0 epochs would only overwrite a trained
    ``params`` file with the untrained values.

    Examples
    --------
    >>> check_run_counts(epochs=3, seed=0)
    >>> check_run_counts(epochs=0)
    Traceback (most recent call last):
    ...
    eqprop_hw.errors.EqpropError: epochs must be a whole number from 1 to 1,000,000, got 0
    """
    for name, value, low, high in (("epochs", epochs, 1, MAX_EPOCHS),
                                   ("seed", seed, 0, MAX_SEED)):
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or \
                not low <= value <= high:
            raise EqpropError(f"{name} must be a whole number from {low} to {high:,}, got "
                              f"{value!r}")
