"""Element lines and subcircuit instances (flattening), with their values.

Part of :mod:`eqprop_hw.circuit.spice_import` (see its docstring for the accepted subset).
"""

from __future__ import annotations


from eqprop_hw.circuit.graph import NODE_COUNT
from eqprop_hw.circuit.transistors import (BODY_CONTACT_REFUSAL, TRANSISTOR_NODES,
                                           lone_body_contacts, model_level)
from eqprop_hw.circuit.spice_import.lines import (KV_RE, Line, check_element_name, fail, first_word,
                                                  split_tokens)
from eqprop_hw.circuit.spice_import.expressions import params_list, parse_value, split_positional
from eqprop_hw.circuit.spice_import.sources import (NOISE_SOURCES, WAVEFORMS,
                                                    behavioural_expression,
                                                    behavioural_form_hint, keyword_group,
                                                    source_keyword, waveform_at_zero)
from eqprop_hw.circuit.spice_import.structure import Scope
from eqprop_hw.circuit.spice_import.cards import IGNORED_CARDS, OPTION_CARDS


#: Deepest chain of nested subcircuit instances.
MAX_SUBCKT_DEPTH = 16

#: Most elements a flattened netlist may have (guards against exponential subcircuits): the
#: spec written for 4e5 resistors is 24.5 MiB, within the 32 MiB a spec file may hold
#: (eqprop_hw.circuit.spec.MAX_SPEC_BYTES); mnist_size has 1.6e5.
MAX_ELEMENTS = 400_000

#: Element syntax, used in error messages.
ELEMENT_SYNTAX = {
    "R": "Rname n+ n- resistance", "C": "Cname n+ n- capacitance",
    "L": "Lname n+ n- inductance", "D": "Dname anode cathode MODEL [area]",
    "V": "Vname n+ n- [DC] value", "I": "Iname n+ n- [DC] value",
    "E": "Ename n+ n- nc+ nc- gain", "G": "Gname n+ n- nc+ nc- transconductance",
    "F": "Fname n+ n- VCONTROL gain", "H": "Hname n+ n- VCONTROL transresistance",
    "B": "Bname n+ n- V=expr | I=expr", "X": "Xname node... SUBCKT [params: name=value ...]",
}


#: Words that start ngspice control-language commands (refused outside and inside .control).
CONTROL_COMMANDS = frozenset((
    "shell", "sh", "exec", "system", "source", "load", "run", "set", "unset", "let", "alter",
    "altermod", "write", "wrdata", "wrs2p", "cd", "echo", "quit", "exit", "codemodel", "osdi",
    "bg", "rusage", "setcs", "remcirc", "reset", "destroy", "listing", "edit"))

_UNSUPPORTED = {
    "U": "RC line", "K": "coupled inductor", "N": "OSDI device", "P": "coupled line",
}


def _waveform_args(words: list, index: int, key: str, line: Line, label: str) -> tuple:
    """The arguments of the waveform ``key`` at ``words[index]`` (``PULSE(...)``, ``PULSE (
    ...)`` or ``PULSE a b ...``, then PWL's ``r=``/``td=``) and the index after them."""
    word = words[index]
    inner = word[len(key):].strip()
    index += 1
    if not inner:
        args = []
        while index < len(words) and not source_keyword(words[index]) and \
                not keyword_group(words[index]):
            args.append(words[index])
            index += 1
        if len(args) == 1 and args[0].startswith("("):
            args = [t.text for t in split_tokens(args[0][1:-1], line)]
    else:
        if not (inner.startswith("(") and inner.endswith(")")):
            fail(f"{label}: malformed {key} specification {word!r}", line)
        args = [t.text for t in split_tokens(inner[1:-1], line)]
    while index < len(words) and KV_RE.fullmatch(words[index]) and \
            not source_keyword(words[index]):   # PWL(...) r=0 td=1n
        args.append(words[index])
        index += 1
    return args, index


def _noise_source(words: list, index: int, key: str, params: dict, line: Line,
                  label: str) -> tuple:
    """``(key, operating-point value)`` of the TRNOISE / TRRANDOM at ``words[index]``, and the
    index after it. ngspice 39's operating point (measured): TRNOISE adds nothing; TRRANDOM
    gives its offset (5th argument, default 0); a DC value takes precedence (the caller's)."""
    args, index = _waveform_args(words, index, key, line, label)
    low, high = NOISE_SOURCES[key]
    if not low <= len(args) <= high or any(KV_RE.fullmatch(a) for a in args):
        fail(f"{label}: {key} takes {low} to {high} numbers, got {len(args)}", line)
    values = [parse_value(a, params, line, f"{label} {key} value") for a in args]
    if key == "TRRANDOM" and values[0] not in (1, 2, 3, 4):
        fail(f"{label}: TRRANDOM type must be 1, 2, 3 or 4, got {args[0]!r}", line)
    return (key, values[4] if key == "TRRANDOM" and len(values) > 4 else 0.0), index


class ElementReader:
    """Element lines and subcircuit instances (flattening), with their values.

    A part of :class:`eqprop_hw.circuit.spice_import.importer.Importer` (the state lives there).
    """

    # -- elements ----------------------------------------------------------------------
    def body(self, lines: list, scope: Scope, stack: tuple) -> None:
        """Process the element lines of one level (top or a subcircuit instance)."""
        for line in lines:
            word = first_word(line.text)
            low = word.lower()
            if low.startswith("."):
                self._card(line, low, scope)
            elif low in CONTROL_COMMANDS:   # refused, also with allow_unsafe
                fail(f"{word!r} looks like an ngspice control command; control commands "
                      "outside a .control block are refused (rename the element if it is "
                      "one)", line)
            elif word[:1].upper() == "X":
                self._instance(line, scope, stack)
            elif word[:1].upper() in "DQM" and self.cider_line(line):   # CIDER devices
                self._cider_element(line, scope)
            elif word[:1].upper() in NODE_COUNT:
                self._element(line, scope)
            elif word[:1].upper() in TRANSISTOR_NODES:
                self._transistor(line, scope)
            elif word[:1].upper() == "A":
                fail(f"XSPICE device {word} refused: A elements run ngspice code models "
                     "(digital gates, file sources, behavioural blocks), which are not "
                     "supported", line)
            elif word[:1].upper() in _UNSUPPORTED:
                fail(f"unsupported element {word} ({_UNSUPPORTED[word[:1].upper()]}): only "
                      "R C L D V I E G F H B M Q J Z S W T O Y elements and X subcircuit instances "
                      "are supported", line)
            else:
                fail(f"cannot parse line starting {word[:20]!r}: expected an element (R1 a b "
                      "1k), a .card or a * comment", line)

    def _card(self, line: Line, word: str, scope: Scope) -> None:
        if word in (".param", ".model", ".temp", ".global"):
            return
        if word in IGNORED_CARDS:
            self.note("left out", f"{word} ({self.where(line)})")
            return
        if word in OPTION_CARDS:
            if scope.path:
                fail(".options inside a subcircuit is not supported; move it to the top level",
                      line)
            return
        # every other card is refused, also with allow_unsafe: skipping a card that changes
        # the circuit would change the answer without a word
        reasons = {".exec": "it runs commands", ".csparam": "it passes values to control scripts",
                   ".nodeset": "it can select another operating point",
                   ".shell": "it runs shell commands"}
        reason = reasons.get(word, "not in the supported subset (.param .model .subckt .ends "
                                   ".include .lib .options and analysis cards)")
        fail(f"card {word} refused: {reason}", line)

    def _register(self, name: str, kind: str, item: dict, line: Line) -> None:
        if name in self.element_lines:
            first = self.element_lines[name]
            fail(f"duplicate element name {name} (first defined at {first.source}:"
                  f"{first.line}); rename one of them", line)
        if len(self.elements) >= MAX_ELEMENTS:
            fail(f"more than {MAX_ELEMENTS} elements after flattening subcircuits", line)
        self.element_lines[name] = line
        self.element_types[name] = kind
        self.elements.append(item)

    def _map_nodes(self, texts: list, scope: Scope, line: Line, element: str) -> list:
        """Map local node names to final ones, checking flattened names for collisions."""
        out = []
        for text in texts:
            local = self.node(text, line, element)
            final = scope.node(local)
            if scope.creates(local):
                owner = self.node_owner.setdefault(final, (scope.path, scope, line))
                if owner[0] != scope.path:
                    fail(f"{element}: node {final!r} of {scope.describe()} collides with node "
                          f"{final!r} of {owner[1].describe()} (line {owner[2].line}); rename "
                          "one of them", line)
            out.append(final)
        return out

    def _element(self, line: Line, scope: Scope) -> None:
        tokens = split_tokens(line.text, line)
        local = check_element_name(tokens[0].text, line)
        kind, name = local[0], scope.element(local)
        label = name if not scope.path else f"{local} (in {scope.describe()})"
        count = NODE_COUNT[kind]
        args = [t.text for t in tokens[1:]]
        hint = behavioural_form_hint(args[:count + 1])
        if hint:
            fail(f"{label}: unsupported element form{hint}", line)
        if len(args) < count:
            fail(f"{label}: needs {count} nodes, got {len(args)} "
                  f"(syntax: {ELEMENT_SYNTAX[kind]})", line)
        nodes = self._map_nodes(args[:count], scope, line, label)
        item = {"name": name, "nodes": nodes}
        if kind == "B":
            raw = line.text[tokens[1 + count].start:] if len(tokens) > 1 + count else ""
            expr, probes, sources = behavioural_expression(raw, scope, line, label, self.allow_unsafe)
            item["expr"] = expr
            self.deferred.append((line, label, probes, sources))
        else:
            self._values(kind, args[count:], item, scope, line, label)
        if kind in "VLEH" and nodes[0] == nodes[1]:
            fail(f"{label}: both terminals on node {nodes[0]!r} (a shorted source)", line)
        self._register(name, kind, item, line)

    def _values(self, kind: str, rest: list, item: dict, scope: Scope, line: Line,
                label: str) -> None:
        """Fill the value keys of a non-B element from the tokens after its nodes."""
        params = scope.params
        if kind in "VI":
            item["dc"] = self._source_value(rest, params, line, label)
        elif kind in "FH":
            if len(rest) != 2:
                fail(f"{label}: expected a controlling voltage source and a gain "
                      f"(syntax: {ELEMENT_SYNTAX[kind]})", line)
            control = scope.control(check_element_name(rest[0], line))
            item["gain"] = parse_value(rest[1], params, line, f"{label} gain")
            item["control"] = control
            self.deferred.append((line, label, [], [control]))
        elif kind == "D":
            if not 1 <= len(rest) <= 3:
                fail(f"{label}: expected a model name and an optional area "
                      f"(syntax: {ELEMENT_SYNTAX[kind]})", line)
            model = rest[0].upper()
            model = self.model_alias.get(model, model)
            if model in self.other_models:
                fail(f"{label}: model {rest[0]} is a{'n' if self.other_models[model][0] in 'AEINOU' else ''} "
                      f"{self.other_models[model]} model, not a diode (type D)", line)
            if model not in self.models:
                fail(f"{label}: unknown diode model {rest[0]!r} (defined: "
                      f"{', '.join(self.models) or 'none'}; add a .model {model} D(...) card)",
                      line)
            item["model"] = model
            area, multiplier = 1.0, 1.0
            for position, word in enumerate(rest[1:]):
                pair = KV_RE.fullmatch(word)
                key = pair.group(1).lower() if pair else ("area" if position == 0 else None)
                if key not in ("area", "m"):
                    fail(f"{label}: unsupported diode parameter "
                          f"{(pair.group(1) if pair else word)!r} (supported: area, m); "
                          "refused", line)
                number = parse_value(pair.group(2) if pair else word, params, line,
                                f"{label} {key}")
                if number <= 0:
                    fail(f"{label}: diode {key} must be positive, got {number!r}", line)
                if key == "area":
                    area = number
                else:
                    multiplier = number
            if multiplier != 1.0:   # m parallel diodes: area * m (IS, IBV, 1/RS scale alike)
                self.note("folded", f"{label} m={multiplier!r} ({self.where(line)})")
            if area * multiplier != 1.0:
                item["area"] = area * multiplier
        else:
            key = {"R": "r", "C": "c", "L": "l"}.get(kind, "gain")
            hint = behavioural_form_hint(rest[:1])
            positional, assigns = split_positional(rest)
            if kind in "RCL" and not positional and assigns and \
                    assigns[0].lower().startswith(f"{key}="):
                positional, assigns = [assigns[0][len(key) + 1:]], assigns[1:]
            if len(positional) != 1 or (assigns and kind not in "RCL"):
                fail(f"{label}: expected exactly one value after the nodes, got "
                      f"{len(rest)} (syntax: {ELEMENT_SYNTAX[kind]}){hint}", line)
            text = positional[0]
            pair = KV_RE.fullmatch(text)
            if pair is not None:
                fail(f"{label}: unsupported parameter {pair.group(1)!r}{hint}", line)
            value = parse_value(text, params, line, f"{label} value")
            if kind in "RCL" and value <= 0:
                what = {"R": "resistance", "C": "capacitance", "L": "inductance"}[kind]
                extra = (" (a negative nudging resistance cannot be imported: eqprop-hw "
                         "circuits need positive conductances)") if kind == "R" else ""
                fail(f"{label}: {what} must be positive, got {value!r}{extra}", line)
            if assigns:
                value = self._instance_params(kind, value, assigns, params, line, label)
            item[key] = value

    def _instance_params(self, kind: str, value: float, assigns: list, params: dict,
                         line: Line, label: str) -> float:
        """Fold ``m=`` into an R, C or L value; note those that leave DC alone; refuse others.

        ``m`` (parallel devices) gives R/m, C*m, L/m. ``ic=`` (C, L: transient initial
        condition) and ``ac=`` (R: AC resistance) do not change an operating point; ``tc1=``
        and ``tc2=`` do not either while the circuit temperature equals TNOM (both default
        27 degC), and are refused at another temperature (they would change R there).
        """
        multiplier, left = 1.0, []
        for name, text in params_list(assigns, line, label):
            number = parse_value(text, params, line, f"{label} {name}")
            if name == "m":
                if number <= 0:
                    fail(f"{label}: m (parallel devices) must be positive, got {number!r}",
                          line)
                multiplier *= number
            elif (name == "ic" and kind in "CL") or (name == "ac" and kind == "R"):
                left.append(f"{name}=")
            elif name in ("tc1", "tc2", "tc") and kind in "RC":
                temp = self.options.get("temp", 27.0)
                tnom = self.options.get("tnom", 27.0)
                if number != 0 and temp != tnom:
                    fail(f"{label}: {name}={text} changes the value at {temp!r} degC (TNOM "
                          f"{tnom!r}): temperature coefficients are not modelled; refused",
                          line)
                left.append(f"{name}=")
            else:
                fail(f"{label}: unsupported instance parameter {name!r} (supported: m, and "
                      "ic on C and L, ac on R, tc1/tc2 at TNOM); refused", line)
        if left:
            self.note("accepted", f"{label} {' '.join(left)} (no effect on the operating "
                                  f"point; {self.where(line)})")
        if multiplier != 1.0:
            self.note("folded", f"{label} m={multiplier!r} ({self.where(line)})")
        return value / multiplier if kind in "RL" else value * multiplier

    def _source_value(self, rest: list, params: dict, line: Line, label: str) -> float:
        """The value ngspice uses for a source in an operating point.

        ``[DC] value``, then optionally ``AC mag [phase]`` and one waveform (``PULSE SIN PWL
        EXP SFFM``, with or without parentheses). The DC value if given, else the waveform's
        value at t = 0 as ngspice 39 computes it (see :func:`waveform_at_zero`), else 0.
        AC and waveform specifications are left out and noted, and so is random transient
        noise (``TRNOISE``: no operating-point value; ``TRRANDOM``: its offset, the 5th
        argument, without a DC value); other source keywords (``AM``, ...) are refused by name.
        """
        dc, words, index = None, list(rest), 0
        if words and words[0].upper() == "DC":
            if len(words) < 2:
                fail(f"{label}: DC needs a value", line)
            dc, index = parse_value(words[1], params, line, f"{label} DC value"), 2
        elif words and words[0].upper().startswith("DC="):
            dc, index = parse_value(words[0][3:], params, line, f"{label} DC value"), 1
        elif words and not source_keyword(words[0]) and not keyword_group(words[0]):
            dc, index = parse_value(words[0], params, line, f"{label} value"), 1
        waveform, noise, left = None, None, []
        while index < len(words):
            word = words[index]
            if keyword_group(word):   # ngspice's (PWL ...) (AC 1) groups
                words[index:index + 1] = [t.text for t in split_tokens(word[1:-1], line)]
                continue
            key = source_keyword(word)
            if key == "DC" and dc is None and index + 1 < len(words):   # AC 1 DC 0
                dc = parse_value(words[index + 1], params, line, f"{label} DC value")
                index += 2
            elif key == "AC":
                index += 1
                count = 0
                while index < len(words) and count < 2 and not source_keyword(words[index]) \
                        and not keyword_group(words[index]):
                    parse_value(words[index], params, line, f"{label} AC value")
                    index, count = index + 1, count + 1
                left.append("AC")
            elif key in WAVEFORMS:
                if waveform is not None:
                    fail(f"{label}: two waveforms ({waveform[0]} and {key})", line)
                args, index = _waveform_args(words, index, key, line, label)
                waveform = (key, args)
                left.append(key)
            elif key in NOISE_SOURCES:   # random transient noise: absent from an OP
                if noise is not None:
                    fail(f"{label}: two noise specifications ({noise[0]} and {key})", line)
                noise, index = _noise_source(words, index, key, params, line, label)
                left.append(key)
            elif key in ("DISTOF1", "DISTOF2"):
                index += 1
                while index < len(words) and not source_keyword(words[index]):
                    index += 1
                left.append(key)
            else:
                fail(f"{label}: unsupported source specification {word!r} (supported: [DC] "
                      "value, AC, PULSE, SIN, PWL, EXP, SFFM); refused", line)
        if left:
            self.note("left out", f"{label} {'/'.join(left)} ({self.where(line)})")
        if waveform is not None and noise is not None:
            fail(f"{label}: a waveform ({waveform[0]}) and {noise[0]} together are not "
                 "supported; refused", line)
        if noise is not None:
            return noise[1] if dc is None else dc
        if waveform is not None:   # checked even when the DC value is used
            key, args = waveform
            for option in [a for a in args if KV_RE.fullmatch(a)]:   # PWL r= and td=
                name, text = KV_RE.fullmatch(option).groups()
                if key != "PWL" or name.lower() not in ("r", "td"):
                    fail(f"{label}: {key} option {name}= is not supported; refused", line)
                if parse_value(text, params, line, f"{label} PWL {name}") < 0:
                    fail(f"{label}: PWL {name}= must not be negative (the value at t = 0 "
                          "would depend on it); refused", line)
                args = [a for a in args if a is not option]
            values = [parse_value(a, params, line, f"{label} {key} value") for a in args]
            at_zero = waveform_at_zero(key, values, line, label)
            if dc is None:
                return at_zero
        return 0.0 if dc is None else dc

    def _instance(self, line: Line, scope: Scope, stack: tuple) -> None:
        words = [t.text for t in split_tokens(line.text, line)]
        local = check_element_name(words[0], line)
        positional, assigns = split_positional(words[1:])
        if not positional:
            fail(f"{local}: missing subcircuit name (syntax: {ELEMENT_SYNTAX['X']})", line)
        sub_name = positional[-1].upper()
        sub = self.subckts.get(sub_name)
        if sub is None:
            fail(f"{local}: unknown subcircuit {positional[-1]!r} (defined: "
                  f"{', '.join(sorted(self.subckts)) or 'none'})", line)
        if len(positional) - 1 != len(sub.pins):
            fail(f"{local}: subcircuit {sub_name} has {len(sub.pins)} pins "
                  f"({' '.join(sub.pins)}), got {len(positional) - 1} nodes", line)
        if sub_name in stack:
            fail(f"{local}: subcircuit {sub_name} instantiates itself "
                  f"({' -> '.join(stack + (sub_name,))})", line)
        if len(stack) >= MAX_SUBCKT_DEPTH:
            fail(f"{local}: subcircuits nested deeper than {MAX_SUBCKT_DEPTH}", line)
        if len(self.elements) + self._flat_size(sub_name, ()) > MAX_ELEMENTS:
            fail(f"{local}: flattening subcircuit {sub_name} would give more than "
                  f"{MAX_ELEMENTS} elements", line)
        path = f"{scope.path}_{local}" if scope.path else local
        if path in self.instances:
            fail(f"duplicate subcircuit instance {local}", line)
        self.instances.add(path)
        self.used_subckts.add(sub_name)
        label = local if not scope.path else f"{local} (in {scope.describe()})"
        nodes = self._map_nodes(positional[:-1], scope, line, label)
        params = dict(self.params)
        declared = {name for name, _text in sub.defaults}
        overrides = {}
        for name, text in params_list(assigns, line, label):
            if name not in declared:
                fail(f"{label}: subcircuit {sub_name} has no parameter {name!r} (declared: "
                      f"{', '.join(sorted(declared)) or 'none'})", line)
            overrides[name] = parse_value(text, scope.params, line, f"{label} {name}")
        params.update(overrides)
        for name, text in sub.defaults:
            if name not in overrides:
                params[name] = parse_value(text, params, sub.where, f"subcircuit {sub_name} {name}")
        shared = sorted(set(sub.pins) & self.globals)
        if shared:
            fail(f"{label}: pin {shared[0]!r} of subcircuit {sub_name} is a .global node "
                  "(ambiguous: renamed by the instance or shared by all?); refused", line)
        inner = Scope(path, params, dict(zip(sub.pins, nodes)), sub.local_elements(), line,
                       frozenset(self.globals))
        for body_line in sub.body:
            if first_word(body_line.text).lower() == ".param":
                self._param(body_line, params)
        self.body(sub.body, inner, stack + (sub_name,))

    def _flat_size(self, name: str, stack: tuple) -> int:
        """Number of elements one instance of subcircuit ``name`` flattens to (capped)."""
        if name in self.sizes:
            return self.sizes[name]
        sub = self.subckts.get(name)
        if sub is None or name in stack:
            return 0  # reported when the instance is expanded
        size = 0
        for line in sub.body:
            word = first_word(line.text)
            if word[:1].upper() == "X":
                positional, _assigns = split_positional(line.text.split()[1:])
                if positional:
                    size += self._flat_size(positional[-1].upper(), stack + (name,))
            elif not word.startswith("."):
                size += 1
            size = min(size, MAX_ELEMENTS + 1)
        self.sizes[name] = size
        return size

    def check_references(self) -> None:
        """F/H controls and B probes must name V sources and nodes of the circuit."""
        nodes = {node for item in self.elements for node in item["nodes"]} | {"0"}
        for line, label, probes, sources in self.deferred:
            for node in probes:
                if node not in nodes:
                    fail(f"{label}: v({node}) names no node of the circuit", line)
            for source in sources:
                if self.element_types.get(source) != "V":
                    fail(f"{label}: {source} is not a voltage source of the circuit (F, H "
                          "and i() need a V element)", line)
        self._check_body_contacts()

    def _check_body_contacts(self) -> None:
        """An SOI MOSFET's body contact node must reach another terminal
        (:func:`eqprop_hw.circuit.transistors.lone_body_contacts`)."""
        items = [(item["name"], item["nodes"],
                  model_level(self.device_models[item["model"]])
                  if self.element_types.get(item["name"]) == "M" and
                  item.get("model") in self.device_models else None)
                 for item in self.elements]
        for name, node in lone_body_contacts(items)[:1]:
            fail(f"{name}: {BODY_CONTACT_REFUSAL.format(node=node)}", self.element_lines[name])
