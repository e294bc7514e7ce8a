"""Predictions for image files: find the files, read them in batches, one record per file.

Reading is per file (each is its own I/O); the network runs once per batch of files, over all
of the batch's examples at once. A file that cannot be read becomes a :class:`Failure` in the
stream and the others are still predicted.
"""

from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence, TextIO

import numpy as np
from rich.table import Table

from dnncli.data.folders import FOLLOW_HINT, link_outside
from dnncli.data.images import DEFAULT_MAX_PIXELS, image_extensions, image_mode, images_to_columns, load_image
from dnncli.errors import ConfigError, DataError, DnnError
from dnncli.model.file import ModelBundle, default_choice, load_chosen_model, model_line
from dnncli.model.records import stream_records
from dnncli.model.table_rows import RowPrediction, is_table_model, opened_rows, predict_rows, rows_table, write_row_predictions
from dnncli.terminal.display import csv_text, shown

DEFAULT_BATCH = 256


@dataclass
class Prediction:
    path: str
    class_name: str | None
    class_index: int | None
    probability: float | None
    probabilities: dict[str, float] = field(default_factory=dict)
    outputs: list[float] | None = None  # regression models only

    def as_dict(self) -> dict[str, Any]:
        if self.outputs is not None:
            return {"path": self.path, "outputs": self.outputs}
        return {
            "path": self.path,
            "class": self.class_name,
            "index": self.class_index,
            "probability": self.probability,
            "probabilities": self.probabilities,
        }


@dataclass
class Failure:
    path: str
    message: str


# ---- which files -----------------------------------------------------------------------------


def _images_in(directory: Path, recursive: bool) -> list[Path]:
    extensions = image_extensions()
    candidates = directory.rglob("*") if recursive else directory.iterdir()
    found = [
        p for p in candidates
        if p.suffix.lower() in extensions
        and not any(part.startswith(".") for part in p.relative_to(directory).parts)
        and p.is_file()
    ]
    return sorted(found)


def expand_paths(
    arguments: Iterable[str], recursive: bool = False, stdin: TextIO | None = None, follow_links: bool = False
) -> Iterator[str | Failure]:
    """The image paths the arguments name: files as given, the images of directories (``-r``
    to recurse), and for ``-`` one path per line of ``stdin``. A directory without images is a
    Failure; a missing file is passed on and fails when read; a directory's link that leads out
    of it is a Failure unless ``follow_links``."""
    for argument in arguments:
        if argument == "-":
            if stdin is None:
                raise DataError("'-' given but there is no standard input to read paths from")
            for line in stdin:
                line = line.rstrip("\r\n")
                if line.strip():
                    yield from expand_paths([line], recursive, None, follow_links)
            continue
        path = Path(argument)
        if path.is_dir():
            found = _images_in(path, recursive)
            if not found:
                hint = "" if recursive else " (use -r to look in its subdirectories)"
                yield Failure(argument, f"{argument}: no image files in this directory{hint}")
            inside = None if follow_links else os.path.realpath(path)
            for image_path in found:
                outside = link_outside(image_path, inside)
                if outside is not None:
                    yield Failure(str(image_path), f"{image_path}: a link out of the folder (to {outside}); {FOLLOW_HINT}")
                else:
                    yield str(image_path)
        else:
            yield argument


# ---- predicting ------------------------------------------------------------------------------


def decision_threshold(bundle: ModelBundle, threshold: float | None) -> float:
    """The threshold a binary model's positive class needs (0.5 unless given); refuses one for
    any other model."""
    if threshold is not None and not bundle.is_binary:
        raise ConfigError("--threshold applies to binary (one sigmoid output) models only")
    return 0.5 if threshold is None else threshold


def input_note(bundle: ModelBundle) -> str | None:
    """A warning for models whose pixel range an image file cannot tell (float training data);
    a DataError for a model that does not take images at all."""
    image_mode(bundle.input_shape)
    if np.dtype(bundle.input_dtype).kind == "f":
        return (
            f"the model was trained on {bundle.input_dtype} examples: image pixels are given to it "
            f"as fractions in [0, 1]{'' if bundle.input_divisor == 1 else f', divided by {bundle.input_divisor:g}'}"
        )
    return None


def predictions_from_output(
    bundle: ModelBundle, paths: list[str], AL: np.ndarray, threshold: float = 0.5
) -> list[Prediction]:
    """One Prediction per column of the output layer ``AL``."""
    if bundle.network.is_regression:
        return [Prediction(p, None, None, None, outputs=[float(v) for v in col]) for p, col in zip(paths, AL.T)]
    names = bundle.class_names
    labels = bundle.labels(AL, threshold)
    if bundle.is_binary:
        p1 = AL[0].astype(np.float64)
        proba = np.vstack([1 - p1, p1])
    else:
        proba = AL.astype(np.float64)
    chosen = proba[labels, np.arange(labels.size)]
    return [
        Prediction(path, names[k], int(k), float(p), dict(zip(names, map(float, column))))
        for path, k, p, column in zip(paths, labels, chosen, proba.T)
    ]


def predict_files(
    bundle: ModelBundle,
    paths: Iterable[str | Failure],
    threshold: float = 0.5,
    batch_size: int = DEFAULT_BATCH,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> Iterator[Prediction | Failure]:
    """Predictions and failures, in the order of ``paths``, a batch of files at a time."""
    image_mode(bundle.input_shape)  # refuse a model that does not take images before any file
    net = bundle.network
    batch: list[tuple[str, np.ndarray | Failure]] = []

    def flush() -> Iterator[Prediction | Failure]:
        good = [(p, x) for p, x in batch if not isinstance(x, Failure)]
        results: Iterator[Prediction] = iter(())
        finite: Iterator[bool] = iter(())
        if good:
            X = images_to_columns([x for _, x in good], bundle.input_divisor, net.dtype)
            with np.errstate(all="ignore"):  # checked just below: a non-finite output is never shown
                AL = net.predict_proba(X)
                results = iter(predictions_from_output(bundle, [p for p, _ in good], AL, threshold))
            finite = iter(np.all(np.isfinite(AL), axis=0).tolist())
        for path, x in batch:
            if isinstance(x, Failure):
                yield x
            else:
                prediction = next(results)
                yield prediction if next(finite) else Failure(path, non_finite_message(bundle, path))
        batch.clear()

    for item in paths:
        if isinstance(item, Failure):
            batch.append((item.path, item))
        else:
            try:
                example = load_image(item, bundle.input_shape, bundle.input_dtype, max_pixels, bundle.input_resize)
                batch.append((item, example))
            except DnnError as exc:
                batch.append((item, Failure(item, exc.message)))
        if len(batch) >= batch_size:
            yield from flush()
    yield from flush()


def non_finite_message(bundle: ModelBundle, path: str) -> str:
    return (
        f"{path}: the model {bundle.path or ''} gives non-finite outputs for it (NaN or infinite "
        "probabilities): its parameters or input_divisor are out of range; retrain it"
    )


# ---- rendering -------------------------------------------------------------------------------


def csv_header(bundle: ModelBundle) -> list[str]:
    if bundle.network.is_regression:
        return ["path", *(f"output{k}" for k in range(bundle.network.layer_sizes[-1]))]
    return ["path", "class", "index", "probability", *(csv_text(f"p_{name}") for name in bundle.class_names)]


def csv_line(fields: list[Any]) -> str:
    """One CSV line (quoted where a field holds a comma, a quote or a line break)."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(fields)
    return buffer.getvalue()


def csv_header_line(bundle: ModelBundle) -> str:
    return csv_line(csv_header(bundle))


def csv_row(prediction: Prediction) -> str:
    if prediction.outputs is not None:
        return csv_line([csv_text(prediction.path), *map(repr, prediction.outputs)])
    return csv_line([
        csv_text(prediction.path), csv_text(prediction.class_name), prediction.class_index,
        repr(prediction.probability), *map(repr, prediction.probabilities.values()),
    ])


def jsonl_row(prediction: Prediction) -> str:
    return json.dumps(prediction.as_dict()) + "\n"


def table(predictions: list[Prediction] | list[RowPrediction]) -> Table:
    if predictions and isinstance(predictions[0], RowPrediction):
        return rows_table(predictions)  # type: ignore[arg-type]
    table = Table(show_edge=False)
    table.add_column("path", overflow="fold")
    if predictions and predictions[0].outputs is not None:
        table.add_column("outputs", justify="right")
        for p in predictions:
            table.add_row(shown(p.path), ", ".join(f"{v:.6g}" for v in p.outputs or []))
        return table
    table.add_column("class")
    table.add_column("probability", justify="right")
    for p in predictions:  # paths and class names may hold anything: shown escaped, never as markup
        table.add_row(shown(p.path), shown(p.class_name or ""), f"{p.probability:.4f}")
    return table


# ---- dnn predict: the files to the output ------------------------------------------------------

OUTPUT_FORMATS = ("table", "json", "jsonl", "csv")


@dataclass
class PredictOutcome:
    total: int  # files (and directories without images) met, or a table's rows
    failures: int
    table_rows: list[Any]  # the predictions of the table format, left for the caller to show
    unit: str = "files"  # what total counts: "files", or a table's "rows"


def write_predictions(
    bundle: ModelBundle,
    records: Iterable[Prediction | Failure],
    output_format: str,
    out: TextIO,
    on_failure: Callable[[str], None],
) -> PredictOutcome:
    """csv and jsonl rows written to ``out`` as each file is predicted, json at the end, table
    rows returned; each failure's message to ``on_failure`` as it comes."""
    total, failures, kept = stream_records(
        records, output_format, out, on_failure, failure=Failure, csv_header=csv_header_line(bundle), csv_row=csv_row,
    )
    if total == 0:
        raise ConfigError("no image paths given (standard input was empty)")
    return PredictOutcome(total, failures, kept)


def predict_paths(
    model: str | Path | None,
    arguments: Iterable[str],
    out: TextIO,
    *,
    output_format: str = "table",
    recursive: bool = False,
    threshold: float | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    stdin: TextIO | None = None,
    follow_links: bool = False,
    on_note: Callable[[str], None] = lambda note: None,
    on_failure: Callable[[str], None] = lambda message: None,
    on_model: Callable[[str], None] = lambda line: None,
    keep: Sequence[str] = (),
) -> PredictOutcome:
    """``dnn predict``: the model (a file, a run directory, or the default), the image paths the
    arguments name (:func:`expand_paths`), their predictions written to ``out`` in
    ``output_format`` (one of :data:`OUTPUT_FORMATS`). ``on_note``: a warning about the model's
    input; ``on_failure``: a file that could not be predicted; ``on_model``: the line naming the
    model read, when dnn chose it (:func:`dnncli.model.file.model_line`). A table model predicts
    the rows of one table instead (:mod:`dnncli.model.table_rows`; ``-``: CSV on ``stdin``), with
    the ``keep`` columns copied through."""
    bundle = load_chosen_model(model)
    chosen_by = default_choice(model)
    if chosen_by is not None:
        on_model(model_line(bundle, chosen_by))
    chosen = decision_threshold(bundle, threshold)
    if is_table_model(bundle):
        return _predict_table(bundle, list(arguments), out, output_format, chosen, stdin, keep, on_note, on_failure)
    if keep:
        raise ConfigError("--keep copies columns of a table's rows: the model was not trained on a table")
    note = input_note(bundle)
    if note:
        on_note(note)
    records = predict_files(bundle, expand_paths(arguments, recursive, stdin, follow_links), chosen, max_pixels=max_pixels)
    return write_predictions(bundle, records, output_format, out, on_failure)


def _predict_table(
    bundle: ModelBundle, arguments: list[str], out: TextIO, output_format: str, threshold: float,
    stdin: TextIO | None, keep: Sequence[str], on_note: Callable[[str], None], on_failure: Callable[[str], None],
) -> PredictOutcome:
    if len(arguments) != 1:
        raise ConfigError(f"the model was trained on a table: give one table of rows to predict (.csv, .parquet, or - for CSV on stdin), not {len(arguments)}")
    with opened_rows(arguments[0], getattr(stdin, "buffer", stdin)) as (source, name):
        records = predict_rows(bundle, source, name, keep, threshold, on_note)
        total, failures, kept = write_row_predictions(bundle, records, output_format, keep, out, on_failure)
    return PredictOutcome(total, failures, kept, "rows")
