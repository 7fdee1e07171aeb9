"""Twin networks that train themselves in one SPICE transient (Coupled Learning circuitry).

After Dillavou, Stern, Liu and Durian (Phys. Rev. Applied 18, 014040, 2022): two copies of a
resistive network run at once, the *free* twin under the inputs alone and the *clamped* twin
with its outputs held at ``V_F + eta (y - V_F)`` by a summing amplifier; every trainable edge
is a voltage-controlled conductance set by the charge on a storage capacitor, and per-edge
circuitry compares the edge's drops in the two twins and charges that capacitor. Inputs and
targets are played as PWL sources, one sample per window, so a whole training run is ONE
ngspice transient.

- :mod:`eqprop_hw.twin.netlist`: the settings, the sample schedule and the transient netlist.
- :mod:`eqprop_hw.twin.run`: run it (``ngspice -b``), read the capacitors, evaluate the curve.
- :mod:`eqprop_hw.twin.mosfet`: transistor twins, every trainable edge a MOSFET whose gate is
  the storage capacitor (``training.twin.mosfet``); :mod:`eqprop_hw.twin.mos_train` runs them
  and :mod:`eqprop_hw.twin.mos_check` checks them on ngspice operating points.
"""

from eqprop_hw.twin.netlist import TwinSettings, twin_lines, twin_schedule  # noqa: F401
from eqprop_hw.twin.run import TwinRun, run_twin  # noqa: F401
