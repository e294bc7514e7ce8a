"""`dnn data import` and `dnn data split`: folders of images into HDF5 sets, read exactly as
`dnn predict` reads them, and hostile folders refused or reported one line at a time."""

from __future__ import annotations

import hashlib
import json
import os
import signal
from pathlib import Path

import h5py
import numpy as np
import pytest
from PIL import Image

from dnncli.data.image_import import ImportOptions, import_folder
from dnncli.data.images import load_image
from dnncli.data.splits import stratified_split
from dnncli.model.file import load_model
from tests.conftest import CONFIGS, one_error_line, run_dnn, shared_file, write_h5

CAT_CLASSES = ["non-cat", "cat"]


def only_the(directory: Path, *names: str) -> None:
    """Nothing half-written: the directory holds exactly these entries (no temporary files)."""
    assert sorted(os.listdir(directory)) == sorted(names)


def write_pngs(images: np.ndarray, labels: np.ndarray, root: Path) -> None:
    """Example i of class c as ``root/<class name>/<i>.png``."""
    for index, (image, label) in enumerate(zip(images, labels)):
        folder = root / CAT_CLASSES[int(label)]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(folder / f"{index:03d}.png")


def read_set(path: Path, prefix: str = "train") -> tuple[np.ndarray, np.ndarray | None, list[str], dict]:
    with h5py.File(path, "r") as f:
        y = f[f"{prefix}_set_y"][()] if f"{prefix}_set_y" in f else None
        paths = [os.fsdecode(p) for p in f[f"{prefix}_set_paths"][()]]
        return f[f"{prefix}_set_x"][()], y, paths, dict(f.attrs)


# ---- the course's cat set through PNG folders ------------------------------------------------


@pytest.mark.slow
def test_the_cat_set_through_png_folders_gives_the_same_arrays_and_the_published_result(
    tmp_path: Path, cat_files: dict
) -> None:
    from dnncli import load_config, run_training

    imported = {}
    for prefix in ("train", "test"):
        with h5py.File(cat_files[prefix], "r") as f:
            X, y = f[f"{prefix}_set_x"][()], f[f"{prefix}_set_y"][()].reshape(-1)
        write_pngs(X, y, tmp_path / prefix)
        out = tmp_path / f"{prefix}.h5"
        result = run_dnn("data", "import", str(tmp_path / prefix), "-o", str(out), "--classes", "non-cat,cat",
                         "--prefix", prefix)
        assert result.returncode == 0, result.stderr
        assert result.stderr == ""
        X_imported, y_imported, paths, attrs = read_set(out, prefix)
        # the order is class by class, then by file name: example by example, as sets
        assert len(paths) == len(X)
        originals = [int(Path(p).stem) for p in paths]
        assert sorted(originals) == list(range(len(X)))
        np.testing.assert_array_equal(X_imported, X[originals])
        np.testing.assert_array_equal(y_imported, y[originals])
        assert [Path(p).parent.name for p in paths] == [CAT_CLASSES[k] for k in y_imported]
        assert attrs["image_resize"] == "squash" and list(attrs["image_size"]) == [64, 64]
        with h5py.File(out, "r") as f:
            assert [n.decode() for n in f["list_classes"][()]] == CAT_CLASSES
        imported[prefix] = out

    config = load_config(CONFIGS / "cat_logreg.yaml", [f"data.train={imported['train']}", f"data.test={imported['test']}"])
    metrics, _, _ = run_training(config, run_dir=tmp_path / "run")
    assert round(metrics["train_accuracy"], 4) == 0.9904
    assert metrics["test_accuracy"] == 0.70
    assert load_model(tmp_path / "run").input_resize == "squash"


# ---- every kind of image: the same pixels imported and predicted -----------------------------


def mixed_folder(root: Path) -> None:
    """Two classes of JPEG, grayscale, RGBA, palette (with transparency), 16-bit and EXIF-rotated
    images of different sizes."""
    rng = np.random.default_rng(5)
    for name in ("a", "b"):
        (root / name).mkdir(parents=True)
        Image.fromarray(rng.integers(0, 256, (30, 20, 3), dtype=np.uint8)).save(root / name / "photo.jpg", quality=70)
        Image.fromarray(rng.integers(0, 256, (9, 7), dtype=np.uint8)).save(root / name / "gray.png")
        Image.fromarray(rng.integers(0, 256, (16, 24, 4), dtype=np.uint8)).save(root / name / "alpha.png")
        palette = Image.fromarray(rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)).quantize(16)
        palette.info["transparency"] = 0
        palette.save(root / name / "palette.png", transparency=0)
        Image.fromarray(rng.integers(0, 65536, (11, 13), dtype=np.uint16)).save(root / name / "deep.png")
        rotated = Image.fromarray(rng.integers(0, 256, (10, 20, 3), dtype=np.uint8))
        exif = rotated.getexif()
        exif[0x0112] = 6  # orientation: rotate 90 degrees when shown
        rotated.save(root / name / "rotated.jpg", exif=exif, quality=90)


@pytest.mark.parametrize("resize,mode", [("squash", "rgb"), ("crop", "grayscale"), ("pad", "rgb")])
def test_mixed_images_import_to_exactly_the_pixels_predict_reads(tmp_path: Path, resize: str, mode: str) -> None:
    mixed_folder(tmp_path / "photos")
    out = tmp_path / "set.h5"
    result = run_dnn("data", "import", str(tmp_path / "photos"), "-o", str(out), "--size", "10x12",
                     "--resize", resize, "--mode", mode)
    assert result.returncode == 0, result.stderr
    X, y, paths, attrs = read_set(out)
    shape = (10, 12, 3) if mode == "rgb" else (10, 12)
    assert X.shape == (12, *shape) and X.dtype == np.uint8
    assert attrs["image_resize"] == resize and attrs["image_mode"] == mode
    for example, relative in zip(X, paths):
        np.testing.assert_array_equal(
            example, load_image(tmp_path / "photos" / relative, shape, "uint8", resize=resize), err_msg=relative
        )
    assert len({example.tobytes() for example in X}) == 12  # every file gave its own picture


def test_a_model_trained_on_an_import_predicts_its_files_from_the_same_pixels(tmp_path: Path) -> None:
    from dnncli import load_config, run_training
    from dnncli.model.predict import predict_files

    mixed_folder(tmp_path / "photos")
    data = tmp_path / "set.h5"
    assert run_dnn("data", "import", str(tmp_path / "photos"), "-o", str(data), "--size", "8x8",
                   "--resize", "crop").returncode == 0
    config = tmp_path / "tiny.yaml"
    config.write_text(f"model: {{hidden: [4], seed: 2}}\ndata: {{train: {data}}}\ntraining: {{iterations: 5}}\n")
    run_training(load_config(config, []), run_dir=tmp_path / "run")
    bundle = load_model(tmp_path / "run")
    assert bundle.input_resize == "crop"  # recorded by the import, carried by the model

    X, _, paths, _ = read_set(data)
    files = [str(tmp_path / "photos" / p) for p in paths]
    predicted = list(predict_files(bundle, files))
    expected = bundle.network.predict_proba((X.reshape(len(X), -1).T / 255.0).astype(bundle.network.dtype))[0]
    np.testing.assert_array_equal([p.probabilities[bundle.classes[1]] for p in predicted], expected)


def test_resize_modes_crop_the_centre_or_pad_with_black(tmp_path: Path) -> None:
    wide = np.zeros((10, 20, 3), dtype=np.uint8)
    wide[:, 5:15] = 200  # the centre square is bright, the sides dark
    Image.fromarray(wide).save(tmp_path / "wide.png")
    cropped = load_image(tmp_path / "wide.png", (10, 10, 3), resize="crop")
    np.testing.assert_array_equal(cropped, wide[:, 5:15])
    padded = load_image(tmp_path / "wide.png", (20, 20, 3), resize="pad")
    np.testing.assert_array_equal(padded[5:15], wide)  # whole picture, centred
    assert not padded[:5].any() and not padded[15:].any()  # black borders above and below
    squashed = load_image(tmp_path / "wide.png", (10, 10, 3), resize="squash")
    expected = np.asarray(Image.fromarray(wide).resize((10, 10), Image.Resampling.BILINEAR))
    np.testing.assert_array_equal(squashed, expected)


def test_models_without_a_recorded_resize_squash(tmp_path: Path) -> None:
    from tests.model_helpers import make_model

    path = make_model(tmp_path / "model.h5")
    with h5py.File(path, "a") as f:
        del f.attrs["input_resize"]  # as written before the resize mode was recorded
    assert load_model(path).input_resize == "squash"
    with h5py.File(path, "a") as f:
        f.attrs["input_resize"] = "stretch\n"
    one_error_line(run_dnn("info", str(path)), 2, "input_resize = 'stretch\\n', expected one of squash, crop, pad")


# ---- hostile folders -------------------------------------------------------------------------


def hostile_folder(root: Path) -> dict[str, int]:
    """Class folders named with markup and control characters, holding good images, a corrupt
    file, an empty one, a text file, a symlink loop, a self-referring link, a dangling link, a
    pipe and files named with markup and control characters. Returns the good images per class."""
    good = np.full((6, 5, 3), 90, dtype=np.uint8)
    classes = {"[red]cats[/red]".replace("/", "|"): 2, "dogs\x1b[2J\nx": 3}
    for name, count in classes.items():
        (root / name).mkdir(parents=True)
        for i in range(count - 1):
            Image.fromarray(good + i).save(root / name / f"{i}.png")
    cats, dogs = (root / name for name in classes)
    Image.fromarray(good).save(cats / "[bold]x[/bold]\x1b[31m\nname.png".replace("/", "|"))
    Image.fromarray(good).save(dogs / "tab\there\u202e.png")
    (cats / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    (cats / "empty.jpg").write_bytes(b"")
    (cats / "notes.txt").write_text("not a picture")
    os.symlink("..", dogs / "loop")
    os.symlink("self.png", dogs / "self.png")
    os.symlink("nowhere.png", dogs / "dangling.png")
    os.mkfifo(dogs / "pipe.png")
    (dogs / ".DS_Store").write_bytes(b"hidden: passed over in silence")
    return classes


def test_a_hostile_folder_imports_its_good_images_and_names_each_bad_file_on_one_line(tmp_path: Path) -> None:
    classes = hostile_folder(tmp_path / "photos")
    out = tmp_path / "out" / "set.h5"
    result = run_dnn("data", "import", str(tmp_path / "photos"), "-o", str(out))
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    skipped = [line for line in lines if line.startswith("warning: skipped ")]
    assert len(skipped) == 7 and len(lines) == 8, lines  # 3 bad files, loop, self-link, dangling, pipe
    assert lines[-1] == "warning: 7 of 12 files were not imported (named above)"
    for fragment in ("corrupt.png", "empty.jpg", "notes.txt", "loop: a link to a folder already visited",
                     "self.png: a symbolic link", "dangling.png: a symbolic link", "pipe.png: not a regular file"):
        assert sum(fragment in line for line in skipped) == 1, fragment
    for stream in (result.stdout, result.stderr):
        assert "\x1b" not in stream and "\u202e" not in stream and "\t" not in stream
    assert "dogs\\x1b[2J\\x0ax" in result.stdout  # shown escaped, never raw
    assert "[red]cats[|red]" in result.stdout  # shown as written, not read as markup

    X, y, paths, attrs = read_set(out)
    with h5py.File(out, "r") as f:
        stored = [name.decode() for name in f["list_classes"][()]]
    assert stored == sorted(classes)  # class names stored exactly as the folders are named
    assert np.bincount(y).tolist() == [classes[name] for name in stored]
    assert any("\x1b[31m\nname.png" in p for p in paths)  # file names kept as they are
    only_the(out.parent, "set.h5")


def test_strict_makes_any_bad_file_an_error_and_writes_nothing(tmp_path: Path) -> None:
    hostile_folder(tmp_path / "photos")
    (tmp_path / "out").mkdir()
    result = run_dnn("data", "import", str(tmp_path / "photos"), "-o", str(tmp_path / "out" / "set.h5"), "--strict")
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 8 and all(line.startswith("error: ") for line in lines), lines
    assert lines[-1] == "error: 7 of 12 files could not be imported (--strict); nothing written"
    only_the(tmp_path / "out")


@pytest.mark.parametrize("layout,args,fragment", [
    ({"cat": 1, "dog": 0}, [], "the class folder 'dog' holds no files"),
    ({"cat": 2}, [], "only one class folder ('cat')"),
    ({"cat": 1, "dog": 1}, ["--classes", "cat,bird"], "no class folder 'bird' (its class folders: 'cat', 'dog')"),
    ({"cat": 1, "dog": 1}, ["--classes", "cat,cat"], "--classes names 'cat' more than once"),
    ({"cat\n\x1b[1m": 1}, [], "only one class folder ('cat\\x0a\\x1b[1m')"),
    ({}, [], "no files to import"),
    ({"cat": 1, "dog": 1}, ["--size", "64by64"], "--size '64by64': expected HEIGHTxWIDTH"),
    ({"cat": 1, "dog": 1}, ["--prefix", "val"], "--prefix 'val': expected train or test"),
    ({"cat": 1, "dog": 1}, ["--test-fraction", "0.1"], "--test-fraction 0.1 of 2 examples leaves no test example"),
])
def test_folders_that_cannot_make_a_set_are_refused_in_one_line(
    tmp_path: Path, layout: dict, args: list, fragment: str
) -> None:
    root = tmp_path / "photos"
    root.mkdir()
    for name, count in layout.items():
        (root / name).mkdir()
        for i in range(count):
            Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(root / name / f"{i}.png")
    (tmp_path / "out").mkdir()
    result = run_dnn("data", "import", str(root), "-o", str(tmp_path / "out" / "set.h5"), *args)
    one_error_line(result, 2, fragment)
    only_the(tmp_path / "out")


def test_a_folder_without_class_folders_imports_unlabelled_examples(tmp_path: Path) -> None:
    root = tmp_path / "flat"
    root.mkdir()
    for i in range(3):
        Image.fromarray(np.full((5, 5), 40 * i, np.uint8)).save(root / f"{i}.png")
    out = tmp_path / "flat.h5"
    result = run_dnn("data", "import", str(root), "-o", str(out), "--mode", "grayscale", "--size", "5x5", "--json")
    assert result.returncode == 0, result.stderr
    with h5py.File(out, "r") as f:
        assert sorted(f.keys()) == ["train_set_paths", "train_set_x"]  # no labels, no classes
        np.testing.assert_array_equal(f["train_set_x"][:, 0, 0], [0, 40, 80])
    again = run_dnn("data", "import", str(root), "-o", str(out))
    one_error_line(again, 2, "already exists", "--force")


def test_an_interrupted_import_leaves_nothing(tmp_path: Path) -> None:
    root = tmp_path / "many"
    for label in ("a", "b"):
        (root / label).mkdir(parents=True)
        for i in range(130):  # 260 files: enough for the pool (PARALLEL_FROM)
            Image.fromarray(np.full((4, 4, 3), i, np.uint8)).save(root / label / f"{i}.png")
    (tmp_path / "out").mkdir()

    def interrupt(done: int, total: int) -> None:
        if done >= 64:
            raise KeyboardInterrupt  # what Ctrl-C raises in the middle of decoding

    for jobs in (1, 2):  # in this process, and with the pool of worker processes
        with pytest.raises(KeyboardInterrupt):
            import_folder(root, tmp_path / "out" / "set.h5", ImportOptions(size=(4, 4), jobs=jobs), progress=interrupt)
        only_the(tmp_path / "out")
    # the pool gives the same file as one process
    one = import_folder(root, tmp_path / "one.h5", ImportOptions(size=(4, 4), jobs=1))
    two = import_folder(root, tmp_path / "two.h5", ImportOptions(size=(4, 4), jobs=2))
    assert one.train_counts == two.train_counts == [130, 130]
    np.testing.assert_array_equal(read_set(tmp_path / "one.h5")[0], read_set(tmp_path / "two.h5")[0])


def test_ctrl_c_through_the_installed_command_exits_130_and_leaves_nothing(tmp_path: Path) -> None:
    import subprocess
    import time

    from tests.conftest import dnn_executable

    root = tmp_path / "many"
    for label in ("a", "b"):
        (root / label).mkdir(parents=True)
        for i in range(130):
            Image.fromarray(np.full((4, 4, 3), i, np.uint8)).save(root / label / f"{i}.png")
    (tmp_path / "out").mkdir()
    process = subprocess.Popen(
        [dnn_executable(), "data", "import", str(root), "-o", str(tmp_path / "out" / "set.h5"), "--size", "4x4",
         "--jobs", "2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "NO_COLOR": "1"},
        start_new_session=True,  # its own process group: Ctrl-C reaches the command and its workers
    )
    children = Path(f"/proc/{process.pid}/task/{process.pid}/children")
    deadline = time.monotonic() + 30
    while process.poll() is None and time.monotonic() < deadline and not children.read_text().strip():
        time.sleep(0.02)  # until the pool of decoders starts (its first helper process)
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)
    assert "Traceback" not in stderr, stderr
    if process.returncode == 0:  # it finished before the signal: then the whole file is there
        only_the(tmp_path / "out", "set.h5")
    else:
        assert process.returncode == 130 and stderr == "error: interrupted\n", stderr
        only_the(tmp_path / "out")


# ---- test fractions and dnn data split -------------------------------------------------------


def test_the_test_draw_is_stratified_seeded_and_keeps_every_class_in_training() -> None:
    labels = np.repeat([0, 1, 2], [50, 30, 1])
    train, test = stratified_split(labels, labels.size, 0.2, seed=1)
    assert np.bincount(labels[test], minlength=3).tolist() == [10, 6, 0]  # round(0.2 n), at most n - 1
    assert np.array_equal(np.sort(np.concatenate([train, test])), np.arange(labels.size))
    again, _ = stratified_split(labels, labels.size, 0.2, seed=1)
    other, _ = stratified_split(labels, labels.size, 0.2, seed=2)
    assert np.array_equal(train, again) and not np.array_equal(train, other)


def test_the_test_draw_is_the_same_as_ever_for_labels_in_any_order_and_many_classes() -> None:
    # pinned from the draw as it was first written (one permutation per class, in class order):
    # grouping the classes differently must not change which examples a seed puts in the test set
    labels = np.random.default_rng(0).integers(0, 12, 60)
    _, test = stratified_split(labels, labels.size, 0.25, seed=3)
    assert test.tolist() == [0, 9, 13, 16, 26, 29, 35, 36, 37, 44, 51, 52, 58]
    labels = np.random.default_rng(1).integers(0, 3000, 5000)  # many classes of one example
    train, test = stratified_split(labels, labels.size, 0.2, seed=7)
    assert hashlib.sha256(test.astype("<i8").tobytes()).hexdigest()[:16] == "9182c9e081e464f7"
    assert train.dtype == test.dtype == np.int64 and np.array_equal(np.union1d(train, test), np.arange(5000))


def test_split_writes_stratified_train_and_test_sets_with_their_files(tmp_path: Path) -> None:
    root = tmp_path / "photos"
    for label, count in (("a", 10), ("b", 20)):
        (root / label).mkdir(parents=True)
        for i in range(count):
            Image.fromarray(np.full((3, 3, 3), i * 10, np.uint8)).save(root / label / f"{i:02d}.png")
    whole = tmp_path / "whole.h5"
    assert run_dnn("data", "import", str(root), "-o", str(whole), "--size", "3x3", "--resize", "pad").returncode == 0
    result = run_dnn("data", "split", str(whole), "--test-fraction", "0.2", "--seed", "1", "-o", str(tmp_path / "s.h5"), "--json")
    assert result.returncode == 0, result.stderr
    import json

    summary = json.loads(result.stdout)
    assert summary["train_counts"] == [8, 16] and summary["test_counts"] == [2, 4]
    X, y, paths, _ = read_set(whole)
    by_path = dict(zip(paths, X))
    with h5py.File(tmp_path / "s.h5", "r") as f:
        assert f.attrs["image_resize"] == "pad"  # the import's record travels with the examples
        for prefix in ("train", "test"):
            for example, path in zip(f[f"{prefix}_set_x"][()], f[f"{prefix}_set_paths"][()]):
                np.testing.assert_array_equal(example, by_path[os.fsdecode(path)])
        assert sorted(map(bytes, [*f["train_set_paths"][()], *f["test_set_paths"][()]])) == sorted(map(os.fsencode, paths))
    import_split = run_dnn("data", "import", str(root), "-o", str(tmp_path / "i.h5"), "--size", "3x3",
                           "--resize", "pad", "--test-fraction", "0.2", "--seed", "1")
    assert import_split.returncode == 0
    with h5py.File(tmp_path / "i.h5", "r") as a, h5py.File(tmp_path / "s.h5", "r") as b:
        for key in ("train_set_x", "train_set_y", "test_set_x", "test_set_y"):
            np.testing.assert_array_equal(a[key][()], b[key][()])  # the same draw either way


def test_split_of_many_classes_shows_the_first_classes_and_lists_all_in_json(tmp_path: Path) -> None:
    labels = np.r_[np.arange(250), np.arange(250)]
    names = np.array([f"c{i}".encode() for i in range(250)])
    source = write_h5(tmp_path / "many.h5", train_set_x=np.zeros((500, 2), np.uint8), train_set_y=labels, list_classes=names)
    shown = run_dnn("data", "split", str(source), "--test-fraction", "0.5", "-o", str(tmp_path / "a.h5"), env={"COLUMNS": "100"})
    assert shown.returncode == 0, shown.stderr
    assert " c199 " in shown.stdout and " c200 " not in shown.stdout
    assert shown.stdout.rstrip().endswith("... and 50 more classes (--json lists them all)")
    listed = run_dnn("data", "split", str(source), "--test-fraction", "0.5", "-o", str(tmp_path / "b.h5"), "--json")
    summary = json.loads(listed.stdout)
    assert len(summary["classes"]) == 250 and summary["test_counts"] == [1] * 250


def test_split_takes_the_training_set_of_a_shared_file_and_refuses_what_it_cannot_split(tmp_path: Path) -> None:
    football = shared_file("football2d.h5")
    out = tmp_path / "football.h5"
    result = run_dnn("data", "split", str(football), "-o", str(out), "--test-fraction", "0.25")
    assert result.returncode == 0, result.stderr
    assert result.stderr == f"warning: {football}: also holds test_set_x, not copied\n"
    with h5py.File(football, "r") as f:
        y = f["train_set_y"][()]
    with h5py.File(out, "r") as f:
        assert f["train_set_x"].shape[0] + f["test_set_x"].shape[0] == y.size
        assert np.bincount(f["test_set_y"][()]).tolist() == [round(0.25 * n) for n in np.bincount(y)]
    one_error_line(run_dnn("data", "split", str(football), "-o", str(out)), 2, "already exists")
    one_error_line(run_dnn("data", "split", str(tmp_path / "none.h5"), "-o", str(tmp_path / "o.h5")), 2, "no such data file")
    one_error_line(run_dnn("data", "split", str(football), "-o", str(tmp_path / "o.h5"), "--test-fraction", "0.001"), 2,
                   "leaves no test example")
    only_the(tmp_path, "football.h5")


# ---- folders of images wherever a data file goes ---------------------------------------------


def coloured_folder(root: Path, counts: dict[str, int], seed: int = 0) -> None:
    """Class 'dark' of dark pictures and 'bright' of bright ones, of assorted sizes."""
    rng = np.random.default_rng(seed)
    for name, count in counts.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        base = 40 if name == "dark" else 170
        for i in range(count):
            size = (6 + i % 3, 5 + i % 4, 3)
            Image.fromarray((base + rng.integers(0, 60, size)).astype(np.uint8)).save(root / name / f"{i:02d}.png")


def test_folders_train_test_and_evaluate_like_files_decoded_once_and_again_when_a_file_changes(tmp_path: Path) -> None:
    from dnncli import load_config, run_training
    from dnncli.data.hdf5 import load_dataset
    from dnncli.run.prepare import prepare

    coloured_folder(tmp_path / "train", {"dark": 12, "bright": 12})
    coloured_folder(tmp_path / "test", {"dark": 5, "bright": 5}, seed=1)
    cache = tmp_path / "cache"
    config = tmp_path / "folders.yaml"
    config.write_text(
        f"name: folders\nmodel: {{hidden: [3], seed: 1}}\n"
        f"data: {{train: {tmp_path / 'train'}, test: {tmp_path / 'test'}, image_size: [4, 4], resize: pad,\n"
        f"       classes: [dark, bright], cache_dir: {cache}}}\n"
        "training: {learning_rate: 0.5, iterations: 40}\n"
    )
    metrics, _, prepared = run_training(load_config(config, []), run_dir=tmp_path / "run")
    assert metrics["train_accuracy"] == 1.0 and metrics["test_accuracy"] == 1.0
    assert load_model(tmp_path / "run").input_resize == "pad"
    cached = sorted((cache / "images").iterdir())
    assert len(cached) == 2  # the training folder and the test folder

    # the cache holds exactly what dnn data import writes
    assert run_dnn("data", "import", str(tmp_path / "train"), "-o", str(tmp_path / "train.h5"), "--size", "4x4",
                   "--resize", "pad", "--classes", "dark,bright").returncode == 0
    imported = load_dataset(tmp_path / "train.h5")
    np.testing.assert_array_equal(prepared.data.X, imported.columns(255.0))

    again = prepare(load_config(config, []))
    assert sorted((cache / "images").iterdir()) == cached  # nothing decoded twice
    assert [p.stat().st_mtime_ns for p in cached] == [p.stat().st_mtime_ns for p in sorted((cache / "images").iterdir())]
    np.testing.assert_array_equal(again.data.X, prepared.data.X)
    Image.fromarray(np.full((4, 4, 3), 255, np.uint8)).save(tmp_path / "train" / "dark" / "00.png")  # one file changed
    changed = prepare(load_config(config, []))
    assert len(list((cache / "images").iterdir())) == 3
    assert np.array_equal(changed.data.X[:, 0], np.ones(48)) and not np.array_equal(changed.data.X, prepared.data.X)

    # dnn evaluate on a folder reads it as the model's training images were, labels by folder name
    result = run_dnn("evaluate", str(tmp_path / "test"), "--model", str(tmp_path / "run"), "--cache-dir", str(cache), "--json")
    assert result.returncode == 0, result.stderr
    import json

    report = json.loads(result.stdout)
    assert report["accuracy"] == 1.0 and report["examples"] == 10 and report["classes"] == ["dark", "bright"]
    assert len(list((cache / "images").iterdir())) == 3  # the test folder was cached by the run already
    (tmp_path / "test" / "dark").rename(tmp_path / "only-bright")  # a folder with some classes only
    result = run_dnn("evaluate", str(tmp_path / "test"), "--model", str(tmp_path / "run"), "--cache-dir", str(cache), "--json")
    assert result.returncode == 0 and json.loads(result.stdout)["confusion_matrix"] == [[0, 0], [0, 5]]
    coloured_folder(tmp_path / "test", {"grey": 1})
    one_error_line(run_dnn("evaluate", str(tmp_path / "test"), "--model", str(tmp_path / "run"), "--cache-dir", str(cache)), 2,
                   "the folder 'grey' is not one of the classes 'dark', 'bright'")
