"""The ``ngspice`` program run on a netlist (:func:`run_ngspice_batch`) and its raw output
files read (:func:`read_raw_file`, :func:`read_raw_plots`): independent of the shared library,
for cross-checks.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from eqprop_hw.backends.ngspice.messages import INSTALL_HINT, classify_message
from eqprop_hw.errors import BackendError, ConvergenceError


# -- the ngspice program and its raw files -----------------------------------------------------
def _raw_aliases(vectors: dict) -> dict:
    """Add ``node`` for every ``v(node)`` so raw-file and shared-library names agree."""
    for name in list(vectors):
        match = re.fullmatch(r"v\(([^(),]+)\)", name)
        if match and match.group(1) not in vectors:
            vectors[match.group(1)] = vectors[name]
    return vectors


def read_raw_plots(path: str | Path) -> list[tuple[str, dict]]:
    """Every plot of a SPICE raw file (ASCII or binary, as ngspice writes them).

    Parameters
    ----------
    path : str or Path
        The raw file (``ngspice -b -r FILE``; ``SPICE_ASCIIRAWFILE=1`` selects ASCII).

    Returns
    -------
    list of (str, dict)
        ``(plot name, vectors)`` per plot in file order; ``vectors`` maps the lower-case
        vector name (``v(out0)``, ``i(v1)``, ``time``) to a float (or complex) ndarray of
        length ``No. Points``; node voltages are also available under the bare node name
        (``out0``). Units are SI (V, A, s, Hz).

    Raises
    ------
    BackendError
        If the file is missing or malformed.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise BackendError(f"cannot read ngspice raw file {path}: {error}") from None
    plots = []
    position = 0
    while position < len(data):
        parsed = _read_header(data, position, path)
        if parsed is None:
            return plots
        header, names, position = parsed
        table, position = _read_table(data, position, header, path)
        vectors = {name: np.array(table[:, k]) for k, name in enumerate(names)}
        plots.append((header.get("plotname", ""), _raw_aliases(vectors)))
    return plots


def _read_header(data: bytes, position: int, path: Path):
    """The header of the plot starting at byte ``position``: ``(header fields, lower-case
    vector names, position of its data)``, or None at the end of the file."""
    header = {}
    names: list[str] = []
    while True:
        end = data.find(b"\n", position)
        if end < 0:
            if header:
                raise BackendError(f"{path}: raw file ends inside a header")
            return None
        line = data[position:end].decode("latin-1").rstrip("\r")
        position = end + 1
        if not line.strip() and not header:
            continue
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key == "variables":
            count = int(header.get("no. variables", "0"))
            for _ in range(count):
                end = data.find(b"\n", position)
                fields = data[position:end].decode("latin-1").split()
                position = end + 1
                if len(fields) < 2:
                    raise BackendError(f"{path}: malformed variable line {fields!r}")
                names.append(fields[1].lower())
            continue
        if key in ("values", "binary"):
            header["format"] = key
            return header, names, position
        header[key] = value.strip()


def _read_table(data: bytes, position: int, header: dict, path: Path):
    """The (points x variables) values of the plot whose data start at byte ``position``
    (binary little-endian float64, or ASCII), and the position after them."""
    try:
        n_vars = int(header["no. variables"])
        n_points = int(header["no. points"])
    except (KeyError, ValueError):
        raise BackendError(f"{path}: raw file header lacks 'No. Variables'/'No. Points'") \
            from None
    complex_data = "complex" in header.get("flags", "").lower()
    if header["format"] == "binary":
        width = n_vars * (16 if complex_data else 8)
        chunk = data[position:position + width * n_points]
        if len(chunk) != width * n_points:
            raise BackendError(f"{path}: binary raw data is truncated")
        position += width * n_points
        array = np.frombuffer(chunk, dtype="<f8")
        if complex_data:
            array = array[0::2] + 1j * array[1::2]
        table = array.reshape(n_points, n_vars)
    else:
        table = np.zeros((n_points, n_vars), dtype=complex if complex_data else float)
        tokens = []
        needed = n_points * (n_vars + 1)
        while len(tokens) < needed and position < len(data):
            end = data.find(b"\n", position)
            end = len(data) if end < 0 else end
            tokens.extend(data[position:end].decode("latin-1").split())
            position = end + 1
        if len(tokens) < needed:
            raise BackendError(f"{path}: ASCII raw data is truncated")
        for point in range(n_points):
            row = tokens[point * (n_vars + 1) + 1:(point + 1) * (n_vars + 1)]
            for k, token in enumerate(row):
                if complex_data:
                    re_part, _, im_part = token.partition(",")
                    table[point, k] = complex(float(re_part), float(im_part or 0.0))
                else:
                    table[point, k] = float(token)
    return table, position


def read_raw_file(path: str | Path, plot: int = -1) -> dict[str, np.ndarray]:
    """The vectors of one plot of a SPICE raw file.

    Parameters
    ----------
    path : str or Path
        Raw file written by ``ngspice -b -r FILE`` (ASCII or binary).
    plot : int
        Which plot (index in file order; default the last one).

    Returns
    -------
    dict of str to ndarray
        Lower-case vector name -> values (V for ``v(node)`` and ``node``, A for ``i(src)``).

    Raises
    ------
    BackendError
        If the file is missing, malformed or holds no plot.
    """
    plots = read_raw_plots(path)
    if not plots:
        raise BackendError(f"{path}: raw file holds no plot")
    return plots[plot][1]


def find_ngspice_program() -> str:
    """Path of the ``ngspice`` program; BackendError with an install hint if missing."""
    program = shutil.which("ngspice")
    if program is None:
        raise BackendError(f"ngspice program not found on PATH: {INSTALL_HINT}")
    return program


def run_ngspice_batch(netlist_text: str, timeout: float = 600.0,
                      program: str | None = None) -> dict[str, np.ndarray]:
    """Run the ``ngspice`` program in batch mode on a netlist and return its vectors.

    The netlist is written to a temporary directory and run as
    ``ngspice -b -r out.raw circuit.cir`` with ``SPICE_ASCIIRAWFILE=1``; the raw file is read
    with :func:`read_raw_file`. This uses no shared library and no state of this process, so it
    is the independent reference for the backend.

    Parameters
    ----------
    netlist_text : str
        A complete netlist with an analysis card (e.g. from ``write_netlist(..., analysis="op")``).
    timeout : float
        Seconds before the run is abandoned.
    program : str, optional
        The ngspice executable (default: ``ngspice`` on PATH).

    Returns
    -------
    dict of str to ndarray
        Vectors of the last plot (V, A); node voltages under ``v(node)`` and ``node``.

    Raises
    ------
    ConvergenceError
        If ngspice reports that the analysis failed.
    BackendError
        If ngspice is missing, times out, rejects the netlist or writes no raw file.
    """
    program = program or find_ngspice_program()
    text = netlist_text if netlist_text.endswith("\n") else netlist_text + "\n"
    with tempfile.TemporaryDirectory(prefix="eqprop-ngspice-") as directory:
        circuit_file = Path(directory, "circuit.cir")
        raw_file = Path(directory, "out.raw")
        circuit_file.write_text(text + "\n", encoding="ascii")
        env = dict(os.environ, SPICE_ASCIIRAWFILE="1", LC_NUMERIC="C")
        try:
            proc = subprocess.run([program, "-b", "-r", raw_file.name, circuit_file.name],
                                  cwd=directory, capture_output=True, text=True,
                                  timeout=timeout, env=env, errors="replace")
        except subprocess.TimeoutExpired:
            raise BackendError(f"ngspice batch run timed out after {timeout} s") from None
        except OSError as error:
            raise BackendError(f"cannot run {program}: {error}") from None
        lines = (proc.stdout + "\n" + proc.stderr).splitlines()
        errors = [line.strip() for line in lines if classify_message(line) == "error"]
        if errors and any(_is_analysis_failure(line) for line in errors):
            raise ConvergenceError("ngspice batch run: analysis failed: " + " | ".join(errors[-4:]))
        if proc.returncode != 0 or errors or not raw_file.exists():
            detail = " | ".join(errors[-4:]) or (proc.stderr.strip().splitlines() or ["?"])[-1]
            raise BackendError(f"ngspice batch run failed (exit status {proc.returncode}): "
                               f"{detail}")
        return read_raw_file(raw_file)


def _is_analysis_failure(line: str) -> bool:
    return bool(re.search(r"simulation\(s\) aborted|timestep too small|no convergence|"
                          r"dc solution failed|singular matrix|^doanalyses|iteration limit",
                          line, re.IGNORECASE))
