"""Small model files for the predict / evaluate / info tests, written in milliseconds, and
``fit``: the training engine called with keywords.

The weights are random (He init, biases spread out) rather than trained: every test here is about
how inputs reach the network and how its outputs are reported, which any weights show, and random
weights give different outputs for different pictures.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from dnncli.model.file import ModelBundle, save_model
from dnncli.network.model import Network
from dnncli.training.loop import train
from dnncli.training.settings import Examples, Hooks, TrainData, TrainSettings
from dnncli.training.state import TrainResult, TrainState


def make_model(
    path: Path,
    input_shape: tuple[int, ...] = (8, 8, 3),
    n_classes: int = 2,
    input_dtype: str = "uint8",
    divisor: float = 255.0,
    classes: list[str] | None = None,
    output: str | None = None,
    seed: int = 3,
) -> Path:
    n_x = int(np.prod(input_shape))
    output = output or ("sigmoid" if n_classes == 2 else "softmax")
    n_out = 1 if output == "sigmoid" else n_classes
    network = Network.create([n_x, 6, n_out], ["relu", output], init="he", seed=seed)
    rng = np.random.default_rng(seed)
    network.params["b1"][...] = rng.standard_normal((6, 1))
    network.params["W2"] *= 3  # confident outputs, so a class is rarely a coin toss
    config = "data:\n  x_key: train_set_x\n  y_key: train_set_y\n  test_x_key: test_set_x\n  test_y_key: test_set_y\n"
    bundle = ModelBundle(
        network=network, input_shape=input_shape, input_dtype=input_dtype, input_divisor=divisor,
        classes=classes if classes is not None else (None if output == "linear" else [f"c{k}" for k in range(n_classes)]),
        config=config, metrics={"test_accuracy": 0.5},
    )
    return save_model(bundle, path)


def save_pngs(images: np.ndarray, directory: Path, names: list[str] | None = None) -> list[Path]:
    """Each ``(h, w[, c])`` uint8 array as ``directory/<name>.png``."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, image in enumerate(images):
        path = directory / f"{names[i] if names else f'{i:03d}'}.png"
        Image.fromarray(image).save(path)
        paths.append(path)
    return paths


def fit(
    network: Network,
    X: np.ndarray,
    Y: np.ndarray,
    *,
    X_test: np.ndarray | None = None,
    Y_test: np.ndarray | None = None,
    X_val: np.ndarray | None = None,
    Y_val: np.ndarray | None = None,
    rng: np.random.Generator | None = None,
    state: TrainState | None = None,
    hooks: Hooks | None = None,
    **settings: object,
) -> TrainResult:
    """:func:`dnncli.training.loop.train` with its data and settings given as keywords."""
    data = TrainData(
        X, Y,
        test=Examples(X_test, Y_test) if Y_test is not None else None,
        validation=Examples(X_val, Y_val) if Y_val is not None else None,
    )
    return train(network, data, TrainSettings(**settings), rng=rng, state=state, hooks=hooks)
