"""``dnn evaluate`` as one library call: the model, the examples chosen
(:mod:`dnncli.model.selection`), the metrics (:mod:`dnncli.model.evaluate`) and the pictures asked
for (``--errors``, ``--confusion``: :mod:`dnncli.plots.commands`). Here, in the plots layer,
because the pictures are; the metrics alone need none of it.

Every refusal comes before the work it would waste: picture names first, then the model, then
pictures this model cannot have, and only then the data is read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from dnncli.model.evaluate import Evaluation, evaluate_selection
from dnncli.model.file import default_choice, load_chosen_model, model_line
from dnncli.model.predict import decision_threshold
from dnncli.model.selection import DEFAULT_CACHE_DIR, select_examples
from dnncli.plots.commands import check_evaluation_pictures, evaluation_pictures
from dnncli.plots.figure import picture_format


@dataclass(frozen=True)
class EvaluationRequest:
    """Which examples (see :func:`dnncli.model.selection.select_examples`) and which pictures."""

    data: Path | None = None  # default: the model's own test set
    x_key: str | None = None
    y_key: str | None = None
    range_text: str | None = None  # START:STOP
    threshold: float | None = None  # binary models only; default 0.5
    cache_dir: Path = Path(DEFAULT_CACHE_DIR)
    errors: Path | None = None  # a .png or .svg of the misclassified examples
    errors_limit: int = 36
    confusion: Path | None = None  # a .png or .svg of the confusion matrix
    follow_links: bool = False  # a folder of images: follow symbolic links that lead out of it


@dataclass
class EvaluationReport:
    result: Evaluation
    pictures: dict[str, Any] = field(default_factory=dict)  # what --json adds: files, misclassified, errors_shown

    def as_dict(self) -> dict[str, Any]:
        return {**self.result.as_dict(), **self.pictures}

    @property
    def files(self) -> list[str]:
        """The pictures written."""
        return list(self.pictures.get("files", {}).values())


def evaluate_model(
    model: str | Path | None,
    request: EvaluationRequest,
    on_warning: Callable[[str], None] = lambda message: None,
    on_model: Callable[[str], None] = lambda line: None,
) -> EvaluationReport:
    """The metrics of ``model`` (a file, a run directory, or the default) on the examples
    ``request`` chooses, and the pictures it asks for. ``on_model``: the line naming the model
    read, when dnn chose it (:func:`dnncli.model.file.model_line`), once the examples are evaluated. The evaluation's warnings go
    to ``on_warning`` before any picture is drawn."""
    pictures = {
        name: (path, picture_format(path, f"--{name}"))
        for name, path in (("errors", request.errors), ("confusion", request.confusion)) if path is not None
    }
    bundle = load_chosen_model(model)
    threshold = decision_threshold(bundle, request.threshold)
    check_evaluation_pictures(bundle, request.errors, request.confusion)
    selection = select_examples(
        bundle, request.data, request.x_key, request.y_key, request.range_text, request.cache_dir, request.follow_links
    )
    result, dataset = evaluate_selection(bundle, selection, threshold)
    chosen_by = default_choice(model)
    if chosen_by is not None:  # once evaluated: a refusal stays one line
        on_model(model_line(bundle, chosen_by))
    for message in result.warnings:
        on_warning(message)
    if not pictures:
        return EvaluationReport(result)
    return EvaluationReport(result, evaluation_pictures(
        bundle, dataset, selection.y_key, result, errors=pictures.get("errors"), errors_limit=request.errors_limit,
        confusion=pictures.get("confusion"), threshold=threshold,
    ))
