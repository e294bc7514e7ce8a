"""HDF5 sets into (n_x, m) columns, and the errors a user sees for bad files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dnncli.data.demo import draw_images, make_demo
from dnncli.data.hdf5 import class_labels, load_dataset, resolve_divisor
from dnncli.errors import DataError
from tests.conftest import make_images, write_h5


def test_examples_become_columns_in_the_course_order(tmp_path: Path) -> None:
    X, y = make_images(6, shape=(4, 4, 3))
    path = write_h5(tmp_path / "d.h5", train_set_x=X, train_set_y=y, list_classes=np.array([b"a", b"b"]))
    data = load_dataset(path)
    assert (data.m, data.n_x, data.input_shape) == (6, 48, (4, 4, 3))
    columns = data.columns(resolve_divisor("auto", data.X_raw.dtype))
    np.testing.assert_array_equal(columns, X.reshape(6, -1).T / 255)
    # column-major, as the training columns: one layout from every source (dnncli.compute.kernels.affine)
    assert columns.shape == (48, 6) and columns.flags.f_contiguous and columns.dtype == np.float64
    assert data.classes == ["a", "b"]
    np.testing.assert_array_equal(class_labels(data, 2, "train_set_y"), y)


def test_scaling_rules() -> None:
    assert resolve_divisor("auto", np.dtype(np.uint8)) == 255
    assert resolve_divisor("auto", np.dtype(np.uint16)) == 65535
    assert resolve_divisor("auto", np.dtype(np.float64)) == 1
    assert resolve_divisor("none", np.dtype(np.uint8)) == 1
    assert resolve_divisor(16.0, np.dtype(np.uint8)) == 16


def test_labels_stored_as_a_row_are_accepted(tmp_path: Path) -> None:
    path = write_h5(tmp_path / "d.h5", train_set_x=np.zeros((3, 2)), train_set_y=np.array([[0, 1, 1]]))
    assert load_dataset(path).y.tolist() == [0, 1, 1]


@pytest.mark.parametrize("arrays,keys,expected", [
    ({"a": np.zeros((3, 2))}, {}, "no dataset 'train_set_x' (keys there: a)"),
    ({"train_set_x": np.zeros((3, 2)), "train_set_y": np.zeros(4)}, {}, "'train_set_x' has 3 examples but 'train_set_y' has 4"),
    ({"train_set_x": np.zeros((0, 2)), "train_set_y": np.zeros(0)}, {}, "has no examples"),
    ({"train_set_x": np.array([[np.nan, 1.0]]), "train_set_y": np.zeros(1)}, {}, "NaN or infinite"),
    ({"train_set_x": np.array([b"ab", b"cd"]), "train_set_y": np.zeros(2)}, {}, "expected numbers"),
    ({"x": np.zeros((3, 2)), "y": np.zeros(3)}, {"x_key": "x", "y_key": "nope"}, "no dataset 'nope' (keys there: x, y)"),
])
def test_bad_files_give_one_line(tmp_path: Path, arrays: dict, keys: dict, expected: str) -> None:
    path = write_h5(tmp_path / "d.h5", **arrays)
    with pytest.raises(DataError) as info:
        load_dataset(path, **keys)
    assert expected in str(info.value) and str(path) in str(info.value)


def test_missing_and_non_hdf5_files(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such data file"):
        load_dataset(tmp_path / "missing.h5")
    text = tmp_path / "notes.h5"
    text.write_text("hello")
    with pytest.raises(DataError, match="not an HDF5 file"):
        load_dataset(text)


def test_labels_outside_the_classes_are_named(tmp_path: Path) -> None:
    path = write_h5(tmp_path / "d.h5", train_set_x=np.zeros((3, 2)), train_set_y=np.array([0, 2, 1]))
    with pytest.raises(DataError, match="holds the label 2, expected 0 or 1 for a binary model"):
        class_labels(load_dataset(path), 2, "train_set_y")
    path = write_h5(tmp_path / "f.h5", train_set_x=np.zeros((2, 2)), train_set_y=np.array([0.5, 1.0]))
    with pytest.raises(DataError, match="holds 0.5, expected integer class labels"):
        class_labels(load_dataset(path), 2, "train_set_y")


def test_demo_set_is_deterministic_and_balanced(tmp_path: Path) -> None:
    X1, y1 = draw_images(20, np.random.default_rng(5))
    X2, y2 = draw_images(20, np.random.default_rng(5))
    np.testing.assert_array_equal(X1, X2)
    assert X1.shape == (20, 64, 64, 3) and X1.dtype == np.uint8
    assert y1.sum() == 10
    files = make_demo(tmp_path, seed=0, n_train=10, n_test=6, n_samples=3)
    data = load_dataset(files.train)
    test = load_dataset(files.test, "test_set_x", "test_set_y")
    assert data.classes == ["no-shape", "shape"] and (data.m, test.m) == (10, 6)
    assert len(files.samples) == 3 and all(p.suffix == ".png" and p.exists() for p in files.samples)
    from PIL import Image

    np.testing.assert_array_equal(np.asarray(Image.open(files.samples[0])), test.X_raw[0])
