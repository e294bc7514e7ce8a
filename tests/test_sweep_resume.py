"""dnn sweep never runs the same point twice: a random and a TPE sweep, each extended (3 trials,
then 6), then extended to 9 and interrupted midway by SIGINT, run again and stopped by SIGKILL,
and run again to its end, on this machine and on a real Dask cluster started here. At the end
each sweep holds its 9 planned trials, each run once, at 9 different points.

The trials are tiny (football, 300 iterations) so that the four sweeps stay within seconds.
"""

from __future__ import annotations

import importlib.util
import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest
from typer.testing import CliRunner

from conftest import CONFIGS, dnn_executable, shared_file
from dnncli.cli.app import app
from dnncli.errors import EXIT_SIGINT

if importlib.util.find_spec("optuna") is None:
    pytest.skip("dnn sweep needs optuna: pip install -e '.[sweep]'", allow_module_level=True)


def _sweep_file(directory: Path, football: Path, sampler: str, trials: int) -> Path:
    path = directory / f"{sampler}.yaml"
    path.write_text(
        f"""name: {sampler}
base: {CONFIGS / 'football.yaml'}
set: [training.iterations=300, training.record_every=100, training.checkpoint_every=100,
      training.checkpoint_min_seconds=0, data.train={football}, data.test={football}, output.plot=none,
      data.validation_fraction=0.25]
metric: val_cost
sampler: {sampler}
seed: 7
trials: {trials}
space:
  training.learning_rate: {{log_uniform: [0.01, 1.0]}}
  training.l2_lambda: {{uniform: [0, 1]}}
output: {{dir: {directory / 'sweeps'}}}
"""
    )
    return path


def _finished(sweep_dir: Path) -> set[int]:
    trials = sweep_dir / "trials"
    if not trials.is_dir():
        return set()
    return {int(p.name) for p in trials.iterdir() if p.name.isdigit() and (p / "metrics.json").is_file()}


def _run(args: list[str]) -> dict:
    result = CliRunner().invoke(app, ["sweep", *args, "--quiet", "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _interrupted(args: list[str], sweep_dir: Path, after: int, how: signal.Signals, cwd: Path) -> int:
    """The real ``dnn sweep`` stopped by ``how`` once trial ``after`` has finished; its exit code."""
    driver = subprocess.Popen([dnn_executable(), "sweep", *args, "--quiet"], cwd=cwd,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while after not in _finished(sweep_dir) and driver.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        driver.send_signal(how)
        driver.wait(timeout=60)
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.wait()
    assert b"Traceback" not in driver.stderr.read()
    return driver.returncode


def _never_the_same_point_twice(work: Path, football: Path, sampler: str, extra: list[str]) -> None:
    sweep_dir = work / "sweeps" / sampler
    first = _run([str(_sweep_file(work, football, sampler, 3)), *extra])
    assert [t["number"] for t in first["trials"]] == [0, 1, 2]
    extended = _run([str(_sweep_file(work, football, sampler, 6)), *extra])
    assert [t["params"] for t in extended["trials"][:3]] == [t["params"] for t in first["trials"]]

    # stopped by Ctrl-C after its first new trial, then stopped by SIGKILL after the next one
    nine = [str(_sweep_file(work, football, sampler, 9)), *extra]
    assert _interrupted(nine, sweep_dir, 6, signal.SIGINT, work) == EXIT_SIGINT
    assert _interrupted(nine, sweep_dir, 7, signal.SIGKILL, work) == -signal.SIGKILL
    summary = _run(nine)

    trials = summary["trials"]
    assert [(t["number"], t["state"]) for t in trials] == [(n, "complete") for n in range(9)]
    points = {(t["params"]["training.learning_rate"], t["params"]["training.l2_lambda"]) for t in trials}
    assert len(points) == 9, f"a point was run twice: {sorted(points)}"
    # each planned trial ran once: the study holds 9, each with its one run directory
    import optuna

    study = optuna.load_study(study_name=sampler, storage=f"sqlite:///{sweep_dir / 'study.db'}")
    assert sorted((t.number, t.state.name) for t in study.get_trials()) == [(n, "COMPLETE") for n in range(9)]
    assert sorted(p.name for p in (sweep_dir / "trials").iterdir() if p.name != "latest") == sorted(map(str, range(9)))
    for t in trials:
        config = (sweep_dir / "trials" / str(t["number"]) / "config.yaml").read_text()
        assert f"learning_rate: {t['params']['training.learning_rate']}" in config


@pytest.fixture(scope="module")
def football() -> Path:
    return shared_file("football2d.h5")


@pytest.mark.slow
@pytest.mark.parametrize("sampler", ["random", "tpe"])
def test_an_extended_or_interrupted_sweep_on_this_machine_never_runs_a_point_twice(
    sampler: str, tmp_path: Path, football: Path
) -> None:
    _never_the_same_point_twice(tmp_path, football, sampler, ["--jobs", "1"])


@pytest.fixture(scope="module")
def dask_scheduler(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Dask cluster on 127.0.0.1: a scheduler and two one-thread workers, on ports of
    their choosing; stopped at the end."""
    pytest.importorskip("distributed", reason="--scheduler needs dask[distributed]")
    work = tmp_path_factory.mktemp("dask")
    bin_dir = Path(sys.executable).parent
    scheduler_file = work / "scheduler.json"
    processes: list[subprocess.Popen] = []

    def start(command: list[str], log: str) -> None:
        with (work / log).open("wb") as out:
            processes.append(subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=work))

    try:
        start([str(bin_dir / "dask"), "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
               "--scheduler-file", str(scheduler_file)], "scheduler.log")
        address, deadline = None, time.monotonic() + 60
        while address is None and time.monotonic() < deadline:
            time.sleep(0.05)
            try:
                address = json.loads(scheduler_file.read_text())["address"]
            except (OSError, ValueError, KeyError):
                pass
        assert address, (work / "scheduler.log").read_text()
        for i in range(2):
            start([str(bin_dir / "dask"), "worker", address, "--nthreads", "1", "--no-nanny", "--no-dashboard",
                   "--host", "127.0.0.1", "--local-directory", str(work / f"w{i}")], f"worker{i}.log")
        from distributed import Client

        with Client(address, timeout=30) as client:
            client.wait_for_workers(2, timeout=60)
        yield address
    finally:
        for process in reversed(processes):
            if process.poll() is None:
                process.terminate()
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.mark.slow
@pytest.mark.parametrize("sampler", ["random", "tpe"])
def test_an_extended_or_interrupted_sweep_on_a_dask_cluster_never_runs_a_point_twice(
    sampler: str, tmp_path: Path, football: Path, dask_scheduler: str
) -> None:
    _never_the_same_point_twice(tmp_path, football, sampler, ["--scheduler", dask_scheduler])
