"""A trained model as an ONNX graph that runs without dnn (``dnn export``), and what an exported
file records (``dnn info model.onnx``).

The graph takes the examples as stored, ``(N, *input_shape)`` in the model's input dtype (``uint8``
pixels ``(N, h, w, c)`` for the course's files), and does what ``dnn predict`` does: cast to the
network's dtype, divide by the input divisor, flatten each example in C order of its shape (the
course's ``x.reshape(m, -1)``), then each layer ``W x + b`` and its activation. The layout is the
transpose of the course's (examples in rows, as ONNX runtimes expect): ``Gemm(X, W, b, transB=1)``
is ``(W X^T + b)^T``. Outputs: ``probabilities`` ``(N, classes)`` (both classes for a binary model,
``1 - p`` and ``p``) and ``label`` (int64, binary ``p > 0.5`` as ``dnn predict``), or a regression
model's ``outputs``; everything in the network's own dtype (float64 or float32).

``onnx`` is imported only inside these functions: it is an extra (``dnncli[onnx]``) and no other
command should pay for it.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from dnncli import __version__
from dnncli.errors import DnnError
from dnncli.files.atomic import write_with
from dnncli.files.userfile import read_regular
from dnncli.model.file import ModelBundle, scaling_text
from dnncli.model.table_graph import ML_DOMAIN, ML_OPSET, decode_nodes, name_inputs, table_input_nodes, table_metadata
from dnncli.terminal.display import shown

# ONNX Runtime 1.13 and later (2022), onnxruntime-web and the mobile builds all run opset 17;
# IR version 8 is the one that goes with it (onnx's VERSION_TABLE)
OPSET = 17
IR_VERSION = 8
INPUT_NAME = "input"
BINARY_THRESHOLD = 0.5
# one protobuf message holds at most 2 GiB: larger parameters would need ONNX's external data
MAX_ONNX_BYTES = 2**31 - 1
INSTALL_HINT = "pip install 'dnncli[onnx]' (from a clone of dnn: pip install -e '.[onnx]')"
# metadata values are shown by `dnn info`: a file claiming more than this is not one dnn wrote
MAX_METADATA_BYTES = 16 * 1024**2


class ExportError(DnnError):
    """An ONNX export cannot be written, or an ONNX file cannot be read (exit 2)."""


def _onnx():  # -> the onnx module
    try:
        import onnx
    except ImportError:
        raise ExportError(f"ONNX export needs the onnx package, which is not installed: {INSTALL_HINT}") from None
    return onnx


# ---- the graph -------------------------------------------------------------------------------


def model_kind(bundle: ModelBundle) -> str:
    net = bundle.network
    return "regression" if net.is_regression else ("binary" if net.is_binary else "multiclass")


def _input_nodes(bundle: ModelBundle, onnx) -> tuple[list, list, str]:
    """Raw examples to rows ``(N, n_x)`` in the network's dtype: cast, divide, flatten."""
    helper, numpy_helper = onnx.helper, onnx.numpy_helper
    dtype = bundle.network.dtype
    nodes, initializers, current = [], [], INPUT_NAME
    if np.dtype(bundle.input_dtype) != dtype:
        nodes.append(helper.make_node(
            "Cast", [current], ["cast"], to=helper.np_dtype_to_tensor_dtype(dtype), name="cast"
        ))
        current = "cast"
    if bundle.input_divisor != 1:  # as dnncli.data.hdf5.divide: the divisor in the network's dtype
        initializers.append(numpy_helper.from_array(np.asarray(bundle.input_divisor, dtype=dtype), "input_divisor"))
        nodes.append(helper.make_node("Div", [current, "input_divisor"], ["scaled"], name="scale"))
        current = "scaled"
    nodes.append(helper.make_node("Flatten", [current], ["A0"], axis=1, name="flatten"))
    return nodes, initializers, "A0"


def _activation_node(onnx, name: str, Z: str, A: str, l: int, slope: float):
    helper = onnx.helper
    if name == "leaky_relu":
        return helper.make_node("LeakyRelu", [Z], [A], alpha=float(slope), name=f"layer{l}_leaky_relu")
    if name == "softmax":  # over the classes of each example: axis 1 of (N, classes)
        return helper.make_node("Softmax", [Z], [A], axis=1, name=f"layer{l}_softmax")
    if name == "linear":
        return helper.make_node("Identity", [Z], [A], name=f"layer{l}_linear")
    op = {"relu": "Relu", "tanh": "Tanh", "sigmoid": "Sigmoid"}[name]
    return helper.make_node(op, [Z], [A], name=f"layer{l}_{name}")


def _layer_nodes(bundle: ModelBundle, onnx, A: str) -> tuple[list, list, str]:
    """Each layer ``Z[l] = A[l-1] W[l]^T + b[l]`` and ``A[l] = g(Z[l])``, in rows."""
    helper, numpy_helper = onnx.helper, onnx.numpy_helper
    net = bundle.network
    nodes, initializers = [], []
    for l in range(1, net.L + 1):
        W, b = net.params[f"W{l}"], net.params[f"b{l}"]
        initializers += [numpy_helper.from_array(np.ascontiguousarray(W), f"W{l}"),
                         numpy_helper.from_array(np.ascontiguousarray(b.reshape(-1)), f"b{l}")]
        nodes.append(helper.make_node("Gemm", [A, f"W{l}", f"b{l}"], [f"Z{l}"], transB=1, name=f"layer{l}_affine"))
        nodes.append(_activation_node(onnx, net.activations[l - 1], f"Z{l}", f"A{l}", l, net.leaky_slope))
        A = f"A{l}"
    return nodes, initializers, A


def _output_nodes(bundle: ModelBundle, onnx, AL: str) -> tuple[list, list, list]:
    """``probabilities`` and ``label`` of a classifier, or a regression's ``outputs``."""
    helper, numpy_helper = onnx.helper, onnx.numpy_helper
    net = bundle.network
    elem = helper.np_dtype_to_tensor_dtype(net.dtype)
    if net.is_regression:
        nodes, initializers = [helper.make_node("Identity", [AL], ["outputs"], name="outputs")], []
        if bundle.encoder is not None:  # a table's target: back in its own units
            nodes, initializers = decode_nodes(bundle.encoder, net.dtype, onnx, AL)
        return nodes, initializers, [helper.make_tensor_value_info("outputs", elem, ["N", net.layer_sizes[-1]])]
    initializers = []
    if net.is_binary:  # both classes, as dnn predict reports them; p > threshold is class 1
        initializers = [
            numpy_helper.from_array(np.asarray(1, dtype=net.dtype), "one"),
            numpy_helper.from_array(np.asarray(BINARY_THRESHOLD, dtype=net.dtype), "threshold"),
            numpy_helper.from_array(np.asarray([1], dtype=np.int64), "class_axis"),
        ]
        nodes = [
            helper.make_node("Sub", ["one", AL], ["p0"], name="class0"),
            helper.make_node("Concat", ["p0", AL], ["probabilities"], axis=1, name="probabilities"),
            helper.make_node("Greater", [AL, "threshold"], ["above"], name="threshold"),
            helper.make_node("Cast", ["above"], ["label_column"], to=onnx.TensorProto.INT64, name="label_int"),
            helper.make_node("Squeeze", ["label_column", "class_axis"], ["label"], name="label"),
        ]
    else:  # the first of equal maxima, as numpy's argmax
        nodes = [
            helper.make_node("Identity", [AL], ["probabilities"], name="probabilities"),
            helper.make_node("ArgMax", [AL], ["label"], axis=1, keepdims=0, select_last_index=0, name="label"),
        ]
    outputs = [
        helper.make_tensor_value_info("probabilities", elem, ["N", net.n_classes]),
        helper.make_tensor_value_info("label", onnx.TensorProto.INT64, ["N"]),
    ]
    return nodes, initializers, outputs


def _graph(bundle: ModelBundle, onnx):  # -> onnx.GraphProto
    """The nodes from the raw input(s) to the outputs: an image model's one input, or a table
    model's one per column."""
    helper = onnx.helper
    net = bundle.network
    if bundle.encoder is None:
        input_nodes, input_init, A0 = _input_nodes(bundle, onnx)
    else:
        input_nodes, input_init, A0 = table_input_nodes(bundle.encoder, net.dtype, onnx)
    layer_nodes, layer_init, AL = _layer_nodes(bundle, onnx, A0)
    output_nodes, output_init, outputs = _output_nodes(bundle, onnx, AL)
    nodes, initializers = input_nodes + layer_nodes + output_nodes, input_init + layer_init + output_init
    if bundle.encoder is None:
        inputs = [helper.make_tensor_value_info(
            INPUT_NAME, helper.np_dtype_to_tensor_dtype(np.dtype(bundle.input_dtype)), ["N", *bundle.input_shape]
        )]
        about = f"{bundle.input_dtype} examples (N, *{tuple(bundle.input_shape)}) as stored"
    else:
        inputs = name_inputs(bundle.encoder, nodes, initializers, onnx)
        about = f"a table's {len(inputs)} columns, one input (N, 1) each"
    return helper.make_graph(nodes, "dnn", inputs, outputs, initializer=initializers,
                             doc_string=f"dnn {model_kind(bundle)} model: {about}")


def onnx_model(bundle: ModelBundle):  # -> onnx.ModelProto
    """The model as an ONNX ``ModelProto``, checked by ``onnx.checker`` (nothing written)."""
    onnx = _onnx()
    helper = onnx.helper
    graph = _graph(bundle, onnx)
    opsets = [helper.make_opsetid("", OPSET)] + ([helper.make_opsetid(ML_DOMAIN, ML_OPSET)] if bundle.encoder is not None else [])
    model = helper.make_model(graph, opset_imports=opsets, producer_name="dnn", producer_version=__version__)
    model.ir_version = IR_VERSION
    helper.set_model_props(model, metadata(bundle, [i.name for i in graph.input]))
    if model.ByteSize() > MAX_ONNX_BYTES:
        raise ExportError(
            f"{bundle.path or 'the model'}: its {bundle.network.n_params:,} parameters make an ONNX file over 2 GiB, "
            "the most one file holds"
        )
    try:
        onnx.checker.check_model(model, full_check=True)
    except onnx.checker.ValidationError as exc:  # a graph this module built wrong: never written
        raise ExportError(f"{bundle.path or 'the model'}: the ONNX graph fails onnx.checker: {_first_line(exc)}", 3) from None
    return model


# ---- metadata --------------------------------------------------------------------------------


def _sha256(path: Path | None) -> str | None:
    if path is None:
        return None
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    except OSError:  # moved or removed since it was loaded: the export goes on without it
        return None
    return digest.hexdigest()


def _image_input(bundle: ModelBundle) -> dict[str, str]:
    return {
        "input_name": INPUT_NAME,
        "input_shape": json.dumps(list(bundle.input_shape)),
        "input_dtype": bundle.input_dtype,
        "input_layout": (
            f"(N, {', '.join(map(str, bundle.input_shape))}): N examples as the training file stores them; "
            "each flattened in C order (row-major) after scaling"
        ),
        "input_divisor": repr(float(bundle.input_divisor)),
        "input_scaling": scaling_text(bundle),
        "input_resize": bundle.input_resize,
    }


def _dropped_columns(config: str) -> list[str] | None:
    """The training config's ``data.drop`` (None when the config does not say)."""
    try:
        data = (yaml.safe_load(config) or {}).get("data") if config else None
    except yaml.YAMLError:
        return None
    drop = data.get("drop") if isinstance(data, dict) else None
    return [str(name) for name in drop] if isinstance(drop, list) else None


def metadata(bundle: ModelBundle, input_names: list[str] | None = None) -> dict[str, str]:
    """``metadata_props``: what a user of the file needs to feed it and to trust it;
    ``input_names``: a table model's inputs, one per column."""
    net = bundle.network
    sources = bundle.data_sources or {}
    train = sources.get("train") if isinstance(sources.get("train"), dict) else {}
    if bundle.encoder is None:
        inputs = _image_input(bundle)
    else:
        inputs = table_metadata(bundle.encoder, input_names or list(bundle.encoder.features), _dropped_columns(bundle.config))
    props = {
        "dnn_version": __version__,
        "trained_with_dnn_version": bundle.tool_version,
        "opset": str(OPSET),
        "kind": model_kind(bundle),
        "classes": json.dumps(None if net.is_regression else bundle.class_names),
        **inputs,
        "dtype": str(net.dtype),
        "outputs": json.dumps(_output_names(bundle)),
        "layer_sizes": json.dumps(net.layer_sizes),
        "activations": json.dumps(net.activations),
        "training_data_sha256": str(train.get("sha256") or ""),
        "data": json.dumps(bundle.data_sources),
        "model_sha256": _sha256(bundle.path) or "",
        "metrics": json.dumps(bundle.metrics),
        "config": bundle.config,
    }
    if net.is_binary:
        props["threshold"] = repr(BINARY_THRESHOLD)  # class 1 when its probability is above
    return props


def _output_names(bundle: ModelBundle) -> list[str]:
    return ["outputs"] if bundle.network.is_regression else ["probabilities", "label"]


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# ---- writing ---------------------------------------------------------------------------------


def check_output(path: Path, force: bool, model_path: Path | None = None) -> None:
    """Refuse an output that would replace what it should not: a file without ``force``, and
    anything but a regular file (a directory, a device, a FIFO, a symlink) or the model itself."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise ExportError(f"{path}: cannot use as the output: {exc.strerror or exc}") from None
    if not stat.S_ISREG(info.st_mode):
        kind = "a directory" if stat.S_ISDIR(info.st_mode) else ("a symlink" if stat.S_ISLNK(info.st_mode) else "not a regular file")
        raise ExportError(f"{path}: exists and is {kind}; the ONNX file is written only in place of a regular file")
    if model_path is not None and Path(model_path).exists() and os.path.samefile(path, model_path):
        raise ExportError(f"{path}: is the model file being exported; choose another output (-o)")
    if not force:
        raise ExportError(f"{path}: exists; pass --force to replace it")


def export_onnx(bundle: ModelBundle, path: str | Path, force: bool = False) -> Path:
    """Write ``bundle`` as an ONNX file at ``path`` (atomically); the path written."""
    path = Path(path)
    check_output(path, force, bundle.path)
    data = onnx_model(bundle).SerializeToString()
    check_output(path, force, bundle.path)  # again: building a large graph takes a while
    write_with(path, lambda tmp: tmp.write_bytes(data), suffix=".onnx")
    return path


# ---- reading back ----------------------------------------------------------------------------


def read_onnx(path: str | Path):  # -> onnx.ModelProto
    """An ONNX file parsed and checked, or one line: not a regular file, too large, not ONNX."""
    onnx = _onnx()
    path = Path(path)
    data = read_regular(path, MAX_ONNX_BYTES, "an ONNX model", ExportError)  # regular files only, bounded
    try:
        model = onnx.ModelProto.FromString(data)
    except Exception as exc:  # the protobuf parser on arbitrary bytes may raise anything
        raise ExportError(f"{path}: not an ONNX model ({_first_line(exc)})") from None
    if model.ir_version < 1 or not model.HasField("graph") or not model.opset_import:
        raise ExportError(f"{path}: not an ONNX model (no IR version, graph or opset)")
    try:
        # full_check=False: the structure only; nothing outside the file (external data) is read
        onnx.checker.check_model(model)
    except Exception as exc:
        raise ExportError(f"{path}: not a valid ONNX model: {_first_line(exc)}") from None
    return model


def _metadata_value(key: str, value: str) -> Any:
    """A metadata value as dnn wrote it: JSON for the keys it wrote as JSON, else the text."""
    if key in ("classes", "input_shape", "outputs", "layer_sizes", "activations", "data", "metrics", "inputs",
               "features", "dropped_columns", "target"):
        try:
            return json.loads(value)
        except (ValueError, RecursionError):
            return value
    return value


def _tensor_info(onnx, value_info) -> dict[str, Any]:
    tensor = value_info.type.tensor_type
    dims = [d.dim_param or d.dim_value for d in tensor.shape.dim]
    try:  # text is numpy's object; "string" says what to feed
        dtype = "string" if tensor.elem_type == onnx.TensorProto.STRING else str(onnx.helper.tensor_dtype_to_np_dtype(tensor.elem_type))
    except (KeyError, ValueError, TypeError):
        dtype = f"onnx type {tensor.elem_type}"
    return {"name": value_info.name, "dtype": dtype, "shape": dims}


def describe_onnx(path: str | Path) -> dict[str, Any]:
    """What ``dnn info model.onnx`` shows: opset, inputs, outputs and the metadata (parsed)."""
    onnx = _onnx()
    model = read_onnx(path)
    props = list(model.metadata_props)
    if sum(len(p.key) + len(p.value) for p in props) > MAX_METADATA_BYTES:
        raise ExportError(f"{path}: its metadata holds more than {MAX_METADATA_BYTES // 1024**2} MiB, not a dnn export")
    return {
        "path": str(path),
        "producer": f"{model.producer_name} {model.producer_version}".strip(),
        "ir_version": int(model.ir_version),
        "opset": {o.domain or "ai.onnx": int(o.version) for o in model.opset_import},
        "inputs": [_tensor_info(onnx, v) for v in model.graph.input],
        "outputs": [_tensor_info(onnx, v) for v in model.graph.output],
        # the weights and the few constants (divisor, threshold) the graph holds
        "stored_values": int(sum(np.prod(t.dims, dtype=np.int64) for t in model.graph.initializer)),
        "dnn": model.producer_name == "dnn",
        "metadata": {p.key: _metadata_value(p.key, p.value) for p in props},
    }


# not in the metadata table: the config is shown as text (as for a model.h5), the records whole
# only with --json, the opset as the graph states it, a table's columns in a table of their own
_NOT_IN_TABLE = ("config", "data", "metrics", "opset", "inputs", "dropped_columns", "features")


def _encoding_text(column: dict[str, Any]) -> str:
    """How the graph encodes a column, as a table model's metadata records it."""
    if column.get("kind") == "category" and isinstance(column.get("levels"), list):
        levels = column["levels"]
        known = sum(level is not None for level in levels)
        return f"one-hot: {known} levels" + (" and missing" if None in levels else "") + "; an unseen level: zeros"
    try:
        text = f"gap: median {float(column['median']):.6g}; (x - {float(column['mean']):.6g}) / {float(column['scale']):.6g}"
    except (KeyError, TypeError, ValueError):
        return "?"
    return text + ("; a missing indicator" if column.get("missing_indicator") is True else "")


def _columns_table(metadata: dict[str, Any]) -> Any:  # -> rich Table or None
    """A table model's inputs, one row per column (None when the metadata does not list them)."""
    from rich.table import Table

    columns = metadata.get("inputs")
    if not isinstance(columns, list) or not all(isinstance(c, dict) for c in columns):
        return None
    dropped = metadata.get("dropped_columns")
    caption = f"dropped: {', '.join(map(str, dropped))}" if isinstance(dropped, list) and dropped else None
    table = Table(title="columns", title_justify="left", caption=shown(caption) if caption else None, caption_justify="left")
    for heading in ("column", "input", "kind", "encoding"):
        table.add_column(heading, overflow="fold")
    for column in columns:
        table.add_row(*(shown(str(column.get(key, ""))) for key in ("column", "input", "kind")), shown(_encoding_text(column)))
    return table


def onnx_tables(info: dict[str, Any]) -> list:  # -> rich renderables
    """``describe_onnx``'s result as tables: the graph's inputs and outputs, a table model's
    columns, then its metadata; every name and value shown literally (a file may hold anything)."""
    from rich.table import Table

    graph = Table(title=shown(info["path"]), title_justify="left")
    for column in ("", "name", "dtype", "shape"):
        graph.add_column(column)
    for side in ("inputs", "outputs"):
        for tensor in info[side]:
            shape = str(tuple(tensor["shape"])).replace("'", "")
            graph.add_row(side[:-1], shown(tensor["name"]), shown(tensor["dtype"]), shown(shape))
    columns = _columns_table(info["metadata"])
    about = Table(show_header=False, title="metadata", title_justify="left")
    about.add_column("key", style="bold")
    about.add_column("value", overflow="fold")
    about.add_row("producer", shown(info["producer"]))
    about.add_row("opset", shown(", ".join(f"{domain} {version}" for domain, version in info["opset"].items())))
    for key, value in info["metadata"].items():
        if key not in _NOT_IN_TABLE or (key in ("inputs", "dropped_columns") and columns is None):
            about.add_row(shown(key), shown(value if isinstance(value, str) else json.dumps(value)))
    return [graph, *([columns] if columns is not None else []), about]
