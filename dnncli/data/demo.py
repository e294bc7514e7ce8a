"""The embedded demo set: small 64x64 RGB pictures, in the layout of the course's cat files, and a
small table of houses (:mod:`dnncli.data.demo_table`, ``demo_table.csv``).

Each picture is a noisy background of a random colour with a gradient and a stripe of another
colour; the positive class ("shape") also holds a filled disc. Everything is drawn from one seeded
generator, so the same seed gives the same bytes on every machine.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dnncli.data.demo_table import write_demo_table
from dnncli.files.atomic import write_with

CLASSES = ["no-shape", "shape"]
SIZE = 64


@dataclass
class DemoFiles:
    train: Path
    test: Path
    samples: list[Path]
    table: Path


def draw_images(n: int, rng: np.random.Generator, size: int = SIZE) -> tuple[np.ndarray, np.ndarray]:
    """``n`` pictures ``(n, size, size, 3)`` uint8 and their labels ``(n,)``, half of each class."""
    y = rng.permutation(np.arange(n) % 2)
    rows = np.arange(size).reshape(1, size, 1)
    cols = np.arange(size).reshape(1, 1, size)

    base = rng.uniform(30, 170, size=(n, 1, 1, 3))
    tilt = rng.uniform(-40, 40, size=(n, 1, 1, 1)) * (rows[..., None] / size - 0.5)
    images = base + tilt + rng.normal(0, 22, size=(n, size, size, 3))

    # a distracting stripe in every picture, horizontal or vertical
    vertical = rng.random((n, 1, 1)) < 0.5
    start = rng.integers(0, size - 6, size=(n, 1, 1))
    width = rng.integers(2, 6, size=(n, 1, 1))
    along = np.where(vertical, cols, rows)
    stripe = (along >= start) & (along < start + width)
    stripe_colour = rng.uniform(0, 255, size=(n, 1, 1, 3))
    images = np.where(stripe[..., None], stripe_colour, images)

    # the positive class: a filled, bright, warm disc somewhere in the picture
    centre_r = rng.uniform(16, size - 16, size=(n, 1, 1))
    centre_c = rng.uniform(16, size - 16, size=(n, 1, 1))
    radius = rng.uniform(9, 16, size=(n, 1, 1))
    disc = ((rows - centre_r) ** 2 + (cols - centre_c) ** 2 <= radius**2) & (y.reshape(n, 1, 1) == 1)
    disc_colour = np.stack(
        [rng.uniform(200, 255, n), rng.uniform(120, 220, n), rng.uniform(0, 90, n)], axis=1
    ).reshape(n, 1, 1, 3)
    disc_pixels = disc_colour + rng.normal(0, 12, size=(n, size, size, 3))
    images = np.where(disc[..., None], disc_pixels, images)

    return np.clip(np.rint(images), 0, 255).astype(np.uint8), y.astype(np.int64)


def _write_h5(path: Path, prefix: str, X: np.ndarray, y: np.ndarray) -> None:
    import h5py

    def write(tmp: Path) -> None:
        with h5py.File(tmp, "w") as f:
            f.create_dataset(f"{prefix}_set_x", data=X)
            f.create_dataset(f"{prefix}_set_y", data=y)
            f.create_dataset("list_classes", data=np.array([c.encode() for c in CLASSES]))

    write_with(path, write, suffix=".h5")


def make_demo(
    out_dir: str | Path = "datasets",
    seed: int = 0,
    n_train: int = 300,
    n_test: int = 100,
    n_samples: int = 6,
    table_rows: int = 400,
) -> DemoFiles:
    """Write ``demo_train.h5``, ``demo_test.h5``, a few test pictures as PNG files and
    ``demo_table.csv`` (``table_rows`` houses, target ``sold``)."""
    from PIL import Image

    out = Path(out_dir)
    rng = np.random.default_rng(seed)
    X_train, y_train = draw_images(n_train, rng)
    X_test, y_test = draw_images(n_test, rng)
    train_path, test_path = out / "demo_train.h5", out / "demo_test.h5"
    _write_h5(train_path, "train", X_train, y_train)
    _write_h5(test_path, "test", X_test, y_test)

    sample_dir = out / "demo_samples"
    sample_dir.mkdir(parents=True, exist_ok=True)
    samples = []
    for i in range(min(n_samples, n_test)):
        path = sample_dir / f"test_{i:02d}_{CLASSES[y_test[i]]}.png"
        write_with(path, lambda tmp, i=i: Image.fromarray(X_test[i]).save(tmp, format="PNG"), ".png")
        samples.append(path)
    table = write_demo_table(out / "demo_table.csv", m=table_rows, seed=seed)
    return DemoFiles(train_path, test_path, samples, table)
