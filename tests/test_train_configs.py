"""What a config can ask of `dnn train` beyond full-batch gradient descent, end to end: the
shipped configs on the shared data sets (skipped where absent), and generated data for
validation, early stopping, ranges, multi-class, regression and float32."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from dnncli.model.file import load_model
from tests.conftest import CONFIGS, make_images, run_dnn, shared_file, write_h5


def train_run(tmp_path: Path, config: Path | str, *sets: str, name: str = "run",
              pictures: bool = True) -> tuple[dict, list[dict], Path]:
    args = ["train", str(config), "--run-dir", str(tmp_path / name), "--json", "--quiet"]
    if not pictures:
        args.append("--no-plot")  # the numbers are what the test checks: no matplotlib, 0.4 s a picture
    for item in sets:
        args += ["--set", item]
    result = run_dnn(*args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    run_dir = tmp_path / name
    history = list(csv.DictReader((run_dir / "history.csv").open()))
    return json.loads(result.stdout), history, run_dir


# ---- the published results (shared data) ------------------------------------------------
# One run a test, so that the test workers (pytest-xdist) share them out.


@pytest.mark.slow
def test_football_with_l2(tmp_path: Path) -> None:
    data = shared_file("football2d.h5")
    metrics, _, _ = train_run(tmp_path, CONFIGS / "football_l2.yaml", f"data.train={data}", f"data.test={data}",
                              pictures=False)
    assert round(metrics["initial_cost"], 10) == 0.6974484493
    assert round(metrics["train_accuracy"], 3) == 0.938
    assert metrics["test_accuracy"] == 0.93


@pytest.mark.slow
def test_football_with_dropout(tmp_path: Path) -> None:
    data = shared_file("football2d.h5")
    metrics, _, run_dir = train_run(tmp_path, CONFIGS / "football_dropout.yaml", f"data.train={data}",
                                    f"data.test={data}", pictures=False)
    assert metrics["test_accuracy"] >= 0.93
    # the saved model predicts without dropout: evaluating it twice gives the same answer
    model = load_model(run_dir)
    X = np.asarray(h5py.File(data, "r")["test_set_x"]).T
    np.testing.assert_array_equal(model.network.predict_proba(X), model.network.predict_proba(X))


# Adam beats mini-batch gradient descent: GD stays under 0.85 (≈ 0.80 published), Adam reaches
# 0.93 (≈ 0.94), on the same data, network, seed and budget.


@pytest.mark.slow
def test_moons_mini_batch_gradient_descent(tmp_path: Path) -> None:
    data = shared_file("moons300.h5")
    gd, gd_history, _ = train_run(tmp_path, CONFIGS / "moons_gd.yaml", f"data.train={data}", pictures=False)
    assert gd["train_accuracy"] < 0.85
    assert gd["epochs"] == 10000
    assert gd["iterations"] == 10000 * 5  # 300 examples in batches of 64: 4 full and one of 44
    assert [int(r["epoch"]) for r in gd_history[:3]] == [0, 100, 200]


@pytest.mark.slow
def test_moons_adam_beats_mini_batch_gradient_descent(tmp_path: Path) -> None:
    data = shared_file("moons300.h5")
    adam, _, _ = train_run(tmp_path, CONFIGS / "moons_adam.yaml", f"data.train={data}", pictures=False)
    assert adam["train_accuracy"] >= 0.93
    assert adam["epochs"] == 10000


@pytest.mark.slow
def test_mnist_digits(tmp_path: Path) -> None:
    data = shared_file("mnist10k.h5")
    metrics, history, run_dir = train_run(tmp_path, CONFIGS / "mnist.yaml", f"data.train={data}", pictures=False)
    assert metrics["test_accuracy"] >= 0.96
    assert len(history) == 21 and history[-1]["epoch"] == "20"
    model = load_model(run_dir)
    assert model.classes == [str(d) for d in range(10)]
    assert model.network.layer_sizes == [784, 128, 64, 10] and model.network.dtype == np.float32


# ---- generated data -----------------------------------------------------------------------------


def write_config(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.fixture
def noisy_data(tmp_path: Path) -> dict[str, Path]:
    """30 training examples, a third of their labels flipped, and 300 clean validation examples:
    a wide network first learns the rule (the validation cost falls), then memorizes the noise
    (it rises)."""
    rng = np.random.default_rng(0)
    X, Xv = rng.normal(size=(30, 5)), rng.normal(size=(300, 5))
    y, yv = (X[:, 0] > 0).astype(np.int64), (Xv[:, 0] > 0).astype(np.int64)
    flipped = rng.random(30) < 0.3
    y[flipped] = 1 - y[flipped]
    train = write_h5(tmp_path / "noisy_train.h5", train_set_x=X, train_set_y=y)
    val = write_h5(tmp_path / "noisy_val.h5", train_set_x=Xv, train_set_y=yv)
    return {"train": train, "validation": val}


def test_early_stopping_keeps_the_best_model(tmp_path: Path, noisy_data: dict[str, Path]) -> None:
    config = write_config(tmp_path / "es.yaml", f"""
model: {{hidden: [100], init: he, seed: 2}}
data: {{train: {noisy_data['train']}, validation: {noisy_data['validation']}}}
training: {{optimizer: adam, learning_rate: 0.01, iterations: 3000, record_every: 10,
           early_stopping: true, patience: 5}}
""")
    metrics, history, run_dir = train_run(tmp_path, config)
    assert metrics["stopped_early"] is True
    assert metrics["iterations"] < 3000
    val_costs = [float(r["val_cost"]) for r in history]
    best = int(np.argmin(val_costs))
    assert 0 < best < len(val_costs) - 5  # it fell at first...
    assert val_costs[-1] > val_costs[best] + 0.05  # ...then rose for `patience` checks...
    assert metrics["best_epoch"] == int(history[best]["iteration"])
    # ...and the saved model is the best one seen
    model = load_model(run_dir)
    with h5py.File(noisy_data["validation"], "r") as f:
        Xv, yv = f["train_set_x"][()].T, f["train_set_y"][()]
    cost = model.network.compute_cost(Xv, model.network.encode_targets(yv))
    assert cost == pytest.approx(val_costs[best], rel=1e-9)
    assert metrics["val_cost"] == pytest.approx(val_costs[best], rel=1e-9)
    assert (run_dir / "loss.png").stat().st_size > 0
    assert list(history[0]) == ["iteration", "cost", "train_accuracy", "test_accuracy", "val_cost", "val_accuracy"]


def test_validation_fraction_is_held_out_at_random_with_the_seed(tmp_path: Path, tiny_data: dict[str, Path]) -> None:
    config = write_config(tmp_path / "vf.yaml", f"""
model: {{hidden: [5], init: he, seed: 1}}
data: {{train: {tiny_data['train']}, validation_fraction: 0.25}}
training: {{learning_rate: 0.1, iterations: 20, record_every: 5}}
""")
    first, history, _ = train_run(tmp_path, config)
    assert "val_cost" in history[0] and "val_accuracy" in history[0]

    from dnncli.config import load_config
    from dnncli.run.prepare import prepare

    def held_out(*overrides: str) -> np.ndarray:
        data = prepare(load_config(config, list(overrides))).data
        assert data.m == 30 and data.validation.X.shape[1] == 10  # 40 examples, a quarter held out
        return data.validation.X

    np.testing.assert_array_equal(held_out(), held_out())
    assert not np.array_equal(held_out(), held_out("training.seed=7"))


def test_a_prepared_run_is_made_once_with_how_the_run_started(tmp_path: Path, tiny_data: dict[str, Path]) -> None:
    import dataclasses

    from dnncli.compute.threads import IdleSample
    from dnncli.config import load_config
    from dnncli.run.prepare import prepare

    config = write_config(tmp_path / "once.yaml", f"""
model: {{hidden: [3], init: he}}
data: {{train: {tiny_data['train']}}}
training: {{learning_rate: 0.1, iterations: 5}}
""")
    origin, idle = {"started": "2026-01-01T00:00:00+00:00", "overrides": []}, IdleSample.now()
    prepared = prepare(load_config(config), origin=origin, idle_since=idle, recorded_target=tmp_path / "there")
    assert (prepared.origin, prepared.idle_since, prepared.recorded_target) == (origin, idle, tmp_path / "there")
    assert prepared.config.model.init == "he"  # what the health checks name, read from the resolved config
    with pytest.raises(dataclasses.FrozenInstanceError):
        prepared.origin = {}  # type: ignore[misc]
    assert prepare(load_config(config)).origin == {}


def test_train_and_test_ranges_of_one_file(tmp_path: Path) -> None:
    X, y = make_images(60, seed=3)
    data = write_h5(tmp_path / "one.h5", images=X, labels=y)
    config = write_config(tmp_path / "ranges.yaml", f"""
model: {{hidden: [4], seed: 1}}
data: {{train: {data}, x_key: images, y_key: labels, train_range: [0, 45], test_range: [45, 60]}}
training: {{learning_rate: 0.1, iterations: 5}}
""")
    from dnncli.config import load_config
    from dnncli.run.prepare import prepare

    prepared = prepare(load_config(config)).data
    assert prepared.m == 45 and prepared.test.X.shape[1] == 15
    np.testing.assert_array_equal(prepared.test.X[:, 0], X[45].reshape(-1) / 255)

    bad = run_dnn("train", str(config), "--set", "data.test_range=[45, 80]", cwd=tmp_path)
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines() == [
        f"error: {data}: data.test_range = [45, 80] but the file has 60 examples (stop must be at most 60)"
    ]


def test_multiclass_from_integer_labels_with_class_names(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    centers = np.array([[0, 0], [4, 0], [0, 4]])
    y = rng.integers(0, 3, 150)
    X = centers[y] + rng.normal(scale=0.6, size=(150, 2))
    data = write_h5(tmp_path / "three.h5", train_set_x=X, train_set_y=y,
                    list_classes=np.array([b"red", b"green", b"blue"]))
    config = write_config(tmp_path / "three.yaml", f"""
model: {{hidden: [8], seed: 1}}
data: {{train: {data}, validation_fraction: 0.2}}
training: {{optimizer: adam, learning_rate: 0.05, batch_size: 32, epochs: 30, record_every: 5}}
""")
    metrics, history, run_dir = train_run(tmp_path, config)
    assert metrics["train_accuracy"] > 0.9 and metrics["val_accuracy"] > 0.85
    model = load_model(run_dir)
    assert model.network.activations[-1] == "softmax" and model.network.layer_sizes[-1] == 3
    assert model.classes == ["red", "green", "blue"]
    assert {"epoch", "val_cost", "val_accuracy"} <= set(history[0])


def test_regression_reports_r2_and_mae(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, size=(200, 3))
    y = X @ np.array([1.5, -2.0, 0.5]) + 0.3 * np.sin(3 * X[:, 0]) + rng.normal(scale=0.05, size=200)
    data = write_h5(tmp_path / "reg.h5", train_set_x=X[:150], train_set_y=y[:150],
                    test_set_x=X[150:], test_set_y=y[150:])
    config = write_config(tmp_path / "reg.yaml", f"""
model: {{hidden: [16], output_activation: linear, init: he, seed: 1}}
data: {{train: {data}, test: {data}}}
training: {{optimizer: adam, learning_rate: 0.01, batch_size: 32, epochs: 100, record_every: 10}}
""")
    metrics, _, _ = train_run(tmp_path, config)
    assert metrics["train_accuracy"] is None and metrics["test_accuracy"] is None
    assert metrics["train_r2"] > 0.95 and metrics["test_r2"] > 0.9
    assert 0 < metrics["test_mae"] < 0.3


def test_float32_run(tmp_path: Path, tiny_config: Path) -> None:
    metrics, _, run_dir = train_run(tmp_path, tiny_config, "training.dtype=float32")
    assert load_model(run_dir).network.dtype == np.float32
    assert metrics["final_cost"] < metrics["initial_cost"]


def test_shipped_configs_are_valid() -> None:
    from dnncli.config import load_config

    for name in ("football_l2", "football_dropout", "moons_gd", "moons_momentum", "moons_adam", "mnist"):
        config = load_config(CONFIGS / f"{name}.yaml")
        assert config.name == name
    assert load_config(CONFIGS / "moons_momentum.yaml").training.optimizer == "momentum"


@pytest.mark.parametrize(
    "override, message",
    [
        ("training.optimizer=adamw", "training.optimizer: expected 'gd', 'momentum', 'rmsprop' or 'adam', got 'adamw'"),
        ("training.epochs=5", "iterations = 60 and epochs = 5: give one budget (set the other to null)"),
        ("training.keep_prob=1.5", "keep_prob = 1.5: a keep probability must be in (0, 1]"),
        ("training.batchsize=8", "unknown key 'training.batchsize' (did you mean 'batch_size'?)"),
        ("training.early_stopping=true", "training.early_stopping needs a validation set"),
        ("training.schedule=step", "schedule step needs a decay_rate"),
        ("training.dtype=float16", "training.dtype: expected 'float64' or 'float32', got 'float16'"),
        ("data.validation_fraction=1.5", "data.validation_fraction: must be < 1"),
        ("training.keep_prob=[0.5, 0.5, 0.5]", "training.keep_prob has 3 entries but the network has 2 hidden layers"),
    ],
)
def test_bad_training_settings_are_one_line_errors(tmp_path: Path, tiny_config: Path, override: str, message: str) -> None:
    result = run_dnn("train", str(tiny_config), "--set", override, cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], result.stderr
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_verbose_mini_batch_runs_print_epoch_costs(tmp_path: Path, tiny_config: Path) -> None:
    result = run_dnn("train", str(tiny_config), "--verbose", "--set", "training.iterations=null",
                     "--set", "training.epochs=4", "--set", "training.batch_size=16",
                     "--set", "training.record_every=2", "--run-dir", str(tmp_path / "run"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("Cost after")]
    assert [line.split(":")[0] for line in lines] == ["Cost after epoch 0", "Cost after epoch 2", "Cost after epoch 4"]
    history = list(csv.DictReader((tmp_path / "run" / "history.csv").open()))
    assert [float(r["cost"]) for r in history] == [float(line.split(": ")[1]) for line in lines]


@pytest.mark.parametrize("optimizer", ["gd", "momentum", "rmsprop", "adam"])
def test_every_optimizer_from_a_config_with_a_schedule(tmp_path: Path, tiny_config: Path, optimizer: str) -> None:
    from dnncli.config import load_config
    from dnncli.run.training import run_training

    config = load_config(tiny_config, [
        f"training.optimizer={optimizer}", "training.learning_rate=0.01", "training.iterations=null",
        "training.epochs=20", "training.batch_size=8", "training.record_every=5",
        "training.schedule=exponential", "training.decay_rate=0.5", "training.decay_steps=10",
    ])
    metrics, result, _ = run_training(config, run_dir=tmp_path / "run")
    assert metrics["final_cost"] < metrics["initial_cost"]
    assert metrics["iterations"] == 20 * 5  # 40 examples in batches of 8
    rows = list(csv.DictReader((tmp_path / "run" / "history.csv").open()))
    assert [float(r["learning_rate"]) for r in rows] == pytest.approx([0.01 * 0.5 ** (e / 10) for e in (0, 5, 10, 15, 20)])
