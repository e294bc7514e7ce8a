"""`dnn data import` on 10,000 generated 64x64 PNGs: one process (--jobs 1) against all cores.

    python bench/import_images.py                      # makes the PNGs in a temporary folder
    python bench/import_images.py --folder /tmp/pngs --rounds 3

The pictures are the demo set's (``dnncli.data.demo.draw_images``: noisy backgrounds, stripes,
discs), written as PNG files in two class folders. Each round runs the installed ``dnn`` once with
``--jobs 1`` and once with the default (one worker process per available core), alternating, and
reports the wall time, images per second, and the CPU seconds of the command and every helper
process it started (sampled from /proc every 20 ms, so a process's last 20 ms may be missed), with
the load average: on a machine whose cores are busy with other work, a pool cannot be faster.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def make_pngs(folder: Path, n: int) -> None:
    import numpy as np
    from PIL import Image

    from dnncli.data.demo import CLASSES, draw_images

    images, labels = draw_images(n, np.random.default_rng(0))
    for name in CLASSES:
        (folder / name).mkdir(parents=True, exist_ok=True)
    for i, (image, label) in enumerate(zip(images, labels)):
        Image.fromarray(image).save(folder / CLASSES[label] / f"{i:05d}.png")


def _descendants(pid: int) -> list[int]:
    found = [pid]
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            for child in Path(f"/proc/{pid}/task/{task}/children").read_text().split():
                found += _descendants(int(child))
    except OSError:
        pass
    return found


def _cpu_seconds(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime


def run_once(dnn: str, folder: Path, out: Path, extra: list[str]) -> tuple[float, dict[int, float]]:
    start = time.perf_counter()
    process = subprocess.Popen([dnn, "data", "import", str(folder), "-o", str(out), "--force", "-q", *extra],
                               stdout=subprocess.DEVNULL)
    cpu: dict[int, float] = {}
    while process.poll() is None:
        for pid in _descendants(process.pid):
            seconds = _cpu_seconds(pid)
            if seconds is not None:
                cpu[pid] = seconds
        time.sleep(0.02)
    if process.returncode != 0:
        sys.exit(f"dnn data import failed with exit code {process.returncode}")
    return time.perf_counter() - start, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", type=Path, help="where the PNGs are (made there if absent)")
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dnn", default=shutil.which("dnn") or str(Path(sys.executable).with_name("dnn")))
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="dnn-import-bench-"))
    try:
        folder = args.folder or work / "pngs"
        if not folder.exists():
            print(f"writing {args.images} PNGs into {folder} ...", file=sys.stderr)
            make_pngs(folder, args.images)
        n = sum(1 for _ in folder.rglob("*.png"))
        print(f"| run | wall (s) | images/s | CPU (s), all processes | CPU per process (s) | load average |")
        print("| --- | ---: | ---: | ---: | --- | ---: |")
        for _ in range(args.rounds):
            for label, extra in (("--jobs 1", ["--jobs", "1"]), ("all cores", [])):
                wall, cpu = run_once(args.dnn, folder, work / "out.h5", extra)
                each = ", ".join(f"{s:.2f}" for s in sorted(cpu.values(), reverse=True) if s >= 0.01)
                print(f"| {label} | {wall:.2f} | {n / wall:.0f} | {sum(cpu.values()):.2f} | {each} | "
                      f"{os.getloadavg()[0]:.1f} |", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
