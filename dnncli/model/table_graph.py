"""A table model's encoder as ONNX nodes: ``dnn export`` of a model trained on CSV or Parquet.

The graph takes one input per feature column, named as the column (``(N, 1)`` each): a number
column as float64 with NaN for a gap, a category column as text. It then does what
:meth:`dnncli.data.encoding.TableEncoder.transform` does, in float64 as dnn does: a gap becomes
the training median (and 1 in the missing-indicator column where the encoder has one), the number
is standardized with the training mean and deviation; a category is one-hot over the encoder's
levels (``ai.onnx.ml``'s ``LabelEncoder`` gives the level's index, ``Equal`` against ``0..k-1``
the one-hot row), a missing value (the empty text, or a text a CSV reader takes as missing) its
own level when training had gaps, a level not seen in training all zeros. The columns are joined
in the encoder's feature order and cast to the network's dtype. A regression's outputs are
decoded into the target's units (``outputs * scale + mean``).

Input names are the column names, unless one would clash with a name the graph uses inside (an
output's, a weight's) or is empty: that column's input then gets ``_input`` appended; the
metadata's ``inputs`` gives each column's input name.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from dnncli.data.arrow import pa_csv
from dnncli.data.encoding import CategoryColumn, NumberColumn, TableEncoder

# the opset of ai.onnx.ml that goes with ai.onnx 17 (onnx's VERSION_TABLE); LabelEncoder-2 is in it
ML_OPSET = 3
ML_DOMAIN = "ai.onnx.ml"
FEATURES = "features"


def missing_texts() -> tuple[str, ...]:
    """The texts a CSV reader (pyarrow's, as dnn reads CSV) takes as a missing value."""
    return tuple(pa_csv.ConvertOptions().null_values)


def _placeholder(position: int) -> str:
    return f"column {position} (input)"


def _number_nodes(onnx, number: NumberColumn, position: int) -> tuple[list, list, list[str]]:
    """A number column: the gap filled with the median, standardized; and its missing indicator."""
    helper, numpy_helper = onnx.helper, onnx.numpy_helper
    raw, prefix = _placeholder(position), f"table/{position}"
    initializers = [numpy_helper.from_array(np.asarray([v], dtype=np.float64), f"{prefix}/{key}")
                    for key, v in (("median", number.median), ("mean", number.mean), ("scale", number.scale))]
    nodes = [
        helper.make_node("IsNaN", [raw], [f"{prefix}/gap"], name=f"{prefix}/gap"),
        helper.make_node("Where", [f"{prefix}/gap", f"{prefix}/median", raw], [f"{prefix}/filled"], name=f"{prefix}/filled"),
        helper.make_node("Sub", [f"{prefix}/filled", f"{prefix}/mean"], [f"{prefix}/centred"], name=f"{prefix}/centred"),
        helper.make_node("Div", [f"{prefix}/centred", f"{prefix}/scale"], [f"{prefix}/standard"], name=f"{prefix}/standard"),
    ]
    columns = [f"{prefix}/standard"]
    if number.indicator:
        nodes.append(helper.make_node("Cast", [f"{prefix}/gap"], [f"{prefix}/missing"], to=onnx.TensorProto.DOUBLE,
                                      name=f"{prefix}/missing"))
        columns.append(f"{prefix}/missing")
    return nodes, initializers, columns


def _level_codes(category: CategoryColumn) -> tuple[list[str], list[int]]:
    """Each text the graph recognizes and its level's index: the training levels, and the texts
    that mean a missing value (when training had gaps, and they are not levels themselves)."""
    keys = [level for level in category.levels if level is not None]
    codes = list(range(len(keys)))
    if None in category.levels:
        missing = category.levels.index(None)
        extra = [text for text in missing_texts() if text not in set(keys)]
        keys, codes = keys + extra, codes + [missing] * len(extra)
    return keys, codes


def _category_nodes(onnx, category: CategoryColumn, position: int) -> tuple[list, list, list[str]]:
    """A category column: its level's index (-1: not a training level), then one-hot over the levels."""
    helper, numpy_helper = onnx.helper, onnx.numpy_helper
    raw, prefix = _placeholder(position), f"table/{position}"
    if not category.levels:
        return [], [], []
    keys, codes = _level_codes(category)
    initializers = [numpy_helper.from_array(np.arange(len(category.levels), dtype=np.int64), f"{prefix}/levels")]
    nodes = [
        helper.make_node("LabelEncoder", [raw], [f"{prefix}/code"], domain=ML_DOMAIN, keys_strings=keys,
                         values_int64s=codes, default_int64=-1, name=f"{prefix}/code"),
        # (N, 1) against (levels,): (N, levels), true in the row's level's column
        helper.make_node("Equal", [f"{prefix}/code", f"{prefix}/levels"], [f"{prefix}/is_level"], name=f"{prefix}/is_level"),
        helper.make_node("Cast", [f"{prefix}/is_level"], [f"{prefix}/one_hot"], to=onnx.TensorProto.DOUBLE, name=f"{prefix}/one_hot"),
    ]
    return nodes, initializers, [f"{prefix}/one_hot"]


def table_input_nodes(encoder: TableEncoder, dtype: np.dtype, onnx) -> tuple[list, list, str]:
    """Nodes from the column inputs (named by placeholders: see :func:`name_inputs`) to the rows
    ``(N, n_x)`` in ``dtype``, the encoder's columns in its order."""
    helper = onnx.helper
    position = {name: i for i, name in enumerate(encoder.features)}
    nodes, initializers, columns = [], [], []
    parts = [_number_nodes(onnx, n, position[n.name]) for n in encoder.numbers]
    parts += [_category_nodes(onnx, c, position[c.name]) for c in encoder.categories]
    for part_nodes, part_initializers, part_columns in parts:
        nodes += part_nodes
        initializers += part_initializers
        columns += part_columns
    nodes.append(helper.make_node("Concat", columns, [FEATURES], axis=1, name=FEATURES))
    if np.dtype(dtype) == np.float64:
        return nodes, initializers, FEATURES
    # encoded in float64 then cast, as dnn predict casts the encoder's X to the network's dtype
    nodes.append(helper.make_node("Cast", [FEATURES], ["A0"], to=helper.np_dtype_to_tensor_dtype(np.dtype(dtype)), name="cast"))
    return nodes, initializers, "A0"


def name_inputs(encoder: TableEncoder, nodes: list, initializers: list, onnx) -> list:
    """The graph's inputs, one per column, named as the column where no name inside the graph
    clashes; the placeholders in ``nodes`` replaced by those names."""
    used = {name for node in nodes for name in node.output} | {t.name for t in initializers}
    names: dict[str, str] = {}
    for position, column in enumerate(encoder.features):
        name = column
        while not name or name in used:
            name += "_input"
        used.add(name)
        names[_placeholder(position)] = name
    for node in nodes:
        node.input[:] = [names.get(value, value) for value in node.input]
    kinds = _kinds(encoder)
    return [
        onnx.helper.make_tensor_value_info(
            names[_placeholder(i)], onnx.TensorProto.DOUBLE if kinds[column] == "number" else onnx.TensorProto.STRING, ["N", 1]
        )
        for i, column in enumerate(encoder.features)
    ]


def _kinds(encoder: TableEncoder) -> dict[str, str]:
    return {**{n.name: "number" for n in encoder.numbers}, **{c.name: "category" for c in encoder.categories}}


def decode_nodes(encoder: TableEncoder, dtype: np.dtype, onnx, AL: str) -> tuple[list, list]:
    """A regression's network outputs into the target's units: ``outputs = AL * scale + mean``."""
    helper, numpy_helper = onnx.helper, onnx.numpy_helper
    target = encoder.target
    assert target is not None
    initializers = [numpy_helper.from_array(np.asarray(target.scale, dtype=dtype), "target_scale"),
                    numpy_helper.from_array(np.asarray(target.mean, dtype=dtype), "target_mean")]
    nodes = [helper.make_node("Mul", [AL, "target_scale"], ["target_scaled"], name="target_scaled"),
             helper.make_node("Add", ["target_scaled", "target_mean"], ["outputs"], name="outputs")]
    return nodes, initializers


def _column_record(encoder: TableEncoder, column: str, name: str) -> dict[str, Any]:
    numbers = {n.name: n for n in encoder.numbers}
    if column in numbers:
        n = numbers[column]
        return {"column": column, "input": name, "kind": "number", "dtype": "float64", "median": n.median,
                "mean": n.mean, "scale": n.scale, "missing_indicator": n.indicator}
    levels = next(c.levels for c in encoder.categories if c.name == column)
    return {"column": column, "input": name, "kind": "category", "dtype": "string", "levels": list(levels)}


def table_metadata(encoder: TableEncoder, input_names: list[str], dropped: list[str] | None) -> dict[str, str]:
    """What a user of a table model's file needs to feed it: its columns, kinds and encoding."""
    target = encoder.target
    return {
        "input_kind": "table",
        "inputs": json.dumps([_column_record(encoder, c, n) for c, n in zip(encoder.features, input_names)]),
        "input_layout": (
            "one input per column, (N, 1) each: a number as float64 (NaN for a gap), a category as text "
            f"(the empty text or one of {', '.join(repr(t) for t in missing_texts() if t)} for a gap)"
        ),
        "features": json.dumps(encoder.feature_names),
        "dropped_columns": json.dumps(dropped),
        "target": json.dumps(None if target is None else {"name": target.name, "task": target.task}
                             | ({"mean": target.mean, "scale": target.scale} if target.task == "regression" else {})),
        "opset_ai_onnx_ml": str(ML_OPSET),
    }
