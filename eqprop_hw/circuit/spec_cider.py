"""CIDER models and elements of a ``graph`` spec (see :mod:`eqprop_hw.circuit.cider`), checked
by :class:`eqprop_hw.circuit.spec_checks.SpecChecker` with one line per refusal.

A CIDER model in ``models:`` is ``{type: NUMD|NBJT|NUMOS, LEVEL: 1|2, cards: [TEXT, ...]}``,
each text one sub-card in the grammar of :func:`eqprop_hw.circuit.cider.parse_card`; an element
using it is a D (``area``), Q (``area``, ``temp``) or M (``w``, ``l``, ``temp``) with its nodes.
"""

from __future__ import annotations

from eqprop_hw.circuit.cider import (INSTANCE_PARAMS, KINDS, MODEL_TYPES, NODE_COUNTS,
                                     check_instance_params, spec_model)
from eqprop_hw.circuit.spec_checks import SpecChecker
from eqprop_hw.errors import CircuitError


def is_cider_entry(model) -> bool:
    """Whether a ``models:`` entry is a CIDER model (its ``type`` is NUMD, NBJT or NUMOS)."""
    return isinstance(model, dict) and str(model.get("type", "")).upper() in MODEL_TYPES


def cider_model(check: SpecChecker, model: dict, where: str) -> dict:
    """A CIDER model mapping, checked: ``{type, LEVEL, cards}`` with canonical card texts."""
    try:
        return spec_model(model, where)
    except CircuitError as error:
        check.fail(str(error), model, "cards" if "cards" in model else "type")


def cider_element(check: SpecChecker, element: dict, kind: str, name: str, where: str,
                  models: dict) -> dict:
    """An element that uses a CIDER model: nodes, ``model`` and its instance parameters."""
    label = f"{where} ({name})"
    model = str(element.get("model")).upper()
    entry = models[model]
    letter = MODEL_TYPES[entry["type"]]
    if letter != kind:
        check.fail(f"{label}: model {model} is a {entry['type']} model ({KINDS[entry['type']]}, "
                   f"used by {letter} elements)", element, "model")
    check.keys(element, ("name", "nodes", "model") + INSTANCE_PARAMS[kind], label)
    nodes = element.get("nodes")
    if not isinstance(nodes, list) or len(nodes) != NODE_COUNTS[kind]:
        check.fail(f"{label}: a {KINDS[entry['type']]} takes {NODE_COUNTS[kind]} nodes",
                   element, "nodes")
    item = {"name": name, "nodes": check.node_names(element, NODE_COUNTS[kind], label,
                                                    "resistive"), "model": model}
    params = [(key, check.number(element, key, label)) for key in element
              if key not in ("name", "nodes", "model")]
    if kind == "D":
        area = dict(params).get("area", 1.0)
        if not 0 < area <= 1e6:
            check.fail(f"{label}: area must be in (0, 1e6], got {area!r}", element, "area")
        item["area"] = area
        return item
    try:
        check_instance_params(kind, tuple(params), label)
    except CircuitError as error:
        check.fail(str(error), element, "name")
    item.update(params)
    return item
