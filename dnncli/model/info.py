"""What a model file holds, for ``dnn info``: layers, input handling, classes, config, metrics;
or what an exported ONNX file holds (:func:`dnncli.model.export.describe_onnx`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import RenderableType
from rich.table import Table

from dnncli.model.export import describe_onnx, onnx_tables
from dnncli.model.file import ModelBundle, load_chosen_model, scaling_text
from dnncli.terminal.display import shown
from dnncli.terminal.text import metric_text


def describe(bundle: ModelBundle) -> dict[str, Any]:
    """Everything ``dnn info --json`` prints, as plain JSON-ready values."""
    net = bundle.network
    layers = [
        {
            "layer": l,
            "inputs": net.layer_sizes[l - 1],
            "units": net.layer_sizes[l],
            "activation": net.activations[l - 1],
            "parameters": int(net.params[f"W{l}"].size + net.params[f"b{l}"].size),
        }
        for l in range(1, net.L + 1)
    ]
    return {
        "path": str(bundle.path),
        "tool_version": bundle.tool_version,
        "layer_sizes": net.layer_sizes,
        "layers": layers,
        "parameters": net.n_params,
        "dtype": str(net.dtype),
        "loss": net.loss_name,
        "input_shape": list(bundle.input_shape),
        "input_dtype": bundle.input_dtype,
        "input_divisor": bundle.input_divisor,
        "input_resize": bundle.input_resize,
        "scaling": scaling_text(bundle),
        "classes": bundle.classes,
        "metrics": bundle.metrics,
        "data": bundle.data_sources,
        "config": bundle.config,
        # a table model's columns: how a table's rows become its inputs (None: it takes images or arrays)
        "table": bundle.encoder.to_dict() if bundle.encoder is not None else None,
    }


def table_text(table: dict[str, Any]) -> str:
    """A table model's columns in one line: the target, the numbers, the categories."""
    target = table.get("target") or {}
    numbers = [n["name"] + (" (gaps)" if n["indicator"] else "") for n in table["numbers"]]
    categories = [f"{c['name']} ({len(c['levels'])} levels)" for c in table["categories"]]
    return (f"target {target.get('name')} ({target.get('task')}); numbers {', '.join(numbers) or '-'}; "
            f"categories {', '.join(categories) or '-'}")


def source_text(source: dict[str, Any]) -> str:
    """One recorded data part: ``file 'x'/'y' [start:stop]``, or how it was held out."""
    if "held_out_from" in source:
        return (
            f"{source.get('examples')} examples held out at random from the training range "
            f"(fraction {source.get('fraction')}, seed {source.get('seed')})"
        )
    start, stop = (source.get("range") or ["?", "?"])[:2]
    return f"{source.get('file')} '{source.get('x_key')}'/'{source.get('y_key')}' [{start}:{stop}]"


def tables(info: dict[str, Any]) -> list[Table]:
    layers = Table(title=shown(info["path"]), title_justify="left")
    for column in ("layer", "shape of W", "activation", "parameters"):
        layers.add_column(column, justify="left" if column in ("activation", "shape of W") else "right")
    for row in info["layers"]:
        layers.add_row(str(row["layer"]), f"{row['units']} x {row['inputs']}", row["activation"], f"{row['parameters']:,}")
    layers.add_row("total", "", "", f"{info['parameters']:,}", style="bold")

    about = Table(show_header=False, title="model", title_justify="left")
    about.add_column("what", style="bold")
    about.add_column("value")
    about.add_row("layer sizes", str(info["layer_sizes"]))
    about.add_row("input", f"shape {tuple(info['input_shape'])}, {info['scaling']}")
    if info.get("table"):
        about.add_row("table", shown(table_text(info["table"])))
    else:
        about.add_row("image files", f"resized by {info['input_resize']}")
    about.add_row("classes", shown(", ".join(info["classes"])) if info["classes"] else "-")
    about.add_row("loss", info["loss"])
    about.add_row("parameters dtype", info["dtype"])
    about.add_row("written by", shown(f"dnn {info['tool_version']}"))
    for part in ("train", "validation", "test"):
        source = (info.get("data") or {}).get(part)
        if isinstance(source, dict):
            about.add_row(f"{part} examples", shown(source_text(source)))

    metrics = Table(show_header=False, title="final metrics", title_justify="left")
    metrics.add_column("metric", style="bold")
    metrics.add_column("value")
    for name, value in info["metrics"].items():
        if name == "warnings" and isinstance(value, list):
            text = "; ".join(str(w.get("message", w)) if isinstance(w, dict) else str(w) for w in value)
            metrics.add_row(shown(name), shown(text or "none"))
        elif name not in ("run_dir", "dnn_version", "name", "segments"):
            metrics.add_row(shown(name), shown(metric_text(name, value)))
    return [layers, about, metrics]


def renderables(info: dict[str, Any]) -> list[RenderableType]:
    """What ``dnn info`` shows: the tables, then the training config as it was written."""
    return [*tables(info), *_config_text(info["config"])]


def _config_text(config: str | None) -> list[RenderableType]:
    return ["[bold]training config[/bold]", shown(config.rstrip(), keep_newlines=True)] if config else []


def describe_path(path: Path | None) -> tuple[dict[str, Any], list[RenderableType]]:
    """``dnn info PATH``: what a model file or run directory holds (default: the model commands
    use, :func:`~dnncli.model.file.load_chosen_model`), or an exported ``.onnx`` file; as JSON-ready
    values and as what is shown."""
    if path is not None and path.suffix.lower() == ".onnx":
        info = describe_onnx(path)
        config = info["metadata"].get("config")
        return info, [*onnx_tables(info), *_config_text(config if isinstance(config, str) else None)]
    info = describe(load_chosen_model(path))
    return info, renderables(info)
