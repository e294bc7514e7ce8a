"""Interrupt, checkpoint, resume, divergence: a run never loses its work.

An interrupted-and-resumed run must end with exactly the parameters (and history) of one that was
never interrupted; SIGKILL at any moment must leave only loadable files; a diverging run stops
with one line, exit 3, and keeps its last good parameters.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from dnncli.config import load_config
from dnncli.errors import DataError, Interrupted, RunDirError, TrainingDiverged
from dnncli.model.file import load_model
from dnncli.run.checkpoint import FINGERPRINT_ROWS, checksum, data_fingerprint, load_checkpoint
from dnncli.run.directory import CHECKPOINT_NAME, partial_path
from dnncli.run.training import resume_training, run_training
from dnncli.training.settings import Hooks
from tests.conftest import dnn_executable, make_images, run_dnn, write_h5

ADAM_MINI_BATCHES = [
    "training.optimizer=adam", "training.learning_rate=0.01", "training.iterations=null",
    "training.epochs=12", "training.batch_size=8", "training.record_every=2",
    "training.keep_prob=0.8", "training.l2_lambda=0.1",
]


def assert_same_params(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert np.array_equal(a[key], b[key]), key  # bit for bit, not approximately


def uninterrupted(config: Path, sets: list[str], run_dir: Path) -> tuple[dict, dict[str, np.ndarray]]:
    metrics, _, _ = run_training(load_config(config, sets), run_dir=run_dir)
    return metrics, load_model(run_dir).network.params


def interrupt_at(step: int, signum: int = signal.SIGINT, times: int = 1) -> Hooks:
    """Training hooks that send the process ``signum`` after update ``step``."""

    class Interrupt(Hooks):
        def on_step(self, iteration: int, cost: float) -> None:
            if iteration == step:
                for _ in range(times):
                    os.kill(os.getpid(), signum)

    return Interrupt()


def same_history(a: Path, b: Path) -> bool:
    return (a / "history.csv").read_text() == (b / "history.csv").read_text()


@pytest.mark.parametrize(
    "sets, step",
    [
        ([], 23),  # full-batch gradient descent: stops right after update 23
        (ADAM_MINI_BATCHES, 13),  # Adam, shuffled mini-batches, dropout, L2: stops mid-epoch (5 batches an epoch)
        ([*ADAM_MINI_BATCHES, "training.shuffle=false"], 13),  # batches in order: no order to keep
    ],
    ids=["full-batch gd", "adam mini-batches", "adam unshuffled"],
)
def test_interrupted_and_resumed_equals_uninterrupted(tmp_path: Path, tiny_config: Path, sets: list[str], step: int) -> None:
    _, expected = uninterrupted(tiny_config, sets, tmp_path / "whole")
    target = tmp_path / "cut"
    with pytest.raises(Interrupted) as info:
        run_training(load_config(tiny_config, sets), run_dir=target, progress=interrupt_at(step))
    assert info.value.exit_code == 130
    partial = partial_path(target)
    assert f"dnn train --resume {partial}" in info.value.message
    # the partial outputs: a loadable model of the current parameters, the history so far
    status = json.loads((partial / "metrics.json").read_text())
    assert status["status"] == "interrupted" and status["iteration"] == step  # right after that update
    assert load_checkpoint(partial / CHECKPOINT_NAME).state.iteration == status["iteration"]
    assert load_model(partial).network.layer_sizes == [192, 5, 3, 1]
    assert not target.exists()

    metrics, _, _ = resume_training(partial)
    assert metrics["run_dir"] == str(target) and not partial.exists()
    assert_same_params(load_model(target).network.params, expected)
    assert same_history(target, tmp_path / "whole")
    assert not (target / CHECKPOINT_NAME).exists()


def test_a_signal_mid_epoch_stops_after_that_update_and_resumes_bit_for_bit(tmp_path: Path, tiny_config: Path) -> None:
    """40 examples in batches of 8 take 5 updates an epoch: a signal after update 13 (the third
    batch of the third epoch) stops right there, not at the epoch's end (update 15). The checkpoint
    keeps the epoch's order and position; a resumed run cut short again inside the same epoch, and
    resumed again, still ends bit for bit where the uninterrupted run does (parameters and history)."""
    _, expected = uninterrupted(tiny_config, ADAM_MINI_BATCHES, tmp_path / "whole")
    target = tmp_path / "cut"
    with pytest.raises(Interrupted) as info:
        run_training(load_config(tiny_config, ADAM_MINI_BATCHES), run_dir=target, progress=interrupt_at(13))
    assert "after iteration 13 (epoch 3, after its mini-batch 3)" in info.value.message
    partial = partial_path(target)
    status = json.loads((partial / "metrics.json").read_text())
    assert (status["iteration"], status["epoch"], status["batch_in_epoch"]) == (13, 2, 3)
    saved = load_checkpoint(partial / CHECKPOINT_NAME).state
    assert (saved.iteration, saved.epoch, saved.batch_in_epoch, saved.epoch_seen) == (13, 2, 3, 24)
    assert sorted(saved.epoch_order.tolist()) == list(range(40))  # the shuffled epoch's order
    assert saved.epoch_order.tolist() != list(range(40))
    assert load_model(partial).network.params.keys() == expected.keys()

    with pytest.raises(Interrupted) as again:  # cut the same epoch short once more
        resume_training(partial, progress=interrupt_at(14))
    assert "after iteration 14 (epoch 3, after its mini-batch 4)" in again.value.message
    assert np.array_equal(load_checkpoint(partial / CHECKPOINT_NAME).state.epoch_order, saved.epoch_order)

    resume_training(partial)
    assert_same_params(load_model(target).network.params, expected)
    assert same_history(target, tmp_path / "whole")


@pytest.mark.parametrize(
    "sets, step",
    [
        (["training.optimizer=momentum", "training.record_every=5"], 17),
        (["training.optimizer=momentum", "training.iterations=null", "training.epochs=12",
          "training.batch_size=8", "training.record_every=2", "training.l2_lambda=0.1"], 13),
    ],
    ids=["full batch", "mini-batches"],
)
def test_on_the_gram_path_a_signal_stops_after_that_step_too(
    tmp_path: Path, tiny_config: Path, sets: list[str], step: int
) -> None:
    """The Gram path's epoch hook runs only now and then, but a stop request makes it run after
    the current step: W1 is formed, the momentum in explicit form saved, and resuming matches."""
    sets = ["training.first_layer=gram", *sets]
    _, expected = uninterrupted(tiny_config, sets, tmp_path / "whole")
    with pytest.raises(Interrupted) as info:
        run_training(load_config(tiny_config, sets), run_dir=tmp_path / "cut", progress=interrupt_at(step))
    assert f"after iteration {step} " in info.value.message
    assert load_checkpoint(partial_path(tmp_path / "cut") / CHECKPOINT_NAME).state.iteration == step
    resume_training(tmp_path / "cut")
    resumed = load_model(tmp_path / "cut").network.params
    for key in expected:  # W1 is re-formed from a W1_0 - C X^T: equal up to rounding only
        np.testing.assert_allclose(resumed[key], expected[key], rtol=1e-9, atol=1e-12)


def test_a_signal_during_the_last_step_lets_the_run_finish(tmp_path: Path, tiny_config: Path) -> None:
    _, expected = uninterrupted(tiny_config, [], tmp_path / "whole")
    metrics, _, _ = run_training(load_config(tiny_config), run_dir=tmp_path / "last", progress=interrupt_at(60))
    assert metrics["iterations"] == 60 and not partial_path(tmp_path / "last").exists()
    assert_same_params(load_model(tmp_path / "last").network.params, expected)


def test_a_second_ctrl_c_stops_at_once_and_the_last_checkpoint_resumes(tmp_path: Path, tiny_config: Path) -> None:
    sets = ["training.checkpoint_every=5", "training.checkpoint_min_seconds=0"]
    _, expected = uninterrupted(tiny_config, sets, tmp_path / "whole")
    with pytest.raises(Interrupted) as info:
        run_training(load_config(tiny_config, sets), run_dir=tmp_path / "cut", progress=interrupt_at(23, times=2))
    assert "stopped at once" in info.value.message and "iteration 20" in info.value.message
    resume_training(tmp_path / "cut")
    assert_same_params(load_model(tmp_path / "cut").network.params, expected)


def test_periodic_checkpoints_wait_for_checkpoint_min_seconds(tmp_path: Path, tiny_config: Path) -> None:
    """Fast iterations are not slowed by a write every few epochs: with a long minimum interval
    no periodic checkpoint is written, and a second Ctrl-C finds none to keep."""
    sets = ["training.checkpoint_every=5", "training.checkpoint_min_seconds=3600"]
    with pytest.raises(Interrupted) as info:
        run_training(load_config(tiny_config, sets), run_dir=tmp_path / "cut", progress=interrupt_at(23, times=2))
    assert "stopped at once" in info.value.message and "iteration 20" not in info.value.message
    assert not (partial_path(tmp_path / "cut") / CHECKPOINT_NAME).exists()


@pytest.mark.slow
def test_sigterm_through_the_installed_command_then_resume(tmp_path: Path, tiny_config: Path) -> None:
    overrides = ["training.iterations=8000", "training.record_every=1000", "training.checkpoint_every=0"]
    sets = [arg for s in overrides for arg in ("--set", s)]
    _, expected = uninterrupted(tiny_config, overrides, tmp_path / "whole")
    target = tmp_path / "cut"
    process = subprocess.Popen(
        [dnn_executable(), "train", str(tiny_config), "--run-dir", str(target), "--quiet", *sets],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.monotonic() + 60
    while not (partial_path(target) / "config.yaml").exists() and process.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    time.sleep(0.2)
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 143, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "interrupted by SIGTERM" in lines[0] and "--resume" in lines[0], err
    assert out == ""

    resumed = run_dnn("train", "--resume", str(partial_path(target)), "--json", "--quiet", cwd=tmp_path, real=True)
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["run_dir"] == str(target)
    assert_same_params(load_model(target).network.params, expected)


@pytest.mark.slow
def test_sigkill_at_random_moments_leaves_only_loadable_files(tmp_path: Path, tiny_config: Path) -> None:
    """Checkpoints every iteration, killed at three random moments: whatever is left loads, and
    resuming from it still ends exactly where an uninterrupted run does."""
    sets = ["training.iterations=150", "training.checkpoint_every=1", "training.checkpoint_min_seconds=0",
            "training.record_every=10"]
    # the checkpoint cadence changes nothing in the steps: the reference run skips the writes
    _, expected = uninterrupted(tiny_config, [*sets, "training.checkpoint_every=0"], tmp_path / "whole")
    chance = random.Random(6)
    for attempt in range(3):
        target = tmp_path / f"killed-{attempt}"
        partial = partial_path(target)
        process = subprocess.Popen(
            [dnn_executable(), "train", str(tiny_config), "--run-dir", str(target), "--quiet",
             *[arg for s in sets for arg in ("--set", s)]],
            cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while not (partial / CHECKPOINT_NAME).exists() and process.poll() is None:
            assert time.monotonic() < deadline
            time.sleep(0.005)
        time.sleep(chance.uniform(0.0, 0.4))
        process.kill()
        process.wait()
        if target.exists():  # it finished before the kill: a complete run
            assert_same_params(load_model(target).network.params, expected)
            continue
        for path in partial.iterdir():
            if path.name.endswith(".tmp"):
                continue  # a write cut short: never under a real name
            if path.suffix == ".h5":
                if path.name == CHECKPOINT_NAME:
                    assert load_checkpoint(path).state.iteration > 0
                else:
                    load_model(path)
        resume_training(partial)
        assert_same_params(load_model(target).network.params, expected)


# ---- divergence ------------------------------------------------------------------------------


@pytest.fixture
def diverging_config(tmp_path: Path) -> Path:
    """Linear regression through a linear hidden layer with too large a step: its cost grows a
    thousandfold by iteration 2 (and would overflow at iteration 6)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 4))
    write_h5(tmp_path / "reg.h5", train_set_x=X, train_set_y=X @ np.array([1.0, 2.0, -1.0, 0.5]))
    config = tmp_path / "reg.yaml"
    config.write_text(
        f"name: reg\nmodel: {{hidden: [6], hidden_activation: linear, output_activation: linear, seed: 3}}\n"
        f"data: {{train: {tmp_path / 'reg.h5'}}}\n"
        "training: {learning_rate: 1.5, iterations: 200, record_every: 1}\n"
        f"output: {{dir: {tmp_path / 'runs'}}}\n"
    )
    return config


def test_divergence_stops_with_one_line_exit_3_and_keeps_the_last_good_parameters(
    tmp_path: Path, diverging_config: Path
) -> None:
    result = run_dnn("train", str(diverging_config), "--quiet", cwd=tmp_path)
    assert result.returncode == 3
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    line = lines[0]
    assert "diverged at iteration 2" in line and "more than 1000 times" in line
    assert "lower learning rate" in line and "last good parameters (iteration 1" in line
    partial = tmp_path / "runs" / "reg.partial"
    assert not (tmp_path / "runs" / "reg").exists() and not (partial / CHECKPOINT_NAME).exists()
    status = json.loads((partial / "metrics.json").read_text())
    assert status["status"] == "diverged" and status["kept_iteration"] == 1

    kept = load_model(partial).network.params
    _, one_step = uninterrupted(diverging_config, ["training.iterations=1"], tmp_path / "one")
    assert_same_params(kept, one_step)  # exactly the parameters after 1 update, the last within the limit

    refused = run_dnn("train", "--resume", str(partial), cwd=tmp_path)
    assert refused.returncode == 2 and "diverged" in refused.stderr and len(refused.stderr.splitlines()) == 1


def test_divergence_in_process_raises_with_exit_code_3(diverging_config: Path) -> None:
    with pytest.raises(TrainingDiverged) as info:
        run_training(load_config(diverging_config))
    assert info.value.exit_code == 3


def test_initial_parameters_that_overflow_blame_the_init_not_the_learning_rate(tmp_path: Path, tiny_config: Path) -> None:
    overrides = ["model.init=random", "model.init_scale=1e300"]
    with pytest.raises(TrainingDiverged, match="initial parameters already give a non-finite cost") as info:
        run_training(load_config(tiny_config, overrides), run_dir=tmp_path / "r")
    assert "model.init_scale" in info.value.message and "learning rate" not in info.value.message
    assert not (tmp_path / "r").exists() and not partial_path(tmp_path / "r").exists()  # nothing to keep


# ---- resume refusals -------------------------------------------------------------------------


def test_resume_refuses_changed_data_a_finished_run_and_a_corrupt_checkpoint(
    tmp_path: Path, tiny_config: Path, tiny_data: dict[str, Path]
) -> None:
    target = tmp_path / "cut"
    with pytest.raises(Interrupted):
        run_training(load_config(tiny_config), run_dir=target, progress=interrupt_at(5))
    partial = partial_path(target)

    X, y = make_images(40, seed=99)  # someone regenerated the training file
    original = tiny_data["train"].read_bytes()
    write_h5(tiny_data["train"], train_set_x=X, train_set_y=y, list_classes=np.array([b"dark", b"bright"]))
    with pytest.raises(DataError, match="changed since the checkpoint"):
        resume_training(partial)
    tiny_data["train"].write_bytes(original)
    assert partial.is_dir()  # a refused resume keeps everything

    checkpoint = partial / CHECKPOINT_NAME
    saved = checkpoint.read_bytes()
    checkpoint.write_bytes(saved[: len(saved) // 3])
    result = run_dnn("train", "--resume", str(partial), cwd=tmp_path)
    assert result.returncode == 2 and "corrupt checkpoint" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    checkpoint.write_bytes(saved)
    with h5py.File(checkpoint, "r+") as f:
        f.attrs["format_version"] = 99
    with pytest.raises(RunDirError, match="checkpoint format 99"):
        resume_training(partial)
    checkpoint.write_bytes(saved)

    resume_training(target)  # the run's own name finds its .partial twin
    result = run_dnn("train", "--resume", str(target), cwd=tmp_path)
    assert result.returncode == 2 and "finished run" in result.stderr


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.uint8])
def test_the_data_fingerprint_is_that_of_the_c_order_bytes_whatever_the_layout(dtype: type) -> None:
    """Checkpoints store it: resuming compares it with the data's. Column-major inputs go through
    tiles (faster), and must give the digest earlier checkpoints hold: that of C-order bytes."""
    rng = np.random.default_rng(5)
    values = (rng.random((2 * FINGERPRINT_ROWS + 7, 53)) * 200).astype(dtype)  # blocks and tiles, cut
    wide = (rng.random((40, 70_000)) * 200).astype(dtype)  # rows of up to 560 kB: fewer rows a block

    def reference(*arrays: np.ndarray) -> str:
        digest = hashlib.sha256()
        for a in arrays:
            digest.update(f"{a.shape}{a.dtype.str}".encode())
            digest.update(np.ascontiguousarray(a).tobytes())
        return digest.hexdigest()

    Y = (rng.random((1, values.shape[1])) > 0.5).astype(dtype)
    for X in (values, np.asfortranarray(values), values[1::2, ::3], np.asfortranarray(values)[:, 2:], values[:5, :3].T,
              np.asfortranarray(wide)):
        assert data_fingerprint(X, Y) == reference(X, Y)
    assert data_fingerprint(np.asfortranarray(values)) != data_fingerprint(np.asfortranarray(values.T))
    empty = np.zeros((0, 5), dtype)  # a memoryview cast to bytes refused it
    assert data_fingerprint(empty) == reference(empty)


def test_a_tampered_epoch_position_is_refused_and_format_1_checkpoints_still_resume(
    tmp_path: Path, tiny_config: Path
) -> None:
    target = tmp_path / "cut"
    with pytest.raises(Interrupted):
        run_training(load_config(tiny_config, ADAM_MINI_BATCHES), run_dir=target, progress=interrupt_at(13))
    checkpoint = partial_path(target) / CHECKPOINT_NAME
    with h5py.File(checkpoint, "r+") as f:
        f["epoch_order"][...] = np.zeros(40, dtype=f["epoch_order"].dtype)  # not an order of the examples
    with pytest.raises(RunDirError, match="checksum does not match"):
        resume_training(partial_path(target))
    with h5py.File(checkpoint, "r+") as f:  # a recomputed checksum: the fields are still checked
        f.attrs["checksum"] = checksum(f)
    with pytest.raises(RunDirError, match="epoch_order is not an order of the 40 examples"):
        resume_training(partial_path(target))
    with h5py.File(checkpoint, "r+") as f:
        f.attrs["state"] = f.attrs["state"].replace('"epoch_seen": 24', '"epoch_seen": 0')
        f.attrs["checksum"] = checksum(f)
    with pytest.raises(RunDirError, match="position in the epoch is impossible"):
        resume_training(partial_path(target))

    # a checkpoint written by the previous format (always at an epoch's end) resumes as before
    _, expected = uninterrupted(tiny_config, [], tmp_path / "whole")
    old = tmp_path / "old"
    with pytest.raises(Interrupted):
        run_training(load_config(tiny_config), run_dir=old, progress=interrupt_at(23))
    with h5py.File(partial_path(old) / CHECKPOINT_NAME, "r+") as f:
        state = json.loads(f.attrs["state"])
        for key in ("batch_in_epoch", "epoch_cost_sum", "epoch_seen"):
            del state[key]
        f.attrs["state"], f.attrs["format_version"] = json.dumps(state), 1
        del f.attrs["checksum"]  # format 1 and 2 had none
    resume_training(partial_path(old))
    assert_same_params(load_model(old).network.params, expected)


def test_resume_usage_errors(tmp_path: Path, tiny_config: Path) -> None:
    result = run_dnn("train", cwd=tmp_path)
    assert result.returncode == 2 and "--resume RUN_DIR" in result.stderr
    result = run_dnn("train", str(tiny_config), "--resume", str(tmp_path / "x.partial"), cwd=tmp_path)
    assert result.returncode == 2 and "give no config" in result.stderr
    result = run_dnn("train", "--resume", str(tmp_path / "nothing"), cwd=tmp_path)
    assert result.returncode == 2 and "no unfinished run" in result.stderr
