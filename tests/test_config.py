"""The YAML config: the forms that must work, overrides, and readable refusals."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dnncli.config import apply_overrides, load_config
from dnncli.errors import ConfigError
from tests.conftest import CONFIGS, ROOT, shared_file

ISSUE_EXAMPLE = """\
name: cat_deep
model:
  layers: [12288, 20, 7, 5, 1]
  activations: [relu, relu, relu, sigmoid]
  init: xavier
  seed: 1
data:
  train: datasets/train_catvnoncat.h5
  test: datasets/test_catvnoncat.h5
training:
  learning_rate: 0.0075
  iterations: 2500
"""


def write(tmp_path: Path, text: str, name: str = "c.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_the_documented_example_loads_as_written(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, ISSUE_EXAMPLE))
    assert cfg.name == "cat_deep"
    assert cfg.model.layers == [12288, 20, 7, 5, 1]
    assert cfg.model.activations == ["relu", "relu", "relu", "sigmoid"]
    assert cfg.training.learning_rate == 0.0075 and cfg.training.iterations == 2500
    assert cfg.data.x_key == "train_set_x" and cfg.data.test_y_key == "test_set_y"
    assert cfg.data.scale == "auto"


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_config_is_valid(path: Path) -> None:
    cfg = load_config(path)
    assert cfg.name == path.stem


def test_every_config_the_readme_names_is_shipped() -> None:
    """The README's commands run from a clone: each configs/... file they name is in the repo."""
    named = set(re.findall(r"configs/[\w./-]+\.yaml", (ROOT / "README.md").read_text()))
    assert "configs/sweeps/football.yaml" in named and "configs/cat_deep.yaml" in named
    assert sorted(name for name in named if not (ROOT / name).is_file()) == []


@pytest.mark.parametrize("path", sorted((CONFIGS / "sweeps").glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_sweep_file_is_valid(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dnncli.sweep.spec import load_sweep

    # as a user runs it: from a project directory with configs/ and the data in datasets/
    (tmp_path / "configs").symlink_to(CONFIGS)
    (tmp_path / "datasets").mkdir()
    for name in ("football2d.h5", "housing_train.csv", "housing_test.csv"):
        (tmp_path / "datasets" / name).symlink_to(shared_file(name))
    monkeypatch.chdir(tmp_path)
    sweep = load_sweep(Path("configs/sweeps") / path.name)
    expected = {
        "football.yaml": ("football", "football", "val_accuracy", 16),
        # 7 training-set sizes x 3 networks: the scale picture's grid
        "housing_scale.yaml": ("housing_scale", "housing", "test_rmse", 21),
    }
    assert (sweep.name, sweep.base_config.name, sweep.metric, sweep.trials) == expected[path.name]


def test_friendlier_forms(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, """
data: {train: t.h5}
model: {hidden: [8, 4], hidden_activation: tanh, output_activation: softmax}
training: {learning_rate: 1e-3, record_every: 10}
"""))
    assert cfg.name == "c"  # from the file name
    assert cfg.model.hidden == [8, 4] and cfg.model.layers is None
    assert cfg.training.learning_rate == 0.001  # 1e-3 is a number, not YAML 1.1's string


def test_overrides_set_any_key_with_yaml_values(tmp_path: Path) -> None:
    cfg = load_config(
        write(tmp_path, ISSUE_EXAMPLE),
        ["training.learning_rate=0.01", "data.train=other.h5", "model.layers=[12288, 3, 1]",
         "model.activations=[tanh, sigmoid]", "data.scale=none"],
    )
    assert cfg.training.learning_rate == 0.01
    assert cfg.data.train == "other.h5"
    assert cfg.model.layers == [12288, 3, 1]
    assert cfg.data.scale == "none"


@pytest.mark.parametrize("override,expected", [
    ("training.learnin_rate=0.1", "unknown key 'training.learnin_rate' (did you mean 'learning_rate'?)"),
    ("modle.seed=3", "unknown key 'modle' (did you mean 'model'?)"),
    ("training.learning_rate=-0.1", "training.learning_rate: must be > 0"),
    ("training.learning_rate=fast", "training.learning_rate: expected a number, got 'fast'"),
    ("training.iterations=2.5", "training.iterations: expected an integer, got 2.5"),
    ("training.iterations=0", "training.iterations: must be >= 1"),
    ("model.layers=[12288, 0, 1]", "layers[1] = 0: every layer size must be at least 1"),
    ("model.activations=[softmax, relu, relu, sigmoid]", "softmax is only allowed on the output layer"),
    ("model.layers=[12288, 20, 7, 5, 10]", "a sigmoid output has 1 unit (binary classification), not 10; use softmax for 10 classes"),
    ("model.activations=[relu, relu]", "activations has 2 entries but the network has 4 layers"),
    ("model.init=gaussian", "model.init: expected 'zeros', 'random', 'xavier' or 'he', got 'gaussian'"),
    ("training.learning_rate", "expected KEY=VALUE"),
    ("training.learning_rate.x=1", "training.learning_rate is a value, not a section"),
    ("name=a/b", "it names a directory"),
    ("data.memory_budget_mb=.inf", "data.memory_budget_mb: expected 'auto', got inf"),
    ("data.memory_budget_mb=1e305", "memory_budget_mb = 1e+305: must be a positive number of MB (at most 1e+09) or 'auto'"),
    ("data.memory_budget_mb=0", "memory_budget_mb = 0.0: must be a positive number of MB"),
])
def test_bad_values_are_refused_with_one_readable_line(tmp_path: Path, override: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, ISSUE_EXAMPLE), [override])
    message = str(info.value)
    assert expected in message
    assert "\n" not in message


@pytest.mark.parametrize("text,expected", [
    ("- a\n- b\n", "expected a mapping of keys"),
    ("", "the config is empty"),
    ("model: [1\n", "not valid YAML"),
    ("model: {}\n", "missing required key 'data'"),
])
def test_malformed_files_are_refused(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(path) in str(info.value) and expected in str(info.value)


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "nope.yaml")


def test_overrides_create_sections() -> None:
    raw: dict = {}
    apply_overrides(raw, ["a.b.c=1", "a.d=[1, 2]"])
    assert raw == {"a": {"b": {"c": 1}, "d": [1, 2]}}


def test_resolved_config_round_trips(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, ISSUE_EXAMPLE))
    again = load_config(write(tmp_path, cfg.to_yaml(), "again.yaml"))
    assert again == cfg
