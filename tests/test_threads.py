"""Threads during training: one for small steps, for large ones one more than the cores idle now (within the
affinity mask, the cgroup quota and the caller's limit or DNN_BLAS_THREADS), the user's library setting kept."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from dnncli.compute import resources
from dnncli.compute import threads
from dnncli.compute.threads import (
    SMALL_PRODUCT,
    blas_threads,
    idle_cores,
    largest_product,
    limited_blas_threads,
    parallel,
    run_threads,
)

CAT = largest_product([12288, 20, 7, 5, 1], 209)


@pytest.fixture(autouse=True)
def no_thread_variables(monkeypatch):
    for name in (*threads.THREAD_VARIABLES, threads.CAP_VARIABLE):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def machine(monkeypatch):
    """An 8-CPU machine without quota whose idleness the test sets."""
    state = {"idle": 8.0, "cpus": set(range(8)), "quota": None}
    monkeypatch.setattr(threads.os, "sched_getaffinity", lambda pid: state["cpus"])
    monkeypatch.setattr(resources, "cpu_quota", lambda root=resources.ROOT: state["quota"])
    monkeypatch.setattr(threads, "idle_cores", lambda *a, **k: state["idle"])
    return state


def test_small_steps_take_one_thread_large_ones_the_idle_cores(machine) -> None:
    assert largest_product([784, 128, 64, 10], 64) == 784 * 128 * 64
    assert blas_threads(largest_product([784, 128, 64, 10], 64)) == 1
    assert blas_threads(CAT) == 8
    machine["idle"] = 5.4  # the run's own thread and one per idle core
    assert blas_threads(CAT) == 6
    machine["idle"] = 0.8  # a core mostly idle: a second thread
    assert blas_threads(CAT) == 2
    machine["idle"] = 0.2  # every core busy: one
    assert blas_threads(CAT) == 1


def test_the_affinity_mask_the_cgroup_quota_and_dnn_blas_threads_bound_the_count(machine, monkeypatch) -> None:
    machine["cpus"] = {2, 3, 5}  # taskset -c 2,3,5
    assert blas_threads(CAT) == 3
    machine["quota"] = 2.5  # docker --cpus 2.5
    assert blas_threads(CAT) == 2
    machine["quota"] = None
    monkeypatch.setenv("DNN_BLAS_THREADS", "1")
    assert blas_threads(CAT) == 1
    monkeypatch.setenv("DNN_BLAS_THREADS", "two")  # not a count: ignored
    assert blas_threads(CAT) == 3


def test_a_callers_limit_bounds_the_count_in_place_of_dnn_blas_threads(machine, monkeypatch) -> None:
    """dnn sweep gives each trial's run its share of the cores (run_training(max_threads=...)):
    within that run only, whatever DNN_BLAS_THREADS says, and not in another thread."""
    monkeypatch.setenv("DNN_BLAS_THREADS", "1")
    with threads.threads_at_most(5):
        assert blas_threads(CAT) == 5
        with threads.threads_at_most(None):  # no limit given: the one in force stays
            assert blas_threads(CAT) == 5
        elsewhere: list[int | None] = []
        other = threading.Thread(target=lambda: elsewhere.append(blas_threads(CAT)))
        other.start()
        other.join()
        assert elsewhere == [1]  # another thread's run: DNN_BLAS_THREADS
        with threads.threads_at_most(0):  # at least one thread
            assert blas_threads(CAT) == 1
    assert blas_threads(CAT) == 1
    monkeypatch.delenv("DNN_BLAS_THREADS")
    with threads.threads_at_most(2):
        assert blas_threads(CAT) == 2
        assert blas_threads(largest_product([784, 128, 64, 10], 64)) == 1  # a small step: still one
    assert blas_threads(CAT) == 8


def test_a_thread_count_from_the_environment_is_left_alone(monkeypatch) -> None:
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "2")
    assert blas_threads(SMALL_PRODUCT // 10) is None
    with limited_blas_threads(None):
        assert run_threads() == 1  # the library threads the products: dnn does not split on top


def test_idleness_is_measured_now_from_proc_stat(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # this process's own CPU time (in ticks) is not counted as busy; it stays still here unless
    # said: a test worker's other threads could otherwise tick it by one (10 ms of the 20 below)
    own = [0.0]
    monkeypatch.setattr(threads, "_own_ticks", lambda: own[0])
    stat = tmp_path / "proc" / "stat"
    stat.parent.mkdir()

    def write(cpu0: tuple[int, int], cpu1: tuple[int, int]) -> None:  # (busy, idle) ticks of each CPU
        stat.write_text(
            "cpu  0 0 0 0 0 0 0 0 0 0\n"
            f"cpu0 {cpu0[0]} 0 0 {cpu0[1]} 0 0 0 0 0 0\n"
            f"cpu1 {cpu1[0]} 0 0 {cpu1[1]} 0 0 0 0 0 0\nintr 1 2 3\n"
        )

    write((1000, 5000), (1000, 5000))
    # over the window, cpu0 is busy throughout and cpu1 idle throughout
    busy_one = idle_cores(0.1, cpus=[0, 1], root=tmp_path, sleep=lambda s: write((1010, 5000), (1000, 5010)))
    assert busy_one == pytest.approx(1.0, abs=0.05)
    # only the CPUs of the affinity mask count
    assert idle_cores(0.1, cpus=[1], root=tmp_path, sleep=lambda s: write((1020, 5000), (1000, 5020))) == pytest.approx(1.0, abs=0.05)
    # cpu0's 10 busy ticks were this process's own: both CPUs count as idle

    def own_busy(seconds: float) -> None:
        write((1040, 5020), (1000, 5040))
        own[0] += 10

    write((1030, 5020), (1000, 5030))
    assert idle_cores(0.1, cpus=[0, 1], root=tmp_path, sleep=own_busy) == pytest.approx(2.0, abs=0.05)
    # no /proc/stat: every allowed CPU counts as idle
    assert idle_cores(0.1, cpus=[0, 1], root=tmp_path / "none", sleep=lambda s: None) == 2.0

    # measured since a sample taken earlier (as dnn train does before reading the data): no
    # waiting, and this process's own ticks in between (the loading) are not counted as busy
    clock = [100.0]
    monkeypatch.setattr(threads.time, "monotonic", lambda: clock[0])
    write((2000, 5000), (1000, 5000))
    sample = threads.IdleSample.now(cpus=[0, 1], root=tmp_path)
    write((2030, 5000), (1000, 5030))  # cpu0 busy 30 ticks, 20 of them this process's
    own[0] += 20
    clock[0] += 0.3

    def must_not_wait(seconds: float) -> None:
        raise AssertionError("waited for a window although a sample was given")

    assert idle_cores(0.1, cpus=[0, 1], root=tmp_path, sleep=must_not_wait, since=sample) == pytest.approx(1.67, abs=0.01)
    # a sample younger than the window: only the rest of the window is waited for
    clock[0] = sample.at + 0.04
    waited: list[float] = []
    idle_cores(0.1, cpus=[0, 1], root=tmp_path, sleep=waited.append, since=sample)
    assert waited == [pytest.approx(0.06)]
    # a sample too old says nothing of now: a whole window is waited for
    clock[0] = sample.at + threads.SAMPLE_MAX_AGE + 1
    waited.clear()
    idle_cores(0.1, cpus=[0, 1], root=tmp_path, sleep=waited.append, since=sample)
    assert waited == [0.1]


def test_parallel_updates_split_the_work_and_give_the_same_result() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=100_003), rng.normal(size=100_003)
    expected = a * 3.0 + b
    out = np.empty_like(a)
    seen: list[tuple[int, int]] = []

    def work(start: int, stop: int) -> None:
        seen.append((start, stop))
        np.multiply(a[start:stop], 3.0, out=out[start:stop])
        out[start:stop] += b[start:stop]

    parallel(work, a.size, minimum=1000)  # outside a run: one part
    assert seen == [(0, a.size)]
    np.testing.assert_array_equal(out, expected)
    seen.clear()
    out[:] = 0
    with limited_blas_threads(3):
        assert run_threads() == 3
        parallel(work, a.size, minimum=1000)
    # pieces that cover the range once each, PIECES_PER_THREAD per thread, taken by any thread
    pieces = sorted(seen)
    assert len(pieces) == 3 * threads.PIECES_PER_THREAD
    assert pieces[0][0] == 0 and pieces[-1][1] == a.size
    assert all(end == start for (_, end), (start, _) in zip(pieces, pieces[1:]))
    np.testing.assert_array_equal(out, expected)

    # a thread held up (a core shared with another job) does fewer pieces: the others take them
    done_by: dict[str, int] = {}
    slow = threading.current_thread().name
    pieces_in_all = 2 * threads.PIECES_PER_THREAD
    others_done = threading.Event()

    def uneven(start: int, stop: int) -> None:
        name = threading.current_thread().name
        done_by[name] = done_by.get(name, 0) + 1
        if name == slow:  # held up until the other thread has taken every other piece
            others_done.wait(timeout=30)
        elif sum(done_by.values()) - done_by.get(slow, 0) == pieces_in_all - 1:
            others_done.set()

    with limited_blas_threads(2):
        parallel(uneven, a.size, minimum=1000)
    assert sum(done_by.values()) == pieces_in_all
    assert done_by[slow] == 1, done_by


def test_the_limit_applies_inside_the_block_only() -> None:
    threadpoolctl = pytest.importorskip("threadpoolctl")
    np.ones((2, 2)) @ np.ones((2, 2))  # BLAS loaded

    def blas_threads_now() -> list[int]:
        return [p["num_threads"] for p in threadpoolctl.threadpool_info() if p["user_api"] == "blas"]

    before = blas_threads_now()
    with limited_blas_threads(1):
        assert blas_threads_now() and all(n == 1 for n in blas_threads_now())
    assert blas_threads_now() == before
    with limited_blas_threads(None):
        assert blas_threads_now() == before


def test_a_run_keeps_its_thread_count_and_a_caller_or_a_checkpoint_can_set_it(tmp_path: Path) -> None:
    from dnncli.network.model import Network
    from dnncli.run.checkpoint import RunSection, load_checkpoint, save_checkpoint
    from dnncli.training.loop import train
    from dnncli.training.settings import Hooks, TrainData, TrainSettings
    from dnncli.training.state import TrainState

    rng = np.random.default_rng(0)
    data = TrainData(rng.random((6, 40)), (rng.random((1, 40)) > 0.5).astype(float))
    seen: list[int] = []

    class Watch(Hooks):
        def on_step(self, iteration: int, cost: float) -> None:
            seen.append(run_threads())

    net = Network.create([6, 4, 1], ["relu", "sigmoid"], seed=1)
    settings = TrainSettings(learning_rate=0.1, iterations=3, optimizer="adam")
    state = TrainState()
    train(net, data, settings, state=state, hooks=Watch())
    assert state.threads == 1 and set(seen) == {1}  # a small product: one thread, recorded
    # a caller (a sweep's worker) or a resumed checkpoint fixes the count
    seen.clear()
    state = TrainState(threads=2)
    train(net, data, settings, state=state, hooks=Watch())
    assert set(seen) == {2}
    save_checkpoint(tmp_path / "c.h5", net.params, state.optimizer.state_dict(), rng.bit_generator.state, state,
                    RunSection("0" * 64, "."))
    assert load_checkpoint(tmp_path / "c.h5").state.threads == 2


@pytest.mark.parametrize("layout", ["C", "F"])
def test_large_float64_products_split_over_threads_give_the_same_numbers(layout) -> None:
    from dnncli.compute.kernels import affine, back_through, weight_gradients

    rng = np.random.default_rng(5)
    W = rng.normal(size=(24, 3000))
    A = np.asarray(rng.random((3000, 700)), order=layout)  # over 2 x 256 examples: blocks too
    b, dZ = rng.normal(size=(24, 1)), rng.normal(size=(24, 700))
    W2 = rng.normal(size=(24, 3000))
    with limited_blas_threads(1):  # one thread, one product each
        whole = (W @ A + b, dZ @ A.T / 700, W2.T @ dZ)
    with limited_blas_threads(3):
        assert run_threads() == 3
        split = (affine(W, A, b), weight_gradients(dZ, A, W, 700)[0], back_through(W2, dZ, like=A))
    # OpenBLAS's Haswell kernels sum each column of a part as in the whole product; its AVX-512
    # ones (SkylakeX) may not, in the last bit (the docstring of affine and the README say so)
    exact = _blas_architecture() not in AVX512_KERNELS
    for expected, got in zip(whole, split):
        if exact:
            np.testing.assert_array_equal(got, expected)
        else:
            np.testing.assert_allclose(got, expected, rtol=1e-13, atol=1e-13)
    with limited_blas_threads(3):  # the same thread count: the same bits, whatever the kernel
        again = (affine(W, A, b), weight_gradients(dZ, A, W, 700)[0], back_through(W2, dZ, like=A))
    for first, second in zip(split, again):
        np.testing.assert_array_equal(first, second)


AVX512_KERNELS = {"SkylakeX", "Cooperlake", "SapphireRapids"}


def _blas_architecture() -> str | None:
    from threadpoolctl import threadpool_info

    return next((info.get("architecture") for info in threadpool_info() if info.get("internal_api") == "openblas"), None)
