"""`dnn predict`: image files of any kind into the model's input, exactly as the HDF5 pixels are."""

from __future__ import annotations

import json
import struct
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dnncli.data.hdf5 import load_dataset
from dnncli.data.images import RASTER_FORMATS, images_to_columns, load_image
from dnncli.errors import DataError
from dnncli.model.file import load_model
from tests.conftest import dnn_executable, error_lines, make_images, run_dnn
from tests.model_helpers import make_model, save_pngs


def jsonl(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines()]


@pytest.fixture(scope="module")
def rgb_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_model(tmp_path_factory.mktemp("rgb") / "model.h5", (8, 8, 3), classes=["dark", "bright"])


# ---- the course's cat set: PNG files and the HDF5 set give the same 50 predictions ------------


def test_cat_test_images_as_png_give_the_same_50_predictions(
    cat_deep_run: dict, cat_files: dict, tmp_path: Path
) -> None:
    run_dir = cat_deep_run["run_dir"]
    test_set = load_dataset(cat_files["test"], "test_set_x", "test_set_y")
    save_pngs(test_set.X_raw, tmp_path / "pngs")

    predicted = run_dnn("predict", str(tmp_path / "pngs"), "--model", str(run_dir), "--format", "jsonl")
    assert predicted.returncode == 0, predicted.stderr
    records = jsonl(predicted.stdout)
    assert [Path(r["path"]).name for r in records] == [f"{i:03d}.png" for i in range(50)]
    from_png = np.array([r["index"] for r in records])

    bundle = load_model(run_dir)
    from_hdf5 = bundle.network.predict(test_set.columns(bundle.input_divisor))
    np.testing.assert_array_equal(from_png, from_hdf5)
    probabilities = bundle.network.predict_proba(test_set.columns(bundle.input_divisor))[0]
    np.testing.assert_array_equal([r["probabilities"]["cat"] for r in records], probabilities)

    evaluated = run_dnn("evaluate", str(cat_files["test"]), "--model", str(run_dir), "--json")
    assert evaluated.returncode == 0, evaluated.stderr
    report = json.loads(evaluated.stdout)
    assert report["accuracy"] == pytest.approx(0.80)
    assert np.mean(from_png == test_set.y) == pytest.approx(report["accuracy"])
    assert np.bincount(from_png, minlength=2).tolist() == np.sum(report["confusion_matrix"], axis=0).tolist()


# ---- image modes and formats -----------------------------------------------------------------


def test_lossless_formats_and_modes_give_back_the_stored_pixels(tmp_path: Path) -> None:
    rgb = np.random.default_rng(0).integers(0, 256, size=(8, 8, 3), dtype=np.uint8)
    image = Image.fromarray(rgb)
    rgba = np.dstack([rgb, np.random.default_rng(1).integers(0, 256, (8, 8), dtype=np.uint8)])
    image.save(tmp_path / "a.png")
    image.save(tmp_path / "a.bmp")
    image.save(tmp_path / "a.tiff")
    Image.fromarray(rgba).save(tmp_path / "alpha.png")  # transparency is dropped, colours kept
    for path in ("a.png", "a.bmp", "a.tiff", "alpha.png"):
        np.testing.assert_array_equal(load_image(tmp_path / path, (8, 8, 3), "uint8"), rgb, err_msg=path)

    few_colours = rgb // 64 * 64  # at most 64 colours: a palette (GIF) holds them exactly
    frames = [Image.fromarray(few_colours), Image.fromarray(255 - few_colours)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    np.testing.assert_array_equal(load_image(tmp_path / "anim.gif", (8, 8, 3), "uint8"), few_colours)

    gray = rgb[:, :, 0]
    Image.fromarray(gray).save(tmp_path / "g.png")
    Image.fromarray(gray.astype(np.uint16) * 257).save(tmp_path / "g16.png")  # 16-bit PNG
    for path in ("g.png", "g16.png"):
        np.testing.assert_array_equal(load_image(tmp_path / path, (8, 8), "uint8"), gray, err_msg=path)
        np.testing.assert_array_equal(load_image(tmp_path / path, (8, 8, 1), "uint8")[:, :, 0], gray)
    # a grayscale file for a colour model: the gray value in every channel, as Pillow converts it
    np.testing.assert_array_equal(load_image(tmp_path / "g.png", (8, 8, 3), "uint8"), np.dstack([gray] * 3))
    # a 16-bit model keeps all 16 bits of a 16-bit file
    np.testing.assert_array_equal(load_image(tmp_path / "g16.png", (8, 8), "uint16"), gray.astype(np.uint16) * 257)


def test_other_sizes_are_resized_to_the_model_input(tmp_path: Path) -> None:
    big = np.random.default_rng(2).integers(0, 256, size=(30, 20, 3), dtype=np.uint8)
    Image.fromarray(big).save(tmp_path / "big.png")
    x = load_image(tmp_path / "big.png", (8, 8, 3), "uint8")
    assert x.shape == (8, 8, 3) and x.dtype == np.uint8
    expected = np.asarray(Image.fromarray(big).resize((8, 8), Image.Resampling.BILINEAR))
    np.testing.assert_array_equal(x, expected)
    # columns from image files are scaled exactly as an HDF5 set's
    X = images_to_columns([x, x], 255.0)
    np.testing.assert_array_equal(X[:, 0], x.reshape(-1) / 255.0)


def test_a_model_that_does_not_take_images_is_refused(tmp_path: Path) -> None:
    model = make_model(tmp_path / "planar.h5", input_shape=(2,), divisor=1.0, input_dtype="float64")
    save_pngs(np.zeros((1, 8, 8, 3), np.uint8), tmp_path)
    result = run_dnn("predict", str(tmp_path / "000.png"), "--model", str(model))
    assert result.returncode == 2
    assert len(error_lines(result.stderr)) == 1 and "not images" in result.stderr


# ---- several files, directories, stdin, formats ----------------------------------------------


def test_find_pipeline_gives_jsonl_that_parses_line_by_line(tmp_path: Path, rgb_model: Path) -> None:
    X, _ = make_images(12, seed=4)
    save_pngs(X[:6], tmp_path / "photos")
    save_pngs(X[6:], tmp_path / "photos" / "more", names=[f"m{i}" for i in range(6)])
    (tmp_path / "photos" / "notes.txt").write_text("not a picture")
    command = f"find '{tmp_path / 'photos'}' -name '*.png' | sort | '{dnn_executable()}' predict - --format jsonl --model '{rgb_model}'"
    result = subprocess.run(command, shell=True, capture_output=True, text=True, env={"NO_COLOR": "1", "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    records = jsonl(result.stdout)
    assert len(records) == 12
    for record in records:
        assert set(record) == {"path", "class", "index", "probability", "probabilities"}
        assert record["class"] in ("dark", "bright") and record["index"] in (0, 1)
        assert record["probability"] == record["probabilities"][record["class"]]
        assert sum(record["probabilities"].values()) == pytest.approx(1.0)

    # the same predictions for the same files in the same order, found through -r instead of find
    # (a batch of other files, or in another order, may differ in the last bit: BLAS kernels)
    recursive = run_dnn("predict", "-r", str(tmp_path / "photos"), "--format", "jsonl", "--model", str(rgb_model))
    assert recursive.returncode == 0, recursive.stderr
    by_path = {r["path"]: r for r in jsonl(recursive.stdout)}
    assert by_path == {r["path"]: r for r in records}
    # without -r a directory gives its own images only
    flat = run_dnn("predict", str(tmp_path / "photos"), "--format", "csv", "--model", str(rgb_model))
    assert flat.returncode == 0
    lines = flat.stdout.splitlines()
    assert lines[0] == "path,class,index,probability,p_dark,p_bright" and len(lines) == 7


def test_threshold_moves_the_binary_decision(tmp_path: Path, rgb_model: Path) -> None:
    X, _ = make_images(20, seed=5)
    save_pngs(X, tmp_path)
    low = jsonl(run_dnn("predict", str(tmp_path), "-f", "jsonl", "--threshold", "0.0", "--model", str(rgb_model)).stdout)
    high = jsonl(run_dnn("predict", str(tmp_path), "-f", "jsonl", "--threshold", "1.0", "--model", str(rgb_model)).stdout)
    assert len(low) == len(high) == 20
    assert {r["class"] for r in low} == {"bright"} and {r["class"] for r in high} == {"dark"}


def test_multiclass_records_carry_every_class_and_refuse_a_threshold(tmp_path: Path) -> None:
    model = make_model(tmp_path / "m.h5", (8, 8), n_classes=4, classes=["a", "b", "c", "d"])
    images = np.random.default_rng(6).integers(0, 256, size=(5, 8, 8), dtype=np.uint8)
    save_pngs(images, tmp_path / "img")
    result = run_dnn("predict", str(tmp_path / "img"), "--format", "json", "--model", str(model))
    assert result.returncode == 0, result.stderr
    records = json.loads(result.stdout)
    bundle = load_model(model)
    X = images.reshape(5, -1).T / 255.0
    np.testing.assert_array_equal([r["index"] for r in records], bundle.network.predict(X))
    for record, column in zip(records, bundle.network.predict_proba(X).T):
        assert list(record["probabilities"]) == ["a", "b", "c", "d"]
        np.testing.assert_allclose(list(record["probabilities"].values()), column, rtol=0, atol=0)
        assert record["class"] == "abcd"[int(np.argmax(column))]

    refused = run_dnn("predict", str(tmp_path / "img"), "--threshold", "0.3", "--model", str(model))
    assert refused.returncode == 2 and refused.stdout == ""
    assert len(error_lines(refused.stderr)) == 1 and "--threshold" in refused.stderr


def test_table_is_the_default_output(tmp_path: Path, rgb_model: Path) -> None:
    save_pngs(make_images(2, seed=7)[0], tmp_path)
    result = run_dnn("predict", str(tmp_path / "000.png"), str(tmp_path / "001.png"), "--model", str(rgb_model))
    assert result.returncode == 0 and result.stderr == ""
    assert "probability" in result.stdout and "000.png" in result.stdout and "001.png" in result.stdout
    assert "\x1b[" not in result.stdout  # NO_COLOR and a pipe: plain text


# ---- the model to use ------------------------------------------------------------------------


def test_latest_run_is_the_default_model_and_dnn_model_overrides(
    tmp_path: Path, tiny_config: Path, rgb_model: Path
) -> None:
    save_pngs(make_images(1, seed=8)[0], tmp_path / "img")
    image = str(tmp_path / "img" / "000.png")
    none_yet = run_dnn("predict", image, cwd=tmp_path)
    assert none_yet.returncode == 2 and "runs/latest does not exist" in none_yet.stderr
    assert len(error_lines(none_yet.stderr)) == 1

    assert run_dnn("train", str(tiny_config), "--quiet", cwd=tmp_path).returncode == 0
    latest = run_dnn("predict", image, "-f", "jsonl", cwd=tmp_path)
    assert latest.returncode == 0, latest.stderr
    trained = load_model(tmp_path / "runs" / "tiny")
    x = np.asarray(Image.open(image)).reshape(-1, 1) / 255.0
    assert jsonl(latest.stdout)[0]["probabilities"]["bright"] == trained.network.predict_proba(x)[0, 0]

    from_env = run_dnn("predict", image, "-f", "jsonl", cwd=tmp_path, env={"DNN_MODEL": str(rgb_model)})
    assert from_env.returncode == 0
    assert jsonl(from_env.stdout)[0]["probabilities"]["bright"] == load_model(rgb_model).network.predict_proba(x)[0, 0]
    missing = run_dnn("predict", image, cwd=tmp_path, env={"DNN_MODEL": str(tmp_path / "gone.h5")})
    assert missing.returncode == 2 and "gone.h5: no such model file" in missing.stderr


# ---- bad input: one clear line each, the others still predicted --------------------------------


@pytest.mark.parametrize("kind", ["missing", "garbage", "truncated"])
def test_a_missing_or_corrupt_model_file_is_one_line_exit_2(tmp_path: Path, rgb_model: Path, kind: str) -> None:
    save_pngs(make_images(1)[0], tmp_path)
    model = tmp_path / "model.h5"
    if kind == "garbage":
        model.write_text("this is not a model\n")
    elif kind == "truncated":
        data = rgb_model.read_bytes()
        model.write_bytes(data[: len(data) // 2])
    result = run_dnn("predict", str(tmp_path / "000.png"), "--model", str(model))
    assert result.returncode == 2 and result.stdout == ""
    [line] = error_lines(result.stderr)
    assert str(model) in line


def test_a_text_file_given_as_an_image_is_one_line_exit_2(tmp_path: Path, rgb_model: Path) -> None:
    text = tmp_path / "notes.png"
    text.write_text("hello, I am text\n")
    result = run_dnn("predict", str(text), "--model", str(rgb_model))
    assert result.returncode == 2 and result.stdout == ""
    assert error_lines(result.stderr) == [f"error: {text}: not an image in a format dnn reads ({', '.join(RASTER_FORMATS)})"]


def test_unreadable_files_are_named_and_the_others_still_predicted(tmp_path: Path, rgb_model: Path) -> None:
    good = save_pngs(make_images(2, seed=9)[0], tmp_path)
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "text.jpg").write_text("plain text")
    whole = good[0].read_bytes()
    (tmp_path / "cut.png").write_bytes(whole[: len(whole) - 40])
    (tmp_path / "emptydir").mkdir()
    bad = ["empty.png", "text.jpg", "cut.png", "gone.png", "emptydir"]
    args = [str(good[0]), *(str(tmp_path / name) for name in bad), str(good[1])]
    result = run_dnn("predict", *args, "--format", "jsonl", "--model", str(rgb_model))
    assert result.returncode == 2
    assert [r["path"] for r in jsonl(result.stdout)] == [str(good[0]), str(good[1])]
    lines = error_lines(result.stderr)
    assert len(lines) == len(bad) + 1
    for name, line in zip(bad, lines):
        assert str(tmp_path / name) in line
    assert "is empty (0 bytes)" in lines[0] and "no such image file" in lines[3] and "no image files" in lines[4]
    assert lines[-1] == "error: 5 of 7 files could not be predicted"

    quiet = run_dnn("predict", *args, "--format", "jsonl", "--quiet", "--model", str(rgb_model))
    assert quiet.returncode == 2 and len(error_lines(quiet.stderr)) == len(bad)


def _png_header_only(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def test_decompression_bombs_are_refused_before_decoding(tmp_path: Path, rgb_model: Path) -> None:
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(_png_header_only(100_000, 100_000))  # 10^10 pixels declared in 100 bytes
    with pytest.raises(DataError, match="bomb"):
        load_image(bomb, (8, 8, 3))
    save_pngs(np.zeros((1, 100, 100, 3), np.uint8), tmp_path)
    result = run_dnn("predict", str(tmp_path / "000.png"), "--max-pixels", "5000", "--model", str(rgb_model))
    assert result.returncode == 2
    [line] = error_lines(result.stderr)
    assert "decompression bomb" in line and "10000" in line and "5000" in line


def test_empty_stdin_is_a_usage_error(rgb_model: Path) -> None:
    result = run_dnn("predict", "-", "--model", str(rgb_model), input="")
    assert result.returncode == 2
    assert error_lines(result.stderr) == ["error: no image paths given (standard input was empty)"]


def test_a_reader_that_stops_early_ends_quietly(tmp_path: Path, rgb_model: Path) -> None:
    [image] = save_pngs(make_images(1)[0], tmp_path)
    paths = "".join(f"{image}\n" for _ in range(1500))  # ~250 kB of output: more than a pipe holds
    (tmp_path / "list.txt").write_text(paths)
    command = f"'{dnn_executable()}' predict - -f jsonl --model '{rgb_model}' < list.txt | head -n 1; exit ${{PIPESTATUS[0]}}"
    result = subprocess.run(["bash", "-c", command], cwd=tmp_path, capture_output=True, text=True)
    assert len(result.stdout.splitlines()) == 1
    assert result.stderr == "" and result.returncode in (0, 141)


def test_a_float_model_gets_fractions_and_a_warning(tmp_path: Path) -> None:
    model = make_model(tmp_path / "f.h5", (4, 4), input_dtype="float32", divisor=1.0)
    pixels = np.arange(16, dtype=np.uint8).reshape(4, 4) * 16
    [image] = save_pngs(pixels[None], tmp_path)
    np.testing.assert_array_equal(load_image(image, (4, 4), "float32"), (pixels / 255).astype(np.float32))
    result = run_dnn("predict", str(image), "-f", "jsonl", "--model", str(model))
    assert result.returncode == 0
    assert result.stderr.startswith("warning: the model was trained on float32 examples")
    X = (pixels.reshape(-1, 1) / 255).astype(np.float32).astype(np.float64)
    assert jsonl(result.stdout)[0]["probabilities"]["c1"] == load_model(model).network.predict_proba(X)[0, 0]
    assert run_dnn("predict", str(image), "-q", "--model", str(model)).stderr == ""


def test_damaged_files_of_every_format_load_or_raise_one_data_error(tmp_path: Path) -> None:
    import io
    import warnings

    rng = np.random.default_rng(0)
    source = Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8))
    damaged = tmp_path / "damaged"
    outcomes = {"decoded": 0, "refused": 0}
    for fmt in ("PNG", "JPEG", "GIF", "BMP", "TIFF", "WEBP"):
        buffer = io.BytesIO()
        source.save(buffer, fmt)
        data = buffer.getvalue()
        for trial in range(20):
            blob = bytearray(data[: rng.integers(1, len(data))] if trial % 2 else data)
            for _ in range(trial % 4):
                blob[rng.integers(0, len(blob))] = rng.integers(0, 256)
            damaged.write_bytes(bytes(blob))
            with warnings.catch_warnings():
                warnings.simplefilter("error")  # no warning may escape to stderr either
                try:
                    assert load_image(damaged, (8, 8, 3)).shape == (8, 8, 3)
                    outcomes["decoded"] += 1
                except DataError as exc:
                    assert str(damaged) in str(exc) and "\n" not in str(exc)
                    outcomes["refused"] += 1
    assert outcomes["refused"] > 0


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    pixels = (np.arange(32, dtype=np.uint8) * 8).reshape(4, 8)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display", as phone cameras write
    Image.fromarray(pixels).save(tmp_path / "phone.png", exif=exif.tobytes())
    np.testing.assert_array_equal(load_image(tmp_path / "phone.png", (8, 4), "uint8"), np.rot90(pixels, -1))
