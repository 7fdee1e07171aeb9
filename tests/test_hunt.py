"""Findings of the fresh-eyes hostile-input hunt that the corpus harness cannot express.

The corpus cases of the hunt are in ``tests/hostile/cases_hunt.py``; these tests check what a
refusal line cannot: what a successful command claims to have written.
"""

from __future__ import annotations

import os


from hostile import cases_state, run_in


run = run_in   # eqprop-hw ARGV in-process in a folder


def test_train_no_plots_does_not_claim_plots(tmp_path):
    """``train --no-plots`` said 'wrote .../params.npz, metrics.json and plots' and wrote none."""
    (tmp_path / "tiny.yaml").write_text(cases_state.TINY)
    code, _, err = run(["train", "tiny.yaml", "--out", "run", "--epochs", "1", "--no-plots"],
                       tmp_path)
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == \
        ["metrics.json", "params.npz"]                  # a finished run removes its checkpoint
    assert err.splitlines()[-1].startswith(
        f"eqprop-hw: wrote {os.path.join('run', 'params.npz')} and metrics.json in run; wall "
        "time ")
    code, _, err = run(["train", "tiny.yaml", "--out", "plotted", "--epochs", "1"], tmp_path)
    assert code == 0, err
    assert any(p.suffix == ".png" for p in (tmp_path / "plotted").iterdir())
    assert err.splitlines()[-1].startswith(
        f"eqprop-hw: wrote {os.path.join('plotted', 'params.npz')}, metrics.json and plots in "
        "plotted; wall time ")
