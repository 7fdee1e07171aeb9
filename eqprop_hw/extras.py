"""Optional dependencies: whether each is installed, and one clear refusal naming its extra.

The package runs on its required dependencies alone (numpy, scipy, networkx, PyYAML, PySpice,
tqdm, threadpoolctl). Each optional module belongs to an extra of ``pyproject.toml``:

=============  ===============  =====================================================
module         extra            used for
=============  ===============  =====================================================
numba          ``fast``         the native solver's compiled Newton loops (else numpy)
sklearn        ``data``         the iris/digits data sets and train/test splits
matplotlib     ``plot``         PNG plots (``train`` writes none without it)
distributed    ``distributed``  ``train --workers/--scheduler`` (Dask)
=============  ===============  =====================================================
"""

from __future__ import annotations

import importlib
import importlib.util

from eqprop_hw.errors import EqpropError

#: Top-level module -> (pip distribution, eqprop-hw extra that installs it).
OPTIONAL = {
    "numba": ("numba", "fast"),
    "sklearn": ("scikit-learn", "data"),
    "matplotlib": ("matplotlib", "plot"),
    "distributed": ("dask[distributed]", "distributed"),
    "dask": ("dask[distributed]", "distributed"),
}


def available(module: str) -> bool:
    """Whether ``module`` (e.g. ``"sklearn"``) can be imported, without importing it."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):      # a parent package missing, or a None placeholder
        return False


def install_hint(module: str) -> str:
    """``"pip install 'eqprop-hw[data]'"`` for ``module`` (or a dotted submodule of it)."""
    _, extra = OPTIONAL[module.split(".")[0]]
    return f"pip install 'eqprop-hw[{extra}]'"


def missing_message(module: str, what: str) -> str:
    """One line: ``WHAT needs DISTRIBUTION, which is not installed: pip install ...``."""
    distribution, _ = OPTIONAL[module.split(".")[0]]
    return f"{what} needs {distribution}, which is not installed: {install_hint(module)}"


def require(module: str, what: str):
    """Import and return ``module``, or raise one :class:`EqpropError` naming its extra.

    Parameters
    ----------
    module : str
        Module to import, e.g. ``"sklearn.datasets"``.
    what : str
        What needs it, as the start of the message (``"the iris data set"``).
    """
    try:
        return importlib.import_module(module)
    except ImportError:
        if available(module.split(".")[0]):
            raise                           # installed but broken: keep the real error
        raise EqpropError(missing_message(module, what)) from None
