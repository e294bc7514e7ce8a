"""What a sweep's trial costs beyond its training, and what --jobs 2 gains (issue 23).

    python bench/sweep_overhead.py                 # ../shared/datasets/football2d.h5 (or $DNN_SHARED_DATASETS)
    python bench/sweep_overhead.py --trials 8 --jobs 1 2

Runs the shipped football sweep (configs/sweeps/football.yaml: TPE over the learning rate and L2
lambda, 3,000 iterations a trial) with 16 trials, once with each ``--jobs`` value, as the real
``dnn sweep`` command in a temporary directory, and prints for each:

  wall s         the whole command, start-up included
  trial s        each trial's wall time in its worker (results.json ``seconds``), mean
  training s     the run's own training time (its metrics.json ``seconds``), mean
  overhead s     trial s - training s: loading, writing the run directory, the worker's hand-off;
                 mean and max (the goal: at most 0.2 s)

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
    trial = [t["seconds"] for t in done]
    training = [t["metrics"]["seconds"] for t in done]
    overhead = [a - b for a, b in zip(trial, training)]
    return {"jobs": jobs, "wall": wall, "trial": sum(trial) / len(trial), "training": sum(training) / len(training),
            "overhead": sum(overhead) / len(overhead), "overhead_max": max(overhead)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=default_data())
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    if not args.data.exists():
        print(f"skipped: {args.data} is absent (set DNN_SHARED_DATASETS or --data)")
        return
    print(f"football sweep, {args.trials} trials of 3,000 iterations; load average {os.getloadavg()[0]:.2f} "
          f"on {os.cpu_count()} CPUs at the start")
    print(f"{'jobs':>4} {'wall s':>8} {'trial s':>8} {'training s':>10} {'overhead s':>10} {'max':>6}")
    rows = []
    for jobs in args.jobs:
        row = measure(args.data, args.trials, jobs)
        rows.append(row)
        print(f"{jobs:>4} {row['wall']:>8.2f} {row['trial']:>8.3f} {row['training']:>10.3f} "
              f"{row['overhead']:>10.3f} {row['overhead_max']:>6.3f}")
    if len(rows) > 1:
        print(f"speed-up, --jobs {rows[-1]['jobs']} over --jobs {rows[0]['jobs']}: {rows[0]['wall'] / rows[-1]['wall']:.2f}x")
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
