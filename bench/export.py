"""ONNX Runtime against `dnn predict`: MNIST images per second, for information (issue 24).

    python bench/export.py                       # ../shared/datasets/mnist10k.h5 (or $DNN_SHARED_DATASETS)
    python bench/export.py --data mnist10k.h5 --repeats 5

The network is MNIST's config ([784, 128, 64, 10], relu, relu, softmax, float32, He init, seed
1), trained two epochs with Adam on the first 8,000 images (a few seconds), then exported with
``dnncli.model.export.onnx_model``; the 2,000 test images are predicted as the file stores them
(uint8, 28 x 28). Lines (each the best of ``--repeats`` runs, wall time, on the machine's threads):

  dnn predict, stored pixels   what `dnn predict` does once an image is decoded: 256 images at a
                               time through images_to_columns, predict_proba and
                               predictions_from_output (one record per image)
  dnn network alone            the same batches through images_to_columns and predict_proba only
  dnn predict, PNG files       predict_files on the images written as PNG files (decoding included)
  ONNX Runtime, batches of 256 session.run on the uint8 pixels, 256 images at a time
  ONNX Runtime, one batch      session.run on all 2,000 at once

and a check that both give the same labels and probabilities (to 1e-5). Skipped, with the
reason, when the data file is absent.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
BATCH = 256


def default_data() -> Path:
    shared = Path(os.environ.get("DNN_SHARED_DATASETS") or ROOT.parent / "shared" / "datasets")
    return shared / "mnist10k.h5"


def trained_bundle(path: Path):  # -> (ModelBundle, test images uint8 (2000, 28, 28))
    from dnncli.data.hdf5 import Dataset, load_dataset
    from dnncli.model.file import ModelBundle
    from dnncli.network.model import Network
    from dnncli.training.loop import train
    from dnncli.training.settings import TrainData, TrainSettings

    data = load_dataset(path, "images", "labels", "list_classes")
    X_raw, y = np.asarray(data.X_raw), np.asarray(data.y)
    network = Network.create([784, 128, 64, 10], ["relu", "relu", "softmax"], init="he", seed=1, dtype=np.float32)
    train_set = Dataset(X_raw[:8000], y[:8000], data.classes, data.source)
    X = train_set.columns(255.0, np.float32)
    settings = TrainSettings(learning_rate=1e-3, epochs=2, optimizer="adam", batch_size=64, record_every=1)
    train(network, TrainData(X, network.encode_targets(y[:8000])), settings, rng=np.random.default_rng(1))
    bundle = ModelBundle(network, (28, 28), "uint8", 255.0, classes=data.classes)
    return bundle, X_raw[8000:]


def timed(function, repeats: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return min(times), result


def dnn_stored(bundle, images: np.ndarray) -> np.ndarray:
    from dnncli.data.images import images_to_columns
    from dnncli.model.predict import predictions_from_output

    probabilities = []
    for start in range(0, len(images), BATCH):
        batch = list(images[start : start + BATCH])
        AL = bundle.network.predict_proba(images_to_columns(batch, bundle.input_divisor, bundle.network.dtype))
        records = predictions_from_output(bundle, [""] * len(batch), AL)
        probabilities += [list(r.probabilities.values()) for r in records]
    return np.asarray(probabilities)


def dnn_network(bundle, images: np.ndarray) -> None:
    from dnncli.data.images import images_to_columns

    for start in range(0, len(images), BATCH):
        X = images_to_columns(list(images[start : start + BATCH]), bundle.input_divisor, bundle.network.dtype)
        bundle.network.predict_proba(X)


def dnn_files(bundle, paths: list[str]) -> list:
    from dnncli.model.predict import predict_files

    return list(predict_files(bundle, paths))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=default_data())
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    if not args.data.exists():
        print(f"skipped: {args.data} is absent (the shared reference datasets are not beside the project)")
        return 0
    import onnxruntime as ort
    from PIL import Image

    from dnncli.model.export import onnx_model

    bundle, images = trained_bundle(args.data)
    session = ort.InferenceSession(onnx_model(bundle).SerializeToString(), providers=["CPUExecutionProvider"])
    n = len(images)
    lines = []
    seconds, dnn_probabilities = timed(lambda: dnn_stored(bundle, images), args.repeats)
    lines.append(("dnn predict, stored pixels", seconds))
    seconds, _ = timed(lambda: dnn_network(bundle, images), args.repeats)
    lines.append(("dnn network alone (predict_proba)", seconds))
    with tempfile.TemporaryDirectory() as folder:
        paths = []
        for i, image in enumerate(images):
            paths.append(os.path.join(folder, f"{i:05d}.png"))
            Image.fromarray(image).save(paths[-1])
        seconds, _ = timed(lambda: dnn_files(bundle, paths), max(1, args.repeats // 2))
        lines.append(("dnn predict, PNG files", seconds))
    run = lambda X: session.run(None, {"input": X})
    seconds, _ = timed(lambda: [run(images[s : s + BATCH]) for s in range(0, n, BATCH)], args.repeats)
    lines.append((f"ONNX Runtime {ort.__version__}, batches of {BATCH}", seconds))
    seconds, (probabilities, labels) = timed(lambda: run(images), args.repeats)
    lines.append((f"ONNX Runtime {ort.__version__}, one batch", seconds))
    for name, seconds in lines:
        print(f"{name:<40} {n / seconds:>12,.0f} images/s  ({seconds * 1e3:.1f} ms for {n:,})")
    same = np.array_equal(labels, dnn_probabilities.argmax(axis=1))
    gap = float(np.max(np.abs(probabilities - dnn_probabilities)))
    print(f"same labels: {same}; largest probability difference: {gap:.2e}")
    return 0 if same and gap <= 1e-5 else 1


if __name__ == "__main__":
    sys.exit(main())
