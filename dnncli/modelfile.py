"""Model files (HDF5): parameters, architecture, input handling, classes, config, version; what
kind of model a file holds (:class:`ModelBundle`'s facts), and which model a command uses.

Layout::

    /W1, /b1, ..., /WL, /bL        float arrays
    attrs: format = "dnn-model", format_version, tool_version, layer_sizes, activations,
           leaky_relu_slope, input_shape, input_dtype, input_divisor, input_resize (how image
           files are resized to input_shape; "squash" when absent), classes (JSON),
           config (the resolved YAML), metrics (JSON)

Written atomically; read with h5py arrays only (no pickle).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dnncli import __version__
from dnncli.atomic import write_with
from dnncli.data.images import DEFAULT_RESIZE, RESIZE_MODES
from dnncli.errors import ModelFileError
from dnncli.fileformat import check_format, write_format
from dnncli.network.model import Network

FORMAT = "dnn-model"
FORMAT_VERSION = 1
MODEL_FILENAME = "model.h5"
MODEL_ENV = "DNN_MODEL"
# the symlink, beside the run directories, to the newest finished run
LATEST = "latest"


@dataclass
class ModelBundle:
    """A network plus what it takes to feed it new data and to describe it."""

    network: Network
    input_shape: tuple[int, ...]
    input_dtype: str = "uint8"
    input_divisor: float = 255.0
    classes: list[str] | None = None
    config: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)
    tool_version: str = __version__
    path: Path | None = None
    # how an image file is resized to input_shape: the training file's record (dnn data import)
    input_resize: str = DEFAULT_RESIZE

    # ---- what the model is: Network decides, this adds the class names ------------------------

    @property
    def is_binary(self) -> bool:
        return self.network.is_binary

    @property
    def n_classes(self) -> int | None:
        return self.network.n_classes

    @property
    def class_names(self) -> list[str]:
        """One name per class (the file's, when it has the right number; else "0", "1", ...)."""
        n = self.network.n_classes or 0
        if self.classes and len(self.classes) == n:
            return list(self.classes)
        return [str(k) for k in range(n)]

    def labels(self, AL: np.ndarray, threshold: float = 0.5) -> np.ndarray:
        """Class indices ``(m,)`` from the output layer's activations ``AL``."""
        return self.network.labels(AL, threshold)


def save_model(bundle: ModelBundle, path: str | Path) -> Path:
    import h5py

    path = Path(path)
    net = bundle.network

    def write(tmp: Path) -> None:
        with h5py.File(tmp, "w") as f:
            for name, value in net.params.items():
                f.create_dataset(name, data=value)
            write_format(f.attrs, FORMAT, FORMAT_VERSION, bundle.tool_version)
            f.attrs["layer_sizes"] = np.asarray(net.layer_sizes, dtype=np.int64)
            f.attrs["activations"] = json.dumps(net.activations)
            f.attrs["leaky_relu_slope"] = float(net.leaky_slope)
            f.attrs["input_shape"] = np.asarray(bundle.input_shape, dtype=np.int64)
            f.attrs["input_dtype"] = bundle.input_dtype
            f.attrs["input_divisor"] = float(bundle.input_divisor)
            f.attrs["input_resize"] = bundle.input_resize
            f.attrs["classes"] = json.dumps(bundle.classes)
            f.attrs["config"] = bundle.config
            f.attrs["metrics"] = json.dumps(bundle.metrics)

    write_with(path, write, suffix=".h5")
    return path


def resolve_model_path(path: str | Path) -> Path:
    """A model file, or a run directory holding one."""
    path = Path(path)
    if path.is_dir():
        path = path / MODEL_FILENAME
    return path


_REQUIRED_ATTRS = ("layer_sizes", "activations", "input_shape")


def _check_consistent(
    path: Path, layer_sizes: list[int], input_shape: tuple[int, ...], divisor: float, classes: object
) -> None:
    """Attributes that disagree with the arrays would give wrong predictions silently."""
    if int(np.prod(input_shape, dtype=object)) != layer_sizes[0]:
        raise ModelFileError(
            f"{path}: input_shape {input_shape} does not hold the {layer_sizes[0]} inputs of layer 1"
        )
    if not (np.isfinite(divisor) and divisor > 0):
        raise ModelFileError(f"{path}: input_divisor = {divisor}, expected a positive number")
    if classes is not None and not (isinstance(classes, list) and all(isinstance(c, str) for c in classes)):
        raise ModelFileError(f"{path}: classes must be a list of names, got {classes!r}")


def load_model(path: str | Path) -> ModelBundle:
    import h5py

    path = resolve_model_path(path)
    if not path.exists():
        raise ModelFileError(f"{path}: no such model file")
    if not h5py.is_hdf5(str(path)):
        raise ModelFileError(f"{path}: not a dnn model file (not HDF5)")
    try:
        with h5py.File(path, "r") as f:
            attrs = dict(f.attrs)
            check_format(attrs, path, FORMAT, FORMAT_VERSION, "model file", ModelFileError)
            missing = [key for key in _REQUIRED_ATTRS if key not in attrs]
            if missing:
                raise ModelFileError(f"{path}: the attribute '{missing[0]}' is missing")
            layer_sizes = [int(n) for n in attrs["layer_sizes"]]
            if len(layer_sizes) < 2 or min(layer_sizes) < 1:
                raise ModelFileError(f"{path}: layer_sizes = {layer_sizes} is not a network")
            activations = json.loads(attrs["activations"])
            params = {}
            for l in range(1, len(layer_sizes)):
                for name, shape in ((f"W{l}", (layer_sizes[l], layer_sizes[l - 1])), (f"b{l}", (layer_sizes[l], 1))):
                    if name not in f or not isinstance(f[name], h5py.Dataset):
                        raise ModelFileError(f"{path}: the array '{name}' is missing")
                    node = f[name]  # shape and type checked before reading: never trust a size
                    if node.shape != shape or node.dtype.kind != "f":
                        raise ModelFileError(
                            f"{path}: '{name}' has shape {node.shape} ({node.dtype}), expected {shape} floats"
                        )
                    value = np.asarray(node[()])
                    if not np.all(np.isfinite(value)):
                        raise ModelFileError(f"{path}: '{name}' contains NaN or infinite values")
                    params[name] = value
            network = Network(layer_sizes, activations, params, float(attrs.get("leaky_relu_slope", 0.01)))
            input_shape = tuple(int(d) for d in attrs["input_shape"])
            input_divisor = float(attrs.get("input_divisor", 1.0))
            classes = json.loads(attrs.get("classes", "null"))
            _check_consistent(path, layer_sizes, input_shape, input_divisor, classes)
            input_resize = str(attrs.get("input_resize", DEFAULT_RESIZE))  # older models: squash
            if input_resize not in RESIZE_MODES:
                raise ModelFileError(
                    f"{path}: input_resize = {input_resize!r}, expected one of {', '.join(RESIZE_MODES)}"
                )
            return ModelBundle(
                network=network,
                input_shape=input_shape,
                input_dtype=str(attrs.get("input_dtype", "uint8")),
                input_divisor=input_divisor,
                input_resize=input_resize,
                classes=classes,
                config=str(attrs.get("config", "")),
                metrics=json.loads(attrs.get("metrics", "{}")),
                tool_version=str(attrs.get("tool_version", "?")),
                path=path,
            )
    except ModelFileError:
        raise
    except (KeyError, ValueError, TypeError, OSError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"{path}: corrupt dnn model file ({str(exc).splitlines()[0]})") from None


# ---- which model a command uses ----------------------------------------------------------------


def choose_model(model: str | Path | None = None, runs_dir: str | Path = "runs") -> Path:
    """The model a command uses: the one given, else ``$DNN_MODEL``, else ``runs/latest``."""
    if model is not None and str(model) != "":
        return Path(model)
    if os.environ.get(MODEL_ENV):
        return Path(os.environ[MODEL_ENV])
    link = Path(runs_dir) / LATEST
    if not link.exists():
        raise ModelFileError(
            f"no model given and {link} does not exist: train one with "
            f"`dnn train CONFIG`, or pass --model PATH (or set {MODEL_ENV})"
        )
    return link.resolve()


def load_chosen_model(model: str | Path | None = None) -> ModelBundle:
    return load_model(choose_model(model))
