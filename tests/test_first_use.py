"""What a new user meets (issue 27): the README's tour run top to bottom, data that cannot be
found, a folder imported at its own size, which model a command read, misclassified examples named
by their files, a run directory given as data, pictures that say what differs, and numbers printed
in one format per metric."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import h5py
import numpy as np
import pytest
from PIL import Image

from dnncli.cli.render import training_summary
from dnncli.config import load_config
from dnncli.plots import confusion as confusion_plot
from dnncli.plots.curves import compare_title, learning_curve_figure, run_labels
from dnncli.plots.figure import drawing
from dnncli.run.prepare import COURSE_FILES
from dnncli.terminal.console import stdout_console
from tests.conftest import CONFIGS, ROOT, SHARED, dnn_executable, make_images, one_error_line, run_dnn

# ---- 1. the README's tour, and the course's files -------------------------------------------------


def tour_commands(page: Path) -> list[str]:
    """The commands of the ```sh block under "## A short tour", comments dropped."""
    text = page.read_text(encoding="utf-8")
    block = re.search(r"## A short tour\n\n```sh\n(.*?)```", text, re.S)
    assert block, f"{page} has no tour"
    return [line.split("  #")[0].strip() for line in block.group(1).splitlines() if line.strip()]


def test_the_readme_and_the_docs_give_the_same_tour() -> None:
    assert tour_commands(ROOT / "README.md") == tour_commands(ROOT / "docs" / "index.md")


@pytest.mark.slow
def test_the_readme_tour_runs_top_to_bottom_in_a_fresh_copy(tmp_path: Path) -> None:
    """Every command of the tour, in order, in a copy of the project with the course's files linked
    into datasets/ (as the README says to), exits 0; the model each default command reads is the
    one the tour's comment names. (About 40 s: the sweep's 16 trials are most of it.)"""
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} is absent: the course's data files are not beside the project")
    shutil.copytree(CONFIGS, tmp_path / "configs")
    (tmp_path / "datasets").mkdir()
    for name in COURSE_FILES:
        if (SHARED / name).exists():
            (tmp_path / "datasets" / name).symlink_to(SHARED / name)
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200",
           "PATH": f"{Path(dnn_executable()).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    stderr = {}
    for command in tour_commands(ROOT / "README.md"):
        result = subprocess.run(["bash", "-c", command], cwd=tmp_path, env=env, capture_output=True, text=True,
                                timeout=600)
        assert result.returncode == 0, (command, result.stdout[-2000:], result.stderr[-2000:])
        stderr[command] = result.stderr
    assert "model: runs/demo-3 (runs/latest)" in stderr["dnn predict datasets/demo_samples/"]
    assert stderr["dnn evaluate"].startswith("model: runs/cat_deep-2 (runs/latest)\n")
    for name in ("errors.png", "confusion.png", "compare.png", "runs/cat_deep-2/model.h5", "sweeps/football/best.yaml"):
        assert (tmp_path / name).exists(), name


def test_a_missing_course_file_says_where_it_comes_from_and_how_to_point_at_it(tmp_path: Path) -> None:
    result = run_dnn("train", CONFIGS / "cat_deep.yaml", cwd=tmp_path)
    one_error_line(result, 2, "data.train: datasets/train_catvnoncat.h5: no such data file",
                   "one of the course's data files, which dnn does not ship", "copy or link it into datasets/",
                   "--set data.train=PATH")
    result = run_dnn("train", CONFIGS / "demo.yaml", cwd=tmp_path)
    one_error_line(result, 2, "demo_train.h5: no such data file", "`dnn data demo` writes it")


# ---- 2. dnn data import keeps a folder's own size and mode ----------------------------------------


def image_folder(root: Path, shapes: list[tuple[int, ...]]) -> Path:
    """Two class folders, each with one PNG of every shape ((h, w) grayscale, (h, w, 3) colour)."""
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        (root / name).mkdir(parents=True)
        for i, shape in enumerate(shapes):
            Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).save(root / name / f"{i}.png")
    return root


def imported_shape(path: Path) -> tuple[int, ...]:
    with h5py.File(path, "r") as f:
        return f["train_set_x"].shape[1:]


def test_import_keeps_the_size_and_mode_every_image_shares_and_says_when_it_changes_them(tmp_path: Path) -> None:
    digits = image_folder(tmp_path / "digits", [(8, 8)] * 3)
    result = run_dnn("data", "import", digits, "-o", tmp_path / "digits.h5")
    assert result.returncode == 0 and result.stderr == "", result.stderr
    assert imported_shape(tmp_path / "digits.h5") == (8, 8)  # not 64x64x3: 192 times the inputs

    result = run_dnn("data", "import", digits, "-o", tmp_path / "digits16.h5", "--size", "16x16")
    assert result.returncode == 0 and imported_shape(tmp_path / "digits16.h5") == (16, 16)  # still grayscale
    result = run_dnn("data", "import", digits, "-o", tmp_path / "rgb.h5", "--mode", "rgb")
    assert result.returncode == 0 and imported_shape(tmp_path / "rgb.h5") == (8, 8, 3)

    mixed = image_folder(tmp_path / "mixed", [(8, 8, 3), (10, 9, 3), (12, 12)])
    result = run_dnn("data", "import", mixed, "-o", tmp_path / "mixed.h5")
    assert result.returncode == 0 and imported_shape(tmp_path / "mixed.h5") == (64, 64, 3)
    assert result.stderr == (
        "the images have 3 sizes: each is resized to 64x64; the images are in colour and in grayscale: each is "
        "read as rgb (choose with --size HxW and --mode rgb|grayscale)\n"
    )
    large = image_folder(tmp_path / "large", [(100, 80, 3)] * 2)  # one size, but large: not kept
    result = run_dnn("data", "import", large, "-o", tmp_path / "large.h5", "--quiet")
    assert result.returncode == 0 and result.stderr == "" and imported_shape(tmp_path / "large.h5") == (64, 64, 3)
    result = run_dnn("data", "import", large, "-o", tmp_path / "large2.h5")
    assert "the images are 100x80: each is resized to 64x64" in result.stderr


# ---- 3, 4, 5, 8: evaluate and predict -----------------------------------------------------------


def train_on(tmp_path: Path, train: Path, *extra: str, test: Path | None = None) -> dict:
    """A small network on ``train`` (and ``test``), its run in tmp_path/runs (runs/latest there)."""
    config = tmp_path / "small.yaml"
    test_line = f"  test: {test}\n" if test else ""
    config.write_text(
        f"name: small\nmodel: {{hidden: [4], init: he, seed: 1}}\n"
        f"data:\n  train: {train}\n{test_line}"
        "training: {learning_rate: 0.05, iterations: 20, record_every: 5}\noutput: {dir: runs, plot: none}\n"
    )
    result = run_dnn("train", config, "--json", "--quiet", *extra, cwd=tmp_path)
    assert result.returncode in (0, 1), result.stderr
    return json.loads(result.stdout)


@pytest.fixture
def imported(tmp_path: Path) -> Path:
    """A folder of 40 8x8 colour PNGs in two classes, and the file `dnn data import` made of it."""
    X, y = make_images(40, seed=3)
    for index, (image, label) in enumerate(zip(X, y)):
        folder = tmp_path / "photos" / ("dark", "bright")[label]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(folder / f"IMG_{index:04d}.png")
    result = run_dnn("data", "import", tmp_path / "photos", "-o", tmp_path / "photos.h5", "--classes", "dark,bright",
                     "--test-fraction", "0.5", "--seed", "1")
    assert result.returncode == 0, result.stderr
    return tmp_path / "photos.h5"


def test_predict_and_evaluate_name_the_model_dnn_chose_even_one_that_failed_its_gate(
    tmp_path: Path, imported: Path
) -> None:
    train_on(tmp_path, imported, test=imported)
    evaluated = run_dnn("evaluate", "--json", cwd=tmp_path)
    assert evaluated.returncode == 0 and evaluated.stderr == "model: runs/small (runs/latest)\n"
    image = str(next((tmp_path / "photos" / "dark").iterdir()))
    predicted = run_dnn("predict", image, cwd=tmp_path)
    assert predicted.returncode == 0 and predicted.stderr == "model: runs/small (runs/latest)\n"
    named = run_dnn("predict", image, "-m", "runs/small", cwd=tmp_path)  # named on the command line: known
    assert named.returncode == 0 and named.stderr == ""
    assert run_dnn("evaluate", "-q", cwd=tmp_path).stderr == ""
    from_env = run_dnn("predict", image, cwd=tmp_path, env={"DNN_MODEL": "runs/small"})
    assert from_env.stderr == "model: runs/small ($DNN_MODEL)\n"

    # a run that fails --strict is still the newest run: latest points at it, and the line says so
    metrics = train_on(tmp_path, imported, "--strict", "--set", "model.init=zeros", test=imported)
    assert [w["check"] for w in metrics["warnings"]] == ["at_chance"] and metrics["run_dir"] == "runs/small-2"
    assert os.readlink(tmp_path / "runs" / "latest") == "small-2"
    predicted = run_dnn("predict", image, cwd=tmp_path)
    assert predicted.stderr == "model: runs/small-2 (runs/latest; its training ended with 1 warning(s): at_chance)\n"


def test_evaluate_errors_names_the_files_the_examples_came_from(tmp_path: Path, imported: Path) -> None:
    train_on(tmp_path, imported, test=imported)
    result = run_dnn("evaluate", imported, "-m", "runs/small", "--errors", "e.png", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["misclassified"] > 0 and len(report["errors_shown_files"]) == len(report["errors_shown"])
    with h5py.File(imported, "r") as f:
        recorded = [os.fsdecode(p) for p in f["test_set_paths"][()]]
    assert report["errors_shown_files"] == [recorded[i] for i in report["errors_shown"]]
    assert all(re.fullmatch(r"(dark|bright)/IMG_\d{4}\.png", name) for name in report["errors_shown_files"])

    # a folder read directly: its images' paths
    folder = run_dnn("evaluate", "photos", "-m", "runs/small", "--errors", "f.png", "--json", "--range", "0:40", "-q",
                     cwd=tmp_path)
    assert folder.returncode == 0, folder.stderr
    files = json.loads(folder.stdout)["errors_shown_files"]
    assert files and all(Path(tmp_path, name).is_file() and name.startswith("photos/") for name in files)

    # a file without recorded paths: indices only, as before
    with h5py.File(imported, "r") as f:
        X, y = f["test_set_x"][()], f["test_set_y"][()]
    plain = tmp_path / "plain.h5"
    with h5py.File(plain, "w") as f:
        f["test_set_x"], f["test_set_y"] = X, y
    result = run_dnn("evaluate", plain, "-m", "runs/small", "--errors", "g.png", "--json", cwd=tmp_path)
    assert result.returncode == 0 and "errors_shown_files" not in json.loads(result.stdout)


def test_a_run_directory_given_as_data_is_named_as_one(tmp_path: Path, imported: Path) -> None:
    train_on(tmp_path, imported, test=imported)
    result = run_dnn("evaluate", "runs/small", cwd=tmp_path)
    one_error_line(result, 2, "runs/small is a run directory (it holds model.h5)", "pass it with -m: dnn evaluate -m runs/small")


def test_evaluating_a_training_folder_of_a_model_without_a_test_set_suggests_what_it_can_do(
    tmp_path: Path, imported: Path
) -> None:
    train_on(tmp_path, tmp_path / "photos")  # the folder itself, no test set
    result = run_dnn("evaluate", "photos", "-m", "runs/small", cwd=tmp_path)
    line = one_error_line(result, 2, "the folder photos holds the examples the model was trained on",
                          "give examples it was not trained on (it has no test set)", "--range")
    assert "(images)" not in line and "no DATA" not in line
    # a model that has a test set is pointed at it
    train_on(tmp_path, imported, test=imported)
    result = run_dnn("evaluate", imported, "-m", "runs/small-2", "--x-key", "train_set_x", cwd=tmp_path)
    one_error_line(result, 2, "('train_set_x') holds the examples the model was trained on",
                   "evaluate its test set with `dnn evaluate` and no DATA")


# ---- 6. pictures ----------------------------------------------------------------------------------


def test_the_football_configs_record_enough_points_for_a_curve() -> None:
    for name in ("football", "football_l2", "football_dropout"):
        training = load_config(CONFIGS / f"{name}.yaml").training
        assert training.iterations / training.record_every >= 100, name


def fake_run(root: Path, name: str, config: str) -> Path:
    run = root / name
    run.mkdir(parents=True)
    (run / "history.csv").write_text("iteration,cost\n0,0.7\n10,0.5\n")
    (run / "config.yaml").write_text(config)
    return run


def test_compared_runs_are_labelled_by_what_differs_in_short_numbers_and_whole_lists(tmp_path: Path) -> None:
    a = fake_run(tmp_path, "a", "name: a\nmodel: {layers: [12288, 20, 7, 5, 1]}\n"
                 "training: {learning_rate: 0.30000000000000004, record_every: 100}\n")
    b = fake_run(tmp_path, "b", "name: b\nmodel: {layers: [12288, 40, 1]}\n"
                 "training: {learning_rate: 0.0443037524521, record_every: 10}\n")
    assert run_labels([a, b]) == ["a: learning_rate 0.3, layers [12288, 20, 7, 5, 1]",
                                  "b: learning_rate 0.0443, layers [12288, 40, 1]"]
    assert compare_title([a, b]) == "2 runs, differing in learning_rate, layers"
    same = fake_run(tmp_path, "c", "name: c\nmodel: {layers: [12288, 20, 7, 5, 1]}\ntraining: {learning_rate: 0.30000000000000004}\n")
    assert compare_title([a, same]) == "2 runs with the same settings"  # record_every is not a difference


def test_the_mini_batch_legend_says_its_train_cost_is_the_epochs_mean() -> None:
    rows = [{"iteration": 0, "epoch": 0, "cost": 0.7}, {"iteration": 40, "epoch": 1, "cost": 0.5}]
    with drawing() as plt:
        fig = learning_curve_figure(plt, rows, title="t", loss_name="binary_crossentropy")
        legend = fig.axes[0].get_legend()
        assert legend.get_title().get_text() == "last recorded values"
        assert [t.get_text() for t in legend.get_texts()] == ["train 0.5 (mean over the epoch's batches)"]
        fig = learning_curve_figure(plt, [{k: v for k, v in row.items() if k != "epoch"} for row in rows],
                                    title="t", loss_name="binary_crossentropy")
        assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["train 0.5"]


def test_confusion_labels_stand_upright_when_they_fit() -> None:
    assert not confusion_plot.layout(["non-cat", "cat"]).rotate
    assert not confusion_plot.layout([str(k) for k in range(10)]).rotate
    assert confusion_plot.layout(["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
                                  "truck"]).rotate


# ---- 7. numbers ---------------------------------------------------------------------------------


def test_the_summary_prints_one_format_per_metric() -> None:
    metrics = {"name": "x", "train_accuracy": 1.0, "test_accuracy": 0.97772, "initial_cost": 0.7717,
               "final_cost": 0.46126, "test_cost": 0.5, "iterations": 10, "seconds": 1.0, "run_dir": "runs/x"}
    console = stdout_console()
    with console.capture() as captured:
        console.print(training_summary(metrics))
    text = captured.get()
    assert "│ 1.0000 " in text and "│ 0.9777 " in text
    assert "│ 0.771700 " in text and "│ 0.461260 " in text and "│ 0.500000 " in text
