"""ngspice's output lines classified (:func:`classify_message`): harmless notes, warnings and
errors, for the session's captured messages and for batch runs of the ``ngspice`` program alike.
"""

from __future__ import annotations

import functools
import logging
import re


LOGGER = logging.getLogger("eqprop_hw.ngspice")

INSTALL_HINT = "install with `apt-get install -y ngspice libngspice0`"

# -- message classification --------------------------------------------------------------------
_HARMLESS = re.compile(
    r"^(?:\*\*|\*\s*$|note:|using sparse|doing analysis at|no\. of data (?:rows|columns)|"
    r"reference value|circuit:|binary raw file|ascii raw file|total analysis time|"
    r"total elapsed time|total dram|dram currently|maximum ngspice|current ngspice|"
    r"shared ngspice|text \(code\)|stack =|library pages|initial transient solution|"
    r"-+$|node\s+voltage|source\s+current|supplies reduced|ngspice-\d+ done|"
    r"unsupported ngspice version|current simulation options|temperatures:|"
    r"integration method|tolerances \(|truncation error correction|iteration limits:|"
    r"conductances:|default parameters for|default [mlw]:|default a[ds]:)",
    re.IGNORECASE)

_WARNING = re.compile(r"^(?:warning|trying gmin|command '.*' is ignored)", re.IGNORECASE)

_ERROR = re.compile(
    r"(?:\berror\b|simulation\(s\) aborted|timestep too small|no convergence|"
    r"singular matrix|dc solution failed|^doanalyses|iteration limit|gmin step failed|"
    r"no such (?:command|device|vector|file)|unknown (?:subckt|model|parameter|device)|"
    r"there aren't any circuits|cannot|can't|fatal|could not|unable to|not found|"
    r"too few|too many|illegal|undefined|syntax)",
    re.IGNORECASE)


@functools.lru_cache(maxsize=4096)
def classify_text(text: str) -> str:
    """``"info"``, ``"warning"`` or ``"error"`` for one stripped line of ngspice output, without
    the ``stdout``/``stderr`` prefix (cached: ngspice repeats its lines)."""
    if not text or _HARMLESS.match(text):
        return "info"
    if _WARNING.match(text):
        return "warning"
    if _ERROR.search(text):
        return "error"
    return "info"


def classify_message(line: str) -> str:
    """Classify one line of ngspice output.

    Parameters
    ----------
    line : str
        A line as ngspice's output callback delivers it, with or without the ``stdout `` /
        ``stderr `` prefix.

    Returns
    -------
    str
        ``"info"`` for known-harmless output (banner, ``Note: ...``, ``Using SPARSE 1.3``,
        analysis progress, tables) and for anything unrecognised that does not look like an
        error; ``"warning"`` for ``Warning: ...`` lines and gmin-stepping progress (including
        ``Warning: singular matrix`` reported while stepping, which the stepping may cure);
        ``"error"`` for real errors (``Error: ...``, ``singular matrix``, ``Timestep too
        small``, ``no convergence``, ``simulation(s) aborted``, unknown commands or devices).

    Notes
    -----
    Whether an analysis failed is not decided by single lines alone: the backend also checks
    that result vectors exist and are finite.

    Examples
    --------
    >>> classify_message("stderr Using SPARSE 1.3 as Direct Linear Solver")
    'info'
    >>> classify_message("stderr Note: Starting dynamic gmin stepping")
    'info'
    >>> classify_message("stderr Warning: singular matrix:  check node v1#branch")
    'warning'
    >>> classify_message("stderr doAnalyses: OP:  Timestep too small; cause unrecorded.")
    'error'
    """
    if line.startswith(("stdout ", "stderr ")):
        line = line[7:]
    return classify_text(line.strip())


def is_harmless(line: str) -> bool:
    """True unless :func:`classify_message` calls the line an ``"error"``."""
    return classify_message(line) != "error"
