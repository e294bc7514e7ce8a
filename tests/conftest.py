"""Shared fixtures: the shared reference datasets (skipped when absent), small generated data,
and running the installed ``dnn`` command end to end."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, TypeVar

import h5py
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
# beside the project; DNN_SHARED_DATASETS names another place (a git worktree elsewhere, CI)
SHARED = Path(os.environ.get("DNN_SHARED_DATASETS") or ROOT.parent / "shared" / "datasets")
CONFIGS = ROOT / "configs"
T = TypeVar("T")


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """``-n auto`` (pyproject's addopts): one worker per core this process may use, its affinity
    mask within its cgroup CPU quota, as dnn counts them for its own threads; not xdist's own
    count of the host's physical cores (1 on a 2-vCPU VM of one hyperthreaded core, 64 in a
    container limited to 2)."""
    from dnncli.compute.threads import usable_cores

    return usable_cores()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The long tests (marked ``slow``) first, so that no worker starts one while the others have
    run out of work; otherwise the order stays the files' own. Every worker sorts the same
    collection the same way, as xdist requires."""
    items.sort(key=lambda item: 0 if item.get_closest_marker("slow") else 1)  # stable


def computed_once(tmp_path_factory: pytest.TempPathFactory, name: str, compute: Callable[[], T]) -> T:
    """``compute()`` once for the whole test session, however many test workers (pytest-xdist)
    need it: the first to ask computes it and keeps it (pickled) where all the workers' temporary
    directories are; the others wait for it under a lock and read it. For expensive session and
    module fixtures whose tests only read what they made. (xdist's ``--dist loadgroup`` would put
    such tests on one worker, but does not group anything under pytest 9.2: pytest-xdist#1386.)"""
    import fcntl
    import pickle

    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # <session>/popen-gw0 and popen-gw1 share <session>
    kept = root / f"computed-once-{name}.pickle"
    with open(root / f"computed-once-{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if kept.exists():
            return pickle.loads(kept.read_bytes())
        value = compute()
        kept.write_bytes(pickle.dumps(value))
        return value


def shared_file(name: str) -> Path:
    """A file of ../shared/datasets, or skip the test with the reason."""
    path = SHARED / name
    if not path.exists():
        pytest.skip(f"{path} is absent: the shared reference datasets are not beside the project")
    return path


def dnn_executable() -> str:
    candidate = Path(sys.executable).with_name("dnn")
    found = str(candidate) if candidate.exists() else shutil.which("dnn")
    if not found:
        pytest.fail("the dnn command is not installed (run `make test`)")
    return found


def record_stderr(stderr: str) -> str:
    """With ``DNN_HOSTILE_STDERR_LOG=FILE`` set, append what a command wrote on stderr to FILE, so
    that the messages of a whole test run can be searched (``grep "internal error" FILE``)."""
    log = os.environ.get("DNN_HOSTILE_STDERR_LOG")
    if log and stderr:
        with open(log, "a", encoding="utf-8", errors="backslashreplace") as f:
            f.write(stderr if stderr.endswith("\n") else stderr + "\n")
    return stderr


def run_dnn(*args: str | Path, cwd: Path | None = None, input: str | None = None, env: dict | None = None,
            timeout: float = 300, real: bool = False) -> subprocess.CompletedProcess:
    """Run ``dnn`` as a user would, capturing stdout and stderr and the exit code; the one way
    the tests run a command (paths are given as they are, and passed as text).

    By default the command runs in this process (Typer's runner: the same app, parsing, error
    handling and exit codes, without a second of interpreter start-up and imports per call);
    ``real=True`` runs the installed ``dnn`` command in a process of its own, for what only a
    real process shows (signals, kills, pipes, the entry point itself)."""
    # wide enough that no table wraps a long (or hostile) name the tests look for
    full_env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200", **(env or {})}
    texts = [str(arg) for arg in args]
    if real:
        result = subprocess.run(
            [dnn_executable(), *texts], cwd=cwd, input=input, capture_output=True, text=True,
            env=full_env, timeout=timeout,
        )
    else:
        result = _run_in_process(texts, cwd, input, full_env)
    record_stderr(result.stderr)
    return result


def one_error_line(result: subprocess.CompletedProcess, code: int, *fragments: str) -> str:
    """A refusal as the README promises it: exit ``code``, exactly one ``error: ...`` line on
    stderr holding every fragment, no traceback and no internal error. Returns the line."""
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


def error_lines(stderr: str) -> list[str]:
    """The lines of a stderr that holds errors only (one per bad input), none a traceback."""
    lines = stderr.strip().splitlines()
    assert all(line.startswith("error: ") for line in lines), stderr
    assert "Traceback" not in stderr
    return lines


def _run_in_process(args: list[str], cwd: Path | None, input: str | None, env: dict) -> subprocess.CompletedProcess:
    from typer.testing import CliRunner

    from dnncli.cli.app import app

    previous = os.getcwd()
    # the runner sets what differs from os.environ, and unsets what env drops
    changes = {key: value for key, value in env.items() if os.environ.get(key) != value}
    changes.update({key: None for key in os.environ if key not in env})
    try:
        if cwd is not None:
            os.chdir(cwd)
        result = CliRunner().invoke(app, args, input=input, env=changes, catch_exceptions=False)
    finally:
        os.chdir(previous)
    return subprocess.CompletedProcess(["dnn", *args], result.exit_code, result.stdout, result.stderr)


def scheduler_address(scheduler_file: Path, timeout: float = 60.0) -> str | None:
    """The address a real ``dask scheduler --scheduler-file`` writes once it listens, or None after
    ``timeout`` seconds (it writes the file in place: it may exist and be empty for a moment)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            return json.loads(scheduler_file.read_text())["address"]
        except (OSError, ValueError, KeyError):
            time.sleep(0.05)
    return None


def write_h5(path: Path, **arrays: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        for key, value in arrays.items():
            f.create_dataset(key, data=value)
    return path


def write_table_config(tmp_path: Path, name: str, data: dict, **training: object) -> Path:
    """A config training ``hidden: [8]`` with Adam on a table (``data``: its data section), in
    batches of 32 for 30 epochs unless ``training`` says otherwise; no pictures."""
    config = {
        "name": name,
        "model": {"hidden": [8], "seed": 1},
        "data": data,
        "training": {"optimizer": "adam", "learning_rate": 0.01, "batch_size": 32, "epochs": 30, **training},
        "output": {"dir": str(tmp_path / "runs"), "plot": "none"},
    }
    path = tmp_path / f"{name}.yaml"
    path.write_text(json.dumps(config))
    return path


def make_images(m: int, seed: int = 0, shape: tuple[int, ...] = (8, 8, 3)) -> tuple[np.ndarray, np.ndarray]:
    """Tiny uint8 pictures whose label is 'brighter than average', learnable in a few iterations."""
    rng = np.random.default_rng(seed)
    y = (np.arange(m) % 2).astype(np.int64)
    rng.shuffle(y)
    X = rng.integers(0, 120, size=(m, *shape)) + 100 * y.reshape(-1, *([1] * len(shape)))
    return X.astype(np.uint8), y


@pytest.fixture
def tiny_data(tmp_path: Path) -> dict[str, Path]:
    """Small binary image sets in the course's layout: train.h5 and test.h5 under tmp_path."""
    X, y = make_images(40, seed=0)
    Xt, yt = make_images(20, seed=1)
    classes = np.array([b"dark", b"bright"])
    train = write_h5(tmp_path / "data" / "train.h5", train_set_x=X, train_set_y=y, list_classes=classes)
    test = write_h5(tmp_path / "data" / "test.h5", test_set_x=Xt, test_set_y=yt, list_classes=classes)
    return {"train": train, "test": test}


@pytest.fixture
def tiny_config(tmp_path: Path, tiny_data: dict[str, Path]) -> Path:
    """A config training a small network on ``tiny_data`` in a fraction of a second. It draws no
    pictures (``output.plot: none``, 0.4 s a run): a test about them sets ``output.plot=png``."""
    config = tmp_path / "tiny.yaml"
    config.write_text(
        f"""name: tiny
model:
  hidden: [5, 3]
  init: he
  seed: 1
data:
  train: {tiny_data['train']}
  test: {tiny_data['test']}
training:
  learning_rate: 0.2
  iterations: 60
  record_every: 10
output:
  dir: {tmp_path / 'runs'}
  plot: none
"""
    )
    return config


@pytest.fixture(scope="session")
def cat_files() -> dict[str, Path]:
    return {"train": shared_file("train_catvnoncat.h5"), "test": shared_file("test_catvnoncat.h5")}


@pytest.fixture(scope="session")
def cat_deep_run(tmp_path_factory: pytest.TempPathFactory, cat_files: dict[str, Path]) -> dict:
    """``dnn train configs/cat_deep.yaml`` on the course's files, once per test session (~7 s),
    shared by the test workers.

    Returns ``{"run_dir": Path, "metrics": dict, "result": CompletedProcess}``.
    """
    import json

    def train() -> dict:
        work = tmp_path_factory.mktemp("cat_deep")
        result = run_dnn(
            "train", str(CONFIGS / "cat_deep.yaml"),
            "--set", f"data.train={cat_files['train']}", "--set", f"data.test={cat_files['test']}",
            "--run-dir", str(work / "run"), "--json", "--quiet", cwd=work,
        )
        assert result.returncode == 0, result.stderr
        return {"run_dir": work / "run", "metrics": json.loads(result.stdout), "result": result}

    return computed_once(tmp_path_factory, "cat_deep_run", train)
