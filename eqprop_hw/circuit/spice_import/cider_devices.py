"""CIDER numerical devices (D with NUMD, Q with NBJT, M with NUMOS models) and their models.

Part of :mod:`eqprop_hw.circuit.spice_import` (see its docstring for the accepted subset). The
card grammar is :mod:`eqprop_hw.circuit.cider`'s; this module reads netlist lines into it. A
CIDER model is read when an element first uses it: its ``.model`` line may carry only
``level=`` (ngspice ignores anything else there), each ``+`` line is a sub-card, a ``++`` line
continues the sub-card before it, ``*``, ``$`` and ``#`` sub-lines are comments. An error names
the physical line of the sub-card.
"""

from __future__ import annotations

import re

from eqprop_hw.circuit.cider import (INSTANCE_PARAMS, KINDS, MAX_CARDS, MAX_CARD_CHARS,
                                     MAX_CIRCUIT_NODES, MODEL_TYPES, NODE_COUNTS, CiderModel, card_text,
                                     check_instance_params, parse_card, parse_length)
from eqprop_hw.errors import CircuitError
from eqprop_hw.circuit.spice_import.lines import Line, check_element_name, fail, split_tokens
from eqprop_hw.circuit.spice_import.expressions import parse_value
from eqprop_hw.circuit.spice_import.structure import Scope

#: Most ``+`` lines of one CIDER model (comments included).
MAX_CARD_LINES = 2000
#: Instance parameters refused by name, and why.
REFUSED_INSTANCE = {
    "off": "it chooses another operating point than ngspice finds by itself",
    "ic.file": "it reads the initial state from a file",
    "save": "it writes solution files", "print": "it writes solution files",
}
_PAIR_RE = re.compile(r"([A-Za-z_][A-Za-z0-9_.]*)=(.*)", re.S)
_HEAD_RE = re.compile(r"\.model\s+\S+\s+([A-Za-z0-9_]+)\s*(.*)", re.I | re.S)


class CiderReader:
    """CIDER element lines and models.

    A part of :class:`eqprop_hw.circuit.spice_import.importer.Importer` (the state lives there).
    """

    def _cider_type(self, word: str) -> str | None:
        model = self.model_alias.get(word.upper(), word.upper())
        kind = self.other_models.get(model)
        return kind if kind in MODEL_TYPES else None

    def cider_line(self, line: Line) -> bool:
        """Whether a D, Q or M line names a CIDER model where its model goes."""
        letter = line.text[:1].upper()
        words = line.text.split()
        count = NODE_COUNTS.get(letter)
        if count is None:
            return False
        places = (count + 1, count + 2) if letter == "Q" else (count + 1,)
        return any(len(words) > place and self._cider_type(words[place].split("=")[0])
                   for place in places)

    def _cider_element(self, line: Line, scope: Scope) -> None:
        words = [token.text for token in split_tokens(line.text, line)]
        local = check_element_name(words[0], line)
        letter, name = local[0], scope.element(local)
        label = name if not scope.path else f"{local} (in {scope.describe()})"
        count = NODE_COUNTS[letter]
        if len(words) <= count + 1 or not self._cider_type(words[count + 1]):
            named = [self._cider_type(word.split("=")[0]) for word in words[count + 1:]]
            kind = next((found for found in named if found), None)
            what = f"CIDER {KINDS[kind]}" if kind else f"CIDER {letter} element"
            fail(f"{label}: a {what} takes {count} nodes"
                 f"{' (collector base emitter)' if letter == 'Q' else ''}, then its model "
                 "name (alone, not name=value)", line)
        kind = self._cider_type(words[count + 1])
        if MODEL_TYPES[kind] != letter:
            fail(f"{label}: model {words[count + 1]} is a {kind} model ({KINDS[kind]}, used by "
                 f"{MODEL_TYPES[kind]} elements), not one for a {letter} element", line)
        nodes = self._map_nodes(words[1:count + 1], scope, line, label)
        model = self._cider_model(words[count + 1], kind, line, label)
        self.cider_total += self.cider_nodes[model]
        if self.cider_total > MAX_CIRCUIT_NODES:
            fail(f"{label}: the CIDER devices of the circuit add up to more than "
                 f"{MAX_CIRCUIT_NODES} mesh nodes", line)
        params = self._cider_params(words[count + 2:], letter, scope, line, label)
        item = {"name": name, "nodes": nodes, "model": model}
        item.update(params)
        self._register(name, letter, item, line)

    def _cider_params(self, words: list, letter: str, scope: Scope, line: Line,
                      label: str) -> dict:
        """Instance parameters: a leading area (D, Q), then ``key=value`` pairs."""
        allowed = INSTANCE_PARAMS[letter]
        params = {}
        for position, word in enumerate(words):
            pair = _PAIR_RE.fullmatch(word)
            key = pair.group(1).lower() if pair else word.lower()
            if key in REFUSED_INSTANCE:
                fail(f"{label}: instance parameter {key!r} refused: {REFUSED_INSTANCE[key]}",
                     line)
            if pair is None:
                if position == 0 and "area" in allowed:
                    key, text = "area", word
                else:
                    fail(f"{label}: unexpected {word[:40]!r} after the model (CIDER instance "
                         f"parameters: {', '.join(allowed)} as key=value)", line)
            else:
                text = pair.group(2)
            if key not in allowed:
                fail(f"{label}: unsupported CIDER instance parameter {key!r} (supported: "
                     f"{', '.join(allowed)}); refused", line)
            if key in params:
                fail(f"{label}: instance parameter {key} given twice", line)
            try:
                params[key] = parse_length(text)        # 10um (ngspice: 10u, unit ignored)
            except ValueError:
                params[key] = parse_value(text, scope.params, line, f"{label} {key}")
        try:
            checked = dict(check_instance_params(letter, tuple(params.items()), label)) \
                if letter != "D" else params
        except CircuitError as error:
            fail(str(error), line)
        if letter == "D" and not 0 < checked.get("area", 1.0) <= 1e6:
            fail(f"{label}: area must be in (0, 1e6], got {checked['area']!r}", line)
        if letter == "D" and checked.get("area", 1.0) == 1.0:
            checked.pop("area", None)
        return checked

    def _cider_model(self, word: str, kind: str, line: Line, label: str) -> str:
        """The (grammar) name of the CIDER model ``word``, read on first use."""
        model = self.model_alias.get(word.upper(), word.upper())
        if model not in self.device_models:
            self.device_models[model] = self._read_cider_model(model, kind)
        return model

    def _read_cider_model(self, name: str, kind: str) -> dict:
        """``{"type": NUMD, "LEVEL": 1, "cards": [text, ...]}`` from the model's lines."""
        line = self.model_lines[name]
        parts = line.parts
        head = line.text[:len(line.text) - sum(len(text) + 1 for _n, text in parts)] \
            if parts else line.text
        match = _HEAD_RE.match(head)
        rest = match.group(2).strip() if match else ""
        level = 1 if kind != "NUMOS" else 2
        if rest:
            pair = re.fullmatch(r"level\s*=\s*(\S+)", rest, re.I)
            if pair is None:
                fail(f"model {name}: only level= may follow the type on the .model line of a "
                     f"CIDER model (ngspice ignores the rest there); put sub-cards on '+' "
                     f"lines, got {rest[:40]!r}", line)
            value = parse_value(pair.group(1), self.params, line, f"model {name} level")
            if kind != "NUMOS":
                level = int(value) if value in (1, 2) else value
        if len(parts) > MAX_CARD_LINES:
            fail(f"model {name}: {len(parts)} '+' lines, more than {MAX_CARD_LINES}", line)
        cards, outputs = self._cider_cards(name, parts, line)
        try:
            model = CiderModel(name, kind, level, tuple(cards))
        except CircuitError as error:
            fail(str(error), line)
        if outputs:
            where = self.where(Line("", line.source, outputs[0]))
            self.note("left out", f"model {name} output card ({where}: debug printing and "
                                  "saved-solution contents only)")
        self.cider_nodes[name] = model.nodes
        return {"type": kind, "LEVEL": model.level,
                "cards": [card_text(card) for card in model.cards]}

    def _cider_cards(self, name: str, parts: tuple, line: Line) -> tuple:
        """The sub-cards of a CIDER model, and the line numbers of its output cards (left
        out, noted by the caller); comment and title cards are left out, ``end`` must be
        last."""
        texts, open_card = [], False
        for number, text in parts:
            where = Line(text, line.source, number)
            first = text[:1]
            if first in ("*", "$", "#", ""):
                open_card = False           # a comment: '++' after it continues nothing
                continue
            if first == "+":
                if not open_card:
                    fail(f"model {name}: '++' continuation with no CIDER card before it", where)
                texts[-1] = (texts[-1][0] + " " + text.lstrip("+").strip(),
                             texts[-1][1] + ((number, text.lstrip("+").strip()),))
                if len(texts[-1][0]) > MAX_CARD_CHARS:
                    fail(f"model {name}: a CIDER card longer than {MAX_CARD_CHARS} "
                         "characters", where)
                continue
            texts.append((text, ((number, text),)))
            open_card = True
            if len(texts) > MAX_CARDS:
                fail(f"model {name}: more than {MAX_CARDS} CIDER cards", where)
        cards, outputs = [], []
        for position, (text, pieces) in enumerate(texts):
            number = pieces[0][0]
            where = Line(text, line.source, number)
            try:
                card = parse_card(text, f"model {name}")
            except CircuitError as error:
                fail(str(error), Line(text, line.source, _failing_line(pieces, str(error),
                                                                      name)))
            if card[0] == "end" and position != len(texts) - 1:
                fail(f"model {name}: cards after the end card (ngspice ignores them); "
                     "refused", where)
            if card[0] == "output":
                outputs.append(number)
            elif card[0] not in ("end", "title", "comment"):
                cards.append(card)
        return cards, outputs


def _failing_line(pieces: tuple, message: str, name: str) -> int:
    """The line of the physical piece (``+`` line or ``++`` continuation) of a sub-card where
    its first error appears: the first prefix of pieces that gives the same error."""
    for count in range(1, len(pieces)):
        try:
            parse_card(" ".join(text for _number, text in pieces[:count]), f"model {name}")
        except CircuitError as error:
            if str(error) == message:
                return pieces[count - 1][0]
    return pieces[-1][0] if len(pieces) > 1 else pieces[0][0]

