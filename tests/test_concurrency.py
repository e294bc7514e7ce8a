"""Two runs, one run directory: the second refuses (or takes the next free name), neither corrupts
the other, and a lock left by a killed process is recognised as stale."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from dnncli.errors import RunDirError
from dnncli.files.lock import LOCK_NAME, RunLock, held_elsewhere
from dnncli.model.file import load_model
from dnncli.run.directory import PartialRun, partial_path
from tests.conftest import dnn_executable, one_error_line, run_dnn


def wait_for(predicate, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail("timed out waiting for the training subprocess")
        time.sleep(0.02)


def test_a_run_directory_in_use_is_refused(tmp_path: Path, tiny_config: Path) -> None:
    target = tmp_path / "shared-run"
    holder = PartialRun.create(target)  # another dnn train, as far as the command can tell
    try:
        result = run_dnn("train", str(tiny_config), "--run-dir", str(target), cwd=tmp_path)
        line = one_error_line(result, 2)
        assert "shared-run.partial" in line and "in use by another dnn train" in line
        assert f"pid {os.getpid()}" in line
        # --force does not steal a live run's directory either
        result = run_dnn("train", str(tiny_config), "--run-dir", str(target), "--force", cwd=tmp_path)
        one_error_line(result, 2, "in use")
        assert holder.path.is_dir() and not target.exists()
    finally:
        holder.discard()


def test_an_automatic_name_in_use_moves_to_the_next_number(tmp_path: Path, tiny_config: Path) -> None:
    holder = PartialRun.create(tmp_path / "runs" / "tiny")
    try:
        result = run_dnn("train", str(tiny_config), "--json", "--quiet", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["run_dir"].endswith("tiny-2")
        assert load_model(tmp_path / "runs" / "tiny-2").network.layer_sizes == [192, 5, 3, 1]
        assert holder.path.is_dir() and sorted(p.name for p in holder.path.iterdir()) == [LOCK_NAME]
    finally:
        holder.discard()


def test_two_real_runs_on_one_directory(tmp_path: Path, tiny_config: Path) -> None:
    """A run holds its directory; a second one started meanwhile is refused and the first
    finishes undisturbed, its run complete."""
    target = tmp_path / "run"
    # The first run prints a cost line after every one of its 3,000 steps (about 130 kB) into a
    # pipe nobody reads yet: once the pipe's 64 kB are full it waits, in the middle of training,
    # holding its directory, for as long as this test needs, on however slow a machine.
    first = subprocess.Popen(
        [dnn_executable(), "train", str(tiny_config), "--run-dir", str(target), "--verbose", "--json",
         "--set", "training.iterations=3000", "--set", "training.print_every=1",
         "--set", "training.checkpoint_every=0", "--set", "output.plot=png"],  # a complete run: its picture too
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        wait_for(lambda: (partial_path(target) / LOCK_NAME).exists() or first.poll() is not None)
        assert first.poll() is None, first.communicate()
        second = run_dnn("train", str(tiny_config), "--run-dir", str(target), cwd=tmp_path)
        one_error_line(second, 2, f"pid {first.pid}")
        assert first.poll() is None  # still training, held back by its full pipe
        out, err = first.communicate(timeout=120)
        assert err.count("Cost after iteration") == 3000
    finally:
        if first.poll() is None:
            first.kill()
            first.communicate()
    assert first.returncode == 0, err
    assert json.loads(out)["iterations"] == 3000
    assert load_model(target).network.layer_sizes == [192, 5, 3, 1]
    assert sorted(p.name for p in target.iterdir()) == ["config.yaml", "history.csv", "loss.png", "metrics.json", "model.h5"]
    assert not partial_path(target).exists()


def test_a_killed_runs_lock_is_stale_and_its_directory_kept(tmp_path: Path, tiny_config: Path) -> None:
    """Killing a run leaves a stale, resumable directory that a new run neither takes silently
    nor trips over."""
    target = tmp_path / "run"
    first = subprocess.Popen(
        [dnn_executable(), "train", str(tiny_config), "--run-dir", str(target), "--quiet",
         "--set", "training.iterations=100000000"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        wait_for(lambda: (partial_path(target) / LOCK_NAME).exists() or first.poll() is not None)
        assert first.poll() is None, first.communicate()
    finally:
        first.send_signal(signal.SIGKILL)
        first.communicate()
    partial = partial_path(target)
    assert partial.is_dir() and not held_elsewhere(partial)  # the kernel released the dead run's lock
    third = run_dnn("train", str(tiny_config), "--run-dir", str(target), cwd=tmp_path)
    one_error_line(third, 2, "unfinished run")
    forced = run_dnn("train", str(tiny_config), "--run-dir", str(target), "--force", "--quiet", cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr
    assert load_model(target).network.layer_sizes == [192, 5, 3, 1]
    assert not partial.exists() and not (target / LOCK_NAME).exists()


def test_the_lock_is_exclusive_and_released(tmp_path: Path) -> None:
    first = PartialRun.create(tmp_path / "r")
    with pytest.raises(RunDirError, match="in use by another dnn train"):
        PartialRun.create(tmp_path / "r", force=True)
    with pytest.raises(RunDirError, match="in use"):
        PartialRun.reopen(first.path)
    first.release()
    assert not held_elsewhere(first.path)
    again = PartialRun.reopen(tmp_path / "r")  # the target's name finds its .partial twin
    assert again.path == first.path
    again.discard()
    assert not first.path.exists()


def test_the_lock_probe_sees_a_holder_waits_for_it_and_needs_no_lock_file(tmp_path: Path) -> None:
    """``held_elsewhere`` (``dnn runs``' status, a sweep's trial): True while a run holds the lock,
    False once it lets go, after waiting for it when asked; False where there is no lock at all."""
    import threading

    assert not held_elsewhere(tmp_path) and not (tmp_path / LOCK_NAME).exists()  # probing creates nothing
    lock = RunLock.acquire(tmp_path)
    assert held_elsewhere(tmp_path)
    assert held_elsewhere(tmp_path, wait_seconds=0.2)  # still held when the wait is over
    threading.Timer(0.3, lock.release).start()
    assert not held_elsewhere(tmp_path, wait_seconds=30)  # let go while it waited
    RunLock.acquire(tmp_path).release()  # and free for the next run


def test_a_run_directory_stopped_while_it_is_made_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A run directory is built under a temporary name, then renamed: a signal in the middle (a
    sweep's worker stopped as its trial starts) leaves neither that name nor a lock behind."""
    from dnncli.files import atomic
    from dnncli.run import directory

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    for module, name in ((directory, "make_public"), (atomic, "write_text")):  # before the lock, and after
        monkeypatch.setattr(module, name, interrupted)
        with pytest.raises(KeyboardInterrupt):
            PartialRun.create(tmp_path / "r", config_yaml="name: r\n")
        assert sorted(os.listdir(tmp_path)) == []
        monkeypatch.undo()
    made = PartialRun.create(tmp_path / "r", config_yaml="name: r\n")
    assert sorted(os.listdir(tmp_path)) == ["r.partial"] and (made.path / "config.yaml").read_text() == "name: r\n"
