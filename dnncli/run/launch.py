"""``dnn train`` as one library call: its flags checked against each other, the config they name
(or an interrupted run's), the progress on stderr, and the run trained or resumed.

    from dnncli.run.launch import TrainRequest, launch_training, requested_config
    request = TrainRequest(config=Path("configs/cat_deep.yaml"), overrides=["training.iterations=500"])
    metrics = launch_training(requested_config(request), request)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from dnncli.config import Config, load_config
from dnncli.errors import CheckFailed, DnnError
from dnncli.run.progress import TrainingProgress
from dnncli.run.training import resumable_config, resume_training, run_training


@dataclass(frozen=True)
class TrainRequest:
    """What ``dnn train`` was asked: a config and its overrides, or a run to resume."""

    config: Path | None = None
    overrides: Sequence[str] = ()  # --set KEY=VALUE
    run_dir: Path | None = None
    force: bool = False
    resume: Path | None = None  # an interrupted run's directory
    plot_format: str | None = None  # png or svg (output.plot)
    no_plot: bool = False  # output.plot = none
    print_config: bool = False
    verbose: bool = False  # the course's 'Cost after iteration N' lines
    quiet: bool = False  # no bar, log lines or warnings


def requested_config(request: TrainRequest) -> Config:
    """The config to train: the file with its overrides, or the interrupted run's own; refuses
    flags that contradict each other."""
    if request.plot_format is not None and request.no_plot:
        raise DnnError("--plot-format and --no-plot contradict each other: give one of them")
    if request.resume is not None:
        if (request.config is not None or request.overrides or request.print_config or request.run_dir is not None
                or request.force or request.plot_format or request.no_plot):
            raise DnnError(
                "--resume continues a run as it was started: give no config, --set, --run-dir, --force, "
                "--plot-format or --no-plot"
            )
        return resumable_config(request.resume)
    if request.config is None:
        raise DnnError("give a config file (dnn train CONFIG), or --resume RUN_DIR to continue a run")
    plot = "none" if request.no_plot else request.plot_format
    return load_config(request.config, [*request.overrides, *([f"output.plot={plot}"] if plot else [])])


def training_progress(config: Config, request: TrainRequest, terminal: bool) -> TrainingProgress:
    """A bar on a terminal, log lines elsewhere (CI), the course's lines with --verbose; nothing
    with --quiet."""
    quiet, training = request.quiet, config.training
    return TrainingProgress(
        config.name,
        show_bar=not quiet and terminal,
        print_every=(training.print_every or training.record_every) if request.verbose and not quiet else None,
        log_every_seconds=training.log_every_seconds if not quiet and not terminal else None,
    )


def launch_training(config: Config, request: TrainRequest, terminal: bool = False) -> dict[str, Any]:
    """Train ``config`` into its run directory (or resume ``request.resume``), showing progress
    on stderr (``terminal``: stderr is one); the run's metrics, as in its metrics.json."""
    with training_progress(config, request, terminal) as progress:
        if request.resume is not None:
            return resume_training(request.resume, progress=progress).metrics
        return run_training(
            config, run_dir=request.run_dir, force=request.force, progress=progress, overrides=list(request.overrides)
        ).metrics


def findings(metrics: dict[str, Any]) -> list[dict[str, Any]]:
    """The health checks' warnings of a finished run (:mod:`dnncli.training.health`)."""
    return metrics.get("warnings") or []


def check_strict(metrics: dict[str, Any]) -> None:
    """``--strict``: a run that ended with a warning fails (exit 1)."""
    found = findings(metrics)
    if found:
        raise CheckFailed(
            f"--strict: training ended with {len(found)} warning(s) "
            f"({', '.join(f['check'] for f in found)}; see metrics.json in {metrics['run_dir']}, the newest run, "
            "which runs/latest points at as after any finished run)"
        )
