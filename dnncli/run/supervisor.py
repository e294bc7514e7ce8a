"""Watching a training run between epochs: periodic checkpoints, the last good parameters, and
SIGINT / SIGTERM turned into a clean stop after the current update step (the training loop reads
the flag after every mini-batch and then ends the epoch early) instead of a crash in the middle of
an update.
"""

from __future__ import annotations

import contextlib
import copy
import math
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from dnncli.network.model import Network
from dnncli.run.checkpoint import RunSection, save_checkpoint
from dnncli.training.settings import Hooks
from dnncli.training.state import TrainState

SIGNAL_NAMES = {signal.SIGINT: "SIGINT", signal.SIGTERM: "SIGTERM"}
# the parameters are copied after every epoch when they take under a megabyte (microseconds);
# larger ones only once the time since the last copy is a hundred times what it took (the cat
# network's 2 MB in float64 take about 0.4 ms, a thirtieth of a full-batch Adam step)
SNAPSHOT_ALWAYS_BYTES = 1 << 20
SNAPSHOT_SHARE = 0.01


@dataclass
class StopRequest:
    """Set by a signal handler; read by the training loop after every update step."""

    signum: int | None = None


class StopNow(KeyboardInterrupt):
    """A second signal while stopping: give up waiting for the end of the step (a
    KeyboardInterrupt, so that wherever it lands the command line reports it in one line)."""

    def __init__(self, signum: int) -> None:
        super().__init__(SIGNAL_NAMES.get(signum, str(signum)))
        self.signum = signum


@contextlib.contextmanager
def deferred_signals() -> Iterator[StopRequest]:
    """Within the block, SIGINT and SIGTERM only ask the run to stop; a second one stops it now."""
    request = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield request  # signal handlers can only be set from the main thread
        return

    def handler(signum: int, frame: Any) -> None:
        if request.signum is not None:
            raise StopNow(signum)
        request.signum = signum

    previous = {signum: signal.signal(signum, handler) for signum in SIGNAL_NAMES}
    try:
        yield request
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


class StopRequested(Exception):
    """Raised by the epoch hook once the checkpoint of a requested stop is written."""

    def __init__(self, signum: int, state: TrainState) -> None:
        super().__init__(SIGNAL_NAMES.get(signum, str(signum)))
        self.signum, self.state = signum, state


class Supervisor(Hooks):
    """The hooks that make a run safe to stop: after every epoch the engine reports (on the Gram
    path not every epoch: see :mod:`dnncli.training.first_layer`) it copies the parameters into
    one of two reusable buffers (if the newer copy turns out to diverge, the older one is still
    good; a copy of over ``SNAPSHOT_ALWAYS_BYTES`` that would cost more than ``SNAPSHOT_SHARE`` of
    the training time waits for a later epoch), writes a checkpoint once ``checkpoint_every``
    epochs and ``checkpoint_min_seconds`` seconds have passed since the last one, and stops the
    run when a signal asked for it. The engine also reports at once an epoch that a signal cut
    short (``state.batch_in_epoch > 0``): the checkpoint then holds the position inside the epoch.
    """

    def __init__(
        self,
        network: Network,
        rng: np.random.Generator,
        state: TrainState,
        checkpoint_path: Path,
        checkpoint_every: int | None,
        stop: StopRequest,
        run_section: Callable[[], RunSection],
        finished: Callable[[TrainState], bool] = lambda state: False,
        checkpoint_min_seconds: float = 0.0,
    ) -> None:
        self.network, self.rng, self.state = network, rng, state
        self.checkpoint_path, self.checkpoint_every = checkpoint_path, checkpoint_every
        self.stop, self.finished = stop, finished
        # the run's section of every checkpoint, made at the first one (the data fingerprint
        # reads all the training data)
        self._run_section, self._run_section_made = run_section, None
        self.saved_iteration: int | None = None
        self._last_checkpoint_epoch = state.epoch
        self.checkpoint_min_seconds = checkpoint_min_seconds
        self._last_checkpoint_time = time.monotonic()
        self._buffers = [
            {k: np.empty_like(v) for k, v in network.params.items()} for _ in range(2)
        ]
        self._snapshot_iterations: list[int | None] = [None, None]
        self._newest = 1
        self._snapshot_at = self._snapshot_seconds = 0.0
        self._parameter_bytes = sum(v.nbytes for v in network.params.values())
        self.snapshot()

    # ---- the hooks ------------------------------------------------------------------------

    def stop_requested(self) -> bool:
        return self.stop.signum is not None  # asked after every update: only a flag

    def epoch_end_due(self, state: TrainState, recorded: bool) -> bool:
        """Only when a checkpoint is due: the last good parameters are kept from whichever epochs
        the engine reports (on the Gram path at least one a second)."""
        # ">=" rather than "epoch % every": on the Gram path the hook skips epochs
        return bool(
            self.checkpoint_every
            and state.epoch - self._last_checkpoint_epoch >= self.checkpoint_every
            and time.monotonic() - self._last_checkpoint_time >= self.checkpoint_min_seconds
        )

    def on_epoch_end(self, state: TrainState, optimizer_state: Callable[[], dict[str, Any]]) -> None:
        if self._snapshot_due():
            self.snapshot()
        if self.epoch_end_due(state, recorded=False):
            self.save(optimizer_state())
        if self.stop.signum is not None and not self.finished(state):  # done anyway: finish it
            if self.saved_iteration != state.iteration:
                self.save(optimizer_state())
            raise StopRequested(self.stop.signum, state)

    def _snapshot_due(self) -> bool:
        if self._parameter_bytes < SNAPSHOT_ALWAYS_BYTES:
            return True
        return time.perf_counter() - self._snapshot_at >= self._snapshot_seconds / SNAPSHOT_SHARE

    def snapshot(self) -> None:
        start = time.perf_counter()
        slot = 1 - self._newest
        for key, value in self.network.params.items():
            np.copyto(self._buffers[slot][key], value)
        self._snapshot_iterations[slot] = self.state.iteration
        self._newest = slot
        self._snapshot_at = time.perf_counter()
        self._snapshot_seconds = self._snapshot_at - start

    def save(self, optimizer_state: dict[str, Any]) -> None:
        if self._run_section_made is None:
            self._run_section_made = self._run_section()
        save_checkpoint(
            self.checkpoint_path,
            self.network.params,
            optimizer_state,
            self.rng.bit_generator.state,
            self.state,
            self._run_section_made,
        )
        self.saved_iteration = self.state.iteration
        self._last_checkpoint_epoch = self.state.epoch
        self._last_checkpoint_time = time.monotonic()

    # ---- after a divergence --------------------------------------------------------------

    @np.errstate(over="ignore", invalid="ignore")
    def last_good(
        self, X: np.ndarray, Y: np.ndarray, max_cost: float = math.inf
    ) -> tuple[Network, int, float] | None:
        """The newest snapshot whose parameters are finite and whose full-data cost is at most
        ``max_cost`` (a cost that grew by orders of magnitude is divergence too): the network,
        its iteration and its cost."""
        for slot in (self._newest, 1 - self._newest):
            iteration = self._snapshot_iterations[slot]
            params = self._buffers[slot]
            if iteration is None or not all(np.isfinite(p).all() for p in params.values()):
                continue
            candidate = copy.copy(self.network)
            candidate.params = {k: v.copy() for k, v in params.items()}
            cost = candidate.compute_cost(X, Y)
            if math.isfinite(cost) and cost <= max_cost:
                return candidate, iteration, float(cost)
        return None
