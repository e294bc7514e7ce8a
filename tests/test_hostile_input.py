"""Hostile input: configs, HDF5 files and model files that are broken on purpose.

Every case must end with a non-zero exit code and exactly one ``error:`` line on stderr naming the
file or key, no traceback, and no run directory (or half-written file) left behind.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Callable

import h5py
import numpy as np
import pytest

from dnncli.config import load_config, parse_yaml
from dnncli.config.safe_yaml import MAX_YAML_VALUES
from dnncli.data.hdf5 import load_dataset
from dnncli.errors import ConfigError, DataError, ModelFileError
from dnncli.model.file import ModelBundle, load_model, save_model
from dnncli.network.model import Network
from tests.conftest import make_images, one_error_line, run_dnn, write_h5


def leftovers(directory: Path) -> list[str]:
    """Everything under ``directory`` (run directories, staging dirs, temp files)."""
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*")) if directory.exists() else []


# ---- configs ---------------------------------------------------------------------------------


def base_config(tmp_path: Path, tiny_data: dict[str, Path], extra: str = "") -> str:
    return (
        f"data: {{train: {tiny_data['train']}, test: {tiny_data['test']}}}\n"
        f"output: {{dir: {tmp_path / 'runs'}}}\n"
        f"training: {{iterations: 3}}\n{extra}"
    )


BILLION_LAUGHS = "\n".join(
    ["a0: &a0 [1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    + [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
    + ["model: {layers: *a8}", "data: {train: x.h5}"]
) + "\n"

HOSTILE_CONFIGS: dict[str, tuple[str, str]] = {
    # name: (config text, a fragment the error must contain)
    "a list": ("- name: x\n- data: y\n", "expected a mapping"),
    "a scalar": ("42\n", "expected a mapping"),
    "a string": ("hello world\n", "expected a mapping"),
    "empty": ("", "empty"),
    "only a comment": ("# nothing\n", "empty"),
    "billion laughs": (BILLION_LAUGHS, "anchors and aliases"),
    "recursive alias": ("a: &a [*a]\n", "refers to itself"),
    "deep nesting": ("[" * 5000 + "]" * 5000 + "\n", "nested too deeply"),
    "bad yaml": ("model: {layers: [1, 2\n", "not valid YAML"),
    "python tag": ("!!python/object/apply:os.system ['echo hacked']\n", "not valid YAML"),
}


@pytest.mark.parametrize("case", list(HOSTILE_CONFIGS), ids=list(HOSTILE_CONFIGS))
def test_hostile_yaml_is_refused_in_one_line(tmp_path: Path, case: str) -> None:
    text, fragment = HOSTILE_CONFIGS[case]
    path = tmp_path / "hostile.yaml"
    path.write_text(text)
    result = run_dnn("train", str(path), "--quiet")
    one_error_line(result, 2, "hostile.yaml", fragment)
    assert leftovers(tmp_path) == ["hostile.yaml"]


def test_billion_laughs_is_refused_before_anything_walks_it(tmp_path: Path) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(BILLION_LAUGHS)
    with pytest.raises(ConfigError, match=f"more than {MAX_YAML_VALUES} values"):
        load_config(path)
    # a few honest aliases are fine
    assert parse_yaml("a: &s [4, 1]\nb: *s\n", "ok.yaml") == {"a": [4, 1], "b": [4, 1]}


@pytest.mark.parametrize("case", list(HOSTILE_CONFIGS), ids=list(HOSTILE_CONFIGS))
def test_the_fast_reader_of_run_configs_refuses_what_the_config_reader_refuses(case: str) -> None:
    # dnn runs reads configs with libyaml and builds plain ones directly: the same bounds hold
    text = HOSTILE_CONFIGS[case][0]
    assert _read(text, fast=True) == _read(text, fast=False)


def test_the_fast_reader_of_run_configs_counts_values_without_aliases_too() -> None:
    many = "[" + ", ".join(["1"] * MAX_YAML_VALUES) + "]"
    with pytest.raises(ConfigError, match="more than"):
        parse_yaml(many, "run.yaml", fast=True)


def _read(text: str, fast: bool) -> str:
    try:
        return repr(parse_yaml(text, "run.yaml", fast=fast))
    except ConfigError:
        return "refused"


@pytest.mark.parametrize("text", [
    "a: 1e-3\nb: .5\nc: 1_000\nd: 0x1F\ne: yes\nf: ~\ng: 2024-01-01 10:00:00+02:00\nh: -.inf\ni: '1e3'\nj: 017\nk: 1:20\n",
    "a: 1\na: 2\n", "base: &b {x: 1}\nc: {<<: *b, y: 2}\n", "a: !!set {x, y}\n", "? [1, 2]\n: 3\n",
    "a: !!binary aGVsbG8=\n", "= : 1\n", "a: !!str 12\n", "- 1\n- [2, [3]]\n", "x\n", "", "{1: 2, 1.5: 3, null: 4, true: 5}\n",
])
def test_the_fast_reader_of_run_configs_reads_what_the_config_reader_reads(text: str) -> None:
    assert _read(text, fast=True) == _read(text, fast=False)


def test_an_oversized_or_binary_config_is_refused(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_text("# padding\n" * 200_000)
    with pytest.raises(ConfigError, match="too large for a config"):
        load_config(big)
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe\x00")
    with pytest.raises(ConfigError, match="not a text file"):
        load_config(binary)


BAD_VALUES = {
    # --set override: fragment of the one-line error
    "training.iterations=1e300": "training.iterations: expected an integer",
    "training.iterations=1000000000000000000000000000000": "training.iterations: must be <= 1000000000",
    "training.iterations=-5": "training.iterations: must be >= 1",
    "training.iterations='100'": "training.iterations: expected an integer, got '100'",
    "training.iterations=true": "training.iterations: expected an integer",
    "training.learning_rate=fast": "training.learning_rate: expected a number, got 'fast'",
    "training.learning_rate=.inf": "training.learning_rate: expected a finite number",
    "training.learning_rate=.nan": "training.learning_rate: expected a finite number",
    "training.learning_rate=[0.1]": "training.learning_rate: expected a number",
    "model.seed=100000000000000000000": "model.seed: must be <= 4294967295",
    "model.init_scale=.inf": "model.init_scale: expected a finite number",
    "model.hidden=[5, x]": "model.hidden[1]: expected an integer",
    "model.hidden=[5, 2.5]": "model.hidden[1]: expected an integer",
    "model.hidden={a: 1}": "model.hidden: expected a list",
    "data.scale=-1.0": "scale = -1.0",
    "data.scale=.nan": "scale",
    "name=" + "x" * 300: "name: at most 100 characters",
    "model.layers=[1000000000000, 1]": "model.layers[0] = 1000000000000 but",
    # found by the Hypothesis property: activations for a network whose size comes from the data
    "model.activations=[relu, relu, sigmoid]": "activations has 3 entries but the network has 1 layers",
}


@pytest.mark.parametrize("override", list(BAD_VALUES), ids=[o[:40] for o in BAD_VALUES])
def test_wrong_types_and_huge_numbers_are_refused(tmp_path: Path, tiny_data, override: str) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(base_config(tmp_path, tiny_data))
    result = run_dnn("train", str(path), "--quiet", "--set", override)
    # the source named is the override (not the config file, which is fine), or the data file
    # whose sizes the config does not fit
    one_error_line(result, 2, BAD_VALUES[override])
    assert f"--set {override}" in result.stderr or "train.h5" in result.stderr
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("hidden", ["[1000000000000]", "[100000, 100000]", "[10000000000000000000000]"])
def test_a_network_too_big_for_memory_is_refused_before_allocating(tmp_path: Path, tiny_data, hidden: str) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(base_config(tmp_path, tiny_data))
    result = run_dnn("train", str(path), "--quiet", "--set", f"model.hidden={hidden}")
    one_error_line(result, 2, "model.layers", "parameters", "more than this machine's")
    assert not (tmp_path / "runs").exists()


def test_hostile_configs_through_the_installed_command(tmp_path: Path, tiny_data) -> None:
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(BILLION_LAUGHS)
    result = run_dnn("train", str(bomb), cwd=tmp_path, real=True)
    one_error_line(result, 2, "bomb.yaml", "aliases")
    config = tmp_path / "c.yaml"
    config.write_text(base_config(tmp_path, tiny_data))
    result = run_dnn("train", str(config), "--set", "model.hidden=[1000000000000]", cwd=tmp_path)
    one_error_line(result, 2, "model.layers")
    assert leftovers(tmp_path / "runs") == []


# ---- HDF5 data -------------------------------------------------------------------------------


def _h5(path: Path, build: Callable[[h5py.File], None]) -> Path:
    with h5py.File(path, "w") as f:
        build(f)
    return path


def _good(f: h5py.File) -> None:
    X, y = make_images(12, seed=3)
    f["train_set_x"], f["train_set_y"] = X, y
    f["list_classes"] = np.array([b"dark", b"bright"])  # so a label of 7 is out of range


def _truncated(path: Path) -> Path:
    X, y = make_images(200, seed=3, shape=(32, 32, 3))
    write_h5(path, train_set_x=X, train_set_y=y)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def _replace(key: str, value) -> Callable[[h5py.File], None]:
    def build(f: h5py.File) -> None:
        _good(f)
        del f[key]
        if callable(value):
            value(f, key)
        else:
            f[key] = value

    return build


X12, Y12 = make_images(12, seed=3)

HOSTILE_H5: dict[str, tuple[Callable[[Path], Path], str]] = {
    "truncated": (_truncated, "cannot read HDF5 data"),
    "zero bytes": (lambda p: (p.write_bytes(b""), p)[1], "is empty (0 bytes)"),
    "not hdf5": (lambda p: (p.write_text("just text"), p)[1], "not an HDF5 file"),
    # a folder is a folder of images (see test_data_import.py): an empty one has nothing to train on
    "an empty folder": (lambda p: (p.mkdir(), p)[1], "no files to import"),
    "no such key": (lambda p: _h5(p, lambda f: f.create_dataset("other", data=X12)), "no dataset 'train_set_x'"),
    "x is a group": (lambda p: _h5(p, _replace("train_set_x", lambda f, k: f.create_group(k))), "is a group"),
    "object (vlen string) pixels": (
        lambda p: _h5(p, _replace("train_set_x", lambda f, k: f.create_dataset(
            k, data=np.array(["a"] * 12, dtype=object), dtype=h5py.string_dtype()))),
        "holds object data",
    ),
    "byte-string pixels": (lambda p: _h5(p, _replace("train_set_x", np.array([b"ab"] * 12))), "holds |S2 data"),
    "compound pixels": (
        lambda p: _h5(p, _replace("train_set_x", np.zeros(12, dtype=[("a", "f8"), ("b", "i4")]))), "expected numbers"
    ),
    "string labels": (lambda p: _h5(p, _replace("train_set_y", np.array([b"cat"] * 12))), "expected numeric labels"),
    "NaN pixels": (lambda p: _h5(p, _replace("train_set_x", np.where(X12 > 200, np.nan, X12 / 255))), "NaN or infinite"),
    "inf pixels": (lambda p: _h5(p, _replace("train_set_x", np.full((12, 4), np.inf))), "NaN or infinite"),
    "NaN labels": (lambda p: _h5(p, _replace("train_set_y", np.full(12, np.nan))), "NaN or infinite"),
    "zero examples": (
        lambda p: _h5(p, lambda f: (f.create_dataset("train_set_x", data=np.zeros((0, 8, 8, 3), np.uint8)),
                                    f.create_dataset("train_set_y", data=np.zeros(0, np.int64)))),
        "has no examples",
    ),
    "examples without values": (lambda p: _h5(p, _replace("train_set_x", np.zeros((12, 0)))), "hold no values"),
    "a single number": (lambda p: _h5(p, _replace("train_set_x", np.float64(3.0))), "a single number"),
    "fewer labels": (lambda p: _h5(p, _replace("train_set_y", Y12[:7])), "has 12 examples but 'train_set_y' has 7"),
    "labels of shape (m, 3)": (lambda p: _h5(p, _replace("train_set_y", np.zeros((12, 3)))), "'train_set_y' has shape (12, 3)"),
    "a scalar label": (lambda p: _h5(p, _replace("train_set_y", np.int64(1))), "a single value"),
    "label 7 for a binary model": (lambda p: _h5(p, _replace("train_set_y", np.full(12, 7))), "the label 7"),
    "fractional labels": (lambda p: _h5(p, _replace("train_set_y", np.full(12, 0.5))), "holds 0.5"),
    "a decompression bomb": (
        lambda p: _h5(p, _replace("train_set_x", lambda f, k: f.create_dataset(
            k, shape=(10**7, 10**7), dtype="u1", chunks=(1000, 1000), compression="gzip"))),
        "more than this machine's memory",
    ),
}


@pytest.mark.parametrize("case", list(HOSTILE_H5), ids=list(HOSTILE_H5))
def test_hostile_hdf5_is_refused_in_one_line(tmp_path: Path, case: str) -> None:
    make, fragment = HOSTILE_H5[case]
    data = make(tmp_path / "bad.h5")
    config = tmp_path / "c.yaml"
    config.write_text(f"model: {{hidden: [3]}}\ndata: {{train: {data}}}\noutput: {{dir: {tmp_path / 'runs'}}}\n")
    before = leftovers(tmp_path)
    result = run_dnn("train", str(config), "--quiet")
    one_error_line(result, 2, "bad.h5", fragment)
    assert leftovers(tmp_path) == before  # no run directory, nothing half-written


def test_the_bomb_is_refused_without_reading_it(tmp_path: Path) -> None:
    path = HOSTILE_H5["a decompression bomb"][0](tmp_path / "bomb.h5")
    assert path.stat().st_size < 100_000  # a tiny file claiming 90 TiB
    with pytest.raises(DataError, match=r"shape \(10000000, 10000000\)"):
        load_dataset(path)


def test_hostile_hdf5_through_the_installed_command(tmp_path: Path) -> None:
    data = _truncated(tmp_path / "bad.h5")
    config = tmp_path / "c.yaml"
    config.write_text(f"data: {{train: {data}}}\noutput: {{dir: {tmp_path / 'runs'}}}\n")
    result = run_dnn("train", str(config), cwd=tmp_path, real=True)
    one_error_line(result, 2, "bad.h5", "cannot read")
    assert not (tmp_path / "runs").exists()


# ---- model files -----------------------------------------------------------------------------


@pytest.fixture
def good_model(tmp_path: Path) -> Path:
    net = Network.create([12, 3, 1], ["relu", "sigmoid"], seed=2)
    return save_model(ModelBundle(net, (2, 2, 3), "uint8", 255.0, ["dark", "bright"]), tmp_path / "good.h5")


def _edit(edit: Callable[[h5py.File], object]) -> Callable[[Path, Path], Path]:
    def make(good: Path, target: Path) -> Path:
        shutil.copy(good, target)
        with h5py.File(target, "r+") as f:
            edit(f)
        return target

    return make


def _set_attr(key: str, value) -> Callable[[h5py.File], object]:
    return lambda f: f.attrs.__setitem__(key, value)


def _truncate_copy(good: Path, target: Path) -> Path:
    data = good.read_bytes()
    target.write_bytes(data[: len(data) // 2])
    return target


HOSTILE_MODELS: dict[str, tuple[Callable[[Path, Path], Path], str]] = {
    "a newer format version": (_edit(_set_attr("format_version", 99)), "model file format 99"),
    "an array missing": (_edit(lambda f: f.__delitem__("W2")), "the array 'W2' is missing"),
    "an array of the wrong shape": (
        _edit(lambda f: (f.__delitem__("W1"), f.create_dataset("W1", data=np.zeros((3, 5))))), "'W1' has shape (3, 5)"
    ),
    "an array of strings": (
        _edit(lambda f: (f.__delitem__("b1"), f.create_dataset("b1", data=np.array([[b"x"]] * 3)))), "'b1' has shape"
    ),
    "NaN parameters": (_edit(lambda f: f["W1"].__setitem__((0, 0), np.nan)), "'W1' contains NaN"),
    "no format attribute": (_edit(lambda f: f.attrs.__delitem__("format")), "not a dnn model file"),
    "no layer sizes": (_edit(lambda f: f.attrs.__delitem__("layer_sizes")), "'layer_sizes' is missing"),
    "an unknown activation": (_edit(_set_attr("activations", json.dumps(["relu", "bogus"]))), "bogus"),
    "activations not JSON": (_edit(_set_attr("activations", "[relu")), "'activations' is not valid JSON"),
    "an input shape that disagrees": (_edit(_set_attr("input_shape", np.array([5]))), "input_shape (5,)"),
    "a zero divisor": (_edit(_set_attr("input_divisor", 0.0)), "input_divisor = 0.0"),
    "classes not a list": (_edit(_set_attr("classes", '{"a": 1}')), "'classes' holds a dict"),
    "truncated": (_truncate_copy, "corrupt dnn model file"),
    "zero bytes": (lambda good, target: (target.write_bytes(b""), target)[1], "is empty (0 bytes)"),
}


@pytest.mark.parametrize("case", list(HOSTILE_MODELS), ids=list(HOSTILE_MODELS))
def test_hostile_model_files_are_refused_in_one_line(tmp_path: Path, good_model: Path, case: str) -> None:
    make, fragment = HOSTILE_MODELS[case]
    path = make(good_model, tmp_path / "bad.h5")
    with pytest.raises(ModelFileError) as info:
        load_model(path)
    message = str(info.value)
    assert "\n" not in message and message.startswith(str(path)) and fragment in message, message


def test_the_good_model_still_loads(good_model: Path) -> None:
    bundle = load_model(good_model)
    assert bundle.network.layer_sizes == [12, 3, 1] and bundle.classes == ["dark", "bright"]


# ---- images (dnn predict) --------------------------------------------------------------------


def _png_bytes(shape: tuple[int, int, int] = (16, 16, 3)) -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, size=shape, dtype=np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


def _header_only_png(width: int, height: int) -> bytes:
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


HOSTILE_IMAGES: dict[str, tuple[Callable[[], bytes], str]] = {
    "zero bytes": (lambda: b"", "is empty (0 bytes)"),
    "truncated": (lambda: _png_bytes()[: len(_png_bytes()) // 2], "truncated"),
    "a decompression bomb": (lambda: _header_only_png(100_000, 100_000), "decompression bomb"),
    "text": (lambda: b"just some text\n", "not an image"),
    "random bytes": (lambda: np.random.default_rng(1).bytes(400), "not an image"),
}


@pytest.mark.parametrize("case", list(HOSTILE_IMAGES), ids=list(HOSTILE_IMAGES))
def test_hostile_images_are_refused_in_one_line(tmp_path: Path, case: str) -> None:
    make, fragment = HOSTILE_IMAGES[case]
    net = Network.create([192, 3, 1], ["relu", "sigmoid"], seed=2)
    model = save_model(ModelBundle(net, (8, 8, 3), "uint8", 255.0, ["dark", "bright"]), tmp_path / "m.h5")
    image = tmp_path / "hostile.png"
    image.write_bytes(make())
    result = run_dnn("predict", "--model", str(model), str(image))
    one_error_line(result, 2, "hostile.png", fragment)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hostile.png", "m.h5"]  # nothing written
