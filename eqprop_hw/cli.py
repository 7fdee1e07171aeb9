"""The ``eqprop-hw`` command line (also ``python -m eqprop_hw``).

A thin layer: argparse, calls into the library, printing. The interface (commands, options, JSON
keys) is the one published in ``CONTRACT.md``.

Output conventions
------------------
- ``--json`` prints exactly one JSON object on stdout and nothing else there; logs and
  progress go to stderr.
- Files given with ``-o`` are written atomically (temporary file + rename): a failed command
  never leaves a half-written file.
- Errors print ONE line ``eqprop-hw: error: <what is wrong, where>`` on stderr, never a
  traceback (``--verbose`` adds the traceback for debugging), and exit with:

  ====  ==================================================================================
  0     success
  1     the simulation failed (no convergence, backend unavailable or failed)
  2     bad input: command-line usage, spec, params, netlist or data file, missing file
  3     internal error (a bug: please report it with the ``--verbose`` traceback)
  130   interrupted (Ctrl-C); ``train`` first writes a checkpoint and names it
  143   ``train`` stopped by SIGTERM after writing a checkpoint (``--resume`` continues)
  ====  ==================================================================================
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import math
import os
import re
import sys
import time
import traceback
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any, Sequence

import numpy as np

import eqprop_hw
from eqprop_hw.errors import (BackendError, CircuitError, ConvergenceError, EqpropError,
                              TrainingInterrupted)
from eqprop_hw.learning.limits import MAX_EPOCHS, MAX_SEED

PROG = "eqprop-hw"

EXIT_OK = 0
EXIT_SIMULATION = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 3
EXIT_INTERRUPTED = 130

DEFAULT_TSTEP = 1e-6
DEFAULT_TSTOP = 1e-3

#: Limits of command-line counts (documented in docs/specs.md, "Limits"); MAX_EPOCHS and
#: MAX_SEED are the library's (eqprop_hw.learning.limits).
MAX_THERMAL_SAMPLES = 1_000_000
MAX_CHECK_SAMPLES = 10_000
MAX_WORKERS = 256
MAX_CHUNKS = 65_536
#: Comma-separated values of one option (--input, --target).
MAX_CLI_VALUES = 100_000


class UsageError(EqpropError):
    """Bad command-line arguments (exit code 2)."""


# -- argument parsing --------------------------------------------------------------------
class _Parser(argparse.ArgumentParser):
    """ArgumentParser whose errors are one-line :class:`UsageError` s (no usage dump)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # "--input -0.5,1" is a value, not an option: treat anything starting with "-<digit>"
        # or "-.<digit>" as a (negative) number.
        self._negative_number_matcher = re.compile(r"^-\.?\d")

    def error(self, message):  # noqa: D401 - argparse hook
        raise UsageError(f"{message} (see '{self.prog} --help')")


def _finite_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def _positive_float(text: str) -> float:
    value = _finite_float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be positive")
    return value


def _bounded_int(minimum: int, maximum: int):
    """An argparse type: a whole number in [minimum, maximum] (refused with the range)."""
    def whole_number(text: str) -> int:
        from eqprop_hw.io.fileio import quote
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{quote(text)} is not a whole number") from None
        if not minimum <= value <= maximum:
            raise argparse.ArgumentTypeError(f"{value} is out of range (allowed: {minimum} to "
                                             f"{maximum})")
        return value
    return whole_number


def parse_numbers(text: str, option: str, expected: int | None = None,
                  names: Sequence[str] | None = None) -> list[float]:
    """Parse ``"0.5,-1,2e-3"`` into floats for option ``option`` (``""`` is no values).

    Raises
    ------
    UsageError
        For an empty item, a non-number, NaN/inf, or a count other than ``expected``.
    """
    from eqprop_hw.io.fileio import quote
    count = text.count(",") + 1 if text.strip() else 0
    if count > MAX_CLI_VALUES:
        raise UsageError(f"{option}: {count} values, more than the limit of {MAX_CLI_VALUES}"
                         + (f" (expected {expected})" if expected is not None else ""))
    items = [item.strip() for item in text.split(",")] if text.strip() else []
    values = []
    for position, item in enumerate(items, start=1):
        if not item:
            raise UsageError(f"{option}: value {position} is empty in {quote(text)} "
                             "(give comma-separated numbers, e.g. 0.5,-1)")
        try:
            value = float(item)
        except ValueError:
            raise UsageError(f"{option}: value {position} ({quote(item)}) is not a "
                             "number") from None
        if not math.isfinite(value):
            raise UsageError(f"{option}: value {position} ({quote(item)}) is not a finite "
                             "number")
        values.append(value)
    if expected is not None and len(values) != expected:
        listed = f" ({', '.join(names)})" if names else ""
        raise UsageError(f"{option}: expected {expected} value{'s' if expected != 1 else ''}"
                         f"{listed}, got {len(values)}")
    return values


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``eqprop-hw`` (all commands)."""
    common = _Parser(add_help=False)
    common.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                        help="show tracebacks of errors (for debugging)")

    parser = _Parser(prog=PROG, description="Analog circuits that learn by Equilibrium "
                     "Propagation: specs, SPICE netlists, ngspice and native simulation.")
    parser.add_argument("--version", action="version", version=f"{PROG} {eqprop_hw.__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", default=False,
                        help="show tracebacks of errors (for debugging)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True,
                                     parser_class=_Parser)

    def add(name, function, help_text):
        sub = commands.add_parser(name, help=help_text, description=help_text,
                                  parents=[common])
        sub.set_defaults(func=function)
        return sub

    def spec_args(sub):
        sub.add_argument("spec", metavar="SPEC", help="circuit spec (YAML, see docs/specs.md)")
        sub.add_argument("--params", metavar="P",
                         help="trained element values (.json or .npz, conductances in S)")

    def nudge_args(sub):
        sub.add_argument("--beta", type=_finite_float, metavar="B",
                         help="nudging conductance (S) from each output to its target "
                              "(W with --loss cross_entropy)")
        sub.add_argument("--target", metavar="Y",
                         help="target voltages (V), comma-separated, in output order "
                              "(probabilities with --loss cross_entropy)")

    def loss_args(sub, gibbs=False):
        from eqprop_hw.thermal.cli import SoftmaxTemperatureAction, TemperatureAction
        sub.add_argument("--loss", choices=("squared", "cross_entropy"),
                         help="loss whose nudge and value are used (default: the spec's "
                              "training.loss, else squared)")
        sub.add_argument("--softmax-temperature", type=_positive_float, metavar="TAU",
                         action=SoftmaxTemperatureAction,
                         help="softmax temperature (V) of the cross-entropy loss (default: the "
                              "spec's training.temperature, 0.1)")
        sub.add_argument("--temperature", type=_positive_float, metavar="T",
                         action=TemperatureAction, gibbs=gibbs,
                         help=("the Gibbs temperature T (W) of finite-temperature sampling, "
                               "p ~ exp(-E_beta/T) (squared loss); " if gibbs else "") +
                              "with the cross-entropy loss: deprecated alias of "
                              "--softmax-temperature (warns on stderr)")
        sub.set_defaults(temperature=None, gibbs_temperature=None, softmax_temperature=None)

    def thermal_args(sub):
        sub.add_argument("--samples", type=_bounded_int(1, MAX_THERMAL_SAMPLES), metavar="N",
                         help="finite temperature: kept samples per phase (default 4096, "
                              f"at most {MAX_THERMAL_SAMPLES})")
        sub.add_argument("--estimator", choices=("chl", "covariance", "path"),
                         help="finite temperature: gradient estimator (default chl)")
        sub.add_argument("--seed", type=_bounded_int(0, MAX_SEED), metavar="S",
                         help="finite temperature: seed of the noise (default 0; 0 to "
                              "2^32-1)")

    sub = add("describe", cmd_describe, "the circuit as built from a spec: nodes, ports, "
              "elements and values")
    spec_args(sub)
    sub.add_argument("--json", action="store_true", help="print one JSON object")

    sub = add("export", cmd_export, "write the SPICE netlist of a spec (runs with ngspice -b)")
    spec_args(sub)
    sub.add_argument("--input", metavar="X",
                     help="input values, comma-separated, in input order")
    nudge_args(sub)
    loss_args(sub)
    sub.add_argument("--analysis", choices=("op", "tran"), default="op",
                     help="analysis card: .op (default) or .tran TSTEP TSTOP")
    sub.add_argument("--tstep", type=_positive_float, metavar="S",
                     help=f"time step (s) of --analysis tran (default {DEFAULT_TSTEP:g})")
    sub.add_argument("--tstop", type=_positive_float, metavar="S",
                     help=f"stop time (s) of --analysis tran (default {DEFAULT_TSTOP:g})")
    sub.add_argument("-o", "--output", metavar="FILE",
                     help="write the netlist here (atomically) instead of stdout")

    sub = add("import", cmd_import, "turn a SPICE netlist (safe subset) into a spec")
    sub.add_argument("netlist", metavar="NETLIST", help="SPICE netlist file")
    sub.add_argument("-o", "--output", metavar="SPEC",
                     help="write the spec (YAML) here (atomically) instead of stdout")
    sub.add_argument("--allow-unsafe", action="store_true",
                     help="accept constructs outside the safe subset (trusted netlists only)")

    sub = add("simulate", cmd_simulate, "operating point(s) of a spec for given inputs")
    spec_args(sub)
    # required (checked in cmd_simulate) except for lc specs, whose inputs are waveforms
    source = sub.add_mutually_exclusive_group(required=False)
    source.add_argument("--input", metavar="X",
                        help="input values, comma-separated, in input order")
    source.add_argument("--input-file", metavar="ROWS.csv",
                        help="CSV file, one input vector per row (optional header line)")
    nudge_args(sub)
    loss_args(sub, gibbs=True)
    thermal_args(sub)
    sub.add_argument("--backend", choices=("ngspice", "native"), default="native",
                     help="simulator (default: native)")
    sub.add_argument("--json", action="store_true", help="print one JSON object")
    sub.add_argument("--plot", metavar="FILE.png",
                     help="also draw the node voltages per layer (with --beta/--target: free "
                          "phase vs the +beta and -beta nudged phases); needs --input")

    sub = add("bench", cmd_bench, "run the benchmarks in the repository's tools/ folder")
    sub.add_argument("names", nargs="*", metavar="NAME",
                     help="benchmarks to run (tools/bench_NAME.py; default: all, quick)")
    sub.add_argument("--quick", action="store_true",
                     help="smaller runs (passed to each benchmark as args.quick); the default "
                          "when no NAME is given")
    sub.add_argument("--full", action="store_true",
                     help="full-size runs even when no NAME is given (takes much longer)")
    sub.add_argument("--json", action="store_true", help="print one JSON object")

    sub = add("grad", cmd_grad, "EP gradient from measured node voltages vs the exact gradient")
    spec_args(sub)
    # --input/--target: required (checked in cmd_grad) except for lc specs
    sub.add_argument("--input", metavar="X",
                     help="input values, comma-separated, in input order")
    sub.add_argument("--target", metavar="Y",
                     help="target voltages (V), comma-separated, in output order")
    sub.add_argument("--target-file", metavar="ROWS.csv",
                     help="lc specs: target waveforms, one row per grid time, one column per "
                          "output (Wb or A)")
    sub.add_argument("--beta", type=_positive_float, metavar="B",
                     help="nudging conductance (S) (default: the spec's training.beta)")
    sub.add_argument("--nudge", choices=("positive", "negative", "centered"),
                     default="centered", help="nudging mode (default: centered)")
    loss_args(sub, gibbs=True)
    thermal_args(sub)
    sub.add_argument("--backend", choices=("ngspice", "native"), default="native",
                     help="simulator whose node voltages the local rule measures")
    sub.add_argument("--json", action="store_true", help="print one JSON object")

    sub = add("train", cmd_train, "train a spec's circuit on its dataset with the local EP rule")
    sub.add_argument("spec", metavar="SPEC", help="circuit spec with a dataset section")
    sub.add_argument("--params", metavar="P", help="start from these element values")
    sub.add_argument("--backend", choices=("ngspice", "native"), default="native",
                     help="simulator in the loop (default: native)")
    sub.add_argument("--epochs", type=_bounded_int(1, MAX_EPOCHS), metavar="N",
                     help=f"override training.epochs (1 to {MAX_EPOCHS})")
    sub.add_argument("--seed", type=_bounded_int(0, MAX_SEED), metavar="S",
                     help="override training.seed (0 to 2^32-1)")
    sub.add_argument("--out", metavar="DIR", help="output folder (default: runs/<spec name>)")
    sub.add_argument("--resume", action="store_true",
                     help="continue from DIR/checkpoint.npz (same result as an uninterrupted run)")
    sub.add_argument("--no-plots", action="store_true", help="do not write PNG plots")
    sub.add_argument("--json", action="store_true", help="print the metrics as one JSON object")
    where = sub.add_mutually_exclusive_group()
    where.add_argument("--workers", type=_bounded_int(1, MAX_WORKERS), metavar="N",
                       help="data-parallel training on a local Dask cluster of N worker "
                            "processes (needs eqprop-hw[distributed])")
    where.add_argument("--scheduler", metavar="ADDR",
                       help="data-parallel training on the Dask cluster at ADDR "
                            "(e.g. tcp://host:8786)")
    sub.add_argument("--chunks", type=_bounded_int(1, MAX_CHUNKS), metavar="C",
                     help="solve every minibatch in C contiguous parts (default with "
                          "--workers/--scheduler: one per worker); the same C gives the same "
                          "result in one process or on any cluster")
    sub.add_argument("--isolate", action=argparse.BooleanOptionalAction, default=None,
                     help="run ngspice in a child process, restarted if it crashes (default: "
                          "on with --backend ngspice; up to ~1.4x the time per sample on the "
                          "smallest circuits, ~1x on digits: 'eqprop-hw bench isolation')")

    sub = add("predict", cmd_predict, "predictions of a trained circuit on its dataset")
    sub.add_argument("spec", metavar="SPEC", help="circuit spec with a dataset section")
    sub.add_argument("--params", metavar="P", help="trained element values (.npz or .json)")
    sub.add_argument("--split", choices=("train", "test", "all"), default="test")
    sub.add_argument("--backend", choices=("ngspice", "native"), default="native")
    loss_args(sub)
    sub.add_argument("--json", action="store_true", help="print one JSON object")
    sub.add_argument("--plot", metavar="FILE.png",
                     help="also draw the node voltages per layer of one sample of the split: "
                          "free phase vs the nudged phases (the spec's training.beta, towards "
                          "its label)")
    sub.add_argument("--sample", type=int, default=0, metavar="K",
                     help="row of the split drawn by --plot (default 0)")

    sub = add("check", cmd_check, "reference checks: EP (ngspice, native, software) vs the exact "
              "gradient and finite differences, and backend agreement")
    spec_args(sub)
    sub.add_argument("--samples", type=_bounded_int(1, MAX_CHECK_SAMPLES), default=4,
                     metavar="N", help="inputs to check (from the dataset, else random; "
                                       f"default 4, at most {MAX_CHECK_SAMPLES})")
    sub.add_argument("--beta", type=_positive_float, metavar="B",
                     help="nudging conductance (S) (default: the spec's training.beta)")
    sub.add_argument("--no-ngspice", action="store_true", help="skip the ngspice rows")
    loss_args(sub)
    sub.add_argument("--json", action="store_true", help="print one JSON object")
    return parser


# -- helpers -------------------------------------------------------------------------------
@contextlib.contextmanager
def _row_progress(backend, rows: int, description: str):
    """A progress bar on stderr over the operating points of a backend that solves row by row
    (ngspice: its ``on_row`` hook); nothing for batched backends or a single row."""
    if getattr(backend, "on_row", False) is False or rows < 2:
        yield
        return
    from eqprop_hw.learning.train import progress_bar
    bar, previous = progress_bar(rows, description, True), backend.on_row
    backend.on_row = lambda row: bar.update(1)
    try:
        yield
    finally:
        backend.on_row = previous
        bar.close()


def _log(message: str) -> None:
    print(f"{PROG}: {message}", file=sys.stderr)


def _jsonable(value: Any) -> Any:
    """Plain JSON types: numpy scalars/arrays to Python, NaN/inf to null, paths to str."""
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(item) for item in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else None
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if value is None or isinstance(value, str):
        return value
    return str(value)


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.ndarray, np.generic)):
        return value.tolist()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return str(value)


def _print_json(data: dict) -> None:
    """Print one JSON object on one line (NaN/inf become null: strict JSON only)."""
    try:
        text = json.dumps(data, allow_nan=False, default=_json_default)
    except ValueError:  # a NaN or inf somewhere: take the slow, sanitising path
        text = json.dumps(_jsonable(data), allow_nan=False)
    sys.stdout.write(text + "\n")


def _is_lc(spec_path: str) -> bool:
    """True for a ``kind: lc`` spec (Hamiltonian LC network, handled by eqprop_hw.lc.cli)."""
    from eqprop_hw.circuit.spec import load_spec
    return load_spec(spec_path).kind == "lc"


def _load_circuit(spec_path: str, params_path: str | None = None):
    """Load, validate and build a spec; apply a params file. Errors name the file."""
    from eqprop_hw.circuit.build import build_circuit
    from eqprop_hw.circuit.spec import load_spec

    spec = load_spec(spec_path)
    try:
        circuit = build_circuit(spec)
    except CircuitError as error:
        raise CircuitError(f"{spec_path}: {error}") from None
    if params_path is not None:
        from eqprop_hw.io.params import apply_params, load_params
        circuit = apply_params(circuit, load_params(params_path), source=str(params_path))
    return circuit


def _loss_of(args, spec=None, spec_path: str | None = None) -> tuple[str, float | None]:
    """(loss, temperature): --loss/--temperature, else the spec's training section."""
    from eqprop_hw.learning.train import settings_from
    if spec is None:
        from eqprop_hw.circuit.spec import load_spec
        spec = load_spec(spec_path)
    settings = settings_from(spec)
    loss = getattr(args, "loss", None) or settings.loss
    temperature = getattr(args, "temperature", None) or settings.temperature
    return loss, (temperature if loss == "cross_entropy" else None)


def _loss_options(loss: str, temperature: float | None) -> dict:
    """Keyword arguments of ``make_backend`` for a loss (none for the default, squared)."""
    from eqprop_hw.learning.losses import backend_options
    return backend_options(loss, temperature)


def _nudging(args, circuit):
    """(beta, targets) from --beta/--target, checked against the circuit's outputs."""
    if args.beta is None and args.target is None:
        return None, None
    if args.beta is None:
        raise UsageError("--target needs --beta (the nudging conductance in S)")
    if args.target is None:
        raise UsageError(f"--beta needs --target ({len(circuit.outputs)} target voltage(s), "
                         "one per output)")
    targets = parse_numbers(args.target, "--target", len(circuit.outputs),
                            [port.name for port in circuit.outputs])
    return args.beta, targets


def _input_names(circuit) -> list[str]:
    return [port.name for port in circuit.inputs]


def _check_output(output: str, *inputs: str | None) -> None:
    """Refuse ``-o`` naming one of the command's input files (it would be overwritten)."""
    target = Path(output).resolve()
    for source in inputs:
        if source is not None and Path(source).resolve() == target:
            raise UsageError(f"-o {output} would overwrite the input file {source}")


def _atomic_write_text(path: str, text: str) -> None:
    from eqprop_hw.io.fileio import atomic_write_text
    atomic_write_text(path, text)


# -- describe ------------------------------------------------------------------------------
def element_record(element) -> dict:
    """One element as in ``describe --json``: name, type, nodes, value (+ model/control/expr)."""
    record = {"name": element.name, "type": element.type, "nodes": list(element.nodes),
              "value": element.value}
    for key in ("model", "control", "expr"):
        if getattr(element, key) is not None:
            record[key] = getattr(element, key)
    return record


def describe_circuit(circuit) -> dict:
    """The ``describe --json`` object of a built circuit (see CONTRACT.md)."""
    return {
        "name": circuit.name,
        "kind": circuit.kind,
        "nodes": list(circuit.nodes),
        "inputs": [{"name": port.name, "node": port.node,
                    "sources": [{"element": source, "gain": float(gain)}
                                for source, gain in port.sources]}
                   for port in circuit.inputs],
        "outputs": [{"name": port.name, "node": port.node} for port in circuit.outputs],
        "trainable": [element_record(circuit.element(name)) for name in circuit.trainable],
        "elements": [element_record(element) for element in circuit.elements],
    }


def _shorten(items: list[str], limit: int = 6) -> str:
    if len(items) <= limit:
        return ", ".join(items)
    return ", ".join(items[:limit]) + f", ... ({len(items) - limit} more)"


def cmd_describe(args) -> int:
    """``eqprop-hw describe``."""
    from eqprop_hw.circuit.graph import VALUE_MEANING

    if _is_lc(args.spec):
        from eqprop_hw.lc.cli import cmd_describe as lc_describe
        return lc_describe(args, _print_json)

    circuit = _load_circuit(args.spec, args.params)
    data = describe_circuit(circuit)
    if args.json:
        _print_json(data)
        return EXIT_OK
    counts: dict[str, int] = {}
    for element in circuit.elements:
        counts[element.type] = counts.get(element.type, 0) + 1
    lines = [f"circuit    {circuit.name} ({circuit.kind})",
             f"nodes      {len(circuit.nodes)} (ground 0 included)",
             f"elements   {len(circuit.elements)}: "
             + ", ".join(f"{n} {kind}" for kind, n in counts.items())]
    inputs = [f"{p.name} -> {p.node}" for p in circuit.inputs]
    outputs = [f"{p.name} = V({p.node})" for p in circuit.outputs]
    lines.append(f"inputs     {len(inputs)}: {_shorten(inputs)}")
    lines.append(f"outputs    {len(outputs)}: {_shorten(outputs)}")
    by_type: dict[str, list[float]] = {}
    for name in circuit.trainable:
        element = circuit.element(name)
        by_type.setdefault(element.type, []).append(element.value)
    if not by_type:
        lines.append("trainable  none")
    for kind, values in by_type.items():
        lines.append(f"trainable  {len(values)} {kind}, {VALUE_MEANING[kind]} in "
                     f"[{min(values):.4g}, {max(values):.4g}]")
    print("\n".join(lines))
    return EXIT_OK


# -- export --------------------------------------------------------------------------------
def cmd_export(args) -> int:
    """``eqprop-hw export``."""
    from eqprop_hw.circuit.netlist import fmt, write_netlist

    if _is_lc(args.spec):
        from eqprop_hw.lc.cli import cmd_export as lc_export
        if args.output:
            _check_output(args.output, args.spec, args.params)
        return lc_export(args, (lambda text: _atomic_write_text(args.output, text))
                         if args.output else sys.stdout.write)

    if args.analysis != "tran" and (args.tstep is not None or args.tstop is not None):
        raise UsageError("--tstep/--tstop apply to --analysis tran only")
    if args.output:
        _check_output(args.output, args.spec, args.params)
    circuit = _load_circuit(args.spec, args.params)
    inputs = None
    if args.input is not None:
        inputs = parse_numbers(args.input, "--input", len(circuit.inputs), _input_names(circuit))
    beta, targets = _nudging(args, circuit)
    loss, temperature = _loss_of(args, spec_path=args.spec)
    analysis = "op"
    if args.analysis == "tran":
        tstep = DEFAULT_TSTEP if args.tstep is None else args.tstep
        tstop = DEFAULT_TSTOP if args.tstop is None else args.tstop
        if tstep > tstop:
            raise UsageError(f"--tstep ({tstep:g} s) must not exceed --tstop ({tstop:g} s)")
        analysis = f".tran {fmt(tstep)} {fmt(tstop)}"
    text = write_netlist(circuit, inputs=inputs, beta=beta, targets=targets, analysis=analysis,
                         loss=loss, temperature=temperature)
    if args.output:
        _atomic_write_text(args.output, text)
    else:
        sys.stdout.write(text)
    return EXIT_OK


# -- import --------------------------------------------------------------------------------
def cmd_import(args) -> int:
    """``eqprop-hw import``."""
    try:
        from eqprop_hw.circuit.spice_import import import_netlist, spec_to_yaml
    except ImportError as error:
        if error.name not in ("eqprop_hw.circuit.spice_import",):
            raise
        raise BackendError("netlist import is not available in this installation "
                           "(eqprop_hw.circuit.spice_import is missing)") from None
    if args.output:
        _check_output(args.output, args.netlist)
    notes: list = []
    data = import_netlist(args.netlist, allow_unsafe=args.allow_unsafe, notes=notes)
    text = spec_to_yaml(data)
    if args.output:
        _atomic_write_text(args.output, text)
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    if notes:   # one line: what was left out, renamed or ignored
        print(f"{PROG}: note: " + "; ".join(notes), file=sys.stderr)
    return EXIT_OK


# -- simulate ------------------------------------------------------------------------------
def cmd_simulate(args) -> int:
    """``eqprop-hw simulate``."""
    from eqprop_hw.backends import make_backend
    from eqprop_hw.io.fileio import read_number_rows

    if _is_lc(args.spec):
        from eqprop_hw.lc.cli import cmd_simulate as lc_simulate
        return lc_simulate(args, _print_json)
    if args.input is None and args.input_file is None:
        raise UsageError("one of the arguments --input --input-file is required "
                         f"(see '{PROG} simulate --help')")
    circuit = _load_circuit(args.spec, args.params)
    names = _input_names(circuit)
    if args.input_file is not None:
        inputs = read_number_rows(args.input_file, len(circuit.inputs), names)
    else:
        inputs = np.asarray([parse_numbers(args.input, "--input", len(names), names)])
    beta, targets = _nudging(args, circuit)
    loss, temperature = _loss_of(args, spec_path=args.spec)
    from eqprop_hw.thermal import cli as thermal_cli
    from eqprop_hw.circuit.spec import load_spec
    gibbs = thermal_cli.gibbs_temperature(args, load_spec(args.spec), loss)
    if gibbs is not None:                # finite temperature: Gibbs samples (thermal_cli)
        thermal_cli.emit(args, thermal_cli.simulate_data(args, load_spec(args.spec), circuit,
                                                         inputs, beta, targets, gibbs),
                         _print_json)
        return EXIT_OK
    backend = make_backend(args.backend, circuit, **_loss_options(loss, temperature))
    with backend, _row_progress(backend, len(inputs), "simulate"):
        result = backend.solve(inputs, 0.0 if beta is None else beta, targets)
        if args.plot:
            _plot_sample(args.plot, circuit, backend, inputs, beta, targets, loss)
    converged = np.asarray(result.converged, dtype=bool).reshape(-1)
    outputs = np.asarray(result.outputs, dtype=float).reshape(len(inputs), -1)
    if args.input_file is None:
        data = {"backend": result.backend,
                "voltages": {"0": 0.0, **result.voltage_dict(0)},
                "outputs": outputs[0].tolist(),
                "converged": bool(converged.all()),
                "seconds": float(result.seconds)}
    else:
        data = {"backend": result.backend, "outputs": outputs.tolist(),
                "converged": converged.tolist(), "seconds": float(result.seconds)}
    if args.json:
        _print_json(data)
    elif args.input_file is None:
        width = max(len(port.name) for port in circuit.outputs) if circuit.outputs else 0
        for port, value in zip(circuit.outputs, outputs[0]):
            print(f"{port.name:<{width}}  V({port.node}) = {value:.9g} V")
        print(f"({result.backend} backend, {result.seconds:.3g} s)", file=sys.stderr)
    else:
        print(",".join(port.name for port in circuit.outputs))
        for row in outputs:
            print(",".join(f"{value:.9g}" for value in row))
        print(f"({result.backend} backend, {len(outputs)} rows, {result.seconds:.3g} s)",
              file=sys.stderr)
    if not converged.all():
        bad = np.flatnonzero(~converged)
        raise ConvergenceError(f"no converged operating point for {bad.size} of "
                               f"{converged.size} input row(s) (first: row {bad[0] + 1})")
    return EXIT_OK


# -- EP: grad, train, predict, check --------------------------------------------------------
def _spec_and_circuit(spec_path: str, params_path: str | None):
    from eqprop_hw.circuit.spec import load_spec
    spec = load_spec(spec_path)
    return spec, _load_circuit(spec_path, params_path)


def _default_beta(spec, beta):
    if beta is not None:
        return beta
    from eqprop_hw.learning.train import settings_from
    return settings_from(spec).beta


def cmd_grad(args) -> int:
    """``eqprop-hw grad``: EP from measured voltages, exact gradient, their agreement."""
    from eqprop_hw.backends import make_backend
    from eqprop_hw.learning.ep import ep_gradient
    from eqprop_hw.learning.reference import exact_gradient, gradient_agreement

    if _is_lc(args.spec):
        from eqprop_hw.lc.cli import cmd_grad as lc_grad
        return lc_grad(args, _print_json)
    if args.input is None or args.target is None:
        raise UsageError("the following arguments are required: --input, --target "
                         f"(see '{PROG} grad --help')")
    spec, circuit = _spec_and_circuit(args.spec, args.params)
    names = _input_names(circuit)
    x = np.asarray([parse_numbers(args.input, "--input", len(names), names)])
    outputs = [port.name for port in circuit.outputs]
    y = np.asarray([parse_numbers(args.target, "--target", len(outputs), outputs)])
    beta = _default_beta(spec, args.beta)
    loss_name, temperature = _loss_of(args, spec)
    from eqprop_hw.thermal import cli as thermal_cli
    gibbs = thermal_cli.gibbs_temperature(args, spec, loss_name)
    if gibbs is not None:                # finite temperature: sampled estimators (thermal_cli)
        thermal_cli.emit(args, thermal_cli.grad_data(args, spec, circuit, x, y, beta, gibbs),
                         _print_json)
        return EXIT_OK
    with make_backend(args.backend, circuit,
                      **_loss_options(loss_name, temperature)) as backend:
        estimate, _ = ep_gradient(backend, x, y, beta, args.nudge)
    loss, exact = exact_gradient(circuit, x, y, loss=loss_name, temperature=temperature)
    agreement = gradient_agreement(estimate, exact)
    data = {"loss": float(loss), "loss_kind": loss_name, "temperature": temperature,
            "backend": args.backend, "beta": beta, "nudge": args.nudge,
            "ep": dict(zip(circuit.trainable, np.asarray(estimate).tolist())),
            "exact": dict(zip(circuit.trainable, np.asarray(exact).tolist())),
            "cosine": agreement["cosine"], "rel_error": agreement["rel_error"]}
    if args.json:
        _print_json(data)
    else:
        units = ("nats", "W") if loss_name == "cross_entropy" else ("V^2", "S")
        print(f"loss {loss:.6g} {units[0]}; EP ({args.nudge}, beta={beta:g} {units[1]}, "
              f"{args.backend}) vs exact: cosine {agreement['cosine']:.6f}, relative error "
              f"{agreement['rel_error']:.3g}")
    return EXIT_OK


def cmd_train(args) -> int:
    """``eqprop-hw train``."""
    from eqprop_hw.circuit.spec import load_spec
    from eqprop_hw.learning.train import train

    spec = load_spec(args.spec)
    params = None
    if args.params is not None:
        from eqprop_hw.io.params import load_params
        params = load_params(args.params)
    out = args.out or os.path.join("runs", spec.name)
    if os.path.exists(out) and not os.path.isdir(out):
        raise UsageError(f"--out {out}: not a folder (training writes params, metrics and a "
                         "checkpoint into a folder)")
    if spec.kind == "lc":   # Hamiltonian LC network: the echo rule (eqprop_hw.lc.train)
        from eqprop_hw.lc.train import train_lc
        if args.workers or args.scheduler:
            raise UsageError("--workers/--scheduler are not available for lc specs")
        metrics = train_lc(spec, out, backend=args.backend, epochs=args.epochs, seed=args.seed,
                           params=params, plots=not args.no_plots, log=_log,
                           resume=args.resume, progress=True)
        if args.json:
            _print_json(metrics)
        else:
            _log(f"wrote {os.path.join(out, 'params.json')}, metrics.json and plots in {out}")
        return EXIT_OK
    metrics = train(spec, out, backend=args.backend, epochs=args.epochs, seed=args.seed,
                    resume=args.resume, params=params, progress=True,
                    plots=not args.no_plots, log=_log, workers=args.workers,
                    scheduler=args.scheduler, chunks=args.chunks, isolate=args.isolate)
    if args.json:
        _print_json(metrics)
    else:
        _log(f"wrote {os.path.join(out, 'params.npz')}, metrics.json and plots in {out}")
    return EXIT_OK


def _plot_sample(path: str, circuit, backend, inputs, beta, targets, loss: str,
                 where: str = "") -> None:
    """Draw the node-voltage map of one input row: free phase, and with ``beta`` the +beta
    and -beta nudged phases (:func:`eqprop_hw.io.plots.plot_node_voltages`)."""
    from eqprop_hw.io.plots import plot_node_voltages

    inputs = np.asarray(inputs, dtype=float)
    if inputs.shape[0] != 1:
        raise UsageError("--plot draws one sample: give --input (not --input-file)")
    if beta is None:
        results, labels = [backend.solve(inputs)], ["free"]
    else:
        results = backend.solve_phases(inputs, targets, [0.0, beta, -beta])
        labels = ["free", f"nudged (+beta = {beta:g})", f"nudged (-beta = {-beta:g})"]
    shown = ", ".join(f"{v:g}" for v in inputs[0][:6]) + (", ..." if inputs.shape[1] > 6 else "")
    plot_node_voltages(path, circuit, results[0].node_names,
                       {label: r.voltages[0] for label, r in zip(labels, results)},
                       targets=(np.asarray(targets, dtype=float).ravel()
                                if beta is not None and loss == "squared" else None),
                       title=f"{circuit.name}: node voltages, input [{shown}]{where} "
                             f"({backend.name} backend)")


def cmd_predict(args) -> int:
    """``eqprop-hw predict``: the circuit's predictions on its dataset."""
    from eqprop_hw.backends import make_backend
    from eqprop_hw.io.data import load_dataset
    from eqprop_hw.learning.train import evaluate

    if _is_lc(args.spec):
        from eqprop_hw.lc.cli import cmd_predict as lc_predict
        return lc_predict(args, _print_json)
    spec, circuit = _spec_and_circuit(args.spec, args.params)
    dataset = load_dataset(spec, circuit)
    x, y, index = dataset.split(args.split)
    loss, temperature = _loss_of(args, spec)
    with make_backend(args.backend, circuit, **_loss_options(loss, temperature)) as backend:
        with _row_progress(backend, len(x), f"predict ({args.split})"):
            result = evaluate(backend, dataset, x, y)
        if args.plot:
            if not 0 <= args.sample < len(x):
                raise UsageError(f"--sample {args.sample}: the {args.split} split has "
                                 f"{len(x)} rows (0 to {len(x) - 1})")
            row = slice(args.sample, args.sample + 1)
            _plot_sample(args.plot, circuit, backend, x[row], _default_beta(spec, None),
                         dataset.loss_targets(y[row], loss), loss,
                         f", {args.split} row {args.sample} (data set row "
                         f"{int(index[args.sample])}, label {_jsonable(y[args.sample])})")
    outputs = result["outputs"]
    predictions = dataset.predict(outputs, loss)
    gains = np.array([port.sources[0][1] for port in circuit.inputs])
    samples = []
    for row in range(len(x)):
        label = y[row]
        samples.append({"index": int(index[row]),
                        "label": label.tolist() if np.ndim(label) else _jsonable(label),
                        "prediction": (predictions[row].tolist() if np.ndim(predictions[row])
                                       else _jsonable(predictions[row])),
                        "inputs": (x[row] * gains).tolist(),
                        "outputs": outputs[row].tolist()})
    data = {"accuracy": result["accuracy"], "loss": result["loss"], "split": args.split,
            "backend": args.backend, "samples": samples}
    if args.json:
        _print_json(data)
    else:
        accuracy = "n/a" if result["accuracy"] is None else f"{100 * result['accuracy']:.2f}%"
        print(f"{args.split}: {len(x)} samples, accuracy {accuracy}, loss {result['loss']:.6g}")
    return EXIT_OK


def cmd_check(args) -> int:
    """``eqprop-hw check``: the reference table."""
    from eqprop_hw.learning.reference import check_report

    if _is_lc(args.spec):
        from eqprop_hw.lc.cli import cmd_check as lc_check
        return lc_check(args, _print_json)
    spec, circuit = _spec_and_circuit(args.spec, args.params)
    if args.samples < 1:
        raise UsageError("--samples must be at least 1")
    loss, temperature = _loss_of(args, spec)
    x, y = _check_inputs(spec, circuit, args.samples, loss)
    beta = _default_beta(spec, args.beta)
    backends = ("native",) if args.no_ngspice else ("native", "ngspice")
    rows = check_report(circuit, x, y, beta, backends=backends, loss=loss,
                        temperature=temperature)
    if args.json:
        _print_json({"spec": spec.name, "beta": beta, "loss": loss, "temperature": temperature,
                     "samples": len(x), "rows": rows})
        return EXIT_OK
    from eqprop_hw.learning.reference import format_report
    print(f"{spec.name}: {len(x)} sample(s), beta = {beta:g} "
          + (f"W, cross-entropy loss (tau = {temperature:g} V)" if loss == "cross_entropy"
             else "S"))
    print(format_report(rows))
    return EXIT_OK


def _check_inputs(spec, circuit, samples: int, loss: str = "squared"):
    """Inputs and targets for ``check``: the dataset's first training rows, else random
    (targets: voltages, or one-hot probabilities for the cross-entropy loss)."""
    if spec.data.get("dataset"):
        from eqprop_hw.io.data import load_dataset
        dataset = load_dataset(spec, circuit)
        return dataset.x_train[:samples], dataset.loss_targets(dataset.y_train[:samples], loss)
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (samples, len(circuit.inputs)))
    if loss == "cross_entropy":
        n_out = len(circuit.outputs)
        return x, np.eye(n_out)[np.arange(samples) % max(n_out, 1)]
    return x, rng.uniform(-0.1, 0.1, (samples, len(circuit.outputs)))


# -- bench ---------------------------------------------------------------------------------
def tools_folder() -> Path:
    """The ``tools/`` folder of the source checkout this package runs from."""
    return Path(eqprop_hw.__file__).resolve().parents[1] / "tools"


def _benchmarks(folder: Path) -> dict[str, Path]:
    return {path.stem[len("bench_"):]: path for path in sorted(folder.glob("bench_*.py"))}


def _load_benchmark(name: str, path: Path):
    module_name = f"eqprop_hw_tools_bench_{name}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise BackendError(f"{path}: cannot load benchmark module")
    module = importlib.util.module_from_spec(spec)
    folder = str(path.parent)
    added = folder not in sys.path
    if added:
        sys.path.insert(0, folder)
    try:
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
    finally:
        if added and folder in sys.path:
            sys.path.remove(folder)
    if not callable(getattr(module, "run", None)):
        raise BackendError(f"{path}: a benchmark module must define run(args) -> dict")
    return module


def _format_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)) and len(value) > 6:
        return f"[{len(value)} values]"
    return str(value)


def cmd_bench(args) -> int:
    """``eqprop-hw bench``: run ``tools/bench_*.py`` modules (``run(args) -> dict``)."""
    folder = tools_folder()
    if not folder.is_dir():
        raise UsageError("eqprop-hw bench runs the benchmarks in the repository's tools/ folder: "
                         "run it from a source checkout installed with pip install -e "
                         f"(looked for {folder})")
    available = _benchmarks(folder)
    if not available:
        raise UsageError(f"no benchmarks found in {folder} (expected files bench_*.py)")
    selected = []
    for name in args.names:
        key = name[len("bench_"):] if name.startswith("bench_") else name
        key = key[:-3] if key.endswith(".py") else key
        if key not in available:
            raise UsageError(f"unknown benchmark {name!r} (available: {', '.join(available)})")
        selected.append(key)
    suite = not selected                    # the whole suite: quick unless --full
    if suite and not getattr(args, "full", False):
        args.quick = True
    selected = selected or list(available)
    results: dict[str, dict] = {}
    summaries: dict[str, Any] = {}
    start = time.perf_counter()
    for key in selected:
        _log(f"running benchmark {key} ({available[key].name})")
        module = _load_benchmark(key, available[key])
        summaries[key] = getattr(module, "SUMMARY", None)
        with redirect_stdout(sys.stderr):  # keep stdout for the table / the JSON object
            result = module.run(args)
        if not isinstance(result, dict):
            raise BackendError(f"{available[key]}: run(args) returned "
                               f"{type(result).__name__}, expected a dict")
        results[key] = result
    seconds = time.perf_counter() - start
    if args.json:
        _print_json({"benchmarks": results, "seconds": seconds})
        return EXIT_OK
    # The suite's table shows each benchmark's SUMMARY keys (its ratios) when it names them.
    rows = [(key, str(field), _format_value(value))
            for key, result in results.items() for field, value in result.items()
            if not (suite and summaries[key]) or field in summaries[key]]
    widths = [max([len(header)] + [len(row[column]) for row in rows])
              for column, header in enumerate(("benchmark", "result", "value"))]
    print(f"{'benchmark':<{widths[0]}}  {'result':<{widths[1]}}  value")
    for row in rows:
        print(f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]}")
    return EXIT_OK


# -- entry point ---------------------------------------------------------------------------
#: Longest error line printed (characters): a message quoting a huge value is cut.
MAX_ERROR_CHARS = 900


def _one_line(text: str) -> str:
    line = " ".join(str(text).split()) or "(no message)"
    if len(line) > MAX_ERROR_CHARS:
        line = line[:MAX_ERROR_CHARS - 40] + f" ... ({len(line):,} characters in all)"
    return line


def _os_message(error: OSError) -> str:
    reason = error.strerror or str(error)
    return f"{error.filename}: {reason}" if error.filename else reason


def exit_code(error: BaseException) -> int:
    """The exit code for an error (see the module docstring)."""
    if isinstance(error, TrainingInterrupted):
        return 128 + int(error.signum)      # 130 for SIGINT, 143 for SIGTERM
    if isinstance(error, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    if isinstance(error, (ConvergenceError, BackendError)):
        return EXIT_SIMULATION
    if isinstance(error, (EqpropError, OSError)):
        return EXIT_USAGE
    return EXIT_INTERNAL


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``eqprop-hw`` with ``argv`` (default: ``sys.argv[1:]``); return the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    verbose = False
    try:
        parser = build_parser()
        try:
            args = parser.parse_args(argv)
        except SystemExit as stop:  # --help, --version
            return stop.code if isinstance(stop.code, int) else EXIT_OK
        verbose = bool(getattr(args, "verbose", False))
        return int(args.func(args) or EXIT_OK)
    except BrokenPipeError:  # e.g. `eqprop-hw export spec.yaml | head`
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError, AttributeError):
            pass
        return EXIT_SIMULATION
    except BaseException as error:  # noqa: BLE001 - the one place errors become exit codes
        if isinstance(error, SystemExit):
            raise
        code = exit_code(error)
        if verbose:
            traceback.print_exc(file=sys.stderr)
        if isinstance(error, TrainingInterrupted):
            print(f"{PROG}: {_one_line(str(error))}", file=sys.stderr)
            return code
        if isinstance(error, KeyboardInterrupt):
            message = "interrupted"
        elif isinstance(error, EqpropError):
            message = str(error)
        elif isinstance(error, OSError):
            message = _os_message(error)
        else:
            message = (f"internal error: {type(error).__name__}: {error} "
                       "(run with --verbose for the traceback and please report it)")
        print(f"{PROG}: error: {_one_line(message)}", file=sys.stderr)
        return code


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
