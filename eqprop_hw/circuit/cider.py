"""CIDER numerical devices: the strict grammar of their model cards, and the models themselves.

CIDER devices (ngspice's numerical device simulator) solve the semiconductor equations on a
mesh: a numerical diode ``D`` with a ``NUMD`` model, a numerical bipolar transistor ``Q`` with
an ``NBJT`` model, a numerical MOSFET ``M`` with a ``NUMOS`` model. Like transistors
(:mod:`eqprop_hw.circuit.transistors`) they are fixed elements that only the ngspice backend
simulates; the native solver and the software reference refuse a circuit holding one, naming
the device (:func:`refusal`).

A CIDER model is a ``.model`` line followed by sub-cards, one per ``+`` line::

    .model MPN numd level=1
    + options defa=1e-12
    + x.mesh location=0.0 number=1
    + x.mesh location=1.0 number=21
    + domain number=1 material=1
    + material number=1 silicon
    + doping uniform p.type conc=1e+17 x.low=0.0 x.high=0.5
    + models srh auger bgn

Grammar (what this module accepts, reads and writes)
----------------------------------------------------
* Sub-card and parameter keywords are those of ngspice 39's CIDER tables
  (:data:`CARDS`), matched case-insensitively, whole or by an unambiguous prefix as ngspice
  matches them (``x.l`` is ``x.low``, ``n`` is ``number``, ``elec`` is ``electrode``), and
  written back whole in their canonical spelling. Each parameter has a type: a flag (no value),
  a real, an integer, a list of integers, or one of a few words (``concmodel=ct``).
* Values are SPICE numbers (``1e17``, ``1p``, ``0.5``): no expressions, quotes or braces. Reals
  are finite with magnitude at most :data:`MAX_VALUE`; integers are whole numbers in the
  ranges of :data:`INDEX_LIMIT` (ids of materials, domains, electrodes) and the mesh size
  (mesh-line indices).
* Refused, naming the card and the reason: everything that reads or writes a file (doping
  profiles read from files: ``infile=``, ``suprem3``, ``ascii``; ``options ic.file=`` and
  ``unique``; ``output rootfile=``), inverted flags (``^name``) except on the ``models`` card,
  a parameter given twice (also under two aliases), two choices of one kind in a card
  (``uniform`` and ``gaussian``), unknown or ambiguous keywords.
* Sizes: at most :data:`MAX_CARDS` sub-cards of at most :data:`MAX_CARD_PARAMS` parameters.
  Every mesh card gives one of ``location`` or ``width``, and either ``number`` (its
  mesh-line index: uniform spacing, the node count is exact) or automatic spacing
  (``h.start`` or ``h.end``, optionally ``h.max`` and ``ratio``: ngspice searches the count,
  which is at most ``width / min(h) + 3``), so the node count is bounded before ngspice sees
  the model: at most :data:`MAX_NODES_1D` mesh lines for a one-dimensional model (``LEVEL=1``
  NUMD and NBJT), :data:`MAX_NODES_2D` mesh nodes (x lines times y lines) for a
  two-dimensional one (``LEVEL=2`` and NUMOS), and :data:`MAX_CIRCUIT_NODES` over all CIDER
  devices of a circuit.
* The ``output`` card only chooses debug printing and what saved solutions hold: the importer
  leaves it out (and notes it); ``comment``/``title`` cards and ``*`` comment lines are left
  out; an ``end`` card must be the last one (ngspice ignores every card after it).

Instance parameters (:data:`INSTANCE_PARAMS`): ``area`` of a diode (the element's value) or a
bipolar transistor, ``w`` and ``l`` of a MOSFET, and ``temp``. ``off``, ``ic.file``, ``save``
and ``print`` (another operating point, a file read or written) are refused by the importer.

Examples
--------
>>> card = parse_card("x.mesh loc=0.0 n=1", "model M")
>>> card
('x.mesh', (('location', 0.0), ('number', 1)))
>>> card_text(card)
'x.mesh location=0.0 number=1'
>>> model = CiderModel("MPN", "NUMD", 1, (parse_card("x.mesh l=0 n=1", "m"),
...                    parse_card("x.mesh l=1 n=11", "m")))
>>> model.nodes
11
>>> model_lines(model)
['.model MPN numd level=1', '+ x.mesh location=0.0 number=1', '+ x.mesh location=1.0 number=11']
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from eqprop_hw.circuit import spice_grammar
from eqprop_hw.errors import CircuitError

#: CIDER model types, the element letter that uses each, and what it is (for messages).
MODEL_TYPES = {"NUMD": "D", "NBJT": "Q", "NUMOS": "M"}
KINDS = {"NUMD": "numerical diode", "NBJT": "numerical bipolar transistor",
         "NUMOS": "numerical MOSFET"}
#: Node counts of the elements (NBJT: collector base emitter; NUMOS: drain gate source bulk).
NODE_COUNTS = {"D": 2, "Q": 3, "M": 4}
#: ``LEVEL`` values per type: 1 (one-dimensional) or 2 (two-dimensional); NUMOS is always 2D.
LEVELS = {"NUMD": (1, 2), "NBJT": (1, 2), "NUMOS": (2,)}
#: Instance parameters per element letter (``area`` of a D is the element's value).
INSTANCE_PARAMS = {"D": ("area",), "Q": ("area", "temp"), "M": ("w", "l", "temp")}

#: Most sub-cards in one model (after joining ``++`` continuations).
MAX_CARDS = 200
#: Most parameters on one sub-card.
MAX_CARD_PARAMS = 40
#: Longest sub-card text (characters).
MAX_CARD_CHARS = 1000
#: Most mesh lines of a one-dimensional model.
MAX_NODES_1D = 2000
#: Most mesh nodes (x lines times y lines) of a two-dimensional model. ngspice 39 took 70 s for
#: the operating point of one NUMOS of 61 x 60 = 3660 nodes (2-core shared session machine);
#: the largest of ngspice's CIDER examples has 589.
MAX_NODES_2D = 2000
#: Most mesh nodes over all CIDER devices of one circuit (each instance solves its own mesh; the
#: largest of ngspice's CIDER examples, a ring oscillator of 14 NUMOS, has 8246).
MAX_CIRCUIT_NODES = 10000
#: Largest id of a material, domain, electrode or contact; largest ``itlim``.
INDEX_LIMIT = 100
MAX_ITERATIONS = 1000
#: Largest magnitude of a real parameter.
MAX_VALUE = 1e30
#: Largest |location| or width of a mesh line (microns).
MAX_LENGTH = 1e6

_FILES = "it reads or writes a file"
_SPACING = ("give number= (uniform spacing) or the automatic spacing h.start=, h.end= "
            "(with h.max=, ratio=)")


def _table(spec: str) -> dict:
    """``{keyword: (canonical, type)}`` from ``"canonical|alias:type ..."`` (type: f flag,
    r real, i integer id, x mesh-line index, v list of ids, w words, n refused)."""
    table = {}
    for entry in spec.split():
        names, kind = entry.rsplit(":", 1)
        names = names.split("|")
        for name in names:
            table[name] = (names[0], kind)
    return table


_LOCATIONS = "x.low:r x.high:r y.low:r y.high:r ix.low:x ix.high:x iy.low:x iy.high:x"
_MATERIAL = ("number:i insulator:f oxide|sio2:f nitride|si3n4:f semiconductor:f silicon:f "
             "polysilicon:f gaas:f nc|nc0|nc300:r nv|nv0|nv300:r eg|eg0|eg300:r "
             "deg.dt|egalpha:r eg.tref|egbeta:r deg.dc:r eg.cref|nbgn:r deg.dn:r "
             "eg.nref|nbgnn:r deg.dp:r eg.pref|nbgnp:r affinity:r permittivity|epsilon:r "
             "tn|tn0|taun0:r tp|tp0|taup0:r nsrhn|srh.nref:r nsrhp|srh.pref:r "
             "cn|cnaug|augn:r cp|cpaug|augp:r arichn:r arichp:r")
_BOUNDARY = ("domain:i neighbor:i " + _LOCATIONS + " nss|qss|qf:r sn|srvn|vsrfn:r "
             "sp|srvp|vsrfp:r layer.width:r")
_DOMAIN = _LOCATIONS + " number:i material:i"
_MESH = "location:r width:r number|node:x ratio:r h.start|h1:r h.end|h2:r h.max|h3:r"
_OUTPUT = ("all.debug op.debug|dc.debug tran.debug ac.debug|pz.debug geometry mesh material "
           "globals statistics|resources rawfile hdf doping psi equ.psi vac.psi "
           "n.conc|electrons p.conc|holes phin|qfn phip|qfp phic|band.con phiv|band.val "
           "e.field jc|j.conduc jd|j.disp jn|j.electr jp|j.hole jt|j.total unet|recomb "
           "mun|mob.elec mup|mob.hole")

#: Sub-cards: name -> {keyword: (canonical keyword, type)} (ngspice 39's CIDER tables).
CARDS = {
    "contact": _table("neutral:f aluminum:f p.polysilicon:f n.polysilicon:f workfunction:r "
                      "number:i"),
    "doping": _table("domains:v uniform:f linear:f gaussian|gdiff|gimp:f erfc|errfc:f "
                     "exponential:f suprem3:n ascii:n infile:n lat.rotate:f lat.unif:f "
                     "lat.linf:f lat.gauss:f lat.erfc:f lat.exp:f boron:f phosphorus:f "
                     "arsenic:f antimony:f p.type|acceptor:f n.type|donor:f x.axis:f "
                     "y.axis:f x.low:r x.high:r y.low:r y.high:r conc|peak.conc:r "
                     "location|range:r char.length:r ratio.lat:r"),
    "electrode": _table(_LOCATIONS + " number:i"),
    "boundary": _table(_BOUNDARY),
    "interface": _table(_BOUNDARY),
    "x.mesh": _table(_MESH),
    "y.mesh": _table(_MESH),
    "method": _table("devtol|dabstol:r dreltol:r onecarrier:f ac.analysis:w frequency:r "
                     "nomobderiv:f itlim:i voltpred:f"),
    "mobility": _table("material:i electron:f hole:f majority:f minority:f mumax:r mumin:r "
                       "ntref:r ntexp:r vsat:r vwarm:r mus:r ec.a:r ec.b:r concmodel:w "
                       "fieldmodel:w init:f"),
    "models": _table("bgn|bgnw:f tmpmob|tempmob:f conmob|concmob:f fldmob|fieldmob:f "
                     "trfmob|transmob:f srfmob|surfmob:f matchmob:f srh:f consrh|conctau:f "
                     "auger:f avalanche:f"),
    "physics": _table(_MATERIAL),
    "material": _table(_MATERIAL),
    "domain": _table(_DOMAIN),
    "region": _table(_DOMAIN),
    "options": _table("resistor:f capacitor:f diode:f bipolar|bjt:f soibjt:f moscap:f "
                      "mosfet:f soimos:f jfet:f mesfet:f defa:r defw:r defl:r base.area:r "
                      "base.length:r base.depth:r tnom:r ic.file:n unique:n"),
    "output": _table(" ".join(f"{entry}:f" for entry in _OUTPUT.split()) + " rootfile:n"),
}
#: Word-valued parameters: canonical keyword -> the words (ngspice accepts any prefix).
WORDS = {"ac.analysis": ("direct", "sor"), "concmodel": ("ct", "ar", "uf", "sg", "ga"),
         "fieldmodel": ("ct", "ar", "sg", "ga")}
#: Refused parameters and why.
REFUSED = {"suprem3": f"a SUPREM-III profile is read from a file ({_FILES})",
           "ascii": f"an ASCII profile is read from a file ({_FILES})",
           "infile": _FILES, "ic.file": _FILES, "unique": f"it names files ({_FILES})",
           "rootfile": _FILES}
#: Flags of which a card may set only one (ngspice keeps the last one).
EXCLUSIVE = (
    ("uniform", "linear", "gaussian", "erfc", "exponential"),
    ("lat.unif", "lat.linf", "lat.gauss", "lat.erfc", "lat.exp"),
    ("boron", "phosphorus", "arsenic", "antimony", "p.type", "n.type"),
    ("x.axis", "y.axis"), ("electron", "hole"), ("majority", "minority"),
    ("insulator", "oxide", "nitride", "semiconductor", "silicon", "polysilicon", "gaas"),
    ("resistor", "capacitor", "diode", "bipolar", "soibjt", "moscap", "mosfet", "soimos",
     "jfet", "mesfet"),
)
#: Cards that carry no parameters and are left out; ``end`` must be the last card.
SKIPPED_CARDS = ("title", "comment")

_CARD_CHARS = re.compile(r"[A-Za-z0-9.+\-=,^ \t]*", re.A)
#: Cards whose flags may be switched off with ``^name`` (ngspice's inverted flags; elsewhere a
#: flag chooses a kind, and ``^`` would leave ngspice's choice to its code).
INVERTIBLE = ("models", "output")
_WORD_RE = re.compile(r"[a-z][a-z0-9]*(?:\.[a-z0-9]+)*", re.A)


def _bad_character(text: str, subject: str) -> str:
    for char in text:
        if not _CARD_CHARS.fullmatch(char):
            break
    if char in "{}'\"":
        why = "expressions are not supported in CIDER cards; write the number"
    elif char in "/\\~":
        why = "file paths are refused in CIDER cards"
    else:
        why = ("a CIDER card holds keywords, '=' and SPICE numbers only")
    return f"{subject}: character {char!r} refused: {why}"


def resolve(word: str, names: dict, what: str, subject: str) -> str:
    """The canonical keyword that ``word`` stands for in ``names`` (keyword -> canonical), as
    ngspice matches it: a keyword itself, or a prefix of keywords that all stand for one."""
    low = word.lower()
    if low in names:
        return names[low]
    found = sorted({canonical for name, canonical in names.items() if name.startswith(low)})
    if len(found) == 1:
        return found[0]
    if found:
        raise CircuitError(f"{subject}: {what} {word!r} is ambiguous ({', '.join(found[:6])})")
    raise CircuitError(f"{subject}: unknown {what} {word!r}")


def card_name(word: str, subject: str) -> str:
    """The canonical name of a sub-card (``x.mesh``, ``doping``...) or ``title``/``comment``/
    ``end``, as ngspice reads the first word of a ``+`` line."""
    low = word.lower()
    if not _WORD_RE.fullmatch(low):
        raise CircuitError(f"{subject}: invalid CIDER card name {word[:40]!r}")
    try:
        return resolve(low, {name: name for name in CARDS}, "CIDER card", subject)
    except CircuitError as error:
        for name in ("title", "comment", "end"):      # as ngspice: 3 letters at least
            if len(low) >= 3 and name.startswith(low):
                return name
        if "ambiguous" in str(error):
            raise
        raise CircuitError(f"{subject}: unknown CIDER card {word!r} (cards: "
                           f"{' '.join(CARDS)}, comment, title, end)") from None


def parse_length(text: str) -> float:
    """A SPICE number, also with the unit ``m`` (metre) after a scale: ``10um`` is 1e-05, as
    ngspice reads it (it ignores the letters after a scale). Raises ValueError otherwise.

    >>> parse_length("10um"), parse_length("2.5")
    (1e-05, 2.5)
    """
    try:
        return spice_grammar.parse_spice_number(text)
    except ValueError:
        head = text[:-1]
        if text[-1:].lower() == "m" and head[-1:].isalpha():
            return spice_grammar.parse_spice_number(head)
        raise


def _number(text: str, subject: str) -> float:
    try:
        value = parse_length(text)
    except ValueError:
        raise CircuitError(f"{subject}: expected a number, got {text[:40]!r}") from None
    if not math.isfinite(value) or abs(value) > MAX_VALUE:
        raise CircuitError(f"{subject}: {text[:40]!r} is beyond {MAX_VALUE:g} in magnitude")
    return value


def _integer(value: float, low: int, high: int, subject: str) -> int:
    if value != int(value) or not low <= value <= high:
        raise CircuitError(f"{subject}: must be a whole number from {low} to {high}, "
                           f"got {value!r}")
    return int(value)


def check_value(card: str, key: str, value, subject: str):
    """One parameter value of a card checked against its type; the value to keep."""
    kind = CARDS[card][key][1]
    label = f"{subject}: {card} {key}"
    if kind == "n":
        raise CircuitError(f"{label} refused: {REFUSED[key]}")
    if kind == "f":
        if value is not True and not (value is False and card in INVERTIBLE):
            raise CircuitError(f"{label} is a flag and takes no value" + (
                "" if value is not False else f" ('^name' only on {' and '.join(INVERTIBLE)} "
                "cards)"))
        return value
    if kind == "w":
        if not isinstance(value, str) or value not in WORDS[key]:
            raise CircuitError(f"{label} must be one of {', '.join(WORDS[key])}, got {value!r}")
        return value
    if kind == "v":
        if not isinstance(value, tuple) or not 1 <= len(value) <= 16:
            raise CircuitError(f"{label} must be 1 to 16 ids")
        return tuple(_integer(_real(v, label), 1, INDEX_LIMIT, label) for v in value)
    number = _real(value, label)
    if kind == "i":
        return _integer(number, 1, MAX_ITERATIONS if key == "itlim" else INDEX_LIMIT, label)
    if kind == "x":
        return _integer(number, 1, max(MAX_NODES_1D, MAX_NODES_2D), label)
    if card.endswith(".mesh") and abs(number) > MAX_LENGTH:
        raise CircuitError(f"{label}={number!r} is beyond {MAX_LENGTH:g} microns")
    return number


def _real(value, label: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or \
            not math.isfinite(value) or abs(value) > MAX_VALUE:
        raise CircuitError(f"{label} must be a finite number of magnitude at most "
                           f"{MAX_VALUE:g}, got {value!r}")
    return float(value)


def _word_value(key: str, text: str, label: str) -> str:
    low = text.lower()
    found = [word for word in WORDS[key] if word.startswith(low)] if low else []
    if len(found) != 1:
        raise CircuitError(f"{label} must be one of {', '.join(WORDS[key])}, got {text[:40]!r}")
    return found[0]


def parse_card(text: str, subject: str):
    """One sub-card ``NAME key=value flag ...`` as ``(name, ((key, value), ...))``.

    ``key value`` (without ``=``) and commas between values are read as ngspice reads them.
    ``title``, ``comment`` and ``end`` cards give ``(name, ())``.

    Raises
    ------
    CircuitError
        Naming the card and the parameter: see the module docstring for what is refused.
    """
    if not isinstance(text, str):
        raise CircuitError(f"{subject}: a CIDER card must be text, got {type(text).__name__}")
    if len(text) > MAX_CARD_CHARS:
        raise CircuitError(f"{subject}: a CIDER card of {len(text)} characters (at most "
                           f"{MAX_CARD_CHARS})")
    if not _CARD_CHARS.fullmatch(text):
        raise CircuitError(_bad_character(text, subject))
    words = re.sub(r"\s*=\s*", "=", text.replace(",", " ")).split()
    if not words:
        raise CircuitError(f"{subject}: empty CIDER card")
    name = card_name(words[0], subject)
    if name in SKIPPED_CARDS or name == "end":
        return name, ()
    table, label = CARDS[name], f"{subject}: {name} card"
    params, seen, index = [], set(), 1
    while index < len(words):
        word = words[index]
        index += 1
        inverted = word.startswith("^")
        keyword, equals, text_value = word[inverted:].partition("=")
        if not keyword:
            raise CircuitError(f"{label}: '=' without a parameter name")
        if not _WORD_RE.fullmatch(keyword.lower()):
            raise CircuitError(f"{label}: expected a parameter, got {word[:40]!r}")
        key = resolve(keyword, {k: v[0] for k, v in table.items()}, f"{name} parameter", label)
        kind = table[key][1]
        if kind == "n":
            raise CircuitError(f"{label}: {key} refused: {REFUSED[key]}")
        if key in seen:
            raise CircuitError(f"{label}: parameter {key} given twice (also as an alias)")
        seen.add(key)
        if kind == "f":
            if equals:
                raise CircuitError(f"{label}: {key} is a flag and takes no value")
            params.append((key, check_value(name, key, not inverted, label)))
            continue
        if inverted:
            raise CircuitError(f"{label}: '^' before {key}, which is not a flag")
        if not equals:
            if index >= len(words) or "=" in words[index]:
                raise CircuitError(f"{label}: {key} needs a value")
            text_value = words[index]
            index += 1
        if kind == "w":
            params.append((key, _word_value(key, text_value, f"{label}: {key}")))
            continue
        if kind == "v":
            values = [_number(text_value, f"{label}: {key}")]
            while index < len(words) and "=" not in words[index] and \
                    re.fullmatch(r"[+-]?[0-9.][0-9.eE+-]*", words[index]):
                values.append(_number(words[index], f"{label}: {key}"))
                index += 1
            params.append((key, check_value(name, key, tuple(values), label)))
            continue
        params.append((key, check_value(name, key, _number(text_value, f"{label}: {key}"),
                                        label)))
    return check_card((name, tuple(params)), subject)


def check_card(card, subject: str):
    """A parsed card ``(name, ((key, value), ...))`` checked whole (as built by any caller):
    known name and keys in canonical spelling, values of their types, no duplicate, at most
    one flag of each :data:`EXCLUSIVE` group. Returns the card with values normalised."""
    if not isinstance(card, tuple) or len(card) != 2 or not isinstance(card[1], tuple):
        raise CircuitError(f"{subject}: a CIDER card must be (name, params)")
    name, params = card
    if name in SKIPPED_CARDS or name == "end":
        if params:
            raise CircuitError(f"{subject}: a {name} card has no parameters")
        return card
    if name not in CARDS:
        raise CircuitError(f"{subject}: unknown CIDER card {name!r}")
    if len(params) > MAX_CARD_PARAMS:
        raise CircuitError(f"{subject}: {name} card with {len(params)} parameters (at most "
                           f"{MAX_CARD_PARAMS})")
    out, seen = [], set()
    for pair in params:
        if not isinstance(pair, tuple) or len(pair) != 2 or pair[0] not in CARDS[name] or \
                CARDS[name][pair[0]][0] != pair[0]:
            raise CircuitError(f"{subject}: {name} card: unknown parameter {pair!r}")
        if pair[0] in seen:
            raise CircuitError(f"{subject}: {name} card: parameter {pair[0]} given twice")
        seen.add(pair[0])
        out.append((pair[0], check_value(name, pair[0], pair[1], subject)))
    for group in EXCLUSIVE:
        both = [key for key in group if key in seen]
        if len(both) > 1:
            raise CircuitError(f"{subject}: {name} card sets both {both[0]} and {both[1]} "
                               "(give one of them)")
    vectors = [key for key, _value in out if CARDS[name][key][1] == "v"]
    out = [pair for pair in out if pair[0] not in vectors] + \
        [pair for pair in out if pair[0] in vectors]     # lists last: they end the card
    return name, tuple(out)


def card_text(card) -> str:
    """The text of a parsed card, every keyword through the netlist grammar."""
    name, params = card
    words = [spice_grammar.check_name(name, "cider", "CIDER card name")]
    for key, value in params:
        spice_grammar.check_name(key, "cider", f"CIDER {name} parameter")
        if value is True or value is False:
            words.append(key if value else "^" + key)
        elif isinstance(value, tuple):
            words.append(f"{key}=" + " ".join(str(int(v)) for v in value))
        elif isinstance(value, str):
            words.append(f"{key}={spice_grammar.check_name(value, 'cider', f'{key} value')}")
        elif isinstance(value, int) and not isinstance(value, bool):
            words.append(f"{key}={value}")
        else:
            words.append(f"{key}={_fmt(value)}")
    return " ".join(words)


def _fmt(value: float) -> str:
    value = float(value)
    if not math.isfinite(value):
        raise CircuitError(f"cannot write non-finite number {value!r} into a CIDER card")
    return "0.0" if value == 0.0 else repr(value)


_AUTO = ("h.start", "h.end", "h.max", "ratio")


def _auto_spaces(values: dict, width: float, label: str) -> int:
    """Most spaces ngspice's automatic spacing can put into a span of ``width``: its spacings
    start from h.start or h.end and grow (ratio 1 to 10), so there are at most
    ``width / min(h) + 3``. Refuses what ngspice refuses (no h.start nor h.end; all three
    h's; h.max below h.start or h.end)."""
    given = [key for key in ("h.start", "h.end") if key in values]
    if not given or len(given) == 2 and "h.max" in values:
        raise CircuitError(f"{label}: automatic spacing needs h.start= or h.end= (h.max= "
                           "with one of them only)")
    steps = [values[key] for key in given + ["h.max"] if key in values]
    if min(steps) <= 0:
        raise CircuitError(f"{label}: spacings must be positive")
    if "h.max" in values and values["h.max"] < values[given[0]]:
        raise CircuitError(f"{label}: h.max is below {given[0]}")
    spaces = width / min(steps) + 3
    if not spaces <= MAX_NODES_2D:
        raise CircuitError(f"{label}: automatic spacing of a {width!r} micron span at "
                           f"{min(steps)!r} gives up to {spaces:.3g} mesh lines, more than "
                           f"{MAX_NODES_2D}")
    return int(spaces)


def mesh_nodes(cards, axis: str, subject: str) -> int:
    """Number of mesh lines the ``x.mesh`` (``axis="x"``) or ``y.mesh`` cards give, as ngspice
    39 lays them out, or an upper bound of it for automatic spacing (:func:`_auto_spaces`);
    0 without such cards.

    Raises CircuitError for what ngspice refuses (a card without a distance, locations going
    back, line numbers out of order, automatic spacing without h.start or h.end) and for a
    count beyond :data:`MAX_NODES_2D`.
    """
    start_loc, start_num, spaces, count = 0.0, 1, 0, 0
    for name, params in cards:
        if name != f"{axis}.mesh":
            continue
        count += 1
        values = dict(params)
        label = f"{subject}: {axis}.mesh card {count}"
        auto = [key for key in _AUTO if key in values]
        if ("number" in values) == bool(auto):
            raise CircuitError(f"{label}: {_SPACING}, not both" if auto else
                               f"{label}: {_SPACING}")
        if ("location" in values) == ("width" in values):
            raise CircuitError(f"{label}: give exactly one of location= and width=")
        if "location" in values:
            end_loc = values["location"]
            if count == 1:
                start_loc = end_loc
        else:
            end_loc = start_loc + values["width"]
        if end_loc - start_loc < -1e-9:
            raise CircuitError(f"{label}: goes back from {start_loc!r} to {end_loc!r} "
                               "(locations must increase)")
        if auto:
            if end_loc - start_loc > 1e-9:
                step = _auto_spaces(values, end_loc - start_loc, label)
                spaces += step
                start_num += step
        else:
            absolute = "location" in values
            end_num = values["number"] if absolute else start_num + values["number"]
            if count == 1 and absolute:
                start_num = end_num
            if end_loc - start_loc <= 1e-9:
                if end_num < start_num:
                    raise CircuitError(f"{label}: mesh-line number {end_num} after "
                                       f"{start_num}")
            else:
                if end_num <= start_num:
                    raise CircuitError(f"{label}: mesh-line number {end_num} after "
                                       f"{start_num} (numbers must increase with the "
                                       "location)")
                spaces += end_num - start_num
            start_num = end_num
        if spaces + 1 > MAX_NODES_2D:
            raise CircuitError(f"{label}: more than {MAX_NODES_2D} {axis} mesh lines")
        start_loc = end_loc
    return spaces + 1 if spaces else 0


@dataclass(frozen=True)
class CiderModel:
    """A CIDER model: name, type (:data:`MODEL_TYPES`), ``LEVEL`` and parsed sub-cards.

    Attributes
    ----------
    name : str
        Model name (the ``model`` kind of :mod:`eqprop_hw.circuit.spice_grammar`).
    type : str
        ``NUMD``, ``NBJT`` or ``NUMOS``.
    level : int
        1 (one-dimensional) or 2 (two-dimensional), see :data:`LEVELS`.
    cards : tuple
        ``(name, ((key, value), ...))`` per sub-card (:func:`parse_card`), in order.

    Raises
    ------
    CircuitError
        For a bad name, type, level or card, a missing or oversized mesh (see the module
        docstring).
    """

    name: str
    type: str
    level: int
    cards: tuple

    #: Marks a CIDER model among a circuit's device models.
    cider = True

    def __post_init__(self):
        subject = f"model {self.name}"
        spice_grammar.check_name(self.name, "model", "model name")
        if self.type not in MODEL_TYPES:
            raise CircuitError(f"{subject}: unknown CIDER model type {self.type!r} "
                               f"(supported: {' '.join(MODEL_TYPES)})")
        if isinstance(self.level, bool) or self.level not in LEVELS[self.type]:
            raise CircuitError(f"{subject}: LEVEL must be one of "
                               f"{' '.join(map(str, LEVELS[self.type]))} for {self.type}, got "
                               f"{self.level!r}")
        if not isinstance(self.cards, tuple) or len(self.cards) > MAX_CARDS:
            raise CircuitError(f"{subject}: at most {MAX_CARDS} CIDER cards (a tuple)")
        cards = tuple(check_card(card, subject) for card in self.cards
                      if not (isinstance(card, tuple) and card and card[0] in SKIPPED_CARDS))
        if any(card[0] == "end" for card in cards):
            raise CircuitError(f"{subject}: an end card (ngspice ignores the cards after it; "
                               "leave it out)")
        object.__setattr__(self, "cards", cards)
        nx, ny = mesh_nodes(cards, "x", subject), mesh_nodes(cards, "y", subject)
        if nx == 0:
            raise CircuitError(f"{subject}: needs x.mesh cards (at least two mesh lines)")
        if self.level == 1:
            if ny:
                raise CircuitError(f"{subject}: y.mesh cards in a one-dimensional model "
                                   "(LEVEL=1); use LEVEL=2 for a two-dimensional one")
            if nx > MAX_NODES_1D:
                raise CircuitError(f"{subject}: {nx} mesh lines, more than {MAX_NODES_1D}")
        else:
            if ny == 0:
                raise CircuitError(f"{subject}: a two-dimensional model needs y.mesh cards")
            if nx * ny > MAX_NODES_2D:
                raise CircuitError(f"{subject}: a mesh of {nx} x {ny} = {nx * ny} nodes, more "
                                   f"than {MAX_NODES_2D}")
        for name, params in cards:
            for key, value in params:
                if key.startswith(("ix.", "iy.")):
                    limit = nx if key[1] == "x" else ny
                    if value > limit:
                        raise CircuitError(f"{subject}: {name} {key}={value} is beyond the "
                                           f"{limit} {key[1]} mesh lines")
        object.__setattr__(self, "_nodes", nx * max(ny, 1))

    @property
    def letter(self) -> str:
        """The element letter that uses this model (``D``, ``Q`` or ``M``)."""
        return MODEL_TYPES[self.type]

    @property
    def nodes(self) -> int:
        """Mesh nodes of one device (x lines times y lines)."""
        return self._nodes


def is_cider_model(model) -> bool:
    """Whether a device model is a :class:`CiderModel`."""
    return isinstance(model, CiderModel)


def model_lines(model: CiderModel) -> list:
    """The ``.model`` line and one ``+`` line per card, every word through the grammar."""
    if not isinstance(model, CiderModel):
        raise CircuitError(f"not a CIDER model: {model!r}")
    spice_grammar.check_name(model.name, "model", "model name")
    head = f".model {model.name} {model.type.lower()}"
    if model.type != "NUMOS":
        head += f" level={int(model.level)}"
    return [head] + ["+ " + card_text(card) for card in model.cards]


def spec_model(model: dict, subject: str) -> dict:
    """A spec's CIDER model mapping ``{type, LEVEL, cards: [text, ...]}`` checked: the same
    mapping with canonical card texts (raises CircuitError)."""
    if not isinstance(model, dict):
        raise CircuitError(f"{subject}: a CIDER model must be a mapping")
    unknown = sorted(str(key) for key in model if key not in ("type", "LEVEL", "cards"))
    if unknown:
        raise CircuitError(f"{subject}: unknown key {unknown[0]!r} of a CIDER model (keys: "
                           "type, LEVEL, cards)")
    kind = str(model.get("type")).upper()
    level = model.get("LEVEL", LEVELS.get(kind, (1,))[0])
    cards = model.get("cards")
    if not isinstance(cards, list) or len(cards) > MAX_CARDS:
        raise CircuitError(f"{subject}.cards must be a list of at most {MAX_CARDS} CIDER "
                           "card texts")
    parsed = tuple(parse_card(text, f"{subject}.cards[{k}]") for k, text in enumerate(cards))
    try:
        built = CiderModel("M", kind, level, parsed)
    except CircuitError as error:          # the model's own checks, named by the spec's key
        raise CircuitError(f"{subject}: {str(error).removeprefix('model M: ')}") from None
    return {"type": kind, "LEVEL": built.level, "cards": [card_text(card) for card in
                                                          built.cards]}


def check_element(element, model: CiderModel) -> None:
    """Raise CircuitError unless a D, Q or M element fits its CIDER model."""
    subject = f"element {element.name}"
    if model.letter != element.type or element.name[:1] != element.type:
        raise CircuitError(f"{subject}: model {model.name} is a {model.type} model "
                           f"({KINDS[model.type]}, used by {model.letter} elements)")
    if len(element.nodes) != NODE_COUNTS[element.type]:
        raise CircuitError(f"{subject}: a {KINDS[model.type]} takes "
                           f"{NODE_COUNTS[element.type]} nodes, got {len(element.nodes)}")
    if element.type == "D":
        if element.params or element.value is None or not 0 < element.value <= 1e6:
            raise CircuitError(f"{subject}: a numerical diode takes its area (0 to 1e6) as "
                               "its value and no other parameter")
        return
    if element.value is not None:
        raise CircuitError(f"{subject}: a CIDER device has no value (it is a fixed element)")
    check_instance_params(element.type, element.params, subject)


def check_instance_params(letter: str, params, subject: str) -> tuple:
    """Instance parameters of a CIDER Q or M: names of :data:`INSTANCE_PARAMS`, finite
    values, positive sizes, temperatures within 1000 degC."""
    out, seen = [], set()
    for pair in params:
        if not isinstance(pair, tuple) or len(pair) != 2 or \
                pair[0] not in INSTANCE_PARAMS[letter]:
            raise CircuitError(f"{subject}: unsupported CIDER instance parameter {pair!r} "
                               f"(supported: {', '.join(INSTANCE_PARAMS[letter])})")
        key, value = pair
        if key in seen:
            raise CircuitError(f"{subject}: instance parameter {key} given twice")
        seen.add(key)
        value = _real(value, f"{subject}: {key}")
        if key == "temp" and abs(value) > 1000 or key != "temp" and not 0 < value <= 1e6:
            raise CircuitError(f"{subject}: {key}={value!r} is out of range")
        out.append((key, value))
    return tuple(out)


def first_cider(circuit):
    """The first element of ``circuit`` that uses a CIDER model (with its model), or None."""
    for element in circuit.elements:
        model = circuit.device_models.get(element.model or "")
        if isinstance(model, CiderModel):
            return element, model
    return None


def refusal(element, model: CiderModel, solver: str,
            advice: str = " (use --backend ngspice)") -> str:
    """The one-line refusal of a CIDER device by a solver other than ngspice.

    >>> from eqprop_hw.circuit.graph import Element
    >>> model = CiderModel("MPN", "NUMD", 1, (("x.mesh", (("location", 0.0), ("number", 1))),
    ...                    ("x.mesh", (("location", 1.0), ("number", 5)))))
    >>> refusal(Element("D1", "D", ("a", "0"), 1.0, model="MPN"), model, "native backend")
    'native backend: D1 is a CIDER numerical diode (model MPN, NUMD); CIDER devices are simulated by ngspice only (use --backend ngspice)'
    """
    return (f"{solver}: {element.name} is a CIDER {KINDS[model.type]} (model {model.name}, "
            f"{model.type}); CIDER devices are simulated by ngspice only{advice}")


def check_circuit(circuit) -> None:
    """Raise CircuitError when the CIDER devices of a circuit add up to more than
    :data:`MAX_CIRCUIT_NODES` mesh nodes."""
    total = 0
    for element in circuit.elements:
        model = circuit.device_models.get(element.model or "")
        if isinstance(model, CiderModel):
            check_element(element, model)
            total += model.nodes
            if total > MAX_CIRCUIT_NODES:
                raise CircuitError(f"element {element.name}: the CIDER devices of the circuit "
                                   f"add up to more than {MAX_CIRCUIT_NODES} mesh nodes")
