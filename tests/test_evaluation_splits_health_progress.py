"""Honest numbers and clear signals: evaluation on the examples a model was tested on, splits that
cannot leak, training-health warnings and divergence by growth, progress lines CI can read, time
that adds up over interrupted and resumed segments, errors that point at the cause, and the small
ones (predict's directory scan and CSV header, help texts, config.yaml, gradcheck of several
configs)."""

from __future__ import annotations

import io
import json
import math
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from dnncli.config import load_config
from dnncli.errors import ConfigError, Interrupted
from dnncli.model.file import load_model
from dnncli.run.progress import TrainingProgress
from dnncli.run.directory import partial_path
from dnncli.run.training import resume_training, run_training
from dnncli.training import health
from dnncli.training.settings import Hooks
from tests.conftest import CONFIGS, dnn_executable, make_images, one_error_line, run_dnn, shared_file, write_h5
from tests.model_helpers import fit, make_model, save_pngs


def one_file_config(tmp_path: Path, data: Path, **data_keys: object) -> Path:
    """A small config on one file holding ``train_set_x`` / ``train_set_y`` (120 examples)."""
    extra = "".join(f"  {key}: {json.dumps(value)}\n" for key, value in data_keys.items())
    config = tmp_path / "one.yaml"
    config.write_text(
        f"name: one\nmodel: {{hidden: [4], init: he, seed: 1}}\n"
        f"data:\n  train: {data}\n{extra}"
        f"training: {{learning_rate: 0.3, iterations: 30, record_every: 10}}\n"
        f"output: {{dir: {tmp_path / 'runs'}, plot: none}}\n"  # no pictures: not what these tests look at
    )
    return config


@pytest.fixture
def one_file(tmp_path: Path) -> Path:
    X, y = make_images(120, seed=4)
    return write_h5(tmp_path / "data" / "all.h5", train_set_x=X, train_set_y=y)


# ---- 1. evaluation on the examples the model was tested on ------------------------------------


def test_mnist_then_evaluate_the_file_scores_the_recorded_test_range(tmp_path: Path) -> None:
    """The issue's case: configs/mnist.yaml trained (2 epochs), then `dnn evaluate mnist10k.h5`
    scores the 2,000 test examples, with the run's own test accuracy, not all 10,000."""
    data = shared_file("mnist10k.h5")
    trained = run_dnn("train", str(CONFIGS / "mnist.yaml"), "--set", f"data.train={data}", "--set", "training.epochs=1", "--no-plot",
                      "--json", "--quiet", cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr
    metrics = json.loads(trained.stdout)
    evaluated = run_dnn("evaluate", str(data), "--json", cwd=tmp_path)
    # the model dnn chose is named (issue 27): nothing else on stderr
    assert evaluated.returncode == 0 and evaluated.stderr == "model: runs/mnist (runs/latest)\n", evaluated.stderr
    report = json.loads(evaluated.stdout)
    assert report["examples"] == 2000 and report["range"] == [8000, 10000] and report["part"] == "test"
    assert report["keys"] == ["images", "labels"] and report["data"] == str(data)
    assert report["accuracy"] == metrics["test_accuracy"]
    # with no DATA at all: the same examples
    result = run_dnn("evaluate", "--model", str(tmp_path / metrics["run_dir"]), "--json")
    assert result.returncode == 0 and json.loads(result.stdout)["accuracy"] == metrics["test_accuracy"], result.stderr


def test_evaluate_picks_the_test_range_refuses_training_examples_and_warns_on_an_explicit_range(
    tmp_path: Path, one_file: Path
) -> None:
    config = one_file_config(tmp_path, one_file, train_range=[0, 90], test_range=[90, 120])
    result = run_dnn("train", str(config), "--json", "--quiet")
    assert result.returncode == 0, result.stderr
    test_accuracy = json.loads(result.stdout)["test_accuracy"]
    model = str(tmp_path / "runs" / "one")

    for args in ([], [str(one_file)]):  # no DATA, and the training file: its recorded test range
        result = run_dnn("evaluate", *args, "--model", model, "--json")
        assert result.returncode == 0 and result.stderr == "", result.stderr
        report = json.loads(result.stdout)
        assert (report["range"], report["examples"], report["accuracy"]) == ([90, 120], 30, test_accuracy)

    copy = shutil.copy(one_file, tmp_path / "copy.h5")  # a copy is the same examples
    result = run_dnn("evaluate", str(copy), "--model", model, "--range", "0:100", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["range"] == [0, 100]
    [warning] = result.stderr.strip().splitlines()
    assert warning.startswith("warning: examples 0..89 of") and "training examples of the model" in warning

    result = run_dnn("evaluate", str(copy), "--model", model, "--range", "95:", "--json")
    assert result.returncode == 0 and result.stderr == "", result.stderr
    report = json.loads(result.stdout)
    assert report["range"] == [95, 120] and report["part"] == "test"

    # a model whose test set is another file: its training file holds only training examples
    import h5py

    other = make_model(tmp_path / "other.h5")
    with h5py.File(other, "a") as f:
        f.attrs["data"] = json.dumps({
            "train": {"file": str(one_file), "x_key": "train_set_x", "y_key": "train_set_y", "range": [0, 120]},
            "test": {"file": str(tmp_path / "test.h5"), "x_key": "test_set_x", "y_key": "test_set_y", "range": [0, 20]},
        })
    result = run_dnn("evaluate", str(one_file), "--model", str(other))
    one_error_line(result, 2, "holds the examples the model was trained on (examples 0..119)", "--range")
    assert result.stdout == ""


def test_models_without_a_data_record_still_load_and_evaluate_a_file(tmp_path: Path) -> None:
    model = make_model(tmp_path / "old.h5")  # written without the 'data' attribute, as older dnn did
    assert load_model(model).data_sources is None
    X, y = make_images(12, seed=2)
    data = write_h5(tmp_path / "d.h5", test_set_x=X, test_set_y=y)
    result = run_dnn("evaluate", str(data), "--model", str(model), "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["range"] == [0, 12] and json.loads(result.stdout)["part"] is None
    result = run_dnn("evaluate", "--model", str(model))
    one_error_line(result, 2, "does not record its data", "DATA")
    result = run_dnn("evaluate", str(data), "--model", str(model), "--range", "8:4")
    one_error_line(result, 2, "--range '8:4'")
    result = run_dnn("evaluate", str(data), "--model", str(model), "--range", "0:99")
    one_error_line(result, 2, "0:99", "has 12 examples")
    import h5py

    with h5py.File(model, "a") as f:  # a data record that is not one
        f.attrs["data"] = "[1, 2]"
    result = run_dnn("evaluate", str(data), "--model", str(model))
    one_error_line(result, 2, str(model), "'data'")


# ---- 2. splits that cannot leak --------------------------------------------------------------


@pytest.mark.parametrize(
    "keys, fragments",
    [
        ({"train_range": [0, 90], "test_range": [80, 120]},
         ("data.train_range = [0, 90]", "data.test_range = [80, 120]", "overlap", "80..89")),
        ({"test_range": [90, 120]}, ("data.test_range = [90, 120]", "without data.train_range")),
        ({"test": "SAME", "test_x_key": "train_set_x", "test_y_key": "train_set_y"},
         ("data.train", "data.test", "share examples")),
        ({"validation": "SAME", "train_range": [0, 60]}, ("data.train_range = [0, 60]", "data.validation", "validation_fraction")),
    ],
    ids=["overlapping ranges", "test range without train range", "test file is the training array", "validation file"],
)
def test_splits_that_would_leak_are_refused_naming_both(tmp_path: Path, one_file: Path, keys: dict, fragments: tuple) -> None:
    keys = {k: (str(one_file) if v == "SAME" else v) for k, v in keys.items()}
    result = run_dnn("train", str(one_file_config(tmp_path, one_file, **keys)), "--quiet")
    one_error_line(result, 2, *fragments)
    assert not (tmp_path / "runs").exists()


def test_overlapping_ranges_exit_2_through_the_command(tmp_path: Path, one_file: Path) -> None:
    config = one_file_config(tmp_path, one_file, train_range=[0, 90], test_range=[80, 120])
    result = run_dnn("train", str(config), cwd=tmp_path)
    one_error_line(result, 2, "[0, 90]", "[80, 120]")


def test_disjoint_ranges_and_other_arrays_of_one_file_are_fine(tmp_path: Path, one_file: Path) -> None:
    X, y = make_images(30, seed=5)
    import h5py

    with h5py.File(one_file, "a") as f:
        f["test_set_x"], f["test_set_y"] = X, y
    config = one_file_config(tmp_path, one_file, test=str(one_file), validation_fraction=0.2)
    result = run_dnn("train", str(config), "--json", "--quiet", "--strict")  # healthy: --strict passes
    assert result.returncode == 0, result.stderr
    sources = load_model(tmp_path / "runs" / "one").data_sources
    assert sources["train"]["x_key"] == "train_set_x" and sources["test"]["x_key"] == "test_set_x"
    assert sources["validation"] == {"held_out_from": "train", "fraction": 0.2, "seed": 1, "examples": 24}
    assert sources["train"]["trained_on"] == 96 and sources["train"]["range"] == [0, 120]
    # an explicit range over the training array names what its examples were: some chose the model
    result = run_dnn("evaluate", str(one_file), "--model", str(tmp_path / "runs" / "one"),
                     "--x-key", "train_set_x", "--range", "0:10")
    [warning] = result.stderr.strip().splitlines()
    assert result.returncode == 0 and "examples 0..9" in warning and "are training or validation examples of the model" in warning


# ---- 3. training health ----------------------------------------------------------------------


def test_health_checks_by_hand() -> None:
    shares = health.class_shares(np.array([[0.0, 1.0, 1.0, 1.0]]))
    assert shares.tolist() == [0.25, 0.75]
    assert health.guessing_cost(np.array([0.5, 0.5])) == pytest.approx(math.log(2))
    assert health.guessing_cost(np.full(6, 1 / 6)) == pytest.approx(math.log(6))
    base = dict(learning_rate=0.1, class_shares=np.array([0.5, 0.5]), hidden_layers=2)
    fine = health.TrainingFacts(initial_cost=0.69, final_cost=0.2, train_accuracy=0.95, **base)
    assert health.check_training(fine) == []
    rose = health.TrainingFacts(initial_cost=0.69, final_cost=0.9, train_accuracy=0.8, **base)
    [warning] = health.check_training(rose)
    assert warning.check == "cost_increased" and "lower training.learning_rate than 0.1" in warning.message
    collapsed = health.TrainingFacts(initial_cost=1.9, final_cost=math.log(6), train_accuracy=0.19, learning_rate=0.1,
                                     class_shares=np.full(6, 1 / 6) + np.array([0.03, -0.03, 0, 0, 0, 0]),
                                     hidden_layers=2, keep_prob=(0.5, 0.5))
    [warning] = health.check_training(collapsed)
    assert warning.check == "at_chance" and "keep_prob is 0.5, 0.5" in warning.message
    assert health.check_training(health.TrainingFacts(0.69, 0.2, None, None, 0.1)) == []  # regression
    assert health.cost_limit(0.5) == 500 and health.cost_limit(math.nan) == math.inf and health.cost_limit(1e-9) == 1


def test_a_run_at_chance_warns_lists_it_and_strict_exits_1(tmp_path: Path, tiny_config: Path) -> None:
    stuck = ["--set", "model.init=zeros", "--set", "training.learning_rate=1e-6", "--set", "training.iterations=5"]
    result = run_dnn("train", str(tiny_config), *stuck, "--json", "--strict", "--no-plot")
    assert result.returncode == 1, result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 1 and "no better than always answering the most frequent class" in warnings[0]
    assert "model.init he or xavier" in warnings[0]
    assert result.stderr.strip().splitlines()[-1].startswith("error: --strict: training ended with 1 warning(s) (at_chance")
    metrics = json.loads(result.stdout)  # the run is written and reported all the same
    assert [w["check"] for w in metrics["warnings"]] == ["at_chance"]
    assert json.loads((Path(metrics["run_dir"]) / "metrics.json").read_text())["warnings"] == metrics["warnings"]


def test_a_learning_rate_of_1e12_on_football_exits_3_and_keeps_the_last_good_parameters(tmp_path: Path) -> None:
    data = shared_file("football2d.h5")
    result = run_dnn("train", str(CONFIGS / "football.yaml"), "--set", f"data.train={data}", "--set", f"data.test={data}",
                     "--set", "training.learning_rate=1e12", "--set", "training.iterations=200", "--quiet", "--no-plot", cwd=tmp_path)
    line = one_error_line(result, 3, "diverged", "more than 1000 times", "lower learning rate")
    assert "last good parameters (iteration 0" in line
    partial = tmp_path / "runs" / "football.partial"
    metrics = json.loads((partial / "metrics.json").read_text())
    assert metrics["status"] == "diverged" and metrics["kept_cost"] == pytest.approx(0.6557412523, abs=1e-9)


def test_growth_without_nan_is_divergence_in_the_engine() -> None:
    X, y = make_images(40, seed=0)
    from dnncli.errors import TrainingDiverged
    from dnncli.network.model import Network

    net = Network.create([192, 8, 1], ["relu", "sigmoid"], init="he", seed=1)
    with pytest.raises(TrainingDiverged, match="more than 1000 times"):
        fit(net, X.reshape(40, -1).T / 255.0, y.reshape(1, -1).astype(float), learning_rate=1e6, iterations=50)


@pytest.mark.parametrize("batch_size", [None, 8])
def test_a_nan_in_the_middle_of_training_is_divergence(batch_size: int | None) -> None:
    """A parameter that turns NaN mid-run (an overflow the cost has not shown yet) stops the run at
    the next step, naming it and the last finite cost, whatever the path (full batch, mini-batches)."""
    X, y = make_images(40, seed=0)
    from dnncli.errors import TrainingDiverged
    from dnncli.network.model import Network

    net = Network.create([192, 8, 1], ["relu", "sigmoid"], init="he", seed=1)
    costs: list[float] = []

    class PoisonAtStep5(Hooks):
        def on_step(self, iteration: int, cost: float) -> None:
            costs.append(cost)
            if iteration == 5:
                net.params["W1"][0, 0] = np.nan

    with pytest.raises(TrainingDiverged, match="not finite") as raised:
        fit(net, X.reshape(40, -1).T / 255.0, y.reshape(1, -1).astype(float), learning_rate=0.01, iterations=50,
            batch_size=batch_size, hooks=PoisonAtStep5())
    assert len(costs) == 5 and all(math.isfinite(c) for c in costs)
    assert f"last finite cost {costs[-1]:.6g}" in str(raised.value)
    assert ("at iteration 5" if batch_size is None else "iteration 5") in str(raised.value)


# ---- 4. progress CI can read -----------------------------------------------------------------


class FakeClock:
    """Each reading is one second later: a line every ``log_every_seconds`` readings."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


def test_log_lines_start_every_interval_and_end_with_validation(tmp_path: Path, tiny_config: Path) -> None:
    stream = io.StringIO()
    progress = TrainingProgress("tiny", log_every_seconds=5.0, clock=FakeClock(), stream=stream)
    config = load_config(tiny_config, ["data.validation_fraction=0.25", "training.optimizer=adam", "training.batch_size=10",
                                       "training.iterations=null", "training.epochs=8", "training.record_every=1",
                                       "output.plot=none"])
    run_training(config, run_dir=tmp_path / "run", progress=progress)
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("tiny: start: 30 examples, 987 parameters, first layer plain (")
    assert lines[0].endswith("8 epochs of 3 steps (24 steps)")
    periodic = lines[1:-1]
    assert len(periodic) >= 2
    assert all(line.startswith("tiny: epoch ") and "/8 (step " in line and ", cost " in line for line in periodic)
    assert all("val_cost" in line and "val_accuracy" in line and "elapsed" in line and "remaining" in line for line in periodic[1:])
    assert lines[-1].startswith("tiny: finished: 24 steps (8 epochs) in ") and "val_accuracy" in lines[-1]


def test_the_terminal_bar_shows_the_name_and_epochs(tiny_config: Path) -> None:
    from dnncli.training.settings import TrainPlan

    progress = TrainingProgress("cat_deep", show_bar=True)
    assert progress.bar.columns[0].text_format == "cat_deep"
    plan = TrainPlan(total_steps=60, total_epochs=20, steps_per_epoch=3, by_epoch=True, budget_in_epochs=True,
                     examples=30, parameters=9, first_layer="plain", first_layer_reason="")
    progress.on_start(plan)
    progress.on_epoch(3, 0.5)
    progress.on_record({"val_cost": 0.25, "val_accuracy": 0.875})
    progress.on_step(10, 0.4)  # the first step of epoch 4
    task = progress.bar.tasks[0]
    assert task.fields["position"] == "epoch 4/20" and task.fields["validation"] == ", val_cost 0.25, val_accuracy 0.8750"
    iterations = TrainingProgress("x")
    iterations.on_start(TrainPlan(2500, 2500, 1, False, False, 1, 1, "plain", ""))
    iterations.on_step(300, 0.1)
    assert iterations.position() == "iteration 300/2500"


def test_a_run_with_stderr_to_a_file_leaves_progress_lines(tmp_path: Path, tiny_config: Path) -> None:
    """A real process, its stderr a real file (not a terminal): the installed command's log."""
    import subprocess

    log = tmp_path / "train.log"
    with log.open("w") as stderr:
        result = subprocess.run(
            [dnn_executable(), "train", str(tiny_config), "--set", "training.log_every_seconds=0.000001", "--json", "--no-plot"],
            cwd=tmp_path, stdout=subprocess.PIPE, stderr=stderr, text=True, env={**os.environ, "NO_COLOR": "1"},
        )
    assert result.returncode == 0
    lines = log.read_text().splitlines()
    assert lines[0].startswith("tiny: start: 40 examples") and lines[-1].startswith("tiny: finished: 60 iterations")
    assert any(line.startswith("tiny: iteration ") and "/60, cost " in line for line in lines[1:-1]), lines
    assert "\x1b" not in log.read_text()


# ---- 5. time that adds up --------------------------------------------------------------------


def test_interrupted_and_resumed_seconds_add_up(tmp_path: Path, tiny_config: Path) -> None:
    import signal

    class SlowThenInterrupt(Hooks):
        def on_step(self, iteration: int, cost: float) -> None:
            time.sleep(0.002)  # each segment takes measurable time
            if iteration == 20:
                os.kill(os.getpid(), signal.SIGINT)

    class Slow(Hooks):
        def on_step(self, iteration: int, cost: float) -> None:
            time.sleep(0.002)

    target = tmp_path / "run"
    with pytest.raises(Interrupted):
        run_training(load_config(tiny_config, ["output.plot=none"]), run_dir=target, progress=SlowThenInterrupt())
    interrupted = json.loads((partial_path(target) / "metrics.json").read_text())
    assert interrupted["status"] == "interrupted" and interrupted["seconds"] >= 20 * 0.002
    assert interrupted["segments"] == [{"from_iteration": 0, "to_iteration": 20, "seconds": interrupted["seconds"]}]

    metrics = resume_training(partial_path(target), progress=Slow()).metrics
    first, second = metrics["segments"]
    assert first == interrupted["segments"][0]
    assert (second["from_iteration"], second["to_iteration"]) == (20, 60) and second["seconds"] >= 40 * 0.002
    assert metrics["seconds"] >= interrupted["seconds"] + second["seconds"] - 1e-6
    assert json.loads((target / "metrics.json").read_text())["seconds"] == metrics["seconds"]


# ---- 6. errors that point at the cause -------------------------------------------------------


def test_a_missing_data_file_names_the_key_the_file_and_the_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "configs" / "c.yaml"
    config.parent.mkdir()
    config.write_text("model: {hidden: [3]}\ndata: {train: datasets/nowhere.h5}\n")
    monkeypatch.chdir(tmp_path)
    result = run_dnn("train", str(config), "--quiet", "--no-plot")
    one_error_line(result, 2, "data.train: datasets/nowhere.h5: no such data file",
                   f"relative paths are read from the current directory, {tmp_path}")
    # the rule: relative to the current directory, not to the config file's
    X, y = make_images(20)
    write_h5(tmp_path / "datasets" / "here.h5", train_set_x=X, train_set_y=y)
    config.write_text(f"model: {{hidden: [3]}}\ndata: {{train: datasets/here.h5}}\ntraining: {{iterations: 2}}\n"
                      f"output: {{dir: {tmp_path / 'runs'}}}\n")
    result = run_dnn("train", str(config), "--quiet", "--no-plot")
    assert result.returncode == 0, result.stderr
    monkeypatch.chdir(config.parent)
    result = run_dnn("train", str(config), "--quiet", "--no-plot")
    one_error_line(result, 2, "data.train: datasets/here.h5", f"current directory, {config.parent})")


@pytest.mark.parametrize("config", sorted(CONFIGS.glob("*.yaml")), ids=lambda p: p.stem)
def test_set_hidden_works_on_every_shipped_config(config: Path) -> None:
    cfg = load_config(config, ["model.hidden=[64,32]"])
    original = load_config(config)
    assert cfg.model.hidden == [64, 32] and cfg.model.layers is None and cfg.model.activations is None
    if original.model.activations:
        assert cfg.model.output_activation == original.model.activations[-1]
        if len(original.model.activations) > 1:
            assert cfg.model.hidden_activation == original.model.activations[0]


def test_set_hidden_keeps_the_configs_activations(tmp_path: Path) -> None:
    data = shared_file("football2d.h5")
    result = run_dnn("train", str(CONFIGS / "planar.yaml"), "--set", f"data.train={data}",
                     "--set", "model.hidden=[6,5]", "--set", "training.iterations=3", "--no-plot", "--run-dir", str(tmp_path / "r"),
                     "--quiet", "--json")
    assert result.returncode == 0, result.stderr
    model = load_model(tmp_path / "r").network
    assert model.layer_sizes == [2, 6, 5, 1] and model.activations == ["tanh", "tanh", "sigmoid"]
    with pytest.raises(ConfigError, match="mix hidden activations"):
        from dnncli.config import apply_overrides

        apply_overrides({"model": {"layers": [2, 3, 3, 1], "activations": ["relu", "tanh", "sigmoid"]}}, ["model.hidden=[4]"])


def test_a_typo_in_a_set_key_names_set_not_the_file(tiny_config: Path) -> None:
    result = run_dnn("train", str(tiny_config), "--set", "training.learnin_rate=0.1")
    line = one_error_line(result, 2, "--set training.learnin_rate=0.1: unknown key 'training.learnin_rate'",
                          "did you mean 'learning_rate'")
    assert str(tiny_config) not in line
    result = run_dnn("train", str(tiny_config), "--set", "training.epochs=3")  # a clash with the file's key
    one_error_line(result, 2, f"{tiny_config} with --set training.epochs=3", "give one budget")


# ---- 7. the small ones -----------------------------------------------------------------------


def test_predict_r_takes_images_only_and_the_csv_header_is_quoted(tmp_path: Path) -> None:
    model = make_model(tmp_path / "m.h5", classes=["dark, deep", 'light "bright"'])
    photos = tmp_path / "photos"
    save_pngs(make_images(2)[0], photos / "sub")
    write_h5(photos / "sub" / "set.h5", x=np.zeros(3))
    write_h5(photos / "set.hdf", x=np.zeros(3))
    result = run_dnn("predict", str(photos), "-r", "--model", str(model), "--format", "csv")
    assert result.returncode == 0, result.stderr
    import csv

    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows[0] == ["path", "class", "index", "probability", "p_dark, deep", 'p_light "bright"']
    assert len(rows) == 3 and all(row[0].endswith(".png") and len(row) == 6 for row in rows[1:])


def test_help_texts_promise_what_exists() -> None:
    train_help = run_dnn("train", "--help", env={"COLUMNS": "200"}).stdout
    assert "stops after the current update step" in " ".join(train_help.split())
    assert "end of the current epoch" not in train_help and "--strict" in train_help
    data_help = run_dnn("data", "--help", env={"COLUMNS": "200"}).stdout
    promised = data_help.split("Commands")[0]
    import re

    named = set(re.findall(r"\((\w+)\)", promised))  # the group's help names its commands in brackets
    assert named == {"demo", "import", "inspect", "split"}
    for command in named:
        assert run_dnn("data", command, "--help").returncode == 0


def test_config_yaml_is_block_style_with_every_default_filled(tmp_path: Path, tiny_config: Path) -> None:
    config = tiny_config.read_text().replace("  seed: 1\n", "")  # no model.seed: one is drawn
    tiny_config.write_text(config)
    result = run_dnn("train", str(tiny_config), "--set", "data.validation_fraction=0.2", "--quiet", "--json", "--no-plot")
    assert result.returncode == 0, result.stderr
    text = (Path(json.loads(result.stdout)["run_dir"]) / "config.yaml").read_text()
    assert "[" not in text and "{" not in text  # block style
    written = yaml.safe_load(text)
    assert isinstance(written["model"]["seed"], int) and written["training"]["seed"] == written["model"]["seed"]
    assert written["training"]["print_every"] == 10 and written["model"]["layers"][0] == 192
    (tmp_path / "again.yaml").write_text(text)
    from dnncli.run.prepare import prepare

    again = prepare(load_config(tmp_path / "again.yaml"))  # the drawn seed gives the same start
    assert again.network.compute_cost(again.data.X, again.data.Y) == json.loads(result.stdout)["initial_cost"]


def test_gradcheck_accepts_several_configs(tmp_path: Path, tiny_config: Path) -> None:
    second = tmp_path / "second.yaml"
    second.write_text(tiny_config.read_text().replace("name: tiny", "name: second").replace("hidden: [5, 3]", "hidden: [4]"))
    result = run_dnn("gradcheck", str(tiny_config), str(second), "--examples", "3", "--max-coordinates", "20", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert [case["case"] for case in report["cases"]] == ["tiny", "second"] and report["passed"]
    result = run_dnn("gradcheck", str(tiny_config), str(tmp_path / "missing.yaml"))
    one_error_line(result, 2, "missing.yaml")
    assert result.stdout == ""
