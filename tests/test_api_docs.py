"""``docs/api.md`` runs as written, and every docstring example of the public API runs
(doctest): the examples are the documentation's promise, so they are tests.

The page's ```python blocks run in order as one script in a scratch folder beside a copy of
``circuits/``; a block whose first line is ``# needs ngspice`` is skipped (and the skip reported)
when ngspice's shared library is missing.
"""

from __future__ import annotations

import doctest
import importlib
import re
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "api.md"
MODULES = ("eqprop_hw", "eqprop_hw.api", "eqprop_hw.networks.base",
           "eqprop_hw.networks.resistive", "eqprop_hw.networks.lc")


def python_blocks(markdown: Path) -> list[str]:
    """The ```python blocks of a page, in order."""
    return re.findall(r"```python\n(.*?)```", markdown.read_text(), flags=re.S)


def ngspice_available() -> bool:
    try:
        from eqprop_hw.backends.ngspice import NgspiceBackend  # noqa: F401
        from PySpice.Spice.NgSpice.Shared import NgSpiceShared  # noqa: F401
    except Exception:  # noqa: BLE001 - any failure to load means: not available
        return False
    return True


def test_the_page_has_an_example_for_every_operation():
    code = "\n".join(python_blocks(PAGE))
    for call in ("eqprop_hw.load(", ".describe()", ".simulate(", ".gradient(", ".netlist(",
                 ".train(", ".predict(", "circuits/lc/", "temperature"):
        assert call in code, call


def test_every_example_of_docs_api_md_runs(tmp_path, monkeypatch, capsys):
    shutil.copytree(ROOT / "circuits", tmp_path / "circuits")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "docs_api"}
    skipped = []
    for number, block in enumerate(python_blocks(PAGE), start=1):
        if block.startswith("# needs ngspice") and not ngspice_available():
            skipped.append(number)
            continue
        exec(compile(block, f"{PAGE.name} block {number}", "exec"), namespace)  # noqa: S102
    out = capsys.readouterr()
    assert out.err == ""                                   # the library prints nothing there
    assert (tmp_path / "runs" / "xor" / "params.npz").exists()
    assert (tmp_path / "iris.cir").read_text().startswith("eqprop-hw iris")
    if skipped:
        pytest.skip(f"ran every block but {skipped}: ngspice is not available")


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(tmp_path, monkeypatch, name):
    import numpy as np

    import eqprop_hw
    monkeypatch.chdir(tmp_path)
    module = importlib.import_module(name)
    globs = {"eqprop_hw": eqprop_hw, "np": np, "CIRCUITS": ROOT / "circuits", "TMP": tmp_path}
    result = doctest.testmod(module, extraglobs=globs, optionflags=doctest.ELLIPSIS,
                             verbose=False, report=True)
    assert result.failed == 0
    assert result.attempted > 0


def test_every_public_name_has_a_running_example():
    """Every public function, class and method of the API modules has an Examples section."""
    finder = doctest.DocTestFinder()
    missing = []
    for name in MODULES[1:]:
        module = importlib.import_module(name)
        with_examples = {test.name.split(".")[-1] for test in finder.find(module)
                         if test.examples}
        for attribute, value in vars(module).items():
            if attribute.startswith("_") or getattr(value, "__module__", None) != name:
                continue
            if isinstance(value, type):
                members = [m for m, v in vars(value).items() if not m.startswith("_") and
                           callable(v) and not getattr(v, "__isabstractmethod__", False)]
                for member in members:
                    if member not in with_examples:
                        missing.append(f"{name}.{attribute}.{member}")
            if callable(value) and attribute not in with_examples:
                missing.append(f"{name}.{attribute}")
    assert missing == []
