"""The supervisor's copies of the last good parameters: after every epoch for small networks, and
for large ones only as often as keeps the copying under a hundredth of the training time."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from dnncli.network.model import Network
from dnncli.run import supervisor as supervision
from dnncli.run.checkpoint import RunSection
from dnncli.run.supervisor import StopRequest, Supervisor
from dnncli.training.state import TrainState


def _supervised(tmp_path: Path, layers: list[int], clock: list[float], monkeypatch) -> tuple[Supervisor, Network, TrainState]:
    monkeypatch.setattr(supervision.time, "perf_counter", lambda: clock[0])
    network = Network.create(layers, ["relu", "sigmoid"], "xavier", 1)
    state = TrainState()
    watcher = Supervisor(network, np.random.default_rng(0), state, tmp_path / "checkpoint.h5", None,
                         StopRequest(), run_section=lambda: RunSection("", str(tmp_path)))
    return watcher, network, state


def _epoch(watcher: Supervisor, network: Network, state: TrainState, clock: list[float], seconds: float) -> None:
    clock[0] += seconds
    network.params["W1"] += 1.0  # an update step
    state.iteration += 1
    state.epoch += 1
    watcher.on_epoch_end(state, dict)


def _kept_iteration(watcher: Supervisor, network: Network) -> int:
    X, Y = np.zeros((network.layer_sizes[0], 2)), np.array([[0.0, 1.0]])
    kept = watcher.last_good(X, Y)
    assert kept is not None
    # the copy holds the parameters of that iteration: W1 grew by one per step
    assert np.allclose(kept[0].params["W1"] - kept[1], network.params["W1"] - watcher.state.iteration)
    return kept[1]


def test_small_networks_are_copied_after_every_epoch(tmp_path, monkeypatch) -> None:
    clock = [0.0]
    watcher, network, state = _supervised(tmp_path, [3, 4, 1], clock, monkeypatch)
    for _ in range(3):
        _epoch(watcher, network, state, clock, 1e-9)
        assert _kept_iteration(watcher, network) == state.iteration


def test_large_networks_are_copied_once_a_hundred_copies_time_has_passed(tmp_path, monkeypatch) -> None:
    clock = [0.0]
    copy = np.copyto

    def slow_copy(dst, src, **kwargs) -> None:  # the four arrays' copy takes a millisecond
        copy(dst, src, **kwargs)
        clock[0] += 0.00025

    monkeypatch.setattr(supervision.np, "copyto", slow_copy)
    watcher, network, state = _supervised(tmp_path, [40_000, 4, 1], clock, monkeypatch)  # 1.3 MB
    assert sum(p.nbytes for p in network.params.values()) >= supervision.SNAPSHOT_ALWAYS_BYTES
    _epoch(watcher, network, state, clock, 0.06)
    assert _kept_iteration(watcher, network) == 0
    _epoch(watcher, network, state, clock, 0.06)
    assert _kept_iteration(watcher, network) == 2
    _epoch(watcher, network, state, clock, 0.06)
    assert _kept_iteration(watcher, network) == 2

