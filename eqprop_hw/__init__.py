"""eqprop-hw: analog circuits that learn by Equilibrium Propagation.

Specs (YAML) are built into one circuit graph; that graph is written as a SPICE netlist for
ngspice and turned into arrays for the native solver, so the two cannot drift apart.

The Python API (``docs/api.md``): :func:`load` a spec, then ``describe``, ``simulate``,
``gradient``, ``netlist``, ``train`` and ``predict`` on the :class:`Network` it returns. These
names are imported on first use, so ``import eqprop_hw`` stays fast.

Examples
--------
>>> import eqprop_hw
>>> net = eqprop_hw.load(CIRCUITS / "xor.yaml")
>>> net.simulate([1.0, 0.0]).outputs.shape, net.simulate([[1.0, 0.0]]).outputs.shape
((1,), (1, 1))
"""

__version__ = "0.1.0"

#: The stable public names, all from :mod:`eqprop_hw.api` (imported lazily).
__all__ = ["load", "import_netlist", "Network", "SimulationResult", "GradientResult",
           "TrainingRun", "Prediction", "CoupledGradientResult", "InvalidParameterError"]


def __getattr__(name: str):
    """Import the API names on first use (PEP 562)."""
    if name in __all__:
        from eqprop_hw import api
        value = getattr(api, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'eqprop_hw' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + __all__)
