"""Regenerate ``netlists/*.cir`` from the bundled specs in ``circuits/``.

Usage: ``python tools/export_netlists.py [--check]``. With ``--check`` nothing is written and the
exit status says whether every checked-in netlist is current (the test suite runs the same
comparison). Each netlist is the spec's circuit with all inputs at 0 V and a ``.op`` analysis.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from eqprop_hw.circuit.build import build_circuit
from eqprop_hw.io.fileio import atomic_write_text
from eqprop_hw.circuit.netlist import write_netlist
from eqprop_hw.circuit.spec import load_spec

ROOT = Path(__file__).resolve().parents[1]


def expected_netlists(root: Path = ROOT) -> dict[Path, str]:
    """Netlist path -> the text it must hold, for every spec in ``circuits/``."""
    out = {}
    for spec_path in sorted((root / "circuits").glob("*.yaml")):
        circuit = build_circuit(load_spec(spec_path))
        out[root / "netlists" / f"{spec_path.stem}.cir"] = write_netlist(circuit)
    # LC networks (kind: lc): the .tran netlist with UIC, spec inputs, at rest (eqprop_hw.lc)
    from eqprop_hw.lc.model import build_model
    from eqprop_hw.lc.netlist import write_lc_netlist
    for spec_path in sorted((root / "circuits" / "lc").glob("*.yaml")):
        model = build_model(load_spec(spec_path))
        out[root / "netlists" / "lc" / f"{spec_path.stem}.cir"] = write_lc_netlist(model)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only compare, write nothing")
    args = parser.parse_args(argv)
    stale = []
    for path, text in expected_netlists().items():
        current = path.read_text() if path.exists() else None
        if current != text:
            stale.append(path)
            if not args.check:
                atomic_write_text(path, text)
    verb = "stale" if args.check else "rewritten"
    for path in stale:
        print(f"{verb}: {path.relative_to(ROOT)}", file=sys.stderr)
    return 1 if (args.check and stale) else 0


if __name__ == "__main__":
    raise SystemExit(main())
