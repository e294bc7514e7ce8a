"""dnn sweep: real trials on the football set, in local worker processes and on a real Dask
cluster; a sweep killed by SIGKILL and run again; bad sweep files.

Runs are tiny (200 iterations) so that the whole file stays within a few seconds of trials.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from conftest import CONFIGS, computed_once, dnn_executable, scheduler_address, shared_file
from dnncli.cli.app import app

# find_spec, not importorskip: the check without optuna's import (0.6 s in every test worker)
if importlib.util.find_spec("optuna") is None:
    pytest.skip("dnn sweep needs optuna: pip install 'dnncli[sweep]'", allow_module_level=True)

MIDDLE_RATE = float(f"{(0.03 * 0.3) ** 0.5:.12g}")  # the grid's middle point on the log scale
NOT_COMPARED = {"seconds", "segments", "run_dir", "name", "started", "overrides"}


def write_sweep(directory: Path, football: Path, name: str = "grid", rate_steps: int = 3) -> Path:
    """A 6-point grid over football's learning rate (log scale) and L2 lambda (with
    ``rate_steps=2``, its 4 corners); no pictures in the trials, to keep them fast."""
    path = directory / f"{name}.yaml"
    path.write_text(
        f"""name: {name}
base: {CONFIGS / 'football.yaml'}
set: [training.iterations=200, training.record_every=50, training.checkpoint_every=100,
      training.checkpoint_min_seconds=0, data.train={football}, data.test={football}, output.plot=none,
      data.validation_fraction=0.25]
metric: {{name: val_accuracy, goal: maximize}}
sampler: grid
space:
  training.learning_rate: {{log_uniform: [0.03, 0.3], steps: {rate_steps}}}
  training.l2_lambda: {{choice: [0.0, 0.7]}}
output: {{dir: {directory / 'sweeps'}}}
"""
    )
    return path


def signature(run_dir: Path) -> dict:
    """Everything a run computed: metrics (but times and names), history, parameters."""
    from dnncli.model.file import load_model

    metrics = json.loads((run_dir / "metrics.json").read_text())
    params = load_model(run_dir / "model.h5").network.params
    return {
        "metrics": {k: v for k, v in metrics.items() if k not in NOT_COMPARED},
        "history": (run_dir / "history.csv").read_text(),
        "params": {k: v.tobytes() for k, v in sorted(params.items())},
    }


def trial_signatures(sweep_dir: Path) -> dict[int, dict]:
    trials = sweep_dir / "trials"
    return {int(p.name): signature(p) for p in trials.iterdir() if p.name.isdigit()}


def signatures_by_point(sweep_dir: Path) -> dict[tuple[float, float], dict]:
    from dnncli.config import load_config

    by_point = {}
    for number, found in trial_signatures(sweep_dir).items():
        training = load_config(sweep_dir / "trials" / str(number) / "config.yaml").training
        by_point[(training.learning_rate, training.l2_lambda)] = found
    return by_point


@pytest.fixture(scope="module")
def football() -> Path:
    return shared_file("football2d.h5")


@pytest.fixture(scope="module")
def grid_sweep(tmp_path_factory: pytest.TempPathFactory, football: Path) -> dict:
    """The 6-trial grid with --jobs 2, uninterrupted (once for all the test workers)."""
    def sweep() -> dict:
        work = tmp_path_factory.mktemp("sweep")
        sweep_file = write_sweep(work, football)
        result = CliRunner().invoke(app, ["sweep", str(sweep_file), "--jobs", "2", "--json"])
        assert result.exit_code == 0, result.output
        sweep_dir = work / "sweeps" / "grid"
        summary = json.loads(result.stdout)
        return {"dir": sweep_dir, "records": summary["trials"], "summary": summary, "signatures": trial_signatures(sweep_dir),
                "by_point": signatures_by_point(sweep_dir), "stderr": result.stderr}

    return computed_once(tmp_path_factory, "grid_sweep", sweep)


def test_a_grid_with_two_jobs_equals_the_same_configs_trained_one_by_one(grid_sweep: dict, tmp_path: Path) -> None:
    records, sweep_dir = grid_sweep["records"], grid_sweep["dir"]
    assert [r["number"] for r in records] == list(range(6))
    assert all(r["state"] == "complete" for r in records)
    points = {(r["params"]["training.learning_rate"], r["params"]["training.l2_lambda"]) for r in records}
    assert len(points) == 6
    assert {lr for lr, _ in points} == {0.03, MIDDLE_RATE, 0.3}
    assert {lam for _, lam in points} == {0.0, 0.7}
    # every trial is an ordinary run directory: trained again one by one with dnn train, bit for bit
    runner = CliRunner()
    for number, expected in grid_sweep["signatures"].items():
        again = tmp_path / f"again-{number}"
        result = runner.invoke(app, ["train", str(sweep_dir / "trials" / str(number) / "config.yaml"),
                                     "--run-dir", str(again), "--quiet"])
        assert result.exit_code == 0, result.output
        assert signature(again) == expected, f"trial {number} differs from dnn train of its config"
        assert records[number]["value"] == expected["metrics"]["val_accuracy"]
        # metrics.json says how the trial was made: the sweep's set, then the trial's values
        overrides = records[number]["metrics"]["overrides"]
        assert overrides[:2] == ["training.iterations=200", "training.record_every=50"]
        assert overrides[-2:] == [f"{k}={json.dumps(v)}" for k, v in records[number]["params"].items()]
        assert records[number]["metrics"]["started"].endswith("+00:00")
    # the results: one row per trial, the best config ready for dnn train, the picture
    lines = (sweep_dir / "results.csv").read_text().splitlines()
    assert lines[0].startswith("number,state,training.learning_rate,training.l2_lambda,val_accuracy,")
    assert len(lines) == 7
    # the best: the highest val_accuracy; a tie goes to the lower val_cost, then to the earlier trial
    best = max(records, key=lambda r: (r["value"], -r["metrics"]["val_cost"], -r["number"]))
    assert grid_sweep["summary"]["best"] == best["number"]
    assert grid_sweep["summary"]["tied_with"] == [r["number"] for r in records if r["value"] == best["value"] and r is not best]
    assert grid_sweep["summary"]["warnings"] == []
    importance = grid_sweep["summary"]["importance"]  # Optuna's, by config key
    assert set(importance) == {"training.learning_rate", "training.l2_lambda"}
    assert sum(importance.values()) == pytest.approx(1, abs=1e-4)
    assert json.loads((sweep_dir / "results.json").read_text())["importance"] == importance
    from dnncli.config import load_config

    best_config = load_config(sweep_dir / "best.yaml")
    assert best_config.training.learning_rate == best["params"]["training.learning_rate"]
    assert best_config.training.l2_lambda == best["params"]["training.l2_lambda"]
    assert (sweep_dir / "sweep.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # neither a training-set size nor a network size in the space: no scale picture
    assert not (sweep_dir / "scale.png").exists()
    assert "Traceback" not in grid_sweep["stderr"]


def _complete_trials(sweep_dir: Path) -> list[int]:
    trials = sweep_dir / "trials"
    if not trials.is_dir():
        return []
    return sorted(int(p.name) for p in trials.iterdir() if p.name.isdigit() and (p / "metrics.json").exists())


def _study_trials(sweep_dir: Path) -> list:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name=sweep_dir.name, storage=f"sqlite:///{sweep_dir / 'study.db'}")
    return study.get_trials(deepcopy=False)


def test_sigkill_of_the_driver_then_the_same_command_runs_every_planned_trial_once(
    grid_sweep: dict, tmp_path: Path, football: Path
) -> None:
    # killed once its first trial has finished; the trials are short, and on a busy machine the
    # sweep may finish before the kill lands: then again, in a fresh directory (at most 3 tries)
    for attempt in range(3):
        work = tmp_path / f"attempt-{attempt}"
        work.mkdir()
        sweep_file = write_sweep(work, football, name="corners", rate_steps=2)
        sweep_dir = work / "sweeps" / "corners"
        driver = subprocess.Popen(
            [dnn_executable(), "sweep", str(sweep_file), "--jobs", "2", "--quiet"], cwd=work,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        try:
            deadline = time.monotonic() + 120
            while not _complete_trials(sweep_dir) and driver.poll() is None and time.monotonic() < deadline:
                time.sleep(0.01)
            driver.send_signal(signal.SIGKILL)
        finally:
            driver.wait(timeout=30)
        finished_before = _complete_trials(sweep_dir)
        if len(finished_before) < 4:
            break
    assert 1 <= len(finished_before) < 4, "the driver was not killed in the middle of the sweep"

    result = CliRunner().invoke(app, ["sweep", str(sweep_file), "--jobs", "2", "--quiet", "--json"])
    assert result.exit_code == 0, result.output
    records = json.loads(result.stdout)["trials"]
    assert [(r["number"], r["state"]) for r in records] == [(n, "complete") for n in range(4)]
    # exactly the planned trials, each once, and no run left unfinished
    study_trials = _study_trials(sweep_dir)
    assert sorted(t.number for t in study_trials) == list(range(4))
    assert all(t.state.name == "COMPLETE" for t in study_trials)
    assert sorted(p.name for p in (sweep_dir / "trials").iterdir() if p.name != "latest") == [str(n) for n in range(4)]
    # the same results as an uninterrupted sweep: the local grid's corners, bit for bit
    by_point = signatures_by_point(sweep_dir)
    assert len(by_point) == 4
    assert all(found == grid_sweep["by_point"][point] for point, found in by_point.items())


def _start(command: list[str], log: Path, cwd: Path | None = None) -> subprocess.Popen:
    with log.open("wb") as out:
        return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=cwd or log.parent)


def _as_nobody() -> list[str]:
    """The prefix that runs a command as the unprivileged user ``nobody`` (empty when this test
    does not run as root, or cannot drop to nobody, or nobody cannot run this interpreter)."""
    setpriv = shutil.which("setpriv")
    if os.geteuid() != 0 or setpriv is None:
        return []
    prefix = [setpriv, "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
    probe = subprocess.run([*prefix, sys.executable, "-c", "import dnncli"], cwd="/", capture_output=True)
    return prefix if probe.returncode == 0 else []


def _wait_for_trial(sweep_dir: Path, driver: threading.Thread, deadline: float, unfinished: bool) -> None:
    """Until a trial is under way (a .partial directory: workers that share the disk) or one has
    come back (a trial directory: workers that do not)."""
    trials = sweep_dir / "trials"
    while driver.is_alive() and time.monotonic() < deadline:
        names = [p.name for p in trials.iterdir()] if trials.is_dir() else []
        if any(n.endswith(".partial") if unfinished else n.isdigit() for n in names):
            return
        time.sleep(0.02)


def _the_local_grids_corners(driver: threading.Thread, outcome: list, sweep_dir: Path, grid_sweep: dict) -> list[dict]:
    """The sweep run by ``driver`` ends (exit 0) with its four trials complete, each bit for bit
    the local grid's trial at the same corner; its ``--json`` records."""
    driver.join(timeout=180)
    assert not driver.is_alive()
    result = outcome[0]
    assert result.exit_code == 0, result.output
    records = json.loads(result.stdout)["trials"]
    assert [(r["number"], r["state"]) for r in records] == [(n, "complete") for n in range(4)]
    by_point = signatures_by_point(sweep_dir)
    assert len(by_point) == 4
    assert all(found == grid_sweep["by_point"][point] for point, found in by_point.items())
    return records


def _sweep_in_thread(args: list[str]) -> tuple[threading.Thread, list]:
    outcome: list = []
    driver = threading.Thread(target=lambda: outcome.append(CliRunner().invoke(app, ["sweep", *args])))
    driver.start()
    return driver, outcome


@pytest.mark.slow
def test_a_dask_cluster_runs_the_same_sweep_and_survives_a_lost_worker(
    grid_sweep: dict, tmp_path: Path, football: Path
) -> None:
    """One cluster of three workers, run as the unprivileged user nobody when this runs as root:
    a sweep on a directory they share; the same sweep in a root-only (0700) directory, which they
    cannot open, refused in one line; and again with --ship-data, which needs none of the
    driver's files. Each sweep that runs loses a worker in the middle and still gives the local
    grid's results, bit for bit."""
    pytest.importorskip("distributed", reason="--scheduler needs dask[distributed]")
    bin_dir = Path(sys.executable).parent
    scheduler_file = tmp_path / "scheduler.json"
    nobody = _as_nobody()
    # what the workers share with the driver: world-writable, outside pytest's root-only tmp_path
    shared = Path(tempfile.mkdtemp(prefix="dnn-sweep-shared-"))
    os.chmod(shared, 0o777)
    (shared / "sweeps" / "corners" / "trials").mkdir(parents=True)
    for directory in (shared / "sweeps", shared / "sweeps" / "corners", shared / "sweeps" / "corners" / "trials"):
        os.chmod(directory, 0o777)
    private = tmp_path / "private"  # root's alone: the workers cannot even list it
    private.mkdir(mode=0o700)
    private_data = private / football.name
    shutil.copyfile(football, private_data)
    processes: list[subprocess.Popen] = []
    try:
        processes.append(_start([str(bin_dir / "dask"), "scheduler", "--host", "127.0.0.1", "--port", "0",
                                 "--no-dashboard", "--scheduler-file", str(scheduler_file)], tmp_path / "scheduler.log"))
        address = scheduler_address(scheduler_file)
        assert address, (tmp_path / "scheduler.log").read_text()
        for i in range(3):
            processes.append(_start([*nobody, str(bin_dir / "dask"), "worker", address, "--nthreads", "1", "--no-nanny",
                                     "--no-dashboard", "--host", "127.0.0.1", "--local-directory", str(shared / f"w{i}")],
                                    tmp_path / f"worker{i}.log", cwd=shared))
        from distributed import Client

        with Client(address, timeout=30) as client:
            client.wait_for_workers(3, timeout=60)

        # 1. workers that share the disk: trials written in place; one worker dies (SIGKILL, no
        #    goodbye to the scheduler) in the middle of a trial, which another worker resumes
        sweep_file = write_sweep(shared, football, name="corners", rate_steps=2)
        driver, outcome = _sweep_in_thread([str(sweep_file), "--scheduler", address, "--json", "--quiet"])
        _wait_for_trial(shared / "sweeps" / "corners", driver, time.monotonic() + 120, unfinished=True)
        processes[1].send_signal(signal.SIGKILL)
        _the_local_grids_corners(driver, outcome, shared / "sweeps" / "corners", grid_sweep)
        assert processes[1].poll() is not None  # the lost worker really was gone

        # 2. the same sweep where the workers cannot open anything: refused in one line
        private_file = write_sweep(private, private_data, name="corners", rate_steps=2)
        private_dir = private / "sweeps" / "corners"
        if nobody:
            assert subprocess.run([*nobody, "test", "-r", str(private_data)]).returncode != 0
            refused = CliRunner().invoke(app, ["sweep", str(private_file), "--scheduler", address, "--quiet"])
            assert refused.exit_code == 2, refused.output
            errors = [line for line in refused.stderr.splitlines() if line.startswith("error:")]
            assert len(errors) == 1 and "does not see the sweep directory" in errors[0], refused.stderr
            assert "--ship-data" in errors[0] and "Traceback" not in refused.output

        # 3. the same command with --ship-data: the driver sends the arrays, the workers send the
        #    trials back; the refused trial is handed out again; a second worker is lost meanwhile
        driver, outcome = _sweep_in_thread([str(private_file), "--scheduler", address, "--ship-data", "--json", "--quiet"])
        _wait_for_trial(private_dir, driver, time.monotonic() + 120, unfinished=False)
        processes[2].send_signal(signal.SIGKILL)
        records = _the_local_grids_corners(driver, outcome, private_dir, grid_sweep)
        assert sorted(t.number for t in _study_trials(private_dir)) == list(range(4))
        local_trials = grid_sweep["dir"] / "trials"
        for record in records:  # the files a local trial leaves, as a local trial writes them
            here, local = private_dir / "trials" / str(record["number"]), local_trials / str(record["number"])
            assert sorted(p.name for p in here.iterdir()) == sorted(p.name for p in local.iterdir())
            assert record["metrics"]["run_dir"] == str(here.resolve())
        assert sorted(p.name for p in (private_dir / "trials").iterdir()) == ["0", "1", "2", "3", "latest"]
        assert processes[2].poll() is not None
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
        shutil.rmtree(shared, ignore_errors=True)


def test_ship_data_needs_a_scheduler_and_refuses_data_over_the_memory_budget(
    tmp_path: Path, football: Path
) -> None:
    sweep_file = write_sweep(tmp_path, football, name="ship")
    result = CliRunner().invoke(app, ["sweep", str(sweep_file), "--ship-data"])
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        "error: --ship-data sends the data to Dask workers and needs --scheduler ADDRESS; local trials read the "
        "files themselves"
    ]
    pytest.importorskip("distributed", reason="--scheduler needs dask[distributed]")
    # refused before anything is written or any scheduler is reached (this address has none)
    tiny_budget = sweep_file.read_text().replace("data.validation_fraction=0.25]", "data.validation_fraction=0.25, data.memory_budget_mb=0.001]")
    sweep_file.write_text(tiny_budget)
    result = CliRunner().invoke(app, ["sweep", str(sweep_file), "--ship-data", "--scheduler", "tcp://127.0.0.1:9"])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: --ship-data: the examples of data.train {football}, "), lines
    assert "bytes, more than the memory budget (1,000 bytes, data.memory_budget_mb)" in lines[0], lines
    assert not (tmp_path / "sweeps").exists()


# ---- bad sweep files -------------------------------------------------------------------------


def _base_config(tmp_path: Path, tiny_data: dict[str, Path], validation: bool = False) -> Path:
    base = tmp_path / "base.yaml"
    extra = "  validation_fraction: 0.25\n" if validation else ""
    base.write_text(
        f"model: {{hidden: [4]}}\ndata:\n  train: {tiny_data['train']}\n  test: {tiny_data['test']}\n{extra}"
        "training: {iterations: 20}\n"
    )
    return base


BAD_SWEEPS = {
    "unknown key": ("trails: 4\nspace: {training.learning_rate: {log_uniform: [0.001, 1]}}\n",
                    "unknown key 'trails' (did you mean 'trials'?)"),
    "unknown config key": ("trials: 4\nspace: {training.learning_rat: {log_uniform: [0.001, 1]}}\n",
                           "unknown config key 'training.learning_rat' (did you mean 'training.learning_rate'?)"),
    "empty space": ("trials: 4\nspace: {}\n", "space is empty"),
    "low above high": ("trials: 4\nspace: {training.l2_lambda: {uniform: [1, 0.5]}}\n",
                       "space.training.l2_lambda: uniform = [1.0, 0.5]: low must be below high"),
    "log range through 0": ("trials: 4\nspace: {training.learning_rate: {log_uniform: [0, 1]}}\n",
                            "space.training.learning_rate: log_uniform = [0.0, 1.0]: a log scale needs low > 0"),
    "grid without steps": ("sampler: grid\nspace: {training.learning_rate: {log_uniform: [0.001, 1]}}\n",
                           "space.training.learning_rate: a grid over the continuous range log_uniform = [0.001, 1.0] needs steps"),
    "two scales": ("trials: 4\nspace: {training.l2_lambda: {uniform: [0, 1], choice: [0, 1]}}\n",
                   "space.training.l2_lambda: give exactly one scale"),
    "beta range reaching 1": ("trials: 4\nspace: {training.beta: {one_minus_log_uniform: [0.9, 1]}}\n",
                              "space.training.beta: one_minus_log_uniform = [0.9, 1.0]: draws 1 - 10^r"),
    "no budget": ("sampler: random\nspace: {training.l2_lambda: {uniform: [0, 1]}}\n",
                  "trials: the random sampler needs a budget"),
    "a value the config refuses": ("trials: 4\nspace: {training.learning_rate: {uniform: [0, 1]}}\n",
                                   "space.training.learning_rate = 0.0 makes an invalid config: training.learning_rate: must be > 0"),
    "an integer key as floats": ("trials: 4\nspace: {training.iterations: {log_uniform: [10, 100]}}\n",
                                 "space.training.iterations = 10.0 makes an invalid config: training.iterations: expected an integer"),
    "validation metric without a validation set": (
        "metric: val_accuracy\ntrials: 4\nspace: {training.l2_lambda: {uniform: [0, 1]}}\n",
        "metric.name = val_accuracy needs a validation set"),
    "a metric that does not exist": ("metric: {name: val_acc}\ntrials: 4\nspace: {training.l2_lambda: {uniform: [0, 1]}}\n",
                                     "metric.name: expected"),
    "pruning on a metric known only at the end": (
        "metric: test_r2\npruner: median\ntrials: 4\nspace: {training.l2_lambda: {uniform: [0, 1]}}\n", "test_r2"),
    "more trials than the grid": ("sampler: grid\ntrials: 9\nspace: {training.l2_lambda: {choice: [0, 1]}}\n",
                                  "trials = 9 but the grid has only 2 points"),
    "not a mapping": ("- 1\n- 2\n", "the sweep file is a list"),
}


@pytest.mark.parametrize("case", list(BAD_SWEEPS), ids=list(BAD_SWEEPS))
def test_bad_sweep_files_are_refused_in_one_line(case: str, tmp_path: Path, tiny_data: dict[str, Path]) -> None:
    body, expected = BAD_SWEEPS[case]
    base = _base_config(tmp_path, tiny_data)
    sweep_file = tmp_path / "bad.yaml"
    sweep_file.write_text(body if body.startswith("-") else f"base: {base}\n{body}")
    result = CliRunner().invoke(app, ["sweep", str(sweep_file)])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {sweep_file}: "), result.stderr
    assert expected in lines[0]
    assert not (tmp_path / "sweeps").exists()  # nothing written


def test_without_optuna_dnn_sweep_says_what_to_install(
    tmp_path: Path, tiny_data: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "optuna", None)  # as if it were not installed
    sweep_file = tmp_path / "s.yaml"
    sweep_file.write_text(f"base: {_base_config(tmp_path, tiny_data)}\ntrials: 2\nspace: {{training.l2_lambda: {{uniform: [0, 1]}}}}\n")
    result = CliRunner().invoke(app, ["sweep", str(sweep_file)])
    assert result.exit_code == 2
    from conftest import ROOT

    # this dnn runs from a clone: the package index has no dnncli, the clone's extra is meant
    assert result.stderr == f"error: dnn sweep needs optuna: pip install -e '.[sweep]' (in {ROOT}, the clone dnn runs from)\n"


# ---- pruning ---------------------------------------------------------------------------------


def test_the_median_pruner_stops_a_trial_below_the_finished_trials_median() -> None:
    import optuna

    from dnncli.sweep.pruning import PruningWatch, TrialPruned

    finished = [
        optuna.trial.create_trial(value=0.9, intermediate_values={0: 0.5, 50: 0.8 + i / 100, 100: 0.9},
                                  state=optuna.trial.TrialState.COMPLETE)
        for i in range(5)
    ]
    watch = PruningWatch("maximize", "median", "val_accuracy", finished)
    watch.on_record({"iteration": 0, "cost": 0.7, "val_accuracy": 0.5})  # as good as the median: goes on
    watch.on_record({"iteration": 0, "cost": 0.7, "val_accuracy": 0.5})  # a resumed run's repeated row
    with pytest.raises(TrialPruned):
        watch.on_record({"iteration": 50, "cost": 0.4, "val_accuracy": 0.6})  # median there: 0.82
    assert watch.reports == [(0, 0.5), (50, 0.6)]
    # minimizing a cost, the same curve is a good one
    watch = PruningWatch("minimize", "median", "final_cost", [
        optuna.trial.create_trial(value=0.3, intermediate_values={0: 0.7, 50: 0.5}, state=optuna.trial.TrialState.COMPLETE)
        for _ in range(5)])
    watch.on_record({"iteration": 0, "cost": 0.7})
    watch.on_record({"iteration": 50, "cost": 0.4})
    assert watch.reports == [(0, 0.7), (50, 0.4)]


# ---- threads ---------------------------------------------------------------------------------


def test_a_trial_runs_with_at_most_the_threads_its_worker_gives_it(
    tmp_path: Path, tiny_data: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker's share of the cores reaches the trial's run as an argument, when it starts and
    when it resumes, and nothing of it is left in the environment."""
    from dnncli.compute import resources, threads
    from dnncli.config import validate_config
    from dnncli.files.lock import LOCK_NAME
    from dnncli.run.directory import partial_path
    from dnncli.sweep.worker import run_or_resume
    from dnncli.training.settings import Hooks

    # an idle 8-core machine, and a step large enough to be threaded (192 inputs, 3000 units, 40 examples)
    monkeypatch.setattr(threads.os, "sched_getaffinity", lambda pid: set(range(8)))
    monkeypatch.setattr(resources, "cpu_quota", lambda root=resources.ROOT: None)
    monkeypatch.setattr(threads, "idle_cores", lambda *a, **k: 8.0)
    for name in (*threads.THREAD_VARIABLES, threads.CAP_VARIABLE):
        monkeypatch.delenv(name, raising=False)
    seen: list[int] = []

    class RunThreads(Hooks):
        def on_start(self, plan: object) -> None:
            seen.append(threads.run_threads())

    config = validate_config({
        "name": "wide", "model": {"hidden": [3000], "seed": 1},
        "data": {"train": str(tiny_data["train"]), "test": str(tiny_data["test"])},
        "training": {"iterations": 1}, "output": {"dir": str(tmp_path / "runs"), "plot": "none"},
    }, "test")
    run_or_resume(config, tmp_path / "given", RunThreads(), [], max_threads=3)
    run_or_resume(config, tmp_path / "not-given", RunThreads(), [])
    # an attempt killed after writing its config (and its lock file, which nobody holds now): resumed
    killed = partial_path(tmp_path / "resumed")
    killed.mkdir()
    (killed / "config.yaml").write_text(config.to_yaml())
    (killed / LOCK_NAME).touch()
    run_or_resume(config, tmp_path / "resumed", RunThreads(), [], max_threads=2)
    assert seen == [3, 8, 2]
    assert threads.CAP_VARIABLE not in os.environ
    assert all((tmp_path / name / "metrics.json").is_file() for name in ("given", "not-given", "resumed"))


# ---- dnn runs --------------------------------------------------------------------------------


def test_dnn_runs_lists_a_sweeps_trials_sorted_with_the_settings_that_differ(grid_sweep: dict) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["runs", str(grid_sweep["dir"]), "--sort", "test_accuracy", "--json"])
    assert result.exit_code == 0, result.output
    listed = json.loads(result.stdout)
    assert sorted(int(r["name"]) for r in listed) == list(range(6))
    accuracies = [r["metrics"]["test_accuracy"] for r in listed]
    assert accuracies == sorted(accuracies, reverse=True)  # best first
    assert all(set(r["settings"]) == {"training.learning_rate", "training.l2_lambda"} for r in listed)
    assert all(r["status"] == "finished" for r in listed)
    by_cost = json.loads(runner.invoke(app, ["runs", str(grid_sweep["dir"]), "--sort", "final_cost", "--json"]).stdout)
    costs = [r["metrics"]["final_cost"] for r in by_cost]
    assert costs == sorted(costs)  # a cost: smallest first
    csv_lines = runner.invoke(app, ["runs", str(grid_sweep["dir"] / "trials"), "--csv"]).stdout.splitlines()
    assert csv_lines[0].startswith("name,path,date,status,training.learning_rate,training.l2_lambda,")
    assert [line.split(",")[0] for line in csv_lines[1:]] == [str(n) for n in range(6)]
    table = runner.invoke(app, ["runs", str(grid_sweep["dir"])], env={"COLUMNS": "200"}).stdout
    assert "learning_rate" in table and "test_accuracy" in table


def test_dnn_runs_compare_and_the_status_of_unfinished_runs(grid_sweep: dict, tmp_path: Path) -> None:
    import fcntl
    import shutil

    runs_dir = tmp_path / "runs"
    trials = grid_sweep["dir"] / "trials"
    shutil.copytree(trials / "0", runs_dir / "a")
    shutil.copytree(trials / "1", runs_dir / "b")
    (runs_dir / "killed.partial").mkdir()
    shutil.copy(trials / "2" / "config.yaml", runs_dir / "killed.partial")
    (runs_dir / "live.partial").mkdir()
    shutil.copy(trials / "3" / "config.yaml", runs_dir / "live.partial")
    runner = CliRunner()
    with open(runs_dir / "live.partial" / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # as a training process holds it
        listed = json.loads(runner.invoke(app, ["runs", str(runs_dir), "--json"]).stdout)
    assert {r["name"]: r["status"] for r in listed} == {
        "a": "finished", "b": "finished", "killed.partial": "incomplete", "live.partial": "running"}

    result = runner.invoke(app, ["runs", "compare", str(runs_dir / "a"), str(runs_dir / "b"), "--json"])
    assert result.exit_code == 0, result.output
    compared = json.loads(result.stdout)
    a, b = (json.loads((runs_dir / n / "metrics.json").read_text()) for n in ("a", "b"))
    assert set(compared["settings"]) == {k for k in ("training.learning_rate", "training.l2_lambda")
                                         if grid_sweep["records"][0]["params"][k] != grid_sweep["records"][1]["params"][k]}
    assert compared["metrics"]["test_accuracy"] == [a["test_accuracy"], b["test_accuracy"]]
    assert "test_accuracy" in runner.invoke(app, ["runs", "compare", str(runs_dir / "a"), str(runs_dir / "b")]).stdout


@pytest.mark.parametrize("args, expected", [
    (["nowhere"], "error: nowhere: no such directory"),
    (["compare", "one"], "error: dnn runs compare needs at least two runs"),
    (["--sort", "nosuch"], "error: --sort nosuch: no run has it"),
    (["compare", "x1", "x2"], "error: x1: no such directory"),
])
def test_dnn_runs_refuses_bad_arguments_in_one_line(args: list[str], expected: str, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs").mkdir()
    result = CliRunner().invoke(app, ["runs", *args])
    assert result.exit_code == 2
    assert len(result.stderr.splitlines()) == 1 and result.stderr.startswith(expected), result.stderr


def test_metrics_json_records_the_start_time_the_version_and_the_overrides(tiny_config: Path, tmp_path: Path) -> None:
    import datetime as dt

    before = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    result = CliRunner().invoke(app, ["train", str(tiny_config), "--set", "training.iterations=30",
                                      "--set", "model.hidden=[4]", "--run-dir", str(tmp_path / "run"), "--quiet", "--no-plot"])
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["overrides"] == ["training.iterations=30", "model.hidden=[4]"]
    assert before <= dt.datetime.fromisoformat(metrics["started"]) <= dt.datetime.now(dt.timezone.utc)
    from dnncli import __version__

    assert metrics["dnn_version"] == __version__


def test_optuna_dashboard_reads_a_finished_sweeps_study(grid_sweep: dict, tmp_path: Path) -> None:
    """The docs' `optuna-dashboard sqlite:///sweeps/<name>/study.db`: a real dashboard on
    127.0.0.1 (a free port), serving the sweep's six trials with their values over HTTP."""
    import socket
    import urllib.request

    dashboard = Path(sys.executable).with_name("optuna-dashboard")
    if not dashboard.exists():
        pytest.skip("optuna-dashboard is not installed (the test extra has it)")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    study_db = shutil.copy(grid_sweep["dir"] / "study.db", tmp_path / "study.db")  # the sweep's, untouched
    server = _start([str(dashboard), f"sqlite:///{study_db}", "--host", "127.0.0.1", "--port", str(port)],
                    tmp_path / "dashboard.log")
    try:
        base, deadline, studies = f"http://127.0.0.1:{port}", time.monotonic() + 60, None
        while studies is None and server.poll() is None and time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{base}/api/studies", timeout=5) as response:
                    studies = json.loads(response.read())["study_summaries"]
            except OSError:
                time.sleep(0.2)
        assert studies is not None, (tmp_path / "dashboard.log").read_text()
        assert [s["study_name"] for s in studies] == ["grid"]
        with urllib.request.urlopen(f"{base}/api/studies/{studies[0]['study_id']}?after=0", timeout=10) as response:
            trials = json.loads(response.read())["trials"]
        served = {t["number"]: t["values"][0] for t in trials if t["state"] == "Complete"}
        assert served == {r["number"]: r["value"] for r in grid_sweep["records"]}
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_dnn_runs_in_a_pipe_keeps_name_and_status_and_compare_names_the_trials(grid_sweep: dict, tmp_path: Path) -> None:
    """In a pipe (80 columns), the names and statuses are whole; the columns that do not fit go,
    said on stderr; --columns chooses them. Compared trials are headed by their numbers and the
    settings that differ. dnn plot curves takes the sweep's directory."""
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")} | {"NO_COLOR": "1"}
    piped = subprocess.run([dnn_executable(), "runs", str(grid_sweep["dir"])], capture_output=True, text=True, env=env)
    assert piped.returncode == 0, piped.stderr
    lines = piped.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    body = [line.split("│") for line in lines if line.startswith("│")]
    assert [(cells[1].strip(), cells[2].strip()) for cells in body] == [(str(n), "finished") for n in range(6)]
    assert "more columns:" in piped.stderr and "--columns" in piped.stderr
    runner = CliRunner()
    chosen = runner.invoke(app, ["runs", str(grid_sweep["dir"]), "--columns", "name,learning_rate,val_accuracy"])
    assert chosen.exit_code == 0, chosen.output
    assert chosen.stdout.splitlines()[1].split("┃")[1:4] == [" name ", " learning_rate ", " val_accuracy "]
    unknown = runner.invoke(app, ["runs", str(grid_sweep["dir"]), "--columns", "name,nosuch"])
    assert unknown.exit_code == 2 and unknown.stderr.startswith("error: --columns nosuch: no such column; the columns are name,")

    trials = grid_sweep["dir"] / "trials"
    compared = runner.invoke(app, ["runs", "compare", str(trials / "0"), str(trials / "3")], env={"COLUMNS": "200"})
    assert compared.exit_code == 0, compared.output
    header = "\n".join(compared.stdout.splitlines()[:4])
    assert "trial 0" in header and "trial 3" in header and "learning_rate=" in header

    picture = runner.invoke(app, ["plot", "curves", str(grid_sweep["dir"]), "-o", str(tmp_path / "curves.png"), "--json"])
    assert picture.exit_code == 0, picture.output
    assert (tmp_path / "curves.png").read_bytes()[:4] == b"\x89PNG"


def test_the_live_table_renders_on_a_terminal(tmp_path: Path, tiny_data: dict[str, Path]) -> None:
    """On a terminal the sweep shows a live table of its trials, and a line a trial wrote above it
    (the table's renderer once called a list it had named like a function: a traceback at the
    first refresh of every sweep run in a terminal)."""
    import io

    from rich.console import Console

    from dnncli.sweep.display import SweepDisplay
    from dnncli.sweep.results import TrialRecord
    from dnncli.sweep.spec import load_sweep

    sweep_file = tmp_path / "s.yaml"
    sweep_file.write_text(f"base: {_base_config(tmp_path, tiny_data)}\ntrials: 2\nspace: {{training.l2_lambda: {{uniform: [0, 1]}}}}\n")
    out = io.StringIO()
    display = SweepDisplay(Console(file=out, force_terminal=True, width=100), live=True, quiet=False)
    records: dict[int, TrialRecord] = {}
    display.begin(load_sweep(sweep_file), records, 2)
    records[0] = record = TrialRecord(0, "running", {"training.l2_lambda": 0.5}, str(tmp_path / "t0"))
    display.started(record)
    display.note("warning: a line a trial wrote")
    record.state, record.value, record.seconds = "complete", 0.25, 0.1
    display.finished(record)
    display.end()
    text = out.getvalue()
    assert "warning: a line a trial wrote" in text and "l2_lambda" in text and "complete" in text and "1/2" in text
