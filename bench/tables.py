"""dnn's table read + encoding against pandas.read_csv alone, on a generated million-row CSV.

    python bench/tables.py                   # 1,000,000 rows, best of 3 rounds each
    python bench/tables.py --rows 200000 --rounds 1

The table: ten number columns (about 5% of each empty), two text categories (5 and 12 levels,
about 2% empty), written with a fixed seed into a temporary directory (removed afterwards).

Each measurement runs in a child process of its own, so that its peak resident memory is its
own: the child reports its time (the work alone, imports excluded: pandas' too, which pyarrow
imports on its first conversion when pandas is installed) and its peak RSS above what it
held once its imports were done (``ru_maxrss`` against ``/proc/self/statm``). dnn's work is the
whole path a training run takes (``dnncli.run.prepare``: ``read_table``, then the encoder's ``fit``
and ``transform`` of the training rows, which are a view of the table when the run holds no rows
out): the file opened and checked, read on every core (:func:`dnncli.data.tables.read_table`),
the encoder learned from the rows (its columns on every core) and the rows encoded into ``X`` of
shape ``(n_x, m)``, float64, column-major (:func:`dnncli.data.encoding.fit_transform`). pandas'
work is ``pandas.read_csv`` alone (its default C engine), with no encoding at all.

Targets (issue 22): dnn's read + encode at most as long as pandas' read alone, and dnn's peak
memory at most twice the encoded matrix.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def write_table(path: Path, rows: int, seed: int = 0) -> None:
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    rng = np.random.default_rng(seed)
    columns = {}
    for i in range(10):
        values = np.round(rng.normal(100 * i, 10 + i, rows), 3)
        columns[f"x{i}"] = pa.array(values, mask=rng.random(rows) < 0.05)
    for name, levels in (("colour", 5), ("region", 12)):
        words = np.array([f"{name}-{k}" for k in range(levels)])
        columns[name] = pa.array(words[rng.integers(0, levels, rows)], mask=rng.random(rows) < 0.02)
    pa_csv.write_csv(pa.table(columns), path, pa_csv.WriteOptions(quoting_style="needed"))


def _resident_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def worker(engine: str, path: str) -> dict:
    """One measurement, in this (child) process."""
    if engine == "dnn":
        import pyarrow as pa

        from dnncli.data.encoding import TableOptions, fit_transform
        from dnncli.data.tables import open_table, read_table

        # pyarrow imports pandas, when it is installed (as here), on its first conversion of
        # Python or NumPy values: an import (0.15-0.25 s on this machine), made here with the others
        pa.array([0.0])
    else:
        import pandas as pd
    baseline = _resident_bytes()
    start = time.perf_counter()
    phases = {}
    if engine == "dnn":
        table = read_table(open_table(path))
        phases["read"] = time.perf_counter() - start
        encoder, encoded = fit_transform(table, TableOptions(), path)
        phases["encode"] = time.perf_counter() - start - phases["read"]
        shape, matrix_bytes = encoded.X.shape, encoded.X.nbytes
    else:
        frame = pd.read_csv(path)
        shape, matrix_bytes = frame.shape, 0
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - baseline
    return {"engine": engine, "seconds": seconds, "phases": phases, "peak_bytes": peak, "shape": list(shape), "matrix_bytes": matrix_bytes}


def measure(engine: str, path: Path) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--worker", engine, str(path)], check=True, capture_output=True, text=True
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3, help="each engine's best of this many runs")
    parser.add_argument("--worker", nargs=2, metavar=("ENGINE", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(*args.worker)))
        return
    with tempfile.TemporaryDirectory(prefix="dnn-bench-tables-") as folder:
        path = Path(folder) / "table.csv"
        started = time.perf_counter()
        write_table(path, args.rows)
        print(f"table: {args.rows:,} rows, {path.stat().st_size / 1e6:.1f} MB of CSV (written in {time.perf_counter() - started:.1f} s)")
        best: dict[str, dict] = {}
        for _ in range(args.rounds):  # the engines take turns, each keeps its fastest run
            for engine in ("pandas", "dnn"):
                found = measure(engine, path)
                if engine not in best or found["seconds"] < best[engine]["seconds"]:
                    best[engine] = found
    dnn, pandas = best["dnn"], best["pandas"]
    matrix = dnn["matrix_bytes"]
    print(f"pandas.read_csv alone:       {pandas['seconds']:6.2f} s   peak +{pandas['peak_bytes'] / 1e6:6.0f} MB   frame {pandas['shape']}")
    print(f"dnn read + encode:           {dnn['seconds']:6.2f} s   peak +{dnn['peak_bytes'] / 1e6:6.0f} MB   X {dnn['shape']} float64, {matrix / 1e6:.0f} MB")
    print(f"  of which read {dnn['phases']['read']:.2f} s, learn + encode {dnn['phases']['encode']:.2f} s; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    time_ok = dnn["seconds"] <= pandas["seconds"]
    memory_ok = dnn["peak_bytes"] <= 2 * matrix
    print(f"target: time <= pandas' read alone: {dnn['seconds'] / pandas['seconds']:.2f}x  {'met' if time_ok else 'NOT met'}")
    print(f"target: peak <= 2x the encoded matrix: {dnn['peak_bytes'] / matrix:.2f}x  {'met' if memory_ok else 'NOT met'}")


if __name__ == "__main__":
    main()
