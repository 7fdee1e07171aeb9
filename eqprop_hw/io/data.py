"""Data sets a circuit learns: loading, splitting, encoding, targets.

:func:`load_dataset` reads a spec's ``dataset`` section (``docs/specs.md``) and returns a
:class:`Dataset`: input values for the circuit (after the spec's encoding), labels or targets,
and the row of every sample in the original data set.

=========  ==============  =====================================================================
name       task            samples and split
=========  ==============  =====================================================================
xor        classification  the 4 points of {0, 1}^2, label ``a XOR b``, rows in the order
                           (0,0) (0,1) (1,0) (1,1); train = test = all 4 (``test_fraction`` and
                           ``samples`` are ignored)
iris       classification  scikit-learn's ``load_iris`` (150 x 4, 3 classes); stratified split
digits     classification  scikit-learn's ``load_digits`` (1797 x 64 pixels 0..16, 10 classes);
                           stratified split
teacher    regression      ``samples`` (default 500) inputs uniform in [-1, 1]; targets are the
                           output voltages of a random *teacher* circuit (the spec's circuit
                           re-drawn with seed ``dataset.seed + 1000``) solved by the native
                           backend; random split
mnist      classification  files the user brings (``path``): an ``.npz`` with ``x_train``,
                           ``y_train``, ``x_test``, ``y_test`` or a folder of the four IDX files;
                           the files' own train/test split
=========  ==============  =====================================================================

Splits use :func:`sklearn.model_selection.train_test_split` with ``random_state =
dataset.seed`` and ``test_size = test_fraction`` (stratified by label for classification); each
part is then put back in original row order, so ``index_train`` and ``index_test`` are sorted.
``test_fraction: 0`` gives an empty test set. The same spec and seed give identical arrays.

Encodings map raw features to input values with an affine map fitted on the **training** rows
only (``value = (raw - offset) / scale``, see :meth:`Dataset.encode`):

- ``standard``: per feature, offset = mean, scale = standard deviation (0 -> 1);
- ``minmax``: per feature, offset = min, scale = max - min (0 -> 1, a constant feature gives 0);
  for image data (digits, mnist) one global range for every pixel so pixels map to [0, 1]:
  digits 0..16, 8-bit mnist images 0..255, other mnist images the training set's min..max;
- ``raw``: the features as they are.

When the spec leaves ``encoding`` out, each data set takes its own default: xor ``raw``, iris
``standard``, digits ``minmax`` (pixels / 16), teacher ``raw``, mnist ``minmax`` (pixels / 255).

Classification targets are ``target_high`` (default 1 V) on the output of the correct class and
``target_low`` (default 0 V) on the others. A circuit with **one output** learns a two-class data
set (xor) with target ``target_high`` for label 1 and ``target_low`` for label 0; its prediction
is label 1 when the output is beyond the midpoint ``(high + low) / 2`` on the ``high`` side.
With the cross-entropy loss the targets are one-hot probabilities instead
(:meth:`Dataset.probabilities`, one output per class) and ``target_high``/``target_low`` are not
used; the prediction is the output with the highest voltage.

Examples
--------
>>> from eqprop_hw.circuit.spec import parse_spec
>>> spec = parse_spec({"name": "x", "kind": "layered", "layers": [2, 4, 1],
...                    "dataset": {"name": "xor"}})
>>> data = load_dataset(spec)
>>> data.x_train.tolist(), data.y_train.tolist()
([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]], [0, 1, 1, 0])
>>> data.targets([0, 1]).tolist()
[[0.0], [1.0]]
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from eqprop_hw.errors import EqpropError, SpecError
from eqprop_hw.errors import InputDataError
from eqprop_hw.extras import require
# Re-exported: reading MNIST-style files lives in a module of its own.
from eqprop_hw.io.mnist import IDX_TYPES, MNIST_IDX_FILES, load_mnist_files, read_idx  # noqa: F401

#: Default encoding of each data set when the spec does not set one.
DEFAULT_ENCODING = {"xor": "raw", "iris": "standard", "digits": "minmax", "teacher": "raw",
                    "mnist": "minmax"}
DEFAULT_TARGET_HIGH = 1.0
DEFAULT_TARGET_LOW = 0.0
#: Rows of the teacher data set when ``samples`` is not set.
DEFAULT_TEACHER_SAMPLES = 500
#: The teacher circuit is drawn with seed ``dataset.seed + TEACHER_SEED_OFFSET``.
TEACHER_SEED_OFFSET = 1000
#: Teacher inputs are drawn uniformly in this range.
TEACHER_INPUT_RANGE = (-1.0, 1.0)
#: Graph specs: each trainable value of the teacher is the spec's value times a factor drawn
#: uniformly in this range.
TEACHER_GRAPH_FACTOR = (0.5, 2.0)
#: Largest ``dataset.samples`` / ``test_samples`` (the teacher draws and solves that many).
MAX_DATASET_SAMPLES = 1_000_000
#: Rows solved at once when computing teacher targets.
TEACHER_CHUNK = 256

# -- the Dataset --------------------------------------------------------------------------
@dataclass
class Dataset:
    """A data set ready for a circuit.

    Attributes
    ----------
    name : str
        ``xor``, ``iris``, ``digits``, ``teacher`` or ``mnist``.
    task : str
        ``"classification"`` or ``"regression"``.
    x_train, x_test : ndarray, shape (n, n_inputs)
        Input values after the encoding: what ``backend.solve`` takes (the circuit's input
        gains then make volts).
    y_train, y_test : ndarray
        Integer labels, shape (n,) (classification) or target voltages, shape
        (n, n_outputs) (regression).
    index_train, index_test : ndarray of int, shape (n,)
        Row of each sample in the original data set (sorted). For mnist, training rows are
        numbered as in the training file and test rows continue after them (row ``i`` of the
        test file is ``n_train_file + i``, the 70 000-row numbering of OpenML's mnist_784).
    n_classes : int or None
        Number of classes (None for regression).
    target_high, target_low : float
        Target voltage (V) of the correct class's output and of the other outputs.
    n_outputs : int
        Outputs of the circuit the data set feeds (1 for a two-class set on one output).
    encoding : str
        ``standard``, ``minmax`` or ``raw`` (the one applied).
    offset, scale : ndarray, shape (n_inputs,)
        The encoding: ``value = (raw - offset) / scale`` (fitted on the training rows).
    test_is_train : bool
        True when the test set is the training set (xor).
    notes : str
        How the data set was made (one line, for logs).
    """

    name: str
    task: str
    x_train: np.ndarray
    x_test: np.ndarray
    y_train: np.ndarray
    y_test: np.ndarray
    index_train: np.ndarray
    index_test: np.ndarray
    n_classes: int | None
    target_high: float = DEFAULT_TARGET_HIGH
    target_low: float = DEFAULT_TARGET_LOW
    n_outputs: int = 0
    encoding: str = "raw"
    offset: np.ndarray | None = None
    scale: np.ndarray | None = None
    test_is_train: bool = False
    notes: str = ""

    def __post_init__(self):
        if not self.n_outputs:
            if self.task == "regression":
                self.n_outputs = int(np.asarray(self.y_train).reshape(len(self.y_train), -1)
                                     .shape[1]) if len(self.y_train) else 0
            else:
                self.n_outputs = int(self.n_classes or 0)
        width = self.x_train.shape[1]
        if self.offset is None:
            self.offset = np.zeros(width)
        if self.scale is None:
            self.scale = np.ones(width)

    # -- sizes -------------------------------------------------------------------------
    @property
    def n_inputs(self) -> int:
        return int(self.x_train.shape[1])

    @property
    def is_classification(self) -> bool:
        return self.task == "classification"

    # -- conversions -------------------------------------------------------------------
    def encode(self, features) -> np.ndarray:
        """Raw features (rows of the original data set) -> input values, as for training."""
        features = np.asarray(features, dtype=float)
        single = features.ndim == 1
        features = np.atleast_2d(features)
        if features.shape[1] != self.n_inputs:
            raise EqpropError(f"data set {self.name}: expected {self.n_inputs} features per "
                              f"sample, got {features.shape[1]}")
        values = (features - self.offset) / self.scale
        return values[0] if single else values

    def targets(self, labels_or_targets) -> np.ndarray:
        """Target voltages, shape (n, n_outputs).

        Classification: ``target_high`` on the label's output, ``target_low`` elsewhere (one
        output and two classes: ``target_high`` for label 1, ``target_low`` for label 0).
        Regression: the targets themselves.
        """
        if not self.is_classification:
            values = np.asarray(labels_or_targets, dtype=float)
            return values.reshape(len(values), -1) if values.ndim != 2 else values.copy()
        labels = self._labels(labels_or_targets)
        if self.n_outputs == 1:
            return np.where(labels == 1, self.target_high, self.target_low)[:, None].astype(float)
        out = np.full((len(labels), self.n_outputs), self.target_low, dtype=float)
        out[np.arange(len(labels)), labels] = self.target_high
        return out

    def probabilities(self, labels) -> np.ndarray:
        """One-hot target probabilities, shape (n, n_outputs): the targets of the cross-entropy
        loss (classification with one output per class only).

        Raises
        ------
        EqpropError
            For a regression data set or a circuit with fewer outputs than classes (a softmax
            over one output is always 1).
        """
        if not self.is_classification:
            raise EqpropError(f"data set {self.name}: the cross-entropy loss needs a "
                              "classification data set (use loss: squared for regression)")
        if self.n_outputs < 2 or self.n_outputs < int(self.n_classes or 0):
            raise EqpropError(f"data set {self.name}: the cross-entropy loss needs one output "
                              f"per class ({self.n_classes} classes, the circuit has "
                              f"{self.n_outputs} output(s))")
        labels = self._labels(labels)
        out = np.zeros((len(labels), self.n_outputs))
        out[np.arange(len(labels)), labels] = 1.0
        return out

    def loss_targets(self, labels_or_targets, loss: str = "squared") -> np.ndarray:
        """What the backends' nudge takes for a loss: :meth:`targets` (V) for ``squared``,
        :meth:`probabilities` (one-hot) for ``cross_entropy``."""
        if loss == "cross_entropy":
            return self.probabilities(labels_or_targets)
        return self.targets(labels_or_targets)

    def predict(self, outputs, loss: str = "squared") -> np.ndarray:
        """Labels from output voltages (classification), or the outputs (regression).

        With several outputs the label is the output nearest ``target_high``'s side: argmax
        (argmin if ``target_high < target_low``). With one output: label 1 when the output is
        past ``(high + low) / 2`` towards ``target_high``. With ``loss="cross_entropy"`` the
        label is the most probable class, the argmax of ``softmax(V / tau)``, i.e. of V.
        """
        outputs = np.asarray(outputs, dtype=float)
        if outputs.ndim == 1:
            outputs = outputs[:, None] if self.n_outputs == 1 else outputs[None, :]
        if not self.is_classification:
            return outputs
        if outputs.shape[1] != self.n_outputs:
            raise EqpropError(f"data set {self.name}: expected {self.n_outputs} outputs per "
                              f"sample, got {outputs.shape[1]}")
        high_above = self.target_high > self.target_low or loss == "cross_entropy"
        if self.n_outputs == 1:
            middle = 0.5 * (self.target_high + self.target_low)
            above = outputs[:, 0] > middle if high_above else outputs[:, 0] < middle
            return above.astype(np.int64)
        return (np.argmax(outputs, axis=1) if high_above else
                np.argmin(outputs, axis=1)).astype(np.int64)

    def accuracy(self, outputs, labels, loss: str = "squared") -> float | None:
        """Fraction of samples whose predicted label is right (None: regression, or no samples).

        ``loss`` selects the prediction rule (see :meth:`predict`)."""
        if not self.is_classification:
            return None
        labels = self._labels(labels)
        if len(labels) == 0:
            return None
        predicted = self.predict(outputs, loss)
        if len(predicted) != len(labels):
            raise EqpropError(f"data set {self.name}: {len(predicted)} output rows but "
                              f"{len(labels)} labels")
        return float(np.mean(predicted == labels))

    def split(self, which: str):
        """``(x, y, index)`` of ``"train"``, ``"test"`` or ``"all"``.

        ``"all"`` is every distinct sample of both parts in original row order (for xor, the 4
        points once).
        """
        if which == "train":
            return self.x_train, self.y_train, self.index_train
        if which == "test":
            return self.x_test, self.y_test, self.index_test
        if which == "all":
            if self.test_is_train:
                return self.x_train, self.y_train, self.index_train
            index = np.concatenate([self.index_train, self.index_test])
            order = np.argsort(index, kind="stable")
            index, first = np.unique(index[order], return_index=True)
            keep = order[first]
            x = np.concatenate([self.x_train, self.x_test])[keep]
            y = np.concatenate([self.y_train, self.y_test])[keep]
            return x, y, index
        raise EqpropError(f"unknown split {which!r} (choose from train, test, all)")

    def summary(self) -> str:
        """One line: name, task, sizes, split, encoding."""
        kind = (f"{self.n_classes} classes" if self.is_classification
                else f"{self.n_outputs} target(s)")
        test = "test = train" if self.test_is_train else f"{len(self.index_test)} test"
        text = (f"{self.name}: {self.task}, {self.n_inputs} inputs, {kind}; "
                f"{len(self.index_train)} train / {test}; encoding {self.encoding}")
        return text + (f"; {self.notes}" if self.notes else "")

    def _labels(self, labels) -> np.ndarray:
        labels = np.asarray(labels)
        if labels.ndim != 1:
            labels = labels.reshape(-1)
        if labels.size and (not np.issubdtype(labels.dtype, np.number) or
                            np.any(labels != np.round(labels))):
            raise EqpropError(f"data set {self.name}: labels must be integers")
        labels = labels.astype(np.int64)
        if labels.size and (labels.min() < 0 or labels.max() >= (self.n_classes or 0)):
            raise EqpropError(f"data set {self.name}: labels must be in 0..{self.n_classes - 1}, "
                              f"got {int(labels.min())}..{int(labels.max())}")
        return labels


# -- loading --------------------------------------------------------------------------------
def load_dataset(spec, circuit=None, seed: int | None = None) -> Dataset:
    """The data set named by ``spec.data["dataset"]``, encoded and split.

    Parameters
    ----------
    spec : Spec
        A validated spec with a ``dataset`` section.
    circuit : Circuit, optional
        The circuit that will learn it; its input and output counts are checked (without it,
        the spec's: ``layers[0]``/``layers[-1]``, or the graph's ``inputs``/``outputs``).
    seed : int, optional
        Overrides ``dataset.seed`` (split, sub-sampling, teacher inputs and circuit).

    Returns
    -------
    Dataset

    Raises
    ------
    SpecError
        The spec has no data set (or ``name: none``), a key does not fit the data set, the data
        set's inputs or classes do not match the circuit's inputs or outputs, or the split is
        impossible (too few samples per class).
    InputDataError
        A user file (mnist) is missing, malformed or holds NaN/inf; the message names the file.
    EqpropError
        scikit-learn is missing (iris, digits), or the teacher circuit cannot be solved.

    Long because: its docstring documents every data set and encoding (about 25 lines); the code
    is about 65.
    """
    source = getattr(spec, "source", None)
    settings = (spec.data.get("dataset") if hasattr(spec, "data") else None)
    if not settings:
        raise SpecError("the spec has no dataset section (add e.g. 'dataset: {name: iris}')",
                        source)
    name = settings.get("name")
    if name == "none":
        raise SpecError("dataset.name is 'none': this spec has no data set to load", source)
    if name not in DEFAULT_ENCODING:
        raise SpecError(f"unknown data set {name!r}", source)
    options = {
        "test_fraction": settings.get("test_fraction", 0.25),
        "seed": int(settings.get("seed", 0) if seed is None else seed),
        "path": settings.get("path"),
        "samples": settings.get("samples"),
        "test_samples": settings.get("test_samples"),
        "encoding": settings.get("encoding") or DEFAULT_ENCODING[name],
        "target_high": settings.get("target_high"),
        "target_low": settings.get("target_low"),
    }
    if options["test_fraction"] is None:
        options["test_fraction"] = 0.25
    if options["seed"] < 0:
        raise SpecError(f"dataset seed must be >= 0, got {options['seed']}", source)
    for key in ("samples", "test_samples"):
        if options[key] is not None and options[key] > MAX_DATASET_SAMPLES:
            raise SpecError(f"dataset.{key} is {options[key]}, more than the limit of "
                            f"{MAX_DATASET_SAMPLES}", source)
    if options["path"] is not None and name != "mnist":
        raise SpecError(f"dataset.path is only read by the mnist data set, not {name}", source)
    high = DEFAULT_TARGET_HIGH if options["target_high"] is None else float(options["target_high"])
    low = DEFAULT_TARGET_LOW if options["target_low"] is None else float(options["target_low"])
    n_inputs, n_outputs, ports = _ports(spec, circuit)

    if name == "teacher":
        return _teacher(spec, options, n_inputs, n_outputs, ports, high, low)
    if high == low:
        raise SpecError(f"dataset.target_high and target_low are both {high} V: a classifier "
                        "needs two different target voltages", source)
    if name == "xor":
        raw, labels, n_classes = _xor()
        parts = _Parts(np.arange(4), np.arange(4), raw, raw, labels, labels, test_is_train=True,
                       notes="the 4 points; test set = training set")
        image_range = None
    elif name in ("iris", "digits"):
        raw, labels, n_classes = _sklearn(name)
        parts = _pool_split(raw, labels, options, source, stratify=True)
        image_range = (0.0, 16.0) if name == "digits" else None
    else:  # mnist
        parts, n_classes, image_range = _mnist(options, spec, n_outputs)
    _check_width(name, parts.x_train.shape[1], n_inputs, ports, source)
    _check_classes(name, n_classes, n_outputs, ports, source, exact=name != "mnist")
    if name == "mnist" and n_outputs > 1:
        n_classes = n_outputs
    offset, scale = _fit_encoding(options["encoding"], parts.x_train, image_range)
    x_train = (parts.x_train - offset) / scale
    x_test = x_train if parts.test_is_train else (parts.x_test - offset) / scale
    return Dataset(name, "classification", x_train, x_test,
                   parts.y_train.astype(np.int64), parts.y_test.astype(np.int64),
                   parts.index_train.astype(np.int64), parts.index_test.astype(np.int64),
                   int(n_classes), high, low, n_outputs=n_outputs,
                   encoding=options["encoding"], offset=offset, scale=scale,
                   test_is_train=parts.test_is_train, notes=parts.notes)


@dataclass
class _Parts:
    index_train: np.ndarray
    index_test: np.ndarray
    x_train: np.ndarray
    x_test: np.ndarray
    y_train: np.ndarray
    y_test: np.ndarray
    test_is_train: bool = False
    notes: str = ""


def _ports(spec, circuit):
    """(inputs, outputs, description) of the circuit, or of the spec without one."""
    if circuit is not None:
        return (len(circuit.inputs), len(circuit.outputs),
                f"circuit {circuit.name!r}")
    data = spec.data
    if data.get("kind") == "layered":
        return data["layers"][0], data["layers"][-1], f"layers {data['layers']}"
    return (len(data.get("inputs") or []), len(data.get("outputs") or []),
            "the spec's inputs/outputs lists")


def _check_width(name, width, n_inputs, ports, source):
    if width != n_inputs:
        raise SpecError(f"data set {name} has {width} input feature(s) but the circuit has "
                        f"{n_inputs} input(s) ({ports})", source)


def _check_classes(name, n_classes, n_outputs, ports, source, exact=True):
    if n_outputs == 1 and n_classes == 2:
        return
    if n_outputs == n_classes or (not exact and n_outputs > n_classes):
        return
    hint = " (or 1 output for two classes)" if n_classes == 2 else ""
    raise SpecError(f"data set {name} has {n_classes} classes but the circuit has {n_outputs} "
                    f"output(s) ({ports}); it needs one output per class{hint}", source)


def _xor():
    raw = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    labels = np.array([0, 1, 1, 0], dtype=np.int64)
    return raw, labels, 2


def _sklearn(name):
    datasets = require("sklearn.datasets", f"the {name} data set")
    loader = datasets.load_iris if name == "iris" else datasets.load_digits
    raw, labels = loader(return_X_y=True)
    labels = labels.astype(np.int64)
    return raw.astype(float), labels, int(labels.max()) + 1


def _split_error(name, what, error, source):
    return SpecError(f"data set {name}: cannot {what}: {error}", source)


def _pool_split(raw, labels, options, source, stratify):
    """Sub-sample (``samples``), split (``test_fraction``), cap the test set (``test_samples``)."""
    seed, fraction = options["seed"], options["test_fraction"]
    rows = np.arange(len(raw))
    notes = []
    samples = options["samples"]
    if samples is not None and samples < len(rows):
        try:
            rows, _ = _train_test_split()(rows, train_size=samples, random_state=seed,
                                       stratify=labels if stratify else None)
            notes.append(f"{samples} of {len(raw)} samples (stratified)")
        except ValueError:  # too few samples for every class: a plain random subset
            rows = np.random.default_rng([seed, 1]).choice(rows, samples, replace=False)
            notes.append(f"{samples} of {len(raw)} samples (random)")
        rows = np.sort(rows)
    if fraction > 0:
        try:
            train, test = _train_test_split()(rows, test_size=fraction, random_state=seed,
                                           stratify=labels[rows] if stratify else None)
        except ValueError as error:
            raise SpecError(f"cannot split {len(rows)} samples with test_fraction {fraction}"
                            f"{' (stratified)' if stratify else ''}: {error}",
                            source) from None
        train, test = np.sort(train), np.sort(test)
    else:
        train, test = rows, rows[:0]
    test = _cap(test, options["test_samples"], seed)
    notes.append(f"split seed {seed}, test_fraction {fraction}"
                 f"{', stratified' if stratify else ''}")
    return _Parts(train, test, raw[train], raw[test], labels[train], labels[test],
                  notes="; ".join(notes))


def _train_test_split():
    """scikit-learn's ``train_test_split`` (imported only when a split or subset is asked)."""
    return require("sklearn.model_selection",
                   "splitting a data set (samples, test_fraction)").train_test_split


def _cap(rows, limit, seed):
    """At most ``limit`` of ``rows`` (seeded random subset, kept in order)."""
    if limit is None or limit >= len(rows):
        return rows
    return np.sort(np.random.default_rng([seed, 2]).choice(rows, limit, replace=False))


def _fit_encoding(encoding, x_train, image_range=None):
    """(offset, scale) of ``value = (raw - offset) / scale`` from the training rows."""
    width = x_train.shape[1]
    if encoding == "raw":
        return np.zeros(width), np.ones(width)
    if encoding == "standard":
        offset = x_train.mean(axis=0)
        scale = x_train.std(axis=0)
    elif encoding == "minmax":
        if image_range is not None:
            low, high = image_range
            if high is None:  # global range of the training images
                low, high = float(x_train.min()), float(x_train.max())
            offset = np.full(width, low)
            scale = np.full(width, high - low)
        else:
            offset = x_train.min(axis=0)
            scale = x_train.max(axis=0) - offset
    else:
        raise SpecError(f"unknown encoding {encoding!r} (standard, minmax, raw)")
    scale = np.where(scale > 0, scale, 1.0)
    return np.asarray(offset, dtype=float), np.asarray(scale, dtype=float)


# -- teacher ---------------------------------------------------------------------------------
def teacher_circuit(spec, seed: int):
    """The teacher of a spec: its circuit with conductances re-drawn (seed ``seed + 1000``).

    Layered specs draw every crossbar again from ``conductance.init`` with
    ``conductance.seed = seed + 1000``; graph specs multiply each trainable value by a factor
    drawn uniformly in [0.5, 2] (``numpy.random.default_rng(seed + 1000)``, trainable order).
    """
    import copy

    from eqprop_hw.circuit.build import build_circuit
    from eqprop_hw.circuit.spec import Spec
    teacher_seed = seed + TEACHER_SEED_OFFSET
    if spec.kind == "layered":
        data = copy.deepcopy(spec.data)
        data["conductance"]["seed"] = teacher_seed
        return build_circuit(Spec(data, spec.source))
    circuit = build_circuit(spec)
    rng = np.random.default_rng(teacher_seed)
    factors = rng.uniform(*TEACHER_GRAPH_FACTOR, size=len(circuit.trainable))
    values = {name: circuit.element(name).value * factor
              for name, factor in zip(circuit.trainable, factors)}
    return circuit.with_values(values)


def teacher_outputs(circuit, inputs) -> np.ndarray:
    """Output voltages of ``circuit`` for rows of input values (native backend, in chunks;
    ngspice for a circuit with transistors, which only ngspice simulates)."""
    from eqprop_hw.backends import make_backend
    from eqprop_hw.circuit.cider import first_cider
    from eqprop_hw.circuit.transistors import first_transistor
    native = first_transistor(circuit) is None and first_cider(circuit) is None
    backend = make_backend("native" if native else "ngspice", circuit)
    try:
        chunks = [backend.solve(inputs[start:start + TEACHER_CHUNK]).outputs
                  for start in range(0, len(inputs), TEACHER_CHUNK)]
    finally:
        backend.close()
    return np.concatenate(chunks) if chunks else np.zeros((0, len(circuit.outputs)))


def _teacher(spec, options, n_inputs, n_outputs, ports, high, low) -> Dataset:
    source = spec.source
    seed = options["seed"]
    teacher = teacher_circuit(spec, seed)
    width, outputs = len(teacher.inputs), len(teacher.outputs)
    _check_width("teacher", width, n_inputs, ports, source)
    if outputs != n_outputs:
        raise SpecError(f"data set teacher has {outputs} output(s) (the spec's circuit) but the "
                        f"circuit has {n_outputs} ({ports})", source)
    if width == 0 or outputs == 0:
        raise SpecError("the teacher data set needs a circuit with inputs and outputs", source)
    samples = options["samples"] or DEFAULT_TEACHER_SAMPLES
    raw = np.random.default_rng(seed).uniform(*TEACHER_INPUT_RANGE, size=(samples, width))
    if samples < 2 and options["test_fraction"] > 0:
        raise SpecError("the teacher data set needs at least 2 samples to split", source)
    parts = _pool_split(raw, np.zeros(samples), dict(options, samples=None), source,
                        stratify=False)
    offset, scale = _fit_encoding(options["encoding"], parts.x_train)
    values = (raw - offset) / scale
    targets = teacher_outputs(teacher, values)
    notes = (f"{samples} inputs uniform in [{TEACHER_INPUT_RANGE[0]:g}, "
             f"{TEACHER_INPUT_RANGE[1]:g}] (seed {seed}); teacher drawn with seed "
             f"{seed + TEACHER_SEED_OFFSET}; {parts.notes}")
    return Dataset("teacher", "regression", values[parts.index_train], values[parts.index_test],
                   targets[parts.index_train], targets[parts.index_test],
                   parts.index_train.astype(np.int64), parts.index_test.astype(np.int64),
                   None, high, low, n_outputs=outputs, encoding=options["encoding"],
                   offset=offset, scale=scale, notes=notes)


# -- mnist: user files -------------------------------------------------------------------------
def _resolve(path_text: str, spec_source) -> Path:
    """A data path: relative paths are tried next to the spec file first, then the cwd."""
    path = Path(path_text).expanduser()
    if path.is_absolute():
        return path
    if spec_source and not str(spec_source).startswith("<"):
        beside = Path(spec_source).parent / path
        if beside.exists() or not path.exists():
            return beside
    return path


def _mnist(options, spec, n_outputs):
    if options["path"] is None:
        raise SpecError("the mnist data set needs dataset.path: an .npz file with x_train, "
                        "y_train, x_test, y_test, or a folder with the four MNIST IDX files "
                        "(nothing is downloaded)", spec.source)
    path = _resolve(options["path"], spec.source)
    arrays, sources = load_mnist_files(path)
    x_train, y_train, x_test, y_test = (arrays[k] for k in ("x_train", "y_train", "x_test",
                                                             "y_test"))
    if x_train.shape[1:] != x_test.shape[1:]:
        raise InputDataError(f"training images have shape {x_train.shape[1:]} but test images "
                             f"{x_test.shape[1:]} ({sources['x_test']})", sources["x_train"])
    n_classes = int(max(y_train.max(initial=-1), y_test.max(initial=-1))) + 1
    if n_classes < 2:
        raise InputDataError("the labels name fewer than 2 classes", sources["y_train"])
    if n_outputs > 1 and n_classes > n_outputs:
        raise SpecError(f"mnist labels go up to {n_classes - 1} but the circuit has "
                        f"{n_outputs} outputs (one per class)", spec.source)
    seed = options["seed"]
    n_train_file, n_test_file = len(x_train), len(x_test)
    train = np.arange(n_train_file)
    if options["samples"] is not None and options["samples"] < n_train_file:
        train = np.sort(np.random.default_rng([seed, 1]).choice(train, options["samples"],
                                                                replace=False))
    test = _cap(np.arange(n_test_file), options["test_samples"], seed)
    integer_8bit = x_train.dtype == np.uint8 and x_test.dtype == np.uint8
    image_range = (0.0, 255.0) if integer_8bit else (None, None)
    xtr = x_train[train].reshape(len(train), -1).astype(float)
    xte = x_test[test].reshape(len(test), -1).astype(float)
    notes = (f"{path}: {len(train)} of {n_train_file} training and {len(test)} of "
             f"{n_test_file} test images (the files' split)")
    parts = _Parts(train, test + n_train_file, xtr, xte, y_train[train], y_test[test],
                   notes=notes)
    return parts, n_classes, image_range
