"""The documented value limits of a circuit (part of :mod:`eqprop_hw.circuit.graph`, which
re-exports every name): element values, diode model parameters, options, source values,
inputs and targets, each refused with one line naming the element and the limit
(``docs/specs.md``, "Value limits").

Examples
--------
>>> check_range("element R1: conductance", 1e-3, *CONDUCTANCE_LIMITS, "S")
>>> check_range("element R1: conductance", 1e12, *CONDUCTANCE_LIMITS, "S")
Traceback (most recent call last):
...
eqprop_hw.errors.CircuitError: element R1: conductance 1e+12 S is out of range: it must be at most 1e+09 S ...
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from eqprop_hw.circuit.transistors import TRANSISTOR_NODES
from eqprop_hw.errors import CircuitError

if TYPE_CHECKING:
    from eqprop_hw.circuit.graph import Circuit, DiodeModel, Element


#: What ``Element.value`` means for each type (documentation and ``describe``).
VALUE_MEANING = {
    "R": "conductance (S)",
    "D": "area factor (1)",
    "V": "DC voltage (V)",
    "I": "DC current (A)",
    "C": "capacitance (F)",
    "L": "inductance (H)",
    "E": "voltage gain (V/V)",
    "G": "transconductance (S)",
    "F": "current gain (A/A)",
    "H": "transresistance (Ohm)",
    "B": "none (behavioural expression)",
    "M": "none (fixed MOSFET)",
    "Q": "none (fixed bipolar transistor)",
    "J": "none (fixed JFET)",
    "Z": "none (fixed MESFET)",
    "S": "none (fixed voltage-controlled switch)",
    "W": "none (fixed current-controlled switch)",
    "T": "none (fixed lossless transmission line)",
    "O": "none (fixed lossy transmission line, LTRA)",
    "Y": "none (fixed lossy transmission line, TXL)",
}


#: Smallest and largest conductance (S) of a resistor, transconductance bound of a G element,
#: and the range of 1/RS of a diode: below 1e-30 S a value is a denormal or an accident
#: (1/g overflows ngspice's resistance), above 1e9 S (1 nOhm) it is a short that makes the
#: circuit matrix ill-conditioned beyond double precision against the 1e-12 S gmin.
CONDUCTANCE_LIMITS = (1e-30, 1e9)
#: Capacitance (F) and inductance (H) range: positive, not denormal, not astronomically large.
REACTANCE_LIMITS = {"C": (1e-30, 1e9), "L": (1e-30, 1e9)}
#: Largest |value| of an independent source, an input (gain * x) or a target: 1e9 V (or A).
#: Beyond it the solvers' relative tolerance (reltol 1e-9 of the largest voltage) exceeds a
#: volt, so no signal of a real circuit survives, and the diode law overflows.
MAX_SOURCE = 1e9
#: Largest |gain| of a controlled source: E and F (1), G (S), H (Ohm).
MAX_GAIN = {"E": 1e9, "F": 1e9, "G": 1e9, "H": 1e12}
#: Diode saturation current IS (and IS * area) in A, and emission coefficient N.
SATURATION_LIMITS = (1e-30, 1.0)
EMISSION_LIMITS = (0.1, 100.0)
#: Absolute zero (degC): ``temp``/``tnom`` must lie above it (and at most 1000 degC).
ABSOLUTE_ZERO = -273.15
TEMPERATURE_LIMITS = (ABSOLUTE_ZERO, 1000.0)
#: Ranges of the numeric ``.options`` (inclusive).
OPTION_LIMITS = {"reltol": (1e-15, 0.1), "abstol": (1e-30, 1.0), "vntol": (1e-30, 1.0),
                 "gmin": (1e-30, 1e-3), "itl1": (1.0, 1e6), "itl2": (1.0, 1e6)}


def check_range(subject: str, value: float, low: float, high: float, unit: str = "",
                low_open: bool = False) -> None:
    """Raise CircuitError unless ``low <= value <= high`` (``low < value`` if ``low_open``).

    Parameters
    ----------
    subject : str
        What the value is, for the message (``"element R1: conductance"``).
    value : float
        The value, in ``unit``.
    low, high : float
        The documented limits (docs/specs.md, "Value limits").
    unit : str
        Unit for the message (``"S"``).
    low_open : bool
        The lower limit itself is refused (absolute zero).
    """
    suffix = f" {unit}" if unit else ""
    if not math.isfinite(value):
        raise CircuitError(f"{subject} must be a finite number, got {value!r}")
    if value < low or (low_open and value == low):
        bound = "above" if low_open else "at least"
        raise CircuitError(f"{subject} {value:g}{suffix} is out of range: it must be {bound} "
                           f"{low:g}{suffix} (see 'Value limits' in docs/specs.md)")
    if value > high:
        raise CircuitError(f"{subject} {value:g}{suffix} is out of range: it must be at most "
                           f"{high:g}{suffix} (see 'Value limits' in docs/specs.md)")


def check_element_value(element: Element, models: dict | None = None) -> None:
    """Raise CircuitError if ``element``'s value is outside the documented limits.

    Conductances (S) of R, capacitances (F), inductances (H), |DC value| of V (V) and I (A),
    |gain| of E/F/G/H, and a diode's effective saturation current IS * area (A).
    """
    kind, subject = element.type, f"element {element.name}"
    value = element.value
    if kind == "R":
        what = "conductance" if element.resistance is None else \
            f"conductance (1/r, r = {element.resistance:g} Ohm)"
        check_range(f"{subject}: {what}", value, *CONDUCTANCE_LIMITS, "S")
    elif kind in REACTANCE_LIMITS:
        check_range(f"{subject}: {VALUE_MEANING[kind].split(' (')[0]}", value,
                    *REACTANCE_LIMITS[kind], VALUE_MEANING[kind].split("(")[1].rstrip(")"))
    elif kind in "VI":
        check_range(f"{subject}: |DC value|", abs(value), 0.0, MAX_SOURCE,
                    "V" if kind == "V" else "A")
    elif kind in MAX_GAIN:
        unit = {"E": "", "F": "", "G": "S", "H": "Ohm"}[kind]
        check_range(f"{subject}: |gain|", abs(value), 0.0, MAX_GAIN[kind], unit)
    elif kind == "D" and models and element.model in models:
        check_range(f"{subject}: saturation current IS*area", models[element.model].IS * value,
                    *SATURATION_LIMITS, "A")


def check_model_values(model: DiodeModel) -> None:
    """Raise CircuitError if a diode model's IS (A), N or RS (Ohm) is outside the limits."""
    subject = f"diode model {model.name}"
    check_range(f"{subject}: IS", model.IS, *SATURATION_LIMITS, "A")
    check_range(f"{subject}: N", model.N, *EMISSION_LIMITS)
    if model.RS != 0.0:
        check_range(f"{subject}: RS", model.RS, 1.0 / CONDUCTANCE_LIMITS[1],
                    1.0 / CONDUCTANCE_LIMITS[0], "Ohm")


def check_options(options: dict) -> None:
    """Raise CircuitError if a simulator option is outside its limits (temperatures in degC)."""
    for key, value in options.items():
        if key in ("temp", "tnom"):
            check_range(f"option {key} (degC)", float(value), *TEMPERATURE_LIMITS,
                        low_open=True)
        elif key in OPTION_LIMITS:
            check_range(f"option {key}", float(value), *OPTION_LIMITS[key])


def check_value_limits(circuit: Circuit) -> None:
    """Raise CircuitError naming the first element, model or option with an absurd value.

    The limits (module constants, documented in docs/specs.md "Value limits") refuse values
    no circuit means: denormal or astronomic conductances, sources beyond 1e9 V or A,
    temperatures at or below absolute zero, diode laws that overflow.
    """
    for model in circuit.models.values():
        check_model_values(model)
    for element in circuit.elements:
        if element.type != "B" and element.type not in TRANSISTOR_NODES:
            check_element_value(element, circuit.models)
    check_options(circuit.options)


def check_source_values(circuit: Circuit, inputs) -> None:
    """Raise CircuitError if some input drives a source beyond :data:`MAX_SOURCE`.

    Parameters
    ----------
    circuit : Circuit
    inputs : array_like, shape (batch, n_inputs) or (n_inputs,)
        Input values x; source ``s`` of input ``k`` takes ``gain * x_k`` (V or A).
    """
    values = np.abs(np.asarray(inputs, dtype=float)).reshape(-1, max(len(circuit.inputs), 1))
    if values.size == 0 or not circuit.inputs:
        return
    largest = values.max(axis=0)
    for port, x in zip(circuit.inputs, largest):
        for source, gain in port.sources:
            if abs(gain) * x > MAX_SOURCE:
                unit = "A" if source[:1] == "I" else "V"
                raise CircuitError(
                    f"input {port.name!r}: value {x:g} drives source {source} at "
                    f"{abs(gain) * x:g} {unit} (gain {gain:g}), beyond the limit of "
                    f"{MAX_SOURCE:g} {unit} (see 'Value limits' in docs/specs.md)")


def check_target_values(circuit: Circuit, targets) -> None:
    """Raise CircuitError if a target voltage's magnitude exceeds :data:`MAX_SOURCE` (V)."""
    values = np.abs(np.asarray(targets, dtype=float)).reshape(-1, max(len(circuit.outputs), 1))
    if values.size == 0 or not circuit.outputs:
        return
    for port, y in zip(circuit.outputs, values.max(axis=0)):
        if y > MAX_SOURCE:
            raise CircuitError(
                f"target for output {port.name!r}: |{y:g}| V is beyond the limit of "
                f"{MAX_SOURCE:g} V (see 'Value limits' in docs/specs.md)")
