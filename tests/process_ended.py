"""Waiting for processes to end, for the tests that kill a parent and check its children."""

from __future__ import annotations

import os
import time
from pathlib import Path


def _within(seconds: float, ended, pause: float = 0.1) -> bool:
    """Whether ``ended()`` turns true within ``seconds`` s (asked every ``pause`` s)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if ended():
            return True
        time.sleep(pause)
    return ended()


def _gone_or_zombie(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    status = Path(f"/proc/{pid}/stat")
    try:             # "pid (name) STATE ...": a zombie has ended, it is not yet reaped
        return status.read_text().rsplit(") ", 1)[-1].startswith("Z")
    except OSError:
        return False


def _group_gone(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return True
    return False


def process_ended(pid: int, seconds: float) -> bool:
    """Whether process ``pid`` ends (is gone or a zombie) within ``seconds`` s."""
    return _within(seconds, lambda: _gone_or_zombie(pid))


def group_ended(group: int, seconds: float) -> bool:
    """Whether no process of process group ``group`` is left within ``seconds`` s."""
    return _within(seconds, lambda: _group_gone(group))
