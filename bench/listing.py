"""``dnn runs`` over many run directories and ``dnn data split`` of a file with many classes,
timed (issue 26). Each line is the best of ``--repeats`` runs (wall time: the machine may be
shared, and the fastest run is the least disturbed).

    python bench/listing.py --run runs/football      # a run's config.yaml and metrics.json
    python bench/listing.py --sections split

Sections:
  runs   ``dnn runs DIR`` (reading the runs; the table, CSV and JSON) over ``--runs`` copies of one
         real run's config.yaml, metrics.json and history.csv (model.h5 is not read), each copy
         with its own learning rate so that the table has a setting that differs
  split  ``dnn data split`` (the file written and the summary's table) of ``--examples`` examples
         of ``--classes`` class names, every class with at least one example
"""

from __future__ import annotations

import argparse
import io
import math
import shutil
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np
from rich.console import Console

from dnncli.cli.render import import_table
from dnncli.data.setfile import split_file
from dnncli.run.listing import list_runs


def best(f: Callable[[], object], repeats: int) -> float:
    fastest = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        f()
        fastest = min(fastest, time.perf_counter() - start)
    return fastest


def make_runs(run: Path, root: Path, count: int) -> Path:
    """``count`` run directories under ``root/runs``, copies of ``run``'s small files."""
    runs = root / "runs"
    config = (run / "config.yaml").read_text()
    for i in range(count):
        copy = runs / f"{run.name}-{i}"
        copy.mkdir(parents=True)
        for name in ("metrics.json", "history.csv"):
            if (run / name).exists():
                shutil.copyfile(run / name, copy / name)
        (copy / "config.yaml").write_text(config.replace("learning_rate:", f"learning_rate: {1 + i}e-4 #", 1))
    return runs


def time_listing(runs: Path, repeats: int) -> str:
    """Reading the runs, then each output from what was read."""
    listing = list_runs([str(runs)])
    times = {
        "read": best(lambda: list_runs([str(runs)]), repeats),
        "table": best(lambda: Console(file=io.StringIO(), width=200).print(listing.table(200)[0]), repeats),
        "csv": best(lambda: listing.text("csv"), repeats),
        "json": best(lambda: listing.text("json"), repeats),
    }
    return ", ".join(f"{what} {seconds:.2f} s" for what, seconds in times.items())


def make_classes(path: Path, classes: int, examples: int) -> Path:
    import h5py

    rng = np.random.default_rng(0)
    labels = np.r_[np.arange(classes), rng.integers(0, classes, examples - classes)]
    rng.shuffle(labels)
    with h5py.File(path, "w") as f:
        f["train_set_x"] = rng.integers(0, 256, (examples, 2, 2, 3), dtype=np.uint8)
        f["train_set_y"] = labels
        f["list_classes"] = np.array([f"class{i}".encode() for i in range(classes)])
    return path


def split_and_show(source: Path, target: Path) -> None:
    summary = split_file(source, target, 0.2, seed=1, force=True)
    Console(file=io.StringIO(), width=120).print(import_table(summary))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sections", default="runs,split")
    parser.add_argument("--run", type=Path, default=None, help="a run directory to copy (default: the first under runs/)")
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--classes", type=int, default=100_000)
    parser.add_argument("--examples", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if "runs" in args.sections:
            run = args.run or next(p.parent for p in sorted(Path("runs").glob("*/config.yaml")))
            runs = make_runs(run, Path(tmp), args.runs)
            print(f"runs   dnn runs over {args.runs:,} runs: {time_listing(runs, args.repeats)}")
        if "split" in args.sections:
            source = make_classes(Path(tmp) / "classes.h5", args.classes, args.examples)
            seconds = best(lambda: split_and_show(source, Path(tmp) / "split.h5"), args.repeats)
            print(f"split  dnn data split of {args.examples:,} examples, {args.classes:,} classes (file and table): {seconds:.2f} s")


if __name__ == "__main__":
    main()
