"""Model files (HDF5): parameters, architecture, input handling, classes, config, version; what
kind of model a file holds (:class:`ModelBundle`'s facts), and which model a command uses.

Layout::

    /W1, /b1, ..., /WL, /bL        float arrays
    attrs: format = "dnn-model", format_version, tool_version, layer_sizes, activations,
           leaky_relu_slope, input_shape, input_dtype, input_divisor, input_resize (how image
           files are resized to input_shape; "squash" when absent), classes (JSON),
           config (the resolved YAML), metrics (JSON), data (JSON: where the training,
           validation and test examples came from; absent in files of older versions),
           encoder (JSON: a table model's column encoding, dnncli.data.encoding; absent otherwise)

Written atomically; read with h5py arrays only (no pickle).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dnncli import __version__
from dnncli.compute.resources import describe_bytes, fits_in_memory, parameter_count
from dnncli.data.encoding import TableEncoder
from dnncli.data.images import DEFAULT_RESIZE, RESIZE_MODES
from dnncli.errors import ModelFileError
from dnncli.files.atomic import write_with
from dnncli.files.fileformat import check_format, write_format
from dnncli.files.hdf5safe import checked_dataset, json_attr, open_hdf5, read_attr
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
    # {"train": {"file", "bytes", "sha256", "x_key", "y_key", "range", "examples", ...},
    #  "test": {...}, "validation": {...} or {"held_out_from", "fraction", "seed", ...}}
    data_sources: dict[str, Any] | None = None
    tool_version: str = __version__
    path: Path | None = None
    # how an image file is resized to input_shape: the training file's record (dnn data import)
    input_resize: str = DEFAULT_RESIZE
    # a table model's encoder: how a table's columns become its inputs (None: not a table model)
    encoder: TableEncoder | None = None

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
            if bundle.data_sources is not None:
                f.attrs["data"] = json.dumps(bundle.data_sources)
            if bundle.encoder is not None:
                f.attrs["encoder"] = json.dumps(bundle.encoder.to_dict())
            f.attrs[CHECKSUM_ATTR] = parameters_checksum(net.params)

    write_with(path, write, suffix=".h5")
    return path


CHECKSUM_ATTR = "parameters_sha256"


def parameters_checksum(params: dict[str, np.ndarray]) -> str:
    """SHA-256 over every parameter (name, type, shape, bytes), in name order."""
    digest = hashlib.sha256()
    for name in sorted(params):
        value = np.ascontiguousarray(params[name])
        digest.update(f"{name} {value.dtype.str} {value.shape}\n".encode())
        digest.update(memoryview(value).cast("B") if value.size else b"")
    return digest.hexdigest()


def _check_checksum(f: Any, path: Path, params: dict[str, np.ndarray]) -> None:
    """A parameter changed after saving (a flipped bit, an edit) would predict silently: refused.
    Models saved before the checksum existed have none and load as before."""
    recorded = read_attr(f, CHECKSUM_ATTR, path, ModelFileError)
    if recorded is not None and recorded != parameters_checksum(params):
        raise ModelFileError(
            f"{path}: its parameters do not match the checksum saved with them (changed or damaged since it was written)"
        )


def resolve_model_path(path: str | Path) -> Path:
    """A model file, or a run directory holding one."""
    path = Path(path)
    if path.is_dir():
        path = path / MODEL_FILENAME
    return path


_REQUIRED_ATTRS = ("layer_sizes", "activations", "input_shape")
# what an image or HDF5 example can be stored as (numpy's names)
INPUT_DTYPES = (
    "uint8", "uint16", "uint32", "uint64", "int8", "int16", "int32", "int64",
    "float16", "float32", "float64", "bool",
)
# A parameter beyond the square root of its type's largest number overflows the first product it
# takes part in (1.3e154 in float64, 1.8e19 in float32): not a network that predicts anything. (The
# last good parameters kept from a diverged run can be large, 1e34 say, but stay far below.)
def max_parameter(dtype: np.dtype) -> float:
    return float(np.sqrt(np.finfo(dtype).max))

# input_divisor: 255 for uint8 pixels, 65535, 1, or a data.scale; a number this small or large
# only turns every input into an overflow
DIVISOR_RANGE = (1e-30, 1e30)
MAX_LAYERS = 1000


def _check_consistent(
    path: Path, layer_sizes: list[int], input_shape: tuple[int, ...], divisor: float, classes: object
) -> None:
    """Attributes that disagree with the arrays would give wrong predictions silently."""
    if int(np.prod(input_shape, dtype=object)) != layer_sizes[0]:
        raise ModelFileError(
            f"{path}: input_shape {input_shape} does not hold the {layer_sizes[0]} inputs of layer 1"
        )
    if not (np.isfinite(divisor) and DIVISOR_RANGE[0] <= divisor <= DIVISOR_RANGE[1]):
        raise ModelFileError(
            f"{path}: input_divisor = {divisor}, expected a positive number between "
            f"{DIVISOR_RANGE[0]:g} and {DIVISOR_RANGE[1]:g}"
        )
    if classes is not None and not (isinstance(classes, list) and all(isinstance(c, str) for c in classes)):
        raise ModelFileError(f"{path}: classes must be a list of names, got {_short(classes)}")


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _int_list(value: object, path: Path, key: str, max_len: int) -> list[int]:
    array = np.asarray(value)
    if array.ndim != 1 or array.dtype.kind not in "iu" or array.size > max_len:
        raise ModelFileError(f"{path}: the attribute '{key}' is not a list of integers")
    return [int(n) for n in array]


def _number(value: object, path: Path, key: str) -> float:
    if isinstance(value, np.ndarray) and value.size == 1:
        value = value.reshape(()).item()
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ModelFileError(f"{path}: the attribute '{key}' is {_short(value)}, expected a number")
    return float(value)


def load_model(path: str | Path) -> ModelBundle:
    """A model file, every attribute and array checked before use: one line naming the file
    and the key when anything is missing, corrupt, out of range or larger than it should be."""
    path = resolve_model_path(path)
    try:
        with open_hdf5(path, ModelFileError, what="model file", corrupt="corrupt dnn model file") as f:
            header = {key: read_attr(f, key, path, ModelFileError) for key in ("format", "format_version", "tool_version")}
            check_format(header, path, FORMAT, FORMAT_VERSION, "model file", ModelFileError)
            missing = [key for key in _REQUIRED_ATTRS if key not in f.attrs]
            if missing:
                raise ModelFileError(f"{path}: the attribute '{missing[0]}' is missing")
            network = _read_network(f, path)
            input_shape, input_dtype, input_divisor, classes = _read_inputs(f, path)
            _check_consistent(path, network.layer_sizes, input_shape, input_divisor, classes)
            input_resize = read_attr(f, "input_resize", path, ModelFileError, DEFAULT_RESIZE)  # older models: squash
            if input_resize not in RESIZE_MODES:
                raise ModelFileError(
                    f"{path}: input_resize = {_short(input_resize)}, expected one of {', '.join(RESIZE_MODES)}"
                )
            config = read_attr(f, "config", path, ModelFileError, "")
            tool_version = read_attr(f, "tool_version", path, ModelFileError, "?")
            # where its examples came from (absent in models of older versions)
            data_sources = json_attr(f, "data", path, ModelFileError, "null", (dict, type(None)))
            encoder = _read_encoder(f, path, network)
            _check_checksum(f, path, network.params)  # last: a specific complaint comes first
            return ModelBundle(
                network=network,
                input_shape=input_shape,
                input_dtype=input_dtype,
                input_divisor=input_divisor,
                input_resize=input_resize,
                classes=classes,
                config=config if isinstance(config, str) else "",
                metrics=json_attr(f, "metrics", path, ModelFileError, "{}", dict),
                data_sources=data_sources,
                tool_version=str(tool_version)[:100],
                path=path,
                encoder=encoder,
            )
    except ModelFileError:
        raise
    except (KeyError, ValueError, TypeError, OSError, RuntimeError) as exc:
        raise ModelFileError(f"{path}: corrupt dnn model file ({str(exc).splitlines()[0]})") from None


def _read_encoder(f: Any, path: Path, network: Network) -> TableEncoder | None:
    """A table model's encoder, checked field by field and against the network's sizes."""
    stored = json_attr(f, "encoder", path, ModelFileError, "null", (dict, type(None)))
    if stored is None:
        return None
    encoder = TableEncoder.from_dict(stored, f"{path}: encoder", ModelFileError)
    if encoder.n_x != network.layer_sizes[0]:
        raise ModelFileError(f"{path}: the encoder gives {encoder.n_x} inputs, but layer 1 takes {network.layer_sizes[0]}")
    target = encoder.target
    if target is not None and (target.task == "regression") != network.is_regression:
        raise ModelFileError(f"{path}: the encoder's target is a {target.task}, but the network's output is {network.output_activation}")
    if encoder.classes is not None and network.n_classes != len(encoder.classes):
        raise ModelFileError(f"{path}: the encoder has {len(encoder.classes)} classes, but the network {network.n_classes}")
    return encoder


def _read_network(f: Any, path: Path) -> Network:  # f: an open h5py.File
    """The layers, their activations and parameters, and the leaky ReLU slope, as a Network."""
    layer_sizes = _int_list(read_attr(f, "layer_sizes", path, ModelFileError), path, "layer_sizes", MAX_LAYERS)
    if len(layer_sizes) < 2 or min(layer_sizes) < 1:
        raise ModelFileError(f"{path}: layer_sizes = {layer_sizes} is not a network")
    n_bytes = parameter_count(layer_sizes) * 8
    if not fits_in_memory(n_bytes):
        raise ModelFileError(
            f"{path}: layer_sizes = {_short(layer_sizes)} declares {describe_bytes(n_bytes)} of "
            "parameters, more than this machine's memory"
        )
    activations = json_attr(f, "activations", path, ModelFileError, "null", list)
    if not all(isinstance(a, str) for a in activations):
        raise ModelFileError(f"{path}: activations must be a list of names, got {_short(activations)}")
    params = {}
    for l in range(1, len(layer_sizes)):
        for name, shape in ((f"W{l}", (layer_sizes[l], layer_sizes[l - 1])), (f"b{l}", (layer_sizes[l], 1))):
            params[name] = _read_parameter(f, path, name, shape)
    if len({v.dtype for v in params.values()}) > 1:
        raise ModelFileError(f"{path}: its arrays mix float32 and float64")
    slope = _number(read_attr(f, "leaky_relu_slope", path, ModelFileError, 0.01), path, "leaky_relu_slope")
    if not (np.isfinite(slope) and 0 <= slope < 1):
        raise ModelFileError(f"{path}: leaky_relu_slope = {slope}, expected a number in [0, 1)")
    try:
        return Network(layer_sizes, activations, params, slope)
    except ValueError as exc:
        raise ModelFileError(f"{path}: {exc}") from None


def _read_parameter(f: Any, path: Path, name: str, shape: tuple[int, int]) -> np.ndarray:
    """One parameter array, its shape, type and storage checked before reading (never trust a
    size), its values finite and small enough to use."""
    import h5py

    if not isinstance(f.get(name), h5py.Dataset):
        raise ModelFileError(f"{path}: the array '{name}' is missing")
    node = f[name]
    if node.shape != shape or node.dtype.kind != "f" or node.dtype.itemsize not in (4, 8):
        raise ModelFileError(
            f"{path}: '{name}' has shape {node.shape} ({node.dtype}), expected {shape} "
            "float32 or float64"
        )
    node = checked_dataset(f, name, path, ModelFileError, max_bytes=int(np.prod(shape)) * 8)
    value = np.asarray(node[()])
    if not np.all(np.isfinite(value)):
        raise ModelFileError(f"{path}: '{name}' contains NaN or infinite values")
    if value.size and np.max(np.abs(value)) > max_parameter(value.dtype):
        raise ModelFileError(
            f"{path}: '{name}' holds {np.max(np.abs(value)):.3g}; a {value.dtype} parameter "
            f"beyond {max_parameter(value.dtype):.3g} overflows any product it is in"
        )
    return value


def _read_inputs(f: Any, path: Path) -> tuple[tuple[int, ...], str, float, Any]:
    """What the model takes: the shape, type and divisor of an example, and the class names
    (checked against the network by :func:`_check_consistent`)."""
    input_shape = tuple(_int_list(read_attr(f, "input_shape", path, ModelFileError), path, "input_shape", 32))
    if not input_shape or min(input_shape) < 1:
        raise ModelFileError(f"{path}: input_shape = {input_shape} is not the shape of an example")
    input_dtype = read_attr(f, "input_dtype", path, ModelFileError, "uint8")
    if input_dtype not in INPUT_DTYPES:
        raise ModelFileError(
            f"{path}: input_dtype = {_short(input_dtype)}, expected one of {', '.join(INPUT_DTYPES)}"
        )
    input_divisor = _number(read_attr(f, "input_divisor", path, ModelFileError, 1.0), path, "input_divisor")
    classes = json_attr(f, "classes", path, ModelFileError, "null", (list, type(None)))
    return input_shape, input_dtype, input_divisor, classes


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


def scaling_text(bundle: ModelBundle) -> str:
    """How the model scales its inputs, in words (``dnn info``, an export's metadata)."""
    if bundle.input_divisor == 1:
        return f"{bundle.input_dtype} values used as they are"
    return f"{bundle.input_dtype} values divided by {bundle.input_divisor:g}"


def default_choice(model: str | Path | None) -> str | None:
    """How dnn chose the model when the command line did not name it: ``runs/latest`` or
    ``$DNN_MODEL`` (which Typer passes on as if given); None for a model named with ``-m``."""
    from_env = os.environ.get(MODEL_ENV)
    if model is None or str(model) == "":
        return f"${MODEL_ENV}" if from_env else f"runs/{LATEST}"
    return f"${MODEL_ENV}" if from_env and str(model) == from_env else None


def model_line(bundle: ModelBundle, chosen_by: str) -> str:
    """One line for stderr naming the model a command read: its run directory (or file), how it
    was chosen, and the warnings its training ended with (a run that failed ``--strict`` is still
    the newest run, and ``runs/latest`` points at it)."""
    path = bundle.path or Path("?")
    source = path.parent if path.name == MODEL_FILENAME else path
    try:
        source = source.resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        pass  # outside the current directory: shown in full
    notes = [chosen_by]
    found = bundle.metrics.get("warnings") if isinstance(bundle.metrics.get("warnings"), list) else []
    if found:
        checks = ", ".join(str(w.get("check", "?")) for w in found if isinstance(w, dict))
        notes.append(f"its training ended with {len(found)} warning(s): {checks}")
    return f"model: {source} ({'; '.join(notes)})"
