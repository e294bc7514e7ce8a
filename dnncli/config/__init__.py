"""The YAML config: its schema (:mod:`~dnncli.config.schema`), read safely
(:mod:`~dnncli.config.safe_yaml`), overridden from the command line
(:mod:`~dnncli.config.overrides`), its errors as readable lines (:mod:`~dnncli.config.messages`).

A config names the network, the data and the training settings::

    name: cat_deep
    model: {layers: [12288, 20, 7, 5, 1], activations: [relu, relu, relu, sigmoid],
            init: xavier, seed: 1}
    data: {train: datasets/train_catvnoncat.h5, test: datasets/test_catvnoncat.h5}
    training: {learning_rate: 0.0075, iterations: 2500}

Sizes and activations that depend on the data (the input size, the number of classes) may be left
out; :mod:`dnncli.run.prepare` fills them in once the data is loaded.
"""

from __future__ import annotations

from pathlib import Path

from dnncli.config.messages import describe_error, validate_config
from dnncli.config.overrides import apply_overrides
from dnncli.config.safe_yaml import parse_yaml, read_config_file, read_yaml_file
from dnncli.config.schema import Config, DataConfig, ModelConfig, OutputConfig, TrainingConfig

__all__ = [
    "Config", "DataConfig", "ModelConfig", "OutputConfig", "TrainingConfig", "apply_overrides",
    "describe_error", "load_config", "parse_yaml", "read_config_file", "read_yaml_file", "validate_config",
]


def load_config(
    path: str | Path, overrides: list[str] | None = None, name: str | None = None
) -> Config:
    """Read, override and validate a YAML config; the run name defaults to the file's stem."""
    raw = read_config_file(path)
    raw.setdefault("name", name or Path(path).stem)
    overridden = apply_overrides(raw, overrides or [])
    return validate_config(raw, str(path), overridden)
