"""What a run writes: ``model.h5``, ``history.csv``, its pictures (``loss.png``, and
``boundary.png`` for 2-D inputs: :mod:`dnncli.plots.run`), ``metrics.json`` and ``config.yaml``,
each atomically; and ``metrics.json``'s content, built in one place for a finished run and for
one that stopped early (interrupted, diverged).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from dnncli import __version__
from dnncli.files import atomic
from dnncli.model.file import MODEL_FILENAME, ModelBundle, save_model
from dnncli.network.model import Network
from dnncli.plots.run import picture_names, write_run_pictures
from dnncli.run.prepare import PreparedRun
from dnncli.terminal.text import to_json
from dnncli.training.state import History, TrainResult, TrainState


def run_metrics(
    prepared: PreparedRun,
    state: TrainState,
    run_dir: Path,
    *,
    status: str,
    result: TrainResult | None = None,
    warnings: list[dict[str, str]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """``metrics.json``: with the ``result`` of a finished run, its final numbers and the health
    checks' ``warnings``; without, where the run stopped (``status`` says why: interrupted,
    diverged). ``seconds`` is the training time of all the run's segments (``segments``: each
    start or resume)."""
    metrics: dict[str, Any] = {"name": prepared.name, "status": status}
    if prepared.encoder is not None:
        metrics["task"] = prepared.encoder.task
    if result is not None:
        metrics.update(
            initial_cost=result.initial_cost,
            final_cost=result.final_cost,
            train_accuracy=result.train_accuracy,
            test_accuracy=result.test_accuracy,
            test_cost=result.test_cost,
            iterations=result.iterations,
            epochs=result.epochs,
        )
        if result.val_cost is not None:
            metrics.update(val_cost=result.val_cost, val_accuracy=result.val_accuracy)
        if result.best_epoch is not None:
            metrics.update(best_epoch=result.best_epoch, stopped_early=result.stopped_early)
        metrics.update(result.scores)
        metrics.update(first_layer=result.first_layer, first_layer_reason=result.first_layer_reason)
        metrics["files"] = [
            MODEL_FILENAME, "history.csv", *picture_names(prepared.config.output.plot, prepared.network),
            "metrics.json", "config.yaml",
        ]
        metrics["warnings"] = list(warnings or [])
    else:
        metrics.update(epoch=state.epoch, iteration=state.iteration)
        if state.batch_in_epoch:
            metrics["batch_in_epoch"] = state.batch_in_epoch
        metrics.update(initial_cost=state.initial_cost, last_finite_cost=state.last_good_cost)
    metrics.update(extra)
    metrics.update(
        seconds=round(state.seconds, 6),
        segments=[{**segment, "seconds": round(segment["seconds"], 6)} for segment in state.segments],
        run_dir=str(run_dir),
        dnn_version=__version__,
    )
    metrics.update(prepared.origin)  # started, overrides
    return metrics


def write_outputs(
    prepared: PreparedRun, network: Network, history: History, metrics: dict[str, Any], directory: Path
) -> None:
    """The model, history, pictures, metrics and config, each file written atomically."""
    config_yaml = prepared.config.to_yaml()
    bundle = ModelBundle(
        network=network,
        input_shape=prepared.input_shape,
        input_dtype=prepared.input_dtype,
        input_divisor=prepared.divisor,
        input_resize=prepared.input_resize,
        classes=prepared.classes,
        config=config_yaml,
        metrics=metrics,
        data_sources=prepared.data_sources or None,
        encoder=prepared.encoder,
    )
    save_model(bundle, directory / MODEL_FILENAME)
    atomic.write_with(directory / "history.csv", lambda tmp: write_history_csv(history, tmp))
    write_run_pictures(directory, prepared, network, history.rows, metrics)
    atomic.write_text(directory / "metrics.json", to_json(metrics) + "\n")
    atomic.write_text(directory / "config.yaml", config_yaml)


def write_history_csv(history: History, path: Path) -> None:
    """``history.csv``: a row every ``record_every`` iterations (or epochs), the columns the run has."""
    columns = ["iteration", "cost", "train_accuracy", "test_accuracy"]
    present = {k for row in history.rows for k in row}
    # mini-batch runs count epochs; validation and schedules add their columns
    if "epoch" in present:
        columns.insert(1, "epoch")
    columns += [
        k for k in ("test_cost", "val_cost", "val_accuracy", "train_r2", "test_r2", "val_r2", "train_rmse", "test_rmse",
                  "val_rmse", "learning_rate")
        if k in present
    ]
    extra = sorted(present - set(columns))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns + extra, lineterminator="\n")
    writer.writeheader()
    for row in history.rows:
        writer.writerow({k: ("" if v is None else (repr(v) if isinstance(v, float) else v)) for k, v in row.items()})
    Path(path).write_text(buffer.getvalue())
