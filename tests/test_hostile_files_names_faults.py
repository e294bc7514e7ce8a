"""Hostile files, names and faults: nothing read from outside a file, nothing deleted
that dnn did not make, untrusted text shown literally, every fault its own one-line error.

Each category is checked through the command (Typer's CliRunner on ``dnncli.cli.app.app``, or the
installed ``dnn`` where a real closed descriptor, a full device or a file-size limit is needed),
on hostile files generated here. Set ``DNN_HOSTILE_STDERR_LOG=FILE`` to append every stderr these
tests see to FILE (``grep "internal error" FILE`` must find nothing).
"""

from __future__ import annotations

import csv
import errno
import io
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import h5py
import numpy as np
import pytest
import typer

from dnncli.cli.common import handle_errors
from dnncli.cli.evaluate import evaluate as evaluate_command
from dnncli.cli.predict import PredictFormat
from dnncli.cli.predict import predict as predict_command
from dnncli.cli.train import train as train_command
from dnncli.config import load_config
from dnncli.errors import Interrupted
from dnncli.run.checkpoint import checksum
from dnncli.files.lock import LOCK_NAME
from dnncli.model.file import CHECKSUM_ATTR, parameters_checksum
from dnncli.run.directory import CHECKPOINT_NAME, partial_path
from dnncli.run.training import run_training
from dnncli.training.settings import Hooks
from tests.conftest import dnn_executable, make_images, one_error_line, record_stderr, run_dnn, write_h5
from tests.model_helpers import make_model, save_pngs

def run(*args: str, cwd: Path, shell_redirect: str = "", env: dict | None = None,
        preexec: Callable[[], None] | None = None) -> subprocess.CompletedProcess:
    """The installed ``dnn``; ``shell_redirect`` (``>&-``, ``> /dev/full``, ``2>&-``) applied by sh."""
    command = ["sh", "-c", f'exec "$0" "$@" {shell_redirect}', dnn_executable(), *args]
    result = subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, timeout=120, preexec_fn=preexec,
        env={**os.environ, "NO_COLOR": "1", "COLUMNS": "200", **(env or {})},
    )
    record_stderr(result.stderr)
    return result


def tree(directory: Path) -> list[str]:
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*"))


def config_file(directory: Path, train: Path, extra: str = "", name: str = "tiny") -> Path:
    path = directory / f"{name}.yaml"
    path.write_text(
        f"name: {name}\nmodel: {{hidden: [4], seed: 1}}\ndata: {{train: {train}}}\n"
        f"training: {{iterations: 4, learning_rate: 0.1}}\noutput: {{dir: {directory / 'runs'}}}\n{extra}"
    )
    return path


def good_data(path: Path, m: int = 12) -> Path:
    X, y = make_images(m, seed=3)
    return write_h5(path, train_set_x=X, train_set_y=y, list_classes=np.array([b"dark", b"bright"]))


# ---- 1. HDF5 that reaches outside itself ------------------------------------------------------
# External raw storage, external links and virtual datasets make a file read other files (the
# environment, any secret) or hang (a FIFO) or crash HDF5 (a virtual dataset onto itself): refused
# in data sets, model files and checkpoints, before a byte of data is read.


def _secret_files(directory: Path, like: np.ndarray) -> tuple[Path, Path]:
    raw = directory / "secret.txt"
    raw.write_bytes((b"SECRET=hunter2;" * (like.nbytes // 15 + 1))[: max(like.nbytes, 15)])
    h5 = directory / "secret.h5"
    write_h5(h5, x=np.full(like.shape, 7, dtype=like.dtype))
    return raw, h5


def _replace(f: h5py.File, key: str, make: Callable[[], None]) -> None:
    del f[key]
    make()


def external_storage(f: h5py.File, key: str, like: np.ndarray, raw: Path, h5: Path) -> None:
    _replace(f, key, lambda: f.create_dataset(key, shape=like.shape, dtype=like.dtype, external=[(str(raw), 0, like.nbytes)]))


def external_link(f: h5py.File, key: str, like: np.ndarray, raw: Path, h5: Path) -> None:
    _replace(f, key, lambda: f.__setitem__(key, h5py.ExternalLink(str(h5), "/x")))


def virtual_dataset(f: h5py.File, key: str, like: np.ndarray, raw: Path, h5: Path) -> None:
    layout = h5py.VirtualLayout(shape=like.shape, dtype=like.dtype)
    layout[...] = h5py.VirtualSource(str(h5), "/x", shape=like.shape)
    _replace(f, key, lambda: f.create_virtual_dataset(key, layout))


def virtual_onto_itself(f: h5py.File, key: str, like: np.ndarray, raw: Path, h5: Path) -> None:
    layout = h5py.VirtualLayout(shape=like.shape, dtype=like.dtype)
    layout[...] = h5py.VirtualSource(".", "/" + key, shape=like.shape)  # reading it crashes HDF5
    _replace(f, key, lambda: f.create_virtual_dataset(key, layout))


def soft_link_loop(f: h5py.File, key: str, like: np.ndarray, raw: Path, h5: Path) -> None:
    _replace(f, key, lambda: f.__setitem__(key, h5py.SoftLink(f"/{key}_again")))
    f[f"{key}_again"] = h5py.SoftLink("/" + key)


def soft_link_outside(f: h5py.File, key: str, like: np.ndarray, raw: Path, h5: Path) -> None:
    f["aside"] = h5py.ExternalLink(str(h5), "/x")
    _replace(f, key, lambda: f.__setitem__(key, h5py.SoftLink("/aside")))


REACHING_OUT = {
    "external storage": (external_storage, "stores its values in other files"),
    "external link": (external_link, "is a link to '/x' in the file"),
    "virtual dataset": (virtual_dataset, "is a virtual dataset"),
    "virtual dataset onto itself": (virtual_onto_itself, "is a virtual dataset"),
    "soft link loop": (soft_link_loop, "is a soft link that loops"),
    # whichever is met first: the soft link leading to 'aside', or 'aside' itself
    "soft link to an external link": (soft_link_outside, "aside"),
}


@pytest.mark.parametrize("kind", list(REACHING_OUT))
@pytest.mark.parametrize("key", ["train_set_x", "list_classes"])
def test_a_data_file_reaching_outside_itself_is_refused(tmp_path: Path, kind: str, key: str) -> None:
    data = good_data(tmp_path / "train.h5")
    make, fragment = REACHING_OUT[kind]
    with h5py.File(data, "r+") as f:
        like = f[key][()]
        make(f, key, like, *_secret_files(tmp_path, like))
    config = config_file(tmp_path, data)
    before = tree(tmp_path)
    line = one_error_line(run_dnn("train", str(config), "--quiet"), 2, "train.h5", fragment)
    assert key in line or "aside" in line
    assert tree(tmp_path) == before  # no run directory, no model holding the secret


@pytest.mark.parametrize("kind", list(REACHING_OUT))
def test_a_model_file_reaching_outside_itself_is_refused(tmp_path: Path, kind: str) -> None:
    model = make_model(tmp_path / "m.h5")
    make, fragment = REACHING_OUT[kind]
    with h5py.File(model, "r+") as f:
        like = f["W1"][()]
        make(f, "W1", like, *_secret_files(tmp_path, like))
    one_error_line(run_dnn("info", str(model)), 2, "m.h5", fragment)


# ---- a checkpoint of a real interrupted run, for the checkpoint cases --------------------------


def _interrupt_at(step: int) -> Hooks:
    class Interrupt(Hooks):
        def on_step(self, iteration: int, cost: float) -> None:
            if iteration == step:
                os.kill(os.getpid(), signal.SIGINT)

    return Interrupt()


@pytest.fixture(scope="module")
def interrupted_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``<dir>/cut.partial``: Adam on shuffled mini-batches, stopped in the middle of an epoch."""
    work = tmp_path_factory.mktemp("interrupted")
    data = good_data(work / "train.h5", m=20)
    config = config_file(
        work, data, name="cut",
        extra="",
    )
    sets = ["training.optimizer=adam", "training.learning_rate=0.01", "training.iterations=null",
            "training.epochs=6", "training.batch_size=8", "training.record_every=1"]
    with pytest.raises(Interrupted):
        run_training(load_config(config, sets), run_dir=work / "cut", progress=_interrupt_at(5))
    partial = partial_path(work / "cut")
    assert (partial / CHECKPOINT_NAME).exists()
    return partial


def copy_run(partial: Path, tmp_path: Path) -> Path:
    copy = tmp_path / partial.name
    shutil.copytree(partial, copy)
    return copy


@pytest.mark.parametrize("kind", list(REACHING_OUT))
def test_a_checkpoint_reaching_outside_itself_is_refused(tmp_path: Path, interrupted_run: Path, kind: str) -> None:
    partial = copy_run(interrupted_run, tmp_path)
    make, fragment = REACHING_OUT[kind]
    with h5py.File(partial / CHECKPOINT_NAME, "r+") as f:
        like = f["params/W1"][()]
        make(f, "params/W1", like, *_secret_files(tmp_path, like))
    one_error_line(run_dnn("train", "--resume", str(partial)), 2, CHECKPOINT_NAME, fragment)
    assert (partial / CHECKPOINT_NAME).exists()  # a refused resume keeps everything


# ---- 2. declared sizes, chunks and attributes, checked before reading ---------------------------


def _chunk_bomb(path: Path) -> None:
    with h5py.File(path, "w") as f:  # any read would decompress a chunk of 200 MB
        f.create_dataset("train_set_x", shape=(12, 2), dtype="u1", maxshape=(None, 2), chunks=(10**8, 2), compression="gzip")
        f["train_set_y"] = np.arange(12) % 2


def _never_written(path: Path) -> None:
    with h5py.File(path, "w") as f:
        # 1.9 GB declared (within the memory of any machine that runs this), none of it stored
        f.create_dataset("train_set_x", shape=(4, 6 * 10**7), dtype="f8", chunks=(1, 10**6), compression="gzip")
        f["train_set_y"] = np.arange(4) % 2


def _one_chunk_of_zeros(path: Path) -> None:
    with h5py.File(path, "w") as f:
        d = f.create_dataset("train_set_x", shape=(4, 10**8), dtype="u1", chunks=(1, 2**20), compression="gzip")
        d[0, : 2**20] = 0  # one stored chunk of a few KB standing for 400 MB
        f["train_set_y"] = np.arange(4) % 2


@pytest.mark.parametrize(
    "make, fragment",
    [(_chunk_bomb, "chunks of shape (100000000, 2)"), (_never_written, "was ever written"),
     (_one_chunk_of_zeros, "decompression bomb")],
    ids=["chunk shape (1e8, 2)", "never-written chunks", "400 MB from one chunk of zeros"],
)
def test_data_declaring_more_than_it_holds_is_refused(tmp_path: Path, make: Callable, fragment: str) -> None:
    data = tmp_path / "train.h5"
    make(data)
    assert data.stat().st_size < 1_000_000
    one_error_line(run_dnn("train", str(config_file(tmp_path, data)), "--quiet"), 2, "train.h5", "train_set_x", fragment)


def _giant_unwritten_w1(f: h5py.File) -> None:
    n = 750_000_000  # W1 of (1, 7.5e8): 6 GB of float64 in unwritten compressed chunks
    for key in list(f):
        del f[key]
    f.create_dataset("W1", shape=(1, n), dtype="f8", chunks=(1, 2**20), compression="gzip")
    f["b1"] = np.zeros((1, 1))
    f.attrs["layer_sizes"] = np.array([n, 1])
    f.attrs["activations"] = json.dumps(["sigmoid"])
    f.attrs["input_shape"] = np.array([n])


def _attr(key: str, value: Any) -> Callable[[h5py.File], None]:
    return lambda f: f.attrs.__setitem__(key, value)


def _array(key: str, value: np.ndarray) -> Callable[[h5py.File], None]:
    return lambda f: (f.__delitem__(key), f.create_dataset(key, data=value))


ABSURD_MODELS: dict[str, tuple[Callable[[h5py.File], None], str]] = {
    "W1 (1, 7.5e8) never written": (_giant_unwritten_w1, "750000000"),
    "an 8 MB metrics string": (_attr("metrics", json.dumps({"x": "y" * 8_000_000})), "'metrics' holds"),
    "deeply nested metrics": (_attr("metrics", "[" * 100_000 + "]" * 100_000), "nested"),
    "metrics that are a list": (_attr("metrics", "[1, 2]"), "'metrics' holds a list"),
    "activations that are text": (_attr("activations", '"relu"'), "'activations' holds a str"),
    "an unknown input_dtype": (_attr("input_dtype", "bogus"), "input_dtype = 'bogus'"),
    "a complex input_dtype": (_attr("input_dtype", "complex128"), "input_dtype = 'complex128'"),
    "leaky_relu_slope NaN": (_attr("leaky_relu_slope", np.nan), "leaky_relu_slope = nan"),
    "leaky_relu_slope as text": (_attr("leaky_relu_slope", "steep"), "leaky_relu_slope"),
    "input_divisor 5e-324": (_attr("input_divisor", 5e-324), "input_divisor = 5e-324"),
    "input_divisor 1e300": (_attr("input_divisor", 1e300), "input_divisor = 1e+300"),
    "W1 of 1e308": (lambda f: f["W1"].__setitem__((0, 0), 1e308), "'W1' holds 1e+308"),
    "integer W1": (lambda f: _array("W1", f["W1"][()].astype(np.int64))(f), "'W1' has shape (6, 192) (int64)"),
    "format_version as text": (_attr("format_version", "two"), "format_version = 'two'"),
    "a huge layer count": (_attr("layer_sizes", np.ones(5000, dtype=np.int64)), "'layer_sizes' is not a list"),
}


@pytest.mark.parametrize("case", list(ABSURD_MODELS))
def test_absurd_or_oversized_model_files_are_refused_in_one_line(tmp_path: Path, case: str) -> None:
    model = make_model(tmp_path / "m.h5")
    edit, fragment = ABSURD_MODELS[case]
    with h5py.File(model, "r+", libver="latest") as f:  # latest: attributes over 64 KB are allowed
        edit(f)
    one_error_line(run_dnn("info", str(model)), 2, "m.h5", fragment)


def _overflowing_model(path: Path) -> Path:
    """Every attribute in range, yet the outputs are NaN: W1 of 1e150 on pixels divided by 1e-29
    gives hidden units of 1e183, and W2 of +-1e150 then adds +inf to -inf."""
    make_model(path, divisor=1e-29)
    with h5py.File(path, "r+") as f:
        f["W1"][...] = 1e150
        f["W2"][...] = np.array([[1e150, 1e150, 1e150, -1e150, -1e150, -1e150]])
        # written as such a model would be: its checksum that of these parameters
        f.attrs[CHECKSUM_ATTR] = parameters_checksum({name: f[name][()] for name in f if name[0] in "Wb"})
    return path


def test_a_prediction_whose_probabilities_are_not_finite_is_never_printed(tmp_path: Path) -> None:
    model = _overflowing_model(tmp_path / "m.h5")
    images = save_pngs(np.full((2, 8, 8, 3), 200, dtype=np.uint8), tmp_path / "imgs")
    for output in ("table", "csv", "jsonl"):
        result = run_dnn("predict", "--model", str(model), *map(str, images), "--format", output)
        printed = result.stdout.lower()
        assert result.returncode == 2 and "nan" not in printed and "inf" not in printed, result.stdout
        assert "internal error" not in result.stderr and result.stderr.count("non-finite outputs") == 2, result.stderr
    X, y = make_images(6, seed=1)
    data = write_h5(tmp_path / "test.h5", test_set_x=X, test_set_y=y)
    one_error_line(run_dnn("evaluate", str(data), "--model", str(model), "--json"), 2, "m.h5", "non-finite outputs")


# ---- 3. untrusted text is shown literally ----------------------------------------------------

HOSTILE_CLASSES = ["\x1b[2Jclear\x07", "[link=file:///etc/passwd]x[/link]", '=HYPERLINK("http://evil")']
HOSTILE_NAMES = ["[bold]red", "esc\x1b]0;title\x07", "=cmd", "\u202egnp.exe"]


@pytest.fixture
def hostile_pictures(tmp_path: Path) -> tuple[Path, Path]:
    model = make_model(tmp_path / "m.h5", n_classes=3, classes=HOSTILE_CLASSES)
    pictures = np.random.default_rng(0).integers(0, 255, size=(4, 8, 8, 3), dtype=np.uint8)
    folder = tmp_path / "pics"
    save_pngs(pictures, folder, names=HOSTILE_NAMES)
    save_pngs(pictures[:1], folder / "[", names=["inside]"])  # a directory named "[": "[/inside]" was a closing tag
    os.makedirs(os.fsencode(folder) + b"/sub")
    shutil.copy(folder / "=cmd.png", os.fsencode(folder) + b"/sub/bad\xff.png")  # not UTF-8
    return model, folder


def assert_literal(text: str) -> None:
    assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text, repr(text)


def test_class_names_and_file_names_are_shown_literally(hostile_pictures: tuple[Path, Path]) -> None:
    model, folder = hostile_pictures
    # CliRunner's stdout is strict UTF-8, as a terminal's is: the name that is not UTF-8 must not break it
    result = run_dnn("predict", "--model", str(model), str(folder), "-r")
    assert result.returncode == 0, result.stderr
    assert_literal(result.stdout)
    for shown in ("[bold]red.png", "esc\\x1b]0;title\\x07.png", "\\u202egnp.exe.png", "[/inside].png", "bad\\xff.png"):
        assert shown in result.stdout, (shown, result.stdout)

    result = run_dnn("predict", "--model", str(model), str(folder), "-r", "--format", "csv")
    assert result.returncode == 0, result.stderr
    assert_literal(result.stdout)
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert all(not cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row if not cell[:1].isdigit())
    assert rows[0][4:] == ["p_\\x1b[2Jclear\\x07", "p_[link=file:///etc/passwd]x[/link]", 'p_=HYPERLINK("http://evil")']
    assert {row[1] for row in rows[1:]} <= {"\\x1b[2Jclear\\x07", "[link=file:///etc/passwd]x[/link]", "'" + HOSTILE_CLASSES[2]}

    result = run_dnn("predict", "--model", str(model), str(folder), "-r", "--format", "json")
    assert result.returncode == 0 and set(r["class"] for r in json.loads(result.stdout)) <= set(HOSTILE_CLASSES)  # JSON: exact names
    assert_literal(result.stdout)

    for args, escaped in ((("info", str(model)), "\\x1b[2Jclear\\x07"), (("info", str(model), "--json"), "\\u001b[2Jclear\\u0007")):
        result = run_dnn(*args)
        assert result.returncode == 0, result.stderr
        assert "[link=file:///etc/passwd]x[/link]" in result.stdout and escaped in result.stdout, result.stdout
        assert_literal(result.stdout)


def test_evaluate_tables_and_error_lines_show_names_literally(tmp_path: Path, hostile_pictures: tuple[Path, Path]) -> None:
    model, _ = hostile_pictures
    X, y = make_images(9, seed=1)
    data = write_h5(tmp_path / "test.h5", test_set_x=X, test_set_y=np.arange(9) % 3)
    result = run_dnn("evaluate", str(data), "--model", str(model))
    assert result.returncode == 0, result.stderr
    assert_literal(result.stdout)
    assert "[link=file:///etc/passwd]x[/link]" in result.stdout and "\\x1b[2Jclear\\x07" in result.stdout
    line = one_error_line(run_dnn("predict", "--model", str(model), str(tmp_path / "gone\x1b[2J.png")), 2)
    assert "gone\\x1b[2J.png" in line and "\x1b" not in line


# ---- 4. run directories: nothing deleted or replaced that dnn did not make ----------------------


def _users_directory(path: Path) -> None:
    path.mkdir()
    (path / "thesis.tex").write_text("four years of work")


def _a_run_with_a_users_file(path: Path) -> None:
    path.mkdir()
    for name in ("model.h5", "metrics.json", "config.yaml", "notes.txt"):
        (path / name).write_text("mine")


def _a_symlink_to_a_directory(path: Path) -> None:
    _users_directory(path.parent / "elsewhere")
    path.symlink_to(path.parent / "elsewhere")


NOT_OURS = {
    "a user's directory": (_users_directory, "thesis.tex"),
    "a run directory with a user's file": (_a_run_with_a_users_file, "notes.txt"),
    "an empty directory": (lambda p: p.mkdir(), "has no model.h5"),
    "a file": (lambda p: p.write_text("data"), "not a directory"),
    "a symlink to a directory": (_a_symlink_to_a_directory, "symbolic link"),
}


@pytest.mark.parametrize("case", list(NOT_OURS))
def test_force_replaces_only_a_dnn_run_directory(tmp_path: Path, case: str) -> None:
    make, fragment = NOT_OURS[case]
    config = config_file(tmp_path, good_data(tmp_path / "data" / "train.h5"))
    target = tmp_path / "target"
    make(target)
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    line = one_error_line(run_dnn("train", str(config), "--run-dir", str(target), "--force", "--quiet"), 2, fragment)
    assert "is not a dnn run directory" in line
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before
    assert not (tmp_path / "runs").exists() and not partial_path(target).exists()


def test_force_replaces_a_dnn_run_and_latest_only_when_dnn_made_it(tmp_path: Path) -> None:
    config = config_file(tmp_path, good_data(tmp_path / "data" / "train.h5"))
    project = tmp_path / "proj"
    project.mkdir()
    (project / "latest").write_text("my notes called latest")
    result = run_dnn("train", str(config), "--run-dir", str(project / "exp1"))
    assert result.returncode == 0, result.stderr
    assert (project / "latest").read_text() == "my notes called latest"  # never made a symlink
    assert result.stderr.strip().splitlines()[-1].startswith("warning: ") and "is not a symlink dnn made" in result.stderr
    result = run_dnn("train", str(config), "--run-dir", str(project / "exp1"), "--force", "--quiet")
    assert result.returncode == 0 and result.stderr == "", result.stderr  # dnn's own run is replaced (and --quiet silences the warning)
    (project / "latest").unlink()
    (project / "latest").symlink_to(tmp_path / "data")  # a link to somewhere else: not dnn's
    assert run_dnn("train", str(config), "--run-dir", str(project / "exp2"), "--quiet").returncode == 0
    assert os.readlink(project / "latest") == str(tmp_path / "data")


@pytest.mark.parametrize(
    "args, fragment",
    [(["--set", "name=latest"], "name = 'latest'"), (["--set", "name=old.partial"], "name = 'old.partial'"),
     (["--run-dir", "{tmp}/runs/latest"], "dnn's own"), (["--run-dir", "{tmp}/x.partial"], "dnn's own")],
    ids=["name latest", "name .partial", "--run-dir latest", "--run-dir .partial"],
)
def test_dnns_own_names_are_refused_as_run_names(tmp_path: Path, args: list[str], fragment: str) -> None:
    config = config_file(tmp_path, good_data(tmp_path / "data" / "train.h5"))
    args = [a.format(tmp=tmp_path) for a in args]
    one_error_line(run_dnn("train", str(config), "--quiet", *args), 2, fragment)
    assert not (tmp_path / "runs").exists()


def test_a_finished_run_named_partial_is_not_resumed(tmp_path: Path) -> None:
    old = tmp_path / "runs" / "foo.partial"  # finished by an older dnn that allowed the name
    old.mkdir(parents=True)
    for name in ("model.h5", "metrics.json", "config.yaml"):
        (old / name).write_text("x")
    one_error_line(run_dnn("train", "--resume", str(old)), 2, "foo.partial", "not an unfinished dnn run")


def test_a_kill_before_the_config_leaves_nothing_that_blocks_a_new_run(tmp_path: Path, monkeypatch) -> None:
    config = config_file(tmp_path, good_data(tmp_path / "data" / "train.h5"))
    # the order of the writes: a .partial directory appears (is renamed into place) with its config
    import dnncli.run.directory as directory

    seen = []
    real_rename = os.rename

    def watching_rename(src: Any, dst: Any) -> None:
        if str(dst).endswith(".partial"):
            seen.append(sorted(os.listdir(src)))
        real_rename(src, dst)

    monkeypatch.setattr(directory.os, "rename", watching_rename)
    assert run_dnn("train", str(config), "--quiet").returncode == 0
    assert seen == [[LOCK_NAME, "config.yaml"]]
    monkeypatch.undo()

    # what a kill at that moment left with an older dnn (only the lock): a new run takes it over,
    # and --resume says in one line why it cannot continue it
    stale = tmp_path / "runs" / "tiny-2.partial"
    stale.mkdir()
    (stale / LOCK_NAME).write_text("12345\n")
    one_error_line(run_dnn("train", "--resume", str(stale)), 2, "no config.yaml")
    result = run_dnn("train", str(config), "--run-dir", str(tmp_path / "runs" / "tiny-2"), "--quiet")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "runs" / "tiny-2" / "model.h5").exists() and not stale.exists()


# ---- 5. checkpoints: a checksum, then every field validated ----------------------------------


def _json_attr(key: str, change: Callable[[Any], Any]) -> Callable[[h5py.File], None]:
    def edit(f: h5py.File) -> None:
        f.attrs[key] = json.dumps(change(json.loads(f.attrs[key])))

    return edit


def _counter(key: str, value: int) -> Callable[[h5py.File], None]:
    def edit(f: h5py.File) -> None:
        _json_attr("state", lambda s: {**s, key: value})(f)
        f.attrs[key] = value

    return edit


def _dataset(key: str, make: Callable[[np.ndarray], np.ndarray]) -> Callable[[h5py.File], None]:
    def edit(f: h5py.File) -> None:
        value = make(f[key][()])
        del f[key]
        f[key] = value

    return edit


TAMPERED: dict[str, tuple[Callable[[h5py.File], None], bool, str]] = {
    # name: (edit, re-stamp the checksum after it, fragment)
    "one changed value": (lambda f: f["params/W1"].__setitem__((0, 0), 0.5), False, "checksum does not match"),
    "no checksum": (lambda f: f.attrs.__delitem__("checksum"), False, "checksum does not match"),
    "an Adam moment deleted": (lambda f: f.__delitem__("optimizer/v_W1"), True, "('v_W1')"),
    "iteration -5": (_counter("iteration", -5), True, "'iteration' = -5 is out of range"),
    "epoch 1e12": (_counter("epoch", 10**12), True, "'epoch' = 1000000000000 is out of range"),
    "integer W1": (_dataset("params/W1", lambda v: v.astype(np.int64)), True, "'params/W1' holds int64"),
    "a moment of the wrong shape": (_dataset("optimizer/s_b1", lambda v: np.zeros((3, 3))), True, "optimizer/s_b1"),
    "a parameter the network lacks": (lambda f: f.__setitem__("params/W9", np.zeros((2, 2))), True, "'params/W9'"),
    "NaN in a moment": (_dataset("optimizer/v_W2", lambda v: v * np.nan), True, "NaN or infinite"),
    "a bad generator state": (_json_attr("rng", lambda r: {**r, "state": {"state": "x", "inc": 1}}), True, "not a valid one"),
    "another generator": (_json_attr("rng", lambda r: {**r, "bit_generator": "MT19937"}), True, "numpy's default generator"),
    "an unknown optimizer": (_json_attr("optimizer", lambda o: {**o, "name": "sgd"}), True, "'sgd'"),
    "a negative Adam step": (_json_attr("optimizer", lambda o: {**o, "t": -1}), True, "'t' = -1"),
    "a negative learning rate": (_json_attr("optimizer", lambda o: {**o, "learning_rate": -0.1}), True, "'learning_rate'"),
    "history not a list": (_json_attr("state", lambda s: {**s, "history": {"a": 1}}), True, "history"),
    "seconds NaN": (_json_attr("state", lambda s: {**s, "seconds": float("nan")}), True, "'seconds' is nan"),
    "deeply nested state": (lambda f: f.attrs.__setitem__("state", "[" * 100_000 + "]" * 100_000), True, "nested"),
    "a fingerprint that is not one": (lambda f: f.attrs.__setitem__("data_fingerprint", "x" * 64), True, "fingerprint"),
}


@pytest.mark.parametrize("case", list(TAMPERED))
def test_a_tampered_checkpoint_is_refused_in_one_line(tmp_path: Path, interrupted_run: Path, case: str) -> None:
    partial = copy_run(interrupted_run, tmp_path)
    edit, restamp, fragment = TAMPERED[case]
    with h5py.File(partial / CHECKPOINT_NAME, "r+") as f:
        edit(f)
        if restamp:  # a checksum can be recomputed: the fields are checked all the same
            f.attrs["checksum"] = checksum(f)
    one_error_line(run_dnn("train", "--resume", str(partial)), 2, CHECKPOINT_NAME, fragment)
    assert (partial / CHECKPOINT_NAME).exists() and partial.is_dir()


# ---- 6. exit codes and I/O: stdout, stderr, full and failing devices ---------------------------


class FullStream(io.StringIO):
    """A stdout on a full device: every write fails with ENOSPC."""

    encoding = "utf-8"

    def write(self, text: str) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    def flush(self) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")


@pytest.fixture
def everything(tmp_path: Path) -> dict[str, Any]:
    X, y = make_images(6, seed=1)
    return {
        "model": make_model(tmp_path / "m.h5"),
        "images": [str(p) for p in save_pngs(X[:2], tmp_path / "imgs")],
        "data": write_h5(tmp_path / "test.h5", test_set_x=X, test_set_y=y),
        "config": config_file(tmp_path, good_data(tmp_path / "data" / "train.h5")),
    }


COMMANDS: dict[str, Callable[[dict[str, Any]], None]] = {
    "predict": lambda e: predict_command(paths=e["images"], model=e["model"]),
    "predict --format csv": lambda e: predict_command(paths=e["images"], model=e["model"], output_format=PredictFormat.csv),
    "evaluate --json": lambda e: evaluate_command(data=e["data"], model=e["model"], json_output=True),
    "train --json": lambda e: train_command(config=e["config"], json_output=True, quiet=True),
}


@pytest.mark.parametrize("stdout", ["closed", "full"])
@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_closed_or_full_stdout_is_an_error_of_its_own(
    everything: dict[str, Any], command: str, stdout: str, monkeypatch, capsys
) -> None:
    monkeypatch.setattr(sys, "stdout", None if stdout == "closed" else FullStream())
    with pytest.raises(typer.Exit) as info:
        COMMANDS[command](everything)
    err = record_stderr(capsys.readouterr().err)
    result = subprocess.CompletedProcess(["dnn", command], info.value.exit_code, "", err)
    one_error_line(result, 3, "standard output", "closed" if stdout == "closed" else "No space left")


def test_closed_and_full_streams_through_the_installed_command(everything: dict[str, Any], tmp_path: Path) -> None:
    predict = ["predict", "--model", str(everything["model"]), *everything["images"]]
    closed = run(*predict, cwd=tmp_path, shell_redirect=">&-")
    one_error_line(closed, 3, "standard output is closed")
    full = run(*predict, "--format", "csv", cwd=tmp_path, shell_redirect="> /dev/full")
    one_error_line(full, 3, "No space left on device")
    missing = ["train", str(tmp_path / "nowhere.yaml")]
    assert run(*missing, cwd=tmp_path, shell_redirect="2>&-").returncode == 2  # the code, with or without its message
    assert run(*missing, cwd=tmp_path, shell_redirect="2> /dev/full").returncode == 2


def test_a_file_too_large_is_named_in_one_line(everything: dict[str, Any], tmp_path: Path) -> None:
    import resource

    limit = 40_000  # bytes: config.yaml and the model fit, loss.png does not

    def small_files() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    result = run("train", str(everything["config"]), "--quiet", cwd=tmp_path, preexec=small_files)
    line = one_error_line(result, 3, "cannot write", "File too large")
    assert "runs/tiny" in line


@pytest.mark.parametrize(
    "where, code, fragment",
    [("history", errno.ENOSPC, "No space left on device"), ("run directory", errno.EROFS, "Read-only file system")],
)
def test_a_failing_device_is_named_in_one_line(everything: dict[str, Any], monkeypatch, where: str, code: int, fragment: str) -> None:
    def failing(*args: Any, **kwargs: Any) -> None:
        raise OSError(code, os.strerror(code))

    if where == "history":
        monkeypatch.setattr("dnncli.run.outputs.write_history_csv", failing)
    else:
        monkeypatch.setattr("dnncli.run.directory.tempfile.mkdtemp", failing)
    line = one_error_line(run_dnn("train", str(everything["config"]), "--quiet"), 3, fragment)
    assert ("history.csv: cannot write" if where == "history" else "cannot create the run directory") in line


def test_a_name_too_long_and_a_file_in_the_way_are_named_in_one_line(everything: dict[str, Any], tmp_path: Path) -> None:
    long = tmp_path / ("x" * 300)
    one_error_line(run_dnn("train", str(everything["config"]), "--run-dir", str(long), "--quiet"), 3, "File name too long")
    (tmp_path / "a-file").write_text("")
    one_error_line(run_dnn("data", "demo", "--out", str(tmp_path / "a-file"), "--train", "4", "--test", "2"), 2, "a-file")
    one_error_line(run_dnn("data", "demo", "--out", str(tmp_path / "a-file" / "sub")), 2, "Not a directory")


def test_an_unwritable_place_is_bad_input(tmp_path: Path, monkeypatch) -> None:
    def denied(self: Path, *args: Any, **kwargs: Any) -> None:  # as for a user without root's rights
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(self))

    monkeypatch.setattr(Path, "mkdir", denied)
    one_error_line(run_dnn("data", "demo", "--out", str(tmp_path / "locked"), "--train", "4", "--test", "2"), 2,
            "locked: cannot create the directory: Permission denied")


def test_numeric_faults_are_refusals_not_numpy_warnings(tmp_path: Path) -> None:
    X = np.full((6, 4), 1e300)  # float64 that float32 cannot hold
    data = write_h5(tmp_path / "big.h5", train_set_x=X, train_set_y=np.arange(6) % 2)
    config = config_file(tmp_path, data)
    one_error_line(run_dnn("train", str(config), "--set", "training.dtype=float32"), 2, "big.h5", "beyond float32's range")
    small = config_file(tmp_path, good_data(tmp_path / "train.h5"), name="small")
    one_error_line(run_dnn("train", str(small), "--set", "data.scale=1e-320"), 2, "scale = 1e-320")
    one_error_line(run_dnn("train", str(small), "--set", "training.optimizer=adam", "--set", "training.dtype=float32",
                           "--set", "training.epsilon=1e-40"), 2, "epsilon = 1e-40", "float32")
    result = run_dnn("gradcheck", "--epsilon", "inf")
    assert result.returncode == 2 and "internal error" not in result.stderr and "Traceback" not in result.stderr
    result = run_dnn("gradcheck", "--threshold", "inf")  # no maximum to stop it: the finite check does
    assert result.returncode == 2 and "inf is not a finite number" in result.stderr and "internal error" not in result.stderr


def test_any_warning_left_is_one_line(capsys) -> None:
    @handle_errors
    def overflowing() -> None:
        np.float32(np.float64(1e39))  # NumPy warns: overflow encountered in cast

    overflowing()
    err = capsys.readouterr().err
    assert err.strip().splitlines() == ["warning: overflow encountered in cast"], err
