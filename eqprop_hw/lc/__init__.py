"""Hamiltonian LC oscillator networks and Hamiltonian Echo Learning (HEL).

Modules
-------
spec       validation of ``kind: lc`` specs (line-numbered :class:`~eqprop_hw.errors.SpecError`)
model      the Hamiltonian system as arrays (:class:`LCModel`), waveforms
integrate  Stormer-Verlet (leapfrog) integrator, forward and echo runs, batched
bptt       exact gradients of the discrete loss: adjoint (BPTT) and finite differences
continuous the gradient of the continuous-time circuit: BPTT at tstep/2 and tstep/4,
           Richardson-extrapolated (the reference the ngspice echo is also compared with)
echo       the HEL estimate from echo measurements, the other GLEP boundary conditions, the
           default nudge (default_beta)
check      the reference checks: echo (ngspice, native) vs BPTT vs finite differences
netlist    ``.tran`` netlists with initial conditions, ``UIC`` and behavioural inductors
ngspice    transients in the loaded ngspice shared-library circuit (``alter`` + ``tran``)
train      training with the echo rule

See ``docs/specs.md`` (kind: lc) and ``docs/results/lc_echo.md``.
"""
