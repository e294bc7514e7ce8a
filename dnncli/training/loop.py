"""One readable training loop: epochs of (mini-)batches, each step forward, cost, backward, update.

Full-batch gradient descent (the default) is the course's loop: one step per epoch, the cost
recorded at iteration ``i`` is that of the parameters after ``i`` updates, and a last row at
``iterations`` holds the cost of the trained parameters.

With mini-batches (``batch_size``) every epoch shuffles the examples with the run's generator and
takes one step per batch. Row 0 holds the initial parameters; a row is then recorded after every
``record_every`` epochs (and after the last): its cost is the mean of that epoch's mini-batch costs
(as the course and scikit-learn report it), its accuracies those of the parameters at the epoch's end.

Every random draw (shuffling, dropout masks) comes from one ``numpy.random.Generator``. The
parameters, the optimizer's ``state_dict()``, the generator's ``bit_generator.state`` and the
:class:`TrainState` are all it takes to resume a run with identical steps, at an epoch boundary or
in the middle of an epoch that ``stop_requested`` cut short (the state then keeps the epoch's
example order and how far it got).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from dnncli.errors import TrainingDiverged
from dnncli.network.model import Network
from dnncli.training.batches import batch_selectors, epoch_order, n_batches
from dnncli.training.early_stopping import EarlyStopping
from dnncli.training.gram import DEFAULT_GRAM_BUDGET_MB, GramFirstLayer, choose_first_layer
from dnncli.training.optimizers import GradientDescent, Optimizer
from dnncli.training.schedules import Schedule
from dnncli.training.threads import blas_threads, largest_product, limited_blas_threads

# called as progress(iteration, cost) after each update step
ProgressCallback = Callable[[int, float], None]


@dataclass
class History:
    """Rows of ``iteration, cost, train_accuracy, test_accuracy`` and, where they apply, ``epoch``,
    ``val_cost``, ``val_accuracy``, ``learning_rate`` (accuracies may be None)."""

    rows: list[dict[str, float | int | None]] = field(default_factory=list)

    def record(self, **row: float | int | None) -> None:
        self.rows.append(row)

    def column(self, name: str) -> list[float | int | None]:
        return [row.get(name) for row in self.rows]


@dataclass
class TrainState:
    """Where a run is: counters, history and the best-so-far tracker (what a checkpoint saves)."""

    epoch: int = 0  # epochs completed
    iteration: int = 0  # update steps completed
    history: History = field(default_factory=History)
    initial_cost: float = math.nan
    last_good_cost: float = math.nan
    tracker: EarlyStopping | None = None
    stopped_early: bool = False
    seconds: float = 0.0
    # an epoch of mini-batches cut short by ``stop_requested``: the batches it has done, the sum of
    # their costs (weighted by their sizes) and examples, and its example order (None: unshuffled).
    # 0 batches: the run stands at an epoch boundary.
    batch_in_epoch: int = 0
    epoch_cost_sum: float = 0.0
    epoch_seen: int = 0
    epoch_order: np.ndarray | None = None


@dataclass
class TrainResult:
    network: Network
    history: History
    initial_cost: float
    final_cost: float
    train_accuracy: float | None
    test_accuracy: float | None
    test_cost: float | None
    iterations: int
    seconds: float
    epochs: int = 0
    val_cost: float | None = None
    val_accuracy: float | None = None
    best_epoch: int | None = None
    restored_best: bool = False
    stopped_early: bool = False
    state: TrainState | None = None
    # regression: train_r2, train_mae, test_r2, ... (empty for a classifier)
    scores: dict[str, float | None] = field(default_factory=dict)
    # how layer 1 was trained ("plain" or "gram") and why
    first_layer: str = "plain"
    first_layer_reason: str = ""


def _parameters_finite(network: Network) -> bool:
    return all(np.isfinite(p).all() for p in network.params.values())


def _evaluate(network: Network, X: np.ndarray, Y: np.ndarray, l2_lambda: float = 0.0) -> tuple[float, float | None]:
    """Cost and accuracy of the current parameters, without dropout."""
    AL, caches = network.forward(X)
    return network.cost(AL, caches, Y, l2_lambda), network.accuracy(AL, Y)


def regression_scores(AL: np.ndarray, Y: np.ndarray) -> dict[str, float | None]:
    """R^2 (averaged over the outputs; None for a constant target) and the mean absolute error."""
    error = AL - Y
    residual = np.sum(error * error, axis=1)
    total = np.sum((Y - Y.mean(axis=1, keepdims=True)) ** 2, axis=1)
    r2 = float(np.mean(1 - residual / total)) if np.all(total > 0) else None
    return {"r2": r2, "mae": float(np.mean(np.abs(error)))}


def _diverged(where: str, last_good_cost: float, learning_rate: float) -> TrainingDiverged:
    return TrainingDiverged(
        f"training diverged {where}: the cost or the parameters are not finite (last finite cost "
        f"{last_good_cost:.6g}); try a lower learning rate than {learning_rate:g}"
    )


@dataclass
class _Run:
    """The fixed inputs of one ``train`` call, so the epoch functions stay short."""

    network: Network
    X: np.ndarray
    Y: np.ndarray
    X_test: np.ndarray | None
    Y_test: np.ndarray | None
    X_val: np.ndarray | None
    Y_val: np.ndarray | None
    optimizer: Optimizer
    schedule: Schedule
    batch_size: int | None
    shuffle: bool
    l2_lambda: float
    keep_probs: Sequence[float] | None
    rng: np.random.Generator
    # the first layer kept as W1 = a W1_0 - C X^T (see dnncli.training.gram); None: the plain path
    gram: GramFirstLayer | None
    record_every: int
    total_steps: int
    total_epochs: int
    state: TrainState
    progress: ProgressCallback | None
    stop_requested: Callable[[], bool] | None

    def record(self, cost: float, train_accuracy: float | None) -> bool:
        """A history row for the current parameters; True if early stopping says stop."""
        state, net = self.state, self.network
        row: dict[str, float | int | None] = {"iteration": state.iteration}
        if self.batch_size is not None:
            row["epoch"] = state.epoch
        row["cost"] = cost
        row["train_accuracy"] = train_accuracy
        row["test_accuracy"] = (
            net.accuracy(net.predict_proba(self.X_test), self.Y_test) if self.X_test is not None else None
        )
        stop = False
        if self.X_val is not None:
            # the validation cost is the loss alone: the L2 term measures the weights, not the fit
            val_cost, val_accuracy = _evaluate(net, self.X_val, self.Y_val)
            row["val_cost"], row["val_accuracy"] = val_cost, val_accuracy
            if state.tracker is not None:
                stop = state.tracker.check(state.epoch, val_cost, net.params)
        if self.schedule.name != "constant":
            row["learning_rate"] = self.schedule(state.epoch)  # the rate of the epoch that follows
        state.history.record(**row)
        return stop

    def full_batch_epoch(self) -> None:
        state, net = self.state, self.network
        i = state.iteration
        model = self.gram or net
        AL, caches = model.forward(None if self.gram else self.X, self.keep_probs, self.rng)
        cost = model.cost(AL, caches, self.Y, self.l2_lambda)
        if self.gram is not None and i % self.record_every == 0:
            self.gram.sync()
        if not math.isfinite(cost) or (i % self.record_every == 0 and not _parameters_finite(net)):
            raise _diverged(f"at iteration {i}", state.last_good_cost, self.optimizer.learning_rate)
        state.last_good_cost = cost
        if i == 0:
            state.initial_cost = cost
        if i % self.record_every == 0:
            accuracy = net.accuracy(AL, self.Y) if self.keep_probs is None else _evaluate(net, self.X, self.Y)[1]
            if self.record(cost, accuracy):
                state.stopped_early = True
                return
        grads = model.backward(AL, self.Y, caches, self.l2_lambda)
        del caches, AL  # free the activations before the update allocates
        self.optimizer.update(model.params, grads)
        state.iteration += 1
        state.epoch += 1
        if self.progress is not None:
            self.progress(state.iteration, cost)

    def mini_batch_epoch(self) -> None:
        """One epoch of mini-batches (or what is left of one). If ``stop_requested`` cuts it short
        after an update, its position stays in the state (``batch_in_epoch > 0``)."""
        state, net = self.state, self.network
        m = self.Y.shape[1]
        first = state.batch_in_epoch
        if first:  # continuing a cut-short epoch: its batches, the generator where it stopped
            order, total_cost, seen = state.epoch_order, state.epoch_cost_sum, state.epoch_seen
        else:
            order, total_cost, seen = epoch_order(m, self.rng if self.shuffle else None), 0.0, 0
            if order is None and self.gram is not None:
                order = np.arange(m)  # the Gram path takes column indices, not slices
        model = self.gram or net
        last = n_batches(m, self.batch_size) - 1
        stop_requested = self.stop_requested
        for batch, columns in enumerate(batch_selectors(m, self.batch_size, order, first), first):
            # the Gram path takes each batch as column indices: no copy of X's columns
            X_batch = columns if self.gram is not None else self.X[:, columns]
            Y_batch = self.Y[:, columns]
            AL, caches = model.forward(X_batch, self.keep_probs, self.rng)
            cost = model.cost(AL, caches, Y_batch, self.l2_lambda)
            if not math.isfinite(cost):
                raise _diverged(
                    f"at epoch {state.epoch}, iteration {state.iteration}",
                    state.last_good_cost,
                    self.optimizer.learning_rate,
                )
            state.last_good_cost = cost
            total_cost += cost * Y_batch.shape[1]
            seen += Y_batch.shape[1]
            grads = model.backward(AL, Y_batch, caches, self.l2_lambda)
            del caches, AL
            self.optimizer.update(model.params, grads)
            state.iteration += 1
            if self.progress is not None:
                self.progress(state.iteration, cost)
            if state.iteration >= self.total_steps:
                break
            if stop_requested is not None and batch < last and stop_requested():
                state.batch_in_epoch, state.epoch_order = batch + 1, order
                state.epoch_cost_sum, state.epoch_seen = total_cost, seen
                return
        state.batch_in_epoch, state.epoch_order = 0, None
        state.epoch += 1
        _report_epoch(self.progress, state.epoch, total_cost / seen)
        finished = state.epoch >= self.total_epochs or state.iteration >= self.total_steps
        if state.epoch % self.record_every == 0 or finished:
            if self.gram is not None:
                self.gram.sync()
            if not _parameters_finite(net):
                raise _diverged(f"at epoch {state.epoch}", state.last_good_cost, self.optimizer.learning_rate)
            _, accuracy = _evaluate(net, self.X, self.Y)
            if self.record(total_cost / seen, accuracy):
                state.stopped_early = True


def _report_epoch(progress: ProgressCallback | None, epoch: int, cost: float) -> None:
    # a progress callback may also take whole epochs (their mean mini-batch cost)
    if progress is not None and hasattr(progress, "epoch_done"):
        progress.epoch_done(epoch, cost)


def _normalize_keep_probs(keep_probs: float | Sequence[float] | None, n_hidden: int) -> list[float] | None:
    if keep_probs is None:
        return None
    probs = [float(keep_probs)] * n_hidden if isinstance(keep_probs, (int, float)) else [float(k) for k in keep_probs]
    if len(probs) != n_hidden:
        raise ValueError(f"{n_hidden} hidden layers need {n_hidden} keep probabilities, got {len(probs)}")
    for k in probs:
        if not 0 < k <= 1:
            raise ValueError(f"a keep probability must be in (0, 1], got {k}")
    return probs if any(k < 1 for k in probs) else None


# overflow is detected in the loop (a non-finite cost or parameter), not reported as a warning
@np.errstate(over="ignore", invalid="ignore")
def train(
    network: Network,
    X: np.ndarray,
    Y: np.ndarray,
    *,
    learning_rate: float,
    iterations: int | None = None,
    epochs: int | None = None,
    batch_size: int | None = None,
    shuffle: bool = True,
    record_every: int = 100,
    X_test: np.ndarray | None = None,
    Y_test: np.ndarray | None = None,
    X_val: np.ndarray | None = None,
    Y_val: np.ndarray | None = None,
    optimizer: Optimizer | None = None,
    schedule: Schedule | None = None,
    l2_lambda: float = 0.0,
    keep_probs: float | Sequence[float] | None = None,
    rng: np.random.Generator | None = None,
    early_stopping: EarlyStopping | None = None,
    keep_best: bool = False,
    progress: ProgressCallback | None = None,
    state: TrainState | None = None,
    on_epoch_end: Callable[[TrainState], None] | None = None,
    stop_requested: Callable[[], bool] | None = None,
    first_layer: str = "auto",
    gram_budget_mb: float = DEFAULT_GRAM_BUDGET_MB,
) -> TrainResult:
    """Train ``network`` (changed in place) on ``X (n_x, m)``, ``Y (n[L], m)``.

    The budget is ``iterations`` (update steps) or ``epochs`` (passes over the data); with full
    batches the two are the same. ``keep_probs`` (one per hidden layer, or one for all) turns on
    inverted dropout; ``l2_lambda`` the L2 penalty. With a validation set, ``early_stopping``
    stops once its validation cost stops improving, and it or ``keep_best`` leaves the network
    with the parameters of the best validation cost. Pass a ``state`` (with the optimizer and
    generator saved alongside it) to resume; ``on_epoch_end(state)`` runs after every epoch.

    ``stop_requested()`` is asked after every mini-batch update (it should only read a flag): when
    it says yes in the middle of an epoch, the epoch stops there, its position is kept in the state
    (``batch_in_epoch``...) and ``on_epoch_end`` runs at once, so that it can save the state and end
    the run; training from that state (with the parameters, optimizer and generator as they are
    then) continues the epoch with the very same batches. With full batches every epoch is one
    step, so ``on_epoch_end`` already runs after every update (on the Gram path too, once a stop
    is requested).

    ``first_layer`` (auto, plain or gram) chooses how layer 1 is trained: see
    :mod:`dnncli.training.gram`. On the Gram path ``W1`` is only formed when needed, so
    ``on_epoch_end`` runs (with ``W1`` and the optimizer's state in explicit form) every
    ``record_every`` epochs, at the last epoch, at least every second and when ``stop_requested()``,
    not after every epoch.
    """
    if (iterations is None) == (epochs is None):
        raise ValueError("give the budget as iterations or as epochs (one of them)")
    m = X.shape[1]
    full_batch = batch_size is None or batch_size >= m
    steps_per_epoch = 1 if full_batch else n_batches(m, batch_size)
    total_steps = iterations if iterations is not None else epochs * steps_per_epoch
    total_epochs = epochs if epochs is not None else math.ceil(iterations / steps_per_epoch)
    has_val = X_val is not None and Y_val is not None
    if (early_stopping is not None or keep_best) and not has_val:
        raise ValueError("early stopping and keep_best need a validation set")

    state = state or TrainState()
    optimizer = optimizer or GradientDescent(learning_rate)
    path, why = choose_first_layer(
        first_layer,
        layer_sizes=network.layer_sizes,
        m=m,
        epochs=max(total_epochs - state.epoch, 1),
        optimizer=getattr(optimizer, "name", "gd"),
        itemsize=X.dtype.itemsize,
        budget_mb=gram_budget_mb,
        evaluations=max(total_epochs - state.epoch, 1) // record_every,
        has_state=bool(getattr(optimizer, "v", None)),
        in_memory=isinstance(X, np.ndarray),
    )
    if state.tracker is None and (early_stopping is not None or keep_best):
        state.tracker = early_stopping or EarlyStopping(patience=None)
    run = _Run(
        network=network,
        X=X,
        Y=Y,
        X_test=X_test if Y_test is not None else None,
        Y_test=Y_test,
        X_val=X_val if has_val else None,
        Y_val=Y_val,
        optimizer=optimizer,
        schedule=schedule or Schedule("constant", learning_rate),
        batch_size=None if full_batch else batch_size,
        shuffle=shuffle,
        l2_lambda=float(l2_lambda),
        keep_probs=_normalize_keep_probs(keep_probs, network.L - 1),
        rng=rng if rng is not None else np.random.default_rng(0),
        gram=GramFirstLayer(network, X) if path == "gram" else None,
        record_every=record_every,
        total_steps=total_steps,
        total_epochs=total_epochs,
        state=state,
        progress=progress,
        stop_requested=stop_requested,
    )

    # a step's largest product decides the BLAS threads (dnncli.training.threads)
    step = m if full_batch else batch_size
    product = network.layer_sizes[1] * m * step if run.gram is not None else largest_product(network.layer_sizes, step)
    with limited_blas_threads(blas_threads(product)):
        start = last_hook = time.perf_counter()
        if not full_batch and not state.history.rows:
            state.initial_cost, accuracy = _evaluate(network, X, Y, run.l2_lambda)
            state.last_good_cost = state.initial_cost
            _report_epoch(progress, 0, state.initial_cost)
            state.stopped_early = run.record(state.initial_cost, accuracy)
        while state.epoch < total_epochs and state.iteration < total_steps and not state.stopped_early:
            run.optimizer.learning_rate = run.schedule(state.epoch)
            if full_batch:
                run.full_batch_epoch()
            else:
                run.mini_batch_epoch()
            if on_epoch_end is not None:
                if run.gram is None:
                    on_epoch_end(state)
                elif _hook_due(run, last_hook):
                    with run.gram.explicit_optimizer_state(run.optimizer):
                        run.gram.sync()
                        on_epoch_end(state)
                    last_hook = time.perf_counter()
        if run.gram is not None:
            run.gram.sync()
        state.seconds += time.perf_counter() - start
        result = _finish(run)
    result.first_layer, result.first_layer_reason = path, why
    return result


def _hook_due(run: _Run, last_hook: float) -> bool:
    """On the Gram path: every ``record_every`` epochs, at the end, at least every second, and
    when a stop is requested (an epoch cut short included)."""
    state = run.state
    return (
        state.epoch % run.record_every == 0
        or state.epoch >= run.total_epochs
        or state.iteration >= run.total_steps
        or state.stopped_early
        or (run.stop_requested is not None and run.stop_requested())  # stop after this step
        or time.perf_counter() - last_hook >= 1.0
    )


def _finish(run: _Run) -> TrainResult:
    """Restore the best parameters if asked, evaluate, add the final row of a full-batch run."""
    state, network = run.state, run.network
    tracker = state.tracker
    restored = tracker is not None and tracker.restore(network.params)

    AL, caches = network.forward(run.X)
    final_cost = network.cost(AL, caches, run.Y, run.l2_lambda)
    if not math.isfinite(final_cost) or not _parameters_finite(network):
        raise _diverged("after the last iteration", state.last_good_cost, run.optimizer.learning_rate)
    train_accuracy = network.accuracy(AL, run.Y)
    regression = network.output_activation == "linear"
    scores: dict[str, float | None] = {}
    if regression:
        scores.update({f"train_{k}": v for k, v in regression_scores(AL, run.Y).items()})
    del AL, caches
    test_accuracy = test_cost = None
    if run.X_test is not None:
        AL_test, caches_test = network.forward(run.X_test)
        test_accuracy = network.accuracy(AL_test, run.Y_test)
        test_cost = network.cost(AL_test, caches_test, run.Y_test)
        if regression:
            scores.update({f"test_{k}": v for k, v in regression_scores(AL_test, run.Y_test).items()})
    val_cost = val_accuracy = None
    if run.X_val is not None:
        AL_val, caches_val = network.forward(run.X_val)
        val_cost, val_accuracy = network.cost(AL_val, caches_val, run.Y_val), network.accuracy(AL_val, run.Y_val)
        if regression:
            scores.update({f"val_{k}": v for k, v in regression_scores(AL_val, run.Y_val).items()})
    if run.batch_size is None and not restored and not state.stopped_early:
        row: dict[str, float | int | None] = {
            "iteration": state.iteration,
            "cost": final_cost,
            "train_accuracy": train_accuracy,
            "test_accuracy": test_accuracy,
        }
        if run.X_val is not None:
            row["val_cost"], row["val_accuracy"] = val_cost, val_accuracy
        if run.schedule.name != "constant":
            row["learning_rate"] = run.schedule(state.epoch)
        state.history.record(**row)
    return TrainResult(
        network=network,
        history=state.history,
        initial_cost=state.initial_cost,
        final_cost=final_cost,
        train_accuracy=train_accuracy,
        test_accuracy=test_accuracy,
        test_cost=test_cost,
        iterations=state.iteration,
        seconds=state.seconds,
        epochs=state.epoch,
        val_cost=val_cost,
        val_accuracy=val_accuracy,
        best_epoch=tracker.best_epoch if tracker is not None else None,
        restored_best=restored,
        stopped_early=state.stopped_early,
        state=state,
        scores=scores,
    )
