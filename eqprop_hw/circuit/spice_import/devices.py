"""Transistor lines (M Q J Z) and the ``.model`` cards they use.

Part of :mod:`eqprop_hw.circuit.spice_import` (see its docstring for the accepted subset).
A transistor model is read when an element first uses it (a model nothing uses is ignored, as
before): its type must be one of :data:`eqprop_hw.circuit.transistors.MODEL_TYPES` for the
element's letter, every parameter ``NAME=value`` with a name of
:data:`~eqprop_hw.circuit.transistors.MODEL_PARAM_RE` and a value that evaluates to a number
(``.param`` expressions are evaluated here: none reaches the netlist), ``LEVEL`` one of
:data:`~eqprop_hw.circuit.transistors.MODEL_LEVELS` and ``VERSION`` a version number. Instance
parameters are those of :data:`~eqprop_hw.circuit.transistors.INSTANCE_PARAMS`; ``off`` and
``ic=`` (which choose another operating point) are refused by name.
"""

from __future__ import annotations

import re

from eqprop_hw.circuit.line_devices import (CONTROLLED, DEVICE_KINDS, MODEL_FLAGS, MODELLESS,
                                            check_line_params)
from eqprop_hw.circuit.transistors import (INSTANCE_PARAMS, MAX_MODEL_PARAMS, MODEL_PARAM_RE,
                                           MODEL_TYPES, SOI_INSTANCE_PARAMS, SOI_NODES,
                                           TERMINALS, TRANSISTOR_KINDS, TRANSISTOR_NODES,
                                           VERSION_RE, check_instance_params, check_model_param,
                                           line_model_problem,
                                           model_level, node_count_problem)
from eqprop_hw.errors import CircuitError
from eqprop_hw.circuit.spice_import.lines import KV_RE, Line, check_element_name, fail, split_tokens
from eqprop_hw.circuit.spice_import.expressions import params_list, parse_value, split_positional
from eqprop_hw.circuit.spice_import.structure import Scope

#: Syntax of each transistor line, for messages.
TRANSISTOR_SYNTAX = {
    "M": "Mname drain gate source bulk [body contact temperature] MODEL [l=... w=... m=...]",
    "Q": "Qname collector base emitter [substrate [thermal]] MODEL [area] [m=...]",
    "J": "Jname drain gate source MODEL [area] [m=...]",
    "Z": "Zname drain gate source MODEL [area] [m=...]",
}
#: Syntax of the switches and the lossless line, for messages.
DEVICE_SYNTAX = {
    "S": "Sname n+ n- nc+ nc- MODEL",
    "W": "Wname n+ n- VCONTROL MODEL",
    "T": "Tname p1+ p1- p2+ p2- z0=... td=... (or f=... [nl=...])",
    "O": "Oname p1+ p1- p2+ p2- LTRAMODEL",
    "Y": "Yname p1+ p1- p2+ p2- TXLMODEL",
}
#: Other spellings of a line's instance parameters (ngspice reads ``zo`` as ``z0``).
LINE_ALIASES = {"zo": "z0"}
#: MOSFET levels whose models ngspice selects by bins (``NAME.1``...): BSIM3 and BSIM4.
BINNED_LEVELS = (8, 14, 49, 54)
#: MOSFET geometry scaled by ``.options scale``: parameter -> power of the scale.
GEOMETRY = {"l": 1, "w": 1, "pd": 1, "ps": 1, "ad": 2, "as": 2}
#: Flags that select another operating point (or initial condition): refused by name.
REFUSED_FLAGS = frozenset(("off", "on"))


class DeviceReader:
    """Transistor elements and their models.

    A part of :class:`eqprop_hw.circuit.spice_import.importer.Importer` (the state lives there).
    """

    def _transistor(self, line: Line, scope: Scope) -> None:
        tokens = split_tokens(line.text, line)
        local = check_element_name(tokens[0].text, line)
        kind, name = local[0], scope.element(local)
        label = name if not scope.path else f"{local} (in {scope.describe()})"
        if kind in DEVICE_KINDS:
            self._switch_or_line(line, scope, tokens, kind, name, label)
            return
        positional, assigns = split_positional([t.text for t in tokens[1:]])
        counts = TRANSISTOR_NODES[kind]
        count = counts[0]
        for more in counts[1:]:   # Q c b e SUBSTRATE [THERMAL] MODEL; SOI M d g s e [p b t] MODEL
            if len(positional) > count + 1 and not self._is_device_model(positional[count]):
                count = more
        if len(positional) < count + 1:
            fail(f"{label}: needs {count} nodes and a model (syntax: {TRANSISTOR_SYNTAX[kind]})",
                 line)
        nodes = self._map_nodes(positional[:count], scope, line, label)
        if self._is_device_model(positional[count]) or \
                positional[count].upper() in self.models:    # its type first (not binned)
            self._device_model(positional[count], kind, line, label, {})
        extra = positional[count + 1:]
        flags = [word for word in extra if word.lower() in REFUSED_FLAGS]
        if flags:
            fail(f"{label}: instance flag {flags[0]!r} refused (it chooses another operating "
                 "point than ngspice finds by itself)", line)
        params = []
        if kind == "M" and any(self._is_device_model(word) for word in extra):
            fail(f"{label}: a MOSFET takes at most 7 nodes (SOI: drain gate source backgate "
                 "body contact temperature); refused", line)
        if extra:
            if kind == "M" or len(extra) > 1:
                fail(f"{label}: unexpected {' '.join(extra)!r} after the model (syntax: "
                     f"{TRANSISTOR_SYNTAX[kind]})", line)
            params.append(("area", parse_value(extra[0], scope.params, line, f"{label} area")))
        for word in assigns:     # refused by name before the values are split (ic=1,2)
            pair = KV_RE.fullmatch(word)
            if pair is not None and pair.group(1).lower() not in INSTANCE_PARAMS[kind]:
                fail(f"{label}: unsupported {TRANSISTOR_KINDS[kind]} instance parameter "
                     f"{pair.group(1).lower()!r} (supported: "
                     f"{', '.join(INSTANCE_PARAMS[kind])}); refused", line)
        for key, text in params_list(assigns, line, label):
            if key not in INSTANCE_PARAMS[kind]:
                fail(f"{label}: unsupported {TRANSISTOR_KINDS[kind]} instance parameter {key!r} "
                     f"(supported: {', '.join(INSTANCE_PARAMS[kind])}); refused", line)
            params.append((key, parse_value(text, scope.params, line, f"{label} {key}")))
        if kind == "M":          # .options defl/defw/defad/defas for what the line lacks
            given = {key for key, _value in params}
            params += [(key, value) for key, value in self.mos_defaults.items()
                       if key not in given]
        scale = self.options_scale
        if kind == "M" and scale != 1.0:      # .options scale: geometry in scaled units
            params = [(key, value * scale ** GEOMETRY.get(key, 0)) for key, value in params]
            self.note("folded", f"{label} .options scale={scale!r} into "
                                f"{' '.join(k for k, _v in params if k in GEOMETRY)}")
        try:
            params = list(check_instance_params(kind, tuple(params), label))
        except CircuitError as error:
            fail(str(error), line)
        model = self._device_model(positional[count], kind, line, label, dict(params))
        level = model_level(self.device_models[model])
        problem = node_count_problem(kind, count, level)
        if problem:
            fail(f"{label}: {problem}; refused", line)
        soi_only = [key for key, _value in params if key in SOI_INSTANCE_PARAMS]
        if soi_only and level not in SOI_NODES:
            fail(f"{label}: instance parameter {soi_only[0]!r} needs an SOI model (LEVEL "
                 f"{' '.join(map(str, sorted(SOI_NODES)))}), not LEVEL={level}; refused", line)
        item = {"name": name, "nodes": nodes, "model": model}
        item.update(params)
        self._register(name, kind, item, line)

    def _switch_or_line(self, line: Line, scope: Scope, tokens: list, kind: str, name: str,
                        label: str) -> None:
        """``S n+ n- nc+ nc- MODEL``, ``W n+ n- VCONTROL MODEL`` or ``T p1+ p1- p2+ p2- z0=...
        td=...`` (:mod:`eqprop_hw.circuit.line_devices`)."""
        positional, assigns = split_positional([t.text for t in tokens[1:]])
        count = TRANSISTOR_NODES[kind][0]
        wanted = count + (kind in CONTROLLED) + (kind not in MODELLESS)
        flags = [word for word in positional[count:] if word.lower() in REFUSED_FLAGS]
        if flags:
            fail(f"{label}: instance flag {flags[0]!r} refused (it chooses the initial state "
                 "of the switch)", line)
        if len(positional) != wanted:
            fail(f"{label}: expected {wanted} words before the parameters, got "
                 f"{len(positional)} (syntax: {DEVICE_SYNTAX[kind]})", line)
        nodes = self._map_nodes(positional[:count], scope, line, label)
        item = {"name": name, "nodes": nodes}
        if kind in CONTROLLED:
            control = scope.control(check_element_name(positional[count], line))
            item["control"] = control
            self.deferred.append((line, label, [], [control]))
        params = []
        for word in assigns:     # refused by name before the values are split (ic=1,2)
            pair = KV_RE.fullmatch(word)
            key = pair.group(1).lower() if pair is not None else ""
            if pair is not None and LINE_ALIASES.get(key, key) not in INSTANCE_PARAMS[kind]:
                fail(f"{label}: unsupported {TRANSISTOR_KINDS[kind]} instance parameter "
                     f"{key!r} (supported: {', '.join(INSTANCE_PARAMS[kind]) or 'none'}); "
                     "refused", line)
        for key, text in params_list(assigns, line, label):
            key = LINE_ALIASES.get(key, key)
            params.append((key, parse_value(text, scope.params, line, f"{label} {key}")))
        try:
            params = list(check_instance_params(kind, tuple(params), label))
            if kind in MODELLESS:
                check_line_params(params, label)
        except CircuitError as error:
            fail(str(error), line)
        if kind not in MODELLESS:
            item["model"] = self._device_model(positional[-1], kind, line, label, {})
        item.update(params)
        self._register(name, kind, item, line)

    def _is_device_model(self, word: str) -> bool:
        model = word.upper()
        model = self.model_alias.get(model, model)
        return model in self.other_models

    def _device_model(self, word: str, kind: str, line: Line, label: str,
                      params: dict) -> str:
        """The (grammar) name of the transistor model ``word``, read on first use; for a
        binned model (``NAME.1``, ``NAME.2``...) the bin whose LMIN <= l < LMAX and
        WMIN <= w < WMAX (as ngspice selects it)."""
        model = self.model_alias.get(word.upper(), word.upper())
        if model not in self.other_models and model not in self.models and \
                model not in self.device_models:
            model = self._model_bin(word.upper(), kind, line, label, params) or model
        if model in self.device_models:
            found = self.device_models[model]["type"]
        elif model in self.other_models:
            found = self.other_models[model]
        elif model in self.models:
            found = "D"
        else:
            fail(f"{label}: unknown model {word!r} (add a .model {word.upper()} "
                 f"{'/'.join(t for t, k in MODEL_TYPES.items() if k == kind)}(...) card)", line)
        if MODEL_TYPES.get(found) != kind:
            types = ", ".join(t for t, k in MODEL_TYPES.items() if k == kind)
            fail(f"{label}: model {word} is of type {found}, not a {TRANSISTOR_KINDS[kind]} model "
                 f"({types}; terminals {' '.join(TERMINALS[kind])})", line)
        if model not in self.device_models:
            self.device_models[model] = self._read_device_model(model, found)
        return model

    def _model_bin(self, word: str, kind: str, line: Line, label: str, params: dict):
        """The grammar name of the bin of ``word`` that fits the element's l and w, or None
        when ``word`` has no bins."""
        bins = sorted(raw for raw in self.model_alias if raw.startswith(word + ".")
                      and raw[len(word) + 1:].isdigit())
        if not bins:
            return None
        if kind != "M" or "l" not in params or "w" not in params:
            fail(f"{label}: model {word} is binned ({', '.join(bins[:4])}...): the element "
                 "needs l= and w= to choose a bin", line)
        fits = []
        for raw in bins:
            name = self.model_alias[raw]
            if MODEL_TYPES.get(self.other_models.get(name)) != kind:
                continue
            if name not in self.device_models:
                self.device_models[name] = self._read_device_model(name,
                                                                   self.other_models[name])
            bounds = self.device_models[name]
            if bounds.get("LEVEL", 1) not in BINNED_LEVELS:
                fail(f"{label}: model bin {raw} has LEVEL={bounds.get('LEVEL', 1)}; ngspice bins "
                     f"only BSIM3/BSIM4 models (LEVEL {' '.join(map(str, BINNED_LEVELS))})",
                     line)
            if bounds.get("LMIN", 0.0) <= params["l"] < bounds.get("LMAX", float("inf")) and \
                    bounds.get("WMIN", 0.0) <= params["w"] < bounds.get("WMAX", float("inf")):
                fits.append(name)
        if len(fits) != 1:
            fail(f"{label}: l={params['l']!r} w={params['w']!r} fit {len(fits)} bins of model "
                 f"{word} ({', '.join(fits) or 'none'}); exactly one must fit", line)
        self.note("binned", f"{label} -> {fits[0]}")
        return fits[0]

    def _read_device_model(self, name: str, kind: str) -> dict:
        """``{"type": NMOS, "LEVEL": 1, ...}`` from the ``.model`` line of ``name``."""
        line = self.model_lines[name]
        match = re.match(r"\.model\s+\S+\s+[A-Za-z][A-Za-z0-9_]*\s*(.*)", line.text, re.I | re.S)
        body = match.group(1).strip()
        if body.startswith("("):
            if not body.endswith(")"):
                fail(f"model {name}: unbalanced parentheses in the parameter list", line)
            body = body[1:-1]
        out = {"type": kind}
        tokens = split_tokens(body, line)
        if len(tokens) > MAX_MODEL_PARAMS:
            fail(f"model {name}: {len(tokens)} parameters, more than {MAX_MODEL_PARAMS}", line)
        flags = MODEL_FLAGS.get(MODEL_TYPES[kind], ())
        for token in tokens:
            if token.text.upper() in flags:       # an LTRA flag: STEPLIMIT, NOCONTROL ...
                if token.text.upper() in out:
                    fail(f"model {name}: parameter {token.text.upper()} given twice", line)
                out[token.text.upper()] = 1.0
                continue
            pair = KV_RE.fullmatch(token.text)
            if pair is None:
                fail(f"model {name}: expected PARAM=value, got {token.text[:40]!r}", line)
            key = pair.group(1).upper()
            if not MODEL_PARAM_RE.fullmatch(key) or key == "TYPE":
                fail(f"model {name}: parameter name {pair.group(1)[:40]!r} refused (a letter, "
                     "then letters and digits, at most 16 characters)", line)
            text = pair.group(2)
            if key == "VERSION" and VERSION_RE.fullmatch(text.strip("'\"")):
                value = text.strip("'\"")
            else:
                value = parse_value(text, self.params, line, f"model {name} {key}")
            try:
                value = check_model_param(key, value, MODEL_TYPES[kind], f"model {name}")
            except CircuitError as error:
                fail(str(error), line)
            if key in out:     # the same value twice is one parameter; two values are refused
                if out[key] != value:
                    fail(f"model {name}: parameter {key} given twice with different values "
                         f"({out[key]!r} and {value!r})", line)
                self.note("accepted", f"model {name} {key} given twice with the same value")
                continue
            out[key] = value
        problem = line_model_problem(kind, out)
        if problem:
            fail(f"model {name}: {problem}", line)
        return out
