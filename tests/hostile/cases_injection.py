"""Injection: strings of a spec or netlist that try to add lines to the netlist ngspice runs.

Every string field of every spec kind that reaches a netlist line is given a payload that
starts a ``.control`` block running ``shell touch MARKER`` behind each kind of line break
(``\\n``, ``\\r``, ``\\v``, ``\\f``, U+0085, U+2028, U+2029) and other control characters;
each spec is run through the commands users run on received specs (describe, export,
simulate, grad and train with the ngspice backend, check). The harness asserts the refusal,
that MARKER does not exist and that no file was written.
"""

from hostile import Case

SHELL = ".control\\nshell touch {marker}\\n.endc"
#: YAML double-quoted escapes of the line breaks and control characters, and the code point
#: the error line must name.
BREAKS = [("\\n", "U+000A"), ("\\r", "U+000D"), ("\\v", "U+000B"), ("\\f", "U+000C"),
          ("\\N", "U+0085"), ("\\L", "U+2028"), ("\\P", "U+2029"), ("\\t", "U+0009"),
          ("\\0", "U+0000"), ("\\e", "U+001B")]


def _graph(name="g", element="R1", node="out", model="DA", control="VIN", expr="I=1e-3*v(out)",
           port_in="x", port_out="y", out_node="out") -> str:
    return f"""\
name: "{name}"
kind: graph
models: {{"{model}": {{IS: 1.0e-14, N: 1.0}}}}
elements:
  - {{name: VIN, nodes: [a, 0], dc: 1.0}}
  - {{name: "{element}", nodes: [a, "{node}"], g: 1.0e-3}}
  - {{name: R2, nodes: [out, 0], g: 1.0e-3}}
  - {{name: R3, nodes: ["{node}", out], g: 1.0e-3}}
  - {{name: D1, nodes: [out, 0], model: "{model}"}}
  - {{name: HX, nodes: [h, 0], control: "{control}", gain: 10.0}}
  - {{name: RH, nodes: [h, 0], g: 1.0e-3}}
  - {{name: B1, nodes: [out, 0], expr: "{expr}"}}
inputs: [{{name: "{port_in}", sources: {{VIN: 1.0}}}}]
outputs: [{{name: "{port_out}", node: "{out_node}"}}]
"""


def _layered(name="l", output="y0") -> str:
    return f"""\
name: "{name}"
kind: layered
layers: [2, 3, 2]
outputs: {{names: ["{output}", y1]}}
dataset: {{name: xor}}
training: {{epochs: 1, batch_size: 2}}
"""


def _lc(name="c", element="C2", node="n2", output="y0", output_node="n2") -> str:
    return f"""\
name: "{name}"
kind: lc
elements:
  - {{name: C1, nodes: [n1, 0], c: 1.0e-9}}
  - {{name: "{element}", nodes: ["{node}", 0], c: 1.0e-9}}
  - {{name: CC12, nodes: [n1, "{node}"], c: 2.0e-10}}
  - {{name: L1, nodes: [n1, 0], l: 1.0e-6}}
  - {{name: L2, nodes: ["{node}", 0], l: 1.0e-6}}
  - {{name: IIN, nodes: [0, n1], waveform: {{type: sine, amplitude: 1.0e-3, frequency: 5.0e6}}}}
outputs: [{{name: "{output}", node: "{output_node}"}}]
targets: [{{type: sine, amplitude: 1.0e-8, frequency: 5.0e6}}]
time: {{tstop: 2.0e-7, tstep: 1.0e-9}}
"""


GRAPH_FIELDS = {"name": "spec.name", "element": "element name", "node": "node name",
                "model": "model name", "control": "control", "expr": "expression",
                "port_in": "input name", "port_out": "output name", "out_node": "output node"}
GRAPH_COMMANDS = [["describe", "spec.yaml"], ["export", "spec.yaml", "-o", "out.cir"],
                  ["simulate", "spec.yaml", "--input", "1", "--backend", "ngspice"],
                  ["grad", "spec.yaml", "--input", "1", "--target", "0.5", "--backend",
                   "ngspice"],
                  ["check", "spec.yaml"]]


def _payload(field: str, escape: str) -> str:
    base = {"name": "g", "element": "R1", "node": "mid", "model": "DA", "control": "VIN",
            "expr": "I=1e-3*v(out)", "port_in": "x", "port_out": "y", "out_node": "out"}[field]
    return base + escape + SHELL


CASES = []
# every graph field x every line break, each through one of the commands (rotating)
for f_index, field in enumerate(GRAPH_FIELDS):
    for b_index, (escape, code) in enumerate(BREAKS):
        command = GRAPH_COMMANDS[(f_index + b_index) % len(GRAPH_COMMANDS)]
        text = _graph(**{field: _payload(field, escape)})
        CASES.append(Case(f"graph-{field}-{code}-{command[0]}", command,
                          {"spec.yaml": text}, error=(code,)))

# a name that only ENDS in a line break (passed `re.match(...$)`, crashed ngspice)
for field in ("element", "node", "model", "port_out"):
    base = {"element": "R1", "node": "mid", "model": "DA", "port_out": "y"}[field]
    CASES.append(Case(f"graph-{field}-trailing-newline",
                      ["simulate", "spec.yaml", "--input", "1", "--backend", "ngspice"],
                      {"spec.yaml": _graph(**{field: base + "\\n"})}, error=("U+000A",)))

# layered: the spec name and the output names
for escape, code in BREAKS[:7]:
    CASES.append(Case(f"layered-output-name-{code}",
                      ["train", "spec.yaml", "--backend", "ngspice", "--out", "run"],
                      {"spec.yaml": _layered(output="y" + escape + SHELL)}, error=(code,)))
    CASES.append(Case(f"layered-name-{code}", ["export", "spec.yaml", "--input", "1,0"],
                      {"spec.yaml": _layered(name="l" + escape + SHELL)}, error=(code,)))

# lc: element, node, output name and output node
LC_COMMANDS = [["export", "spec.yaml", "-o", "out.cir"],
               ["simulate", "spec.yaml", "--backend", "ngspice"],
               ["grad", "spec.yaml", "--backend", "ngspice"], ["describe", "spec.yaml"]]
for index, field in enumerate(("element", "node", "output", "output_node", "name")):
    base = {"element": "C2", "node": "n2", "output": "y0", "output_node": "n2", "name": "c"}
    for b_index, (escape, code) in enumerate(BREAKS[:4]):
        values = {field: base[field] + escape + SHELL}
        if field == "node":
            values["output_node"] = values["node"]
        command = LC_COMMANDS[(index + b_index) % len(LC_COMMANDS)]
        CASES.append(Case(f"lc-{field}-{code}-{command[0]}", command,
                          {"spec.yaml": _lc(**values)}, error=(code,)))

# expressions: outside the grammar without any line break
EXPRESSIONS = {
    "semicolon-comment": ("I=v(out) ; shell touch {marker}", "';'"),
    "dollar-comment": ("I=v(out) $ x", "'$'"),
    "brace-shell": ("I={shell}", "unknown name 'shell'"),
    "unknown-function": ("I=system(1)", "function 'system'"),
    "quote": ("I=v(out)'", "\"'\""),
    "unbalanced": ("I=tanh(v(out)", "expected ')'"),
    "no-kind": ("v(out)", "must start with V= (a voltage source) or I="),
    "empty": ("I=", "empty"),
    "assignment-twice": ("I=1=2", "'='"),
    "probe-three-nodes": ("I=v(a,b,c)", "v() at character 3 takes one or two node names"),
    "probe-expression": ("I=v(1+1)", "takes one or two node names"),
    "deep-nesting": ("I=" + "(" * 100 + "1" + ")" * 100, "nested deeper than 64"),
    "long": ("I=" + "+".join(["1"] * 600), "characters long"),
    "backslash": ("I=v(out)\\\\x", "the character '\\\\' at character 9"),
    "non-ascii": ("I=v(out)*\\u00b5", "non-ASCII character U+00B5"),
}
for key, (expr, fragment) in EXPRESSIONS.items():
    CASES.append(Case(f"expr-{key}", ["export", "spec.yaml"], {"spec.yaml": _graph(expr=expr)},
                      error=(fragment,)))

# names outside the grammar without any line break
NAMES = {
    "element-space": ({"element": "R1 out 0 1"}, "U+0020"),
    "element-semicolon": ({"element": "R1;x"}, "invalid element name"),
    "node-dot": ({"node": "a.b"}, "invalid node name"),
    "node-long": ({"node": "n" * 200}, "200 characters"),
    "model-dash": ({"model": "D-A"}, "invalid model name"),
    "port-space": ({"port_out": "y out"}, "U+0020"),
    "port-leading-dot": ({"port_out": ".control"}, "invalid port name"),
    "port-star": ({"port_in": "*@x"}, "invalid port name"),
    "control-space": ({"control": "VIN 1"}, "U+0020"),
    "name-leading-dash": ({"name": "-g"}, "must be letters"),
}
for key, (fields, fragment) in NAMES.items():
    CASES.append(Case(f"name-{key}", ["export", "spec.yaml"], {"spec.yaml": _graph(**fields)},
                      error=(fragment,)))

# reserved names: a node or element the writer's nudge would be wired to
RESERVED = {
    "node-ynudge": ({"node": "ynudge0"}, "'ynudge0' is reserved"),
    "node-nudgebeta": ({"node": "nudgebeta"}, "'nudgebeta' is reserved"),
    "element-vnudge": ({"element": "RNUDGE0"}, "'RNUDGE0' is reserved"),
}
for key, (fields, fragment) in RESERVED.items():
    CASES.append(Case(f"reserved-{key}",
                      ["grad", "spec.yaml", "--input", "1", "--target", "0.5", "--backend",
                       "ngspice"], {"spec.yaml": _graph(**fields)}, error=(fragment,)))
CASES.append(Case("reserved-lc-flux-node", ["simulate", "spec.yaml"],
                  {"spec.yaml": _lc(node="flx_n1", output_node="flx_n1")},
                  error=("'flx_n1' is reserved",)))

# netlists given to `import`
NETLIST_HEAD = "t\nV1 a 0 DC 1\nR1 a b 1k\nR2 b 0 1k\n"
IMPORTS = {
    "b-unknown-function-unsafe": (NETLIST_HEAD + "B1 b 0 I=system(1)\n", ["--allow-unsafe"],
                                  "function 'system'"),
    "b-brace-identifier": (NETLIST_HEAD + "B1 b 0 I={system}\n.end\n", [],
                           "unknown identifier 'system'"),
    "output-name-injection": ("eqprop-hw t\n*@ eqprop-hw netlist 1\n*@ output y;.control b\n"
                              "V1 a 0 DC 1\nR1 a b 1k\nR2 b 0 1k\n.end\n", [],
                              "invalid port name"),
    "nudged-netlist": ("eqprop-hw t\n*@ eqprop-hw netlist 1\n*@ output y b\nV1 a 0 DC 1\n"
                       "R1 a b 1k\nR2 b 0 1k\nVNUDGE0 ynudge0 0 DC 0.5\n"
                       "RNUDGE0 b ynudge0 1000.0\n.end\n", [], "is reserved"),
    # a .control block is left out (never run; issue 21, tests/test_import_real.py); a
    # control command outside one is still refused, also with --allow-unsafe
    "control-command": (NETLIST_HEAD + "shell touch {marker}\n.end\n", [], "control command"),
    "control-command-unsafe": (NETLIST_HEAD + "shell touch {marker}\n.end\n",
                               ["--allow-unsafe"], "control command"),
}
for key, (text, extra, fragment) in IMPORTS.items():
    CASES.append(Case(f"import-{key}", ["import", "net.cir", "-o", "spec.yaml", *extra],
                      {"net.cir": text}, error=(fragment,) if fragment else ()))
