"""eqprop-hw: analog circuits that learn by Equilibrium Propagation.

Specs (YAML) are built into one circuit graph; that graph is written as a SPICE netlist for
ngspice and turned into arrays for the native solver, so the two cannot drift apart.
"""

__version__ = "0.1.0"
