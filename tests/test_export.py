"""ONNX export (dnncli/model/export.py): each kind of model the shipped configs make, trained here by
`dnn train`, exported, and run in ONNX Runtime on the examples as stored; the results are `dnn
predict`'s (on the same pixels as PNG files) to 1e-6 in float64 and 1e-5 in float32, the labels
equal. Then the metadata, reading a file back, and hostile outputs and inputs."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from conftest import make_images, run_dnn, write_h5
from model_helpers import save_pngs

from dnncli import __version__
from dnncli.data.hdf5 import load_dataset
from dnncli.errors import DnnError, ModelFileError
from dnncli.model.export import OPSET, ExportError, describe_onnx, export_onnx, onnx_tables
from dnncli.model.file import load_model
from dnncli.model.predict import predictions_from_output

TOLERANCE = {"float64": 1e-6, "float32": 1e-5}


def train(work: Path, name: str, train: dict, test: dict, model: str, training: str) -> Path:
    """``dnn train`` on the arrays given (written as HDF5 files); the model file it wrote."""
    train_file = write_h5(work / "data" / f"{name}_train.h5", **train)
    test_file = write_h5(work / "data" / f"{name}_test.h5", **test)
    config = work / f"{name}.yaml"
    config.write_text(
        f"name: {name}\nmodel:\n{model}data:\n  train: {train_file}\n  test: {test_file}\n"
        f"training:\n{training}  record_every: 10\noutput:\n  dir: {work / 'runs'}\n  plot: none\n"
    )
    result = run_dnn("train", str(config), "--quiet", cwd=work)
    assert result.returncode == 0, result.stderr
    return work / "runs" / name / "model.h5"


def digits(m: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """MNIST-like 10x10 grayscale uint8 pictures of 4 classes: class k is a bright band at rows
    2k..2k+2 over noise."""
    rng = np.random.default_rng(seed)
    y = np.arange(m) % 4
    X = rng.integers(0, 90, size=(m, 10, 10))
    for k in range(4):
        X[y == k, 2 * k : 2 * k + 3, :] += 160
    return X.astype(np.uint8), y.astype(np.int64)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, np.ndarray]]:
    """Each kind of model and its test set's examples as stored: binary float64 (the demo's kind:
    RGB uint8, relu then sigmoid), softmax float32 (MNIST's kind: grayscale, Adam, mini-batches;
    leaky_relu and tanh hidden), regression (linear output, two targets; sigmoid hidden)."""
    work = tmp_path_factory.mktemp("export_models")
    X, y = make_images(40, seed=0)
    Xt, yt = make_images(20, seed=1)
    names = np.array([b"dark", b"bright"])
    binary = train(
        work, "binary", {"train_set_x": X, "train_set_y": y, "list_classes": names},
        {"test_set_x": Xt, "test_set_y": yt, "list_classes": names},
        "  hidden: [5, 3]\n  init: he\n", "  learning_rate: 0.2\n  iterations: 60\n",
    )
    D, d = digits(120, seed=2)
    Dt, dt = digits(40, seed=3)
    four = np.array([b"top", b"upper", b"lower", b"bottom"])
    multiclass = train(
        work, "multiclass", {"train_set_x": D, "train_set_y": d, "list_classes": four},
        {"test_set_x": Dt, "test_set_y": dt, "list_classes": four},
        "  hidden: [12, 8]\n  activations: [leaky_relu, tanh, softmax]\n  leaky_relu_slope: 0.1\n  init: he\n",
        "  optimizer: adam\n  learning_rate: 0.01\n  batch_size: 32\n  epochs: 6\n  iterations: null\n"
        "  dtype: float32\n  seed: 1\n",
    )
    R, Rt = D[:, 2:8, 2:8], Dt[:, 2:8, 2:8]
    targets = lambda P: np.stack([P.mean(axis=(1, 2)) / 50.0, P[:, 0, :].mean(axis=1) / 100.0 - 1], axis=1)
    regression = train(
        work, "regression", {"train_set_x": R, "train_set_y": targets(R)}, {"test_set_x": Rt, "test_set_y": targets(Rt)},
        "  hidden: [5]\n  activations: [sigmoid, linear]\n", "  learning_rate: 0.05\n  iterations: 80\n",
    )
    return {"binary": (binary, Xt), "multiclass": (multiclass, Dt), "regression": (regression, Rt)}


def run_onnx(path: Path, X: np.ndarray) -> dict[str, np.ndarray]:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(None, {session.get_inputs()[0].name: X})))


def dnn_predict(model: Path, X: np.ndarray, folder: Path) -> list[dict]:
    """`dnn predict --format jsonl` on the examples written as PNG files, in their order."""
    save_pngs(X, folder)
    result = run_dnn("predict", str(folder), "--model", str(model), "--format", "jsonl", "--quiet")
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


@pytest.mark.parametrize("kind", ["binary", "multiclass", "regression"])
def test_the_exported_graph_gives_dnn_predicts_results_on_the_stored_pixels(
    tmp_path: Path, models: dict, kind: str
) -> None:
    model_path, X = models[kind]
    bundle = load_model(model_path)
    assert X.dtype == np.uint8 and bundle.input_dtype == "uint8"
    out = export_onnx(bundle, tmp_path / "model.onnx")
    got = run_onnx(out, X)
    expected = dnn_predict(model_path, X, tmp_path / "pngs")
    dtype = str(bundle.network.dtype)
    assert dtype == ("float32" if kind == "multiclass" else "float64")
    tolerance = TOLERANCE[dtype]
    if kind == "regression":
        assert list(got) == ["outputs"] and got["outputs"].dtype == dtype
        np.testing.assert_allclose(got["outputs"], [r["outputs"] for r in expected], rtol=tolerance, atol=tolerance)
        return
    assert list(got) == ["probabilities", "label"]
    assert got["probabilities"].dtype == dtype and got["label"].dtype == np.int64
    assert got["probabilities"].shape == (len(X), bundle.n_classes)
    np.testing.assert_allclose(
        got["probabilities"], [list(r["probabilities"].values()) for r in expected], rtol=0, atol=tolerance
    )
    np.testing.assert_array_equal(got["label"], [r["index"] for r in expected])
    assert len(set(got["label"].tolist())) > 1  # a model that predicts one class shows little


def test_float_examples_as_stored_go_in_unscaled(tmp_path: Path) -> None:
    """Points stored as float32 (not pictures, so dnn predict refuses them): the graph casts them
    to the float64 network and gives what the network gives on the file's columns."""
    rng = np.random.default_rng(4)
    P = rng.standard_normal((60, 2)).astype(np.float32)
    labels = (P[:, 0] * P[:, 1] > 0).astype(np.int64)
    model_path = train(
        tmp_path, "points", {"train_set_x": P[:40], "train_set_y": labels[:40]},
        {"test_set_x": P[40:], "test_set_y": labels[40:]},
        "  hidden: [6]\n  activations: [tanh, sigmoid]\n", "  learning_rate: 0.5\n  iterations: 100\n",
    )
    bundle = load_model(model_path)
    assert (bundle.input_dtype, bundle.input_divisor, str(bundle.network.dtype)) == ("float32", 1.0, "float64")
    stored = load_dataset(tmp_path / "data" / "points_test.h5", "test_set_x", "test_set_y")
    AL = bundle.network.predict_proba(stored.columns(bundle.input_divisor, bundle.network.dtype))
    expected = predictions_from_output(bundle, [""] * stored.m, AL)
    got = run_onnx(export_onnx(bundle, tmp_path / "points.onnx"), stored.X_raw)
    np.testing.assert_allclose(got["probabilities"], [list(p.probabilities.values()) for p in expected], rtol=0, atol=1e-6)
    np.testing.assert_array_equal(got["label"], [p.class_index for p in expected])


def test_the_file_states_what_it_needs_and_where_it_came_from(tmp_path: Path, models: dict) -> None:
    model_path, _ = models["binary"]
    bundle = load_model(model_path)
    out = export_onnx(bundle, tmp_path / "model.onnx")
    model = onnx.load(str(out))
    onnx.checker.check_model(model, full_check=True)
    assert [(o.domain, o.version) for o in model.opset_import] == [("", OPSET)]
    meta = {p.key: p.value for p in model.metadata_props}
    train_file = Path(bundle.data_sources["train"]["file"])
    assert meta["training_data_sha256"] == hashlib.sha256(train_file.read_bytes()).hexdigest()
    assert meta["model_sha256"] == hashlib.sha256(model_path.read_bytes()).hexdigest()
    assert json.loads(meta["classes"]) == ["dark", "bright"]
    assert json.loads(meta["input_shape"]) == [8, 8, 3]
    assert (meta["input_dtype"], float(meta["input_divisor"]), meta["dtype"]) == ("uint8", 255.0, "float64")
    assert (meta["kind"], meta["threshold"], meta["opset"]) == ("binary", "0.5", str(OPSET))
    assert meta["dnn_version"] == __version__ and meta["config"] == bundle.config
    assert "learning_rate: 0.2" in meta["config"]

    info = describe_onnx(out)
    assert info["dnn"] and info["opset"] == {"ai.onnx": OPSET}
    assert info["inputs"] == [{"name": "input", "dtype": "uint8", "shape": ["N", 8, 8, 3]}]
    assert [o["name"] for o in info["outputs"]] == ["probabilities", "label"]
    assert info["metadata"]["classes"] == ["dark", "bright"]
    assert info["metadata"]["data"]["train"]["sha256"] == meta["training_data_sha256"]


# ---- hostile outputs -------------------------------------------------------------------------


def assert_refused(call, *fragments: str, error: type = ExportError) -> str:
    with pytest.raises(error) as caught:
        call()
    message = caught.value.message
    assert "\n" not in message and caught.value.exit_code == 2
    for fragment in fragments:
        assert fragment in message, message
    return message


def only(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def test_an_existing_output_is_replaced_only_with_force(tmp_path: Path, models: dict) -> None:
    bundle = load_model(models["binary"][0])
    out = tmp_path / "model.onnx"
    out.write_bytes(b"mine")
    assert_refused(lambda: export_onnx(bundle, out), str(out), "exists", "--force")
    assert out.read_bytes() == b"mine" and only(tmp_path) == ["model.onnx"]
    export_onnx(bundle, out, force=True)
    assert describe_onnx(out)["dnn"] and only(tmp_path) == ["model.onnx"]  # no temporary file left


@pytest.mark.parametrize("kind", ["directory", "fifo", "symlink", "device", "the model itself"])
def test_only_a_regular_file_is_ever_replaced(tmp_path: Path, models: dict, kind: str) -> None:
    bundle = load_model(models["binary"][0])
    mine = tmp_path / "mine.txt"
    mine.write_text("keep")
    out = tmp_path / "model.onnx"
    if kind == "directory":
        out.mkdir()
    elif kind == "fifo":
        os.mkfifo(out)
    elif kind == "symlink":
        out.symlink_to(mine)
    elif kind == "device":
        # a node of its own, like /dev/null (1, 3): a broken guard replaces this one, never the system's
        try:
            os.mknod(out, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
        except PermissionError:
            pytest.skip("making a device node needs root")
    else:
        out = bundle.path
    before = sorted(os.listdir(out.parent))
    fragment = {"directory": "a directory", "fifo": "not a regular file", "symlink": "a symlink",
                "device": "not a regular file", "the model itself": "is the model file"}[kind]
    assert_refused(lambda: export_onnx(bundle, out, force=True), str(out), fragment)
    assert sorted(os.listdir(out.parent)) == before and mine.read_text() == "keep"
    if kind == "device":
        assert stat.S_ISCHR(os.lstat(out).st_mode)
    if kind == "the model itself":
        assert load_model(out).network.layer_sizes == bundle.network.layer_sizes


def test_a_model_file_that_fails_its_checks_writes_nothing(tmp_path: Path, models: dict) -> None:
    broken = tmp_path / "broken.h5"
    data = models["binary"][0].read_bytes()
    broken.write_bytes(data[: len(data) // 2])
    out = tmp_path / "out" / "model.onnx"
    assert_refused(lambda: export_onnx(load_model(broken), out), str(broken), error=ModelFileError)
    assert not out.parent.exists()


# ---- reading an ONNX file back ---------------------------------------------------------------


@pytest.mark.parametrize("kind", ["empty", "text", "random bytes", "hdf5", "directory", "fifo", "missing"])
def test_describe_refuses_what_is_not_an_onnx_model_in_one_line(tmp_path: Path, models: dict, kind: str) -> None:
    path = tmp_path / "x.onnx"
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "text":
        path.write_text("name: not a model\n")
    elif kind == "random bytes":
        path.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    elif kind == "hdf5":
        path.write_bytes(models["binary"][0].read_bytes())
    elif kind == "directory":
        path.mkdir()
    elif kind == "fifo":
        os.mkfifo(path)  # never opened: reading one would block
    message = assert_refused(lambda: describe_onnx(path), str(path))
    expected = {"empty": "is empty (0 bytes)", "directory": "is a directory", "fifo": "not a regular file",
                "missing": "no such ONNX model"}.get(kind, "not an ONNX model")
    assert expected in message, message


def test_describe_reads_an_onnx_file_dnn_did_not_write(tmp_path: Path) -> None:
    helper = onnx.helper
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])], "other",
        [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 3])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, 3])],
    )
    model = helper.make_model(graph, producer_name="elsewhere", opset_imports=[helper.make_opsetid("", 13)])
    helper.set_model_props(model, {"classes": "[not json", "\x1b[31mred": "x"})
    path = tmp_path / "other.onnx"
    onnx.save(model, str(path))
    info = describe_onnx(path)
    assert not info["dnn"] and info["opset"] == {"ai.onnx": 13}
    assert info["metadata"]["classes"] == "[not json"  # kept as text, shown escaped by the command


# ---- the dependency ---------------------------------------------------------------------------


def python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def test_importing_the_exporter_does_not_import_onnx() -> None:
    result = python("import sys, dnncli.model.export; print('onnx' in sys.modules)")
    assert result.returncode == 0 and result.stdout.strip() == "False", result.stderr


def test_without_onnx_installed_the_export_says_what_to_install(models: dict, tmp_path: Path) -> None:
    out = tmp_path / "model.onnx"
    code = (  # onnx made unimportable, as where it is not installed
        "import sys; sys.modules['onnx'] = None\n"
        "from dnncli.model.export import export_onnx\nfrom dnncli.model.file import load_model\n"
        f"try:\n    export_onnx(load_model({str(models['binary'][0])!r}), {str(out)!r})\n"
        "except Exception as exc:\n    print(type(exc).__name__, exc.exit_code, exc)\n"
    )
    result = python(code)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ExportError 2 ")
    assert "pip install -e '.[onnx]'" in lines[0] and not out.exists()
    assert issubclass(ExportError, DnnError)


def test_info_tables_show_a_hostile_files_names_literally(tmp_path: Path) -> None:
    from rich.console import Console

    helper = onnx.helper
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x\x1b[2J"], ["y"])], "other",
        [helper.make_tensor_value_info("x\x1b[2J", onnx.TensorProto.FLOAT, ["[red]N", 3])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, ["[red]N", 3])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    helper.set_model_props(model, {"classes": '["a\\u001b[31m"]', "[bold]key": "\x07value"})
    path = tmp_path / "hostile.onnx"
    onnx.save(model, str(path))
    console = Console(record=True, width=200, color_system=None)
    for table in onnx_tables(describe_onnx(path)):
        console.print(table)
    text = console.export_text()
    assert "\x1b" not in text and "\x07" not in text
    assert "x\\x1b[2J" in text and "[red]N" in text and "[bold]key" in text and "\\x07value" in text


def test_the_export_command_writes_the_latest_run_and_info_reads_it_back(tmp_path: Path, models: dict) -> None:
    """`dnn export` and `dnn info model.onnx` through the installed command: the file written is
    the one the library writes; an existing output is refused without --force (exit 2, one line)."""
    model, X = models["binary"]
    out = tmp_path / "binary.onnx"
    written = run_dnn("export", str(model.parent), "-o", str(out))
    assert written.returncode == 0 and written.stderr == "", written.stderr
    assert written.stdout.strip() == str(out)
    np.testing.assert_allclose(run_onnx(out, X)["probabilities"][:, 1], [r["probabilities"]["bright"] for r in dnn_predict(model, X, tmp_path / "png")], rtol=0, atol=1e-6)
    again = run_dnn("export", str(model.parent), "-o", str(out))
    assert again.returncode == 2 and again.stdout == "" and len(again.stderr.splitlines()) == 1
    assert "--force" in again.stderr
    assert run_dnn("export", str(model.parent), "-o", str(out), "--force").returncode == 0
    shown = run_dnn("info", str(out), "--json")
    assert shown.returncode == 0, shown.stderr
    info = json.loads(shown.stdout)
    assert info["dnn"] is True and info["metadata"]["classes"] == ["dark", "bright"]
    table = run_dnn("info", str(out))
    assert table.returncode == 0 and "probabilities" in table.stdout and "training config" in table.stdout


def test_the_config_schema_command_prints_the_schemas() -> None:
    from dnncli.config.jsonschema import config_schema
    from dnncli.sweep.jsonschema import sweep_schema

    config = run_dnn("config", "schema")
    assert config.returncode == 0 and json.loads(config.stdout) == json.loads(json.dumps(config_schema()))
    sweep = run_dnn("config", "schema", "--sweep")
    assert sweep.returncode == 0 and json.loads(sweep.stdout) == json.loads(json.dumps(sweep_schema()))


# ---- table models ---------------------------------------------------------------------------


def train_table(work: Path, name: str, task: str, dtype: str) -> Path:
    """``dnn train`` on a demo table (numbers with gaps, a text category with gaps, an id and free
    text dropped); the model file it wrote."""
    from dnncli.data.demo_table import write_demo_table

    rows = write_demo_table(work / f"{name}.csv", m=300, seed=0, task=task)
    target = "sold" if task == "classification" else "price"
    config = work / f"{name}.yaml"
    config.write_text(json.dumps({
        "name": name, "model": {"hidden": [6], "seed": 1},
        "data": {"train": str(rows), "target": target, "drop": ["id", "note"], "test_range": [240, 300], "train_range": [0, 240]},
        "training": {"optimizer": "adam", "learning_rate": 0.01, "batch_size": 32, "epochs": 8, "dtype": dtype},
        "output": {"dir": str(work / "runs"), "plot": "none"},
    }))
    result = run_dnn("train", str(config), "--quiet", cwd=work)
    assert result.returncode == 0, result.stderr
    return work / "runs" / name / "model.h5"


def new_rows(path: Path, task: str) -> Path:
    """Rows the models never saw, with what a table brings: gaps in every number column (``age``
    had none in training), a category missing (empty, and ``NA`` as a CSV reader reads it), one
    not seen in training, and the free text with commas, quotes and a line break."""
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    from dnncli.data.demo_table import demo_table

    table = demo_table(m=40, seed=7, task=task)
    district = table["district"].to_pylist()
    district[:4] = ["downtown", None, "NA", "downtown"]
    age = table["age"].to_pylist()
    age[2] = None
    table = table.set_column(table.schema.get_field_index("district"), "district", pa.array(district, pa.string()))
    table = table.set_column(table.schema.get_field_index("age"), "age", pa.array(age, pa.int64()))
    pa_csv.write_csv(table, path)
    text = path.read_text().replace('"NA"', "NA")  # written unquoted, as a spreadsheet would
    path.write_text(text)
    return path


def csv_columns(session: "ort.InferenceSession", path: Path) -> dict[str, np.ndarray]:
    """The graph's inputs from a CSV file with Python's csv module alone, as the how-to shows:
    numbers as float64 with NaN for an empty field, categories as text, (N, 1) each."""
    import csv

    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))

    def column(i) -> np.ndarray:
        values = [row[i.name] for row in rows]
        if i.type == "tensor(double)":
            return np.array([[float(v) if v else np.nan] for v in values])
        return np.array([[v] for v in values], dtype=object)

    return {i.name: column(i) for i in session.get_inputs()}


@pytest.fixture(scope="module")
def table_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    work = tmp_path_factory.mktemp("export_tables")
    return {
        "classification": train_table(work, "sold", "classification", "float64"),
        "regression": train_table(work, "price", "regression", "float32"),
    }


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_a_table_model_takes_the_raw_columns_and_gives_dnn_predicts_results(tmp_path: Path, table_models: dict, task: str) -> None:
    model_path = table_models[task]
    bundle = load_model(model_path)
    out = tmp_path / "table.onnx"
    written = run_dnn("export", str(model_path), "-o", str(out))
    assert written.returncode == 0, written.stderr
    rows = new_rows(tmp_path / "new.csv", task)
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert [(i.name, i.type, i.shape) for i in session.get_inputs()] == [
        ("area", "tensor(double)", ["N", 1]), ("rooms", "tensor(double)", ["N", 1]),
        ("age", "tensor(double)", ["N", 1]), ("district", "tensor(string)", ["N", 1]),
    ]
    got = dict(zip([o.name for o in session.get_outputs()], session.run(None, csv_columns(session, rows))))
    predicted = run_dnn("predict", str(rows), "--model", str(model_path), "--format", "jsonl", "--quiet")
    assert predicted.returncode == 0, predicted.stderr
    expected = [json.loads(line) for line in predicted.stdout.splitlines()]
    assert len(expected) == 40
    dtype = str(bundle.network.dtype)
    tolerance = TOLERANCE[dtype]
    if task == "regression":
        assert dtype == "float32" and list(got) == ["outputs"] and got["outputs"].dtype == dtype
        values = np.array([r["prediction"] for r in expected])
        assert values.std() > 10_000  # in the target's units (dollars), not standardized
        np.testing.assert_allclose(got["outputs"][:, 0], values, rtol=tolerance, atol=0)
        return
    classes = bundle.class_names
    assert dtype == "float64" and classes == ["no", "yes"]
    np.testing.assert_allclose(got["probabilities"], [[r[f"p_{c}"] for c in classes] for r in expected], rtol=0, atol=tolerance)
    assert [classes[k] for k in got["label"]] == [r["class"] for r in expected]
    assert len(set(got["label"].tolist())) == 2


def test_a_table_models_file_states_its_columns_and_info_lists_them(tmp_path: Path, table_models: dict) -> None:
    bundle = load_model(table_models["classification"])
    out = export_onnx(bundle, tmp_path / "table.onnx")
    model = onnx.load(str(out))
    onnx.checker.check_model(model, full_check=True)
    assert sorted((o.domain, o.version) for o in model.opset_import) == [("", OPSET), ("ai.onnx.ml", 3)]
    info = describe_onnx(out)
    meta = info["metadata"]
    assert meta["input_kind"] == "table" and meta["opset"] == str(OPSET) and meta["dropped_columns"] == ["id", "note"]
    inputs = {c["column"]: c for c in meta["inputs"]}
    assert [(c, inputs[c]["kind"], inputs[c]["input"]) for c in inputs] == [
        ("area", "number", "area"), ("rooms", "number", "rooms"), ("age", "number", "age"), ("district", "category", "district")]
    assert inputs["district"]["levels"] == ["harbour", "hills", "old town", "riverside", None]
    assert inputs["area"]["missing_indicator"] and not inputs["age"]["missing_indicator"]
    assert meta["features"] == bundle.encoder.feature_names and meta["classes"] == ["no", "yes"]
    assert meta["target"] == {"name": "sold", "task": "classification"}
    assert "input_shape" not in meta and "input_divisor" not in meta
    shown = run_dnn("info", str(out))
    assert shown.returncode == 0, shown.stderr
    for fragment in ("columns", "district", "category", "4 levels and missing", "area", "median", "dropped", "id, note"):
        assert fragment in shown.stdout, fragment


def test_a_column_named_as_an_output_gets_an_input_of_its_own(tmp_path: Path, table_models: dict) -> None:
    """A column called ``label`` (or ``W1``, or anything the graph names inside) would clash: its
    input is ``label_input``, the metadata says so, and the graph still computes the same."""
    from dnncli.data.encoding import TableEncoder

    bundle = load_model(table_models["classification"])
    renamed = json.loads(json.dumps(bundle.encoder.to_dict()).replace('"area"', '"label"').replace('"age"', '"W1"'))
    rows = new_rows(tmp_path / "new.csv", "classification")
    session = ort.InferenceSession(str(export_onnx(bundle, tmp_path / "original.onnx")), providers=["CPUExecutionProvider"])
    expected = session.run(["probabilities"], csv_columns(session, rows))[0]
    bundle.encoder = TableEncoder.from_dict(renamed)
    out = export_onnx(bundle, tmp_path / "renamed.onnx")
    meta = describe_onnx(out)["metadata"]
    assert [(c["column"], c["input"]) for c in meta["inputs"]] == [
        ("label", "label_input"), ("rooms", "rooms"), ("W1", "W1_input"), ("district", "district")]
    renamed_session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    feed = csv_columns(session, rows)
    feed = {{"area": "label_input", "age": "W1_input"}.get(name, name): values for name, values in feed.items()}
    np.testing.assert_array_equal(renamed_session.run(["probabilities"], feed)[0], expected)
