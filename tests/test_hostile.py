"""The hostile-input corpus (``tests/hostile``): every case refused with one clean line.

See :mod:`hostile` for what each case asserts. The corpus is grouped by the class of
attack (one ``cases_<class>.py`` per class); the counts below keep every class covered.
"""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import hostile
from hostile import run_case

MODULES = sorted(m.name for m in pkgutil.iter_modules(hostile.__path__)
                 if m.name.startswith("cases_"))
CASES = [(name, case) for name in MODULES
         for case in importlib.import_module(f"hostile.{name}").CASES]


def test_case_ids_are_unique():
    ids = [case.id for _, case in CASES]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("module,case", CASES, ids=[f"{m[6:]}:{c.id}" for m, c in CASES])
def test_hostile_case(tmp_path, module, case):
    run_case(case, tmp_path)
