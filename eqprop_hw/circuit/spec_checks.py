"""The typed checks of a spec's values (part of :mod:`eqprop_hw.circuit.spec`): numbers within
limits, integers, strings, element and node names through the netlist grammar, expressions,
each refusal one :class:`~eqprop_hw.errors.SpecError` naming the file and the line of the key.

Examples
--------
>>> check = SpecChecker("spec.yaml")
>>> check.number({"beta": 1e-6}, "beta", "training", positive=True)
1e-06
>>> check.number({"beta": "x"}, "beta", "training")
Traceback (most recent call last):
...
eqprop_hw.errors.SpecError: spec.yaml: training.beta must be a number, got 'x'
"""

from __future__ import annotations

import math
import re
from typing import Any

from eqprop_hw.circuit import spice_grammar
from eqprop_hw.circuit.spec_yaml import LineDict, LineList
from eqprop_hw.errors import CircuitError, SpecError, quote


#: What an element name may be: a letter (its type), then letters, digits and '_'.
ELEMENT_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*", re.A)


def type_name(value) -> str:
    """A user-facing type name (no internal class names)."""
    if isinstance(value, dict):
        return "mapping"
    if isinstance(value, list):
        return "list"
    if value is None:
        return "nothing (null)"
    return {"str": "string", "int": "integer", "float": "number", "bool": "boolean"}.get(
        type(value).__name__, type(value).__name__)


class SpecChecker:
    """Validates values of one spec file and raises SpecError naming the file and the line
    (``source``: the file name in messages)."""

    def __init__(self, source: str):
        self.source = source

    def fail(self, message: str, container: Any = None, key: Any = None):
        line = None
        if isinstance(container, LineDict):
            line = container.key_lines.get(key, container.line)
        elif isinstance(container, LineList):
            if isinstance(key, int) and 0 <= key < len(container.item_lines):
                line = container.item_lines[key]
            else:
                line = container.line
        raise SpecError(message, self.source, line)

    def mapping(self, value, where: str, container=None, key=None) -> dict:
        if value is None:
            return LineDict()
        if not isinstance(value, dict):
            self.fail(f"{where} must be a mapping, got {type_name(value)}", container, key)
        return value

    def keys(self, mapping: dict, allowed, where: str):
        for key in mapping:
            if key not in allowed:
                self.fail(f"unknown key {key!r} in {where} (allowed: {', '.join(allowed)})",
                          mapping, key)

    def number(self, mapping, key, where, default=None, positive=False, nonneg=False,
               required=False) -> float | None:
        """A finite float at ``mapping[key]``.

        ``where`` names the container (``training``); for a list, ``key`` is an index and
        ``where`` the full name of the item (``training.learning_rate[2]``).
        """
        if isinstance(mapping, list):
            present, label = isinstance(key, int) and 0 <= key < len(mapping), where
        else:
            present, label = key in mapping, f"{where}.{key}"
        if not present or mapping[key] is None:
            if required:
                self.fail(f"{label} is required", mapping, None)
            return default
        value = mapping[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            try:
                if not isinstance(value, str):
                    raise ValueError
                value = float(value)
            except ValueError:
                self.fail(f"{label} must be a number, got {mapping[key]!r}", mapping, key)
        value = float(value)
        if not math.isfinite(value):
            self.fail(f"{label} must be finite, got {value!r}", mapping, key)
        if positive and value <= 0:
            self.fail(f"{label} must be positive, got {value!r}", mapping, key)
        if nonneg and value < 0:
            self.fail(f"{label} must be >= 0, got {value!r}", mapping, key)
        return value

    def within(self, value, mapping, key, label: str, low: float, high: float,
               unit: str = "", low_open: bool = False):
        """``value`` if inside the documented limits (:func:`eqprop_hw.circuit.graph.check_range`),
        else a SpecError naming ``label`` and the line of ``mapping[key]``."""
        from eqprop_hw.circuit.graph import check_range
        if value is None:
            return value
        try:
            check_range(label, value, low, high, unit, low_open)
        except CircuitError as error:
            self.fail(str(error), mapping, key)
        return value

    def unique(self, name, seen: dict, label: str, what: str, container, key) -> None:
        """Record ``name`` (already normalized: upper-case for element and model names,
        lower-case for nodes, as given for port names) in ``seen`` (name -> where it was
        first given); fail at the line of ``container[key]`` when it is there already.

        Examples
        --------
        >>> check, seen = SpecChecker("spec.yaml"), {}
        >>> check.unique("y", seen, "outputs[0]", "output name", None, None)
        >>> check.unique("y", seen, "outputs[1]", "output name", None, None)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        eqprop_hw.errors.SpecError: spec.yaml: outputs[1]: output name 'y' is given twice (...)
        """
        if name in seen:
            self.fail(f"{label}: {what} {quote(name)} is given twice (first at {seen[name]})",
                      container, key)
        seen[name] = label

    def absent(self, mapping, key, where, required=False) -> bool:
        """Whether ``mapping`` has no value (or null) at ``key``; fails instead when the key is
        ``required``."""
        if key not in mapping or mapping[key] is None:
            if required:
                self.fail(f"{where}.{key} is required", mapping, None)
            return True
        return False

    def integer(self, mapping, key, where, default=None, minimum=None, required=False,
                maximum=None):
        if self.absent(mapping, key, where, required):
            return default
        value = mapping[key]
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(f"{where}.{key} must be an integer, got {value!r}", mapping, key)
        if minimum is not None and value < minimum:
            self.fail(f"{where}.{key} must be >= {minimum}, got {value}", mapping, key)
        if maximum is not None and value > maximum:
            self.fail(f"{where}.{key} must be <= {maximum:,}, got {quote(value, 40)}", mapping,
                      key)
        return int(value)

    def boolean(self, mapping, key, where, default):
        if key not in mapping or mapping[key] is None:
            return default
        if not isinstance(mapping[key], bool):
            self.fail(f"{where}.{key} must be true or false, got {mapping[key]!r}", mapping, key)
        return mapping[key]

    def string(self, mapping, key, where, default=None, choices=None, required=False):
        if self.absent(mapping, key, where, required):
            return default
        value = mapping[key]
        if not isinstance(value, str):
            self.fail(f"{where}.{key} must be a string, got {value!r}", mapping, key)
        if choices is not None and value not in choices:
            self.fail(f"{where}.{key} must be one of {', '.join(choices)}, got {value!r}",
                      mapping, key)
        return value

    def element_name(self, element: dict, where: str, seen: dict, position: int,
                     types, naming: str, refused: str, family: str) -> tuple[str, str]:
        """An element's ``name`` checked and upper-cased, and its type letter.

        ``seen`` maps the names so far to their positions (this one is added); ``types`` are the
        type letters allowed; ``naming`` ends the message for a malformed name ("starting with
        ..."), ``refused`` formats the one for another type (``{kind}``, ``{name}``); names the
        ``family``'s netlist writer reserves (``"resistive"``, ``"lc"``) are refused.
        """
        name = self.string(element, "name", where, required=True)
        if not ELEMENT_NAME.fullmatch(name) or len(name) > spice_grammar.MAX_NAME_CHARS:
            self.fail(f"{where}: invalid element name {quote(name)} (letters, "
                      f"digits, '_', {naming}, at most {spice_grammar.MAX_NAME_CHARS}"
                      f"{self.why(name.upper(), 'element')})", element, "name")
        name = name.upper()
        kind = name[0]
        if kind not in types:
            self.fail(f"{where}: " + refused.format(kind=kind, name=name), element, "name")
        if name in seen:
            self.fail(f"{where}: duplicate element name {name!r} (first at "
                      f"elements[{seen[name]}])", element, "name")
        seen[name] = position
        self.not_reserved(name, "element", family, f"{where}: element name", element, "name")
        return name, kind

    def node_names(self, element: dict, count: int, where: str, family: str) -> list[str]:
        """An element's ``nodes``: ``count`` names or integers, lower-cased, each a valid
        netlist node name (:mod:`eqprop_hw.circuit.spice_grammar`) that the ``family``'s
        writer does not reserve."""
        nodes = element.get("nodes")
        if not isinstance(nodes, list) or len(nodes) != count:
            self.fail(f"{where}: nodes must list {count} node names", element, "nodes")
        names = []
        for node in nodes:
            if node is None or isinstance(node, (bool, float, list, dict)):
                self.fail(f"{where}: node names must be names or integers, got {node!r}",
                          element, "nodes")
            node = str(node).lower()
            self.spice_name(node, "node", f"{where}: node name", element, "nodes")
            self.not_reserved(node, "node", family, f"{where}: node", element, "nodes")
            names.append(node)
        return names


    @staticmethod
    def why(text, kind: str) -> str:
        """``; it holds ...`` when a control or white-space character is what makes ``text``
        no valid netlist name of ``kind``, else ``""`` (the tail of a refusal message)."""
        problem = spice_grammar.name_problem(text, kind)
        return f"; it {problem.split(';')[0]}" if problem and problem.startswith("holds") else ""

    def spice_name(self, text, kind: str, label: str, container, key):
        """``text`` if it is a valid netlist name of ``kind`` (:mod:`eqprop_hw.circuit.spice_grammar`),
        else fail naming ``label`` and the reason."""
        problem = spice_grammar.name_problem(text, kind)
        if problem is not None:
            where, what = label.rsplit(": ", 1) if ": " in label else (label, f"{kind} name")
            self.fail(f"{where}: invalid {what} {quote(str(text))} (it {problem})",
                      container, key)
        return text

    def not_reserved(self, text, kind: str, family: str, label: str, container, key):
        """Fail when ``text`` is a name the netlist writer reserves for its own elements."""
        problem = spice_grammar.reserved_problem(text, kind, family)
        if problem is not None:
            self.fail(f"{label} {text!r} {problem}", container, key)
        return text

    def expression(self, text, label: str, container, key):
        """A behavioural expression parsed by :func:`eqprop_hw.circuit.spice_grammar.parse_expression`."""
        try:
            spice_grammar.parse_expression(text)
        except spice_grammar.ExpressionError as error:
            self.fail(f"{label}: behavioural expression {quote(str(text))}: "
                      f"{error}", container, key)
        return text


__all__ = ["SpecChecker", "ELEMENT_NAME", "type_name"]
