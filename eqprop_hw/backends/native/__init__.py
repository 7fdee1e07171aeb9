"""Native backend: the circuit's DC equations solved by Newton's method in numpy, batched.

The equations are SPICE's modified nodal analysis (MNA) of the same circuit graph the netlist
writer reads: node voltages plus the branch currents of voltage-defining elements (V, E, H and
L, a short at DC). Nodes tied to ground by an independent voltage source are *pinned*: their
voltage is known per sample and they are eliminated, so a layered crossbar with 784 doubled
inputs leaves only its hidden and output nodes as unknowns.

Diodes follow ngspice's level-1 DC model exactly (``dioload.c``, ``diotemp.c``; one place,
:func:`diode_law` and :func:`diode_current`
in :mod:`.diode`): with ``Vte = N k T / q`` at the circuit's
``temp`` (default 27 degC) and ``Is = IS(T) * area``,

    I(V) = Is (exp(V/Vte) - 1) + gmin V                     for V >= -3 Vte
    I(V) = -Is (1 + (3 Vte / (e V))^3) + gmin V             below, down to -BV',
    I(V) = -Is exp(-(BV' + V) / Vte) + gmin V               beyond (when the model has BV),

where ``IS(T) = IS exp((T/TNOM - 1) EG / (N Vt) + XTI/N ln(T/TNOM))`` and ``BV'`` is BV moved
so that the current at -BV is about IBV (:func:`matched_breakdown`); plus an optional series
resistance RS / area (an internal node). Newton steps use SPICE's junction voltage limiting
(``DEVpnjlim``, mirrored in breakdown), so convergence behaves like ngspice's; iterations stop
when every unknown moves less than ``1e-12 |x| + 1e-15`` and no junction was limited.

Batches are solved at once: dense batched LU (``numpy.linalg.solve``) when the unknowns are
few (``<= dense_limit``), otherwise sparse LU per sample (``scipy.sparse.linalg.splu``). Layered
networks eliminate their diode-only hidden nodes (a diagonal block) and solve a small Schur
system per sample; with ``compiled=True`` (training) those Newton iterations run as the compiled
loops of :mod:`eqprop_hw.backends.native.fused`, with the same iterates.

Nudging follows the backend's loss (:mod:`eqprop_hw.learning.losses`). Squared loss: the VCCS stamps
``GNUDGE{k}`` of gain ``beta`` to the target sources ``VNUDGE{k}`` (linear). Cross-entropy
(``loss="cross_entropy"``): no general behavioural sources, but one dedicated nonlinear term on
the output unknowns, the current ``I = (beta / tau) (y - p)``, ``p = softmax(V_out / tau)``,
injected into the output nodes. Newton linearises it like a device: its small-signal
conductance ``(beta / tau^2) (diag(p) - p p^T)`` joins the output block of the Jacobian (the
outputs are then never eliminated by the Schur step, since this block couples them per sample)
and ``I(V0) + G V0`` the right-hand side. As junction voltages are limited (``pnjlim``), the
output voltages at which the softmax is linearised move at most
``CE_STEP_LIMIT * tau`` per iteration.

The package follows the solver's stages, one module each:

``diode``        the diode law (the one place the native solver takes it from)
``assembly``     MNA index, stamps, pinned-voltage gathers, re-assembly after value updates
``elimination``  dense LU, Kron reduction of fixed linear unknowns, Schur blocks, sparse LU
``newton``       Newton iterations, junction limiting, convergence
``chunks``       fixed 128-row chunks of a large batch on threads, BLAS held to one thread
``fused``        the compiled (numba) Newton loops of the Schur path
``backend``      :class:`NativeBackend`, which wires them and implements the Backend interface
"""

from eqprop_hw.backends.native.backend import NativeBackend
from eqprop_hw.backends.native.diode import (BOLTZMANN, CHARGE, CELSIUS_TO_KELVIN, DiodeLaw,
                                             diode_current, diode_law, diode_stamp,
                                             matched_breakdown, scaled_saturation,
                                             thermal_voltage)
from eqprop_hw.backends.native.newton import pnjlim

__all__ = ["NativeBackend", "BOLTZMANN", "CHARGE", "CELSIUS_TO_KELVIN", "DiodeLaw",
           "diode_current", "diode_law", "diode_stamp", "matched_breakdown",
           "scaled_saturation", "thermal_voltage", "pnjlim"]
