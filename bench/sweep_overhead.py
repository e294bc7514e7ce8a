"""What a sweep's trial costs beyond its training, and what --jobs 2 gains (issue 23).

    python bench/sweep_overhead.py                 # ../shared/datasets/football2d.h5 (or $DNN_SHARED_DATASETS)
    python bench/sweep_overhead.py --trials 8 --jobs 1 2 --rounds 3

Runs the shipped football sweep (configs/sweeps/football.yaml: TPE over the learning rate and L2
lambda, 3,000 iterations a trial) with 16 trials, once with each ``--jobs`` value, as the real
``dnn sweep`` command in a temporary directory, and prints for each:

  wall s         the whole command, start-up included
  trial s        each trial's wall time in its worker (results.json ``seconds``), mean
  training s     the run's own training time (its metrics.json ``seconds``), mean
  overhead s     trial s - training s: loading, writing the run directory, the worker's hand-off;
                 mean and max (the goal: at most 0.2 s)
  trials s       from the first trial's start to the last one's end (each ends as its metrics.json
                 is written, and began its trial s before); rest s: the wall time outside them
                 (start-up: Python, the library, Optuna, the study; the end: results and sweep.png)

and the speed-up of the last ``--jobs`` over the first (the goal on an idle 2-core machine: 1.8x
or more). The figures depend on the machine and on what else runs on it: say so with them.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def default_data() -> Path:
    shared = Path(os.environ.get("DNN_SHARED_DATASETS") or ROOT.parent / "shared" / "datasets")
    found = shared / "football2d.h5"
    return found if found.exists() else ROOT / "datasets" / "football2d.h5"


def sweep_file(work: Path, data: Path, trials: int) -> Path:
    shipped = (ROOT / "configs" / "sweeps" / "football.yaml").read_text()
    text = shipped.replace("base: configs/football.yaml", f"base: {ROOT / 'configs' / 'football.yaml'}")
    text = text.replace("set: [", f"set: [data.train={data}, data.test={data}, ")
    text = text.replace("trials: 16", f"trials: {trials}") + f"output: {{dir: {work / 'sweeps'}}}\n"
    path = work / "football.yaml"
    path.write_text(text)
    return path


def measure(data: Path, trials: int, jobs: int) -> dict[str, float]:
    dnn = Path(sys.executable).with_name("dnn")
    with tempfile.TemporaryDirectory(prefix="dnn-bench-sweep-") as tmp:
        work = Path(tmp)
        path = sweep_file(work, data, trials)
        start = time.perf_counter()
        subprocess.run([str(dnn), "sweep", str(path), "--jobs", str(jobs), "--quiet", "--json"], cwd=work,
                       check=True, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - start
        summary = json.loads((work / "sweeps" / "football" / "results.json").read_text())
        done = [t for t in summary["trials"] if t["state"] == "complete"]
        # each trial ends as its metrics.json is written, and began its own seconds before that
        ends = [(work / "sweeps" / "football" / "trials" / str(t["number"]) / "metrics.json").stat().st_mtime for t in done]
    trial = [t["seconds"] for t in done]
    training = [t["metrics"]["seconds"] for t in done]
    overhead = [a - b for a, b in zip(trial, training)]
    phase = max(ends) - min(end - seconds for end, seconds in zip(ends, trial))
    return {"jobs": jobs, "wall": wall, "phase": phase, "trial": sum(trial) / len(trial),
            "training": sum(training) / len(training), "overhead": sum(overhead) / len(overhead),
            "overhead_max": max(overhead)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=default_data())
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--rounds", type=int, default=1, help="each --jobs value's fastest of this many runs (taking turns)")
    args = parser.parse_args()
    if not args.data.exists():
        print(f"skipped: {args.data} is absent (set DNN_SHARED_DATASETS or --data)")
        return
    print(f"football sweep, {args.trials} trials of 3,000 iterations; load average {os.getloadavg()[0]:.2f} "
          f"on {os.cpu_count()} CPUs at the start")
    best: dict[int, dict[str, float]] = {}
    for _ in range(args.rounds):
        for jobs in args.jobs:
            row = measure(args.data, args.trials, jobs)
            if jobs not in best or row["wall"] < best[jobs]["wall"]:
                best[jobs] = row
    print(f"{'jobs':>4} {'wall s':>8} {'trials s':>8} {'rest s':>7} {'trial s':>8} {'training s':>10} {'overhead s':>10} {'max':>6}")
    rows = [best[jobs] for jobs in args.jobs]
    for row in rows:
        print(f"{row['jobs']:>4} {row['wall']:>8.2f} {row['phase']:>8.2f} {row['wall'] - row['phase']:>7.2f} {row['trial']:>8.3f} "
              f"{row['training']:>10.3f} {row['overhead']:>10.3f} {row['overhead_max']:>6.3f}")
    if len(rows) > 1:
        first, last = rows[0], rows[-1]
        print(f"speed-up, --jobs {last['jobs']} over --jobs {first['jobs']}: {first['wall'] / last['wall']:.2f}x the whole "
              f"command, {first['phase'] / last['phase']:.2f}x its trials (first start to last end)")
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
