"""Transistors: MOSFETs (M), bipolar transistors (Q), JFETs (J) and MESFETs (Z); with the
switches and transmission lines of :mod:`eqprop_hw.circuit.line_devices` (S W T O Y), whose
tables are merged into these, the ngspice-only fixed elements.

They are fixed elements of a circuit (never trainable) that only the ngspice backend simulates;
the native solver and the software reference refuse a circuit holding one, naming the device.
This module holds what the circuit, the spec, the netlist writer and the importer share: the
node counts, the model types and levels, the grammar of model and instance parameters, and
:class:`DeviceModel`.

Netlist forms written (and read)::

    M<name> drain gate source bulk MODEL [l=... w=... m=...]
    M<name> drain gate source backgate [body [contact [temperature]]] SOIMODEL [...]
    Q<name> collector base emitter [substrate [thermal]] MODEL [area=... m=...]
    J<name> drain gate source MODEL [area=... m=...]
    Z<name> drain gate source MODEL [area=... m=...]
    .model MODEL NMOS(LEVEL=1 VTO=0.7 KP=0.0001 ...)

Model parameters: names match :data:`MODEL_PARAM_RE` (what ngspice's model tables use: a
letter, then letters and digits, at most 16 characters; the ``parameter`` kind of
:mod:`eqprop_hw.circuit.spice_grammar`), values are finite numbers of magnitude at most
:data:`MAX_MODEL_VALUE`; ``LEVEL`` is an integer of :data:`MODEL_LEVELS` and ``VERSION`` a
version number (``3.3.0``, kept as text). A model has at most :data:`MAX_MODEL_PARAMS`
parameters. Which parameter names a given level knows is left to ngspice (it warns about and
ignores unknown ones, on the original netlist as on ours). Instance parameters are those of
:data:`INSTANCE_PARAMS` only: ones that change the operating point in ways the writer cannot
reproduce (``off``, ``ic=``) are refused.

Examples
--------
>>> model = DeviceModel("NM", "NMOS", (("LEVEL", 1), ("VTO", 0.7), ("KP", 1e-4)))
>>> model_line(model)
'.model NM NMOS(LEVEL=1 VTO=0.7 KP=0.0001)'
>>> from eqprop_hw.circuit.graph import Element
>>> transistor_line(Element("M1", "M", ("d", "g", "0", "0"), model="NM",
...                         params=(("w", 1e-5), ("l", 1e-6))))
'M1 d g 0 0 NM w=1e-05 l=1e-06'
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from eqprop_hw.circuit import spice_grammar
from eqprop_hw.circuit.line_devices import (CONTROLLED, DEVICE_INSTANCE_PARAMS, DEVICE_KINDS,
                                            DEVICE_MODEL_TYPES, DEVICE_NODES, DEVICE_TERMINALS,
                                            INSTANCE_LIMITS, MODEL_FLAGS, MODELLESS,
                                            check_device_model_param,
                                            check_line_params, txl_problem)
from eqprop_hw.errors import CircuitError

#: Device letters and the node counts they take (M: 5 to 7 with an SOI model, see
#: :data:`SOI_NODES`; Q: an optional substrate node, and a thermal node with a VBIC or HICUM
#: model, see :data:`THERMAL_Q_LEVELS`; S W T O Y: switches and transmission lines, see
#: :mod:`eqprop_hw.circuit.line_devices`).
TRANSISTOR_NODES = {"M": (4, 5, 6, 7), "Q": (3, 4, 5), "J": (3,), "Z": (3,), **DEVICE_NODES}
#: What each letter is, for messages.
TRANSISTOR_KINDS = {"M": "MOSFET", "Q": "bipolar transistor", "J": "JFET", "Z": "MESFET",
                    **DEVICE_KINDS}
#: Terminal names in SPICE order, for messages and docs.
TERMINALS = {"M": ("drain", "gate", "source", "bulk"),
             "Q": ("collector", "base", "emitter", "substrate"),
             "J": ("drain", "gate", "source"), "Z": ("drain", "gate", "source"),
             **DEVICE_TERMINALS}
#: Model types (upper case) and the element letter that uses them.
MODEL_TYPES = {"NMOS": "M", "PMOS": "M", "NPN": "Q", "PNP": "Q", "NJF": "J", "PJF": "J",
               "NMF": "Z", "PMF": "Z", "NHFET": "Z", "PHFET": "Z", **DEVICE_MODEL_TYPES}
#: ``LEVEL`` values accepted per element letter (ngspice 39's device models of that kind:
#: MOS1-3, BSIM1/2, MOS6, BSIM3 (8, 49), MOS9, B4SOI (10, 58), BSIM4 (14, 54), the SOI and
#: HiSIM families; Gummel-Poon 1, VBIC 4/9, HICUM2 8; JFET 1, 2; MESFET 1 (Statz), MESA
#: 2-4, HFET 5, 6, the HFETs also under the types NHFET/PHFET).
MODEL_LEVELS = {"M": frozenset((1, 2, 3, 4, 5, 6, 8, 9, 10, 14, 49, 54, 55, 56, 57, 58, 60, 61,
                                62, 68, 73)),
                "Q": frozenset((1, 4, 8, 9)), "J": frozenset((1, 2)),
                "Z": frozenset((1, 2, 3, 4, 5, 6))}
#: SOI MOSFET levels and the most nodes each takes (``d g s e [p] [b] [t]``: back gate, body,
#: body contact, temperature): B4SOI 10/58, BSIM3SOI FD 55, DD 56, PD 57 (7 nodes); SOI3 60
#: (6 nodes). ngspice refuses more than 4 nodes on any other level.
SOI_NODES = {10: 7, 55: 7, 56: 7, 57: 7, 58: 7, 60: 6}
#: SOI levels that take exactly this many nodes: SOI3 (60) with fewer than 6 makes ngspice 39
#: abort the whole process (an assertion in its sparse matrix code, measured).
SOI_EXACT_NODES = {60: 6}
#: MOSFET levels whose ngspice models write a check log (``b3v33check.log``,
#: ``b3soipdv223check.log``, ``b4soiv1check.log``; BSIM4 when its parameters draw warnings)
#: into the working directory: BSIM3 8/49, BSIM4 14/54, the SOI models 10 55 56 57 58.
CHECK_LOG_LEVELS = frozenset((8, 49, 14, 54, 10, 55, 56, 57, 58))
#: Bipolar levels that take a fifth (thermal) node: VBIC 4/9, HICUM2 8.
THERMAL_Q_LEVELS = frozenset((4, 8, 9))
#: Instance parameters accepted per element letter (lower case, written ``key=value``).
INSTANCE_PARAMS = {
    "M": ("l", "w", "m", "nf", "ad", "as", "pd", "ps", "nrd", "nrs", "sa", "sb", "sd",
          "temp", "dtemp", "nqsmod", "nbc", "nseg", "pdbcp", "psbcp", "agbcp", "aebcp",
          "vbsusr", "rth0", "cth0", "frbody", "bjtoff", "debug"),
    "Q": ("area", "areab", "areac", "m", "temp", "dtemp"),
    "J": ("area", "m", "temp"),
    "Z": ("area", "m", "l", "w"),
    **DEVICE_INSTANCE_PARAMS,
}
#: MOSFET instance parameters that only the SOI levels (:data:`SOI_NODES`) know: body
#: contacts (``nbc nseg pdbcp psbcp agbcp aebcp``), the user body bias ``vbsusr``, the
#: self-heating ``rth0 cth0``, the body resistance factor ``frbody``, the parasitic bipolar
#: switch ``bjtoff`` and ``debug`` (adds internal nodes holding intermediate currents; no
#: output of its own).
SOI_INSTANCE_PARAMS = frozenset(("nbc", "nseg", "pdbcp", "psbcp", "agbcp", "aebcp", "vbsusr",
                                 "rth0", "cth0", "frbody", "bjtoff", "debug"))
#: Instance parameters that may be negative (the others are 0 or more).
SIGNED_INSTANCE_PARAMS = frozenset(("temp", "dtemp", "vbsusr", "debug"))
#: Instance parameters that ngspice reads as integers (switches): whole numbers only.
INTEGER_INSTANCE_PARAMS = frozenset(("bjtoff", "debug"))
#: Instance parameters that must be positive (the others: temperatures may be any sign;
#: perimeters and areas of junctions may be 0; ``nqsmod``, BSIM4's non-quasi-static switch,
#: changes only transient and AC analyses).
POSITIVE_INSTANCE_PARAMS = frozenset(("l", "w", "m", "nf", "area", "areab", "areac", "z0",
                                      "td", "f", "nl"))
#: Largest |value| of an instance parameter (temperatures: see :data:`MAX_TEMPERATURE`).
MAX_INSTANCE_VALUE = 1e6
#: Largest |temp| or |dtemp| (degC).
MAX_TEMPERATURE = 1000.0
#: Model parameter names: a letter, then letters and digits (at most 16 characters).
MODEL_PARAM_RE = re.compile(r"[A-Z][A-Z0-9]{0,15}", re.A)
#: A version number such as ``3.3.0`` or ``4.7`` (BSIM ``VERSION``), kept as text.
VERSION_RE = re.compile(r"[0-9]{1,3}(?:\.[0-9]{1,3}){0,2}", re.A)
#: Most parameters one model may carry (BSIM4 knows about 900).
MAX_MODEL_PARAMS = 1000
#: Largest |value| of a model parameter.
MAX_MODEL_VALUE = 1e30


def transistor_kind(letter: str) -> str:
    """``"MOSFET"`` for ``M`` and so on (:data:`TRANSISTOR_KINDS`)."""
    return TRANSISTOR_KINDS[letter]


def is_transistor(element) -> bool:
    """Whether an element (anything with ``type``) is an M, Q, J or Z transistor."""
    return element.type in TRANSISTOR_NODES


def refusal(element, solver: str, advice: str = " (use --backend ngspice)") -> str:
    """The one-line refusal of a transistor (or a switch or a transmission line,
    :mod:`eqprop_hw.circuit.line_devices`) by a solver other than ngspice.

    >>> from eqprop_hw.circuit.graph import Element
    >>> refusal(Element("M1", "M", ("d", "g", "0", "0"), model="NM"), "native backend")
    'native backend: M1 is a MOSFET; transistors are simulated by ngspice only (use --backend ngspice)'
    """
    group = "switches and transmission lines" if element.type in DEVICE_KINDS else \
        "transistors"
    return (f"{solver}: {element.name} is a {TRANSISTOR_KINDS[element.type]}; "
            f"{group} are simulated by ngspice only"
            f"{advice}")


def first_transistor(circuit):
    """The first transistor of ``circuit`` (in element order), or None."""
    for element in circuit.elements:
        if element.type in TRANSISTOR_NODES:
            return element
    return None


def check_level(value, kind: str, subject: str) -> int:
    """``LEVEL`` as an int of :data:`MODEL_LEVELS` for element letter ``kind``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or \
            not math.isfinite(value) or value != int(value) or abs(value) > 1000:
        shown = f"{value:g}" if isinstance(value, float) else repr(value)
        raise CircuitError(f"{subject}: LEVEL must be an integer from "
                           f"{' '.join(map(str, sorted(MODEL_LEVELS[kind])))}, got {shown}")
    level = int(value)
    if level not in MODEL_LEVELS[kind]:
        raise CircuitError(f"{subject}: LEVEL={level} is not a {TRANSISTOR_KINDS[kind]} level "
                           f"ngspice simulates here (accepted: "
                           f"{' '.join(map(str, sorted(MODEL_LEVELS[kind])))})")
    return level


def check_model_param(key, value, kind: str, subject: str):
    """One model parameter checked: the value to keep (int LEVEL, str VERSION, float)."""
    if not isinstance(key, str) or not MODEL_PARAM_RE.fullmatch(key):
        raise CircuitError(f"{subject}: invalid parameter name {key!r} (a letter, then "
                           "letters and digits, at most 16 characters)")
    if key == "TYPE":
        raise CircuitError(f"{subject}: TYPE is not a parameter (the model type is given "
                           "apart)")
    if kind in DEVICE_KINDS:
        return check_device_model_param(key, value, kind, subject)
    if key == "LEVEL":
        return check_level(value, kind, subject)
    if key == "VERSION":
        text = value if isinstance(value, str) else (repr(float(value)) if isinstance(
            value, (int, float)) and not isinstance(value, bool) else None)
        if text is None or not VERSION_RE.fullmatch(text):
            raise CircuitError(f"{subject}: VERSION must be a version number such as 4.7 or "
                               f"3.3.0, got {value!r}")
        return text
    if isinstance(value, bool) or not isinstance(value, (int, float)) or \
            not math.isfinite(value):
        raise CircuitError(f"{subject}: parameter {key} must be a finite number, got {value!r}")
    if abs(value) > MAX_MODEL_VALUE:
        raise CircuitError(f"{subject}: parameter {key}={value!r} is beyond the limit of "
                           f"{MAX_MODEL_VALUE:g} in magnitude")
    return float(value)


def line_model_problem(kind: str, values: dict) -> str | None:
    """Why the parameters ``values`` of a model of type ``kind`` make ngspice 39 stop with a
    fatal error (measured), or None: an LTRA line with fewer than two of R L G C nonzero, a
    TXL line without R, G, L, C or LENGTH, or with values ngspice cannot set up
    (:func:`eqprop_hw.circuit.line_devices.txl_problem`).

    >>> line_model_problem("LTRA", {"R": 1.0, "LEN": 1.0})
    'an LTRA line needs at least two of R, L, G, C given and nonzero (ngspice stops with a fatal error otherwise)'
    """
    if kind == "LTRA" and sum(values.get(key, 0.0) != 0.0 for key in "RLGC") < 2:
        return ("an LTRA line needs at least two of R, L, G, C given and nonzero (ngspice "
                "stops with a fatal error otherwise)")
    if kind == "TXL" and not {"R", "G"} <= set(values):
        return "a TXL line needs R= and G= given (ngspice stops with a fatal error otherwise)"
    if kind == "TXL" and not {"L", "C", "LENGTH"} <= set(values):
        missing = "=, ".join(key for key in ("L", "C", "LENGTH") if key not in values)
        return (f"a TXL line needs L=, C= and LENGTH= given too, not {missing}= (ngspice "
                "stops with a fatal error otherwise)")
    if kind == "TXL":
        return txl_problem(values)
    return None


@dataclass(frozen=True)
class DeviceModel:
    """A transistor ``.model``: its name, type and parameters as given.

    Attributes
    ----------
    name : str
        Model name (upper case, the ``model`` kind of :mod:`eqprop_hw.circuit.spice_grammar`).
    type : str
        One of :data:`MODEL_TYPES` (``NMOS``, ``NPN``, ...).
    params : tuple of (str, object)
        ``(KEY, value)`` in the order written: floats, ``LEVEL`` an int, ``VERSION`` text.

    Raises
    ------
    CircuitError
        For an unknown type, a bad name, too many parameters, a duplicate or invalid
        parameter (see :func:`check_model_param`).
    """

    name: str
    type: str
    params: tuple = ()

    def __post_init__(self):
        subject = f"model {self.name}"
        spice_grammar.check_name(self.name, "model", "model name")
        if self.type not in MODEL_TYPES:
            raise CircuitError(f"{subject}: unknown transistor model type {self.type!r} "
                               f"(supported: {' '.join(MODEL_TYPES)})")
        if len(self.params) > MAX_MODEL_PARAMS:
            raise CircuitError(f"{subject}: {len(self.params)} parameters, more than "
                               f"{MAX_MODEL_PARAMS}")
        seen = set()
        checked = []
        for key, value in self.params:
            value = check_model_param(key, value, self.letter, subject)
            if key in seen:
                raise CircuitError(f"{subject}: parameter {key} given twice")
            seen.add(key)
            checked.append((key, value))
        problem = line_model_problem(self.type, dict(checked))
        if problem:
            raise CircuitError(f"{subject}: {problem}")
        object.__setattr__(self, "params", tuple(checked))

    @property
    def letter(self) -> str:
        """The element letter that uses this model (``M`` for NMOS)."""
        return MODEL_TYPES[self.type]


def model_line(model: DeviceModel) -> str:
    """The ``.model`` line of a transistor model, every field checked by the grammar."""
    spice_grammar.check_name(model.name, "model", "model name")
    if model.type not in MODEL_TYPES:
        raise CircuitError(f"model {model.name}: unknown transistor model type {model.type!r}")
    words = []
    flags = MODEL_FLAGS.get(MODEL_TYPES[model.type], ())
    for key, value in model.params:
        spice_grammar.check_name(key, "parameter", f"model {model.name}: parameter")
        if key in flags and value == 1.0:
            words.append(key)           # an LTRA flag: written bare, as ngspice documents it
            continue
        words.append(f"{key}={_param_text(key, value, model.name)}")
    return f".model {model.name} {model.type}({' '.join(words)})"


def _param_text(key: str, value, where: str) -> str:
    if key == "LEVEL" and isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if key == "VERSION" and isinstance(value, str):
        if not VERSION_RE.fullmatch(value):
            raise CircuitError(f"model {where}: VERSION {value!r} is not a version number")
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)) or \
            not math.isfinite(value):
        raise CircuitError(f"{where}: parameter {key} must be a finite number, got {value!r}")
    value = float(value)
    return "0.0" if value == 0.0 else repr(value)


def check_instance_params(kind: str, params, subject: str) -> tuple:
    """Instance parameters ``((key, value), ...)`` of a transistor, checked and as floats."""
    allowed = INSTANCE_PARAMS[kind]
    out, seen = [], set()
    for pair in params:
        if not isinstance(pair, tuple) or len(pair) != 2:
            raise CircuitError(f"{subject}: instance parameters must be (name, value) pairs")
        key, value = pair
        if key not in allowed:
            raise CircuitError(f"{subject}: unsupported {TRANSISTOR_KINDS[kind]} instance "
                               f"parameter {key!r} (supported: {', '.join(allowed)})")
        if key in seen:
            raise CircuitError(f"{subject}: instance parameter {key} given twice")
        seen.add(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or \
                not math.isfinite(value):
            raise CircuitError(f"{subject}: {key} must be a finite number, got {value!r}")
        limit = MAX_TEMPERATURE if key in ("temp", "dtemp") else \
            INSTANCE_LIMITS.get(key, MAX_INSTANCE_VALUE)
        if key in POSITIVE_INSTANCE_PARAMS and value <= 0:
            raise CircuitError(f"{subject}: {key} must be positive, got {value!r}")
        if key in INTEGER_INSTANCE_PARAMS and value != int(value):
            raise CircuitError(f"{subject}: {key} must be a whole number, got {value!r}")
        if abs(value) > limit or value < 0 and key not in SIGNED_INSTANCE_PARAMS:
            raise CircuitError(f"{subject}: {key}={value!r} is out of range (0 to {limit:g})")
        out.append((key, float(value)))
    return tuple(out)


#: Node counts beyond the usual ones, for messages.
EXTRA_NODES_TEXT = {"M": "; 5 to 7 with an SOI model", "Q": "; 5 with a VBIC or HICUM model"}


def node_counts_text(kind: str) -> str:
    """``4 nodes (drain gate source bulk; 5 to 7 with an SOI model)`` and so on.

    >>> node_counts_text("Q")
    '3 or 4 nodes (collector base emitter substrate; 5 with a VBIC or HICUM model)'
    """
    usual = [n for n in TRANSISTOR_NODES[kind] if n <= len(TERMINALS[kind])]
    return (f"{' or '.join(map(str, usual))} nodes ({' '.join(TERMINALS[kind])}"
            f"{EXTRA_NODES_TEXT.get(kind, '')})")


def node_count_problem(kind: str, count: int, level: int) -> str | None:
    """Why ``count`` nodes do not suit a ``kind`` element whose model has ``level``, or None.

    A MOSFET takes 4 nodes, 5 to 7 with an SOI model (:data:`SOI_NODES`); a bipolar transistor
    3 or 4, 5 (a thermal node) with a VBIC or HICUM model (:data:`THERMAL_Q_LEVELS`).

    >>> node_count_problem("M", 5, 1)
    'a MOSFET with more than 4 nodes needs an SOI model (LEVEL 10 55 56 57 58 60), not LEVEL=1'
    """
    counts = TRANSISTOR_NODES[kind]
    if count not in counts:
        return f"a {TRANSISTOR_KINDS[kind]} takes {node_counts_text(kind)}, got {count}"
    if kind == "M" and count > 4 and count > SOI_NODES.get(level, 4):
        if level in SOI_NODES:
            return f"a MOSFET of LEVEL={level} takes at most {SOI_NODES[level]} nodes"
        return (f"a MOSFET with more than 4 nodes needs an SOI model (LEVEL "
                f"{' '.join(map(str, sorted(SOI_NODES)))}), not LEVEL={level}")
    if kind == "M" and level in SOI_EXACT_NODES and count != SOI_EXACT_NODES[level]:
        return (f"a MOSFET of LEVEL={level} takes {SOI_EXACT_NODES[level]} nodes (ngspice 39 "
                f"aborts on fewer), got {count}")
    if kind == "Q" and count == 5 and level not in THERMAL_Q_LEVELS:
        return (f"a bipolar transistor with 5 nodes (a thermal node) needs a VBIC or HICUM "
                f"model (LEVEL {' '.join(map(str, sorted(THERMAL_Q_LEVELS)))}), not "
                f"LEVEL={level}")
    return None


def check_transistor(element, device_models: dict) -> None:
    """Raise CircuitError unless a transistor (or S W T) element is well formed.

    Its node count (:data:`TRANSISTOR_NODES`, :func:`node_count_problem`), its model
    (defined, of a type its letter uses; a T line has none), its instance parameters
    (:func:`check_instance_params`; SOI-only ones need an SOI model), a W switch's
    controlling source name.
    """
    kind, subject = element.type, f"element {element.name}"
    if len(element.nodes) not in TRANSISTOR_NODES[kind]:
        raise CircuitError(f"{subject}: {node_count_problem(kind, len(element.nodes), 0)}")
    check_instance_params(kind, element.params, subject)
    if element.value is not None:
        raise CircuitError(f"{subject}: a {TRANSISTOR_KINDS[kind]} has no value (it is a "
                           "fixed element)")
    if (element.control is not None) != (kind in CONTROLLED):
        raise CircuitError(f"{subject}: " + ("a current-controlled switch names its "
                                             "controlling voltage source" if kind in CONTROLLED
                                             else "only a W switch names a controlling source"))
    if kind in MODELLESS:
        if element.model is not None:
            raise CircuitError(f"{subject}: a {TRANSISTOR_KINDS[kind]} has no model")
        check_line_params(element.params, subject)
        return
    model = device_models.get(element.model or "")
    if model is None:
        raise CircuitError(f"{subject}: unknown transistor model {element.model!r} (defined: "
                           f"{', '.join(sorted(device_models)) or 'none'})")
    if model.letter != kind:
        raise CircuitError(f"{subject}: model {model.name} is of type {model.type}, not "
                           f"one for a {TRANSISTOR_KINDS[kind]} "
                           f"(types: {', '.join(t for t, k in MODEL_TYPES.items() if k == kind)})")
    level = model_level(model)
    problem = node_count_problem(kind, len(element.nodes), level)
    if problem:
        raise CircuitError(f"{subject}: {problem}")
    soi_only = sorted(key for key, _value in element.params if key in SOI_INSTANCE_PARAMS)
    if soi_only and level not in SOI_NODES:
        raise CircuitError(f"{subject}: instance parameter {soi_only[0]!r} needs an SOI model "
                           f"(LEVEL {' '.join(map(str, sorted(SOI_NODES)))}), not "
                           f"LEVEL={level}")


def writes_check_log(circuit) -> bool:
    """Whether ngspice writes a check log into its working directory when it simulates
    ``circuit`` (a MOSFET model of :data:`CHECK_LOG_LEVELS`).

    >>> from eqprop_hw.circuit.graph import Circuit
    >>> model = DeviceModel("NM", "NMOS", (("LEVEL", 49),))
    >>> writes_check_log(Circuit("c", "graph", [], {}, [], [], [], {}, None, {"NM": model}))
    True
    """
    return any(isinstance(model, DeviceModel) and model.letter == "M" and
               model_level(model) in CHECK_LOG_LEVELS     # (CIDER models write no check log)
               for model in circuit.device_models.values())


#: B4SOI levels whose fifth node, the body contact, must reach another terminal
#: (:func:`lone_body_contacts`). Measured with body contact and body node free (``simulate
#: --backend ngspice``, three runs each, 2-core shared session machine): LEVEL=58 0.95-21.9 s,
#: LEVEL=10 3.7-5.1 s per operating point; BSIM3SOI 55-57 0.6-0.8 ms (not refused); SOI3 (60)
#: takes its body itself as fifth node, floating by design (raw ngspice 0.02 s).
FLOATING_BODY_LEVELS = frozenset((10, 58))
#: Why a lone body contact (:func:`lone_body_contacts`) is refused (``{node}``: its name).
BODY_CONTACT_REFUSAL = (
    "the body contact node {node!r} (fifth node of a B4SOI MOSFET) reaches no other terminal: "
    "the body floats through the contact, on which ngspice can run without end; leave the "
    "node out (4 nodes: the model floats the body itself) or tie it (e.g. to the source)")


def lone_body_contacts(items) -> list:
    """B4SOI MOSFETs (:data:`FLOATING_BODY_LEVELS`) whose body contact (fifth node) no other
    terminal reaches.

    ``items`` are ``(name, nodes, level)`` of every element of a circuit (``level``: the
    model's LEVEL for a MOSFET, else None). A body contact tied to nothing leaves the body
    floating through the contact: ngspice 39 then took 0.9 s to 22 s per operating point
    of a B4SOI (LEVEL=58) device with its body node free too, varying from run to run (it
    may not end); without the node (four nodes) the model floats the body by itself.

    Returns
    -------
    list of (str, str)
        ``(element name, node)`` in circuit order.

    Examples
    --------
    >>> lone_body_contacts([("M1", ["d", "g", "0", "0", "p"], 58), ("R1", ["d", "0"], None)])
    [('M1', 'p')]
    >>> lone_body_contacts([("M1", ["d", "g", "0", "0", "p"], 58), ("R1", ["p", "0"], None)])
    []
    >>> lone_body_contacts([("M1", ["d", "g", "0", "0", "p"], 57)])      # BSIM3SOI: fine
    []
    """
    items = list(items)
    count: dict = {}
    for _name, nodes, _level in items:
        for node in nodes:
            count[node] = count.get(node, 0) + 1
    return [(name, nodes[4]) for name, nodes, level in items
            if level in FLOATING_BODY_LEVELS and len(nodes) >= 5 and nodes[4] != "0"
            and count[nodes[4]] == 1]


def model_level(model) -> int:
    """``LEVEL`` of a :class:`DeviceModel` (or a ``{"LEVEL": ...}`` mapping); 1 if not given."""
    params = model if isinstance(model, dict) else dict(model.params)
    level = params.get("LEVEL", 1)
    return int(level) if isinstance(level, (int, float)) and not isinstance(level, bool) else 1


def transistor_line(element) -> str:
    """One netlist line of a transistor, switch or line: name, nodes, (control source),
    model, ``key=value`` parameters."""
    if element.type not in TRANSISTOR_NODES or element.name[:1] != element.type:
        raise CircuitError(f"element {element.name}: a transistor line needs an M, Q, J, Z, S, "
                           f"W or T element named after its type, got type {element.type!r}")
    words = [element.name, *element.nodes]
    if element.type in CONTROLLED:
        spice_grammar.check_name(element.control, "element",
                                 f"element {element.name}: controlling source name")
        words.append(element.control)
    if element.type not in MODELLESS:
        spice_grammar.check_name(element.model, "model", f"element {element.name}: model name")
        words.append(element.model)
    for key, value in element.params:
        if key not in INSTANCE_PARAMS.get(element.type, ()):
            raise CircuitError(f"element {element.name}: unsupported instance parameter "
                               f"{key!r}")
        words.append(f"{key}={_param_text(key, value, element.name)}")
    return " ".join(words)


def conducting_pairs(element) -> list[tuple[str, str]]:
    """Node pairs of a transistor joined by a DC path (channel or junction; never the MOSFET
    gate, which draws no current)."""
    nodes = element.nodes
    if element.type in ("S", "W"):     # RON or ROFF (both finite) between n+ and n-
        return [(nodes[0], nodes[1])]
    if element.type in "TOY":   # each port is a DC path (Z0 and the port source), and the
        # conductors join the two ends (through R*length for the lossy ones)
        return [(nodes[0], nodes[1]), (nodes[2], nodes[3]), (nodes[0], nodes[2]),
                (nodes[1], nodes[3])]
    if element.type == "M":      # channel d-s, junctions d-b and s-b
        pairs = [(nodes[0], nodes[2]), (nodes[0], nodes[3]), (nodes[2], nodes[3])]
    else:
        pairs = [(nodes[0], nodes[1]), (nodes[1], nodes[2]), (nodes[0], nodes[2])]
        if element.type == "Q" and len(nodes) >= 4:   # collector-substrate junction
            pairs.append((nodes[0], nodes[3]))
    # SOI body, body contact and temperature nodes, a bipolar thermal node: ngspice solves
    # them (junctions to the source, thermal resistances); counted as joined to the source
    first_extra = 4
    pairs += [(nodes[2], node) for node in nodes[first_extra:]]
    return pairs
