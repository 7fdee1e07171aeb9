"""Switches (S, W) and lossless transmission lines (T): ngspice-only fixed elements.

Like transistors (:mod:`eqprop_hw.circuit.transistors`, which merges these tables into its
own) they are never trainable, only the ngspice backend simulates them, and the native solver
and the software reference refuse a circuit holding one, naming the element. Forms written
(and read)::

    S<name> n+ n- nc+ nc- MODEL              .model MODEL SW(VT=... VH=... RON=... ROFF=...)
    W<name> n+ n- VCONTROL MODEL             .model MODEL CSW(IT=... IH=... RON=... ROFF=...)
    T<name> p1+ p1- p2+ p2- z0=... td=...    (or f=... [nl=...] instead of td=...)

Switch models take only the parameters of :data:`SWITCH_MODEL_PARAMS`, each a finite number
within :data:`SWITCH_PARAM_LIMITS`; the flags ``ON``/``OFF`` of a switch line (which choose
its initial state) are refused by the importer. A line takes ``z0`` and exactly one of ``td``
(delay, s) or ``f`` (frequency, Hz; with an optional normalised length ``nl``, default 0.25),
all positive and within :data:`INSTANCE_LIMITS`; its initial conditions ``ic=`` are refused.

Examples
--------
>>> check_device_model_param("RON", 1.0, "S", "model SM")
1.0
>>> check_device_model_param("IT", 1e-3, "S", "model SM")
Traceback (most recent call last):
...
eqprop_hw.errors.CircuitError: model SM: unsupported voltage-controlled switch model parameter 'IT' (supported: VT VH RON ROFF)
"""

from __future__ import annotations

import math

from eqprop_hw.errors import CircuitError

#: Node counts of each letter.
DEVICE_NODES = {"S": (4,), "W": (2,), "T": (4,)}
#: What each letter is, for messages.
DEVICE_KINDS = {"S": "voltage-controlled switch", "W": "current-controlled switch",
                "T": "lossless transmission line"}
#: Terminal names in SPICE order.
DEVICE_TERMINALS = {"S": ("n+", "n-", "nc+", "nc-"), "W": ("n+", "n-"),
                    "T": ("port1+", "port1-", "port2+", "port2-")}
#: Model types and the letter that uses them (a T line has no model).
DEVICE_MODEL_TYPES = {"SW": "S", "CSW": "W"}
#: Instance parameters per letter (lower case, ``key=value``).
DEVICE_INSTANCE_PARAMS = {"S": (), "W": (), "T": ("z0", "td", "f", "nl")}
#: Largest value of the instance parameters that have their own limit (all positive).
INSTANCE_LIMITS = {"z0": 1e9, "td": 1e3, "f": 1e15, "nl": 1e6}
#: Model parameters of the switches: threshold and hysteresis (V for S, A for W), on and off
#: resistances (Ohm).
SWITCH_MODEL_PARAMS = {"S": ("VT", "VH", "RON", "ROFF"), "W": ("IT", "IH", "RON", "ROFF")}
#: (low, high) of each switch model parameter; RON and ROFF must be above ``low``.
SWITCH_PARAM_LIMITS = {"VT": (-1e6, 1e6), "VH": (-1e6, 1e6), "IT": (-1e3, 1e3),
                       "IH": (-1e3, 1e3), "RON": (0.0, 1e15), "ROFF": (0.0, 1e15)}
#: Letters whose elements name a controlling voltage source (W, as F and H do).
CONTROLLED = frozenset("W")
#: Letters whose elements have no model.
MODELLESS = frozenset("T")


def check_device_model_param(key: str, value, letter: str, subject: str) -> float:
    """One switch model parameter checked (:data:`SWITCH_MODEL_PARAMS`): its value as float.

    Raises
    ------
    CircuitError
        For a parameter the model type does not take, a non-number or a value outside
        :data:`SWITCH_PARAM_LIMITS` (RON and ROFF must be positive).
    """
    allowed = SWITCH_MODEL_PARAMS[letter]
    if key not in allowed:
        raise CircuitError(f"{subject}: unsupported {DEVICE_KINDS[letter]} model parameter "
                           f"{key!r} (supported: {' '.join(allowed)})")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or \
            not math.isfinite(value):
        raise CircuitError(f"{subject}: parameter {key} must be a finite number, got {value!r}")
    low, high = SWITCH_PARAM_LIMITS[key]
    inside = low < value <= high if key in ("RON", "ROFF") else low <= value <= high
    if not inside:
        raise CircuitError(f"{subject}: parameter {key}={value!r} is out of range "
                           f"({'above ' if key in ('RON', 'ROFF') else ''}{low:g} to {high:g})")
    return float(value)


def check_line_params(params, subject: str) -> None:
    """A T line's parameters: ``z0`` and exactly one of ``td`` and ``f``; ``nl`` only with
    ``f``. Raises CircuitError otherwise (the values were checked one by one before)."""
    keys = {key for key, _value in params}
    if "z0" not in keys:
        raise CircuitError(f"{subject}: a lossless transmission line needs z0= (the "
                           "characteristic impedance, Ohm)")
    if ("td" in keys) == ("f" in keys):
        raise CircuitError(f"{subject}: a lossless transmission line needs exactly one of td= "
                           "(delay, s) and f= (frequency, Hz)")
    if "nl" in keys and "f" not in keys:
        raise CircuitError(f"{subject}: nl= (normalised length) goes with f=, not td=")
