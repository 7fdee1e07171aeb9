"""One import: the :class:`Importer` state, the pipeline and the public entry points.

Part of :mod:`eqprop_hw.circuit.spice_import` (see its docstring for the accepted subset).
"""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path

from eqprop_hw.errors import CircuitError, NetlistError, SpecError, quote
from eqprop_hw.circuit.limits import MAX_SOURCE, check_range
from eqprop_hw.circuit.spec import NAME_RE, OPTION_NAMES, parse_spec
from eqprop_hw.circuit.spice_grammar import name_problem, parse_spice_number
from eqprop_hw.circuit.spice_import.lines import (Line, NODE_CHAR_MAP, NODE_RE, VENDOR_NODE_RE,
                                                  check_element_name, check_node_name, fail,
                                                  logical_lines, read_text)
from eqprop_hw.circuit.spice_import.structure import Scope, StructureReader
from eqprop_hw.circuit.spice_import.cards import CardReader
from eqprop_hw.circuit.spice_import.elements import ElementReader
from eqprop_hw.circuit.spice_import.devices import DeviceReader
from eqprop_hw.circuit.spice_import.cider_devices import CiderReader


#: Most items listed in one note (the rest are counted).
MAX_NOTE_ITEMS = 20


def _spec_name(title: str | None, stem: str | None) -> str:
    """The spec name: from an ``eqprop-hw NAME`` title, else the sanitized file stem."""
    words = (title or "").split()
    if len(words) == 2 and words[0] == "eqprop-hw" and NAME_RE.fullmatch(words[1]) and \
            len(words[1]) <= 80:
        return words[1]
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", stem or "")
    name = re.sub(r"^[.-]+", "", name)[:80]
    return name if name and NAME_RE.fullmatch(name) else "imported"


def _few(names: list) -> str:
    """``A, B, C and N more``: at most :data:`MAX_NOTE_ITEMS` names of a note item (a netlist
    may define 100000 unused models)."""
    shown = ", ".join(names[:MAX_NOTE_ITEMS])
    return shown + (f" and {len(names) - MAX_NOTE_ITEMS} more" if len(names) > MAX_NOTE_ITEMS
                    else "")


class Importer(StructureReader, CardReader, ElementReader, DeviceReader, CiderReader):
    """State of one import: options, models, elements and the name registries."""

    def __init__(self, root: Path | None, allow_unsafe: bool):
        self.root = root
        self.allow_unsafe = allow_unsafe
        self.params: dict = {}
        self.models: dict = {}
        self.model_lines: dict = {}
        self.options: dict = {}
        self.option_lines: dict = {}     # option key -> the Line that set it last
        self.subckts: dict = {}
        self.elements: list = []
        self.element_lines: dict = {}
        self.element_types: dict = {}
        self.node_owner: dict = {}
        self.instances: set = set()
        self.deferred: list = []
        self.sizes: dict = {}
        self.included_files = 0
        self.included_bytes = 0
        self.notes: dict = {}
        self.other_models: dict = {}
        self.device_models: dict = {}
        self.options_scale = 1.0
        self.mos_defaults: dict = {}
        self.used_subckts: set = set()
        self.globals: set = set()
        self.node_aliases: dict = {}
        self.alias_values: set = set()
        self.words: set = set()
        self.model_alias: dict = {}
        self.main_source: str | None = None
        self.cider_nodes: dict = {}     # CIDER model -> mesh nodes (cider_devices)
        self.cider_total = 0            # mesh nodes of the CIDER devices read so far

    def note(self, kind: str, item: str) -> None:
        """Record one note item under ``kind`` (``left out``, ``renamed``, ``ignored``...)."""
        self.notes.setdefault(kind, []).append(item)

    def where(self, line: Line, last: int | None = None) -> str:
        """``line 8`` / ``lines 12-20`` (``FILE:8`` for an included file)."""
        span = f"{line.line}-{last}" if last is not None and last != line.line else \
            str(line.line)
        if line.source != self.main_source:
            return f"{Path(line.source).name}:{span}"
        return f"line{'s' if '-' in span else ''} {span}"

    def node(self, text: str, where: Line, element: str) -> str:
        """A node name; a vendor name (``IN+``) is mapped to a grammar name (``in_p``).

        The mapping is deterministic: each character of :data:`NODE_CHAR_MAP` is replaced,
        and ``_1``, ``_2``... appended while the result equals a word of the netlist or
        another mapped name. Mappings are listed in the ``renamed`` note.
        """
        low = text.lower()
        if low == "gnd" or NODE_RE.fullmatch(low) or len(low) > 128 or \
                not VENDOR_NODE_RE.fullmatch(low):
            return check_node_name(text, where, element)
        if low in self.node_aliases:
            return self.node_aliases[low]
        base = "".join(NODE_CHAR_MAP.get(char, char) for char in low)
        candidate, count = base, 0
        while candidate in self.words or candidate in self.alias_values:
            count += 1
            candidate = f"{base}_{count}"
        self.node_aliases[low] = candidate
        self.alias_values.add(candidate)
        self.note("renamed", f"{text} -> {candidate}")
        return candidate

    def collect_words(self, lines: list) -> None:
        """Every lower-case word of the netlist: mapped names must differ from all of them."""
        for line in lines:
            self.words.update(re.split(r"[\s,(){}=']+", line.text.lower()))

    def note_unused(self) -> None:
        """Note the models of other types and the subcircuits that no element uses."""
        used = {item.get("model") for item in self.elements}
        unused = [f"{name} ({kind})" for name, kind in self.other_models.items()
                  if name not in used]
        if unused:
            self.note("ignored", "unused models " + _few(unused))
        subs = [name for name in self.subckts if name not in self.used_subckts]
        if subs:
            self.note("ignored", "unused subcircuits " + _few(subs))

    def note_lines(self) -> list:
        """The notes as lines: ``KIND: item, item, ... (and N more)``."""
        out = []
        for kind, items in self.notes.items():
            shown = ", ".join(items[:MAX_NOTE_ITEMS])
            if len(items) > MAX_NOTE_ITEMS:
                shown += f" and {len(items) - MAX_NOTE_ITEMS} more"
            out.append(f"{kind}: {shown}")
        return out

    # -- metadata ----------------------------------------------------------------------
    def metadata(self, meta: list) -> dict:
        """``inputs``/``outputs``/``trainable`` from ``*@`` lines."""
        out = {"inputs": [], "outputs": []}
        header, trainable = False, None
        nodes = {node for item in self.elements for node in item["nodes"]}
        # where each input name, output name, driven source and pattern was first given
        seen: dict = {"input": {}, "output": {}, "source": {}, "pattern": {}}
        for line in meta:
            words = line.text.split()
            kind = words[0].lower() if words else ""
            if kind == "eqprop-hw":
                if words[1:] != ["netlist", "1"]:
                    fail(f"unsupported eqprop-hw netlist version {' '.join(words[1:])!r} "
                          "(expected 'netlist 1')", line)
                header = True
            elif kind == "input":
                out["inputs"].append(self._meta_input(words, line, seen))
            elif kind == "output":
                if len(words) != 3:
                    fail("*@ output needs a name and a node: *@ output NAME NODE", line)
                self._meta_port("output", words[1], line)
                node = check_node_name(words[2], line, f"output {words[1]}")
                if node not in nodes:
                    fail(f"*@ output {words[1]}: node {node!r} is not in the circuit", line)
                self._meta_once("output", words[1], seen, line, f"*@ output {words[1]}")
                out["outputs"].append({"name": words[1], "node": node})
            elif kind == "trainable":
                trainable = (trainable or []) + [self._meta_pattern(w, line, seen)
                                                 for w in words[1:]]
        if trainable is not None or header:
            out["trainable"] = trainable or []
        return out

    @staticmethod
    def _meta_port(kind: str, name: str, line: Line) -> None:
        """Fail at ``line`` unless ``name`` is a valid port name
        (:mod:`eqprop_hw.circuit.spice_grammar`), before any message quotes it whole."""
        problem = name_problem(name, "port")
        if problem is not None:
            fail(f"*@ {kind}: invalid port name {quote(name)} (it {problem})", line)

    def _meta_once(self, kind: str, name: str, seen: dict, line: Line, label: str) -> None:
        """Fail at ``line`` when the ``kind`` (``input``, ``output``: port names as given;
        ``source``, ``pattern``: upper-case) ``name`` was given on an earlier ``*@`` line."""
        if name in seen[kind]:
            what = {"input": "input name", "output": "output name",
                    "source": "source", "pattern": "pattern"}[kind]
            also = " (a source is driven by one input)" if kind == "source" else ""
            fail(f"{label}: {what} {quote(name)} is given twice (first at "
                 f"{self.where(seen[kind][name])}){also}", line)
        seen[kind][name] = line

    def _meta_input(self, words: list, line: Line, seen: dict) -> dict:
        if len(words) < 3:
            fail("*@ input needs a name and SOURCE:gain pairs", line)
        self._meta_port("input", words[1], line)
        self._meta_once("input", words[1], seen, line, f"*@ input {words[1]}")
        sources = {}
        for word in words[2:]:
            source, _colon, gain = word.rpartition(":")
            if not source:
                fail(f"*@ input {words[1]}: expected SOURCE:gain, got {word!r}", line)
            source = check_element_name(source, line)
            if self.element_types.get(source, "") not in ("V", "I"):
                fail(f"*@ input {words[1]}: {source} is not a V or I source of the circuit",
                      line)
            if source in sources:
                fail(f"*@ input {words[1]}: source {source} listed twice", line)
            try:
                sources[source] = parse_spice_number(gain)
            except ValueError:
                fail(f"*@ input {words[1]}: malformed gain {gain!r}", line)
            try:
                check_range(f"*@ input {words[1]}: |gain| of {source} (V or A per unit of "
                            "input)", abs(sources[source]), 0.0, MAX_SOURCE)
            except CircuitError as error:
                fail(str(error), line)
            self._meta_once("source", source, seen, line, f"*@ input {words[1]}")
        return {"name": words[1], "sources": sources}

    def _meta_pattern(self, word: str, line: Line, seen: dict) -> str:
        pattern = word.upper()
        if not re.fullmatch(r"[A-Z0-9_*?\[\]!]+", pattern):
            fail(f"*@ trainable: invalid pattern {word!r}", line)
        if not any(fnmatch.fnmatchcase(name, pattern) for name in self.element_lines):
            fail(f"*@ trainable: pattern {word!r} matches no element", line)
        self._meta_once("pattern", pattern, seen, line, "*@ trainable")
        return pattern


def _spec_error(error: SpecError, importer: Importer, source: str) -> NetlistError:
    """Translate a spec validation error into a NetlistError at the offending line."""
    message = str(error)
    if error.source is not None and message.startswith(f"{error.source}: "):
        message = message[len(error.source) + 2:]
    line = None
    match = re.search(r"elements\[(\d+)\]", message)
    if match and int(match.group(1)) < len(importer.elements):
        line = importer.element_lines[importer.elements[int(match.group(1))]["name"]]
    match = re.search(r"models\.([A-Za-z0-9_]+)", message)
    if match and match.group(1).upper() in importer.model_lines:
        line = importer.model_lines[match.group(1).upper()]
    match = re.search(r"\boptions\.([a-z0-9]+)", message)
    if match and match.group(1) in importer.option_lines:
        line = importer.option_lines[match.group(1)]
    if line is not None:
        return NetlistError(f"invalid netlist: {message}", line.source, line.line)
    return NetlistError(f"invalid netlist: {message}", source)


def _no_elements(importer: Importer) -> str:
    """Why a netlist without elements is refused, in one line: a library of subcircuits that
    nothing instantiates, or only a ``.control`` script (never run), or nothing at all."""
    if importer.subckts:
        names = sorted(importer.subckts)
        shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        return ("the netlist has no elements at the top level: it only defines subcircuits "
                f"({shown}) that no X line instantiates (a library: .include it from a "
                "netlist that uses them)")
    if any(item.startswith(".control block") for item in importer.notes.get("left out", [])):
        return ("the netlist has no elements: it is a .control script (which the importer "
                "never runs), with no circuit to import")
    return "the netlist has no elements"


def _import(text: str, source: str, base_dir: Path | None, allow_unsafe: bool,
            stem: str | None, main_path: Path | None, notes: list | None = None) -> dict:
    if not isinstance(text, str):
        raise NetlistError(f"netlist text must be str, got {type(text).__name__}", source)
    if not text.strip():
        raise NetlistError("empty netlist (expected a title line and elements)", source)
    root = None
    if base_dir is not None:
        try:
            root = Path(base_dir).resolve()
        except (OSError, RuntimeError, ValueError) as error:
            raise NetlistError(f"cannot resolve base_dir {base_dir!r}: {error}", source) from None
    title, lines = logical_lines(text, source, main=True)
    importer = Importer(root, allow_unsafe)
    importer.main_source = source
    stack = ((main_path, None),) if main_path is not None else ()
    lines = importer.expand(lines, root, 0, stack)
    lines = importer.functions(lines)
    lines = importer.conditionals(lines)
    importer.collect_words(lines)
    top, meta = importer.split(lines)
    importer.cards(top)
    importer.body(top, Scope("", importer.params), ())
    if not importer.elements:
        raise NetlistError(_no_elements(importer), source, 1)
    importer.check_references()
    importer.note_unused()
    extra = importer.metadata(meta)
    description = f"imported from {Path(source).name}"
    if title and not title.startswith("eqprop-hw"):
        description += ": " + "".join(c if c.isprintable() else "?" for c in title[:200])
    spec = {"name": _spec_name(title, stem), "kind": "graph", "description": description}
    used = {item.get("model") for item in importer.elements}
    devices = {name: model for name, model in importer.device_models.items() if name in used}
    if importer.models or devices:     # (bins read to choose one but not chosen are left out)
        spec["models"] = {**importer.models, **devices}
    spec["elements"] = importer.elements
    spec.update(extra)
    if importer.options:
        spec["options"] = {key: importer.options[key] for key in OPTION_NAMES
                           if key in importer.options}
    try:
        parse_spec(spec, source)
    except SpecError as error:
        raise _spec_error(error, importer, source) from None
    if notes is not None:
        notes.extend(importer.note_lines())
    return spec


def import_netlist_text(text: str, source: str = "<string>", base_dir=None,
                        allow_unsafe: bool = False, notes: list | None = None) -> dict:
    """Import SPICE netlist text as a ``graph`` spec mapping.

    Parameters
    ----------
    text : str
        The netlist; its first line is the title.
    source : str
        Name used in error messages.
    base_dir : str or Path, optional
        Folder that ``.include``/``.lib`` files are read from (and must lie inside). Without
        it includes are refused.
    allow_unsafe : bool
        Allow includes outside ``base_dir``. Control commands and unknown cards stay refused
        and B expressions must still parse in the netlist grammar.
    notes : list, optional
        If given, one line per kind of note is appended: what was left out (``.control``
        blocks, analysis cards, source waveforms), renamed (vendor node and model names) or
        ignored (unused models and subcircuits), e.g. ``"left out: .control block (lines
        12-20), .tran (line 8)"``.

    Returns
    -------
    dict
        A plain ``graph`` spec (``name, kind, description, [models], elements, inputs,
        outputs, [trainable], [options]``) accepted by :func:`eqprop_hw.circuit.spec.parse_spec`.

    Raises
    ------
    NetlistError
        Naming the file and line of the first problem, or the refused construct.
    """
    return _import(text, source, base_dir, allow_unsafe, None, None, notes)


def import_netlist(path, allow_unsafe: bool = False, notes: list | None = None) -> dict:
    """Import a SPICE netlist file as a ``graph`` spec mapping.

    Includes are read relative to the including file and only from the netlist's own folder
    (see :func:`import_netlist_text` for ``allow_unsafe``).

    Parameters
    ----------
    path : str or Path
        The netlist file.
    allow_unsafe : bool
        See :func:`import_netlist_text`.
    notes : list, optional
        See :func:`import_netlist_text`.

    Returns
    -------
    dict
        The spec mapping; its name comes from an ``eqprop-hw NAME`` title, else from the
        file name.

    Raises
    ------
    NetlistError
        If the file is missing, unreadable, not UTF-8 text, or fails to import.
    """
    path = Path(path)
    source = str(path)
    text = read_text(path, source)
    try:
        resolved = path.resolve()
    except (OSError, RuntimeError, ValueError) as error:
        raise NetlistError(f"cannot resolve path: {error}", source) from None
    return _import(text, source, resolved.parent, allow_unsafe, path.stem, resolved, notes)
