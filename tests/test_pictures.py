"""The pictures (issue 15): loss.png, boundary.png, the errors grid, the confusion heatmap and runs
compared, each made from a real small run and checked by its content: size, the colours that
must be there, the tiles, and the same bytes from the same run."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dnncli.model.file import load_model
from dnncli.plots import confusion as confusion_plot
from dnncli.plots import misclassified
from dnncli.plots.boundary import region_colours
from dnncli.config import load_config
from dnncli.plots.curves import learning_curve_figure, read_history_csv, run_title, write_learning_curve
from dnncli.plots.figure import BEST_EPOCH_COLOUR, DPI, SPLIT_COLOURS, TAB10, drawing
from tests.conftest import CONFIGS, computed_once, make_images, one_error_line, run_dnn, shared_file, write_h5
from tests.model_helpers import make_model


def pixels(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB")).astype(np.int16)


def rgb(hex_colour: str) -> np.ndarray:
    return np.array([int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)])


def near(image: np.ndarray, colour: np.ndarray, tolerance: int = 6) -> np.ndarray:
    """Mask of the pixels within ``tolerance`` of ``colour`` in every channel."""
    return np.all(np.abs(image - colour) <= tolerance, axis=-1)


# ---- real small runs on the football set ---------------------------------------------------------


def train_football(tmp_path: Path, name: str, *extra: str) -> tuple[Path, dict]:
    football = shared_file("football2d.h5")
    run_dir = tmp_path / "runs" / name
    result = run_dnn(
        "train", CONFIGS / "football_l2.yaml", "--set", f"data.train={football}", "--set", f"data.test={football}",
        "--set", "data.validation_fraction=0.2", "--set", "training.keep_best=true",
        "--set", "training.iterations=300", "--set", "training.record_every=25",
        "--run-dir", run_dir, "--json", "--quiet", *extra,
    )
    assert result.returncode == 0, result.stderr
    return run_dir, json.loads(result.stdout)


@pytest.fixture(scope="module")
def football_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, dict]]:
    """The same football_l2 run twice (PNG), and one with another learning rate (SVG)."""
    def train() -> dict[str, tuple[Path, dict]]:  # once for all the test workers
        work = tmp_path_factory.mktemp("football")
        return {
            "a": train_football(work, "a"),
            "b": train_football(work, "b"),
            "svg": train_football(work, "svg", "--plot-format", "svg", "--set", "training.learning_rate=0.1"),
        }

    return computed_once(tmp_path_factory, "football_runs", train)


def test_a_2d_run_writes_loss_and_boundary_the_same_bytes_every_time(football_runs: dict) -> None:
    (a, metrics), (b, _) = football_runs["a"], football_runs["b"]
    assert metrics["files"] == ["model.h5", "history.csv", "loss.png", "boundary.png", "metrics.json", "config.yaml"]
    assert sorted(p.name for p in a.iterdir()) == sorted(metrics["files"])
    for name in ("loss.png", "boundary.png"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    svg, svg_metrics = football_runs["svg"]
    assert [f for f in svg_metrics["files"] if f.split(".")[-1] in ("png", "svg")] == ["loss.svg", "boundary.svg"]
    for name in ("loss.svg", "boundary.svg"):
        text = (svg / name).read_text()
        assert text.startswith("<?xml") and "<dc:date>" not in text and "Matplotlib v" not in text
    # drawn again from the run's own files: the same bytes (SVG ids from a fixed salt, no date)
    config = load_config(svg / "config.yaml")
    title = run_title(config, config.model.layers, config.model.activations)
    write_learning_curve(read_history_csv(svg / "history.csv"), svg / "again.svg", "svg", title=title,
                         loss_name="binary_crossentropy", best_epoch=svg_metrics["best_epoch"])
    assert (svg / "again.svg").read_bytes() == (svg / "loss.svg").read_bytes()
    (svg / "again.svg").unlink()


def test_history_records_the_test_cost_without_the_l2_term(football_runs: dict) -> None:
    run_dir, metrics = football_runs["a"]
    rows = list(csv.DictReader((run_dir / "history.csv").open()))
    assert list(rows[0])[:7] == ["iteration", "cost", "train_accuracy", "test_accuracy", "test_cost", "val_cost", "val_accuracy"]
    bundle = load_model(run_dir)  # keep_best: the parameters of the best validation check
    best = next(r for r in rows if int(r["iteration"]) == metrics["best_epoch"])
    football = shared_file("football2d.h5")
    import h5py

    with h5py.File(football, "r") as f:
        X, y = f["test_set_x"][()].T, f["test_set_y"][()].reshape(1, -1)
    assert float(best["test_cost"]) == pytest.approx(bundle.network.compute_cost(X, y), rel=1e-12)
    assert metrics["test_cost"] == pytest.approx(float(best["test_cost"]), rel=1e-12)


def test_loss_png_shows_every_split_in_one_colour_and_the_best_epoch(football_runs: dict) -> None:
    run_dir, metrics = football_runs["a"]
    image = pixels(run_dir / "loss.png")
    assert image.shape == (720, 1800, 3)  # 12 x 4.8 inches at 150 dpi
    halves = {"cost": image[:, :900], "accuracy": image[:, 900:]}
    for panel, half in halves.items():
        for split, colour in SPLIT_COLOURS.items():
            assert near(half, rgb(colour), 10).sum() > 300, (panel, split)
        # the best epoch: a dashed vertical line, so one column holds many of its pixels
        assert near(half, rgb(BEST_EPOCH_COLOUR), 12).sum(axis=0).max() > 150, panel

    rows = read_history_csv(run_dir / "history.csv")
    with drawing() as plt:
        fig = learning_curve_figure(plt, rows, title="t", loss_name="binary_crossentropy", best_epoch=metrics["best_epoch"])
        cost_ax, accuracy_ax = fig.axes
        assert cost_ax.get_yscale() == "log"
        for ax in (cost_ax, accuracy_ax):
            ticks = [t for t in ax.get_xticks() if 0 <= t <= 300]
            assert ticks and all(float(t).is_integer() for t in ticks)
        accuracies = [r[k] for r in rows for k in ("train_accuracy", "val_accuracy", "test_accuracy")]
        low, high = accuracy_ax.get_ylim()
        assert min(accuracies) - 0.1 < low <= min(accuracies) and max(accuracies) <= high <= 1.01  # zoomed
        legend = [t.get_text() for t in cost_ax.get_legend().get_texts()]
        assert legend[0] == f"train {rows[-1]['cost']:.4g}" and f"best iteration {metrics['best_epoch']}" in legend


CLASS_COLOURS = ("#d62728", "#1f77b4")


def region_mask(image: np.ndarray, c: int) -> np.ndarray:
    """Pixels a region of class ``c`` can take: its colour mixed with white, from a coin toss's
    amount to a certain one's (dnncli.plots.boundary.region_colours)."""
    weak, strong = (255 * region_colours(np.array([c]), np.array([p]), CLASS_COLOURS)[0] for p in (0.5, 1.0))
    direction = (strong - weak) / np.linalg.norm(strong - weak)
    t = np.clip((image - weak) @ direction, 0, np.linalg.norm(strong - weak))
    return np.linalg.norm(image - (weak + t[..., None] * direction), axis=-1) <= 3


def test_boundary_png_has_both_class_regions_and_points(football_runs: dict) -> None:
    image = pixels(football_runs["a"][0] / "boundary.png")
    assert image.shape == (990, 1260, 3)
    for c, colour in enumerate(CLASS_COLOURS):
        assert region_mask(image, c).mean() > 0.1, f"class {c}'s region"
        assert near(image, rgb(colour), 4).sum() > 200, f"class {c}'s points"
    # the plane spans the width (the legend is below it): its right third is not left empty (issue 27)
    right_third = image[150:700, 840:1200]
    assert (region_mask(right_third, 0) | region_mask(right_third, 1)).mean() > 0.5


def test_plot_boundary_and_plot_curves_from_the_command_line(football_runs: dict, tmp_path: Path) -> None:
    football = shared_file("football2d.h5")
    run_a = football_runs["a"][0]
    out = tmp_path / "b.png"
    # through the installed command once: only the file's name on stdout
    result = run_dnn("plot", "boundary", "--model", str(run_a), str(football), "-o", str(out), real=True)
    assert result.returncode == 0 and result.stdout == f"{out}\n", result.stderr
    assert Image.open(out).size == (1260, 990)

    drawn = run_dnn("plot", "boundary", "--model", run_a, football, "-o", tmp_path / "b2.png", "--json")
    payload = json.loads(drawn.stdout)
    assert payload["files"] == [str(tmp_path / "b2.png")]
    assert [(s["name"], s["points"]) for s in payload["sets"]] == [("train", 211), ("test", 200)]
    assert payload["sets"][1]["accuracy"] == pytest.approx(football_runs["a"][1]["test_accuracy"])

    runs = run_a.parent  # a, b, svg and the `latest` link: a sweep's layout
    swept = json.loads(run_dnn("plot", "curves", runs, "-o", tmp_path / "sweep.png", "--json").stdout)
    assert swept["files"] == [str(tmp_path / "sweep.png")]
    assert [r["label"] for r in swept["runs"]] == ["a: learning_rate 0.3", "b: learning_rate 0.3", "svg: learning_rate 0.1"]
    image = pixels(tmp_path / "sweep.png")
    # one colour per run: b's orange lies on a's blue (the same run), svg's green apart
    assert near(image, rgb(TAB10[1]), 8).sum() > 300 and near(image, rgb(TAB10[2]), 8).sum() > 300
    listed = run_dnn("plot", "curves", run_a, runs / "b", runs / "svg", "-o", tmp_path / "listed.png")
    assert listed.returncode == 0 and listed.stdout == f"{tmp_path / 'listed.png'}\n"
    assert (tmp_path / "listed.png").read_bytes() == (tmp_path / "sweep.png").read_bytes()


def test_no_plot_writes_no_picture_and_never_imports_matplotlib(tmp_path: Path, tiny_config: Path) -> None:
    code = (
        "import sys\n"
        "from dnncli.config import load_config\n"
        "from dnncli.run.training import run_training\n"
        f"metrics, _, _ = run_training(load_config({str(tiny_config)!r}, ['output.plot=none']), run_dir={str(tmp_path / 'r')!r})\n"
        "assert 'matplotlib' not in sys.modules, 'matplotlib was imported'\n"
        "print(metrics['files'])\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "r").iterdir()) == ["config.yaml", "history.csv", "metrics.json", "model.h5"]
    assert "--no-plot" in run_dnn("train", "--help").stdout


# ---- dnn evaluate --errors / --confusion -------------------------------------------------------


def check_tiles(path: Path, shown: int) -> None:
    """The grid's size fits ``shown`` tiles; those cells hold a picture, the others are blank."""
    width, height = misclassified.figure_size(shown)
    image = pixels(path)
    assert image.shape[:2] == (round(height * DPI), round(width * DPI))
    for cell, (left, top, right, bottom) in enumerate(misclassified.cell_image_boxes(shown)):
        inside = image[top + 3 : bottom - 3, left + 3 : right - 3]
        blank = bool(np.all(inside == 255))
        assert blank == (cell >= shown), cell


def test_cat_errors_grid_shows_the_most_confident_mistakes(cat_deep_run: dict, cat_files: dict, tmp_path: Path) -> None:
    run_dir, test = cat_deep_run["run_dir"], cat_files["test"]
    args = ("evaluate", test, "--model", run_dir, "--errors-limit", "7", "--json")
    first = run_dnn(*args, "--errors", tmp_path / "e1.png")
    second = run_dnn(*args, "--errors", tmp_path / "e2.png")
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    import h5py

    with h5py.File(test, "r") as f:
        X, y = f["test_set_x"][()], f["test_set_y"][()]
    p = load_model(run_dir).network.predict_proba(X.reshape(len(X), -1).T / 255.0)[0]
    predicted = (p > 0.5).astype(int)
    confidence = np.where(predicted == 1, p, 1 - p)
    wrong = np.flatnonzero(predicted != y)
    assert report["misclassified"] == wrong.size == 10  # test accuracy 0.80 on 50 pictures
    assert report["errors_shown"] == sorted(wrong.tolist(), key=lambda i: (-confidence[i], i))[:7]
    assert report["files"] == {"errors": str(tmp_path / "e1.png")} and report["accuracy"] == pytest.approx(0.8)
    check_tiles(tmp_path / "e1.png", 7)
    assert (tmp_path / "e1.png").read_bytes() == (tmp_path / "e2.png").read_bytes()


def test_mnist_confusion_heatmap_and_errors_grid(tmp_path: Path) -> None:
    mnist = shared_file("mnist10k.h5")
    run_dir = tmp_path / "mnist"
    trained = run_dnn(
        "train", CONFIGS / "mnist.yaml", "--set", f"data.train={mnist}", "--set", "model.layers=[784,16,10]", "--set", "model.activations=[relu,softmax]",
        "--set", "data.train_range=[0,1000]", "--set", "data.test_range=[1000,1500]", "--set", "training.epochs=3",
        "--run-dir", run_dir, "--quiet", "--no-plot",
    )
    assert trained.returncode == 0, trained.stderr
    evaluated = run_dnn(
        "evaluate", mnist, "--model", run_dir, "--x-key", "images", "--y-key", "labels", "--json",
        "--confusion", tmp_path / "confusion.png", "--errors", tmp_path / "errors.png", "--errors-limit", "12",
    )
    assert evaluated.returncode == 0, evaluated.stderr
    report = json.loads(evaluated.stdout)
    assert report["misclassified"] > 12 and len(report["errors_shown"]) == 12
    check_tiles(tmp_path / "errors.png", 12)

    names = [str(k) for k in range(10)]
    width, height = confusion_plot.layout(names).width, confusion_plot.layout(names).height
    image = pixels(tmp_path / "confusion.png")
    assert image.shape[:2] == (round(height * DPI), round(width * DPI))
    confusion = np.array(report["confusion_matrix"])
    fractions = confusion / confusion.sum(axis=1, keepdims=True)
    import matplotlib

    blues = matplotlib.colormaps["Blues"]
    for (i, j), share in np.ndenumerate(fractions):
        left, top, right, bottom = confusion_plot.cell_box(names, i, j)
        corner = image[top + 3 : top + 8, left + 3 : left + 8].reshape(-1, 3)  # away from the numbers
        expected = np.rint(255 * np.array(blues(share)[:3]))
        assert np.abs(corner - expected).max() <= 3, (i, j, share)


def test_class_names_from_the_file_are_never_read_as_mathtext(tmp_path: Path) -> None:
    model = make_model(tmp_path / "m.h5", (8, 8, 3), n_classes=3, classes=["$\\frac{$", "_hidden", "a$b$c"])
    X, _ = make_images(24, seed=4)
    y = np.arange(24) % 3
    data = write_h5(tmp_path / "d $x$.h5", test_set_x=X, test_set_y=y)
    result = run_dnn("evaluate", data, "--model", model, "--json", "--confusion", tmp_path / "c.svg", "--errors", tmp_path / "e.png")
    assert result.returncode == 0, result.stderr  # mathtext would fail on "$\frac{$"
    assert json.loads(result.stdout)["files"] == {"confusion": str(tmp_path / "c.svg"), "errors": str(tmp_path / "e.png")}
    with drawing() as plt:
        fig = confusion_plot.confusion_figure(plt, np.eye(3, dtype=int), ["$\\frac{$", "_hidden", "a$b$c"], title="d $x$.h5")
        labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
        assert labels == ["\\$\\frac{\\$", "_hidden", "a\\$b\\$c"]  # matplotlib's literal dollars
        fig.canvas.draw()  # renders without a mathtext parse


# ---- refused in one line, nothing written ------------------------------------------------------


def test_pictures_that_cannot_be_made_are_refused_in_one_line(tmp_path: Path, tiny_config: Path) -> None:
    images_model = make_model(tmp_path / "img.h5", (8, 8, 3))
    vector_model = make_model(tmp_path / "vec.h5", (5,))
    regression = make_model(tmp_path / "reg.h5", (8, 8, 3), output="linear", n_classes=1)
    X, y = make_images(10)
    data = write_h5(tmp_path / "d.h5", test_set_x=X, test_set_y=y)
    out = tmp_path / "out.png"
    one_error_line(run_dnn("evaluate", data, "--model", images_model, "--errors", tmp_path / "e.txt"), 2, "--errors", ".png or .svg")
    one_error_line(run_dnn("evaluate", data, "--model", images_model, "--confusion", "-"), 2, "standard output")
    one_error_line(run_dnn("evaluate", data, "--model", regression, "--errors", out), 2, "classifiers")
    one_error_line(run_dnn("evaluate", data, "--model", vector_model, "--errors", out), 2, "(5,)")
    one_error_line(run_dnn("plot", "boundary", "--model", images_model, data, "-o", out), 2, "2-D inputs only")
    one_error_line(run_dnn("plot", "curves", tmp_path / "nothing", "-o", out), 2, "nothing")
    one_error_line(run_dnn("plot", "curves", tmp_path, "-o", out), 2, "no history.csv")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "history.csv").write_text("iteration,cost\n0,0.7\n1,lots\n")
    one_error_line(run_dnn("plot", "curves", bad, "-o", out), 2, "history.csv: line 3", "'lots'")
    one_error_line(run_dnn("train", tiny_config, "--no-plot", "--plot-format", "svg"), 2, "--no-plot")
    assert not out.exists() and not (tmp_path / "runs").exists()


def test_a_regression_run_plots_r2_instead_of_accuracy(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 3))
    y = X @ np.array([1.0, -2.0, 0.5]) + 0.1 * rng.standard_normal(60)
    data = write_h5(tmp_path / "r.h5", train_set_x=X[:40], train_set_y=y[:40], test_set_x=X[40:], test_set_y=y[40:])
    config = tmp_path / "reg.yaml"
    config.write_text(f"""model: {{hidden: [4], output_activation: linear, init: he}}
data: {{train: {data}, test: {data}}}
training: {{optimizer: adam, learning_rate: 0.05, iterations: 60, record_every: 10}}
""")
    result = run_dnn("train", config, "--run-dir", tmp_path / "run", "--quiet")
    assert result.returncode == 0, result.stderr
    rows = read_history_csv(tmp_path / "run" / "history.csv")
    assert {"train_r2", "test_r2", "test_cost"} <= set(rows[0]) and rows[-1]["test_r2"] > rows[0]["test_r2"]
    with drawing() as plt:
        fig = learning_curve_figure(plt, rows, title="t", loss_name="mse")
        assert [ax.get_title() for ax in fig.axes] == ["cost (log scale)", "R²"]
    assert Image.open(tmp_path / "run" / "loss.png").size == (1800, 720)
