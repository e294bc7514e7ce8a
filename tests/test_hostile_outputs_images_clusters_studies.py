"""Hostile outputs, images, folders, clusters and stores (issue 26): outputs that are not files,
images that are not rasters, links out of a folder, a cache racing a changed file, truncated
stdout, hostile run directories, bombs, clusters that do not answer, stores that lie.

Real FIFOs, sockets, character devices (made here, never the system's), symlinks, file-size
limits (``RLIMIT_FSIZE`` in the child) and listeners on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import shutil
import resource
import socket
import stat
import subprocess
import sys
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from PIL import Image

from dnncli.data.image_import import ImportOptions
from dnncli.data.images import load_image
from tests.conftest import dnn_executable, make_images, one_error_line, record_stderr, run_dnn, scheduler_address, write_h5
from tests.model_helpers import make_model, save_pngs


def run(*args: str, cwd: Path, shell_redirect: str = "", env: dict | None = None,
        preexec: Callable[[], None] | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """The installed ``dnn`` in a process of its own; ``shell_redirect`` applied by sh."""
    command = ["sh", "-c", f'exec "$0" "$@" {shell_redirect}', dnn_executable(), *args]
    result = subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, timeout=timeout, preexec_fn=preexec,
        env={**os.environ, "NO_COLOR": "1", "COLUMNS": "200", **(env or {})},
    )
    record_stderr(result.stderr)
    return result


def file_size_limit(limit: int) -> Callable[[], None]:
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


def labelled_folder(root: Path, counts: dict[str, int], seed: int = 0) -> Path:
    for index, (name, count) in enumerate(counts.items()):
        images, _ = make_images(count, seed=seed + index)
        save_pngs(images, root / name)
    return root


# ---- 1. outputs replace only regular files ----------------------------------------------------


def _not_a_file(kind: str, path: Path) -> Callable[[], bool]:
    """Make ``path`` a FIFO, a socket, a character device (a copy of /dev/null's numbers, made
    here) or a directory; return a check that it still is one."""
    if kind == "fifo":
        os.mkfifo(path)
        test = stat.S_ISFIFO
    elif kind == "socket":
        listener = socket.socket(socket.AF_UNIX)
        listener.bind(str(path))
        listener.close()
        test = stat.S_ISSOCK
    elif kind == "device":
        if os.geteuid() != 0:
            pytest.skip("making a device file needs root")
        os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
        test = stat.S_ISCHR
    else:
        path.mkdir()
        test = stat.S_ISDIR
    return lambda: test(os.lstat(path).st_mode)


@pytest.fixture(scope="module")
def outputs_world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A folder of images, a labelled file, a model and a finished run to draw from."""
    root = tmp_path_factory.mktemp("outputs")
    labelled_folder(root / "photos", {"a": 3, "b": 3})
    X, y = make_images(20)
    data = write_h5(root / "set.h5", train_set_x=X, train_set_y=y, list_classes=np.array([b"a", b"b"]))
    test = write_h5(root / "test.h5", test_set_x=X[:8], test_set_y=y[:8], list_classes=np.array([b"a", b"b"]))
    model = make_model(root / "model.h5", classes=["a", "b"])
    config = root / "tiny.yaml"
    config.write_text(
        f"name: tiny\nmodel: {{hidden: [3], seed: 1}}\ndata: {{train: {data}, test: {test}}}\n"
        f"training: {{learning_rate: 0.1, iterations: 20, record_every: 5}}\noutput: {{dir: {root / 'runs'}, plot: none}}\n"
    )
    assert run_dnn("train", config, "--quiet").returncode == 0
    return {"root": root, "photos": root / "photos", "data": data, "test": test, "model": model, "run": root / "runs" / "tiny"}


OUTPUT_COMMANDS: dict[str, Callable[[dict[str, Path], Path], list]] = {
    "import --force": lambda w, out: ["data", "import", w["photos"], "-o", out, "--force", "--size", "8x8", "-q"],
    "split --force": lambda w, out: ["data", "split", w["data"], "-o", out, "--force", "-q"],
    "inspect --grid": lambda w, out: ["data", "inspect", w["photos"], "--grid", out],
    "plot curves -o": lambda w, out: ["plot", "curves", w["run"], "-o", out],
    "evaluate --errors": lambda w, out: ["evaluate", w["test"], "--model", w["model"], "--errors", out],
    "evaluate --confusion": lambda w, out: ["evaluate", w["test"], "--model", w["model"], "--confusion", out],
}


@pytest.mark.parametrize("kind", ["fifo", "socket", "device", "directory"])
@pytest.mark.parametrize("command", list(OUTPUT_COMMANDS))
def test_an_output_that_is_not_a_regular_file_is_never_replaced(
    outputs_world: dict[str, Path], tmp_path: Path, command: str, kind: str
) -> None:
    suffix = ".h5" if command.startswith(("import", "split")) else ".png"
    out = tmp_path / f"out{suffix}"
    still_there = _not_a_file(kind, out)
    result = run_dnn(*OUTPUT_COMMANDS[command](outputs_world, out))
    assert result.returncode == 2, (result.returncode, result.stderr)
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    expected = ("is a folder", "is a directory") if kind == "directory" else ("not a regular file",)
    assert len(errors) == 1 and any(text in errors[0] for text in expected), result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    assert still_there()
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]  # no temporary file left beside it


# ---- 2. only raster formats are decoded -------------------------------------------------------

POSTSCRIPT = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 8 8\nnewpath 0 0 moveto 8 8 lineto stroke\nshowpage\n"


def test_a_postscript_file_named_png_never_reaches_ghostscript(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    marker = tmp_path / "gs-was-called"
    fake_gs = bin_dir / "gs"
    fake_gs.write_text(f"#!/bin/sh\ntouch {marker}\nexit 1\n")
    fake_gs.chmod(0o755)
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}"}
    (tmp_path / "x.png").write_bytes(POSTSCRIPT)
    model = make_model(tmp_path / "model.h5")
    result = run("predict", "x.png", "--model", str(model), cwd=tmp_path, env=env)
    one_error_line(result, 2, "x.png", "not an image in a format dnn reads")
    photos = labelled_folder(tmp_path / "photos", {"a": 2, "b": 2})
    (photos / "a" / "x.png").write_bytes(POSTSCRIPT)
    result = run("data", "import", str(photos), "-o", "out.h5", "--size", "8x8", "--strict", cwd=tmp_path, env=env)
    assert result.returncode == 2 and "not an image in a format dnn reads" in result.stderr, result.stderr
    assert not marker.exists()
    assert not (tmp_path / "out.h5").exists()


# ---- 3. links out of a folder -----------------------------------------------------------------


def test_links_out_of_the_folder_are_refused_unless_followed(tmp_path: Path) -> None:
    photos = labelled_folder(tmp_path / "photos", {"a": 3, "b": 3})
    elsewhere = labelled_folder(tmp_path / "elsewhere", {"c": 4})
    (photos / "c").symlink_to(elsewhere / "c")
    line = one_error_line(run_dnn("data", "import", photos, "-o", tmp_path / "out.h5", "--size", "8x8", "-q"), 2,
                          "class folder 'c' is a link out of the folder", "--follow-links")
    assert str(elsewhere / "c") in line and not (tmp_path / "out.h5").exists()
    followed = run_dnn("data", "import", photos, "-o", tmp_path / "out.h5", "--size", "8x8", "--follow-links", "--json")
    assert followed.returncode == 0, followed.stderr
    (photos / "c").unlink()
    (photos / "a" / "passwd.png").symlink_to("/etc/passwd")
    (photos / "b" / "inside.png").symlink_to(photos / "a" / "000.png")  # a link that stays inside
    result = run_dnn("data", "import", photos, "-o", tmp_path / "out2.h5", "--size", "8x8", "--json")
    assert result.returncode == 0, result.stderr
    assert "passwd.png: a link out of the folder (to /etc/passwd); not followed (--follow-links" in result.stderr
    assert '"examples": 7' in result.stdout  # 6 pictures and the link inside
    inspected = run_dnn("data", "inspect", photos)
    assert "passwd.png: a link out of the folder" in inspected.stderr


# ---- 5. the image cache hashes the bytes it decodes -------------------------------------------


def test_a_file_changed_while_a_folder_is_decoded_is_never_served_from_the_wrong_cache(tmp_path: Path, monkeypatch) -> None:
    from dnncli.data import image_cache

    photos = labelled_folder(tmp_path / "photos", {"a": 3, "b": 3})
    victim = photos / "a" / "000.png"
    old_bytes = victim.read_bytes()
    new_picture = np.full((8, 8, 3), 7, dtype=np.uint8)
    options = ImportOptions(size=(8, 8))
    real_decode = image_cache.decode_folder

    def file_changes_after_hashing(*args, **kwargs):  # the race: hashed, then changed, then decoded
        Image.fromarray(new_picture).save(victim, format="PNG")
        return real_decode(*args, **kwargs)

    monkeypatch.setattr(image_cache, "decode_folder", file_changes_after_hashing)
    image_cache.load_image_folder(photos, options, tmp_path / "cache", on_skip=None)
    monkeypatch.setattr(image_cache, "decode_folder", real_decode)
    victim.write_bytes(old_bytes)  # the file as it was hashed
    dataset = image_cache.load_image_folder(photos, options, tmp_path / "cache", on_skip=None)
    np.testing.assert_array_equal(dataset.X_raw[0], load_image(victim, (8, 8, 3)))


# ---- 4. a file-size limit on stdout is an error, never a truncated success -------------------


@pytest.mark.parametrize("unbuffered", ["1", ""])
@pytest.mark.parametrize("command", ["runs --json", "predict --format json", "data inspect --json"])
def test_a_truncated_stdout_is_exit_3_not_success(outputs_world: dict[str, Path], command: str, unbuffered: str) -> None:
    root = outputs_world["root"]
    picture = save_pngs(make_images(1)[0], root / "pictures")[0]
    args = {
        "runs --json": ["runs", "--json"],
        "predict --format json": ["predict", str(picture), str(picture), "--model", str(outputs_world["model"]), "--format", "json"],
        "data inspect --json": ["data", "inspect", str(outputs_world["data"]), "--json"],
    }[command]
    out = root / f"stdout-{command.split()[0]}-{unbuffered}.txt"
    result = run(*args, cwd=root, shell_redirect=f"> {out}", env={"PYTHONUNBUFFERED": unbuffered},
                 preexec=file_size_limit(64))
    one_error_line(result, 3, "cannot write the results to standard output", "File too large")


# ---- 7. hostile run directories ---------------------------------------------------------------


@pytest.fixture
def three_runs(outputs_world: dict[str, Path], tmp_path: Path) -> Path:
    runs = tmp_path / "runs"
    for name in ("a", "b", "c", "d"):
        shutil.copytree(outputs_world["run"], runs / name)
    return runs


def test_hostile_run_directories_are_named_never_hang_or_crash(three_runs: Path, tmp_path: Path) -> None:
    (three_runs / "a" / "metrics.json").unlink()
    os.mkfifo(three_runs / "a" / "metrics.json")
    (three_runs / "b" / "config.yaml").unlink()
    os.mkfifo(three_runs / "b" / "config.yaml")
    (three_runs / "c" / "metrics.json").unlink()
    (three_runs / "c" / "metrics.json").symlink_to("/dev/zero")
    (three_runs / "d" / "metrics.json").write_text("[" * 100_000 + "]" * 100_000)
    (three_runs / "d" / "config.yaml").write_text("name: d\x1b[31m\x00\n")
    listed = run("runs", "--json", cwd=tmp_path, timeout=60)
    assert listed.returncode == 0 and listed.stderr == "", listed.stderr
    statuses = {run["name"]: run["status"] for run in json.loads(listed.stdout)}
    assert statuses == {"a": "unreadable", "b": "finished", "c": "unreadable", "d": "unreadable"}
    compared = run("runs", "compare", "runs/a", "runs/b", "runs/c", "runs/d", "--json", cwd=tmp_path, timeout=60)
    assert compared.returncode == 0 and compared.stderr == "", compared.stderr
    (three_runs / "a" / "history.csv").unlink()
    os.mkfifo(three_runs / "a" / "history.csv")
    (three_runs / "c" / "history.csv").unlink()
    (three_runs / "c" / "history.csv").symlink_to("/dev/zero")
    curves = run("plot", "curves", "runs", "-o", "curves.png", cwd=tmp_path, timeout=60)
    assert curves.returncode == 0, curves.stderr
    one_error_line(run("plot", "curves", "runs/a/history.csv", "-o", "a.png", cwd=tmp_path, timeout=60), 2, "history.csv")


# ---- 10. control characters in YAML ----------------------------------------------------------


@pytest.mark.parametrize("character", ["\x1b", "\x00", "\x07"])
def test_control_characters_in_yaml_are_one_line(outputs_world: dict[str, Path], tmp_path: Path, character: str) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text(f"name: x{character}y\n" + (outputs_world["root"] / "tiny.yaml").read_text().split("\n", 1)[1])
    one_error_line(run_dnn("train", config, "--quiet"), 2, "bad.yaml", "not valid YAML", "is not allowed")
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(f"base: {outputs_world['root'] / 'tiny.yaml'}\nname: s{character}\nsampler: grid\nspace:\n  training.learning_rate: {{choice: [0.1, 0.2]}}\n")
    one_error_line(run_dnn("sweep", sweep, "--quiet"), 2, "sweep.yaml", "not valid YAML")
    one_error_line(run_dnn("train", outputs_world["root"] / "tiny.yaml", "--set", f"name=a{character}b", "--quiet"), 2, "not valid YAML")


# ---- 8. data inspect applies the limits every reader applies ---------------------------------


def _one_huge_chunk(path: Path) -> None:
    import h5py

    with h5py.File(path, "w") as f:  # reading any value decompresses a chunk of 200 MB
        f.create_dataset("train_set_x", shape=(12, 2), dtype="u1", maxshape=(None, 2), chunks=(10**8, 2), compression="gzip")
        f["train_set_y"] = np.arange(12) % 2


def _never_written(path: Path) -> None:
    import h5py

    with h5py.File(path, "w") as f:
        f.create_dataset("train_set_x", shape=(60_000, 100, 100), dtype="u1", chunks=(1, 100, 100), compression="gzip")
        f["train_set_y"] = np.zeros(60_000, dtype=np.int64)


@pytest.mark.parametrize("make, fragment", [(_one_huge_chunk, "chunks of shape"), (_never_written, "was ever written")])
def test_inspect_refuses_the_bombs_training_refuses(tmp_path: Path, make: Callable, fragment: str) -> None:
    data = tmp_path / "bomb.h5"
    make(data)
    for json_flag in ([], ["--json"]):
        line = one_error_line(run_dnn("data", "inspect", data, *json_flag), 2, "bomb.h5", "train_set_x", fragment)
        assert "Traceback" not in line


# ---- 9. a grid is counted before it is built -------------------------------------------------


@pytest.mark.parametrize("high", [100_000_000, 10**18])
def test_a_huge_integer_grid_is_counted_and_refused_before_it_is_built(outputs_world: dict[str, Path], tmp_path: Path, high: int) -> None:
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(f"base: {outputs_world['root'] / 'tiny.yaml'}\nsampler: grid\nspace:\n  training.iterations: {{int: [1, {high}]}}\n"
                     f"output: {{dir: {tmp_path / 'sweeps'}}}\n")
    one_error_line(run_dnn("sweep", sweep, "--quiet"), 2, "sweep.yaml", f"the grid has {high:,} points")
    assert not (tmp_path / "sweeps").exists()


# ---- 6. a --scheduler that does not speak Dask ------------------------------------------------


def _sweep_file(outputs_world: dict[str, Path], tmp_path: Path) -> Path:
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(f"base: {outputs_world['root'] / 'tiny.yaml'}\nname: s\nsampler: grid\n"
                     f"space:\n  training.learning_rate: {{choice: [0.1, 0.2]}}\noutput: {{dir: {tmp_path / 'sweeps'}}}\n")
    return sweep


@pytest.fixture
def silent_listener() -> str:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)  # accepts connections (the kernel does) and never says a word
    yield f"tcp://127.0.0.1:{listener.getsockname()[1]}"
    listener.close()


@pytest.fixture
def http_server() -> str:
    import http.server
    import threading

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"tcp://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("kind", ["silent", "http"])
def test_a_scheduler_that_does_not_speak_dask_is_one_line_and_writes_nothing(
    outputs_world: dict[str, Path], tmp_path: Path, request: pytest.FixtureRequest, kind: str
) -> None:
    pytest.importorskip("distributed", reason="--scheduler needs dask[distributed]")
    address = request.getfixturevalue("silent_listener" if kind == "silent" else "http_server")
    result = run("sweep", str(_sweep_file(outputs_world, tmp_path)), "--scheduler", address, "--quiet", cwd=tmp_path, timeout=90)
    one_error_line(result, 3, f"--scheduler {address}", "no Dask scheduler answered within")
    assert not (tmp_path / "sweeps").exists()


@pytest.mark.parametrize("scheme", ["tls", "ucx", "ws"])
def test_unsupported_scheduler_protocols_are_refused_in_one_line(outputs_world: dict[str, Path], tmp_path: Path, scheme: str) -> None:
    pytest.importorskip("distributed", reason="--scheduler needs dask[distributed]")
    result = run_dnn("sweep", _sweep_file(outputs_world, tmp_path), "--scheduler", f"{scheme}://127.0.0.1:8786", "--quiet")
    one_error_line(result, 2, f"the {scheme}:// protocol is not supported")
    assert not (tmp_path / "sweeps").exists()


def test_a_cluster_without_workers_says_so(outputs_world: dict[str, Path], tmp_path: Path) -> None:
    pytest.importorskip("distributed", reason="--scheduler needs dask[distributed]")
    import select
    import signal
    import time

    scheduler_file = tmp_path / "scheduler.json"
    scheduler = subprocess.Popen(
        [str(Path(sys.executable).parent / "dask"), "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
         "--scheduler-file", str(scheduler_file)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    driver = None
    try:
        address = scheduler_address(scheduler_file)
        assert address
        driver = subprocess.Popen([dnn_executable(), "sweep", str(_sweep_file(outputs_world, tmp_path)), "--scheduler", address],
                                  cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        seen = []
        while not any("has no workers yet" in line for line in seen):
            ready, _, _ = select.select([driver.stderr], [], [], 90)
            assert ready and driver.poll() is None, ("no word from the driver", seen)
            seen.append(driver.stderr.readline())
        assert seen[-1].startswith(f"warning: the Dask scheduler at {address} has no workers yet"), seen
        driver.send_signal(signal.SIGINT)
        driver.communicate(timeout=60)
    finally:
        for process in (driver, scheduler):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait()


# ---- 15. the root's own output on a closed or full stdout ------------------------------------


@pytest.mark.parametrize("args, redirect, fragment", [
    (["--help"], "> /dev/full", "No space left on device"),
    ([], "> /dev/full", "No space left on device"),
    (["--version"], "> /dev/full", "No space left on device"),
    (["--help"], ">&-", "standard output is closed"),
    (["--version"], ">&-", "standard output is closed"),
])
def test_help_and_version_on_a_closed_or_full_stdout_exit_3_in_one_line(tmp_path: Path, args: list[str], redirect: str, fragment: str) -> None:
    if redirect == "> /dev/full" and not Path("/dev/full").exists():
        pytest.skip("no /dev/full here")
    one_error_line(run(*args, cwd=tmp_path, shell_redirect=redirect), 3, fragment)


# ---- 16. plot curves over a hundred runs -----------------------------------------------------


def test_plot_curves_over_a_hundred_runs_makes_a_taller_picture(outputs_world: dict[str, Path], tmp_path: Path) -> None:
    for i in range(100):
        shutil.copytree(outputs_world["run"], tmp_path / "sweep" / f"{i}")
    result = run_dnn("plot", "curves", tmp_path / "sweep", "-o", tmp_path / "all.png")
    assert result.returncode == 0, result.stderr
    with Image.open(tmp_path / "all.png") as picture:
        width, height = picture.size
    assert height > width / 2  # the 12 x 6 inch layout, grown for the legend's 34 rows


# ---- 12. a sweep whose every trial failed ----------------------------------------------------


def test_a_sweep_in_which_every_trial_failed_exits_non_zero_with_a_summary(outputs_world: dict[str, Path], tmp_path: Path) -> None:
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(f"base: {outputs_world['root'] / 'tiny.yaml'}\nname: doomed\nsampler: grid\nmetric: final_cost\n"
                     f"space:\n  training.learning_rate: {{choice: [1.0e+12, 1.0e+14]}}\noutput: {{dir: {tmp_path / 'sweeps'}}}\n")
    result = run_dnn("sweep", sweep, "--quiet", "--jobs", "1")
    line = one_error_line(result, 3, "every one of the 2 trials failed", "results.csv")
    assert "trial 0:" in line and result.stdout == ""
    assert (tmp_path / "sweeps" / "doomed" / "results.csv").exists()


# ---- 14. NaN and infinite pixels, labels of 1e30 ---------------------------------------------


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_pixels_and_absurd_labels_are_named_in_one_line(outputs_world: dict[str, Path], tmp_path: Path, bad: float) -> None:
    pixels = np.full((8, 8), 0.5, dtype=np.float32)
    pixels[2, 3] = bad
    Image.fromarray(pixels, mode="F").save(tmp_path / "odd.tif")
    one_error_line(run_dnn("predict", tmp_path / "odd.tif", "--model", outputs_world["model"]), 2, "odd.tif", "NaN or infinite")
    photos = labelled_folder(tmp_path / "photos", {"a": 2, "b": 2})
    shutil.copy(tmp_path / "odd.tif", photos / "a" / "odd.tif")
    imported = run_dnn("data", "import", photos, "-o", tmp_path / "out.h5", "--size", "8x8", "--json")
    assert imported.returncode == 0 and "invalid value" not in imported.stderr, imported.stderr
    assert [line for line in imported.stderr.splitlines() if "odd.tif" in line] == [
        f"warning: skipped {photos / 'a' / 'odd.tif'}: cannot convert the image: its pixels include NaN or infinite values, "
        "which no pixel value stands for"
    ]
    X, y = make_images(12)
    labels = y.astype(np.float64)
    labels[3] = 1e30
    data = write_h5(tmp_path / "labels.h5", train_set_x=X, train_set_y=labels, list_classes=np.array([b"a", b"b"]))
    inspected = run_dnn("data", "inspect", data)
    assert inspected.returncode == 0 and inspected.stderr == "", inspected.stderr
    one_error_line(run_dnn("data", "split", data, "-o", tmp_path / "split.h5"), 2, "labels.h5", "train_set_y")
    config = tmp_path / "labels.yaml"
    config.write_text(f"model: {{hidden: [3]}}\ndata: {{train: {data}}}\ntraining: {{iterations: 5}}\noutput: {{dir: {tmp_path / 'runs'}, plot: none}}\n")
    one_error_line(run_dnn("train", config, "--quiet"), 2, "labels.h5", "1e+30")


# ---- 11. a damaged or tampered study.db ------------------------------------------------------


@pytest.fixture(scope="module")
def finished_sweep(outputs_world: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("sweep")
    sweep = root / "sweep.yaml"
    sweep.write_text(f"base: {outputs_world['root'] / 'tiny.yaml'}\nname: s\nsampler: grid\n"
                     f"space:\n  training.learning_rate: {{choice: [0.1, 0.2]}}\noutput: {{dir: {root / 'sweeps'}}}\n")
    assert run_dnn("sweep", sweep, "--quiet", "--jobs", "1").returncode == 0
    return root


def _sql(statement: str) -> Callable[[Path], None]:
    def tamper(db: Path) -> None:
        import sqlite3

        connection = sqlite3.connect(db)
        connection.execute(statement)
        connection.commit()
        connection.close()
    return tamper


def _replace_with(make: Callable[[Path], None]) -> Callable[[Path], None]:
    def replace(db: Path) -> None:
        db.unlink()
        make(db)
    return replace


STUDY_DAMAGE = {
    "random bytes": (lambda db: db.write_bytes(np.random.default_rng(0).bytes(40960)), "file is not a database"),
    "truncated": (lambda db: db.write_bytes(db.read_bytes()[:5000]), "malformed"),
    "a FIFO": (_replace_with(os.mkfifo), "not a regular file"),
    "a directory": (_replace_with(lambda db: db.mkdir()), "is a directory"),
    "a symlink": (_replace_with(lambda db: db.symlink_to("/etc/hostname")), "is a symbolic link"),
    "a parameter of 1e308": (_sql("update trial_params set param_value = 1e308"), "damaged"),
    "a bad distribution_json": (_sql("update trial_params set distribution_json = '{\"name\": 3'"), "JSONDecodeError"),
    "a value of 1e308": (_sql("update trial_values set value = 1e308"), "not what its run's metrics.json says"),
    "no parameters": (_sql("delete from trial_params"), "not the sweep's"),
}


@pytest.mark.parametrize("case", list(STUDY_DAMAGE))
def test_a_damaged_or_tampered_study_is_one_line_and_reaches_no_result(finished_sweep: Path, tmp_path: Path, case: str) -> None:
    shutil.copytree(finished_sweep / "sweeps", tmp_path / "sweeps")
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text((finished_sweep / "sweep.yaml").read_text().replace(str(finished_sweep), str(tmp_path)))
    directory = tmp_path / "sweeps" / "s"
    before = {name: (directory / name).read_bytes() for name in ("results.csv", "best.yaml")}
    damage, fragment = STUDY_DAMAGE[case]
    damage(directory / "study.db")
    result = run("sweep", str(sweep), "--quiet", cwd=tmp_path, timeout=60)
    one_error_line(result, 2, "study.db", fragment)
    assert {name: (directory / name).read_bytes() for name in before} == before


def test_a_nested_sweep_json_is_another_sweep_not_an_internal_error(finished_sweep: Path, tmp_path: Path) -> None:
    shutil.copytree(finished_sweep / "sweeps", tmp_path / "sweeps")
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text((finished_sweep / "sweep.yaml").read_text().replace(str(finished_sweep), str(tmp_path)))
    (tmp_path / "sweeps" / "s" / "sweep.json").write_text("[" * 100_000 + "]" * 100_000)
    one_error_line(run_dnn("sweep", sweep, "--quiet"), 2, "holds a sweep started with another")


# ---- 13. a file-size limit while writing a model, a checkpoint, an import, a split, study.db ---


@pytest.mark.parametrize("what", ["import", "split", "model", "study.db"])
def test_file_too_large_is_one_line_naming_the_file(outputs_world: dict[str, Path], tmp_path: Path, what: str) -> None:
    root = outputs_world["root"]
    limit = file_size_limit(20_000)
    if what == "import":
        big = labelled_folder(tmp_path / "photos", {"a": 3, "b": 3})
        result = run("data", "import", str(big), "-o", "out.h5", "--size", "64x64", "-q", cwd=tmp_path, preexec=limit)
        name = "out.h5"
    elif what == "split":
        X, y = make_images(200, shape=(16, 16, 3))
        data = write_h5(tmp_path / "big.h5", train_set_x=X, train_set_y=y)
        result = run("data", "split", str(data), "-o", "out.h5", cwd=tmp_path, preexec=limit)
        name = "out.h5"
    elif what == "model":
        config = tmp_path / "wide.yaml"
        config.write_text((root / "tiny.yaml").read_text().replace("hidden: [3]", "hidden: [200]").replace(str(root / "runs"), str(tmp_path / "runs")))
        result = run("train", str(config), "--quiet", cwd=tmp_path, preexec=limit)
        name = "model.h5"
    else:
        result = run("sweep", str(_sweep_file(outputs_world, tmp_path)), "--quiet", "--jobs", "1", cwd=tmp_path,
                     preexec=file_size_limit(30_000))
        name = "study.db"
    line = one_error_line(result, 3, name)
    assert "File too large" in line or "file-size limit" in line
    assert "HDF5" not in line and "SQL" not in line and "errno" not in line
    assert not (tmp_path / "out.h5").exists()


# ---- smaller: leftovers of a killed write, a FIFO given to predict ---------------------------


def test_a_killed_writes_stale_temporary_is_removed_by_the_next_write_and_a_fresh_one_kept(outputs_world: dict[str, Path], tmp_path: Path) -> None:
    import time

    out = tmp_path / "photos.h5"
    stale = tmp_path / ".photos.h5.abc123.h5.tmp"  # the name atomic_path gives, left by a SIGKILL
    fresh = tmp_path / ".photos.h5.def456.h5.tmp"  # another writer's, still at work
    other = tmp_path / ".notes.txt.tmp"  # not ours
    for path in (stale, fresh, other):
        path.write_bytes(b"half")
    day_ago = time.time() - 2 * 24 * 3600
    os.utime(stale, (day_ago, day_ago))
    os.utime(other, (day_ago, day_ago))
    result = run_dnn("data", "import", outputs_world["photos"], "-o", out, "--size", "8x8", "-q", "--json")
    assert result.returncode == 0, result.stderr
    assert not stale.exists() and fresh.exists() and other.exists() and out.exists()


def test_predict_on_a_fifo_says_it_is_not_a_regular_file(outputs_world: dict[str, Path], tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "x.png")
    one_error_line(run("predict", "x.png", "--model", str(outputs_world["model"]), cwd=tmp_path, timeout=60), 2,
                   "x.png", "not a regular file")


def test_jobs_beyond_four_per_core_are_capped_with_a_note(outputs_world: dict[str, Path], tmp_path: Path) -> None:
    from dnncli.compute.threads import JOBS_PER_CORE, usable_cores

    limit = JOBS_PER_CORE * usable_cores()
    result = run_dnn("data", "import", outputs_world["photos"], "-o", tmp_path / "out.h5", "--size", "8x8", "--jobs", "200")
    assert result.returncode == 0, result.stderr
    assert f"warning: --jobs 200: capped at {limit} ({JOBS_PER_CORE} per core" in result.stderr
    result = run_dnn("sweep", _sweep_file(outputs_world, tmp_path), "--jobs", "200", "--json")
    assert result.returncode == 0, result.stderr
    assert f"warning: --jobs 200: capped at {limit}" in result.stderr


def test_a_flipped_weight_in_a_model_file_is_refused_and_an_old_file_without_checksum_loads(outputs_world: dict[str, Path], tmp_path: Path) -> None:
    import h5py

    picture = save_pngs(make_images(1)[0], tmp_path / "pictures")[0]
    model = tmp_path / "model.h5"
    shutil.copy(outputs_world["run"] / "model.h5", model)
    assert run_dnn("predict", picture, "--model", model).returncode == 0
    with h5py.File(model, "r+") as f:
        weights = f["W1"][()]
        flipped = weights.view(np.uint64).copy()
        flipped[0, 0] ^= np.uint64(1) << np.uint64(40)  # one bit of one weight: still a finite number
        f["W1"][...] = flipped.view(weights.dtype)
    one_error_line(run_dnn("predict", picture, "--model", model), 2, "model.h5", "checksum")
    with h5py.File(model, "r+") as f:
        del f.attrs["parameters_sha256"]  # as a model saved before the checksum existed
    assert run_dnn("predict", picture, "--model", model).returncode == 0


def test_predict_on_a_directory_names_links_out_of_it_unless_followed(outputs_world: dict[str, Path], tmp_path: Path) -> None:
    pictures = tmp_path / "pictures"
    save_pngs(make_images(2)[0], pictures)
    elsewhere = save_pngs(make_images(1, seed=5)[0], tmp_path / "elsewhere")[0]
    (pictures / "out.png").symlink_to(elsewhere)
    result = run_dnn("predict", pictures, "--model", outputs_world["model"], "--format", "csv")
    assert result.returncode == 2 and result.stdout.count("\n") == 3, (result.stdout, result.stderr)  # header and two
    assert f"error: {pictures / 'out.png'}: a link out of the folder (to {elsewhere}); not followed (--follow-links" in result.stderr
    followed = run_dnn("predict", pictures, "--model", outputs_world["model"], "--format", "csv", "--follow-links")
    assert followed.returncode == 0 and followed.stdout.count("\n") == 4, followed.stderr


def test_training_on_a_folder_refuses_a_class_folder_out_of_it_unless_the_config_follows_links(tmp_path: Path) -> None:
    photos = labelled_folder(tmp_path / "photos", {"a": 6})
    elsewhere = labelled_folder(tmp_path / "elsewhere", {"b": 6}, seed=3)
    (photos / "b").symlink_to(elsewhere / "b")
    config = tmp_path / "photos.yaml"
    config.write_text(f"model: {{hidden: [3]}}\ndata: {{train: {photos}, image_size: [8, 8]}}\ntraining: {{iterations: 5}}\n"
                      f"output: {{dir: {tmp_path / 'runs'}, plot: none}}\n")
    one_error_line(run_dnn("train", config, "--quiet"), 2, "class folder 'b' is a link out of the folder", "data.follow_links: true")
    followed = run_dnn("train", config, "--quiet", "--set", "data.follow_links=true")
    assert followed.returncode == 0, followed.stderr


def test_evaluating_a_folder_follows_links_out_of_it_only_with_the_flag(tmp_path: Path) -> None:
    photos = labelled_folder(tmp_path / "photos", {"a": 6, "b": 6})
    config = tmp_path / "photos.yaml"
    config.write_text(f"model: {{hidden: [3]}}\ndata: {{train: {photos}, image_size: [8, 8]}}\ntraining: {{iterations: 5}}\n"
                      f"output: {{dir: {tmp_path / 'runs'}, plot: none}}\n")
    assert run_dnn("train", config, "--quiet", cwd=tmp_path).returncode == 0
    model = tmp_path / "runs" / "photos"
    test = labelled_folder(tmp_path / "test", {"a": 4})
    elsewhere = labelled_folder(tmp_path / "elsewhere", {"b": 4}, seed=3)
    (test / "b").symlink_to(elsewhere / "b")
    refused = run_dnn("evaluate", test, "-m", model, "--cache-dir", tmp_path / "cache", cwd=tmp_path)
    one_error_line(refused, 2, "class folder 'b' is a link out of the folder", "--follow-links")
    followed = run_dnn("evaluate", test, "-m", model, "--follow-links", "--json", "--cache-dir", tmp_path / "cache", cwd=tmp_path)
    assert followed.returncode == 0, followed.stderr
    assert json.loads(followed.stdout)["examples"] == 8
