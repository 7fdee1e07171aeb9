"""What ``describe``, ``simulate``, ``grad`` and ``predict`` say about a transistor twin spec.

A spec with ``training.twin.mosfet`` (:mod:`eqprop_hw.twin.mosfet`) describes its network with
resistors: each trainable ``R`` holds the *zero-bias conductance* ``g = KP W / L (V_G - VTO -
bulk)`` of the MOSFET that the edge becomes in ``train --twin`` and ``export --twin``. Every
other command acts on those resistors, i.e. on the linearisation of the transistor network at
zero terminal bias (a transistor's conductance falls as its terminals rise, and it saturates
or turns off; the resistors do neither). :func:`annotate` makes that visible:

* ``describe`` adds a ``twin`` line and the JSON key ``twin_mosfet`` (the edge's model, size,
  bulk rail, ``beta = KP W / L`` and what the resistors stand for);
* ``simulate``, ``grad`` and ``predict`` add one stderr note (in both output modes) and the
  JSON key ``linearised`` saying that they acted on the resistor linearisation.

Specs without ``training.twin.mosfet`` are left exactly as they were (no line, note or key).

Examples
--------
>>> import eqprop_hw
>>> from types import SimpleNamespace
>>> net = eqprop_hw.load(CIRCUITS / "xor_twin_mos.yaml")
>>> report = net.report("describe", SimpleNamespace())
>>> report.data["twin_mosfet"]["beta"], report.lines[-1][:44]
(1e-05, 'twin       training.twin.mosfet: in train --')
"""

from __future__ import annotations

from eqprop_hw.circuit.spec_twin import mosfet_section

#: Commands whose output :func:`annotate` completes for a transistor twin spec.
LINEARISED_COMMANDS = ("describe", "simulate", "grad", "predict")


def linearised_text(command: str) -> str:
    """The one-line statement of what ``command`` acted on (no file name)."""
    return (f"training.twin.mosfet: {command} acts on the spec's resistor network, each "
            "trainable R the zero-bias conductance g = KP W/L (V_G - VTO - bulk) of its MOSFET "
            "edge (the linearisation at zero terminal bias); the transistor network itself "
            "runs in 'train --twin' and 'export --twin'")


def annotate(report, command: str, spec) -> None:
    """Add to ``report`` (a :class:`~eqprop_hw.networks.base.Report` of ``command``) what the
    command acted on, when ``spec`` has ``training.twin.mosfet``; otherwise leave it as it is.
    """
    section = mosfet_section(spec)
    if section is None or command not in LINEARISED_COMMANDS:
        return
    if command == "describe":
        from eqprop_hw.twin.mos_train import mosfet_edge_from
        model = section["model"]
        beta = mosfet_edge_from(spec).beta
        report.data["twin_mosfet"] = {
            "model": dict(model), "w": section["w"], "l": section["l"], "bulk": section["bulk"],
            "beta": beta,
            "trainable_values": "zero-bias conductances g = beta (V_G - VTO - bulk) (S) of "
                                "the MOSFET edges: their resistor linearisation"}
        report.lines.append(
            f"twin       training.twin.mosfet: in train --twin and export --twin every "
            f"trainable R is an NMOS edge (KP W/L = {beta:.4g} S/V, VTO "
            f"{float(model.get('VTO', 0.0)):g} V, bulk {section['bulk']:g} V); its value "
            "here is the zero-bias conductance, the resistor linearisation that simulate, "
            "grad and predict act on")
        return
    report.data["linearised"] = linearised_text(command)
    report.notes.append(f"eqprop-hw: note: {spec.source}: {linearised_text(command)}")


__all__ = ["LINEARISED_COMMANDS", "annotate", "linearised_text"]
