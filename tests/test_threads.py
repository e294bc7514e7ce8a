"""BLAS threads during training: one for small steps or a busy machine, the user's setting kept."""

from __future__ import annotations

import numpy as np
import pytest

from dnncli.training import threads
from dnncli.training.threads import SMALL_PRODUCT, blas_threads, largest_product, limited_blas_threads


@pytest.fixture(autouse=True)
def no_thread_variables(monkeypatch):
    for name in threads.THREAD_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def test_small_steps_take_one_thread_large_ones_the_idle_cores(monkeypatch) -> None:
    monkeypatch.setattr(threads.os, "cpu_count", lambda: 8)
    monkeypatch.setattr(threads.os, "getloadavg", lambda: (0.2, 0.0, 0.0))
    assert largest_product([784, 128, 64, 10], 64) == 784 * 128 * 64
    assert blas_threads(largest_product([784, 128, 64, 10], 64)) == 1
    cat = largest_product([12288, 20, 7, 5, 1], 209)
    assert blas_threads(cat) is None  # every core idle: the library's default
    monkeypatch.setattr(threads.os, "getloadavg", lambda: (2.6, 0.0, 0.0))
    assert blas_threads(cat) == 5
    monkeypatch.setattr(threads.os, "getloadavg", lambda: (11.0, 0.0, 0.0))
    assert blas_threads(cat) == 1


def test_a_thread_count_from_the_environment_is_left_alone(monkeypatch) -> None:
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "2")
    assert blas_threads(SMALL_PRODUCT // 10) is None


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
