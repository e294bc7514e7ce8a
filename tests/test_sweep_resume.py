"""dnn sweep never runs the same point twice: a random and a TPE sweep, each extended (3 trials,
then 6), then extended to 9 and interrupted midway by SIGINT, run again and stopped by SIGKILL,
and run again to its end, on this machine and on a real Dask cluster started here. At the end
each sweep holds its 9 planned trials, each run once, at 9 different points.

The trials are tiny (football, 300 iterations) so that the four sweeps stay within seconds.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest
from typer.testing import CliRunner

from conftest import CONFIGS, dnn_executable, scheduler_address, shared_file
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


def _run(args: list[str]) -> dict:
    result = CliRunner().invoke(app, ["sweep", *args, "--quiet", "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _interrupted(args: list[str], sweep_dir: Path, after: int, how: signal.Signals, cwd: Path) -> int:
    """The real ``dnn sweep`` stopped by ``how`` once trial ``after`` has started (its run
    directory is there); its exit code."""
    driver = subprocess.Popen([dnn_executable(), "sweep", *args, "--quiet"], cwd=cwd,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not (sweep_dir / "trials" / str(after) / "config.yaml").exists() and driver.poll() is None and time.monotonic() < deadline:
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

    # stopped by Ctrl-C as its first new trial starts, then stopped by SIGKILL as the next one starts
    # (not once they finish: on a busy machine the sweep could end before the signal came)
    nine = [str(_sweep_file(work, football, sampler, 9)), *extra]
    assert _interrupted(nine, sweep_dir, 6, signal.SIGINT, work) == EXIT_SIGINT
    assert _interrupted(nine, sweep_dir, 7, signal.SIGKILL, work) == -signal.SIGKILL
    summary = _run(nine)

    trials = summary["trials"]
    assert [(t["number"], t["state"]) for t in trials] == [(n, "complete") for n in range(9)], [
        (t["number"], t["state"], t.get("error")) for t in trials if t["state"] != "complete"]
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


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="finds the workers in Linux's /proc")
@pytest.mark.parametrize("delay", [0.0, 0.15])
def test_ctrl_c_while_the_workers_start_reaches_the_driver_alone(delay: float, tmp_path: Path, football: Path) -> None:
    """A terminal's Ctrl-C goes to its whole foreground process group. The workers are in a
    session of their own from their first instruction: while they still import the library it
    reaches the driver alone, which stops the sweep in one line (a worker stopped in its imports
    printed a traceback each)."""
    path = _sweep_file(tmp_path, football, "random", 4)
    driver = subprocess.Popen([dnn_executable(), "sweep", str(path), "--jobs", "2", "--quiet"], cwd=tmp_path,
                              start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    children = Path(f"/proc/{driver.pid}/task/{driver.pid}/children")
    deadline = time.monotonic() + 60
    while driver.poll() is None and time.monotonic() < deadline and not children.read_text().split():
        time.sleep(0.002)
    time.sleep(delay)  # 0.15 s: a worker is in the middle of its imports
    os.killpg(driver.pid, signal.SIGINT)  # what the terminal does
    _, stderr = driver.communicate(timeout=60)
    assert driver.returncode == EXIT_SIGINT, stderr
    assert "Traceback" not in stderr and len(stderr.strip().splitlines()) == 1, stderr


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
        address = scheduler_address(scheduler_file)
        assert address, (work / "scheduler.log").read_text()
        for i in range(2):
            start([str(bin_dir / "dask"), "worker", address, "--nthreads", "1", "--no-nanny", "--no-dashboard",
                   "--host", "127.0.0.1", "--local-directory", str(work / f"w{i}")], f"worker{i}.log")
        from distributed import Client

        with Client(address, timeout=30) as client:
            client.wait_for_workers(2, timeout=60)
        yield address
    finally:
        for process in reversed(processes):  # the workers killed (nothing of theirs is kept), then the scheduler
            if process.poll() is None:
                process.kill() if process is not processes[0] else process.terminate()
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


# ---- choosing: the test set warns, seeds average, ties said -------------------------------------


def test_a_sweep_on_a_test_metric_warns_and_seeds_give_the_mean_the_spread_and_a_tie(
    tmp_path: Path, tiny_config: Path
) -> None:
    """Two trials that train alike (they differ only in how often the log is written), each with
    three seeds, chosen on the test cost: the warning on stderr and in the results; each trial's
    metric the mean of its seeds', their spread beside it; the best a tie, said as one."""
    sweep_file = tmp_path / "seeds.yaml"
    sweep_file.write_text(
        f"base: {tiny_config}\nmetric: test_cost\nsampler: grid\nseeds: 3\n"
        "space: {training.log_every_seconds: {choice: [10, 20]}}\n"
        f"output: {{dir: {tmp_path / 'sweeps'}}}\n"
    )
    result = CliRunner().invoke(app, ["sweep", str(sweep_file), "--jobs", "1", "--json"])
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "test_cost chooses on the test set" in warnings[0], result.stderr
    assert "data.validation_fraction" in warnings[0]
    summary = json.loads(result.stdout)
    assert summary["warnings"] == [warnings[0].removeprefix("warning: ")]
    sweep_dir = tmp_path / "sweeps" / "seeds"
    assert json.loads((sweep_dir / "results.json").read_text())["warnings"] == summary["warnings"]
    for trial in summary["trials"]:
        values = trial["seed_values"]
        assert len(values) == 3 and len(set(values)) == 3  # three seeds, three different networks
        assert trial["value"] == pytest.approx(sum(values) / 3)
        assert trial["spread"] == pytest.approx(float(np.std(values)))
        seeds = [json.loads((sweep_dir / "trials" / name / "metrics.json").read_text())["overrides"][-1]
                 for name in (f"{trial['number']}-seed1", f"{trial['number']}-seed2")]
        assert seeds == ["model.seed=2", "model.seed=3"]  # the base's seed 1, then 2 and 3
    assert summary["trials"][0]["seed_values"] == summary["trials"][1]["seed_values"]
    assert (summary["best"], summary["tied_with"]) == (0, [1])
    header = (sweep_dir / "results.csv").read_text().splitlines()[0].split(",")
    assert header[3:5] == ["test_cost", "test_cost_spread"]
    table = CliRunner().invoke(app, ["sweep", str(sweep_file), "--quiet"])
    assert table.exit_code == 0, table.output
    assert "±" in table.stdout and "a tie with trial 1; chosen by being the earliest" in table.stdout


def test_a_tie_goes_to_the_lower_validation_cost_then_to_the_earlier_trial() -> None:
    from dnncli.sweep.results import TrialRecord, best_record, tied_with

    class Goal:
        goal = "maximize"

    records = [TrialRecord(n, "complete", {}, str(n), value=0.9, val_cost=cost)
               for n, cost in enumerate([0.5, 0.3, 0.3, None])]
    records.append(TrialRecord(4, "complete", {}, "4", value=0.8, val_cost=0.1))
    best = best_record(Goal(), records)
    assert best.number == 1 and tied_with(best, records) == [0, 2, 3]


def test_a_trial_the_driver_was_killed_while_asking_for_is_finished_and_run(tmp_path: Path, football: Path) -> None:
    """A trial is recorded one parameter at a time: a driver killed (SIGKILL) in the middle of
    asking the sampler leaves it running with some of its parameters. The next run asks the sampler
    for the missing ones and runs it (it once refused the study as changed outside dnn)."""
    import optuna

    _run([str(_sweep_file(tmp_path, football, "random", 2)), "--jobs", "1"])
    sweep_dir = tmp_path / "sweeps" / "random"
    study = optuna.load_study(study_name="random", storage=f"sqlite:///{sweep_dir / 'study.db'}")
    half_asked = study.ask()
    rate = half_asked.suggest_float("training.learning_rate", 0.01, 1.0, log=True)  # and then the SIGKILL

    summary = _run([str(_sweep_file(tmp_path, football, "random", 3)), "--jobs", "1"])
    trials = summary["trials"]
    assert [(t["number"], t["state"]) for t in trials] == [(0, "complete"), (1, "complete"), (2, "complete")]
    assert trials[2]["params"]["training.learning_rate"] == rate
    assert 0 <= trials[2]["params"]["training.l2_lambda"] <= 1
