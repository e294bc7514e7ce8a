"""One readable training loop: epochs of (mini-)batches, each step forward, cost, backward, update.

Full-batch gradient descent (the default) is the course's loop: one step per epoch, the cost
recorded at iteration ``i`` is that of the parameters after ``i`` updates, and a last row at
``iterations`` holds the cost of the trained parameters.

With mini-batches (``batch_size``) every epoch shuffles the examples with the run's generator and
takes one step per batch. Row 0 holds the initial parameters; a row is then recorded after every
``record_every`` epochs (and after the last): its cost is the mean of that epoch's mini-batch costs
(as the course and scikit-learn report it), its accuracies those of the parameters at the epoch's end.

Every random draw (shuffling, dropout masks) comes from one ``numpy.random.Generator``. The
parameters, the generator's ``bit_generator.state`` and the :class:`TrainState` (the optimizer's
moments included) are all it takes to resume a run with identical steps, at an epoch boundary or
in the middle of an epoch that a stop request cut short.

How layer 1 is trained (plain, or the Gram path) is the :class:`FirstLayer`'s business: this loop
only calls its ``forward``, ``cost``, ``backward``, ``step``, ``sync`` and ``sync_due``, and at the
end has it hand the optimizer back (``hand_back_optimizer``).

``train`` is three steps: ``_plan`` (the budget, where the run starts, which first layer),
``_Loop.run`` (the epochs) and ``_finish`` (the final evaluation and the result).
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

import numpy as np

from dnncli.errors import TrainingDiverged
from dnncli.network.model import Network
from dnncli.network.scores import regression_scores
from dnncli.training import health
from dnncli.training.batches import batch_selectors, epoch_order, n_batches
from dnncli.training.first_layer import FIRST_LAYERS, FirstLayer, first_layer_for, make_first_layer, whole_set_forward
from dnncli.training.settings import Examples, Hooks, TrainData, TrainPlan, TrainSettings, normalize_keep_probs
from dnncli.training.state import TrainResult, TrainState
from dnncli.compute.threads import IdleSample, blas_threads, limited_blas_threads


def _parameters_finite(network: Network) -> bool:
    return all(np.isfinite(p).all() for p in network.params.values())


def _evaluate(network: Network, examples: Examples, l2_lambda: float = 0.0, block: int | None = None) -> tuple[float, float | None]:
    """Cost and accuracy of the current parameters, without dropout."""
    AL, caches = whole_set_forward(network, examples.X, block)
    return network.cost(AL, caches, examples.Y, l2_lambda), network.accuracy(AL, examples.Y)


def _r2_columns(network: Network, data: TrainData, parts: Sequence[tuple[Any, ...]]) -> dict[str, float | None]:
    """R^2 of each named part, and a table's RMSE in the target's units: ``(name, X, Y)``, or
    ``(name, examples)`` (None: no such set)."""
    columns: dict[str, float | None] = {}
    for name, *arrays in parts:
        if arrays[0] is None:
            continue
        X, Y = (arrays[0].X, arrays[0].Y) if len(arrays) == 1 else arrays
        # each set as its scoring passes take it: a block of examples at a time where it must
        block = arrays[0].score_block if len(arrays) == 1 else data.score_block
        in_blocks = hasattr(X, "chunks") or block is not None
        AL = whole_set_forward(network, X, block)[0] if in_blocks else network.predict_proba(X)
        found = regression_scores(AL, Y, scale=data.target_scale, mean=data.target_mean)
        columns[f"{name}_r2"] = found["r2"]
        if data.task is not None:  # a table's target: its RMSE in its own units
            columns[f"{name}_rmse"] = found["rmse"]
    return columns


def _diverged(where: str, last_good_cost: float, learning_rate: float) -> TrainingDiverged:
    return TrainingDiverged(
        f"training diverged {where}: the cost or the parameters are not finite (last finite cost "
        f"{last_good_cost:.6g}); try a lower learning rate than {learning_rate:g}"
    )


@dataclass
class _Loop:
    """One ``train`` call's epochs (``run``), its history rows and its divergence checks, with the
    call's fixed inputs kept here so that each of them stays short."""

    network: Network
    first: FirstLayer
    data: TrainData
    settings: TrainSettings
    keep_probs: tuple[float, ...] | None
    rng: np.random.Generator
    state: TrainState
    hooks: Hooks
    # the last epoch's pass over the whole training set, when it is the network's own
    # (``FirstLayer.forward_is_the_networks``): ``_finish`` reports from it instead of making the
    # same pass again, ``(iteration, A[L], caches)``
    final_pass: tuple[int, np.ndarray, list[Any]] | None = None

    @property
    def batch_size(self) -> int | None:
        return None if self.settings.full_batch(self.data.m) else self.settings.batch_size

    def diverged(self, where: str) -> TrainingDiverged:
        return _diverged(where, self.state.last_good_cost, self.state.optimizer.learning_rate)

    def check_cost(self, cost: float, where: str) -> None:
        """Divergence: a cost that is not finite, or that grew by orders of magnitude
        (:mod:`dnncli.training.health`), which a NaN would only follow later."""
        if not math.isfinite(cost):
            raise self.diverged(where)
        if cost > health.cost_limit(self.state.initial_cost):
            raise TrainingDiverged(
                f"training diverged {where}: {health.growth_message(cost, self.state.initial_cost)}; "
                f"try a lower learning rate than {self.state.optimizer.learning_rate:g}"
            )

    def evaluate(self, examples: Examples) -> tuple[float, float | None]:
        """The loss (no L2 term) and accuracy of the current parameters on a test or validation
        set, without dropout: through the first layer, which on the Gram path needs no ``W1``."""
        AL, caches = self.first.evaluation_forward(examples.X, examples.score_block)
        return self.first.cost(AL, caches, examples.Y), self.network.accuracy(AL, examples.Y)

    def training_accuracy(self, last: bool = False) -> float | None:
        """The accuracy of the current parameters on the training set, without dropout; ``last``:
        the run's last row, whose pass the final metrics reuse when it is the very pass
        ``_finish`` would make (``FirstLayer.forward_is_the_networks``)."""
        AL, caches = self.first.scoring_forward(self.data.score_block)
        if last and self.first.forward_is_the_networks:
            self.final_pass = (self.state.iteration, AL, caches)
        return self.network.accuracy(AL, self.data.Y)

    def record(self, cost: float, train_accuracy: float | None) -> bool:
        """A history row for the current parameters; True if early stopping says stop."""
        state, net, data = self.state, self.network, self.data
        if net.is_regression or state.tracker is not None:
            # R^2 runs the network itself; early stopping keeps the best parameters: W1 formed
            self.first.sync()
        test = self.evaluate(data.test) if data.test is not None else None
        r2: dict[str, float | None] = {}
        if net.is_regression:
            r2 = _r2_columns(net, data, (("train", data.X, data.Y), ("test", data.test), ("val", data.validation)))
        validation = self.evaluate(data.validation) if data.validation is not None else None
        stop = False
        if validation is not None and state.tracker is not None:
            stop = state.tracker.check(state.epoch, validation[0], net.params)
        self.add_row(cost, train_accuracy, test, validation, r2)
        return stop

    def add_row(
        self,
        cost: float,
        train_accuracy: float | None,
        test: tuple[float, float | None] | None,
        validation: tuple[float, float | None] | None,
        r2: dict[str, float | None],
    ) -> None:
        """Record the history row of the current iteration and tell the hooks. ``test`` and
        ``validation``: the set's loss (no L2 term: the fit alone, comparable with the training
        cost's) and accuracy, None without the set; ``r2``: a regression's ``<set>_r2`` (R^2
        where classifiers have accuracies)."""
        state = self.state
        row: dict[str, float | int | None] = {"iteration": state.iteration}
        if self.batch_size is not None:
            row["epoch"] = state.epoch
        row.update(cost=cost, train_accuracy=train_accuracy, test_accuracy=None)
        if test is not None:
            row["test_cost"], row["test_accuracy"] = test
        row.update(r2)
        if validation is not None:
            row["val_cost"], row["val_accuracy"] = validation
        if self.settings.schedule != "constant":
            row["learning_rate"] = self.settings.rate(state.epoch)  # the rate of the epoch that follows
        state.history.record(**row)
        self.hooks.on_record(row)

    def full_batch_epoch(self) -> None:
        state, net, first, Y = self.state, self.network, self.first, self.data.Y
        i, l2_lambda = state.iteration, self.settings.l2_lambda
        recorded = i % self.settings.record_every == 0
        AL, caches = first.forward(None, self.keep_probs, self.rng)
        cost = first.cost(AL, caches, Y, l2_lambda)
        if recorded and not first.parameters_finite():
            raise self.diverged(f"at iteration {i}")
        self.check_cost(cost, f"at iteration {i}")
        state.last_good_cost = cost
        if i == 0:
            state.initial_cost = cost
        if recorded:
            # with dropout, A[L] is the thinned network's: the accuracy is measured without it
            accuracy = net.accuracy(AL, Y) if self.keep_probs is None else self.training_accuracy()
            if self.record(cost, accuracy):
                state.stopped_early = True
                return
        grads = first.backward(AL, Y, caches, l2_lambda, state.optimizer)
        del caches, AL  # free the activations before the update allocates
        first.step(state.optimizer, grads)
        state.iteration += 1
        state.epoch += 1
        self.hooks.on_step(state.iteration, cost)

    def mini_batch_epoch(self) -> None:
        """One epoch of mini-batches (or what is left of one). If a stop request cuts it short
        after an update, its position stays in the state (``batch_in_epoch > 0``)."""
        state, first, Y = self.state, self.first, self.data.Y
        settings, m = self.settings, self.data.m
        start = state.batch_in_epoch
        if start:  # continuing a cut-short epoch: its batches, the generator where it stopped
            order, total_cost, seen = state.epoch_order, state.epoch_cost_sum, state.epoch_seen
        else:
            order, total_cost, seen = epoch_order(m, self.rng if settings.shuffle else None), 0.0, 0
        last = n_batches(m, self.batch_size) - 1
        total_steps = settings.total_steps(m)
        for batch, columns in enumerate(batch_selectors(m, self.batch_size, order, start), start):
            Y_batch = Y[:, columns]
            AL, caches = first.forward(columns, self.keep_probs, self.rng)
            cost = first.cost(AL, caches, Y_batch, settings.l2_lambda)
            self.check_cost(cost, f"at epoch {state.epoch}, iteration {state.iteration}")
            state.last_good_cost = cost
            total_cost += cost * Y_batch.shape[1]
            seen += Y_batch.shape[1]
            grads = first.backward(AL, Y_batch, caches, settings.l2_lambda, state.optimizer)
            del caches, AL
            first.step(state.optimizer, grads)
            state.iteration += 1
            self.hooks.on_step(state.iteration, cost)
            if state.iteration >= total_steps:
                break
            if batch < last and self.hooks.stop_requested():
                state.batch_in_epoch, state.epoch_order = batch + 1, order
                state.epoch_cost_sum, state.epoch_seen = total_cost, seen
                return
        state.batch_in_epoch, state.epoch_order = 0, None
        state.epoch += 1
        self.hooks.on_epoch(state.epoch, total_cost / seen)
        last = settings.finished(state, m)
        if state.epoch % settings.record_every == 0 or last:
            if not first.parameters_finite():
                raise self.diverged(f"at epoch {state.epoch}")
            if self.record(total_cost / seen, self.training_accuracy(last)):
                state.stopped_early = True

    def initial_record(self) -> None:
        """Mini-batches: row 0 holds the initial parameters' cost over the whole training set."""
        state = self.state
        examples = Examples(self.data.X, self.data.Y)
        state.initial_cost, accuracy = _evaluate(self.network, examples, self.settings.l2_lambda, self.data.score_block)
        state.last_good_cost = state.initial_cost
        self.hooks.on_epoch(0, state.initial_cost)
        state.stopped_early = self.record(state.initial_cost, accuracy)

    def run(self, clock: _SegmentClock) -> None:
        """Epochs until the budget is spent or early stopping ends the run, the epoch hook
        after each (when the first layer says it is due), W1 formed at the end."""
        state, settings, first, hooks = self.state, self.settings, self.first, self.hooks
        epoch = self.full_batch_epoch if self.batch_size is None else self.mini_batch_epoch
        if self.batch_size is not None and not state.history.rows:
            self.initial_record()
        while not settings.finished(state, self.data.m):
            state.optimizer.learning_rate = settings.rate(state.epoch)
            epoch()
            if first.sync_due(self.epoch_end_needed):
                first.sync()
                clock.tick()  # a checkpoint written by the hook holds the time so far
                with clock.held():  # a stop raised by the hook keeps exactly that time
                    hooks.on_epoch_end(state, self.optimizer_state)
        first.sync()

    def epoch_end_needed(self) -> bool:
        """Whether the epoch hook must see the epoch that just ended (asked where forming W1
        for it costs: see ``FirstLayer.sync_due``): the end, a stop request (the hook saves
        the state) or a hook that says it is due."""
        state, hooks = self.state, self.hooks
        return (
            self.settings.finished(state, self.data.m)
            or hooks.stop_requested()
            or hooks.epoch_end_due(state, recorded=state.epoch % self.settings.record_every == 0)
        )

    def optimizer_state(self) -> dict[str, Any]:
        """The optimizer's state dict with the parameters in explicit form (what a checkpoint saves)."""
        return self.first.explicit_optimizer_state(self.state.optimizer.state_dict())


# overflow is detected in the loop (a non-finite cost or parameter), not reported as a warning
@np.errstate(over="ignore", invalid="ignore")
def train(
    network: Network,
    data: TrainData,
    settings: TrainSettings,
    *,
    rng: np.random.Generator | None = None,
    state: TrainState | None = None,
    hooks: Hooks | None = None,
    idle_since: IdleSample | None = None,
) -> TrainResult:
    """Train ``network`` (changed in place) on ``data`` as ``settings`` say.

    ``rng`` draws every random number (shuffling, dropout masks). Pass the ``state`` of an earlier
    call (with the network's parameters and ``rng`` as that call left them) to continue it with
    the very same steps. ``hooks`` hear every step and epoch and may ask the run to stop: a stop
    requested in the middle of an epoch of mini-batches ends the epoch there, keeps its position
    in the state and runs ``hooks.on_epoch_end`` at once, so that the caller can save the state;
    training from that state continues the epoch with the same batches.

    ``settings.first_layer`` (auto, plain or gram) chooses how layer 1 is trained: see
    :mod:`dnncli.training.first_layer`. ``idle_since``: a sample of the CPUs' ticks taken when the
    caller began (before reading the data): the idle cores that decide a large run's threads are
    measured since then instead of over a window waited for here
    (:func:`dnncli.compute.threads.idle_cores`).
    """
    if (settings.early_stopping or settings.keep_best) and data.validation is None:
        raise ValueError("early stopping and keep_best need a validation set")
    state = _ready_state(settings, state)
    hooks = hooks or Hooks()
    plan = _plan(network, data, settings, state)
    clock = _SegmentClock(state)
    # a step's largest product decides the BLAS threads (dnncli.compute.threads), once per run:
    # products over another number of threads round differently, so a resumed run keeps it
    if state.threads is None:
        batch = data.m if settings.full_batch(data.m) else settings.batch_size
        product = FIRST_LAYERS[plan.first_layer].largest_product(network.layer_sizes, data.m, batch)
        state.threads = blas_threads(product, since=idle_since)
    loop: _Loop | None = None
    with limited_blas_threads(state.threads):
        try:
            hooks.on_start(plan)
            loop = _make_loop(plan, network, data, settings, rng, state, hooks)
            loop.run(clock)
        finally:
            clock.tick()  # interrupted, diverged or done: the time spent counts
            if loop is not None:  # a later train() call with this state continues from it
                loop.first.hand_back_optimizer(state.optimizer)
        result = _finish(loop)
    result.first_layer, result.first_layer_reason = plan.first_layer, plan.first_layer_reason
    hooks.on_end(result)
    return result


def _ready_state(settings: TrainSettings, state: TrainState | None) -> TrainState:
    """The state to train from: a new one, or an earlier call's; its optimizer and early-stopping
    tracker made from the settings if it has none yet."""
    state = state if state is not None else TrainState()
    if state.optimizer is None:
        state.optimizer = settings.make_optimizer()
    if state.tracker is None:
        state.tracker = settings.make_tracker()
    return state


def _make_loop(
    plan: TrainPlan,
    network: Network,
    data: TrainData,
    settings: TrainSettings,
    rng: np.random.Generator | None,
    state: TrainState,
    hooks: Hooks,
) -> _Loop:
    """The loop of ``plan``, with its first layer (within the run's BLAS threads: the Gram path
    computes G = X^T X and P = W1_0 X here, in the run's time)."""
    evaluation_sets = [part.X for part in (data.test, data.validation) if part is not None]
    records = _epochs_left(settings, state, data.m) // settings.record_every + 1
    return _Loop(
        network=network,
        first=make_first_layer(plan.first_layer, network, data.X, evaluation_sets, records),
        data=data,
        settings=settings,
        keep_probs=normalize_keep_probs(settings.keep_prob, network.L - 1),
        rng=rng if rng is not None else np.random.default_rng(0),
        state=state,
        hooks=hooks,
    )


def _epochs_left(settings: TrainSettings, state: TrainState, m: int) -> int:
    return max(settings.total_epochs(m) - state.epoch, 1)


def _plan(network: Network, data: TrainData, settings: TrainSettings, state: TrainState) -> TrainPlan:
    """What one ``train`` call is about to do: its budget, where it starts, how layer 1 is trained."""
    m, epochs_left = data.m, _epochs_left(settings, state, data.m)
    path, why = first_layer_for(settings, network.layer_sizes, data.X, m, epochs_left, state.optimizer)
    full_batch = settings.full_batch(m)
    return TrainPlan(
        total_steps=settings.total_steps(m),
        total_epochs=settings.total_epochs(m),
        steps_per_epoch=n_batches(m, None if full_batch else settings.batch_size),
        by_epoch=not full_batch,
        budget_in_epochs=settings.epochs is not None,
        examples=m,
        parameters=network.n_params,
        first_layer=path,
        first_layer_reason=why,
        start_iteration=state.iteration,
        start_epoch=state.epoch,
        task=data.task,
    )


class _SegmentClock:
    """The training time of one ``train`` call (a segment of a run that may be interrupted and
    resumed), kept in the state as it goes: ``state.seconds`` is the time of all segments so far,
    ``state.segments`` lists each one."""

    def __init__(self, state: TrainState) -> None:
        self.state, self.start, self.before = state, time.perf_counter(), state.seconds
        self.holding = False
        self.segment: dict[str, float | int] = {
            "from_iteration": state.iteration, "to_iteration": state.iteration, "seconds": 0.0,
        }
        state.segments.append(self.segment)

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """Within the block the time stands still, and stays so if the block raises: a run the
        epoch hook stops (after saving a checkpoint with the time so far) then reports the time
        its checkpoint holds, which a resumed run continues from."""
        self.holding = True
        yield
        self.holding = False

    def tick(self) -> None:
        if self.holding:
            return
        elapsed = time.perf_counter() - self.start
        self.segment["to_iteration"], self.segment["seconds"] = self.state.iteration, elapsed
        self.state.seconds = self.before + elapsed


def _finish(loop: _Loop) -> TrainResult:
    """Restore the best parameters if asked, evaluate, add the final row of a full-batch run."""
    state, network, data = loop.state, loop.network, loop.data
    tracker = state.tracker
    restored = tracker is not None and tracker.restore(network.params)
    final_cost, train_accuracy, scores = _final_training_scores(loop, reuse_last_pass=not restored)
    test = _final_scores(network, data, data.test, "test", scores)
    validation = _final_scores(network, data, data.validation, "val", scores)
    if loop.batch_size is None and not restored and not state.stopped_early:
        r2 = {key: value for key, value in scores.items() if key.endswith(("_r2", "_rmse"))}
        loop.add_row(final_cost, train_accuracy, test, validation, r2)
    test_cost, test_accuracy = test if test is not None else (None, None)
    val_cost, val_accuracy = validation if validation is not None else (None, None)
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
        scores=scores,
    )


def _final_training_scores(
    loop: _Loop, reuse_last_pass: bool
) -> tuple[float, float | None, dict[str, float | None]]:
    """The final parameters' cost (L2 term included) and accuracy on the training set, and a
    regression's R^2 and MAE there; divergence refused. ``reuse_last_pass``: the last row's pass
    over the training set may stand for this one, if it was made with these very parameters."""
    state, network, data = loop.state, loop.network, loop.data
    kept, loop.final_pass = loop.final_pass, None
    if reuse_last_pass and kept is not None and kept[0] == state.iteration:
        _, AL, caches = kept
    else:
        AL, caches = whole_set_forward(network, data.X, data.score_block)
    final_cost = network.cost(AL, caches, data.Y, loop.settings.l2_lambda)
    if not _parameters_finite(network):
        raise loop.diverged("after the last iteration")
    loop.check_cost(final_cost, "after the last iteration")
    return final_cost, network.accuracy(AL, data.Y), _regression_scores(network, data, "train", AL, data.Y)


def _final_scores(
    network: Network, data: TrainData, examples: Examples | None, part: str, scores: dict[str, float | None]
) -> tuple[float, float | None] | None:
    """The loss (no L2 term) and accuracy of a test or validation set (None: no such set); a
    regression's R^2 and MAE on it are added to ``scores`` as ``<part>_r2``, ``<part>_mae``."""
    if examples is None:
        return None
    AL, caches = whole_set_forward(network, examples.X, examples.score_block)
    scores.update(_regression_scores(network, data, part, AL, examples.Y))
    return network.cost(AL, caches, examples.Y), network.accuracy(AL, examples.Y)


def _regression_scores(network: Network, data: TrainData, part: str, AL: np.ndarray, Y: np.ndarray) -> dict[str, float | None]:
    """R^2, RMSE and MAE, the latter two in the target's units (``data.target_scale``)."""
    if not network.is_regression:
        return {}
    found = regression_scores(AL, Y, scale=data.target_scale, mean=data.target_mean)
    rmse = {f"{part}_rmse": found["rmse"]} if data.task is not None else {}  # a table's target, in its units
    return {f"{part}_r2": found["r2"], **rmse, f"{part}_mae": found["mae"]}
