"""Spec settings changed without editing the YAML: ``train --set KEY=VALUE`` and
``eqprop_hw.load(path, overrides={KEY: VALUE})``.

A KEY is a dotted path into the spec (``training.learning_rate``, ``training.beta``,
``devices.conductance.states``; a number picks an item of a list, ``layers.1``). The settings
are written into the YAML document *before* it is validated, so the spec loader's own checks
(:func:`eqprop_hw.circuit.spec.parse_spec`) judge the result: a bad value gets the same message
as in the YAML, prefixed with the setting it came from instead of a line number.

The VALUE of ``--set`` is read by a small strict grammar, never by YAML (no tags, anchors,
flow mappings or multi-line text can get in): ``true``/``false``, a whole number, a decimal
number, a plain word (letters, digits and ``_ . + / -``: choices, names, paths) or a bracketed
list of those (``[0.05,0.02]``). Everything else is refused.

Limits (``docs/specs.md``, "Limits"): at most :data:`MAX_OVERRIDES` settings, keys of at most
:data:`MAX_KEY_CHARS` characters in at most :data:`MAX_KEY_PARTS` parts, values of at most
:data:`MAX_VALUE_CHARS` characters, lists of at most :data:`MAX_LIST_ITEMS` items.

Examples
--------
>>> parse_settings(["training.learning_rate=0.05", "training.nudge=positive"], "--set")
... # doctest: +ELLIPSIS
[Override(key='training.learning_rate', ..., value=0.05, ...), Override(key='training.nudge', \
..., value='positive', ...)]
>>> parse_settings(["training.beta=!!python/object:x"], "--set")
Traceback (most recent call last):
...
eqprop_hw.errors.SpecError: --set training.beta=!!python/object:x: the value is not a number, \
true/false, a plain word (letters, digits, _ . + / -) or a [list] of those
"""

from __future__ import annotations

import math
import numbers
import re
from dataclasses import dataclass

from eqprop_hw.errors import SpecError, quote

#: Most settings of one command or ``load`` call.
MAX_OVERRIDES = 100
#: Longest key (characters) and most dotted parts.
MAX_KEY_CHARS = 200
MAX_KEY_PARTS = 8
#: Longest value text (characters) and most items of a list value.
MAX_VALUE_CHARS = 1000
MAX_LIST_ITEMS = 64

_PART = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|[0-9]{1,6}", re.A)
_WORD = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+/-]*", re.A)
_INTEGER = re.compile(r"[+-]?[0-9]{1,18}", re.A)
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]{1,4})?", re.A)


@dataclass(frozen=True)
class Override:
    """One setting: ``key`` (dotted), its ``parts``, the ``value`` and ``origin``, how the
    user gave it (``--set KEY=VALUE`` or ``overrides['KEY']``), which error messages name."""

    key: str
    parts: tuple
    value: object
    origin: str


class SetLine(int):
    """The "line" of a YAML node written by a setting (0): a spec error at it names the
    setting (``origin``) instead of a line."""

    origin: str = ""

    def __new__(cls, origin: str):
        line = super().__new__(cls, 0)
        line.origin = origin
        return line


def _key_parts(key, origin: str) -> tuple:
    if not isinstance(key, str) or not key:
        raise SpecError(f"{origin}: a setting needs a dotted spec key such as "
                        "training.learning_rate")
    if len(key) > MAX_KEY_CHARS:
        raise SpecError(f"{origin}: key of {len(key)} characters, more than "
                        f"{MAX_KEY_CHARS}")
    parts = key.split(".")
    if len(parts) > MAX_KEY_PARTS:
        raise SpecError(f"{origin}: key of {len(parts)} parts, more than {MAX_KEY_PARTS}")
    for part in parts:
        if _PART.fullmatch(part) is None:
            raise SpecError(f"{origin}: key part {quote(part)} is not a spec key (letters, "
                            "digits and '_'; a number picks a list item)")
    return tuple(parts)


def _scalar(text: str):
    """The value of one item of ``--set`` text, or None when the grammar refuses it."""
    if text in ("true", "false"):
        return text == "true"
    if _INTEGER.fullmatch(text):
        return int(text)
    if _DECIMAL.fullmatch(text):
        value = float(text)
        return value if math.isfinite(value) else None
    if _WORD.fullmatch(text):
        return text
    return None


def parse_value(text: str, origin: str):
    """The value of ``--set KEY=TEXT`` (see the module docstring).

    Raises
    ------
    SpecError
        ``"--set KEY=TEXT: the value is not a number, true/false, ..."``.
    """
    if len(text) > MAX_VALUE_CHARS:
        raise SpecError(f"{origin}: value of {len(text)} characters, more than "
                        f"{MAX_VALUE_CHARS}")
    refused = SpecError(f"{origin}: the value is not a number, true/false, a plain word "
                        "(letters, digits, _ . + / -) or a [list] of those")
    if text.startswith("[") and text.endswith("]"):
        items = [item.strip() for item in text[1:-1].split(",")] if text[1:-1].strip() else []
        if not items or len(items) > MAX_LIST_ITEMS:
            raise SpecError(f"{origin}: a list value needs 1 to {MAX_LIST_ITEMS} items")
        values = [_scalar(item) for item in items]
        if any(value is None for value in values):
            raise refused
        return values
    value = _scalar(text)
    if value is None:
        raise refused
    return value


def parse_settings(texts, option: str = "--set") -> list[Override]:
    """``KEY=VALUE`` texts (the command line's ``--set``) as :class:`Override` s.

    Raises
    ------
    SpecError
        One line naming the setting: too many, no ``=``, a bad key or value, a key given twice.
    """
    texts = list(texts or [])
    if len(texts) > MAX_OVERRIDES:
        raise SpecError(f"{option}: {len(texts)} settings, more than the limit of "
                        f"{MAX_OVERRIDES}")
    settings = []
    for text in texts:
        origin = f"{option} {quote(text, 80) if not _plain_text(text) else text}"
        key, equals, value = text.partition("=")
        if not equals:
            raise SpecError(f"{origin}: expected KEY=VALUE (e.g. training.learning_rate=0.05)")
        settings.append(Override(key, _key_parts(key, origin), parse_value(value, origin),
                                 origin))
    return _unique(settings)


def _plain_text(text: str) -> bool:
    return len(text) <= 120 and text.isprintable() and " " not in text


def check_overrides(overrides, method: str = "load") -> list[Override]:
    """The ``overrides`` of the Python API as :class:`Override` s: a mapping
    (``{"training.beta": 2e-6}``) whose values are bools, whole or finite numbers, strings (at
    most :data:`MAX_VALUE_CHARS` characters) or lists of those; or the list
    :func:`parse_settings` made (checked again).

    Raises
    ------
    SpecError
        Naming ``overrides['KEY']`` (or the ``--set`` text) and what is wrong.
    """
    if overrides is None:
        return []
    if isinstance(overrides, list) and all(isinstance(o, Override) for o in overrides):
        pairs = [(o.key, o.value, o.origin) for o in overrides]
    elif hasattr(overrides, "items"):
        pairs = [(key, value, _api_origin(key)) for key, value in overrides.items()]
    else:
        raise SpecError(f"the 'overrides' parameter of {method} must be a mapping of dotted "
                        f"spec keys to values; got {type(overrides).__name__}")
    if len(pairs) > MAX_OVERRIDES:
        raise SpecError(f"overrides: {len(pairs)} settings, more than the limit of "
                        f"{MAX_OVERRIDES}")
    settings = []
    for key, value, origin in pairs:
        parts = _key_parts(key, origin)
        listed = isinstance(value, (list, tuple))
        if listed and not 1 <= len(value) <= MAX_LIST_ITEMS:
            raise SpecError(f"{origin}: a list value needs 1 to {MAX_LIST_ITEMS} items")
        for item in (value if listed else [value]):
            if not _api_scalar(item):
                raise SpecError(f"{origin}: {quote(repr(item), 60)} is not a number, bool or "
                                f"string of at most {MAX_VALUE_CHARS} characters (or a list "
                                "of those)")
        settings.append(Override(key, parts, list(value) if listed else value, origin))
    return _unique(settings)


def _api_origin(key) -> str:
    shown = quote(key, 80) if isinstance(key, str) else type(key).__name__
    return f"overrides[{shown}]"


def _api_scalar(value) -> bool:
    if isinstance(value, bool):
        return True
    if isinstance(value, numbers.Integral):
        return abs(int(value)) < 10 ** 18
    if isinstance(value, numbers.Real):
        return math.isfinite(float(value))
    return isinstance(value, str) and len(value) <= MAX_VALUE_CHARS


def _unique(settings: list[Override]) -> list[Override]:
    seen = set()
    for setting in settings:
        if setting.key in seen:
            raise SpecError(f"{setting.origin}: {setting.key} is set twice")
        seen.add(setting.key)
    return settings


def recorded(settings) -> dict:
    """``{key: value}`` of the settings, as a run records them (``metrics['overrides']``)."""
    return {setting.key: setting.value for setting in settings}


def apply_overrides(document, settings, source: str, new_mapping, new_list):
    """Write the settings into a YAML document as read (mappings and lists that remember
    their lines), marking every node they write with a :class:`SetLine`.

    ``new_mapping``/``new_list`` make the document's own kinds of containers (for a section
    the YAML did not have, or a list value). A key into a number or text, or a list index out
    of range, is refused naming the setting.

    Raises
    ------
    SpecError
    """
    if not isinstance(document, dict):
        raise SpecError("a spec must be a YAML mapping with at least 'name' and 'kind' "
                        "(settings cannot be applied)", source)
    for setting in settings:
        line = SetLine(setting.origin)
        container, walked = document, []
        for position, part in enumerate(setting.parts):
            last = position == len(setting.parts) - 1
            walked.append(part)
            slot = _slot(container, part, setting, walked, source)
            if last:
                _store(container, slot, _node(setting.value, line, new_list), line)
                break
            child = container[slot] if _present(container, slot) else None
            if child is None:
                child = new_mapping()
                child.line = line
                _store(container, slot, child, line)
            elif not isinstance(child, (dict, list)):
                raise SpecError(f"{setting.origin}: {'.'.join(walked)} is a value "
                                f"({str(child)[:40]}), not a section or list", source)
            container = child
    return document


def _slot(container, part: str, setting: Override, walked: list, source: str):
    """The key (mapping) or index (list) ``part`` names in ``container``."""
    if isinstance(container, list):
        if not part.isdigit() or int(part) >= len(container):
            raise SpecError(f"{setting.origin}: {'.'.join(walked[:-1])} is a list of "
                            f"{len(container)} item(s); {quote(part)} is not one of its "
                            f"indices (0 to {len(container) - 1})", source)
        return int(part)
    if part.isdigit() and int(part) in container:
        return int(part)
    return part


def _present(container, slot) -> bool:
    return slot in container if isinstance(container, dict) else True


def _store(container, slot, value, line) -> None:
    container[slot] = value
    lines = getattr(container, "key_lines", None) if isinstance(container, dict) else \
        getattr(container, "item_lines", None)
    if isinstance(lines, dict):
        lines[slot] = line
    elif isinstance(lines, list) and slot < len(lines):
        lines[slot] = line


def _node(value, line, new_list):
    if not isinstance(value, list):
        return value
    node = new_list(value)
    node.line = line
    node.item_lines = [line] * len(value)
    return node
