"""Top-level cards: ``.param``, ``.model``, ``.options``, ``.temp``, ``.global``.

Part of :mod:`eqprop_hw.circuit.spice_import` (see its docstring for the accepted subset).
"""

from __future__ import annotations

import re

from eqprop_hw.circuit.graph import DIODE_AC_PARAMS, DIODE_DATASHEET_PARAMS, DIODE_DC_PARAMS
from eqprop_hw.circuit.spec import OPTION_NAMES
from eqprop_hw.circuit.spice_grammar import parse_spice_number
from eqprop_hw.circuit.spice_import.lines import (KV_RE, Line, VENDOR_NAME_RE, fail, first_word,
                                                  is_expression, split_tokens)
from eqprop_hw.circuit.spice_import.expressions import evaluate_expression, params_list, parse_value


#: Analysis and output cards: left out (never run, never written) and listed in the notes.
IGNORED_CARDS = frozenset((".op", ".tran", ".dc", ".ac", ".tf", ".noise", ".four", ".save",
                           ".print", ".plot", ".probe", ".width", ".title", ".sens", ".pz",
                           ".disto", ".meas", ".measure", ".ic", ".pss"))

OPTION_CARDS = frozenset((".options", ".option", ".opt"))


#: ``.options`` giving MOSFET instance defaults (used when a line lacks the parameter).
MOS_DEFAULT_OPTIONS = {"defl": "l", "defw": "w", "defad": "ad", "defas": "as"}

#: ``.options`` that add elements to the circuit (refused: the spec must hold every element).
CIRCUIT_OPTIONS = {"rshunt": "adds a resistor from every node to ground"}


class CardReader:
    """Top-level cards: ``.param``, ``.model``, ``.options``, ``.temp``, ``.global``.

    A part of :class:`eqprop_hw.circuit.spice_import.importer.Importer` (the state lives there).
    """

    def cards(self, top: list) -> None:
        """Top-level ``.param``, then ``.model`` (everywhere) and ``.options``."""
        first: dict = {}
        for line in top:
            if first_word(line.text).lower() == ".param":
                words = [t.text for t in split_tokens(line.text, line)][1:]
                for name, _text in params_list(words, line, ".param"):
                    if name in first:   # ngspice would use the last value everywhere
                        fail(f".param {name} defined twice (lines {first[name].line} and "
                              f"{line.line}): ngspice uses the last value everywhere, also "
                              "in lines before it; refused (keep one definition)", line)
                    first[name] = line
                self._param(line, self.params)
        model_lines = [line for line in top if first_word(line.text).lower() == ".model"]
        for sub in self.subckts.values():
            model_lines += [line for line in sub.body
                            if first_word(line.text).lower() == ".model"]
        for line in sorted(model_lines, key=lambda ln: (ln.source, ln.line)):
            self._model(line)
        for line in top:
            if first_word(line.text).lower() in OPTION_CARDS:
                self._options(line)
        for line in top:
            word = first_word(line.text).lower()
            if word == ".temp":
                self._temp(line)
            elif word == ".global":
                for text in line.text.split()[1:]:
                    node = self.node(text, line, ".global")
                    if node != "0":
                        self.globals.add(node)
        for sub in self.subckts.values():
            for line in sub.body:
                if first_word(line.text).lower() in (".global", ".temp"):
                    fail(f"{first_word(line.text).lower()} inside subcircuit {sub.name}: "
                          "only allowed at the top level; refused", line)

    def _temp(self, line: Line) -> None:
        """``.temp T`` (degC): the circuit temperature, as ``options.temp``."""
        words = [t.text for t in split_tokens(line.text, line)][1:]
        if len(words) != 1:
            fail(f".temp takes one temperature (degC), got {len(words)} values (several "
                  "would run the analysis once per temperature); refused", line)
        value = parse_value(words[0], self.params, line, ".temp")
        if "temp" in self.options and self.options["temp"] != value:
            fail(f".temp {words[0]} contradicts .options temp={self.options['temp']!r}; "
                  "refused", line)
        self.options["temp"] = value
        self.option_lines["temp"] = line

    def _param(self, line: Line, params: dict) -> None:
        words = [t.text for t in split_tokens(line.text, line)][1:]
        if not words:
            fail(".param needs name=value pairs", line)
        for name, text in params_list(words, line, ".param"):
            try:
                params[name] = parse_spice_number(text)
            except ValueError:
                expression = text[1:-1] if is_expression(text) else text
                try:
                    params[name] = evaluate_expression(expression, params)
                except ValueError as error:
                    fail(f".param {name}: cannot evaluate {text!r}: {error}", line)

    def _model(self, line: Line) -> None:
        match = re.match(r"\.model\s+(\S+)\s*(.*)", line.text, re.I | re.S)
        if match is None:
            fail(".model needs a name and a type: .model NAME D(IS=... N=...)", line)
        name = match.group(1).upper()
        if not VENDOR_NAME_RE.fullmatch(name) or len(name) > 120:
            fail(f"invalid model name {match.group(1)!r} (letters, digits, '_', '.', '+', "
                  "'-')", line)
        if not re.fullmatch(r"[A-Z][A-Z0-9_]*", name):   # 1N4148, nch.1: a grammar name
            raw, base = name, re.sub(r"[.+\-]", "_", name)
            base = base if base[0].isalpha() else "D" + base
            name, count = base, 0
            while name.lower() in self.words or name in self.model_alias.values():
                count += 1
                name = f"{base}_{count}"
            self.model_alias[raw] = name
            self.note("renamed", f"model {match.group(1)} -> {name}")
        kind = re.match(r"([A-Za-z][A-Za-z0-9_]*)\s*(.*)", match.group(2), re.S)
        if kind is None:
            fail(f"model {name}: missing model type (only D, diode, is supported)", line)
        if name in self.models or name in self.other_models:
            fail(f"model {name} defined twice (first at line {self.model_lines[name].line})",
                  line)
        if kind.group(1).upper() != "D":   # kept aside: an error only when an element uses it
            self.other_models[name] = kind.group(1).upper()
            self.model_lines[name] = line
            return
        body = kind.group(2).strip()
        if body.startswith("("):
            if not body.endswith(")"):
                fail(f"model {name}: unbalanced parentheses in the parameter list", line)
            body = body[1:-1]
        allowed = tuple(DIODE_DC_PARAMS) + tuple(DIODE_DATASHEET_PARAMS) + DIODE_AC_PARAMS
        values = {}
        for token in split_tokens(body, line):
            pair = KV_RE.fullmatch(token.text)
            if pair is None:
                fail(f"model {name}: expected PARAM=value, got {token.text!r}", line)
            key = pair.group(1).upper()
            if key not in allowed:
                fail(f"model {name}: unsupported diode parameter {key} (supported: "
                      f"{' '.join(allowed)})", line)
            if key in values:
                fail(f"model {name}: parameter {key} given twice", line)
            values[key] = parse_value(pair.group(2), self.params, line, f"model {name} {key}")
        checks = {"IS": values.get("IS", 1.0) > 0, "N": values.get("N", 1.0) > 0,
                  "RS": values.get("RS", 0.0) >= 0}
        for key, ok in checks.items():
            if not ok:
                fail(f"model {name}: {key} must be {'>= 0' if key == 'RS' else 'positive'}, "
                      f"got {values[key]!r}", line)
        self.models[name] = {key: values[key] for key in allowed if key in values}
        self.model_lines[name] = line

    def _options(self, line: Line) -> None:
        for token in split_tokens(line.text, line)[1:]:
            pair = KV_RE.fullmatch(token.text)
            if pair is not None and pair.group(1).lower() in MOS_DEFAULT_OPTIONS:
                key = MOS_DEFAULT_OPTIONS[pair.group(1).lower()]     # defl -> l, ...
                value = parse_value(pair.group(2), self.params, line, f".options {key}")
                if not 0 < value < float("inf"):
                    fail(f".options {pair.group(1).lower()} must be positive, got {value!r}",
                         line)
                self.mos_defaults[key] = value
                continue
            if pair is not None and pair.group(1).lower() == "scale":   # MOSFET geometry
                self.options_scale = parse_value(pair.group(2), self.params, line,
                                                 ".options scale")
                if not 0 < self.options_scale < float("inf"):
                    fail(f".options scale must be positive, got {self.options_scale!r}", line)
                continue
            word = (pair.group(1) if pair is not None else token.text).lower()
            if word in CIRCUIT_OPTIONS:
                fail(f".options {word} {CIRCUIT_OPTIONS[word]}; add those elements to the "
                     "netlist instead", line)
            if pair is None or word not in OPTION_NAMES:
                # Solver settings and flags (bypass, method, klu, ...): the spec's own
                # tolerances apply; noted, since a solver setting can move an ill-conditioned
                # operating point.
                self.note("left out", f".options {token.text} ({self.where(line)})")
                continue
            key = pair.group(1).lower()
            value = parse_value(pair.group(2), self.params, line, f".options {key}")
            if key not in ("temp", "tnom") and value <= 0:
                fail(f".options {key} must be positive, got {value!r}", line)
            self.options[key] = value
            self.option_lines[key] = line
