"""Every command in the tutorial and in the README's tour runs as written (in a scratch folder
beside copies of the bundled specs and tools) and exits with 0. The whole tutorial and the whole
tour are marked slow (they train); the tour's commands that do not train or benchmark run in the
default suite."""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def bash_commands(markdown: Path, section: str | None = None) -> list[str]:
    """The lines of every ```bash block, in order (comments and blank lines dropped); with
    ``section``, only the blocks under the heading of that title (up to the next heading)."""
    text = markdown.read_text()
    if section is not None:
        match = re.search(rf"^#+ {re.escape(section)}\n(.*?)(?=^#+ |\Z)", text, flags=re.S | re.M)
        assert match, f"{markdown.name} has no section {section!r}"
        text = match.group(1)
    blocks = re.findall(r"```bash\n(.*?)```", text, flags=re.S)
    return [line.strip() for block in blocks for line in block.splitlines()
            if line.strip() and not line.strip().startswith("#")]


def run_as_written(commands: list[str], folder: Path, timeout: float = 600) -> None:
    """Run each command with bash in ``folder`` (beside copies of ``circuits/`` and ``tools/``,
    this checkout first on PYTHONPATH) and assert that it exits with 0."""
    for name in ("circuits", "tools"):
        if not (folder / name).exists():
            shutil.copytree(ROOT / name, folder / name)
    environment = dict(os.environ, PYTHONPATH=str(ROOT))
    for command in commands:
        done = subprocess.run(["bash", "-c", command], cwd=folder, env=environment,
                              capture_output=True, text=True, timeout=timeout)
        assert done.returncode == 0, f"{command!r} failed:\n{done.stderr[-2000:]}"


TOUR = "A tour of the commands"
#: Tour commands that neither train nor benchmark (they run in the default suite).
QUICK = ("describe", "export", "import", "simulate", "grad", "check")


def test_tutorial_has_commands():
    commands = bash_commands(ROOT / "docs" / "tutorial.md")
    assert len(commands) >= 10 and any(c.startswith("eqprop-hw train") for c in commands)


@pytest.mark.slow
@pytest.mark.ngspice
def test_every_tutorial_command_runs_as_written(tmp_path):
    run_as_written(bash_commands(ROOT / "docs" / "tutorial.md"), tmp_path)
    assert (tmp_path / "runs" / "iris" / "params.npz").exists()
    assert (tmp_path / "iris_trained.cir").read_text().startswith("eqprop-hw iris")


def test_the_readme_tour_lists_the_commands_people_run():
    commands = bash_commands(ROOT / "README.md", TOUR)
    assert len(commands) >= 10 and all(c.startswith("eqprop-hw ") for c in commands)
    assert {c.split()[1] for c in commands} >= set(QUICK) | {"train", "predict", "bench"}
    first = bash_commands(ROOT / "README.md")[:2]
    assert first == ["bash tools/setup.sh && eqprop-hw train circuits/iris.yaml --backend "
                     "ngspice --out runs/iris", "bash tools/setup.sh && python3 -m pytest -q"]


@pytest.mark.ngspice
def test_readme_tour_commands_that_do_not_train_run_as_written(tmp_path):
    commands = [c for c in bash_commands(ROOT / "README.md", TOUR) if c.split()[1] in QUICK]
    run_as_written(commands, tmp_path, timeout=120)
    assert (tmp_path / "xor_imported.yaml").read_text().strip()
    assert (tmp_path / "xor.cir").read_text().startswith("eqprop-hw xor")


@pytest.mark.slow
@pytest.mark.ngspice
def test_every_readme_tour_command_runs_as_written(tmp_path):
    run_as_written(bash_commands(ROOT / "README.md", TOUR), tmp_path, timeout=900)
    assert (tmp_path / "runs" / "digits" / "params.npz").exists()


def test_the_cli_reference_is_current():
    """docs/cli.md is generated from the argument parser: regenerate it when options change."""
    import sys
    sys.path.insert(0, str(ROOT / "tools"))
    import make_cli_docs
    page = (ROOT / "docs" / "cli.md").read_text()
    assert page == make_cli_docs.render(), "run python tools/make_cli_docs.py"
    for option in ("--temperature", "--estimator", "--isolate", "--workers", "--plot",
                   "--target-file", "--resume"):
        assert f"`{option}`" in page
