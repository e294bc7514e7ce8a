"""`dnn data inspect`: what a data file or a folder of images holds, a grid of its pictures, and
files that reach into other files refused before anything is read."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
from PIL import Image

from dnncli.plots.datagrid import grid_pixels
from tests.conftest import make_images, one_error_line, run_dnn, shared_file, write_h5


def inspect_json(*args: str) -> dict:
    result = run_dnn("data", "inspect", *args, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def by_key(description: dict) -> dict[str, dict]:
    return {entry["key"]: entry for entry in description["datasets"]}


def test_inspect_describes_every_shared_dataset() -> None:
    cats = inspect_json(str(shared_file("train_catvnoncat.h5")))
    datasets = by_key(cats)
    assert datasets["train_set_x"] == {"key": "train_set_x", "shape": [209, 64, 64, 3], "dtype": "uint8",
                                       "storage": "contiguous", "min": 0, "max": 255}
    assert datasets["train_set_y"]["min"] == 0 and datasets["train_set_y"]["max"] == 1
    assert cats["classes"] == ["non-cat", "cat"]
    [train] = cats["sets"]
    assert train["x"] == "train_set_x" and train["y"] == "train_set_y" and train["examples"] == 209
    assert [(c["name"], c["count"]) for c in train["per_class"]] == [("non-cat", 137), ("cat", 72)]

    test = inspect_json(str(shared_file("test_catvnoncat.h5")))["sets"][0]
    assert [(c["name"], c["count"]) for c in test["per_class"]] == [("non-cat", 17), ("cat", 33)]

    mnist = inspect_json(str(shared_file("mnist10k.h5")))
    [digits] = mnist["sets"]
    assert digits["x"] == "images" and digits["y"] == "labels" and digits["example_shape"] == [28, 28]
    assert [c["name"] for c in digits["per_class"]] == [str(k) for k in range(10)]
    assert sum(c["count"] for c in digits["per_class"]) == 10000
    assert "gzip" in by_key(mnist)["images"]["storage"]
    assert "MNIST" in mnist["attributes"]["source"]

    for name, m in (("planar400.h5", 400), ("moons300.h5", 300)):
        points = inspect_json(str(shared_file(name)))
        features = by_key(points)["train_set_x"]
        assert features["dtype"] == "float64" and features["shape"] == [m, 2]
        assert features["min"] < 0 < features["max"]
        assert sum(c["count"] for c in points["sets"][0]["per_class"]) == m

    football = inspect_json(str(shared_file("football2d.h5")))
    assert [(s["x"], s["examples"]) for s in football["sets"]] == [("test_set_x", 200), ("train_set_x", 211)]


def test_inspect_an_imported_file_and_its_folder(tmp_path: Path) -> None:
    root = tmp_path / "photos"
    colours = {"blue": (0, 0, 255), "red": (255, 0, 0), "white": (255, 255, 255)}
    for name, colour in colours.items():
        (root / name).mkdir(parents=True)
        for i in range(5):
            Image.new("RGB", (20 + i, 10), colour).save(root / name / f"{i}.png")
    (root / "red" / "broken.jpg").write_bytes(b"\xff\xd8\xff not really a jpeg")

    folder = inspect_json(str(root))
    assert folder["kind"] == "folder" and folder["classes"] == ["blue", "red", "white"]
    assert [(c["files"], c["images"]) for c in folder["per_class"]] == [(5, 5), (6, 5), (5, 5)]
    assert folder["formats"] == {"PNG": 15} and folder["modes"] == {"RGB": 15}
    assert folder["sizes"] == {"min_width": 20, "max_width": 24, "min_height": 10, "max_height": 10}
    assert len(folder["unreadable"]) == 1 and "broken.jpg" in folder["unreadable"][0]

    data = tmp_path / "photos.h5"
    assert run_dnn("data", "import", str(root), "-o", str(data), "--size", "8x16", "--resize", "crop",
                   "--test-fraction", "0.4", "--seed", "2").returncode == 0
    imported = inspect_json(str(data))
    assert imported["attributes"]["image_resize"] == "crop" and imported["attributes"]["image_size"] == [8, 16]
    assert imported["attributes"]["format"] == "dnn-images"
    assert by_key(imported)["train_set_x"]["shape"] == [9, 8, 16, 3]
    assert by_key(imported)["train_set_paths"]["dtype"] == "object"
    sets = {s["x"]: [c["count"] for c in s["per_class"]] for s in imported["sets"]}
    assert sets == {"train_set_x": [3, 3, 3], "test_set_x": [2, 2, 2]}

    grid = tmp_path / "grid.png"
    result = run_dnn("data", "inspect", str(data), "--grid", str(grid), "--per-class", "3")
    assert result.returncode == 0, result.stderr
    assert "non" not in result.stdout and "crop" in result.stdout
    with Image.open(grid) as picture:
        assert picture.size == grid_pixels(3, 3) == (375, 450)
        pixels = np.asarray(picture.convert("RGB")).reshape(-1, 3)
    for colour in colours.values():  # each class's row shows its pictures
        assert np.sum(np.all(pixels == colour, axis=1)) > 1000, colour
    again = tmp_path / "again.png"  # the same grid is the same bytes: no date or version inside
    assert run_dnn("data", "inspect", str(data), "--grid", str(again), "--per-class", "3").returncode == 0
    assert again.read_bytes() == grid.read_bytes() and b"Software" not in grid.read_bytes()


def test_grid_of_the_cat_file_and_of_a_folder(tmp_path: Path) -> None:
    grid = tmp_path / "cats.png"
    described = inspect_json(str(shared_file("train_catvnoncat.h5")), "--grid", str(grid))
    assert described["grid"] == {"path": str(grid), "width": 1000, "height": 300}
    with Image.open(grid) as picture:
        assert picture.format == "PNG" and picture.size == (1000, 300)

    root = tmp_path / "gray"
    for name in ("a", "b"):
        (root / name).mkdir(parents=True)
        Image.new("L", (9, 9), 200).save(root / name / "x.png")
    result = run_dnn("data", "inspect", str(root), "--grid", str(tmp_path / "g.png"), "--mode", "grayscale",
                     "--size", "4x4")
    assert result.returncode == 0, result.stderr
    with Image.open(tmp_path / "g.png") as picture:
        assert picture.size == grid_pixels(2, 1)
    one_error_line(run_dnn("data", "inspect", str(shared_file("planar400.h5")), "--grid", str(tmp_path / "p.png")), 2,
                   "'train_set_x' holds examples of shape (2,), which are not pictures")
    assert not (tmp_path / "p.png").exists()


def files_reaching_outside(tmp_path: Path) -> dict[str, Path]:
    other = write_h5(tmp_path / "other.h5", data=np.arange(10))
    (tmp_path / "raw.bin").write_bytes(np.arange(10, dtype=np.int64).tobytes())
    X, y = make_images(10)
    made = {}
    path = write_h5(tmp_path / "external_link.h5", train_set_y=y)
    with h5py.File(path, "a") as f:
        f["train_set_x"] = h5py.ExternalLink(str(other), "/data")
    made["external_link"] = path
    path = write_h5(tmp_path / "soft_to_external.h5", train_set_x=X, train_set_y=y)
    with h5py.File(path, "a") as f:
        f["elsewhere"] = h5py.ExternalLink(str(other), "/data")
        f["list_classes"] = h5py.SoftLink("/elsewhere")
    made["soft_to_external"] = path
    path = write_h5(tmp_path / "external_storage.h5", train_set_x=X)
    with h5py.File(path, "a") as f:
        f.create_dataset("train_set_y", shape=(10,), dtype=np.int64, external=[(str(tmp_path / "raw.bin"), 0, 80)])
    made["external_storage"] = path
    path = write_h5(tmp_path / "virtual.h5", train_set_x=X)
    with h5py.File(path, "a") as f:
        layout = h5py.VirtualLayout(shape=(10,), dtype=np.int64)
        layout[:] = h5py.VirtualSource(str(other), "data", shape=(10,))
        f.create_virtual_dataset("train_set_y", layout)
    made["virtual"] = path
    return made


@pytest.mark.parametrize("kind,fragment", [
    ("external_link", "'train_set_x' is a link to '/data' in the file"),
    ("soft_to_external", "'elsewhere' is a link to '/data' in the file"),
    ("external_storage", "'/train_set_y' stores its values in other files"),
    ("virtual", "'/train_set_y' is a virtual dataset assembled from other files"),
])
def test_files_that_reach_into_other_files_are_refused_by_inspect_and_by_training(
    tmp_path: Path, kind: str, fragment: str
) -> None:
    from dnncli.data.hdf5 import load_dataset
    from dnncli.errors import DataError

    path = files_reaching_outside(tmp_path)[kind]
    line = one_error_line(run_dnn("data", "inspect", str(path)), 2, fragment, "refused: dnn reads only data held in the file itself")
    assert line.startswith(f"error: {path}: ")
    with pytest.raises(DataError, match="refused: dnn reads only data held in the file itself"):
        load_dataset(path)  # what train, evaluate and split read files with


@pytest.mark.parametrize("content,fragment", [
    (None, "no such file or folder"),
    (b"", "is empty (0 bytes)"),
    (b"plain text, not HDF5", "not an HDF5 file"),
])
def test_what_is_not_a_data_file_is_refused_in_one_line(tmp_path: Path, content: bytes | None, fragment: str) -> None:
    path = tmp_path / "data.h5"
    if content is not None:
        path.write_bytes(content)
    one_error_line(run_dnn("data", "inspect", str(path)), 2, fragment)
