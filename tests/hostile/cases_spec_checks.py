"""Spec-level checks the fourth hunt left open: names given twice and numbers beyond the limits
the simulator applies, in a spec or in an imported netlist's ``*@`` annotations.

A netlist with ``*@ output y out`` twice imported, a YAML spec listed two outputs ``y``, an
input ``*@ input x VIN:1e300`` imported and was refused only at ``simulate`` ("beyond the limit
of 1e+09 V", naming no line). Each is now refused when the file is read, with one line naming
the file, the line of the second occurrence (or of the number) and the reason; nothing is
written (``-o``).
"""

from hostile import DIVIDER, Case

NET = """\
* divider
*@ input x VIN:1
*@ output y out
VIN in 0 DC 1
VB b 0 DC 0.5
R1 in out 1k
R2 out 0 1k
R3 b out 2k
.end
"""


def line_of(text: str, fragment: str) -> int:
    """1-based number of the one line of ``text`` holding ``fragment``."""
    lines = [k for k, line in enumerate(text.splitlines(), 1) if fragment in line]
    assert len(lines) == 1, (fragment, lines)
    return lines[0]


def netlist(*meta: str) -> str:
    """NET with its ``*@`` lines replaced by ``meta`` (line 2 on)."""
    body = [line for line in NET.splitlines() if not line.startswith("*@")]
    return "\n".join(body[:1] + list(meta) + body[1:]) + "\n"


IMPORTS = {
    # the hunt's two findings
    "output-twice": (("*@ input x VIN:1", "*@ output y out", "*@ output y in"), 4,
                     "*@ output y: output name 'y' is given twice (first at line 3)"),
    "gain-1e300": (("*@ input x VIN:1e300", "*@ output y out"), 2,
                   "*@ input x: |gain| of VIN (V or A per unit of input) 1e+300 is out of "
                   "range: it must be at most 1e+09"),
    # the same kind
    "input-twice": (("*@ input x VIN:1", "*@ input x VB:1", "*@ output y out"), 3,
                    "*@ input x: input name 'x' is given twice (first at line 2)"),
    "source-in-two-inputs": (("*@ input x VIN:1", "*@ input z VB:1 VIN:2", "*@ output y out"),
                             3, "*@ input z: source 'VIN' is given twice (first at line 2) "
                                "(a source is driven by one input)"),
    "trainable-twice": (("*@ input x VIN:1", "*@ output y out", "*@ trainable R1 R*",
                         "*@ trainable r1"), 5,
                        "*@ trainable: pattern 'R1' is given twice (first at line 4)"),
    "gain-negative-huge": (("*@ input x VIN:-2e9", "*@ output y out"), 2,
                           "*@ input x: |gain| of VIN (V or A per unit of input) 2e+09 is out "
                           "of range"),
    "gain-with-scale": (("*@ input x VIN:1 VB:5e3meg", "*@ output y out"), 2,
                        "|gain| of VB (V or A per unit of input) 5e+09 is out of range"),
    # port names: refused at their line (the spec check after the import named no line)
    "input-port-name": (("*@ input x;y VIN:1", "*@ output y out"), 2,
                        "*@ input: invalid port name 'x;y' (it is not valid"),
    "output-port-name-long": (("*@ input x VIN:1", "*@ output " + "y" * 100 + " out"), 3,
                              "*@ output: invalid port name 'yyyy", "(100 characters) (it is "
                              "100 characters long; a port name has at most 64)"),
}

CASES = [Case(f"spec-checks-import-{key}", ["import", "net.cir", "-o", "spec.yaml"],
              {"net.cir": netlist(*meta)}, error=(f"net.cir:{line}: ", *fragments))
         for key, (meta, line, *fragments) in IMPORTS.items()]

# -- graph specs ------------------------------------------------------------------------------
#: The divider of :data:`hostile.DIVIDER` with a second source VB (through R3 to ``out``).
GRAPH = DIVIDER.replace("  - {name: R2, nodes: [out, 0], g: 1.0e-3}\n",
                    "  - {name: R2, nodes: [out, 0], g: 1.0e-3}\n"
                    "  - {name: VB, nodes: [b, 0], dc: 0.5}\n"
                    "  - {name: R3, nodes: [b, out], g: 1.0e-3}\n")


def graph(old: str, new: str) -> str:
    """GRAPH with the line ``old`` (exactly once) replaced by ``new``."""
    assert GRAPH.count(old) == 1, old
    return GRAPH.replace(old, new)


OUTPUTS = "outputs: [{name: y, node: out}]\n"
INPUTS = "inputs: [VIN]\n"
SPECS = {
    "graph-output-twice": (graph(OUTPUTS, "outputs:\n  - {name: y, node: out}\n"
                                          "  - {name: y, node: b}\n"),
                           "  - {name: y, node: b}",
                           "outputs[1]: output name 'y' is given twice (first at outputs[0])"),
    "graph-input-twice": (graph(INPUTS, "inputs:\n  - VIN\n  - vin\n"), "  - vin",
                          "inputs[1]: input name 'VIN' is given twice (first at inputs[0])"),
    "graph-port-twice": (graph(INPUTS, "inputs:\n  - {name: x, sources: {VIN: 1.0}}\n"
                                       "  - {name: x, sources: {VB: 1.0}}\n"),
                         "{VB: 1.0}", "inputs[1]: input name 'x' is given twice"),
    "graph-source-in-two-inputs": (graph(INPUTS, "inputs:\n  - {name: x, sources: {VIN: 1.0}}\n"
                                                 "  - {name: z, sources: {VB: 1.0, VIN: 2.0}}\n"),
                                   "{VB: 1.0, VIN: 2.0}",
                                   "inputs[1].sources: source 'VIN' is given twice (first at "
                                   "inputs[0].sources)"),
    "graph-source-case-twice": (graph(INPUTS, "inputs:\n  - name: x\n    sources:\n"
                                              "      VIN: 1.0\n      vin: -1.0\n"),
                                "      vin: -1.0", "source 'VIN' is given twice"),
    "graph-trainable-twice": (graph(INPUTS, INPUTS + "trainable:\n  - R*\n  - r*\n"), "  - r*",
                              "trainable[1]: name or pattern 'R*' is given twice (first at "
                              "trainable[0])"),
    "graph-model-case-twice": (graph("elements:\n", "models:\n  DX: {IS: 1.0e-14}\n"
                                                    "  dx: {IS: 2.0e-14}\nelements:\n"),
                               "  dx: {IS", "models.dx: model name 'DX' is given twice (model "
                                            "names are case-insensitive)"),
    # the integer 5 and the string '5' are two YAML keys but one node
    "graph-node-capacitance-twice": (graph(OUTPUTS, OUTPUTS + "node_capacitance:\n"
                                                    "  5: 1.0e-12\n  '5': 2.0e-12\n"),
                                     "  '5': 2.0e-12", "node_capacitance['5']: node '5' is "
                                                       "given twice (first at "
                                                       "node_capacitance[5])"),
    "graph-gain-1e300": (graph(INPUTS, "inputs:\n  - {name: x, sources: {VIN: 1.0e+300}}\n"),
                         "{VIN: 1.0e+300}", "inputs[0].sources.VIN: |gain| (V or A per unit "
                                            "of input) 1e+300 is out of range"),
    "graph-diode-area": (graph("elements:\n", "models:\n  DX: {IS: 1.0e-14}\nelements:\n"
                                              "  - {name: D1, nodes: [out, 0], model: DX, "
                                              "area: 1.0e+300}\n"),
                         "area: 1.0e+300", "elements[0] (D1): saturation current IS*area "
                                           "(IS = 1e-14 A, area = 1e+300) 1e+286 A is out of "
                                           "range: it must be at most 1 A"),
    "graph-diode-tnom": (graph("elements:\n", "models:\n  DX: {IS: 1.0e-14, TNOM: 1.0e+300}\n"
                                              "elements:\n"),
                         "TNOM: 1.0e+300", "models.DX.TNOM (degC) 1e+300 is out of range: it "
                                           "must be at most 1000"),
    "graph-node-capacitance-huge": (graph(OUTPUTS, OUTPUTS + "node_capacitance: 1.0e+300\n"),
                                    "node_capacitance: 1.0e+300",
                                    "node_capacitance 1e+300 F is out of range"),
}

# -- layered specs ----------------------------------------------------------------------------
LAYERED = """\
name: net
kind: layered
layers: [2, 3, 2]
inputs: {doubling: true, gain: 5.0, bias: 1.0}
conductance: {min: 1.0e-8, max: 1.0e-3, init: {distribution: uniform, low: 1.0e-6, high: 2.0e-5}}
activation: {type: rectify, model: {IS: 1.0e-14, N: 1.0}, high: 0.0, low: 0.0}
"""


def layered(old: str, new: str, extra: str = "") -> str:
    """LAYERED with ``old`` (exactly once, unless empty) replaced by ``new``, then ``extra``."""
    assert not old or LAYERED.count(old) == 1, old
    return (LAYERED.replace(old, new) if old else LAYERED) + extra


SPECS.update({
    "layered-output-names-twice": (layered("", "", "outputs: {names: [a, a]}\n"),
                                   "names: [a, a]", "outputs.names[1]: output name 'a' is "
                                                    "given twice (first at outputs.names[0])"),
    "layered-input-gain": (layered("gain: 5.0", "gain: 1.0e+300"), "gain: 1.0e+300",
                           "inputs.gain (V per unit of input) 1e+300 is out of range: it must "
                           "be at most 1e+09"),
    "layered-bias": (layered("bias: 1.0", "bias: 2.0e+9"), "bias: 2.0e+9",
                     "inputs.bias 2e+09 V is out of range"),
    "layered-activation-high": (layered("high: 0.0", "high: -1.0e+300"), "high: -1.0e+300",
                                "activation.high magnitude 1e+300 V is out of range"),
    "layered-amplifier-gain": (layered("", "", "amplifiers: {gain: 1.0e+12}\n"),
                               "amplifiers:", "amplifiers.gain 1e+12 is out of range"),
    "layered-wires": (layered("", "", "wires: {row_conductance: 1.0e+300, "
                                      "column_conductance: 1.0}\n"), "wires:",
                      "wires.row_conductance 1e+300 S is out of range"),
    "layered-conductance-max": (layered("max: 1.0e-3", "max: 1.0e+300"), "max: 1.0e+300",
                                "conductance.max 1e+300 S is out of range"),
    "layered-glorot-scale": (layered("{distribution: uniform, low: 1.0e-6, high: 2.0e-5}",
                                     "{distribution: glorot, scale: 1.0e+308}"),
                             "glorot", "conductance.init.scale 1e+308 S is out of range"),
    "layered-target-high": (layered("", "", "dataset: {name: xor, target_high: 1.0e+300}\n"),
                            "dataset:", "dataset.target_high magnitude 1e+300 V is out of "
                                        "range"),
    "layered-adc-range": (layered("", "", "devices:\n  measurement:\n    adc_bits: 8\n"
                                          "    adc_range: [-1.0e+300, 1.0]\n"),
                          "adc_range:", "devices.measurement.adc_range[0] magnitude 1e+300 V "
                                        "is out of range"),
    "layered-adc-ranges": (layered("", "", "devices:\n  measurement:\n    adc_ranges:\n"
                                           "      'out*': [0.0, 1.0e+300]\n"),
                           "'out*'", "devices.measurement.adc_ranges['out*'][1] magnitude "
                                     "1e+300 V is out of range"),
    "layered-amplifier-offset": (layered("", "", "devices:\n  amplifier: {offset_std: "
                                                 "1.0e+300}\n"), "offset_std",
                                 "devices.amplifier.offset_std 1e+300 V is out of range"),
    # a nudge conductance of 1e300 S trained 'fine' (the gradient estimate dV / beta is zero)
    "layered-beta": (layered("", "", "training: {beta: 1.0e+300}\n"), "beta:",
                     "training.beta (the nudge conductance, S) 1e+300 is out of range: it "
                     "must be at most 1e+09"),
    "layered-layer-beta": (layered("", "", "training: {layer_beta: [1.0e-6, 1.0e-40]}\n"),
                           "layer_beta:", "training.layer_beta[1] (S) 1e-40 is out of range: "
                                          "it must be at least 1e-30"),
    "layered-twin-capacitance": (layered("", "", "training:\n  twin: {capacitance: 1.0e+300}\n"),
                                 "capacitance:", "training.twin.capacitance 1e+300 F is out of "
                                                 "range"),
})

# -- lc specs ---------------------------------------------------------------------------------
LC = """\
name: lc
kind: lc
elements:
  - {name: C1, nodes: [n1, 0], c: 1.0e-9}
  - {name: C2, nodes: [n2, 0], c: 1.0e-9}
  - {name: CC, nodes: [n1, n2], c: 2.0e-10}
  - {name: L1, nodes: [n1, 0], l: 1.0e-6}
  - {name: L2, nodes: [n2, 0], l: 1.0e-6}
  - {name: IIN, nodes: [0, n1], waveform: {type: sine, amplitude: 1.0e-3, frequency: 5.0e6}}
  - {name: IB, nodes: [0, n2], waveform: {type: dc, value: 1.0e-3}}
inputs: [IIN]
outputs: [{name: y0, node: n2}]
time: {tstop: 1.0e-6, tstep: 1.0e-9}
"""


def lc(old: str, new: str) -> str:
    assert LC.count(old) == 1, old
    return LC.replace(old, new)


SPECS.update({
    "lc-input-twice": (lc("inputs: [IIN]", "inputs:\n  - IIN\n  - iin"), "  - iin",
                       "inputs[1]: input 'IIN' is given twice (first at inputs[0])"),
    "lc-output-twice": (lc("outputs: [{name: y0, node: n2}]",
                           "outputs:\n  - {name: y0, node: n2}\n  - {name: y0, element: L1}"),
                        "element: L1", "outputs[1]: output name 'y0' is given twice"),
    "lc-amplitude": (lc("amplitude: 1.0e-3", "amplitude: 1.0e+300"), "amplitude: 1.0e+300",
                     "elements[5] (IIN).waveform.amplitude magnitude 1e+300 is out of range"),
    "lc-dc-value": (lc("value: 1.0e-3", "value: -5.0e+9"), "value: -5.0e+9",
                    "elements[6] (IB).waveform.value magnitude 5e+09 is out of range"),
    "lc-dataset-amplitude": (LC + "dataset: {name: sequence, amplitude: 1.0e+300}\n",
                             "dataset:", "dataset.amplitude 1e+300 A is out of range"),
    "lc-dataset-inductance": (LC + "dataset: {name: duffing, inductance: 1.0e+300}\n",
                              "dataset:", "dataset.inductance 1e+300 H is out of range"),
    "lc-target-pwl": (LC + "targets:\n  - {type: pwl, points: [[0.0, 0.0], [1.0e-7, 1.0e+300]]}\n",
                      "points:", "targets[0].points[1][1] magnitude 1e+300 is out of range"),
})

for key, (text, fragment, error) in SPECS.items():
    CASES.append(Case(f"spec-checks-{key}", ["export", "t.yaml", "-o", "t.cir"],
                      {"t.yaml": text}, error=(f"t.yaml:{line_of(text, fragment)}: ", error)))

# a setting given on the command line passes the same bounds, named instead of a line
CASES.append(Case("spec-checks-set-beta", ["train", "t.yaml", "--set", "training.beta=1e300",
                                           "--out", "run", "--no-plots"],
                  {"t.yaml": LAYERED + "dataset: {name: xor}\n"},
                  error=("t.yaml: --set training.beta=1e300: training.beta (the nudge "
                         "conductance, S) 1e+300 is out of range",)))
