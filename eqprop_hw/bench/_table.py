"""The human table of ``eqprop-hw bench``: what is measured, the value with its unit, the target
and whether it is met.

Each benchmark module names its headline results in ``TABLE``, a tuple of :class:`Row`; the
command formats them with :func:`format_table` (``--json`` prints every number instead). A row
whose key the run did not produce (e.g. a case only the full run measures) is left out.
"""

from __future__ import annotations

import math
import operator
import re
from dataclasses import dataclass
from typing import Any, Iterable

#: The comparisons a target may use, e.g. ``">= 200"``.
_COMPARE = {">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt}
_TARGET = re.compile(r"^(>=|<=|>|<)\s*([0-9.eE+-]+)$")


@dataclass(frozen=True)
class Row:
    """One line of the table.

    Parameters
    ----------
    key : str
        The key of the benchmark's result dict (``run(args)``) whose value the row shows.
    what : str
        What is measured, in words; ``{name}`` fields are filled from the result dict (keys
        without dots only), e.g. ``"ngspice / native, {spec}"``.
    unit : str
        Unit of the value: ``"x"`` (a ratio), ``"s"``, ``"MB"``, ``"GFLOP/s"``, ... or ``""``.
    target : str or None
        ``">= 200"``-style comparison checked against the value, or free text (``"bounded"``,
        shown, not checked), or None (no target).
    met_key : str or None
        A result key holding True/False/None: whether the target is met, as the benchmark
        itself decided (e.g. over the range of its repeats); overrides the comparison.
    """

    key: str
    what: str
    unit: str = ""
    target: str | None = None
    met_key: str | None = None

    def cells(self, result: dict) -> tuple[str, str, str, str]:
        """``(what, value with unit, target, met)`` for ``result`` (a benchmark's dict)."""
        value = result[self.key]
        fields = {k: v for k, v in result.items() if "." not in k}
        try:
            what = self.what.format(**fields)
        except (KeyError, IndexError, ValueError):
            what = self.what
        return what, format_value(value, self.unit), self._target_text(), self._met(result)

    def _target_text(self) -> str:
        if self.target is None:
            return "-"
        match = _TARGET.match(self.target)
        return f"{self.target}{self.unit and ' ' + self.unit}" if match else self.target

    def _met(self, result: dict) -> str:
        if self.met_key is not None and self.met_key in result:
            return _yes_no(result[self.met_key])
        match = _TARGET.match(self.target or "")
        if match is None:
            return "-"
        value = result[self.key]
        if isinstance(value, (list, tuple)) and value:        # a range: every run must meet it
            value = min(value) if match.group(1).startswith(">") else max(value)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
            return "-"
        return _yes_no(_COMPARE[match.group(1)](value, float(match.group(2))))


def _yes_no(flag: Any) -> str:
    return "-" if flag is None else ("yes" if flag else "NO")


def format_value(value: Any, unit: str = "") -> str:
    """A value for the table: 3-4 significant digits, ranges as ``min-max``, with the unit.

    Examples
    --------
    >>> format_value(1.23456, "x"), format_value([2.0, 1.5, 3.25], "s"), format_value(True)
    ('1.235 x', '1.5-3.25 s', 'yes')
    """
    suffix = f" {unit}" if unit else ""
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}{suffix}"
    if isinstance(value, int):
        return f"{value:,}{suffix}"
    if isinstance(value, (list, tuple)):
        numbers = [v for v in value if isinstance(v, (int, float)) and not isinstance(v, bool)]
        if numbers and len(numbers) == len(value):
            low, high = min(numbers), max(numbers)
            return (f"{low:.4g}{suffix}" if low == high
                    else f"{low:.4g}-{high:.4g}{suffix}")
        return f"[{len(value)} values]"
    return str(value)


def table_rows(name: str, rows: Iterable[Row], result: dict) -> list[tuple[str, ...]]:
    """The table lines of one benchmark: ``(benchmark, what, value, target, met)`` each."""
    return [(name, *row.cells(result)) for row in rows if row.key in result]


HEADER = ("benchmark", "what is measured", "value", "target", "met")


def suite_row(benchmarks: int, quick: bool, seconds: float) -> tuple[str, ...]:
    """The table line of the whole suite's wall time: one run of every benchmark, timed from
    the first benchmark's start to the last one's end (no target: the README states the time
    measured on its machine).

    Examples
    --------
    >>> suite_row(9, True, 534.2)
    ('suite', 'all 9 benchmarks (quick runs), wall time of this one run', '8.903 min', '-', '-')
    """
    runs = "quick" if quick else "full"
    return ("suite", f"all {benchmarks} benchmarks ({runs} runs), wall time of this one run",
            format_value(seconds / 60.0, "min"), "-", "-")


def format_table(lines: list[tuple[str, ...]]) -> str:
    """Aligned text of :func:`table_rows` lines under :data:`HEADER` (no trailing newline).

    Examples
    --------
    >>> print(format_table(table_rows("demo", [Row("r", "a ratio", "x", ">= 2")], {"r": 2.5})))
    benchmark  what is measured  value  target  met
    demo       a ratio           2.5 x  >= 2 x  yes
    """
    widths = [max([len(HEADER[c])] + [len(line[c]) for line in lines])
              for c in range(len(HEADER))]
    text = [HEADER] + list(lines)
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip()
                     for line in text)
