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
only calls its ``forward``, ``cost``, ``backward``, ``sync`` and ``sync_due``.
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
from dnncli.training.first_layer import FIRST_LAYERS, FirstLayer, choose_first_layer, make_first_layer
from dnncli.training.settings import Examples, Hooks, TrainData, TrainPlan, TrainSettings, normalize_keep_probs
from dnncli.training.state import TrainResult, TrainState
from dnncli.compute.threads import IdleSample, blas_threads, limited_blas_threads


def _parameters_finite(network: Network) -> bool:
    return all(np.isfinite(p).all() for p in network.params.values())


def _evaluate(network: Network, examples: Examples, l2_lambda: float = 0.0) -> tuple[float, float | None]:
    """Cost and accuracy of the current parameters, without dropout."""
    AL, caches = network.forward(examples.X)
    return network.cost(AL, caches, examples.Y, l2_lambda), network.accuracy(AL, examples.Y)


def _r2_columns(network: Network, parts: Sequence[tuple[Any, ...]]) -> dict[str, float | None]:
    """R^2 of each named part: ``(name, X, Y)``, or ``(name, examples)`` (None: no such set)."""
    columns: dict[str, float | None] = {}
    for name, *arrays in parts:
        if arrays[0] is None:
            continue
        X, Y = (arrays[0].X, arrays[0].Y) if len(arrays) == 1 else arrays
        columns[f"{name}_r2"] = regression_scores(network.predict_proba(X), Y)["r2"]
    return columns


def _diverged(where: str, last_good_cost: float, learning_rate: float) -> TrainingDiverged:
    return TrainingDiverged(
        f"training diverged {where}: the cost or the parameters are not finite (last finite cost "
        f"{last_good_cost:.6g}); try a lower learning rate than {learning_rate:g}"
    )


@dataclass
class _Loop:
    """The fixed inputs of one ``train`` call, so the epoch functions stay short."""

    network: Network
    first: FirstLayer
    data: TrainData
    settings: TrainSettings
    keep_probs: tuple[float, ...] | None
    rng: np.random.Generator
    state: TrainState
    hooks: Hooks
    # the last epoch's pass over the whole training set (plain path): ``_finish`` reports from it
    # instead of making the same pass again, ``(iteration, A[L], caches)``
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
        AL, caches = self.first.evaluation_forward(examples.X)
        return self.first.cost(AL, caches, examples.Y), self.network.accuracy(AL, examples.Y)

    def training_accuracy(self, last: bool = False) -> float | None:
        """The accuracy of the current parameters on the training set, without dropout; ``last``:
        the run's last row, whose pass the final metrics reuse (on the plain path, where it is
        the very pass ``_finish`` would make)."""
        AL, caches = self.first.forward(None)
        if last and self.first.name == "plain":
            self.final_pass = (self.state.iteration, AL, caches)
        return self.network.accuracy(AL, self.data.Y)

    def record(self, cost: float, train_accuracy: float | None) -> bool:
        """A history row for the current parameters; True if early stopping says stop."""
        state, net, data = self.state, self.network, self.data
        if net.is_regression or state.tracker is not None:
            # R^2 runs the network itself; early stopping keeps the best parameters: W1 formed
            self.first.sync()
        row: dict[str, float | int | None] = {"iteration": state.iteration}
        if self.batch_size is not None:
            row["epoch"] = state.epoch
        row["cost"] = cost
        row["train_accuracy"] = train_accuracy
        row["test_accuracy"] = None
        if data.test is not None:
            # like the validation cost: the loss alone, comparable with the training cost's fit
            row["test_cost"], row["test_accuracy"] = self.evaluate(data.test)
        if net.is_regression:  # R^2 where classifiers have accuracies
            parts = (("train", data.X, data.Y), ("test", data.test), ("val", data.validation))
            row.update(_r2_columns(net, parts))
        stop = False
        if data.validation is not None:
            # the validation cost is the loss alone: the L2 term measures the weights, not the fit
            val_cost, val_accuracy = self.evaluate(data.validation)
            row["val_cost"], row["val_accuracy"] = val_cost, val_accuracy
            if state.tracker is not None:
                stop = state.tracker.check(state.epoch, val_cost, net.params)
        if self.settings.schedule != "constant":
            row["learning_rate"] = self.settings.rate(state.epoch)  # the rate of the epoch that follows
        state.history.record(**row)
        self.hooks.on_record(row)
        return stop

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

    @property
    def data_examples(self) -> Examples:
        return Examples(self.data.X, self.data.Y)

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
        state.initial_cost, accuracy = _evaluate(self.network, self.data_examples, self.settings.l2_lambda)
        state.last_good_cost = state.initial_cost
        self.hooks.on_epoch(0, state.initial_cost)
        state.stopped_early = self.record(state.initial_cost, accuracy)


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
    m = data.m
    if (settings.early_stopping or settings.keep_best) and data.validation is None:
        raise ValueError("early stopping and keep_best need a validation set")
    state = state if state is not None else TrainState()
    if state.optimizer is None:
        state.optimizer = settings.make_optimizer()
    if state.tracker is None:
        state.tracker = settings.make_tracker()
    hooks = hooks or Hooks()
    total_steps, total_epochs = settings.total_steps(m), settings.total_epochs(m)
    epochs_left = max(total_epochs - state.epoch, 1)
    path, why = choose_first_layer(
        settings.first_layer,
        layer_sizes=network.layer_sizes,
        m=m,
        epochs=epochs_left,
        optimizer=settings.optimizer,
        itemsize=data.X.dtype.itemsize,
        budget_mb=settings.gram_budget_mb,
        evaluations=epochs_left // settings.record_every,
        has_state=any(isinstance(v, np.ndarray) for v in state.optimizer.state_dict().values()),
        in_memory=isinstance(data.X, np.ndarray),
    )
    if path == "plain":
        # one vector for all parameters: Adam and RMSProp then step them in one operation
        # (W1, b1... stay views of their own shapes; the same values)
        network.pack_parameters()
    full_batch = settings.full_batch(m)
    plan = TrainPlan(
        total_steps=total_steps,
        total_epochs=total_epochs,
        steps_per_epoch=n_batches(m, None if full_batch else settings.batch_size),
        by_epoch=not full_batch,
        budget_in_epochs=settings.epochs is not None,
        examples=m,
        parameters=network.n_params,
        first_layer=path,
        first_layer_reason=why,
        start_iteration=state.iteration,
        start_epoch=state.epoch,
    )
    clock = _SegmentClock(state)
    # a step's largest product decides the BLAS threads (dnncli.compute.threads), once per run:
    # products over another number of threads round differently, so a resumed run keeps it
    if state.threads is None:
        batch = m if full_batch else settings.batch_size
        product = FIRST_LAYERS[path].largest_product(network.layer_sizes, m, batch)
        state.threads = blas_threads(product, since=idle_since)
    first: FirstLayer | None = None
    with limited_blas_threads(state.threads):
        try:
            hooks.on_start(plan)
            # the Gram path's G = X^T X and P = W1_0 X: with the run's threads, in its time
            evaluation_sets = [part.X for part in (data.test, data.validation) if part is not None]
            first = make_first_layer(path, network, data.X, evaluation_sets, epochs_left // settings.record_every + 1)
            loop = _Loop(
                network=network,
                first=first,
                data=data,
                settings=settings,
                keep_probs=normalize_keep_probs(settings.keep_prob, network.L - 1),
                rng=rng if rng is not None else np.random.default_rng(0),
                state=state,
                hooks=hooks,
            )
            epoch = loop.full_batch_epoch if full_batch else loop.mini_batch_epoch

            def optimizer_state() -> dict:
                return first.explicit_optimizer_state(state.optimizer.state_dict())

            def needed() -> bool:  # the epoch hook after this epoch (asked on the Gram path)
                return (
                    settings.finished(state, m)
                    or hooks.stop_requested()  # stop after this step: the hook saves it
                    or hooks.epoch_end_due(state, recorded=state.epoch % settings.record_every == 0)
                )

            if not full_batch and not state.history.rows:
                loop.initial_record()
            while not settings.finished(state, m):
                state.optimizer.learning_rate = settings.rate(state.epoch)
                epoch()
                if first.sync_due(needed):
                    first.sync()
                    clock.tick()  # a checkpoint written by the hook holds the time so far
                    with clock.held():  # a stop raised by the hook keeps exactly that time
                        hooks.on_epoch_end(state, optimizer_state)
            first.sync()
        finally:
            clock.tick()  # interrupted, diverged or done: the time spent counts
            if first is not None and first.name == "gram":  # the optimizer's state as the plain
                # path keeps it: a later train() call with this state (plain then) continues from it
                state.optimizer.load_state_dict(first.explicit_optimizer_state(state.optimizer.state_dict()))
        result = _finish(loop)
    result.first_layer, result.first_layer_reason = path, why
    hooks.on_end(result)
    return result


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
    state, network, data, settings = loop.state, loop.network, loop.data, loop.settings
    tracker = state.tracker
    restored = tracker is not None and tracker.restore(network.params)

    kept, loop.final_pass = loop.final_pass, None
    if kept is not None and kept[0] == state.iteration and not restored:
        _, AL, caches = kept  # the last row's pass, with these very parameters
    else:
        AL, caches = network.forward(data.X)
    final_cost = network.cost(AL, caches, data.Y, settings.l2_lambda)
    if not _parameters_finite(network):
        raise loop.diverged("after the last iteration")
    loop.check_cost(final_cost, "after the last iteration")
    train_accuracy = network.accuracy(AL, data.Y)
    scores: dict[str, float | None] = {}

    def regression(part: str, outputs: np.ndarray, targets: np.ndarray) -> None:
        if network.is_regression:
            found = regression_scores(outputs, targets)
            scores.update({f"{part}_r2": found["r2"], f"{part}_mae": found["mae"]})

    regression("train", AL, data.Y)
    del AL, caches
    test_accuracy = test_cost = None
    if data.test is not None:
        AL_test, caches_test = network.forward(data.test.X)
        test_accuracy = network.accuracy(AL_test, data.test.Y)
        test_cost = network.cost(AL_test, caches_test, data.test.Y)
        regression("test", AL_test, data.test.Y)
    val_cost = val_accuracy = None
    if data.validation is not None:
        AL_val, caches_val = network.forward(data.validation.X)
        val_cost = network.cost(AL_val, caches_val, data.validation.Y)
        val_accuracy = network.accuracy(AL_val, data.validation.Y)
        regression("val", AL_val, data.validation.Y)
    if loop.batch_size is None and not restored and not state.stopped_early:
        row: dict[str, float | int | None] = {
            "iteration": state.iteration,
            "cost": final_cost,
            "train_accuracy": train_accuracy,
            "test_accuracy": test_accuracy,
        }
        if data.test is not None:
            row["test_cost"] = test_cost
        row.update({k: v for k, v in scores.items() if k.endswith("_r2")})
        if data.validation is not None:
            row["val_cost"], row["val_accuracy"] = val_cost, val_accuracy
        if settings.schedule != "constant":
            row["learning_rate"] = settings.rate(state.epoch)
        state.history.record(**row)
        loop.hooks.on_record(row)
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
