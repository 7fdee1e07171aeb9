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
from eqprop_hw.errors import (BackendError, ConvergenceError, EqpropError,
                              SimulatorTimeout, TrainingInterrupted)
from eqprop_hw.learning.limits import MAX_EPOCHS, MAX_SEED
from eqprop_hw.networks.options import (MAX_CLI_VALUES, UsageError,  # noqa: F401
                                        parse_numbers)
from eqprop_hw.networks.resistive_commands import DEFAULT_TSTEP, DEFAULT_TSTOP

PROG = "eqprop-hw"

EXIT_OK = 0
EXIT_SIMULATION = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 3
EXIT_INTERRUPTED = 130

#: Limits of command-line counts (documented in docs/specs.md, "Limits"); MAX_EPOCHS and
#: MAX_SEED are the library's (eqprop_hw.learning.limits).
MAX_THERMAL_SAMPLES = 1_000_000
MAX_CHECK_SAMPLES = 10_000
MAX_WORKERS = 256
MAX_CHUNKS = 65_536


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
    from eqprop_hw.io.fileio import parse_decimal, quote
    value = parse_decimal(text.strip())
    if value is None:
        raise argparse.ArgumentTypeError(f"{quote(text)} is not a number")
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{quote(text)} is not a finite number")
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
            if re.fullmatch(r"[+-]?[0-9]+", text.strip()) is None:   # int() takes 1_0, '١'
                raise ValueError(text)
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{quote(text)} is not a whole number") from None
        if not minimum <= value <= maximum:
            raise argparse.ArgumentTypeError(f"{value} is out of range (allowed: {minimum} to "
                                             f"{maximum})")
        return value
    return whole_number




class TemperatureAction(argparse.Action):
    """``--temperature``: the Gibbs temperature T (W) of finite-temperature sampling, in
    ``args.gibbs_temperature`` (only that: the softmax temperature of the cross-entropy loss is
    ``--softmax-temperature``). On commands without finite-temperature modes (``gibbs=False``:
    export, predict, check) the option is hidden and refused with a line naming
    ``--softmax-temperature``."""

    def __init__(self, option_strings, dest, gibbs: bool = True, **kwargs):
        self.gibbs = gibbs
        super().__init__(option_strings, dest, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        if not self.gibbs:
            raise UsageError(f"--temperature: {parser.prog} has no Gibbs temperature; the "
                             "softmax temperature of the cross-entropy loss is "
                             "--softmax-temperature TAU (V)")
        namespace.gibbs_temperature = values


class SoftmaxTemperatureAction(argparse.Action):
    """``--softmax-temperature``: the cross-entropy loss's softmax temperature (V), in
    ``args.temperature`` (where the loss settings read it) and ``args.softmax_temperature``."""

    def __call__(self, parser, namespace, values, option_string=None):
        namespace.softmax_temperature = values
        namespace.temperature = values


def lc_waveform_args(sub, inputs: bool = True) -> None:
    """``--input-file`` (with ``inputs``) and ``--target-file``: an lc spec's waveforms."""
    if inputs:
        sub.add_argument("--input-file", metavar="ROWS.csv|.npy",
                         help="lc specs: input waveforms, one row per grid time, one column "
                              "per input (A); CSV or .npy (default: the spec's, else its "
                              "dataset's first sequence)")
    sub.add_argument("--target-file", metavar="ROWS.csv|.npy",
                     help="lc specs: target waveforms, one row per grid time, one column per "
                          "output (Wb or A); CSV or .npy (default: the spec's targets, else "
                          "its dataset's first sequence)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``eqprop-hw`` (all commands).

    Long because: it is the argparse table of every command, one ``add_argument`` per option in
    the order ``eqprop-hw --help`` and ``docs/cli.md`` show them; cli.py is shared with every
    slice, so a split per command is left to the integrator.
    """
    common = _Parser(add_help=False)
    common.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                        help="show tracebacks of errors (for debugging; default: off)")
    common.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                        help="no progress bars and no lines saying what was written or done "
                             "on stderr (errors and warnings still print; default: off)")

    parser = _Parser(prog=PROG, description="Analog circuits that learn by Equilibrium "
                     "Propagation: specs, SPICE netlists, ngspice and native simulation.")
    parser.add_argument("--version", action="version", version=f"{PROG} {eqprop_hw.__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", default=False,
                        help="show tracebacks of errors (for debugging; default: off)")
    parser.add_argument("-q", "--quiet", action="store_true", default=False,
                        help="no progress bars and no lines saying what was written or done "
                             "on stderr (default: off)")
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
                         help="trained element values (.json or .npz, conductances in S; "
                              "default: the spec's values)")

    def nudge_args(sub):
        sub.add_argument("--beta", type=_finite_float, metavar="B",
                         help="nudging conductance (S) from each output to its target "
                              "(W with --loss cross_entropy; default: none, the free phase)")
        sub.add_argument("--target", metavar="Y",
                         help="target voltages (V), comma-separated, in output order "
                              "(probabilities with --loss cross_entropy; default: none, "
                              "needed with --beta)")

    def loss_args(sub, gibbs=False):
        sub.add_argument("--loss", choices=("squared", "cross_entropy"),
                         help="loss whose nudge and value are used (default: the spec's "
                              "training.loss, else squared)")
        sub.add_argument("--softmax-temperature", type=_positive_float, metavar="TAU",
                         action=SoftmaxTemperatureAction,
                         help="softmax temperature (V) of the cross-entropy loss (default: the "
                              "spec's training.temperature, 0.1)")
        sub.add_argument("--temperature", type=_positive_float, metavar="T",
                         action=TemperatureAction, gibbs=gibbs,
                         help="the Gibbs temperature T (W) of finite-temperature sampling, "
                              "p ~ exp(-E_beta/T), squared loss only (default: the spec's "
                              "top-level temperature, else zero temperature)"
                              if gibbs else argparse.SUPPRESS)
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
    sub.add_argument("--json", action="store_true",
                     help="print one JSON object (default: off, human-readable text)")

    sub = add("export", cmd_export, "write the SPICE netlist of a spec (runs with ngspice -b)")
    spec_args(sub)
    sub.add_argument("--input", metavar="X",
                     help="input values, comma-separated, in input order (default: 0 V "
                          "sources, set later with alter)")
    lc_waveform_args(sub)
    nudge_args(sub)
    loss_args(sub)
    sub.add_argument("--analysis", choices=("op", "tran"), default="op",
                     help="analysis card: .op (default) or .tran TSTEP TSTOP")
    sub.add_argument("--tstep", type=_positive_float, metavar="S",
                     help=f"time step (s) of --analysis tran (default {DEFAULT_TSTEP:g})")
    sub.add_argument("--tstop", type=_positive_float, metavar="S",
                     help=f"stop time (s) of --analysis tran (default {DEFAULT_TSTOP:g})")
    sub.add_argument("-o", "--output", metavar="FILE",
                     help="write the netlist here (atomically; default: stdout)")
    sub.add_argument("--twin", action="store_true",
                     help="write the ONE transient in which twin-network circuitry trains "
                          "the circuit (training.rule coupled, batch_size 1; default: off)")
    sub.add_argument("--epochs", type=_bounded_int(1, MAX_EPOCHS), metavar="N",
                     help="--twin: override training.epochs (default: the spec's)")

    sub = add("import", cmd_import, "turn a SPICE netlist (safe subset) into a spec")
    sub.add_argument("netlist", metavar="NETLIST", help="SPICE netlist file")
    sub.add_argument("-o", "--output", metavar="SPEC",
                     help="write the spec (YAML) here (atomically; default: stdout)")
    sub.add_argument("--allow-unsafe", action="store_true",
                     help="accept constructs outside the safe subset (trusted netlists only; "
                          "default: off)")
    sub.add_argument("--inputs", metavar="SOURCES",
                     help="independent sources that become the inputs, e.g. V1,V2, in "
                          "order (case-insensitive; each keeps its imported value as its dc; "
                          "default: none)")
    sub.add_argument("--outputs", metavar="NODES",
                     help="nodes whose voltages are the outputs, e.g. n3,n5, in order "
                          "(default: none)")
    sub.add_argument("--trainable", metavar="PATTERNS",
                     help="resistors that learn: names or shell-style patterns (R*, R[1-4]), "
                          "comma-separated, case-insensitive (default: every resistor)")
    sub.add_argument("--data", metavar="NAME",
                     help="the spec's data set: teacher, xor, iris, digits, none or "
                          "mnist:PATH (default with --inputs and --outputs: teacher)")

    sub = add("simulate", cmd_simulate, "operating point(s) of a spec for given inputs")
    spec_args(sub)
    # required (checked in cmd_simulate) except for lc specs, whose inputs are waveforms
    source = sub.add_mutually_exclusive_group(required=False)
    source.add_argument("--input", metavar="X",
                        help="input values, comma-separated, in input order (default: none; "
                             "required unless the spec has no inputs or --input-file is given, "
                             "except for lc specs)")
    source.add_argument("--input-file", metavar="ROWS.csv",
                        help="CSV file, one input vector per row (optional header line); lc "
                             "specs: input waveforms, one row per grid time (CSV or .npy; "
                             "default: none)")
    sub.add_argument("--target-file", metavar="ROWS.csv|.npy",
                     help="lc specs: target waveforms, one row per grid time, one column per "
                          "output (Wb or A); CSV or .npy: adds the loss (default: none)")
    nudge_args(sub)
    loss_args(sub, gibbs=True)
    thermal_args(sub)
    sub.add_argument("--backend", choices=("ngspice", "native"), default="native",
                     help="simulator (default: native)")
    sub.add_argument("--json", action="store_true",
                     help="print one JSON object (default: off, human-readable text)")
    sub.add_argument("--plot", metavar="FILE.png",
                     help="also draw the node voltages per layer (with --beta/--target: free "
                          "phase vs the +beta and -beta nudged phases); needs --input, not "
                          "--input-file (default: no figure)")

    sub = add("bench", cmd_bench, "run the benchmarks bundled with the package (eqprop_hw/bench/)")
    sub.add_argument("names", nargs="*", metavar="NAME",
                     help="benchmarks to run (eqprop_hw/bench/NAME.py; default: all, quick)")
    sub.add_argument("--quick", action="store_true",
                     help="smaller runs (passed to each benchmark as args.quick); the default "
                          "when no NAME is given")
    sub.add_argument("--full", action="store_true",
                     help="full-size runs even when no NAME is given (takes much longer; "
                          "default: off)")
    sub.add_argument("--json", action="store_true",
                     help="print one JSON object (default: off, human-readable text)")

    sub = add("grad", cmd_grad, "EP gradient from measured node voltages vs the exact gradient")
    spec_args(sub)
    # --input/--target: required (checked in cmd_grad) except for lc specs
    sub.add_argument("--input", metavar="X",
                     help="input values, comma-separated, in input order (default: none; "
                          "required unless the spec has no inputs, except for lc specs)")
    sub.add_argument("--target", metavar="Y",
                     help="target voltages (V), comma-separated, in output order (default: "
                          "none, required except for lc specs)")
    lc_waveform_args(sub)
    sub.add_argument("--beta", type=_positive_float, metavar="B",
                     help="nudging conductance (S) (default: the spec's training.beta)")
    sub.add_argument("--nudge", choices=("positive", "negative", "centered"),
                     default="centered", help="nudging mode (default: centered)")
    sub.add_argument("--rule", choices=("ep", "coupled"), default="ep",
                     help="ep: nudge the outputs with beta; coupled: clamp them at "
                          "V_F + eta (y - V_F) with voltage sources (Coupled Learning, "
                          "resistive specs, squared loss) (default: ep)")
    sub.add_argument("--eta", type=_positive_float, metavar="E",
                     help="--rule coupled: clamped fraction of the output error, in (0, 1] "
                          "(default: the spec's training.eta, else 0.1)")
    loss_args(sub, gibbs=True)
    thermal_args(sub)
    sub.add_argument("--backend", choices=("ngspice", "native"), default="native",
                     help="simulator whose node voltages the local rule measures (default: "
                          "%(default)s)")
    sub.add_argument("--continuous-reference", action=argparse.BooleanOptionalAction,
                     help="lc specs: also compare the echo with BPTT converged in the time "
                          "step (the continuous-time circuit: BPTT at tstep/2 and tstep/4, "
                          "Richardson-extrapolated) (default: on with --backend ngspice)")
    sub.add_argument("--json", action="store_true",
                     help="print one JSON object (default: off, human-readable text)")

    sub = add("train", cmd_train, "train a spec's circuit on its dataset with the local EP rule")
    sub.add_argument("spec", metavar="SPEC", help="circuit spec with a dataset section")
    sub.add_argument("--params", metavar="P", help="start from these element values (default: "
                                                   "the spec's initial values)")
    sub.add_argument("--backend", choices=("ngspice", "native"), default="native",
                     help="simulator in the loop (default: native)")
    sub.add_argument("--epochs", type=_bounded_int(1, MAX_EPOCHS), metavar="N",
                     help=f"override training.epochs (1 to {MAX_EPOCHS}; default: the spec's)")
    sub.add_argument("--seed", type=_bounded_int(0, MAX_SEED), metavar="S",
                     help="override training.seed (0 to 2^32-1; default: the spec's)")
    sub.add_argument("--set", action="append", metavar="KEY=VALUE", dest="set",
                     help="override any spec setting, e.g. training.learning_rate=0.05 or "
                          "training.batch_size=8 (dotted keys of the spec; repeatable; "
                          "checked like the spec; recorded in metrics.json 'overrides'; "
                          "default: none)")
    sub.add_argument("--out", metavar="DIR", help="output folder (default: runs/<spec name>)")
    sub.add_argument("--resume", action="store_true",
                     help="continue from DIR/checkpoint.npz (same result as an uninterrupted "
                          "run); without a checkpoint yet, start from the beginning (default: "
                          "off)")
    sub.add_argument("--keep-checkpoint", action="store_true",
                     help="keep DIR/checkpoint.npz after the run has finished, to continue it "
                          "later with --resume --epochs N (default: off, it is removed)")
    sub.add_argument("--no-plots", action="store_true",
                     help="do not draw the PNG figures (default: off; they are drawn once, "
                          "at the end)")
    sub.add_argument("--twin", action="store_true",
                     help="train with twin-network circuitry: the whole run is ONE ngspice "
                          "transient (training.rule coupled, batch_size 1; writes twin.cir; "
                          "default: off)")
    sub.add_argument("--json", action="store_true",
                     help="print the metrics as one JSON object (metrics.json's keys, with "
                          "epoch_seconds_total: each epoch's whole time in s, training and "
                          "evaluation; wall_seconds: the run's wall time; overrides: the --set "
                          "settings; default: off)")
    where = sub.add_mutually_exclusive_group()
    where.add_argument("--workers", type=_bounded_int(1, MAX_WORKERS), metavar="N",
                       help="data-parallel training on a local Dask cluster of N worker "
                            "processes (needs eqprop-hw[distributed]; default: one process); "
                            "one line says where the minibatches run and why: no cluster is "
                            "started when a minibatch is one task (one part, see --chunks) or "
                            "when even idle workers could not gain on it")
    where.add_argument("--scheduler", metavar="ADDR",
                       help="data-parallel training on the Dask cluster at ADDR "
                            "(e.g. tcp://host:8786; every minibatch goes to the cluster, in "
                            "parts as --chunks says; default: none)")
    sub.add_argument("--chunks", type=_bounded_int(1, MAX_CHUNKS), metavar="C",
                     help="solve every minibatch in C contiguous parts (always obeyed); the "
                          "same C gives the same result in one process or on any cluster. "
                          "Default with --workers/--scheduler, from what a part costs (never "
                          "from timing): native, parts of at least 128 rows (the native "
                          "solver's own chunk), at most one per worker (1 on every bundled "
                          "example: --workers then solves whole minibatches in this process, "
                          "the numbers of a run without --workers); ngspice, one per worker. "
                          "Default otherwise: whole minibatches")
    sub.add_argument("--isolate", action=argparse.BooleanOptionalAction, default=None,
                     help="run ngspice in a child process, restarted if it crashes (default: "
                          "on with --backend ngspice; up to ~1.4x the time per sample on the "
                          "smallest circuits, ~1x on digits: 'eqprop-hw bench isolation')")

    sub = add("predict", cmd_predict, "predictions of a trained circuit on its dataset")
    sub.add_argument("spec", metavar="SPEC", help="circuit spec with a dataset section")
    sub.add_argument("--params", metavar="P", help="trained element values (.npz or .json; "
                                                   "default: the spec's values)")
    sub.add_argument("--split", choices=("train", "test", "all"), default="test",
                     help="rows of the data set to predict (default: %(default)s)")
    sub.add_argument("--backend", choices=("ngspice", "native"), default="native",
                     help="simulator (default: %(default)s)")
    lc_waveform_args(sub)
    loss_args(sub)
    sub.add_argument("--json", action="store_true",
                     help="print one JSON object (default: off, human-readable text)")
    sub.add_argument("--plot", metavar="FILE.png",
                     help="also draw the node voltages per layer of one sample of the split: "
                          "free phase vs the nudged phases (the spec's training.beta, towards "
                          "its label; default: no figure)")
    sub.add_argument("--sample", type=int, default=0, metavar="K",
                     help="row of the split drawn by --plot (default: %(default)s)")

    sub = add("check", cmd_check, "reference checks: EP (ngspice, native, software) vs the exact "
              "gradient and finite differences, and backend agreement")
    spec_args(sub)
    sub.add_argument("--samples", type=_bounded_int(1, MAX_CHECK_SAMPLES), default=4,
                     metavar="N", help="inputs to check (from the dataset, else random; "
                                       f"default 4, at most {MAX_CHECK_SAMPLES})")
    sub.add_argument("--beta", type=_positive_float, metavar="B",
                     help="nudging conductance (S) (default: the spec's training.beta)")
    sub.add_argument("--no-ngspice", action="store_true",
                     help="skip the ngspice rows (default: off)")
    lc_waveform_args(sub)
    loss_args(sub)
    sub.add_argument("--json", action="store_true",
                     help="print one JSON object (default: off, human-readable text)")
    return parser


# -- helpers -------------------------------------------------------------------------------
def _log(message: str) -> None:
    print(f"{PROG}: {message}", file=sys.stderr)


def _logger(args):
    """Where a command's informational lines go: stderr, or nowhere with ``--quiet``."""
    return None if getattr(args, "quiet", False) else _log


def _wrote(args, path) -> None:
    """Say which file a command wrote (one line on stderr; nothing with ``--quiet``)."""
    if not getattr(args, "quiet", False):
        _log(f"wrote {path}")


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
        from eqprop_hw.networks.results import plain
        text = json.dumps(plain(data), allow_nan=False)
    sys.stdout.write(text + "\n")


def _check_output(output: str, *inputs: str | None, option: str = "-o") -> None:
    """Refuse an output (``-o``, ``--plot``) naming one of the command's input files."""
    target = Path(output).resolve()
    for source in inputs:
        if source is not None and Path(source).resolve() == target:
            raise UsageError(f"{option} {output} would overwrite the input file {source}")


#: Options naming files a command reads (a --plot must not overwrite any of them).
INPUT_OPTIONS = ("spec", "params", "input_file", "target_file")


def _check_plot(args) -> None:
    """Refuse ``--plot`` naming the spec, params or data file (it was replaced by a PNG)."""
    plot = getattr(args, "plot", None)
    if plot:
        _check_output(plot, *(getattr(args, key, None) for key in INPUT_OPTIONS),
                      option="--plot")


def _atomic_write_text(path: str, text: str) -> None:
    from eqprop_hw.io.fileio import atomic_write_text
    atomic_write_text(path, text)


# -- the commands on a network: load once (the kind picks the class), report, print --------
#: Options only lc specs take, per command (other kinds refuse them rather than ignore them).
LC_ONLY_OPTIONS = {"export": ("input_file", "target_file"),
                   "grad": ("input_file", "target_file", "continuous_reference"),
                   "check": ("input_file", "target_file"),
                   "predict": ("input_file", "target_file"),
                   "simulate": ("target_file",)}


def _refuse_lc_only(args, network) -> None:
    """UsageError for an lc-only option (:data:`LC_ONLY_OPTIONS`) given with another kind."""
    if network.kind == "lc":
        return
    for name in LC_ONLY_OPTIONS.get(getattr(args, "command", None), ()):
        if getattr(args, name, None) is not None:
            what = "a continuous-time reference" if name == "continuous_reference" \
                else "waveform files"
            raise UsageError(f"--{name.replace('_', '-')}: only lc specs take {what} "
                             f"({args.command})")


def _report(args):
    """Load the spec (and ``--params``) once and run the command on the network:
    :meth:`eqprop_hw.networks.base.Network.report`."""
    overrides = None
    if getattr(args, "set", None):
        from eqprop_hw.circuit.overrides import parse_settings
        overrides = parse_settings(args.set, "--set")
    from eqprop_hw.learning.progress import waiting
    with waiting(f"loading {Path(args.spec).name}", not getattr(args, "quiet", False), 1.0):
        network = eqprop_hw.load(args.spec, args.params, overrides=overrides)   # imports too
    _refuse_lc_only(args, network)
    try:
        return network.report(args.command, args, log=_logger(args))
    except SimulatorTimeout as error:
        raise _with_file(error, args.spec) from None


def _with_file(error, spec):
    """A request stopped at its time limit, with the spec file in front (the backend running
    it does not know the file); any other error as it is."""
    if isinstance(error, SimulatorTimeout) and spec and not str(error).startswith(f"{spec}: "):
        return SimulatorTimeout(f"{spec}: {error}", error.row, error.reason)
    return error


def _show(args, report) -> int:
    """Print a report: one JSON object with ``--json``, else its lines (stdout) and trailer
    (stderr); notes go to stderr either way. Raises the report's failure after printing."""
    for note in report.notes:
        print(note, file=sys.stderr)
    if getattr(args, "json", False):
        _print_json(report.data)
    else:
        if report.lines:
            print("\n".join(report.lines))
        if not getattr(args, "quiet", False):
            for line in report.trailer:
                print(line, file=sys.stderr)
    if report.failure is not None:
        raise _with_file(report.failure, getattr(args, "spec", None))
    return EXIT_OK


def cmd_describe(args) -> int:
    """``eqprop-hw describe``."""
    return _show(args, _report(args))


def cmd_export(args) -> int:
    """``eqprop-hw export``: the netlist on stdout or (atomically) in ``-o FILE``."""
    network = eqprop_hw.load(args.spec, args.params)
    _refuse_lc_only(args, network)
    if args.output:
        _check_output(args.output, args.spec, args.params, args.input_file, args.target_file)
    text = network.report("export", args).text
    if args.output:
        _atomic_write_text(args.output, text)
        _wrote(args, args.output)
    else:
        sys.stdout.write(text)
    return EXIT_OK


def cmd_simulate(args) -> int:
    """``eqprop-hw simulate``."""
    return _show(args, _report(args))


def cmd_grad(args) -> int:
    """``eqprop-hw grad``: EP from measured voltages, exact gradient, their agreement."""
    return _show(args, _report(args))


def cmd_train(args) -> int:
    """``eqprop-hw train``."""
    return _show(args, _report(args))


def cmd_predict(args) -> int:
    """``eqprop-hw predict``: the circuit's predictions on its dataset."""
    return _show(args, _report(args))


def cmd_check(args) -> int:
    """``eqprop-hw check``: the reference table."""
    return _show(args, _report(args))


# -- import --------------------------------------------------------------------------------
def cmd_import(args) -> int:
    """``eqprop-hw import``."""
    try:
        from eqprop_hw.circuit.import_roles import import_with_roles, split_names
        from eqprop_hw.circuit.spice_import import spec_to_yaml
    except ImportError as error:
        if error.name not in ("eqprop_hw.circuit.spice_import",):
            raise
        raise BackendError("netlist import is not available in this installation "
                           "(eqprop_hw.circuit.spice_import is missing)") from None
    if args.output:
        _check_output(args.output, args.netlist)
    notes: list = []
    data = import_with_roles(args.netlist, split_names(args.inputs), split_names(args.outputs),
                             split_names(args.trainable), args.data,
                             allow_unsafe=args.allow_unsafe, notes=notes,
                             labels={key: f"--{key}" for key in ("inputs", "outputs",
                                                                 "trainable", "data")})
    text = spec_to_yaml(data)
    if args.output:
        _atomic_write_text(args.output, text)
        _wrote(args, args.output)
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    if notes:   # one line: what was left out, renamed or ignored
        print(f"{PROG}: note: " + "; ".join(notes), file=sys.stderr)
    return EXIT_OK


# -- bench ---------------------------------------------------------------------------------
def bench_folder() -> Path:
    """The benchmark modules' folder, ``eqprop_hw/bench/`` (installed with the package)."""
    return Path(eqprop_hw.__file__).resolve().parent / "bench"


def _benchmarks(folder: Path) -> dict[str, Path]:
    """Benchmark name -> module file: every ``NAME.py`` of ``folder`` but ``_private.py``."""
    return {path.stem: path for path in sorted(folder.glob("*.py"))
            if not path.stem.startswith("_")}


def _load_benchmark(name: str, path: Path):
    module_name = f"eqprop_hw_bench_{name}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise BackendError(f"{path}: cannot load benchmark module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    if not callable(getattr(module, "run", None)):
        raise BackendError(f"{path}: a benchmark module must define run(args) -> dict")
    return module


def cmd_bench(args) -> int:
    """``eqprop-hw bench``: run the ``eqprop_hw/bench/NAME.py`` modules (``run(args) -> dict``)."""
    folder = bench_folder()
    available = _benchmarks(folder) if folder.is_dir() else {}
    if not available:
        raise UsageError(f"no benchmarks found in {folder} (expected files NAME.py defining "
                         "run(args); reinstall eqprop-hw)")
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
    tables: dict[str, tuple] = {}
    start = time.perf_counter()
    for key in selected:
        if not getattr(args, "quiet", False):
            _log(f"running benchmark {key} ({available[key].name})")
        module = _load_benchmark(key, available[key])
        tables[key] = getattr(module, "TABLE", ())
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
    # One line per headline result of each benchmark (its TABLE, see eqprop_hw/bench/_table.py).
    # A module without a TABLE (one of your own) shows every key it returns.
    from eqprop_hw.bench._table import Row, format_table, suite_row, table_rows
    lines = [line for key, result in results.items()
             for line in table_rows(key, tables[key] or [Row(k, k) for k in result], result)]
    if suite:                  # the suite's own time: this one run, start to end
        lines.append(suite_row(len(results), bool(args.quick), seconds))
    print(format_table(lines))
    print(f"{len(results)} benchmark(s) in {seconds:.0f} s{' (quick runs)' if args.quick else ''}; "
          "every measured number: --json")
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
        _check_plot(args)
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
