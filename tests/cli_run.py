"""The CLI run in-process for tests: ``run(capsys, *argv) -> (exit code, stdout, stderr)``."""

from __future__ import annotations

from eqprop_hw.cli import main


def run(capsys, *argv) -> tuple[int, str, str]:
    """``main(argv)`` with every argument made a string; its exit code and captured output."""
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err
