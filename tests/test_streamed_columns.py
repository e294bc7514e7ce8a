"""Training inputs kept as stored (uint8, in memory or in the HDF5 file) and scaled a batch at a
time: the same numbers as the float matrix, and the same trained model."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from dnncli.data.columns import ScaledColumns, training_columns
from dnncli.data.hdf5 import load_dataset
from dnncli.model.file import load_model
from dnncli.compute.resources import memory_budget_bytes, place_training_inputs
from tests.conftest import make_images, run_dnn, write_h5


@pytest.fixture
def stored(tmp_path):
    X_raw, y = make_images(30, seed=4, shape=(4, 5, 3))
    path = write_h5(tmp_path / "d.h5", train_set_x=X_raw, train_set_y=y)
    return path, X_raw


@pytest.mark.parametrize("where", ["memory", "file"])
def test_scaled_columns_give_the_float_matrix_s_numbers(stored, where) -> None:
    path, X_raw = stored
    dataset = load_dataset(path, stream_over_bytes=0 if where == "file" else None)
    assert isinstance(dataset.X_raw, h5py.Dataset if where == "file" else np.ndarray)
    X = X_raw.reshape(30, -1).T.astype(np.float32) / np.float32(255)
    columns = ScaledColumns(dataset.X_raw, 255.0, np.float32, chunk=7)
    assert columns.shape == X.shape and columns.dtype == np.float32
    batch = np.array([29, 3, 17, 4, 0])  # unsorted, as a shuffled mini-batch is
    np.testing.assert_array_equal(columns[:, batch], X[:, batch])
    np.testing.assert_array_equal(columns[:, 5:12], X[:, 5:12])
    W = np.random.default_rng(0).normal(size=(3, X.shape[0])).astype(np.float32)
    np.testing.assert_allclose(W @ columns, W @ X, rtol=1e-5)
    dZ = np.random.default_rng(1).normal(size=(3, 30)).astype(np.float32)
    np.testing.assert_allclose(dZ @ columns.T, dZ @ X.T, rtol=1e-4, atol=1e-5)
    assert columns.fingerprint() == ScaledColumns(X_raw, 255.0, np.float32, chunk=4).fingerprint()


def test_only_inputs_over_the_budget_are_kept_as_stored(stored) -> None:
    path, _ = stored
    dataset = load_dataset(path)

    def placed(itemsize: int, budget_mb: float):
        return place_training_inputs(dataset.m, dataset.n_x, 1, itemsize, memory_budget_bytes(budget_mb))

    # full batch or mini-batches: the float matrix column-major, each example's values contiguous
    whole = training_columns(dataset, 255.0, np.float64, placed(8, 100.0), None)
    assert isinstance(whole, np.ndarray) and whole.flags.f_contiguous
    mini = training_columns(dataset, 255.0, np.float32, placed(4, 100.0), 8)
    assert mini.flags.f_contiguous
    np.testing.assert_array_equal(mini, dataset.columns(255.0, np.float32))
    np.testing.assert_array_equal(whole, dataset.columns(255.0, np.float64))
    streamed = training_columns(dataset, 255.0, np.float64, placed(8, 0.001), 8)
    assert isinstance(streamed, ScaledColumns) and streamed.raw.dtype == np.uint8


@pytest.mark.parametrize("batch", [None, 16], ids=["full-batch", "mini-batch"])
def test_dnn_train_streamed_from_the_file_trains_the_same_model(tmp_path, tiny_config, batch) -> None:
    params = {}
    for budget in (100, 0.0001):
        run_dir = tmp_path / f"run-{budget}"
        args = ["--set", f"data.memory_budget_mb={budget}", "--set", "training.iterations=20"]
        if batch:
            args += ["--set", f"training.batch_size={batch}", "--set", "training.epochs=3", "--set", "training.iterations=null"]
        result = run_dnn("train", str(tiny_config), *args, "--run-dir", str(run_dir), "--quiet")
        assert result.returncode == 0, result.stderr
        params[budget] = load_model(run_dir / "model.h5").network.params
    for key, value in params[100].items():
        np.testing.assert_allclose(params[0.0001][key], value, rtol=1e-10, atol=1e-12, err_msg=key)


def test_a_streamed_file_with_nan_is_refused(tmp_path) -> None:
    X = np.ones((5, 2, 2))
    X[3, 1, 0] = np.nan
    path = write_h5(tmp_path / "nan.h5", train_set_x=X, train_set_y=np.zeros(5))
    from dnncli.errors import DataError

    with pytest.raises(DataError, match="NaN"):
        load_dataset(path, stream_over_bytes=0)


def test_a_scoring_pass_over_streamed_inputs_keeps_the_outputs_not_every_layer(stored) -> None:
    """The training set's cost and scores over inputs read a batch at a time go through the network
    a block of examples at a time: the same outputs and cost as the whole matrix's pass, and of the
    layers' activations only the outputs are kept (m x sum(n[l]) floats would outweigh a table)."""
    from dnncli.network.model import Network
    from dnncli.training.first_layer import whole_set_forward

    path, X_raw = stored
    dataset = load_dataset(path, stream_over_bytes=0)
    X = X_raw.reshape(30, -1).T.astype(np.float64) / 255.0
    network = Network.create([X.shape[0], 7, 5, 1], ["relu", "relu", "sigmoid"], init="he", seed=3)
    Y = (np.arange(30) % 2).reshape(1, -1).astype(np.float64)
    AL, caches = network.forward(np.asfortranarray(X))
    streamed_AL, light = whole_set_forward(network, ScaledColumns(dataset.X_raw, 255.0, np.float64, chunk=4))
    np.testing.assert_allclose(streamed_AL, AL, rtol=1e-12)
    assert network.cost(streamed_AL, light, Y, 0.7) == pytest.approx(network.cost(AL, caches, Y, 0.7), rel=1e-12)
    assert all(cache.A_prev is None for cache in light)
    assert [cache.Z is None for cache in light] == [True, True, False] and light[-1].Z.shape == (1, 30)
    # a matrix in memory takes the network's own pass, to the last bit; given a block (its pass
    # would exceed the memory budget), a block of examples at a time as the streamed inputs do
    whole_AL, whole_caches = whole_set_forward(network, np.asfortranarray(X))
    np.testing.assert_array_equal(whole_AL, AL)
    assert whole_caches[0].A_prev is not None
    blocked_AL, blocked = whole_set_forward(network, np.asfortranarray(X), block=8)
    np.testing.assert_allclose(blocked_AL, AL, rtol=1e-12)
    assert all(cache.A_prev is None for cache in blocked) and blocked[-1].Z.shape == (1, 30)
