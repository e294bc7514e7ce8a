"""Each command's work is one library call, usable in-process without the command line: the
call gives what the command prints (the command only parses and renders)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dnncli.cli.app import app
from dnncli.config.safe_yaml import read_yaml_file
from dnncli.errors import CheckFailed, ConfigError, DnnError
from dnncli.model.predict import predict_paths
from dnncli.plots.evaluation import EvaluationRequest, evaluate_model
from dnncli.run.gradcheck import gradcheck
from dnncli.run.launch import TrainRequest, check_strict, launch_training, requested_config
from dnncli.run.listing import RunInfo, differing_settings, flatten, list_runs, output_format
from tests.conftest import make_images, write_h5
from tests.model_helpers import make_model, save_pngs


def _command(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def test_predict_paths_writes_what_dnn_predict_prints(tmp_path: Path) -> None:
    model = make_model(tmp_path / "m.h5")
    images = [str(p) for p in save_pngs(make_images(3, seed=2)[0], tmp_path / "imgs")]
    failures: list[str] = []
    out = io.StringIO()
    outcome = predict_paths(model, [*images, str(tmp_path / "missing.png")], out, output_format="csv", on_failure=failures.append)
    assert (outcome.total, outcome.failures, outcome.table_rows) == (4, 1, [])
    assert len(failures) == 1 and "missing.png" in failures[0]
    assert out.getvalue() == _command("predict", "--model", str(model), "--format", "csv", *images)
    table = predict_paths(model, images, io.StringIO())
    assert [row.path for row in table.table_rows] == images
    with pytest.raises(ConfigError, match="binary"):
        predict_paths(make_model(tmp_path / "three.h5", n_classes=3), images, io.StringIO(), threshold=0.3)


def test_evaluate_model_reports_what_dnn_evaluate_prints(tmp_path: Path) -> None:
    model = make_model(tmp_path / "m.h5")
    X, y = make_images(12, seed=4)
    data = write_h5(tmp_path / "test.h5", test_set_x=X, test_set_y=y)
    warnings: list[str] = []
    report = evaluate_model(model, EvaluationRequest(data=data, confusion=tmp_path / "c.png"), on_warning=warnings.append)
    assert report.files == [str(tmp_path / "c.png")] and (tmp_path / "c.png").exists()
    shown = json.loads(_command("evaluate", str(data), "--model", str(model), "--confusion", str(tmp_path / "c2.png"), "--json"))
    assert {k: v for k, v in report.as_dict().items() if k != "files"} == {k: v for k, v in shown.items() if k != "files"}
    with pytest.raises(ConfigError, match="--errors"):  # a picture name is refused before the model is read
        evaluate_model(tmp_path / "no-model.h5", EvaluationRequest(errors=tmp_path / "e.jpg"))


def test_gradcheck_checks_the_engine_or_the_configs_given(tmp_path: Path, tiny_config: Path) -> None:
    engine = gradcheck()
    assert engine.passed and not engine.of_configs and len(engine.tables()) == 1
    assert json.loads(_command("gradcheck", "--json"))["cases"] == json.loads(json.dumps(engine.as_dict()))["cases"]
    configs = gradcheck([tiny_config, tiny_config], ["training.l2_lambda=0.1"], examples=3)
    assert configs.of_configs and len(configs.tables()) == 2 and configs.failure_message() is None
    assert configs.checked[0].case.options.cost["l2_lambda"] == 0.1
    assert gradcheck(threshold=1e-30).failure_message().startswith("gradient check failed")


def test_a_run_launched_in_process_is_listed(tmp_path: Path, tiny_config: Path) -> None:
    request = TrainRequest(config=tiny_config, overrides=["training.iterations=20"])
    metrics = launch_training(requested_config(request), request)
    assert metrics["iterations"] == 20
    check_strict(metrics)  # a clean run passes --strict
    with pytest.raises(CheckFailed, match="--strict"):
        check_strict({**metrics, "warnings": [{"check": "at_chance", "message": "..."}]})
    listing = list_runs([str(tmp_path / "runs")])
    assert [run.name for run in listing.runs] == ["tiny"] and not listing.compared
    assert json.loads(listing.text("json"))[0]["metrics"]["iterations"] == 20
    assert listing.text("csv") == _command("runs", str(tmp_path / "runs"), "--csv")


@pytest.mark.parametrize(
    "request_, fragment",
    [
        (TrainRequest(config=Path("x.yaml"), plot_format="png", no_plot=True), "contradict"),
        (TrainRequest(config=Path("x.yaml"), resume=Path("runs/x.partial")), "--resume continues a run"),
        (TrainRequest(), "give a config file"),
    ],
)
def test_train_requests_that_contradict_themselves_are_refused(request_: TrainRequest, fragment: str) -> None:
    with pytest.raises(DnnError, match=fragment):
        requested_config(request_)


def test_runs_flags_that_contradict_each_other_are_refused() -> None:
    assert [output_format(False, False), output_format(True, False), output_format(False, True)] == ["table", "json", "csv"]
    with pytest.raises(DnnError, match="not both"):
        output_format(True, True)
    with pytest.raises(DnnError, match="order given"):
        list_runs(["compare", "a", "b"], sort="name")
    with pytest.raises(DnnError, match="one directory"):
        list_runs(["a", "b"])


def test_runs_show_each_config_as_the_config_reader_reads_it(tmp_path: Path) -> None:
    # dnn runs reads every config.yaml with libyaml (for speed): the settings must be the values
    # a config file means (1e-3 a number, a date, an anchor's copy), the same as a config's reader
    config = (
        "name: a\nmodel:\n  layers: &sizes [2, 3, 1]\n  init_scale: 1e-3\n  seed: 7\n"
        "training:\n  learning_rate: {rate}\n  epsilon: 1.0e-08\n  dtype: float64\n"
        "  note: null\n  shuffle: yes\n  started: 2026-12-06\n  copy: *sizes\n"
    )
    for name, rate in (("a", "1e-3"), ("b", "0.5"), ("c", ".nan")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.yaml").write_text(config.format(rate=rate))
    listing = list_runs([str(tmp_path)])
    expected = flatten(read_yaml_file(tmp_path / "a" / "config.yaml"))
    assert listing.runs[0].settings == expected and len(expected) == 11
    assert expected["training.learning_rate"] == 1e-3 and expected["model.init_scale"] == 1e-3
    assert expected["training.copy"] == [2, 3, 1] and expected["training.shuffle"] is True
    assert str(expected["training.started"]) == "2026-12-06"
    assert [str(run.settings["training.learning_rate"]) for run in listing.runs] == ["0.001", "0.5", "nan"]
    assert json.loads(listing.text("json"))[1]["settings"] == {"training.learning_rate": 0.5}


@pytest.mark.parametrize("values, differ", [
    (["relu", "relu", "relu"], False), ([3, 3, 3], False), ([None, None, None], False), ([[2, 1], [2, 1], [2, 1]], False),
    (["relu", "relu", "tanh"], True), ([1, 1, True], True), ([1, 1, 1.0], True), ([0.0, 0.0, -0.0], True),
    ([None, None, "missing"], True), ([0.5, 0.5, 0.5], False), ([[2, 1], [2, 1], [2, 3]], True),
])
def test_runs_show_a_setting_when_any_run_writes_it_differently(values: list, differ: bool) -> None:
    runs = [RunInfo(Path(str(i)), str(i), "finished", None, {"training.x": value, "name": str(i)}) for i, value in enumerate(values)]
    if values[-1] == "missing":
        del runs[-1].settings["training.x"]
    assert differing_settings(runs) == (["training.x"] if differ else [])
