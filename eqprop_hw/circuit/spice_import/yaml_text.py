"""Deterministic YAML text of a spec mapping (the ``import`` command's output).

Part of :mod:`eqprop_hw.circuit.spice_import` (see its docstring for the accepted subset).
"""

from __future__ import annotations

import functools
import math
import re

import yaml


TOP_ORDER = ("name", "kind", "description", "models", "elements", "inputs", "outputs",
             "trainable", "options")

_PLAIN_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+*?-]*")


def _yaml_float(value: float) -> str:
    """Float text that YAML 1.1 (PyYAML) reads back as the same double."""
    if math.isnan(value):
        return ".nan"
    if math.isinf(value):
        return ".inf" if value > 0 else "-.inf"
    text = repr(value)
    mantissa, e, exponent = text.partition("e")
    if e and "." not in mantissa:
        text = f"{mantissa}.0e{exponent}"
    return text


_YAML_WORDS = frozenset(("y", "n", "yes", "no", "true", "false", "on", "off", "null"))


@functools.lru_cache(maxsize=4096)
def _plain_ok(text: str) -> bool:
    """Whether ``text`` can be written as a plain YAML scalar and read back as itself."""
    if not _PLAIN_RE.fullmatch(text):
        return False
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_*]*", text) and text.lower() not in _YAML_WORDS:
        return True
    try:   # also in flow context: values are written inside [..] and {key: ..}
        return (yaml.safe_load(text) == text and yaml.safe_load(f"[{text}]") == [text]
                and yaml.safe_load(f"{{{text}: 0}}") == {text: 0})
    except yaml.YAMLError:
        return False


def _yaml_scalar(value) -> str:
    """One YAML scalar: plain where that reads back identically, else double-quoted."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _yaml_float(value)
    text = str(value)
    if _plain_ok(text):
        return text
    if re.fullmatch(r"[\x20-\x7e]*", text):
        return "'" + text.replace("'", "''") + "'"
    return yaml.safe_dump(text, default_style='"', width=float("inf"),
                          allow_unicode=True).rstrip("\n").removesuffix("\n...")


def _yaml_flow(value) -> str:
    """A value in YAML flow style (``{a: 1, b: [x, y]}``)."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_yaml_scalar(k)}: {_yaml_flow(v)}"
                               for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_yaml_flow(v) for v in value) + "]"
    return _yaml_scalar(value)


def spec_to_yaml(spec_dict: dict) -> str:
    """Deterministic, readable YAML text of a spec mapping.

    Keys come in the order ``name, kind, description, models, elements, inputs, outputs,
    trainable, options`` (then any others in their given order); list entries that are
    mappings (elements, inputs, outputs) are written one per line in flow style, nested
    mappings (models, options) one key per line. Floats use ``repr`` so they round-trip
    exactly; ``yaml.safe_load`` of the text gives back an equal mapping.

    Parameters
    ----------
    spec_dict : dict
        A spec mapping of plain dicts, lists, strings, numbers, booleans and None.

    Returns
    -------
    str
        YAML text ending with a newline.

    Raises
    ------
    TypeError
        If ``spec_dict`` is not a mapping.
    """
    if not isinstance(spec_dict, dict):
        raise TypeError(f"spec must be a dict, got {type(spec_dict).__name__}")
    keys = [k for k in TOP_ORDER if k in spec_dict] + [k for k in spec_dict if k not in TOP_ORDER]
    lines = []
    for key in keys:
        value, label = spec_dict[key], _yaml_scalar(key)
        if isinstance(value, list) and value and any(isinstance(v, dict) for v in value):
            lines.append(f"{label}:")
            lines += [f"  - {_yaml_flow(item)}" for item in value]
        elif isinstance(value, dict) and value:
            lines.append(f"{label}:")
            lines += [f"  {_yaml_scalar(k)}: {_yaml_flow(v)}" for k, v in value.items()]
        else:
            lines.append(f"{label}: {_yaml_flow(value)}")
    return "\n".join(lines) + "\n"
