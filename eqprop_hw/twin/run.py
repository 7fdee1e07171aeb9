"""Run a twin-network transient with ``ngspice -b`` and read what the circuitry learnt.

Examples
--------
>>> import eqprop_hw
>>> net = eqprop_hw.load(CIRCUITS / "xor.yaml")
>>> settings = TwinSettings(eta=0.5, learning_rate=3e-5, g_min=1e-8, g_max=1e-3)
>>> run = run_twin(net.circuit, settings, [[0.0, 1.0]], [[0.9]],
...                net.circuit.trainable_values())
>>> run.values.shape == (2, len(net.circuit.trainable))
True
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from eqprop_hw.circuit.graph import Circuit
from eqprop_hw.circuit.spice_grammar import join_lines
from eqprop_hw.errors import BackendError
from eqprop_hw.twin.netlist import TwinSettings, twin_lines


@dataclass(frozen=True)
class TwinRun:
    """What one transient learnt.

    Attributes
    ----------
    times : ndarray, shape (windows + 1,)
        Window boundaries (s): 0, T, 2T, ...
    values : ndarray, shape (windows + 1, n_trainable)
        Every trainable conductance (S) at each boundary (row i: after i windows).
    seconds : float
        Wall time of the ngspice run (s).
    netlist : str
        The netlist that ran.
    """

    times: np.ndarray
    values: np.ndarray
    seconds: float
    netlist: str


def run_twin(circuit: Circuit, settings: TwinSettings, inputs, targets, initial,
             timeout: float = 3600.0, clock_scale=None, damage: dict | None = None) -> TwinRun:
    """Write the twin netlist, run ``ngspice -b`` on it and read the capacitors.

    Parameters
    ----------
    circuit, settings, inputs, targets, initial, clock_scale, damage
        As :func:`eqprop_hw.twin.netlist.twin_lines`. A damaged edge's value is reported as
        ``g_min`` from its cut on (the capacitor keeps its charge, the edge conducts nothing).
    timeout : float
        Seconds before the run is abandoned.

    Returns
    -------
    TwinRun
    """
    text = join_lines(twin_lines(circuit, settings, inputs, targets, initial,
                                 clock_scale=clock_scale, damage=damage))
    run = run_twin_netlist(text, circuit, np.atleast_2d(inputs).shape[0], settings.sample_time,
                           timeout)
    values = run.values * settings.unit
    for name, window in (damage or {}).items():
        values[window:, circuit.trainable.index(name)] = settings.g_min
    return TwinRun(run.times, values, run.seconds, text)


def run_twin_netlist(text: str, circuit: Circuit, windows: int, sample_time: float,
                     timeout: float = 3600.0) -> TwinRun:
    """Run a twin netlist (either edge kind) with ``ngspice -b`` and read its storage
    voltages ``v(tw_<element>)`` (V) at every window boundary, in trainable order.

    Returns
    -------
    TwinRun
        ``values`` in volts, as stored (the callers turn them into conductances or gates).
    """
    from eqprop_hw.backends.ngspice.raw import run_ngspice_batch
    start = time.perf_counter()
    vectors = run_ngspice_batch(text, timeout=timeout)
    seconds = time.perf_counter() - start
    t = np.asarray(vectors.get("time"), dtype=float)
    stores = [f"v(tw_{name.lower()})" for name in circuit.trainable]
    missing = [name for name in stores if name not in vectors]
    if missing or t.ndim != 1:
        raise BackendError(f"twin run: ngspice wrote no {missing[:1] or ['time']} vector")
    boundaries = np.arange(windows + 1) * sample_time
    columns = [np.interp(boundaries, t, np.asarray(vectors[name], dtype=float))
               for name in stores]
    return TwinRun(boundaries, np.stack(columns, axis=1), seconds, text)
