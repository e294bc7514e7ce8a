"""The training section of a config turned into the loop's settings: optimizer, schedule,
regularization, the budget, and the run's random generators."""

from __future__ import annotations

from typing import Any

import numpy as np

from dnncli.config import Config
from dnncli.errors import ConfigError
from dnncli.network.model import Network
from dnncli.training.batches import n_batches
from dnncli.training.early_stopping import EarlyStopping
from dnncli.training.optimizers import make_optimizer
from dnncli.training.schedules import Schedule

DTYPES = {"float64": np.float64, "float32": np.float32}


def training_seed(config: Config) -> int | None:
    """``training.seed``, or else the model's seed (None: different every run)."""
    return config.training.seed if config.training.seed is not None else config.model.seed


def generators(config: Config) -> tuple[np.random.Generator, np.random.Generator]:
    """Two independent generators from the run's seed: one for the validation split, one for
    training (shuffling and dropout masks), so adding a validation split keeps the same batches."""
    split, training = np.random.SeedSequence(training_seed(config)).spawn(2)
    return np.random.default_rng(split), np.random.default_rng(training)


def keep_probs(config: Config, network: Network) -> list[float] | None:
    """One keep probability per hidden layer, or None without dropout."""
    value, n_hidden = config.training.keep_prob, network.L - 1
    probs = list(value) if isinstance(value, list) else [float(value)] * n_hidden
    if len(probs) != n_hidden:
        raise ConfigError(
            f"training.keep_prob has {len(probs)} entries but the network has {n_hidden} hidden "
            f"layers: give one per hidden layer, or a single number"
        )
    return probs if any(k < 1 for k in probs) else None


def total_steps(config: Config, m: int) -> int:
    """How many update steps the run takes on ``m`` training examples (the progress bar's total)."""
    training = config.training
    if training.iterations is not None:
        return training.iterations
    return training.epochs * n_batches(m, training.batch_size)


def train_options(config: Config, network: Network, rng: np.random.Generator) -> dict[str, Any]:
    """Keyword arguments of :func:`dnncli.training.loop.train` for this config."""
    t = config.training
    return {
        "learning_rate": t.learning_rate,
        "iterations": t.iterations,
        "epochs": t.epochs,
        "batch_size": t.batch_size,
        "shuffle": t.shuffle,
        "record_every": t.record_every,
        "optimizer": make_optimizer(
            t.optimizer, t.learning_rate, beta=t.beta, beta1=t.beta1, beta2=t.beta2, epsilon=t.epsilon
        ),
        "schedule": Schedule(t.schedule, t.learning_rate, t.decay_rate or 0.0, t.decay_steps),
        "l2_lambda": t.l2_lambda,
        "keep_probs": keep_probs(config, network),
        "rng": rng,
        "early_stopping": EarlyStopping(t.patience, t.min_delta) if t.early_stopping else None,
        "keep_best": t.keep_best,
        "first_layer": t.first_layer,
        "gram_budget_mb": t.gram_budget_mb,
    }
