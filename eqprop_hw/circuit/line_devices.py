"""Switches (S, W) and transmission lines (T lossless, O lossy LTRA, Y lossy TXL): ngspice-only
fixed elements.

Like transistors (:mod:`eqprop_hw.circuit.transistors`, which merges these tables into its
own) they are never trainable, only the ngspice backend simulates them, and the native solver
and the software reference refuse a circuit holding one, naming the element. Forms written
(and read)::

    S<name> n+ n- nc+ nc- MODEL              .model MODEL SW(VT=... VH=... RON=... ROFF=...)
    W<name> n+ n- VCONTROL MODEL             .model MODEL CSW(IT=... IH=... RON=... ROFF=...)
    T<name> p1+ p1- p2+ p2- z0=... td=...    (or f=... [nl=...] instead of td=...)
    O<name> p1+ p1- p2+ p2- MODEL            .model MODEL LTRA(R=... L=... G=... C=... LEN=...)
    Y<name> p1+ p1- p2+ p2- MODEL            .model MODEL TXL(R=... L=... G=... C=... LENGTH=...)

Switch and line models take only the parameters of :data:`SWITCH_MODEL_PARAMS`, each a finite
number within :data:`SWITCH_PARAM_LIMITS` (an LTRA model's flags such as ``STEPLIMIT`` or
``NOCONTROL``, :data:`MODEL_FLAGS`, are kept as 1.0 and written as bare words); the flags ``ON``/``OFF`` of a switch line (which choose
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
DEVICE_NODES = {"S": (4,), "W": (2,), "T": (4,), "O": (4,), "Y": (4,)}
#: What each letter is, for messages.
DEVICE_KINDS = {"S": "voltage-controlled switch", "W": "current-controlled switch",
                "T": "lossless transmission line", "O": "lossy transmission line (LTRA)",
                "Y": "lossy transmission line (TXL)"}
#: Terminal names in SPICE order.
DEVICE_TERMINALS = {"S": ("n+", "n-", "nc+", "nc-"), "W": ("n+", "n-"),
                    "T": ("port1+", "port1-", "port2+", "port2-"),
                    "O": ("port1+", "port1-", "port2+", "port2-"),
                    "Y": ("port1+", "port1-", "port2+", "port2-")}
#: Model types and the letter that uses them (a T line has no model).
DEVICE_MODEL_TYPES = {"SW": "S", "CSW": "W", "LTRA": "O", "TXL": "Y"}
#: Instance parameters per letter (lower case, ``key=value``).
DEVICE_INSTANCE_PARAMS = {"S": (), "W": (), "T": ("z0", "td", "f", "nl"), "O": (), "Y": ()}
#: Largest value of the instance parameters that have their own limit (all positive).
INSTANCE_LIMITS = {"z0": 1e9, "td": 1e3, "f": 1e15, "nl": 1e6}
#: Model parameters of the switches: threshold and hysteresis (V for S, A for W), on and off
#: resistances (Ohm).
#: Line models: resistance, inductance, conductance and capacitance per unit length (Ohm, H,
#: S, F per unit), the length (units), LTRA's time-step controls (REL, ABS, COMPACTREL,
#: COMPACTABS: transient only) and its flags.
SWITCH_MODEL_PARAMS = {"S": ("VT", "VH", "RON", "ROFF"), "W": ("IT", "IH", "RON", "ROFF"),
                       "O": ("R", "L", "G", "C", "LEN", "REL", "ABS", "COMPACTREL",
                             "COMPACTABS", "NOSTEPLIMIT", "STEPLIMIT", "NOCONTROL",
                             "LININTERP", "MIXEDINTERP", "QUADINTERP", "TRUNCNR",
                             "TRUNCDONTCUT"),
                       "Y": ("R", "L", "G", "C", "LENGTH")}
#: Model flags (no value) per letter: kept as 1.0, written as bare words.
MODEL_FLAGS = {"O": frozenset(("NOSTEPLIMIT", "STEPLIMIT", "NOCONTROL", "LININTERP",
                               "MIXEDINTERP", "QUADINTERP", "TRUNCNR", "TRUNCDONTCUT"))}
#: (low, high) of each switch model parameter; RON and ROFF must be above ``low``.
SWITCH_PARAM_LIMITS = {"VT": (-1e6, 1e6), "VH": (-1e6, 1e6), "IT": (-1e3, 1e3),
                       "IH": (-1e3, 1e3), "RON": (0.0, 1e15), "ROFF": (0.0, 1e15),
                       "R": (0.0, 1e12), "L": (0.0, 1.0), "G": (0.0, 1e6), "C": (0.0, 1.0),
                       "LEN": (0.0, 1e9), "LENGTH": (0.0, 1e9), "REL": (0.0, 1e6),
                       "ABS": (0.0, 1e6), "COMPACTREL": (0.0, 1.0), "COMPACTABS": (0.0, 1.0)}
#: Parameters that must be above their low limit (not equal to it).
POSITIVE_MODEL_PARAMS = frozenset(("RON", "ROFF", "LEN", "LENGTH"))
#: Letters whose elements name a controlling voltage source (W, as F and H do).
CONTROLLED = frozenset("W")
#: Letters whose elements have no model.
MODELLESS = frozenset("T")


def check_device_model_param(key: str, value, letter: str, subject: str) -> float:
    """One switch or line model parameter checked (:data:`SWITCH_MODEL_PARAMS`): its value
    as float.

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
    if key in MODEL_FLAGS.get(letter, ()):
        if value != 1.0:
            raise CircuitError(f"{subject}: {key} is a flag (given, 1, or left out), got "
                               f"{value!r}")
        return 1.0
    low, high = SWITCH_PARAM_LIMITS[key]
    strict = key in POSITIVE_MODEL_PARAMS
    inside = low < value <= high if strict else low <= value <= high
    if not inside:
        raise CircuitError(f"{subject}: parameter {key}={value!r} is out of range "
                           f"({'above ' if strict else ''}{low:g} to {high:g})")
    return float(value)


#: Ranges of a TXL model's parameters (per unit length; LENGTH in units), inclusive; R and G
#: may also be 0. Inside them ngspice 39 set up every TXL line of a log-uniform scan (8500
#: models in and around these ranges; docs/netlists.md) except where
#: :func:`txl_problem`'s distortion rule applies; outside them it stopped with a fatal error
#: ("can not choose a pivot", which ends the process of in-process ngspice) or ran without
#: end (e.g. C=1e-30, L=1e-15 or R=3e8).
TXL_LIMITS = {"R": (1e-3, 1e6), "L": (1e-9, 1e-3), "G": (1e-12, 1e3), "C": (1e-13, 1e-8),
              "LENGTH": (1e-6, 1e4)}
#: Smallest excess loss (nepers) of a lossy TXL line over a distortionless one
#: (:func:`txl_problem`): every line that ngspice 39 could not set up inside
#: :data:`TXL_LIMITS` had less than 8.2e-7; this keeps a 12x margin.
TXL_MIN_EXCESS_LOSS = 1e-5


def txl_problem(values: dict) -> str | None:
    """Why ngspice 39 cannot set up a TXL line of model parameters ``values`` (measured), or
    None.

    A parameter outside :data:`TXL_LIMITS`; or a line that ngspice treats as lossy (R/L at
    least 5e5 1/s, or G at least 1e-2) whose excess loss over a distortionless line,
    ``LENGTH * sqrt(L*C) * (sqrt(R/L) - sqrt(G/C))**2 / 2``, is below
    :data:`TXL_MIN_EXCESS_LOSS`: its Pade fit then has no pivot and ngspice ends the process.

    Examples
    --------
    >>> txl_problem({"R": 12.45, "L": 8.792e-9, "G": 0.0, "C": 0.468e-12, "LENGTH": 16.0})
    >>> txl_problem({"R": 1.0, "L": 1e-9, "G": 0.0, "C": 1e-30, "LENGTH": 1.0})[:40]
    'C=1e-30 is outside the range measured sa'
    """
    for key, (low, high) in TXL_LIMITS.items():
        value = values.get(key)
        if value is None or (value == 0.0 and key in "RG"):
            continue
        if not low <= value <= high:
            zero = " or 0" if key in "RG" else ""
            return (f"{key}={value:g} is outside the range measured safe for ngspice 39's "
                    f"TXL line ({low:g} to {high:g}{zero}); outside it ngspice can stop with a "
                    "fatal error that ends the process, or run without end")
    r, inductance, g, c = (values.get(key, 0.0) for key in ("R", "L", "G", "C"))
    length = values.get("LENGTH", 1.0)
    if not c or not inductance or (r / inductance < 5e5 and g < 1e-2):
        return None                     # ngspice treats the line as lossless: no Pade fit
    excess = length * math.sqrt(inductance * c) * \
        (math.sqrt(r / inductance) - math.sqrt(g / c)) ** 2 / 2
    if excess < TXL_MIN_EXCESS_LOSS:
        return (f"a TXL line this close to distortionless (R/L={r / inductance:.4g} vs "
                f"G/C={g / c:.4g}) or this short: its excess loss LENGTH*sqrt(L*C)*"
                f"(sqrt(R/L)-sqrt(G/C))^2/2 = {excess:.3g} is below {TXL_MIN_EXCESS_LOSS:g}, "
                "where ngspice 39 stops with a fatal error ('can not choose a pivot'); use a "
                "lossless T line, or an O (LTRA) line")
    return None


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
