"""A training run on disk: a config prepared into data, network and settings (``prepare``), trained
in a locked run directory (``directory``) with checkpoints and signal handling (``checkpoint``,
``supervisor``), its outputs written (``outputs``); :func:`run_training` and
:func:`resume_training` (``training``) are the two entry points."""

from __future__ import annotations

from dnncli.run.training import FinishedRun, resume_training, run_training

__all__ = ["FinishedRun", "resume_training", "run_training"]
