"""Issue 19 item 4: ``bench``'s table names what is measured, the value with its unit, the
target and whether it is met, and the suite's wall time is one measured run in the table."""

from __future__ import annotations

import importlib
import re

import pytest

from eqprop_hw import cli
from eqprop_hw.bench._table import _TARGET, HEADER, Row

#: Key endings and the unit a row of that key must carry.
UNITS = (("_seconds", "s"), ("_mb", "MB"), ("speedup", "x"), ("_over_1", "x"),
         ("_over_single_process", "x"), ("limit_ratio", "x"), ("_gflops", "GFLOP/s"),
         ("growth", "x"))


def bundled_tables() -> dict:
    tables = {}
    for name in cli._benchmarks(cli.bench_folder()):
        module = importlib.import_module(f"eqprop_hw.bench.{name}")
        tables[name] = getattr(module, "TABLE", None)
    return tables


def test_every_bundled_row_names_what_unit_and_target():
    tables = bundled_tables()
    assert tables and all(tables.values()), [k for k, v in tables.items() if not v]
    for name, rows in tables.items():
        for row in rows:
            assert isinstance(row, Row)
            where = f"{name}: {row.key}"
            opaque = "_" in row.key or "." in row.key
            assert " " in row.what and not (opaque and row.key in row.what), where  # words
            for ending, unit in UNITS:
                if row.key.endswith(ending) or ending in row.key.split(".")[-1]:
                    assert row.unit == unit, (where, row.unit)
                    break
            if row.target is not None and _TARGET.match(row.target) is None:
                # free text: a checked comparison needs a met_key the benchmark decides,
                # else it is shown as text and its 'met' cell says '-'
                assert row.target.strip(), where
            if row.met_key is not None:
                assert row.target is not None, where


def write_module(folder, name: str, sleep: float, result: str) -> None:
    (folder / f"{name}.py").write_text(
        "import time\nfrom eqprop_hw.bench._table import Row\n"
        f"TABLE = (Row('value', 'a measured {name} value', 's', '<= 1'),)\n"
        f"def run(args):\n    time.sleep({sleep})\n    return {result}\n")


def test_the_suite_table_ends_with_the_suite_wall_time_of_this_one_run(capsys, monkeypatch,
                                                                       tmp_path):
    write_module(tmp_path, "alpha", 0.3, "{'value': 0.5}")
    write_module(tmp_path, "beta", 0.4, "{'value': 2.0}")
    monkeypatch.setattr(cli, "bench_folder", lambda: tmp_path)
    assert cli.main(["bench"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == " ".join(HEADER).split()
    assert re.split(r"\s{2,}", lines[1]) == ["alpha", "a measured alpha value", "0.5 s",
                                             "<= 1 s", "yes"]
    assert re.split(r"\s{2,}", lines[2]) == ["beta", "a measured beta value", "2 s", "<= 1 s",
                                             "NO"]
    suite = re.split(r"\s{2,}", lines[3])
    assert suite[:2] == ["suite", "all 2 benchmarks (quick runs), wall time of this one run"]
    assert suite[3:] == ["-", "-"]
    minutes = float(suite[2].removesuffix(" min"))
    assert 0.7 / 60 <= minutes < 30 / 60          # both sleeps, measured as one run
    assert lines[4].startswith("2 benchmark(s) in") and len(lines) == 5
    # one named benchmark: no suite row
    assert cli.main(["bench", "alpha"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and not any(line.startswith("suite") for line in lines)


@pytest.mark.parametrize("full", [False, True])
def test_the_suite_row_says_quick_or_full(capsys, monkeypatch, tmp_path, full):
    write_module(tmp_path, "alpha", 0.0, "{'value': 0.5}")
    monkeypatch.setattr(cli, "bench_folder", lambda: tmp_path)
    assert cli.main(["bench"] + (["--full"] if full else [])) == 0
    suite = [line for line in capsys.readouterr().out.splitlines() if line.startswith("suite")]
    assert len(suite) == 1 and ("(full runs)" if full else "(quick runs)") in suite[0]
