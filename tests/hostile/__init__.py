"""The hostile-input corpus: files and commands from someone else that must be refused cleanly.

Each ``cases_<class>.py`` module in this folder defines ``CASES``, a list of :class:`Case`.
``tests/test_hostile.py`` runs every case the same way (:func:`run_case`):

1. a fresh folder is made and the case's ``files`` are written into it (text or bytes; a
   callable gets the folder's path and writes whatever it wants, e.g. a forged NPZ);
   ``{dir}`` and ``{marker}`` in text files and in ``argv`` become the folder and the path of a
   marker file that an injected command would create;
2. every file below the folder is snapshotted (bytes);
3. ``eqprop-hw ARGV`` runs in-process with the folder as working directory;
4. the case passes when: the exit status is ``status``; nothing is printed on stdout; stderr is
   ONE line ``eqprop-hw: error: ...`` holding every fragment of ``error`` (and the name of the
   file in ``names``, default: the first file given); the marker file does not exist; and no
   file of the folder was created, removed or changed.
"""

from __future__ import annotations

import contextlib
import io
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Union

FileContent = Union[str, bytes, Callable[[Path], None]]


@dataclass
class Case:
    """One hostile input and the refusal expected of it.

    Attributes
    ----------
    id : str
        Short unique name (the pytest id).
    argv : list of str
        The command line after ``eqprop-hw``; ``{dir}`` / ``{marker}`` are substituted.
    files : dict of str to str, bytes or callable
        Files to create in the case folder (relative names; folders are made as needed). Text
        gets ``{dir}`` / ``{marker}`` substituted; bytes are written as they are; a callable
        is called with the path to write.
    error : tuple of str
        Fragments that the single error line must contain.
    status : int
        Expected exit status (2: bad input).
    names : str or None
        A file name the error line must contain (default: the first of ``files``; ``""`` for
        none, e.g. a bad command-line value).
    """

    id: str
    argv: list
    files: dict = field(default_factory=dict)
    error: tuple = ()
    status: int = 2
    names: str | None = None


#: A small valid graph spec (a divider) the cases of several classes start from.
DIVIDER = """\
name: divider
kind: graph
elements:
  - {name: VIN, nodes: [in, 0], dc: 1.0}
  - {name: R1, nodes: [in, out], g: 1.0e-3}
  - {name: R2, nodes: [out, 0], g: 1.0e-3}
inputs: [VIN]
outputs: [{name: y, node: out}]
"""


def run_in(argv, folder: Path) -> tuple[int, str, str]:
    """``eqprop-hw ARGV`` in-process with ``folder`` as working directory: (exit status,
    stdout, stderr)."""
    from eqprop_hw.cli import main
    out, err = io.StringIO(), io.StringIO()
    cwd = os.getcwd()
    try:
        os.chdir(folder)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main([str(a) for a in argv])
    finally:
        os.chdir(cwd)
    return code, out.getvalue(), err.getvalue()


def _substitute(text: str, folder: Path, marker: Path) -> str:
    return text.replace("{dir}", str(folder)).replace("{marker}", str(marker))


def snapshot(folder: Path) -> dict:
    """Every file below ``folder``: relative path -> bytes."""
    return {str(p.relative_to(folder)): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def prepare(case: Case, root: Path) -> tuple[Path, Path]:
    """Write the case's files into ``root/case``; returns (folder, marker path)."""
    folder = root / "case"
    folder.mkdir(parents=True, exist_ok=True)
    marker = root / "MARKER"
    for name, content in case.files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if callable(content):
            content(path)
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(_substitute(content, folder, marker), encoding="utf-8")
    return folder, marker


def run_case(case: Case, root: Path) -> str:
    """Run one case (see the module docstring); returns the error line. Raises AssertionError."""
    folder, marker = prepare(case, root)
    before = snapshot(folder)
    argv = [_substitute(str(a), folder, marker) for a in case.argv]
    code, out, err = run_in(argv, folder)
    assert not marker.exists(), f"{case.id}: an injected command ran (marker file written)"
    assert code == case.status, (case.id, code, err[-2000:])
    assert out == "", (case.id, out[:2000])
    lines = err.splitlines()
    assert len(lines) == 1, (case.id, err[-2000:])
    line = lines[0]
    assert line.startswith("eqprop-hw: error: "), (case.id, line)
    assert len(line) <= 1000, (case.id, f"error line of {len(line)} characters", line[:300])
    for fragment in case.error:
        assert fragment in line, (case.id, fragment, line)
    names = case.names if case.names is not None else next(iter(case.files), "")
    if names:
        assert names in line, (case.id, f"error line does not name {names}", line)
    after = snapshot(folder)
    assert sorted(after) == sorted(before), (case.id, "files created or removed",
                                             sorted(set(after) ^ set(before)))
    changed = [name for name in before if before[name] != after[name]]
    assert not changed, (case.id, "files changed", changed)
    return line
