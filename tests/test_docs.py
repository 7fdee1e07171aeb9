"""Every command in the tutorial runs as written (in a scratch folder beside copies of the
bundled specs and tools). Marked slow: it trains iris with ngspice in the loop."""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def bash_commands(markdown: Path) -> list[str]:
    """The lines of every ```bash block, in order (comments and blank lines dropped)."""
    blocks = re.findall(r"```bash\n(.*?)```", markdown.read_text(), flags=re.S)
    return [line.strip() for block in blocks for line in block.splitlines()
            if line.strip() and not line.strip().startswith("#")]


def test_tutorial_has_commands():
    commands = bash_commands(ROOT / "docs" / "tutorial.md")
    assert len(commands) >= 10 and any(c.startswith("eqprop-hw train") for c in commands)


@pytest.mark.slow
@pytest.mark.ngspice
def test_every_tutorial_command_runs_as_written(tmp_path):
    for folder in ("circuits", "tools"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    environment = dict(os.environ, PYTHONPATH=str(ROOT))
    for command in bash_commands(ROOT / "docs" / "tutorial.md"):
        done = subprocess.run(["bash", "-c", command], cwd=tmp_path, env=environment,
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, f"{command!r} failed:\n{done.stderr[-2000:]}"
    assert (tmp_path / "runs" / "iris" / "params.npz").exists()
    assert (tmp_path / "iris_trained.cir").read_text().startswith("eqprop-hw iris")
