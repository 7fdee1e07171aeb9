"""Circuits: singular structures and absurd values refused before anything is solved.

Every case runs a command users run (describe, export, simulate with either backend, grad,
import) and expects one line naming the file (or the bad command-line value) and the reason.
See eqprop_hw.circuit.graph (check_vcvs_loops, check_cccs_loops, check_dc_matrix, check_value_limits)
and docs/specs.md "Value limits".
"""

from hostile import Case

BASE = ["{name: VIN, nodes: [in, 0], dc: 0.0}", "{name: R1, nodes: [in, out], g: 1.0e-3}"]


def graph(*elements, extra="", models=""):
    """A graph spec text: VIN -> R1 -> out plus ``elements``."""
    lines = ["name: sanity", "kind: graph"]
    if models:
        lines.append(f"models: {models}")
    lines.append("elements:")
    lines += [f"  - {e}" for e in BASE + list(elements)]
    lines += ["inputs: [VIN]", "outputs: [out]", "trainable: []"]
    return "\n".join(lines) + "\n" + extra


LOAD = "{name: R2, nodes: [out, 0], g: 1.0e-3}"
DIVIDER = graph(LOAD)
DIODE = graph(LOAD, "{name: D1, nodes: [out, 0], model: DM}", models="{DM: {IS: 1.0e-14}}")

SINGULAR = {
    "vcvs-own-control": (graph("{name: E1, nodes: [out, 0, out, 0], gain: 1.0}"),
                         ("E1", "controlled by its own output")),
    "vcvs-own-control-reversed": (graph("{name: E1, nodes: [out, 0, 0, out], gain: 0.5}"),
                                  ("E1", "controlled by its own output")),
    "vcvs-follower-gain-minus-one": (
        graph(LOAD.replace("out, 0", "x, 0"), "{name: E1, nodes: [x, 0, in, x], gain: -1.0}"),
        ("E1", "loop gain 1")),
    "vcvs-chain-loop": (
        graph(LOAD, "{name: E1, nodes: [a, 0, b, 0], gain: 2.0}",
              "{name: E2, nodes: [b, 0, a, 0], gain: 0.5}", "{name: R3, nodes: [a, b], g: 1.0}"),
        ("E1, E2", "loop gain 1")),
    "vcvs-three-loop": (
        graph(LOAD, "{name: E1, nodes: [a, 0, b, 0], gain: 2.0}",
              "{name: E2, nodes: [b, 0, c, 0], gain: 4.0}",
              "{name: E3, nodes: [c, 0, a, 0], gain: 0.125}", "{name: R3, nodes: [a, c], g: 1.0}"),
        ("E1, E2, E3", "loop gain 1")),
    "cccs-own-control": (
        graph(LOAD, "{name: VS, nodes: [out, m], dc: 0.0}",
              "{name: F1, nodes: [m, 0], control: VS, gain: 1.0}"),
        ("F1", "VS", "current-controlled current sources")),
    "cccs-pair-loop": (
        graph(LOAD, "{name: VS1, nodes: [out, m1], dc: 0.0}", "{name: VS2, nodes: [out, m2], dc: 0.0}",
              "{name: F1, nodes: [m1, 0], control: VS2, gain: 2.0}",
              "{name: F2, nodes: [m2, 0], control: VS1, gain: 0.5}"),
        ("F1, F2", "loop gain 1")),
    "vccs-cancels-conductance": (graph("{name: G1, nodes: [0, out, out, 0], gain: 1.0e-3}"),
                                 ("G1", "singular")),
    "voltage-source-loop": (graph(LOAD, "{name: V2, nodes: [out, 0], dc: 1.0}",
                                  "{name: L1, nodes: [out, 0], l: 1.0e-6}"),
                            ("L1", "loop of voltage sources")),
    "current-source-cutset": (graph(LOAD, "{name: I1, nodes: [0, a], dc: 1.0e-3}",
                                    "{name: G1, nodes: [a, 0, out, 0], gain: 1.0e-3}"),
                              ("'a'", "floating")),
    "capacitor-cutset": (graph(LOAD, "{name: C1, nodes: [out, a], c: 1.0e-9}",
                               "{name: R3, nodes: [a, b], g: 1.0}"), ("'a'", "floating")),
}

COMMANDS = {
    "describe": ["describe", "spec.yaml"],
    "export": ["export", "spec.yaml"],
    "native": ["simulate", "spec.yaml", "--input", "0.5", "--backend", "native"],
    "ngspice": ["simulate", "spec.yaml", "--input", "0.5", "--backend", "ngspice"],
    "grad": ["grad", "spec.yaml", "--input", "0.5", "--target", "0.1", "--beta", "1e-4"],
}

CASES = []
for index, (name, (text, fragments)) in enumerate(SINGULAR.items()):
    for command in (("describe", "native", "ngspice") if index % 2 else ("export", "grad")):
        CASES.append(Case(f"{name}-{command}", COMMANDS[command], {"spec.yaml": text},
                          error=fragments))

ABSURD = {
    "denormal-conductance": (graph("{name: R2, nodes: [out, 0], g: 1.0e-320}"),
                             ("R2", "conductance", "at least 1e-30 S", "spec.yaml:6:")),
    "huge-conductance": (graph("{name: R2, nodes: [out, 0], g: 1.0e12}"),
                         ("R2", "at most 1e+09 S")),
    "huge-resistance": (graph("{name: R2, nodes: [out, 0], r: 1.0e40}"),
                        ("R2", "1/r", "at least 1e-30 S")),
    "huge-source": (graph(LOAD, "{name: V2, nodes: [a, 0], dc: 1.0e308}",
                          "{name: R3, nodes: [a, out], g: 1.0}"), ("V2", "1e+09 V")),
    "huge-current": (graph(LOAD, "{name: I2, nodes: [0, out], dc: -1.0e10}"),
                     ("I2", "1e+09 A")),
    "denormal-capacitance": (graph(LOAD, "{name: C1, nodes: [out, 0], c: 1.0e-310}"),
                             ("C1", "1e-30 F")),
    "huge-inductance": (graph(LOAD, "{name: L1, nodes: [out, a], l: 1.0e30}",
                              "{name: R3, nodes: [a, 0], g: 1.0}"), ("L1", "1e+09 H")),
    "huge-vcvs-gain": (graph(LOAD, "{name: E1, nodes: [a, 0, out, 0], gain: 1.0e15}",
                             "{name: R3, nodes: [a, 0], g: 1.0}"), ("E1", "gain", "1e+09")),
    "temp-below-absolute-zero": (graph(LOAD, extra="options: {temp: -300}\n"),
                                 ("options.temp", "above -273.15")),
    "temp-at-absolute-zero": (graph(LOAD, extra="options: {temp: -273.15}\n"),
                              ("options.temp", "above -273.15")),
    "tnom-absurd": (graph(LOAD, extra="options: {tnom: 1.0e6}\n"), ("options.tnom", "1000")),
    "gmin-huge": (graph(LOAD, extra="options: {gmin: 10}\n"), ("options.gmin", "0.001")),
    "gmin-denormal": (graph(LOAD, extra="options: {gmin: 1.0e-320}\n"), ("options.gmin",)),
    "reltol-huge": (graph(LOAD, extra="options: {reltol: 2}\n"), ("options.reltol", "0.1")),
    "itl1-huge": (graph(LOAD, extra="options: {itl1: 1.0e12}\n"), ("options.itl1",)),
    "diode-is-huge": (graph(LOAD, "{name: D1, nodes: [out, 0], model: DM}",
                            models="{DM: {IS: 5.0}}"), ("models.DM.IS", "at most 1 A")),
    "diode-n-huge": (graph(LOAD, "{name: D1, nodes: [out, 0], model: DM}",
                           models="{DM: {N: 1000}}"), ("models.DM.N", "100")),
    "diode-rs-denormal": (graph(LOAD, "{name: D1, nodes: [out, 0], model: DM}",
                                models="{DM: {RS: 1.0e-310}}"), ("DM", "RS")),
    "diode-area-huge": (graph(LOAD, "{name: D1, nodes: [out, 0], model: DM, area: 1.0e20}",
                              models="{DM: {IS: 1.0e-14}}"), ("D1", "IS*area")),
}
for index, (name, (text, fragments)) in enumerate(ABSURD.items()):
    command = ("describe", "export", "native", "ngspice", "grad")[index % 5]
    CASES.append(Case(f"{name}-{command}", COMMANDS[command], {"spec.yaml": text},
                      error=fragments))

LC = """\
name: lc_bad
kind: lc
elements:
  - {name: C1, nodes: [n1, 0], c: 1.0e-320}
  - {name: L1, nodes: [n1, 0], l: 1.0e-6}
  - {name: IIN, nodes: [0, n1], waveform: {type: dc, value: 1.0e-3}}
outputs: [n1]
time: {tstop: 1.0e-6, tstep: 1.0e-9}
"""

CASES += [
    # command-line values: no file to name
    Case("input-1e308-native", ["simulate", "spec.yaml", "--input", "1e308"],
         {"spec.yaml": DIODE}, error=("input 'VIN'", "1e+308", "1e+09 V"), names=""),
    Case("input-1e308-ngspice", ["simulate", "spec.yaml", "--input", "-1e308", "--backend",
                                 "ngspice"], {"spec.yaml": DIODE}, error=("input 'VIN'",),
         names=""),
    Case("input-huge-export", ["export", "spec.yaml", "--input", "2e9"], {"spec.yaml": DIODE},
         error=("VIN", "2e+09 V"), names=""),
    Case("target-huge-grad", ["grad", "spec.yaml", "--input", "0.5", "--target", "1e300",
                              "--beta", "1e-4"], {"spec.yaml": DIODE},
         error=("target for output 'out'", "1e+09 V"), names=""),
    Case("target-huge-export", ["export", "spec.yaml", "--input", "0.5", "--target", "-5e9",
                                "--beta", "1e-4"], {"spec.yaml": DIODE},
         error=("target for output 'out'",), names=""),
    Case("lc-denormal-capacitance", ["describe", "lc.yaml"], {"lc.yaml": LC},
         error=("C1", "1e-30 F", ":4:")),
    # SPICE import
    Case("import-denormal-resistor", ["import", "a.cir"],
         {"a.cir": "t\nV1 in 0 DC 1\nR1 in 0 1e40\n.end\n"}, error=("R1", "1e-30 S")),
    Case("import-temp-below-zero", ["import", "a.cir"],
         {"a.cir": "t\nV1 in 0 DC 1\nR1 in 0 1k\n.options temp=-300\n.end\n"},
         error=("temp", "-273.15")),
    Case("import-vcvs-huge-gain", ["import", "a.cir"],
         {"a.cir": "t\nV1 in 0 DC 1\nR1 in out 1k\nE1 out 0 in 0 1e300\n.end\n"},
         error=("E1", "gain", "1e+09")),
    Case("vcvs-own-control-simulate-default-backend", ["simulate", "a.yaml", "--input", "1"],
         {"a.yaml": graph("{name: E1, nodes: [out, 0, out, 0], gain: 1.0}")},
         error=("E1", "controlled by its own output")),
    Case("import-lib-section-without-endl", ["import", "a.cir"],
         {"a.cir": "t\nV1 in 0 DC 1\n.lib m.lib tt\nR2 out 0 1k\n.end\n",
          "m.lib": "* models\n.lib tt\nR1 in out 1k\n.lib ff\nR1 in out 2k\n.endl\n"},
         error=("a.cir:3", "m.lib:2", "section 'tt' has no .endl", "line 4")),
    Case("import-lib-definition-without-endl", ["import", "a.cir"],
         {"a.cir": "t\nV1 in 0 DC 1\nR1 in out 1k\n.lib tt\nR3 out 0 1k\n.end\n"},
         error=("a.cir:4", "section 'tt' has no .endl")),
    Case("import-lib-section-missing", ["import", "a.cir"],
         {"a.cir": "t\nV1 in 0 DC 1\n.lib m.lib ss\n.end\n",
          "m.lib": ".lib tt\nR1 in 0 1k\n.endl\n"},
         error=("a.cir:3", "section 'ss' not found")),
    Case("import-lib-section-twice", ["import", "a.cir"],
         {"a.cir": "t\nV1 in 0 DC 1\n.lib m.lib tt\n.end\n",
          "m.lib": ".lib tt\nR1 in 0 1k\n.endl\n.lib tt\nR1 in 0 2k\n.endl\n"},
         error=("a.cir:3", "defined twice", "lines 1 and 4")),
    Case("import-lib-endl-other-name", ["import", "a.cir"],
         {"a.cir": "t\nV1 in 0 DC 1\n.lib m.lib tt\n.end\n",
          "m.lib": ".lib tt\nR1 in 0 1k\n.endl ff\n"},
         error=("a.cir:3", ".endl ff closes section 'tt'")),
    Case("import-control-without-endc-unsafe", ["import", "a.cir", "--allow-unsafe"],
         {"a.cir": "t\nV1 in 0 DC 1\nR1 in 0 1k\n.control\nrun\n"},
         error=("a.cir:4", "no .endc")),
]
