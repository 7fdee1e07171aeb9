"""Roles of an imported circuit: which sources are inputs, which nodes outputs, what learns.

A netlist imported by :func:`eqprop_hw.circuit.spice_import.import_netlist` is a ``graph`` spec
mapping with no inputs, no outputs and no data set (unless it carries eqprop-hw's ``*@``
metadata). :func:`assign_roles` gives it those, so that ``eqprop-hw train`` accepts it:

* ``inputs``: names of independent sources (``V``, or ``I``), each becoming an input named
  after it that sets the source to ``1 * x``. The source keeps its imported value as its
  ``dc``, which is what ``export`` writes and what the teacher's circuit is built from when no
  input value is given.
* ``outputs``: node names; each output is that node's voltage.
* ``trainable``: element names or shell-style patterns (``R*``, ``R[1-4]``, ``RL1_*``),
  matched case-insensitively (like SPICE) against the imported element names. They select
  resistors, which train as conductances starting from their imported value, within the
  ``graph`` kind's default bounds ``[1e-12 S, 100 x the largest initial conductance]``.
  A capacitor or inductor is refused: at DC it has no effect on the operating point.
* ``data``: the ``dataset`` section: a data set name of ``docs/specs.md`` (``teacher``,
  ``xor``, ``iris``, ``digits``, ``none``), ``mnist:PATH``, or (Python only) a mapping.
  Default: ``teacher`` when inputs and outputs are assigned and the spec has no data set
  (the one data set that fits any circuit's shape: targets from the same circuit with its
  trainable values redrawn). With a data set, ``training: {learning_rate: 1e-4}`` is written
  too (see :data:`IMPORT_LEARNING_RATE`) unless the spec has a ``training`` section.

Every name is checked against the circuit and refused with ONE line naming the option (the
``labels``) and the name: a name that does not exist, a pattern that matches nothing or no
resistor, a source given as an output, ground as an output, a name given twice, a name with a
character outside the name grammar (:mod:`eqprop_hw.circuit.spice_grammar`). Resources are
bounded: at most :data:`MAX_ROLE_NAMES` names per role, patterns of at most
:data:`~eqprop_hw.circuit.spice_grammar.MAX_NAME_CHARS` characters, and at most
:data:`MAX_PATTERN_WORK` pattern-against-element comparisons (the loader repeats them).

The function is pure: it returns a new mapping (sharing the element entries) and never reads
or writes a file. ``eqprop-hw import --inputs/--outputs/--trainable/--data`` and the API's
:func:`eqprop_hw.import_netlist` call it.

Examples
--------
>>> spec = {"name": "div", "kind": "graph", "elements": [
...     {"name": "V1", "nodes": ["a", "0"], "dc": 2.0},
...     {"name": "R1", "nodes": ["a", "b"], "r": 1000.0},
...     {"name": "R2", "nodes": ["b", "0"], "r": 1000.0}]}
>>> out = assign_roles(spec, inputs=["v1"], outputs=["B"], trainable=["r*"])
>>> out["inputs"], out["outputs"], out["trainable"], out["dataset"], out["training"]
(['V1'], ['b'], ['R*'], {'name': 'teacher'}, {'learning_rate': 0.0001})
>>> assign_roles(spec, outputs=["V1"], source="div.cir")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
eqprop_hw.errors.NetlistError: div.cir: outputs: 'V1' is an element (a voltage source), ...
"""

from __future__ import annotations

import fnmatch
import re
import unicodedata

from eqprop_hw.circuit.spice_grammar import (MAX_NAME_CHARS, describe_character, name_problem,
                                             reserved_problem)
from eqprop_hw.errors import NetlistError, quote

#: Most names (or patterns) one role takes.
MAX_ROLE_NAMES = 100_000
#: Most pattern-against-element comparisons of ``trainable`` (patterns x elements): the spec
#: loader matches every pattern against every element again, so this bounds its time too
#: (about a second).
MAX_PATTERN_WORK = 2_000_000
#: Longest ``mnist:PATH`` path (characters).
MAX_PATH_CHARS = 4096
#: Data sets that ``data`` names (``mnist`` takes a path: ``mnist:PATH``).
DATA_NAMES = ("teacher", "xor", "iris", "digits", "none")
#: How the options are named in messages: the API's parameter names (the CLI passes
#: ``--inputs`` and so on).
API_LABELS = {"inputs": "inputs", "outputs": "outputs", "trainable": "trainable",
              "data": "data"}
#: ``training.learning_rate`` written with a data set. The spec default (0.01) is tuned for
#: layered crossbars; on graph circuits, whose conductance bound is 100 x the largest initial
#: value, it overshoots (teacher data, 500 samples: ``circuits/graph_bridge.yaml``'s training
#: loss 1.67e-3 -> 3.6e-3 over 3 epochs, the netlist of ``tests/test_import_roles.py`` up 4.8x
#: after one epoch); at 1e-4 both stay below their initial loss after every epoch at 24 and
#: 500 samples (graph_bridge levels off at 1.6e-5 after the first epoch of 500 samples).
IMPORT_LEARNING_RATE = 1e-4
#: Names shown when listing what exists.
_SHOWN = 8

_PATTERN_RE = re.compile(r"[A-Za-z0-9_*?\[\]!\-]+", re.A)
_PATTERN_CHAR = re.compile(r"[A-Za-z0-9_*?\[\]!\-]", re.A)
_WILDCARDS = re.compile(r"[*?\[]")
_KIND = {"V": "a voltage source", "I": "a current source", "R": "a resistor",
         "C": "a capacitor", "L": "an inductor", "D": "a diode", "E": "a VCVS", "G": "a VCCS",
         "F": "a CCCS", "H": "a CCVS", "B": "a behavioural source"}
_VENDOR_CHARS = set("+-.#!")


def _listing(names) -> str:
    """``a, b, c, ... (N more)``: at most :data:`_SHOWN` names."""
    names = list(names)
    shown = ", ".join(names[:_SHOWN]) or "none"
    return shown + (f", ... ({len(names) - _SHOWN} more)" if len(names) > _SHOWN else "")


class _Roles:
    """The checks of one call: the circuit's names, the labels and the netlist's name."""

    def __init__(self, spec: dict, source: str | None, labels: dict):
        self.source = source
        self.labels = labels
        self.elements = {e["name"]: e for e in spec["elements"]}
        self.nodes = {}
        for element in spec["elements"]:
            for node in element["nodes"]:
                self.nodes.setdefault(node, None)

    def fail(self, role: str, message: str):
        raise NetlistError(f"{self.labels[role]}: {message}", self.source)

    def names(self, role: str, names, what: str) -> list:
        """The names of one role as a list of strings, bounded and without repeats."""
        if isinstance(names, (str, bytes)) or not hasattr(names, "__iter__"):
            self.fail(role, f"must be a list of {what}s, got {type(names).__name__}")
        out = []
        for position, name in enumerate(names):
            if position >= MAX_ROLE_NAMES:
                self.fail(role, f"more than {MAX_ROLE_NAMES} {what}s")
            if not isinstance(name, str):
                self.fail(role, f"{what} {position + 1} must be a string, got "
                                f"{type(name).__name__}")
            if not name:
                self.fail(role, f"{what} {position + 1} is empty")
            out.append(name)
        seen = set()
        for name in out:
            key = name.upper() if name.isascii() else name
            if key in seen:
                self.fail(role, f"{quote(name)} is given twice")
            seen.add(key)
        return out

    def grammar(self, role: str, name: str, kind: str) -> str:
        """``name`` in the circuit's case (ASCII only) if the grammar takes it."""
        text = (name.upper() if kind == "element" else name.lower()) if name.isascii() \
            else name
        problem = name_problem(text, kind)
        if problem is not None:
            hint = ""
            if kind == "node" and _VENDOR_CHARS & set(name):
                hint = ("; nodes renamed on import (IN+ -> in_p, n.1 -> n_1) go by their new "
                        "names, listed in the import note")
            self.fail(role, f"invalid {kind} name {quote(name)}: it {problem}{hint}")
        return text

    # -- the roles -----------------------------------------------------------------------
    def inputs(self, names) -> list:
        sources = [n for n in self.elements if n[0] in "VI"]
        out = []
        for name in self.names("inputs", names, "name"):
            upper = self.grammar("inputs", name, "element")
            element = self.elements.get(upper)
            if element is None:
                self.fail("inputs", f"no element named {quote(name)} (independent sources: "
                                    f"{_listing(sources)})")
            if upper[0] not in "VI":
                self.fail("inputs", f"{quote(name)} is {_KIND.get(upper[0], 'an element')}, "
                                    "not an independent source (V or I); an input names a "
                                    f"source (sources: {_listing(sources)})")
            out.append(upper)
        return out

    def outputs(self, names) -> list:
        out = []
        for name in self.names("outputs", names, "node"):
            upper = name.upper() if name.isascii() else name
            lower = name.lower() if name.isascii() else name
            if lower in ("0", "gnd"):
                self.fail("outputs", f"{quote(name)} is ground (always 0 V); an output names "
                                     "another node")
            if lower not in self.nodes and upper in self.elements:
                self.fail("outputs", f"{quote(name)} is an element "
                                     f"({_KIND.get(upper[0], 'an element')}), not a node; an "
                                     f"output names a node (nodes: {_listing(self._nodes())})")
            node = self.grammar("outputs", name, "node")
            problem = reserved_problem(node, "node", "resistive")
            if problem is not None:
                self.fail("outputs", f"node {quote(name)} {problem}")
            if node not in self.nodes:
                self.fail("outputs", f"{quote(name)} is not a node of the circuit (nodes: "
                                     f"{_listing(self._nodes())})")
            out.append(node)
        return out

    def _nodes(self) -> list:
        return [n for n in self.nodes if n != "0"]

    def trainable(self, patterns) -> list:
        patterns = self.names("trainable", patterns, "pattern")
        if not patterns:
            return []                           # nothing trainable
        work = len(patterns) * len(self.elements)
        if work > MAX_PATTERN_WORK:
            self.fail("trainable", f"{len(patterns)} names or patterns over "
                                   f"{len(self.elements)} elements is more than "
                                   f"{MAX_PATTERN_WORK:,} comparisons; use fewer, broader "
                                   "patterns (e.g. 'R*')")
        upper = [self._pattern(p) for p in patterns]
        resistors = set()
        for given, pattern in zip(patterns, upper):
            if _WILDCARDS.search(pattern):
                matched = [n for n in self.elements if fnmatch.fnmatchcase(n, pattern)]
            else:
                matched = [pattern] if pattern in self.elements else []
            if not matched:
                self.fail("trainable", f"pattern {quote(given)} matches no element (elements: "
                                       f"{_listing(self.elements)})")
            reactive = [n for n in matched if n[0] in "CL"]
            if reactive:
                self.fail("trainable", f"pattern {quote(given)} matches "
                                       f"{_KIND[reactive[0][0]]} {reactive[0]}: only "
                                       "resistors train (at DC a capacitor is open and an "
                                       "inductor a short); select resistors, e.g. 'R*'")
            found = [n for n in matched if n[0] == "R"]
            if not found:
                self.fail("trainable", f"pattern {quote(given)} matches no resistor (it "
                                       f"matches {_listing(matched)}); only resistors train")
            resistors.update(found)
        every = {n for n in self.elements if n[0] == "R"}
        return ["R*"] if resistors == every else upper

    def _pattern(self, text: str) -> str:
        if len(text) > MAX_NAME_CHARS:
            self.fail("trainable", f"pattern {quote(text)} is {len(text)} characters long; "
                                   f"a pattern has at most {MAX_NAME_CHARS}")
        if not _PATTERN_RE.fullmatch(text):
            char = next(c for c in text if not _PATTERN_CHAR.fullmatch(c))
            self.fail("trainable", f"pattern {quote(text)} holds {describe_character(char)}; "
                                   "a pattern is letters, digits, '_' and the wildcards "
                                   "* ? [ ] ! -")
        return text.upper()

    def data(self, data):
        if isinstance(data, dict):
            return dict(data)      # validated with the whole spec by parse_spec
        if not isinstance(data, str):
            self.fail("data", f"must be a data set name, got {type(data).__name__}")
        name, colon, path = data.partition(":")
        if name.lower() == "mnist" and colon:
            if not path:
                self.fail("data", "mnist:PATH needs a path (an .npz file or a folder of IDX "
                                  "files)")
            if len(path) > MAX_PATH_CHARS:
                self.fail("data", f"path of {len(path)} characters; at most "
                                  f"{MAX_PATH_CHARS}")
            for char in path:
                if unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp", "Cs"):
                    self.fail("data", f"path {quote(path)} holds {describe_character(char)}")
            return {"name": "mnist", "path": path}
        if data.lower() not in DATA_NAMES:
            self.fail("data", f"unknown data set {quote(data)} (one of: "
                              f"{', '.join(DATA_NAMES)}, or mnist:PATH)")
        return {"name": data.lower()}


def assign_roles(spec: dict, inputs=None, outputs=None, trainable=None, data=None, *,
                 source: str | None = None, labels: dict | None = None) -> dict:
    """Give an imported ``graph`` spec mapping its inputs, outputs, trainable set and data set.

    Parameters
    ----------
    spec : dict
        A ``graph`` spec mapping as :func:`eqprop_hw.circuit.spice_import.import_netlist`
        returns it (``elements`` a list of ``{name, nodes, ...}``; names upper-case, nodes
        lower-case). Not changed.
    inputs : sequence of str, optional
        Independent sources (V or I), case-insensitive; each becomes an input named after it
        (gain 1). None: keep the spec's inputs; ``[]``: no inputs.
    outputs : sequence of str, optional
        Node names, case-insensitive; each output is the node's voltage (V). None: keep.
    trainable : sequence of str, optional
        Element names or shell-style patterns (``*``, ``?``, ``[...]``), case-insensitive;
        each must match at least one resistor and no capacitor or inductor. Written as
        ``['R*']`` when they select every resistor, else as given (upper-cased). None: keep
        the spec's (no key: every resistor).
    data : str or dict, optional
        ``teacher``, ``xor``, ``iris``, ``digits``, ``none``, ``mnist:PATH``, or a
        ``dataset`` mapping (``docs/specs.md``). None: ``{name: teacher}`` if inputs and
        outputs were assigned here and the spec has no ``dataset``; otherwise keep.
    source : str, optional
        The netlist's name, put in front of every message.
    labels : dict, optional
        Role -> how the messages name it (default :data:`API_LABELS`; the CLI passes
        ``--inputs`` ...).

    Returns
    -------
    dict
        A new spec mapping (top-level keys copied, element entries shared).

    Raises
    ------
    NetlistError
        One line naming the role and the name: see the module docstring.
    """
    if not isinstance(spec, dict) or not isinstance(spec.get("elements"), list):
        raise NetlistError("the spec must be a mapping with a list of elements", source)
    roles = _Roles(spec, source, {**API_LABELS, **(labels or {})})
    out = dict(spec)
    if inputs is not None:
        out["inputs"] = roles.inputs(inputs)
    if outputs is not None:
        out["outputs"] = roles.outputs(outputs)
    if trainable is not None:
        out["trainable"] = roles.trainable(trainable)
    if data is not None:
        out["dataset"] = roles.data(data)
    elif inputs and outputs and "dataset" not in spec:
        out["dataset"] = {"name": "teacher"}
    if out.get("dataset", {}).get("name") not in (None, "none") and "dataset" not in spec \
            and "training" not in spec:
        out["training"] = {"learning_rate": IMPORT_LEARNING_RATE}
    return out


def import_with_roles(path, inputs=None, outputs=None, trainable=None, data=None, *,
                      allow_unsafe: bool = False, notes: list | None = None,
                      labels: dict | None = None) -> dict:
    """Import a netlist file and assign its roles: :func:`~eqprop_hw.circuit.spice_import.
    import_netlist` then :func:`assign_roles`, the result validated as a spec.

    Parameters
    ----------
    path : str or Path
        The netlist file; named in every message.
    inputs, outputs, trainable, data, labels
        See :func:`assign_roles`.
    allow_unsafe, notes
        See :func:`eqprop_hw.circuit.spice_import.import_netlist_text`.

    Returns
    -------
    dict
        The spec mapping (``eqprop_hw.circuit.spice_import.spec_to_yaml`` writes it).

    Raises
    ------
    NetlistError
        The netlist cannot be imported, or a role names something it does not have.
    SpecError
        ``data`` given as a mapping that is not a valid ``dataset`` section.

    Examples
    --------
    >>> path = TMP / "divider.cir"
    >>> _ = path.write_text("* divider\\nV1 a 0 DC 2\\nR1 a b 1k\\nR2 b 0 1k\\n.end\\n")
    >>> spec = import_with_roles(path, inputs=["V1"], outputs=["b"], trainable=["R2"])
    >>> spec["inputs"], spec["outputs"], spec["trainable"], spec["dataset"]["name"]
    (['V1'], ['b'], ['R2'], 'teacher')
    """
    from eqprop_hw.circuit.spec import parse_spec
    from eqprop_hw.circuit.spice_import import import_netlist

    source = str(path)
    data_notes: list = []
    spec = import_netlist(path, allow_unsafe=allow_unsafe, notes=data_notes)
    if (inputs, outputs, trainable, data) != (None, None, None, None):
        spec = assign_roles(spec, inputs, outputs, trainable, data, source=source,
                            labels=labels)
        parse_spec(spec, source)     # the import validated the rest; a data mapping too
    if notes is not None:
        notes.extend(data_notes)
    return spec


def split_names(text: str | None) -> list | None:
    """A comma-separated option value as a list of names; None stays None. Spaces and tabs
    around a name are dropped, nothing else (a line break or other control character stays
    and is refused by :func:`assign_roles`, as are empty items and an empty option).

    Examples
    --------
    >>> split_names("V1, V2"), split_names(""), split_names(None)
    (['V1', 'V2'], [''], None)
    """
    if text is None:
        return None
    return [item.strip(" \t") for item in text.split(",")]
