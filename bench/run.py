"""dnn against PyTorch (CPU) and scikit-learn's MLPClassifier, on the same work, in one invocation.

    python bench/run.py                 # every case, one round; `make bench` sets up bench/.venv first
    python bench/run.py --cases A,D     # some cases
    python bench/run.py --out bench/results/latest.md

Each measurement runs in its own child process (``--worker``), so that its peak resident memory
(``ru_maxrss`` of that child, from ``os.wait4``) is its own; the peers take turns on the same data
within one invocation. Times are of the training loop alone (data loading and imports excluded),
except for case D, whose times are of whole processes. A peer that is not installed is reported as
skipped, as is a dnn case whose feature is missing.

Cases (issue 5):
  A  the course's deep net on the cat set, [12288, 20, 7, 5, 1], xavier seed 1, full batch,
     lr 0.0075, 2500 iterations, float64 and float32; every peer starts from dnn's initial params;
     "dnn-plain" is dnn with training.first_layer = plain (no Gram path), for reference
  B  MNIST-10k (first 8,000 train, last 2,000 test), [784, 128, 64, 10], Adam 1e-3, batches of
     64, 20 epochs, float32
  C  a synthetic uint8 HDF5 set of 64x64x3 images streamed in batches of 256: peak RSS of
     `dnn train` at two sizes of the file
  D  `dnn --help` start-up and `dnn predict` on one image, as whole processes
  E  where the Gram path does not apply: Adam (lr 5e-4), full batch, the cat set's network, on the
     cat set (m = 209, 300 steps) and on the cat set repeated ten times (m = 2090, 205 MB as
     float64, 60 steps), float64 and float32, dnn with its defaults against PyTorch and
     scikit-learn's MLPClassifier(solver='adam')
  F  tables (issue 22): California housing (../shared/datasets/housing_train.csv, housing_test.csv;
     skipped when absent), encoded by dnn's TableEncoder for every engine (medians, standardized
     numbers, a missing indicator, one-hot ocean_proximity, a standardized target: 14 inputs),
     [14, 64, 64, 1] ReLU with a linear output, Adam lr 1e-3, batches of 64, 100 epochs, float64,
     from dnn's He initial parameters (seed 1): dnn's engine (dnncli.training.train) against
     scikit-learn's MLPRegressor and PyTorch, training time and test RMSE in dollars; then the
     load of a generated million-row CSV (bench/tables.py: ten number columns, two categories,
     gaps): dnn's read + encoding against pandas.read_csv alone, with peak memory. Written as its
     own section (`--cases F --out bench/results/tables.md`)

Targets (issue 14), checked in the table's last section: A float32 dnn at most 0.05x PyTorch;
B at most 0.5x the faster peer; C peak RSS under the bound given; D --help under 0.3 s; every E
row at most 0.8x PyTorch.

The shared data sets are read from ../shared/datasets; where absent, random stand-ins of the
same shapes are used (times stay meaningful, costs and accuracies do not).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "datasets"

CAT_LAYERS = [12288, 20, 7, 5, 1]
CAT_ACTIVATIONS = ["relu", "relu", "relu", "sigmoid"]
MNIST_LAYERS = [784, 128, 64, 10]
MNIST_ACTIVATIONS = ["relu", "relu", "softmax"]


# ---- data -------------------------------------------------------------------------------------


def _write_h5(path: Path, **arrays: Any) -> Path:
    import h5py

    with h5py.File(path, "w") as f:
        for key, value in arrays.items():
            f.create_dataset(key, data=value)
    return path


def cat_files(work: Path) -> tuple[Path, Path, str]:
    train, test = SHARED / "train_catvnoncat.h5", SHARED / "test_catvnoncat.h5"
    if train.exists() and test.exists():
        return train, test, "cat set"
    import numpy as np

    rng = np.random.default_rng(0)
    classes = np.array([b"non-cat", b"cat"])
    train = _write_h5(work / "cat_train.h5", train_set_x=rng.integers(0, 256, (209, 64, 64, 3), dtype=np.uint8),
                      train_set_y=rng.integers(0, 2, 209), list_classes=classes)
    test = _write_h5(work / "cat_test.h5", test_set_x=rng.integers(0, 256, (50, 64, 64, 3), dtype=np.uint8),
                     test_set_y=rng.integers(0, 2, 50), list_classes=classes)
    return train, test, "random stand-in of the cat set's shape"


def mnist_files(work: Path) -> tuple[Path, Path, str]:
    """The first 8,000 MNIST-10k digits to train and the last 2,000 to test, in the course layout."""
    import h5py
    import numpy as np

    source = SHARED / "mnist10k.h5"
    if source.exists():
        with h5py.File(source, "r") as f:
            images, labels = f["images"][()], f["labels"][()].astype(np.int64)
        what = "MNIST-10k"
    else:
        rng = np.random.default_rng(0)
        images = rng.integers(0, 256, (10000, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, 10000)
        what = "random stand-in of MNIST-10k's shape"
    classes = np.array([str(d).encode() for d in range(10)])
    train = _write_h5(work / "mnist_train.h5", train_set_x=images[:8000], train_set_y=labels[:8000], list_classes=classes)
    test = _write_h5(work / "mnist_test.h5", test_set_x=images[8000:], test_set_y=labels[8000:], list_classes=classes)
    return train, test, what


def synthetic_file(work: Path, m: int) -> Path:
    """``m`` random 64x64x3 uint8 images, written in blocks so the writer itself stays small."""
    import h5py
    import numpy as np

    path = work / f"synthetic_{m}.h5"
    rng = np.random.default_rng(m)
    with h5py.File(path, "w") as f:
        x = f.create_dataset("train_set_x", shape=(m, 64, 64, 3), dtype=np.uint8)  # contiguous: rows read directly
        for start in range(0, m, 1000):
            stop = min(start + 1000, m)
            x[start:stop] = rng.integers(0, 256, (stop - start, 64, 64, 3), dtype=np.uint8)
        f.create_dataset("train_set_y", data=rng.integers(0, 2, m))
        f.create_dataset("list_classes", data=np.array([b"no", b"yes"]))
    return path


def load_columns(path: Path, x_key: str, y_key: str, dtype: str) -> tuple[Any, Any]:
    """X ``(n_x, m)`` scaled to [0, 1] and labels ``(m,)``, as dnn builds them."""
    import h5py
    import numpy as np

    with h5py.File(path, "r") as f:
        X_raw, y = f[x_key][()], f[y_key][()].astype(np.int64).reshape(-1)
    X = X_raw.reshape(X_raw.shape[0], -1).T.astype(dtype)
    X /= 255
    return np.ascontiguousarray(X), y


# ---- workers: one measurement each, in a child process, one JSON line on stdout ----------------


def _dnn_config(name: str, out: Path, train: Path, test: Path | None, layers: list[int],
                activations: list[str], training: dict[str, Any], data: dict[str, Any] | None = None) -> Path:
    import yaml

    config = {
        "name": name,
        "model": {"layers": layers, "activations": activations, "init": "xavier", "seed": 1},
        "data": {"train": str(train), **({"test": str(test)} if test else {}), **(data or {})},
        "training": training,
        "output": {"dir": str(out)},
    }
    path = out / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def worker_dnn(spec: dict[str, Any]) -> dict[str, Any]:
    """The real product path: the config is loaded and run as `dnn train` runs it."""
    from dnncli.config import load_config
    from dnncli.errors import DnnError
    from dnncli import run_training

    out = Path(spec["work"]) / f"runs_{spec['case']}_{Path(spec['train']).stem}_{spec['dtype']}_{spec['engine']}"
    out.mkdir(exist_ok=True)
    layers, activations = spec["layers"], spec["activations"]
    training = dict(spec["training"])
    if spec["dtype"] != "float64":
        training["dtype"] = spec["dtype"]
    path = _dnn_config("bench", out, Path(spec["train"]), Path(spec["test"]), layers, activations, training)
    try:
        cfg = load_config(path)
    except DnnError as exc:
        return {"skipped": f"dnn cannot run this case yet: {exc.message}"}
    metrics, _, _ = run_training(cfg, force=True)
    run_dir = Path(metrics["run_dir"])
    return {
        "seconds": metrics["seconds"],
        "cost": metrics["final_cost"],
        "train_accuracy": metrics["train_accuracy"],
        "test_accuracy": metrics["test_accuracy"],
        "model": str(run_dir / "model.h5"),
        "path": metrics.get("first_layer"),
    }


def _initial_params(layers: list[int], dtype: str) -> dict[str, Any]:
    from dnncli.network.initializers import initialize_parameters

    return initialize_parameters(layers, "xavier", 1, dtype=dtype)


def worker_torch(spec: dict[str, Any]) -> dict[str, Any]:
    try:
        import torch
    except ImportError:
        return {"skipped": "PyTorch is not installed (make bench installs torch==2.13.0 into bench/.venv)"}
    import numpy as np

    torch.manual_seed(0)
    dtype = {"float64": torch.float64, "float32": torch.float32}[spec["dtype"]]
    X, y = load_columns(Path(spec["train"]), spec["x_key"], spec["y_key"], spec["dtype"])
    X_test, y_test = load_columns(Path(spec["test"]), spec["test_x_key"], spec["test_y_key"], spec["dtype"])
    layers, params = spec["layers"], _initial_params(spec["layers"], spec["dtype"])
    modules: list[torch.nn.Module] = []
    for l in range(1, len(layers)):
        linear = torch.nn.Linear(layers[l - 1], layers[l], dtype=dtype)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(params[f"W{l}"]))
            linear.bias.copy_(torch.from_numpy(params[f"b{l}"].reshape(-1)))
        modules.append(linear)
        if l < len(layers) - 1:
            modules.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*modules)
    Xt, Xt_test = torch.from_numpy(np.ascontiguousarray(X.T)), torch.from_numpy(np.ascontiguousarray(X_test.T))
    binary = layers[-1] == 1
    if binary:
        yt, yt_test = torch.from_numpy(y.reshape(-1, 1).astype(spec["dtype"])), torch.from_numpy(y_test.reshape(-1, 1).astype(spec["dtype"]))
        loss_fn = torch.nn.BCEWithLogitsLoss()
    else:
        yt, yt_test = torch.from_numpy(y), torch.from_numpy(y_test)
        loss_fn = torch.nn.CrossEntropyLoss()
    training = spec["training"]
    lr = training["learning_rate"]
    if training.get("optimizer", "gd") == "adam":
        optimizer = torch.optim.Adam(model.parameters(), lr=lr, eps=1e-8)
    else:
        optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    m = Xt.shape[0]

    def step(xb: Any, yb: Any) -> None:
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(xb), yb)
        loss.backward()
        optimizer.step()

    start = time.perf_counter()
    if "batch_size" in training:
        generator = torch.Generator().manual_seed(0)
        batch = training["batch_size"]
        for _ in range(training["epochs"]):
            order = torch.randperm(m, generator=generator)
            for s in range(0, m, batch):
                idx = order[s : s + batch]
                step(Xt[idx], yt[idx])
    else:
        for _ in range(training["iterations"]):
            step(Xt, yt)
    seconds = time.perf_counter() - start

    def accuracy(Z: Any, target: Any) -> float:
        predicted = (Z > 0).long().reshape(-1) if binary else Z.argmax(dim=1)
        return float((predicted == target.reshape(-1).long()).double().mean())

    with torch.no_grad():
        Z, Z_test = model(Xt), model(Xt_test)
        return {
            "seconds": seconds,
            "cost": float(loss_fn(Z, yt)),
            "train_accuracy": accuracy(Z, yt),
            "test_accuracy": accuracy(Z_test, yt_test),
            "threads": torch.get_num_threads(),
        }


def worker_sklearn(spec: dict[str, Any]) -> dict[str, Any]:
    try:
        from sklearn.neural_network import MLPClassifier
    except ImportError:
        return {"skipped": "scikit-learn is not installed (make bench installs it into bench/.venv)"}
    import warnings

    import numpy as np
    from sklearn.exceptions import ConvergenceWarning

    X, y = load_columns(Path(spec["train"]), spec["x_key"], spec["y_key"], spec["dtype"])
    X_test, y_test = load_columns(Path(spec["test"]), spec["test_x_key"], spec["test_y_key"], spec["dtype"])
    X, X_test = np.ascontiguousarray(X.T), np.ascontiguousarray(X_test.T)
    layers, training = spec["layers"], spec["training"]
    mini = "batch_size" in training
    adam = training.get("optimizer", "gd") == "adam"
    model = MLPClassifier(
        hidden_layer_sizes=tuple(layers[1:-1]),
        activation="relu",
        solver="adam" if adam else "sgd",
        alpha=0.0,  # no L2: the same work as the others
        batch_size=training["batch_size"] if mini else X.shape[0],
        learning_rate_init=training["learning_rate"],
        momentum=0.0,
        nesterovs_momentum=False,
        shuffle=mini,
        max_iter=1,
        tol=0.0,
        n_iter_no_change=10**9,
        random_state=0,
        warm_start=True,
    )
    # one throw-away step creates the attributes; then every peer's starting point is dnn's
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        # (the first example of every class, and one more: the classes must all be there)
        seed_rows = np.unique(np.r_[[np.flatnonzero(y == c)[0] for c in np.unique(y)], 0, 1])
        model.fit(X[seed_rows], y[seed_rows])
        params = _initial_params(layers, spec["dtype"])
        model.coefs_ = [np.ascontiguousarray(params[f"W{l}"].T) for l in range(1, len(layers))]
        model.intercepts_ = [params[f"b{l}"].reshape(-1).copy() for l in range(1, len(layers))]
        if hasattr(model, "_optimizer"):
            del model._optimizer
        model.max_iter = training["epochs"] if mini else training["iterations"]
        model.n_iter_ = 0
        model.t_ = 0
        start = time.perf_counter()
        model.fit(X, y)
        seconds = time.perf_counter() - start
    from sklearn.metrics import log_loss

    proba = model.predict_proba(X)
    return {
        "seconds": seconds,
        "cost": float(log_loss(y, proba, labels=model.classes_)),
        "train_accuracy": float(model.score(X, y)),
        "test_accuracy": float(model.score(X_test, y_test)),
        "dtype_used": str(model.coefs_[0].dtype),
    }


def worker_dnn_plain(spec: dict[str, Any]) -> dict[str, Any]:
    """dnn with the Gram path turned off: what the Gram path buys, in the same table."""
    return worker_dnn({**spec, "training": {**spec["training"], "first_layer": "plain"}})


# ---- case F: a table (California housing), a regression --------------------------------------

HOUSING_TARGET = "median_house_value"
HOUSING_HIDDEN = [64, 64]


def housing_arrays() -> dict[str, Any]:
    """The housing tables encoded as dnn encodes them: X ``(14, m)`` column-major, the target
    standardized ``(1, m)``, and what turns it back into dollars."""
    from dnncli.data.encoding import TableEncoder, TableOptions
    from dnncli.data.tables import open_table

    train, test = open_table(SHARED / "housing_train.csv"), open_table(SHARED / "housing_test.csv")
    encoder, _ = TableEncoder.fit(train, TableOptions(target=HOUSING_TARGET))
    fitted, tested = encoder.encode_file(train), encoder.encode_file(test)
    return {"X": fitted.X, "Y": fitted.Y, "X_test": tested.X, "Y_test": tested.Y,
            "scale": encoder.target.scale, "mean": encoder.target.mean}


def _rmse_dollars(outputs: Any, targets: Any, data: dict[str, Any]) -> float:
    from dnncli.network.scores import regression_scores

    return regression_scores(outputs.reshape(1, -1), targets.reshape(1, -1), scale=data["scale"], mean=data["mean"])["rmse"]


def _housing_network(n_x: int) -> Any:
    from dnncli.network.model import Network

    return Network.create([n_x, *HOUSING_HIDDEN, 1], ["relu"] * len(HOUSING_HIDDEN) + ["linear"], "he", 1)


def worker_housing_dnn(spec: dict[str, Any]) -> dict[str, Any]:
    """dnn's engine on the encoded arrays: ``train()`` as a run calls it, timed alone."""
    import numpy as np

    from dnncli.training.loop import train
    from dnncli.training.settings import TrainData, TrainSettings

    data = housing_arrays()
    net = _housing_network(data["X"].shape[0])
    settings = TrainSettings(optimizer="adam", **spec["training"])
    start = time.perf_counter()
    train(net, TrainData(data["X"], data["Y"]), settings, rng=np.random.default_rng(1))
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "train_rmse": _rmse_dollars(net.predict_proba(data["X"]), data["Y"], data),
            "test_rmse": _rmse_dollars(net.predict_proba(data["X_test"]), data["Y_test"], data)}


def worker_housing_sklearn(spec: dict[str, Any]) -> dict[str, Any]:
    try:
        from sklearn.neural_network import MLPRegressor
    except ImportError:
        return {"skipped": "scikit-learn is not installed (make bench installs it into bench/.venv)"}
    import warnings

    import numpy as np
    from sklearn.exceptions import ConvergenceWarning

    data = housing_arrays()
    X, y = np.ascontiguousarray(data["X"].T), data["Y"].reshape(-1)
    training = spec["training"]
    model = MLPRegressor(hidden_layer_sizes=tuple(HOUSING_HIDDEN), activation="relu", solver="adam", alpha=0.0,
                         batch_size=training["batch_size"], learning_rate_init=training["learning_rate"], shuffle=True,
                         max_iter=1, tol=0.0, n_iter_no_change=10**9, random_state=0, warm_start=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X[:2], y[:2])  # creates the attributes; then it starts from dnn's parameters
        params = _housing_network(X.shape[1]).params
        layers = len(HOUSING_HIDDEN) + 1
        model.coefs_ = [np.ascontiguousarray(params[f"W{l}"].T) for l in range(1, layers + 1)]
        model.intercepts_ = [params[f"b{l}"].reshape(-1).copy() for l in range(1, layers + 1)]
        if hasattr(model, "_optimizer"):
            del model._optimizer
        model.max_iter, model.n_iter_, model.t_ = training["epochs"], 0, 0
        start = time.perf_counter()
        model.fit(X, y)
        seconds = time.perf_counter() - start
    return {"seconds": seconds, "train_rmse": _rmse_dollars(model.predict(X), data["Y"], data),
            "test_rmse": _rmse_dollars(model.predict(np.ascontiguousarray(data["X_test"].T)), data["Y_test"], data)}


def worker_housing_torch(spec: dict[str, Any]) -> dict[str, Any]:
    try:
        import torch
    except ImportError:
        return {"skipped": "PyTorch is not installed (make bench installs torch==2.13.0 into bench/.venv)"}
    torch.manual_seed(0)
    data = housing_arrays()
    params = _housing_network(data["X"].shape[0]).params
    modules: list[Any] = []
    for l in range(1, len(HOUSING_HIDDEN) + 2):
        W = torch.from_numpy(params[f"W{l}"].copy())
        linear = torch.nn.Linear(W.shape[1], W.shape[0], dtype=torch.float64)
        with torch.no_grad():
            linear.weight.copy_(W)
            linear.bias.copy_(torch.from_numpy(params[f"b{l}"].reshape(-1).copy()))
        modules += [linear, torch.nn.ReLU()]
    model = torch.nn.Sequential(*modules[:-1])
    X, Y = torch.from_numpy(data["X"].T.copy()), torch.from_numpy(data["Y"].T.copy())
    training = spec["training"]
    optimizer = torch.optim.Adam(model.parameters(), lr=training["learning_rate"], eps=1e-8)
    loss_fn, batch, generator = torch.nn.MSELoss(), training["batch_size"], torch.Generator().manual_seed(0)
    start = time.perf_counter()
    for _ in range(training["epochs"]):
        order = torch.randperm(X.shape[0], generator=generator)
        for s in range(0, X.shape[0], batch):
            idx = order[s : s + batch]
            optimizer.zero_grad(set_to_none=True)
            loss_fn(model(X[idx]), Y[idx]).backward()
            optimizer.step()
    seconds = time.perf_counter() - start
    with torch.no_grad():
        outputs, test_outputs = model(X).numpy().T, model(torch.from_numpy(data["X_test"].T.copy())).numpy().T
    return {"seconds": seconds, "train_rmse": _rmse_dollars(outputs, data["Y"], data),
            "test_rmse": _rmse_dollars(test_outputs, data["Y_test"], data), "threads": torch.get_num_threads()}


WORKERS = {"dnn": worker_dnn, "dnn-plain": worker_dnn_plain, "torch": worker_torch, "sklearn": worker_sklearn,
           "housing-dnn": worker_housing_dnn, "housing-sklearn": worker_housing_sklearn, "housing-torch": worker_housing_torch}


def run_process(args: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run a whole process: wall time, exit code, peak RSS (MB), stdout, stderr."""
    start = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    stdout_chunks, stderr_chunks = [], []
    # read both pipes to the end, then reap with wait4 to get this child's own rusage
    import selectors

    selector = selectors.DefaultSelector()
    selector.register(proc.stdout, selectors.EVENT_READ, stdout_chunks)
    selector.register(proc.stderr, selectors.EVENT_READ, stderr_chunks)
    while selector.get_map():
        for key, _ in selector.select():
            data = os.read(key.fd, 65536)
            if not data:
                selector.unregister(key.fileobj)
            else:
                key.data.append(data)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return {
        "wall": time.perf_counter() - start,
        "returncode": proc.returncode,
        "peak_mb": usage.ru_maxrss / 1024,
        "stdout": b"".join(stdout_chunks).decode(errors="replace"),
        "stderr": b"".join(stderr_chunks).decode(errors="replace"),
    }


def measure(spec: dict[str, Any]) -> dict[str, Any]:
    done = run_process([sys.executable, __file__, "--worker", json.dumps(spec)])
    if done["returncode"] != 0:
        last = (done["stderr"].strip().splitlines() or ["no output"])[-1]
        return {"skipped": f"failed (exit {done['returncode']}): {last}"}
    result = json.loads(done["stdout"].strip().splitlines()[-1])
    if "skipped" not in result:
        result["peak_mb"] = done["peak_mb"]
    return result


# ---- cases ------------------------------------------------------------------------------------


def case_a(work: Path, rounds: int) -> tuple[list[dict[str, Any]], str]:
    train, test, what = cat_files(work)
    rows = []
    for dtype in ("float64", "float32"):
        spec = {
            "case": "A", "work": str(work), "dtype": dtype, "train": str(train), "test": str(test),
            "x_key": "train_set_x", "y_key": "train_set_y", "test_x_key": "test_set_x", "test_y_key": "test_set_y",
            "layers": CAT_LAYERS, "activations": CAT_ACTIVATIONS,
            "training": {"learning_rate": 0.0075, "iterations": 2500},
        }
        rows += alternate(f"A {dtype}", spec, ("dnn", "dnn-plain", "torch", "sklearn"), rounds)
    return rows, f"A: {what}"


def case_b(work: Path, rounds: int) -> tuple[list[dict[str, Any]], str]:
    train, test, what = mnist_files(work)
    spec = {
        "case": "B", "work": str(work), "dtype": "float32", "train": str(train), "test": str(test),
        "x_key": "train_set_x", "y_key": "train_set_y", "test_x_key": "test_set_x", "test_y_key": "test_set_y",
        "layers": MNIST_LAYERS, "activations": MNIST_ACTIVATIONS,
        "training": {"optimizer": "adam", "learning_rate": 0.001, "batch_size": 64, "epochs": 20},
    }
    return alternate("B float32", spec, ("dnn", "torch", "sklearn"), rounds), f"B: {what}"


def cat_x10_file(work: Path, train: Path) -> Path:
    """The cat training set repeated ten times (m = 2090), as dnn and the peers read it."""
    import h5py
    import numpy as np

    with h5py.File(train, "r") as f:
        arrays = {key: f[key][()] for key in f}
    repeated = {k: (np.concatenate([v] * 10) if k in ("train_set_x", "train_set_y") else v) for k, v in arrays.items()}
    return _write_h5(work / "cat_x10.h5", **repeated)


def case_e(work: Path, rounds: int) -> tuple[list[dict[str, Any]], str]:
    train, test, what = cat_files(work)
    rows = []
    for label, path, steps in (("x1", train, 300), ("x10", cat_x10_file(work, train), 60)):
        for dtype in ("float64", "float32"):
            spec = {
                "case": "E", "work": str(work), "dtype": dtype, "train": str(path), "test": str(test),
                "x_key": "train_set_x", "y_key": "train_set_y", "test_x_key": "test_set_x", "test_y_key": "test_set_y",
                "layers": CAT_LAYERS, "activations": CAT_ACTIVATIONS,
                "training": {"optimizer": "adam", "learning_rate": 0.0005, "iterations": steps},
            }
            rows += alternate(f"E {label} {dtype}", spec, ("dnn", "torch", "sklearn"), rounds)
    return rows, f"E: {what} (x10: repeated ten times), Adam lr 5e-4, full batch, 300 / 60 steps"


def _bench_tables() -> Any:
    """bench/tables.py as a module (its name would otherwise clash with PyTables' ``tables``)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_tables", Path(__file__).with_name("tables.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def case_f(work: Path, rounds: int, load_rows: int = 1_000_000) -> tuple[list[dict[str, Any]], str]:
    rows: list[dict[str, Any]] = []
    if not (SHARED / "housing_train.csv").exists() or not (SHARED / "housing_test.csv").exists():
        rows.append({"case": "F housing", "engine": "dnn", "skipped": f"{SHARED}/housing_train.csv or housing_test.csv is absent"})
    else:
        spec = {"case": "F", "training": {"learning_rate": 0.001, "batch_size": 64, "epochs": 100}}
        found = alternate("F housing", spec, ("housing-dnn", "housing-sklearn", "housing-torch"), rounds)
        rows += [{**r, "engine": r["engine"].removeprefix("housing-")} for r in found]
    bench_tables = _bench_tables()
    table = work / "million.csv"
    bench_tables.write_table(table, load_rows)
    best: dict[str, dict[str, Any]] = {}
    for _ in range(rounds):
        for engine in ("dnn", "pandas"):
            print(f"  F load {load_rows:,} rows: {engine} ...", file=sys.stderr, flush=True)
            try:
                result = bench_tables.measure(engine, table)
            except subprocess.CalledProcessError as exc:
                last = (exc.stderr.strip().splitlines() or ["no output"])[-1]
                best[engine] = {"skipped": f"failed (exit {exc.returncode}): {last}"}
                continue
            if engine not in best or result["seconds"] < best[engine].get("seconds", float("inf")):
                best[engine] = result
    size_mb = table.stat().st_size / 1e6
    table.unlink()
    for engine in ("dnn", "pandas"):
        r = best[engine]
        if "skipped" in r:
            rows.append({"case": f"F load {load_rows:,} rows", "engine": engine, **r})
            continue
        rows.append({"case": f"F load {load_rows:,} rows", "engine": engine, "seconds": r["seconds"],
                     "peak_mb": r["peak_bytes"] / 1e6, "phases": r["phases"], "shape": r["shape"], "matrix_mb": r["matrix_bytes"] / 1e6})
    return rows, (f"F: California housing, [14, 64, 64, 1] ReLU / linear, Adam lr 1e-3, batches of 64, 100 epochs, float64, "
                  f"every engine from dnn's He parameters (seed 1) on dnn's encoding; load: a generated CSV of {load_rows:,} rows "
                  f"({size_mb:.0f} MB), ten number columns and two categories with gaps")


def f_table(rows: list[dict[str, Any]]) -> str:
    lines = ["| case | engine | seconds | dnn / this | train RMSE $ | test RMSE $ | peak RSS MB | note |", "|" + "---|" * 8]
    dnn_seconds = {r["case"]: r.get("seconds") for r in rows if r["engine"] == "dnn"}
    for r in rows:
        if "skipped" in r:
            lines.append(f"| {r['case']} | {r['engine']} | - | - | - | - | - | skipped: {r['skipped']} |")
            continue
        mine = dnn_seconds.get(r["case"])
        ratio = f"{mine / r['seconds']:.3f}" if r["engine"] != "dnn" and mine and r.get("seconds") else "-"
        note = []
        if r.get("phases"):
            note.append(f"read {r['phases']['read']:.2f} s + learn and encode {r['phases']['encode']:.2f} s")
        if r.get("matrix_mb"):
            note.append(f"X {r['shape'][0]} x {r['shape'][1]:,} float64, {r['matrix_mb']:.0f} MB")
        if "load" in r["case"]:
            note.append("peak: above the process after its imports" + ("; pandas.read_csv alone, no encoding" if r["engine"] == "pandas" else ""))
        if r.get("threads"):
            note.append(f"{r['threads']} threads")
        rmse = [f"{r[k]:,.0f}" if r.get(k) is not None else "-" for k in ("train_rmse", "test_rmse")]
        lines.append(f"| {r['case']} | {r['engine']} | {fmt(r.get('seconds'))} | {ratio} | {rmse[0]} | {rmse[1]} | {fmt(r.get('peak_mb'))} | {'; '.join(note)} |")
    return "\n".join(lines)


def f_targets(rows: list[dict[str, Any]]) -> str:
    """Issue 22's targets for case F, each with what this run measured."""
    lines = ["| target | measured | met |", "|---|---|---|"]
    dnn = next((r for r in rows if r["case"] == "F housing" and r["engine"] == "dnn" and "seconds" in r), None)
    peer = next((r for r in rows if r["case"] == "F housing" and r["engine"] == "sklearn" and "seconds" in r), None)
    if dnn and peer:
        ratio = dnn["seconds"] / peer["seconds"]
        lines.append(f"| housing: dnn trains faster than MLPRegressor | {ratio:.3f}x | {'yes' if ratio < 1 else 'NO'} |")
    if dnn:
        lines.append(f"| housing: dnn's test RMSE <= 52,552 $ | {dnn['test_rmse']:,.0f} $ | {'yes' if dnn['test_rmse'] <= 52_552 else 'NO'} |")
    load = {r["engine"]: r for r in rows if r["case"].startswith("F load")}
    if "seconds" in load.get("dnn", {}) and "seconds" in load.get("pandas", {}):
        ratio = load["dnn"]["seconds"] / load["pandas"]["seconds"]
        lines.append(f"| load: dnn's read + encode <= pandas.read_csv alone | {ratio:.2f}x | {'yes' if ratio <= 1 else 'NO'} |")
        times = load["dnn"]["peak_mb"] / load["dnn"]["matrix_mb"]
        lines.append(f"| load: dnn's peak <= 2x the encoded matrix | {times:.2f}x | {'yes' if times <= 2 else 'NO'} |")
    return "\n".join(lines)


QUICK = False
C_BATCH_MB = 256 * 12288 * 8 / 1e6
C_MODEL_MB = sum(n * p + n for p, n in zip(CAT_LAYERS[:-1], CAT_LAYERS[1:])) * 8 / 1e6
C_BOUND_MB = 2 * (C_BATCH_MB + C_MODEL_MB + 150)
# case C measures streaming: its budget stays what it was (the default is now a share of the
# machine's memory, which would keep these sets in memory as floats)
C_BUDGET_MB = 100


def alternate(label: str, spec: dict[str, Any], engines: tuple[str, ...], rounds: int) -> list[dict[str, Any]]:
    """The engines take turns, ``rounds`` times; each keeps its fastest round."""
    if QUICK:
        training = dict(spec["training"])
        for key in ("iterations", "epochs"):
            if key in training:
                training[key] = max(1, training[key] // 10)
        spec = {**spec, "training": training}
    best: dict[str, dict[str, Any]] = {}
    for _ in range(rounds):
        for engine in engines:
            print(f"  {label}: {engine} ...", file=sys.stderr, flush=True)
            result = measure({**spec, "engine": engine})
            kept = best.get(engine)
            if kept is None or ("seconds" in result and result["seconds"] < kept.get("seconds", float("inf"))):
                best[engine] = result
    return [{"case": label, "engine": engine, **best[engine]} for engine in engines]


def dnn_command() -> str:
    found = Path(sys.executable).with_name("dnn")
    return str(found) if found.exists() else (shutil.which("dnn") or "dnn")


def case_c(work: Path, sizes: tuple[int, ...]) -> tuple[list[dict[str, Any]], str]:
    rows = []
    for m in sizes:
        path = synthetic_file(work, m)
        out = work / f"runs_C_{m}"
        out.mkdir(exist_ok=True)
        config = _dnn_config(
            "bench_c", out, path, None, CAT_LAYERS, CAT_ACTIVATIONS,
            {"learning_rate": 0.0075, "batch_size": 256, "epochs": 1}, {"memory_budget_mb": C_BUDGET_MB},
        )
        print(f"  C m={m}: dnn train ...", file=sys.stderr, flush=True)
        done = run_process([dnn_command(), "train", str(config), "--quiet", "--json"])
        row: dict[str, Any] = {"case": f"C m={m}", "engine": "dnn"}
        if done["returncode"] != 0:
            last = (done["stderr"].strip().splitlines() or ["no output"])[-1]
            row["skipped"] = f"dnn train failed (exit {done['returncode']}): {last}"
        else:
            metrics = json.loads(done["stdout"])
            row.update(seconds=metrics["seconds"], cost=metrics["final_cost"],
                       train_accuracy=metrics["train_accuracy"], peak_mb=done["peak_mb"], wall=done["wall"])
        rows.append(row)
        path.unlink()
    return rows, (f"C: target peak RSS < 2 x ({C_BATCH_MB:.0f} MB batch + {C_MODEL_MB:.1f} MB model + 150 MB) = "
                  f"{C_BOUND_MB:.0f} MB; the sets are streamed (memory_budget_mb {C_BUDGET_MB})")


def case_d(work: Path, model: str | None, repeats: int = 5) -> tuple[list[dict[str, Any]], str]:
    import numpy as np

    rows = []
    walls = []
    for _ in range(repeats):
        done = run_process([dnn_command(), "--help"], env={**os.environ, "NO_COLOR": "1"})
        walls.append(done["wall"])
    rows.append({"case": "D --help", "engine": "dnn", "seconds": statistics.median(walls), "peak_mb": done["peak_mb"]})
    row: dict[str, Any] = {"case": "D predict", "engine": "dnn"}
    if model is None or not Path(model).exists():
        row["skipped"] = "no model from case A to predict with"
    else:
        from PIL import Image

        image = work / "one.png"
        Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(image)
        walls, done = [], None
        for _ in range(repeats):
            done = run_process([dnn_command(), "predict", "--model", model, str(image)],
                               env={**os.environ, "NO_COLOR": "1"})
            walls.append(done["wall"])
        if done["returncode"] != 0:
            last = (done["stderr"].strip().splitlines() or ["no output"])[-1]
            row["skipped"] = f"dnn predict failed (exit {done['returncode']}): {last}"
        else:
            row.update(seconds=statistics.median(walls), peak_mb=done["peak_mb"])
    rows.append(row)
    return rows, f"D: whole processes, median of {repeats}; target: --help under 0.3 s"


# ---- report -----------------------------------------------------------------------------------


def blas_description() -> str:
    import numpy as np

    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return f"numpy {np.__version__} (threadpoolctl not installed: BLAS unknown)"
    np.ones((2, 2)) @ np.ones((2, 2))
    blas = [i for i in threadpool_info() if i.get("user_api") == "blas" and "numpy" in i.get("filepath", "")]
    blas = blas or [i for i in threadpool_info() if i.get("user_api") == "blas"]
    if not blas:
        return f"numpy {np.__version__}, BLAS not found"
    info = blas[0]
    return (f"numpy {np.__version__}, {info.get('internal_api')} {info.get('version')} "
            f"kernel {info.get('architecture')} {info.get('num_threads')} threads")


def machine_line(load_at_start: tuple[float, float, float] | None = None) -> str:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = []
    for name in ("torch", "sklearn"):
        try:
            versions.append(f"{name} {__import__(name).__version__}")
        except ImportError:
            versions.append(f"{name} not installed")
    blas_env = {k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS") if k in os.environ}
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    start = f"at the start {', '.join(f'{x:.1f}' for x in load_at_start)}, " if load_at_start else ""
    return (f"{model}, {os.cpu_count()} cores, Python {platform.python_version()}, {blas_description()}, "
            f"{', '.join(versions)}; BLAS environment: {blas_env or 'none set'}; load average {start}at the end {load} "
            "(other jobs share this machine: times are noisy)")


def fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}g}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value)


def table(rows: list[dict[str, Any]]) -> str:
    header = "| case | engine | seconds | dnn / this | final cost | train acc | test acc | peak RSS MB | note |"
    lines = [header, "|" + "---|" * 9]
    dnn_seconds = {r["case"]: r.get("seconds") for r in rows if r["engine"] == "dnn"}
    for r in rows:
        if "skipped" in r:
            lines.append(f"| {r['case']} | {r['engine']} | - | - | - | - | - | - | skipped: {r['skipped']} |")
            continue
        mine = dnn_seconds.get(r["case"])
        ratio = f"{mine / r['seconds']:.3f}" if (r["engine"] != "dnn" and mine and r.get("seconds")) else "-"
        note = []
        if r.get("path"):
            note.append(f"first layer: {r['path']}")
        if r.get("dtype_used"):
            note.append(f"trained in {r['dtype_used']}")
        if r.get("wall"):
            note.append(f"whole process {r['wall']:.1f} s")
        lines.append(
            f"| {r['case']} | {r['engine']} | {fmt(r.get('seconds'))} | {ratio} | {fmt(r.get('cost'), 10)} | "
            f"{fmt(r.get('train_accuracy'))} | {fmt(r.get('test_accuracy'))} | {fmt(r.get('peak_mb'))} | {'; '.join(note)} |"
        )
    return "\n".join(lines)


def _seconds(rows: list[dict[str, Any]], case: str, engine: str) -> float | None:
    return next((r.get("seconds") for r in rows if r["case"] == case and r["engine"] == engine and "skipped" not in r), None)


def targets(rows: list[dict[str, Any]], c_bound_mb: float | None) -> str:
    """The issue's targets, each with what this run measured and whether it is met."""
    lines = ["| target | measured | met |", "|---|---|---|"]

    def ratio_line(label: str, case: str, peers: tuple[str, ...], bound: float) -> None:
        mine = _seconds(rows, case, "dnn")
        theirs = [t for t in (_seconds(rows, case, p) for p in peers) if t]
        if mine is None or not theirs:
            return
        value = mine / min(theirs)
        lines.append(f"| {label} <= {bound:g}x | {value:.3f}x | {'yes' if value <= bound else 'NO'} |")

    ratio_line("A float32: dnn / PyTorch", "A float32", ("torch",), 0.05)
    ratio_line("B float32: dnn / the faster peer", "B float32", ("torch", "sklearn"), 0.5)
    for r in rows:
        if r["case"].startswith("C ") and "peak_mb" in r and c_bound_mb:
            met = r["peak_mb"] < c_bound_mb
            lines.append(f"| {r['case']}: peak RSS < {c_bound_mb:.0f} MB | {r['peak_mb']:.0f} MB | {'yes' if met else 'NO'} |")
    helped = _seconds(rows, "D --help", "dnn")
    if helped is not None:
        lines.append(f"| D: dnn --help < 0.3 s | {helped:.3f} s | {'yes' if helped < 0.3 else 'NO'} |")
    for case in sorted({r["case"] for r in rows if r["case"].startswith("E ")}):
        ratio_line(f"{case}: dnn / PyTorch", case, ("torch",), 0.8)
    return "\n".join(lines) if len(lines) > 2 else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--cases", default="A,B,C,D,E", help="comma-separated cases among A, B, C, D, E, F (F: write it to its own file)")
    parser.add_argument("--load-rows", type=int, default=1_000_000, help="rows of case F's generated CSV")
    parser.add_argument("--rounds", type=int, default=1, help="alternating rounds in A and B (each keeps its fastest)")
    parser.add_argument("--c-sizes", default="5000,20000", help="numbers of images of the synthetic sets of case C")
    parser.add_argument("--out", type=Path, help="also write the table (markdown) here")
    parser.add_argument("--quick", action="store_true", help="a tenth of the iterations and epochs (a smoke test)")
    args = parser.parse_args()
    if args.worker:
        spec = json.loads(args.worker)
        print(json.dumps(WORKERS[spec["engine"]](spec)))
        return

    global QUICK
    QUICK = args.quick
    load_at_start = os.getloadavg()
    cases = [c.strip().upper() for c in args.cases.split(",") if c.strip()]
    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="dnn-bench-") as tmp:
        work = Path(tmp)
        if "A" in cases:
            found, note = case_a(work, args.rounds)
            rows += found
            notes.append(note)
        if "B" in cases:
            found, note = case_b(work, args.rounds)
            rows += found
            notes.append(note)
        c_bound = None
        if "C" in cases:
            found, note = case_c(work, tuple(int(s) for s in args.c_sizes.split(",")))
            rows += found
            notes.append(note)
            c_bound = C_BOUND_MB
        if "D" in cases:
            model = next((r.get("model") for r in rows if r["case"] == "A float64" and r["engine"] == "dnn"), None)
            if model is None:
                train, test, _ = cat_files(work)
                spec = {"case": "D", "work": str(work), "dtype": "float64", "train": str(train), "test": str(test),
                        "layers": CAT_LAYERS, "activations": CAT_ACTIVATIONS, "engine": "dnn",
                        "training": {"learning_rate": 0.0075, "iterations": 10}}
                model = measure(spec).get("model")
            found, note = case_d(work, model)
            rows += found
            notes.append(note)
        if "E" in cases:
            found, note = case_e(work, args.rounds)
            rows += found
            notes.append(note)
        f_rows = []
        if "F" in cases:
            f_rows, note = case_f(work, args.rounds, args.load_rows)
            notes.append(note)
    checked = targets(rows, c_bound)
    text = "\n".join([
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on: {machine_line(load_at_start)}",
        "",
        *([table(rows), ""] if rows else []),
        *([f_table(f_rows), ""] if f_rows else []),
        *[f"- {n}" for n in notes],
        "- seconds: the training loop alone (A, B, C, E, F housing), the whole process (D) or the load alone (F load: "
        "imports excluded); dnn / this: dnn's time over the peer's.",
        f"- rounds: {args.rounds} (the engines take turns; each keeps its fastest round)",
        "",
        *(["Targets (issue 14):", "", checked, ""] if checked else []),
        *(["Targets (issue 22):", "", f_targets(f_rows), ""] if f_rows else []),
    ])
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)


if __name__ == "__main__":
    main()
