"""Spec YAML read with line numbers and bounds (part of :mod:`eqprop_hw.circuit.spec`, which
re-exports :func:`read_yaml` and the limits).

Mappings and lists come back as :class:`LineDict` / :class:`LineList`, which remember the line
of each key and item, so that every refusal of the schema check names its line. PyYAML's safe
loader is bounded: nesting depth (:data:`MAX_YAML_DEPTH`), alias expansion
(:data:`MAX_ALIAS_EXPANSION`), duplicate and unhashable keys refused.

Examples
--------
>>> data = read_yaml("name: t\\nlayers: [2, 1]\\n")
>>> data.key_lines["layers"], data["layers"].item_lines
(2, [2, 2])
"""

from __future__ import annotations

from typing import Any

import yaml

from eqprop_hw.errors import SpecError


class LineDict(dict):
    """A dict that remembers the line of each key (1-based; 0 and no key lines when it was
    not read from YAML, e.g. an omitted optional section)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.line = 0
        self.key_lines: dict = {}


class LineList(list):
    """A list that remembers the line of each item (1-based)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.line = 0
        self.item_lines: list = []


#: Largest spec file read (bytes actually read).
MAX_SPEC_BYTES = 32 * 1024 * 1024
#: Deepest nesting of YAML collections in a spec.
MAX_YAML_DEPTH = 64
#: Most YAML nodes that aliases (``*anchor``) may add when expanded (a "billion laughs"
#: document is a few lines that expand to 10^9 nodes).
MAX_ALIAS_EXPANSION = 1_000_000


class _LineLoader(yaml.SafeLoader):
    """PyYAML's safe loader with bounds: nesting depth and alias expansion (SpecError)."""

    def __init__(self, stream):
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent, index):
        self._depth += 1
        try:
            if self._depth > MAX_YAML_DEPTH:
                mark = self.peek_event().start_mark
                raise SpecError(f"YAML nested deeper than {MAX_YAML_DEPTH} levels; refused",
                                None, mark.line + 1)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def compose_document(self):
        node = super().compose_document()
        written, expanded = _node_counts(node)
        if expanded - written > MAX_ALIAS_EXPANSION:
            raise SpecError(f"YAML aliases expand the document by more than "
                            f"{MAX_ALIAS_EXPANSION:,} nodes; refused", None,
                            node.start_mark.line + 1)
        return node


def _node_counts(root) -> tuple[int, int]:
    """(nodes written, nodes once every alias is expanded) of a composed YAML document."""
    sizes: dict = {}

    def size(node) -> int:
        key = id(node)
        if key not in sizes:
            sizes[key] = 1   # a cycle (impossible in composed YAML) cannot recurse forever
            if isinstance(node, yaml.SequenceNode):
                children = node.value
            elif isinstance(node, yaml.MappingNode):
                children = [item for pair in node.value for item in pair]
            else:
                children = []
            total = 1
            for child in children:
                total += size(child)
                if total > 10 * MAX_ALIAS_EXPANSION + len(sizes):
                    break
            sizes[key] = total
        return sizes[key]

    expanded = size(root)
    return len(sizes), expanded


def _construct_mapping(loader, node):
    loader.flatten_mapping(node)
    result = LineDict()
    result.line = node.start_mark.line + 1
    result.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            hash(key)
        except TypeError:
            raise SpecError(f"unhashable mapping key {key!r}", None, key_node.start_mark.line + 1)
        if key in result:
            raise SpecError(f"duplicate key {key!r}", None, key_node.start_mark.line + 1)
        result[key] = loader.construct_object(value_node, deep=True)
        result.key_lines[key] = key_node.start_mark.line + 1
    return result


def _construct_sequence(loader, node):
    result = LineList(loader.construct_object(child, deep=True) for child in node.value)
    result.line = node.start_mark.line + 1
    result.item_lines = [child.start_mark.line + 1 for child in node.value]
    return result


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def read_yaml(text: str, source: str = "<string>") -> Any:
    """Parse YAML text keeping line numbers; YAML errors become SpecError with the line."""
    try:
        return yaml.load(text, Loader=_LineLoader)  # noqa: S506 - SafeLoader subclass
    except SpecError as error:
        raise SpecError(error.message, source, error.line) from None
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark is not None else None
        raise SpecError(f"malformed YAML: {error.problem or error}", source, line) from None
    except yaml.reader.ReaderError as error:
        line = text[:error.position].count("\n") + 1
        raise SpecError(f"malformed YAML: character {error.character!r} is not allowed in YAML",
                        source, line) from None
    except yaml.YAMLError as error:
        message = " ".join(str(error).split())
        raise SpecError(f"malformed YAML: {message}", source) from None


__all__ = ["LineDict", "LineList", "MAX_SPEC_BYTES", "MAX_YAML_DEPTH", "MAX_ALIAS_EXPANSION",
           "read_yaml"]
