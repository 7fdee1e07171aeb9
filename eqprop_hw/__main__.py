"""``python -m eqprop_hw`` runs the command-line interface."""

from eqprop_hw.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
