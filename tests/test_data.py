"""Data sets (eqprop_hw.io.data): splits, encodings, targets, the teacher, user MNIST files."""

from __future__ import annotations

import copy
import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

sklearn_datasets = pytest.importorskip(
    "sklearn.datasets", reason="the iris/digits references need scikit-learn (extra 'data')")
load_digits, load_iris = sklearn_datasets.load_digits, sklearn_datasets.load_iris

from eqprop_hw.backends import make_backend
from eqprop_hw.circuit.build import build_circuit
from eqprop_hw.io.data import (DEFAULT_ENCODING, Dataset, _fit_encoding, load_dataset,
                            load_mnist_files, read_idx, teacher_circuit)
from eqprop_hw.errors import EqpropError, SpecError
from eqprop_hw.io.fileio import InputDataError
from eqprop_hw.circuit.spec import Spec, load_spec, parse_spec

ROOT = Path(__file__).resolve().parents[1]


def layered(layers, dataset, **extra):
    data = {"name": "t", "kind": "layered", "layers": layers, "dataset": dataset}
    data.update(extra)
    return parse_spec(data)


def same(a: Dataset, b: Dataset):
    for key in ("x_train", "x_test", "y_train", "y_test", "index_train", "index_test"):
        np.testing.assert_array_equal(getattr(a, key), getattr(b, key))


# -- spec keys ------------------------------------------------------------------------------
def test_spec_encoding_defaults_to_the_data_sets_own():
    spec = layered([4, 3, 3], {"name": "iris"})
    assert spec.data["dataset"]["encoding"] is None
    assert spec.data["dataset"]["test_samples"] is None
    assert load_dataset(spec).encoding == DEFAULT_ENCODING["iris"] == "standard"
    assert DEFAULT_ENCODING == {"xor": "raw", "iris": "standard", "digits": "minmax",
                                "teacher": "raw", "mnist": "minmax"}
    with pytest.raises(SpecError, match="test_samples must be >= 1"):
        layered([4, 3, 3], {"name": "iris", "test_samples": 0})


# -- xor ------------------------------------------------------------------------------------
def test_xor_truth_table_one_output():
    data = load_dataset(load_spec(ROOT / "circuits" / "xor.yaml"))
    assert data.task == "classification" and data.n_classes == 2 and data.n_outputs == 1
    assert data.x_train.tolist() == [[0, 0], [0, 1], [1, 0], [1, 1]]
    assert data.y_train.tolist() == [0, 1, 1, 0]
    assert all(int(a) ^ int(b) == y for (a, b), y in zip(data.x_train, data.y_train))
    same_parts = data.split("test")
    np.testing.assert_array_equal(same_parts[0], data.x_train)
    np.testing.assert_array_equal(data.index_test, [0, 1, 2, 3])
    x, y, index = data.split("all")
    assert len(x) == 4 and index.tolist() == [0, 1, 2, 3]
    assert data.targets(data.y_train).tolist() == [[0.0], [1.0], [1.0], [0.0]]
    outputs = np.array([[0.1], [0.9], [0.51], [0.49]])
    assert data.predict(outputs).tolist() == [0, 1, 1, 0]
    assert data.accuracy(outputs, data.y_train) == 1.0
    assert data.accuracy(np.array([[0.9], [0.9], [0.9], [0.9]]), data.y_train) == 0.5


def test_xor_two_outputs_and_inverted_targets():
    data = load_dataset(layered([2, 4, 2], {"name": "xor", "target_high": -0.3,
                                            "target_low": 0.3}))
    assert data.n_outputs == 2
    assert data.targets([0, 1]).tolist() == [[-0.3, 0.3], [0.3, -0.3]]
    # target_high below target_low: the lowest output wins
    assert data.predict([[-0.2, 0.2], [0.2, -0.2]]).tolist() == [0, 1]
    one = load_dataset(layered([2, 4, 1], {"name": "xor", "target_high": -0.3,
                                           "target_low": 0.3}))
    assert one.predict([[-0.1], [0.1]]).tolist() == [1, 0]


# -- iris and digits ---------------------------------------------------------------------------
def test_iris_split_stratified_sorted_and_encoded_with_training_stats():
    data = load_dataset(load_spec(ROOT / "circuits" / "iris.yaml"))
    raw, labels = load_iris(return_X_y=True)
    assert data.x_train.shape == (105, 4) and data.x_test.shape == (45, 4)
    assert np.bincount(data.y_test).tolist() == [15, 15, 15]
    assert np.bincount(data.y_train).tolist() == [35, 35, 35]
    assert np.all(np.diff(data.index_train) > 0) and np.all(np.diff(data.index_test) > 0)
    assert not set(data.index_train) & set(data.index_test)
    assert sorted(np.concatenate([data.index_train, data.index_test])) == list(range(150))
    np.testing.assert_array_equal(data.y_test, labels[data.index_test])
    mean, std = raw[data.index_train].mean(axis=0), raw[data.index_train].std(axis=0)
    np.testing.assert_allclose(data.x_test, (raw[data.index_test] - mean) / std)
    np.testing.assert_allclose(data.x_train.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(data.x_train.std(axis=0), 1.0)
    np.testing.assert_allclose(data.encode(raw[data.index_test]), data.x_test)
    x, y, index = data.split("all")
    assert index.tolist() == list(range(150))
    np.testing.assert_array_equal(y, labels)
    np.testing.assert_allclose(x, (raw - mean) / std)
    assert data.targets([2])[0].tolist() == [0.0, 0.0, 1.0]
    assert data.predict([[0.1, 0.5, 0.2]]).tolist() == [1]


def test_iris_minmax_and_raw_use_training_rows():
    minmax = load_dataset(layered([4, 3, 3], {"name": "iris", "encoding": "minmax"}))
    raw, _ = load_iris(return_X_y=True)
    low, high = raw[minmax.index_train].min(axis=0), raw[minmax.index_train].max(axis=0)
    np.testing.assert_allclose(minmax.x_train.min(axis=0), 0.0)
    np.testing.assert_allclose(minmax.x_train.max(axis=0), 1.0)
    np.testing.assert_allclose(minmax.x_test, (raw[minmax.index_test] - low) / (high - low))
    plain = load_dataset(layered([4, 3, 3], {"name": "iris", "encoding": "raw"}))
    np.testing.assert_array_equal(plain.x_test, raw[plain.index_test])


def test_constant_features_encode_to_zero():
    x = np.array([[1.0, 5.0], [3.0, 5.0]])
    for encoding in ("standard", "minmax"):
        offset, scale = _fit_encoding(encoding, x)
        values = (x - offset) / scale
        assert np.all(values[:, 1] == 0.0) and np.all(np.isfinite(values))


def test_digits_rows_map_back_to_the_original_data():
    data = load_dataset(load_spec(ROOT / "circuits" / "digits.yaml"))
    digits = load_digits()
    assert data.encoding == "minmax" and data.n_classes == 10
    assert data.x_train.shape == (1347, 64) and data.x_test.shape == (450, 64)
    for i in (0, 17, 449):
        np.testing.assert_array_equal(data.x_test[i], digits.data[data.index_test[i]] / 16.0)
    np.testing.assert_array_equal(data.y_test, digits.target[data.index_test])
    np.testing.assert_array_equal(data.x_train, digits.data[data.index_train] / 16.0)
    assert data.x_train.min() == 0.0 and data.x_train.max() == 1.0
    counts = np.bincount(data.y_test, minlength=10)
    expected = 0.25 * np.bincount(digits.target)  # stratified: 25% of each class
    assert np.all(np.abs(counts - expected) <= 1)


def test_determinism_seed_and_samples():
    spec = layered([64, 5, 10], {"name": "digits", "samples": 300, "test_samples": 20,
                                 "seed": 3})
    a, b = load_dataset(spec), load_dataset(spec)
    same(a, b)
    assert len(a.index_train) + 75 == 300 and len(a.index_test) == 20
    assert np.bincount(a.y_train, minlength=10).min() >= 15  # stratified sub-sample
    other = load_dataset(spec, seed=4)
    assert not np.array_equal(a.index_test, other.index_test)
    reseeded = load_dataset(layered([64, 5, 10], {"name": "digits", "samples": 300,
                                                  "test_samples": 20, "seed": 4}))
    same(other, reseeded)


def test_no_test_set():
    data = load_dataset(layered([4, 3, 3], {"name": "iris", "test_fraction": 0.0}))
    assert data.x_test.shape == (0, 4) and len(data.index_train) == 150
    assert data.accuracy(np.zeros((0, 3)), data.y_test) is None


# -- checks against the circuit ------------------------------------------------------------------
def test_mismatches_are_clear_spec_errors():
    with pytest.raises(SpecError, match=r"iris has 4 input feature\(s\) but the circuit has 3"):
        load_dataset(layered([3, 4, 3], {"name": "iris"}))
    with pytest.raises(SpecError, match=r"3 classes but the circuit has 2 output"):
        load_dataset(layered([4, 4, 2], {"name": "iris"}))
    with pytest.raises(SpecError, match="no dataset section"):
        load_dataset(parse_spec({"name": "t", "kind": "layered", "layers": [2, 1]}))
    with pytest.raises(SpecError, match="'none'"):
        load_dataset(layered([2, 1], {"name": "none"}))
    with pytest.raises(SpecError, match="two different target voltages"):
        load_dataset(layered([2, 1], {"name": "xor", "target_high": 0.5, "target_low": 0.5}))
    with pytest.raises(SpecError, match="needs dataset.path"):
        load_dataset(layered([784, 10], {"name": "mnist"}))
    with pytest.raises(SpecError, match="only read by the mnist"):
        load_dataset(layered([4, 3, 3], {"name": "iris", "path": "x.npz"}))
    # the circuit given wins over the spec's layer sizes
    other = build_circuit(parse_spec({"name": "o", "kind": "layered", "layers": [5, 3]}))
    with pytest.raises(SpecError, match=r"has 4 input feature\(s\) but the circuit has 5"):
        load_dataset(layered([4, 3, 3], {"name": "iris"}), circuit=other)


def test_dataset_methods_reject_bad_arguments():
    data = load_dataset(layered([4, 3, 3], {"name": "iris"}))
    with pytest.raises(EqpropError, match="unknown split"):
        data.split("valid")
    with pytest.raises(EqpropError, match="labels must be in 0..2"):
        data.targets([3])
    with pytest.raises(EqpropError, match="expected 3 outputs"):
        data.predict(np.zeros((2, 4)))


# -- teacher ------------------------------------------------------------------------------------
def test_teacher_targets_are_the_teachers_native_outputs():
    spec = layered([3, 5, 2], {"name": "teacher", "samples": 60, "seed": 2},
                   conductance={"seed": 7})
    data = load_dataset(spec)
    assert data.task == "regression" and data.n_classes is None and data.n_outputs == 2
    assert data.x_train.shape == (45, 3) and data.y_train.shape == (45, 2)
    assert data.x_test.shape == (15, 3) and data.encoding == "raw"
    assert data.x_train.min() >= -1.0 and data.x_train.max() <= 1.0
    # rebuild the teacher independently: the same spec, conductance seed = dataset seed + 1000
    teacher_data = copy.deepcopy(spec.data)
    teacher_data["conductance"]["seed"] = 2 + 1000
    teacher = build_circuit(Spec(teacher_data))
    backend = make_backend("native", teacher)
    x, y, index = data.split("all")
    assert index.tolist() == list(range(60))
    np.testing.assert_allclose(backend.solve(x).outputs, y, rtol=0, atol=1e-12)
    np.testing.assert_allclose(backend.solve(data.x_test).outputs, data.y_test, atol=1e-12)
    student = make_backend("native", build_circuit(spec))
    assert np.max(np.abs(student.solve(x).outputs - y)) > 1e-4  # a different circuit
    np.testing.assert_array_equal(data.targets(data.y_test), data.y_test)
    assert data.accuracy(data.y_test, data.y_test) is None
    np.testing.assert_array_equal(data.predict(data.y_test), data.y_test)
    same(data, load_dataset(spec))


def test_teacher_on_a_graph_spec_and_with_encoding():
    spec = load_spec(ROOT / "circuits" / "graph_bridge.yaml")
    spec.data["dataset"] = {"name": "teacher", "samples": 40, "encoding": "standard",
                            "test_fraction": 0.25, "seed": 0}
    data = load_dataset(spec)
    assert data.x_train.shape == (30, 2) and data.y_train.shape == (30, 2)
    np.testing.assert_allclose(data.x_train.mean(axis=0), 0.0, atol=1e-12)
    teacher = teacher_circuit(spec, 0)
    base = build_circuit(spec)
    factors = [teacher.element(n).value / base.element(n).value for n in base.trainable]
    assert all(0.5 <= f <= 2.0 for f in factors) and len(set(factors)) == len(factors)
    np.testing.assert_allclose(make_backend("native", teacher).solve(data.x_test).outputs,
                               data.y_test, atol=1e-12)


def test_teacher_default_samples():
    data = load_dataset(layered([2, 1], {"name": "teacher"}, activation={"type": "none"}))
    assert len(data.index_train) + len(data.index_test) == 500


# -- mnist files ----------------------------------------------------------------------------------
IDX_CODE = {np.dtype(np.uint8): 0x08, np.dtype(np.int8): 0x09, np.dtype(np.int16): 0x0B,
            np.dtype(np.int32): 0x0C, np.dtype(np.float32): 0x0D, np.dtype(np.float64): 0x0E}


def idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, IDX_CODE[array.dtype], array.ndim])
    header += struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write_idx(path: Path, array: np.ndarray, compress: bool = False) -> Path:
    data = idx_bytes(array)
    if compress:
        path = path.with_name(path.name + ".gz")
        data = gzip.compress(data)
    path.write_bytes(data)
    return path


def fake_mnist(seed=0, n_train=30, n_test=12, shape=(4, 5), classes=3):
    rng = np.random.default_rng(seed)
    return {"x_train": rng.integers(0, 256, (n_train,) + shape, dtype=np.uint8),
            "y_train": np.arange(n_train, dtype=np.uint8) % classes,
            "x_test": rng.integers(0, 256, (n_test,) + shape, dtype=np.uint8),
            "y_test": np.arange(n_test, dtype=np.uint8)[::-1] % classes}


def write_mnist_folder(folder: Path, arrays: dict, compress=(False, True, False, True)):
    folder.mkdir(parents=True, exist_ok=True)
    names = {"x_train": "train-images-idx3-ubyte", "y_train": "train-labels-idx1-ubyte",
             "x_test": "t10k-images-idx3-ubyte", "y_test": "t10k-labels-idx1-ubyte"}
    return {key: write_idx(folder / names[key], arrays[key], gz)
            for (key, gz) in zip(names, compress)}


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32,
                                   np.float64])
@pytest.mark.parametrize("compress", [False, True])
def test_idx_round_trip(tmp_path, dtype, compress):
    array = (np.arange(2 * 3 * 4) - 5).reshape(2, 3, 4).astype(dtype)
    path = write_idx(tmp_path / "a-idx3-ubyte", array, compress)
    back = read_idx(path)
    assert back.dtype == np.dtype(dtype) and back.shape == (2, 3, 4)
    np.testing.assert_array_equal(back, array)


def test_mnist_idx_folder(tmp_path):
    arrays = fake_mnist()
    write_mnist_folder(tmp_path / "mnist", arrays)
    spec = layered([20, 6, 3], {"name": "mnist", "path": str(tmp_path / "mnist")})
    data = load_dataset(spec)
    assert data.encoding == "minmax" and data.n_classes == 3
    np.testing.assert_array_equal(data.x_train, arrays["x_train"].reshape(30, 20) / 255.0)
    np.testing.assert_array_equal(data.y_train, arrays["y_train"])
    np.testing.assert_array_equal(data.index_test, 30 + np.arange(12))
    np.testing.assert_array_equal(data.x_test, arrays["x_test"].reshape(12, 20) / 255.0)
    np.testing.assert_array_equal(data.y_test, arrays["y_test"])
    assert len(data.split("all")[2]) == 42
    # samples limits the training set (seeded subset, rows kept in file order)
    limited = layered([20, 6, 3], {"name": "mnist", "path": str(tmp_path / "mnist"),
                                   "samples": 10, "test_samples": 5, "encoding": "standard"})
    small = load_dataset(limited)
    assert len(small.index_train) == 10 and len(small.index_test) == 5
    assert np.all(np.diff(small.index_train) > 0)
    np.testing.assert_array_equal(small.y_train, arrays["y_train"][small.index_train])
    raw = arrays["x_train"].reshape(30, 20)[small.index_train].astype(float)
    std = raw.std(axis=0)
    np.testing.assert_allclose(small.x_train, (raw - raw.mean(axis=0)) / np.where(std > 0, std, 1))
    same(small, load_dataset(limited))
    # the dotted spelling of the file names is found too
    dotted = tmp_path / "dotted"
    dotted.mkdir()
    for file in (tmp_path / "mnist").iterdir():
        (dotted / file.name.replace("-idx", ".idx")).write_bytes(file.read_bytes())
    same(data, load_dataset(layered([20, 6, 3], {"name": "mnist", "path": str(dotted)})))


def test_mnist_npz_float_images_one_hot_labels_and_relative_path(tmp_path):
    rng = np.random.default_rng(1)
    x_train = rng.uniform(0.0, 1.0, (8, 2, 3)).astype(np.float32)
    x_test = rng.uniform(0.0, 1.0, (4, 6))
    y_train = np.eye(2)[[0, 1, 1, 0, 1, 0, 0, 1]]
    np.savez(tmp_path / "mine.npz", x_train=x_train, y_train=y_train,
             x_test=x_test.reshape(4, 2, 3), y_test=np.array([1.0, 0.0, 1.0, 1.0]))
    (tmp_path / "spec.yaml").write_text(
        "name: m\nkind: layered\nlayers: [6, 3, 1]\n"
        "dataset: {name: mnist, path: mine.npz, encoding: minmax}\n")
    data = load_dataset(load_spec(tmp_path / "spec.yaml"))  # path beside the spec file
    assert data.n_classes == 2 and data.n_outputs == 1
    assert data.y_train.tolist() == [0, 1, 1, 0, 1, 0, 0, 1]
    assert data.y_test.tolist() == [1, 0, 1, 1]
    low, high = float(x_train.min()), float(x_train.max())  # global range of training images
    np.testing.assert_allclose(data.x_test, (x_test - low) / (high - low), rtol=1e-6)
    arrays, sources = load_mnist_files(tmp_path / "mine.npz")
    assert set(sources.values()) == {str(tmp_path / "mine.npz")}
    # user files may lack some classes: more outputs than labels is fine, fewer is not
    wide = load_dataset(layered([6, 3, 3], {"name": "mnist", "path": str(tmp_path / "mine.npz")}))
    assert wide.n_classes == 3 and wide.targets([1]).tolist() == [[0.0, 1.0, 0.0]]
    np.savez(tmp_path / "three.npz", **fake_mnist(shape=(6,), classes=3))
    with pytest.raises(SpecError, match="labels go up to 2 but the circuit has 2 outputs"):
        load_dataset(layered([6, 3, 2], {"name": "mnist", "path": str(tmp_path / "three.npz")}))
    with pytest.raises(SpecError, match="3 classes but the circuit has 1 output"):
        load_dataset(layered([6, 3, 1], {"name": "mnist", "path": str(tmp_path / "three.npz")}))


def bad_idx_cases():
    good = idx_bytes(np.zeros((3, 2, 2), dtype=np.uint8))
    return {
        "wrong magic": (b"\x12\x34" + good[2:], "not an IDX file: magic number 0x1234"),
        "unknown type": (b"\x00\x00\x07\x03" + good[4:], "not an IDX file"),
        "short": (b"\x00\x00", "shorter than the 4-byte magic"),
        "truncated header": (good[:9], "truncated IDX header"),
        "truncated data": (good[:-3], "truncated IDX file"),
        "trailing bytes": (good + b"\x00", "unexpected byte"),
        "float nan": (idx_bytes(np.array([[1.0, np.nan]], dtype=np.float32)), "NaN"),
        "corrupt gzip": (gzip.compress(good)[:-10], "gzip"),
    }


@pytest.mark.parametrize("case", sorted(bad_idx_cases()))
def test_bad_idx_files_name_the_file(tmp_path, case):
    content, message = bad_idx_cases()[case]
    path = tmp_path / "bad-idx3-ubyte"
    path.write_bytes(content)
    with pytest.raises(InputDataError, match=message) as info:
        read_idx(path)
    assert str(info.value).startswith(str(path) + ": ")


def test_bad_mnist_folders_name_the_file(tmp_path):
    arrays = fake_mnist()
    files = write_mnist_folder(tmp_path / "counts", dict(arrays, y_test=arrays["y_test"][:-1]))
    spec = layered([20, 6, 3], {"name": "mnist", "path": str(tmp_path / "counts")})
    with pytest.raises(InputDataError, match="12 test images but 11 test labels") as info:
        load_dataset(spec)
    assert str(files["x_test"]) in str(info.value) and str(files["y_test"]) in str(info.value)

    folder = tmp_path / "missing"
    write_mnist_folder(folder, arrays)
    next(folder.glob("t10k-labels*")).unlink()
    with pytest.raises(InputDataError, match="missing MNIST file t10k-labels-idx1-ubyte") as info:
        load_mnist_files(folder)
    assert str(folder) in str(info.value)

    swapped = write_mnist_folder(tmp_path / "swapped", dict(arrays, y_train=arrays["x_train"]))
    with pytest.raises(InputDataError, match="an images file") as info:
        load_mnist_files(tmp_path / "swapped")
    assert str(swapped["y_train"]) in str(info.value)

    bad = write_mnist_folder(tmp_path / "magic", arrays)
    bad["x_train"].write_bytes(b"\x00\x00\x08\x09" + bad["x_train"].read_bytes()[4:])
    with pytest.raises(InputDataError, match="truncated IDX") as info:
        load_dataset(layered([20, 6, 3], {"name": "mnist", "path": str(tmp_path / "magic")}))
    assert str(bad["x_train"]) in str(info.value)

    with pytest.raises(InputDataError, match="no such file or folder") as info:
        load_dataset(layered([20, 6, 3], {"name": "mnist", "path": str(tmp_path / "nowhere")}))
    assert str(tmp_path / "nowhere") in str(info.value)


def bad_npz_cases():
    arrays = {k: v.astype(float) for k, v in fake_mnist().items()}
    nan = dict(arrays)
    nan["x_train"] = arrays["x_train"].copy()
    nan["x_train"][4, 1, 2] = np.nan
    return {
        "nan": (nan, r"x_train hold NaN or infinite values \(row\(s\) 4\)"),
        "inf labels": (dict(arrays, y_test=np.where(np.arange(12) == 3, np.inf, 1.0)),
                       "y_test hold NaN or infinite"),
        "counts": (dict(arrays, y_train=arrays["y_train"][:5]),
                   "30 train images but 5 train labels"),
        "missing": ({k: v for k, v in arrays.items() if k != "y_test"},
                    r"missing array\(s\) y_test"),
        "fractional labels": (dict(arrays, y_train=arrays["y_train"] + 0.5), "whole numbers"),
        "negative labels": (dict(arrays, y_train=arrays["y_train"] - 1), "must be >= 0"),
        "text images": (dict(arrays, x_test=np.array(["a"] * 12)), "must be numbers"),
        "flat images": (dict(arrays, x_test=np.zeros(12)), "at least 2"),
        "pixel shapes": (dict(arrays, x_test=np.zeros((12, 3, 3))), "shape"),
    }


@pytest.mark.parametrize("case", sorted(bad_npz_cases()))
def test_bad_npz_files_name_the_file(tmp_path, case):
    arrays, message = bad_npz_cases()[case]
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(InputDataError, match=message) as info:
        load_dataset(layered([20, 6, 3], {"name": "mnist", "path": str(path)}))
    assert str(info.value).startswith(str(path) + ": ")


@pytest.mark.parametrize("content", [b"not a zip at all", b"PK\x03\x04broken"])
def test_unreadable_npz_names_the_file(tmp_path, content):
    path = tmp_path / "junk.npz"
    path.write_bytes(content)
    with pytest.raises(InputDataError) as info:
        load_mnist_files(path)
    assert str(info.value).startswith(str(path) + ": ")
    npy = tmp_path / "plain.npy"
    np.save(npy, np.zeros(3))
    with pytest.raises(InputDataError, match="not an .npz archive") as info:
        load_mnist_files(npy)
    assert str(npy) in str(info.value)
