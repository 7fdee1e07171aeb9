"""Find silent waits: run eqprop-hw commands and report the longest stretch in which neither
stdout nor stderr received a byte (issue 19: any wait over ~2 s shows progress on stderr).

Each command runs as ``python -m eqprop_hw ARGS`` in a child process with stdout on a pipe and
stderr on a pseudo-terminal (a user at a terminal: the one-step bars of
:func:`eqprop_hw.learning.progress.waiting` show on terminals only); every chunk read is
time-stamped. The gaps reported are start -> first
byte (interpreter start-up and imports included), between bytes, and last byte -> exit.

Usage::

    PYTHONPATH=$PWD python3 tools/silent_waits.py                 # the default command list
    PYTHONPATH=$PWD python3 tools/silent_waits.py -- simulate circuits/iris.yaml --input 1,2,3,4

Prints one line per command: its wall time, the longest silent gap and where it was (after
which text), and ``SILENT`` when that gap is over ``--limit`` seconds (default 2).
"""
from __future__ import annotations

import argparse
import fcntl
import os
import pty
import selectors
import shlex
import struct
import subprocess
import sys
import tempfile
import termios
import time

IRIS_X = "0.5,-1,1.2,0.3"
COMMANDS = [
    "describe circuits/digits.yaml",
    "export circuits/digits.yaml -o {tmp}/digits.cir",
    "simulate circuits/iris.yaml --input " + IRIS_X,
    "simulate circuits/iris.yaml --input " + IRIS_X + " --backend ngspice",
    "simulate circuits/xor.yaml --input 1,0 --temperature 1e-7 --samples 4096",
    "simulate circuits/xor.yaml --input 1,0 --temperature 1e-7 --samples 4096 --backend ngspice",
    "grad circuits/iris.yaml --input " + IRIS_X + " --target 1,0,0",
    "grad circuits/iris.yaml --input " + IRIS_X + " --target 1,0,0 --backend ngspice",
    "grad circuits/xor.yaml --input 1,0 --target 1 --beta 2e-5 --temperature 1e-7",
    "grad circuits/xor.yaml --input 1,0 --target 1 --beta 2e-5 --temperature 1e-7 "
    "--estimator path",
    "grad circuits/xor.yaml --input 1,0 --target 1 --beta 2e-5 --temperature 1e-7 "
    "--backend ngspice",
    "check circuits/iris.yaml",
    "check circuits/digits.yaml",
    "simulate circuits/lc/lc_nonlinear20.yaml",
    "grad circuits/lc/lc_teacher.yaml",
    "check circuits/lc/lc_teacher.yaml",
    "train circuits/xor.yaml --epochs 3 --set temperature=1e-7 --no-plots --out {tmp}/runs",
    "train circuits/xor.yaml --epochs 2 --set temperature=1e-7 --backend ngspice --no-plots "
    "--out {tmp}/runs",
    "train circuits/iris.yaml --backend native --out {tmp}/runs",
    "predict circuits/iris.yaml --params {tmp}/runs/iris/params.json --backend ngspice",
    "train circuits/iris.yaml --backend ngspice --epochs 8 --no-plots --out {tmp}/runs",
    "train circuits/digits.yaml --epochs 3 --out {tmp}/runs",
    "train circuits/lc/lc_teacher.yaml --epochs 3 --out {tmp}/runs",
]


def probe(args: list[str], limit: float, env: dict) -> dict:
    """Run ``python -m eqprop_hw args``; the wall time (s), the longest silent gap (s) and the
    text just before it."""
    start = time.perf_counter()
    terminal, child_end = pty.openpty()
    fcntl.ioctl(child_end, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # 100 cols
    child = subprocess.Popen([sys.executable, "-m", "eqprop_hw", *args], env=env,
                             stdout=subprocess.PIPE, stderr=child_end)
    os.close(child_end)
    selector = selectors.DefaultSelector()
    selector.register(child.stdout, selectors.EVENT_READ)
    selector.register(terminal, selectors.EVENT_READ)
    last, worst, before, text, open_streams = start, 0.0, "(start)", "(start)", 2
    while open_streams:
        for key, _ in selector.select():
            fd = key.fileobj if isinstance(key.fileobj, int) else key.fileobj.fileno()
            try:
                chunk = os.read(fd, 65536)
            except OSError:                      # the terminal's other end closed
                chunk = b""
            now = time.perf_counter()
            if not chunk:
                selector.unregister(key.fileobj)
                open_streams -= 1
                continue
            if now - last > worst:
                worst, before = now - last, text
            last = now
            tail = chunk.decode(errors="replace").replace("\r", "\n").strip().splitlines()
            text = tail[-1][-70:] if tail else text
    child.wait()
    os.close(terminal)
    end = time.perf_counter()
    if end - last > worst:
        worst, before = end - last, text + " (until exit)"
    return {"wall": end - start, "gap": worst, "after": before, "status": child.returncode,
            "silent": worst > limit}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=float, default=2.0, help="seconds (default 2)")
    parser.add_argument("command", nargs="*", help="one eqprop-hw command line (after --)")
    options = parser.parse_args(argv)
    env = dict(os.environ, COLUMNS="100")
    with tempfile.TemporaryDirectory() as tmp:
        lines = [" ".join(options.command)] if options.command else COMMANDS
        for line in lines:
            args = shlex.split(line.format(tmp=tmp))
            found = probe(args, options.limit, env)
            flag = "SILENT" if found["silent"] else "ok"
            print(f"{flag:6} wall {found['wall']:6.1f} s  gap {found['gap']:5.1f} s  "
                  f"exit {found['status']}  {line.format(tmp='T')}\n"
                  f"       gap after: {found['after']!r}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
