"""CPU time of ``train()`` alone on case A, B or E, with the checkout this file is in: to compare
two checkouts (before/after a change), run it from each in turn, several times, and keep the least.

    python bench/train_cpu.py A32                    # the cat set's 4-layer model, 2500 gd steps
    python bench/train_cpu.py A64 --steps 500
    python bench/train_cpu.py B --epochs 20          # MNIST, Adam, batches of 64, float32
    python bench/train_cpu.py E64 --steps 300 --threads 2
    python bench/train_cpu.py E32
    python bench/train_cpu.py SMALL --l2 0.7          # [2, 20, 3, 1] on 211 points (football's
    python bench/train_cpu.py SMALL --optimizer momentum --batch 64 --epochs 1000   # shapes)
    python bench/train_cpu.py HOUSING --epochs 10     # bench case F: [14, 64, 64, 1], Adam, batches of 64

Case A runs as the benchmark runs it: a config through ``run_training`` (the Gram path chosen by
``auto``, a test set recorded every 100 iterations, the run's supervisor), into a temporary
directory; only ``train()`` is timed.

Prints CPU seconds, wall seconds, the final cost and a hash of the trained parameters (the same
hash: the same numbers to the last bit). The data are the shared sets (../shared/datasets).
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared" / "datasets"


def main() -> None:
    import h5py
    import numpy as np

    from dnncli.network.model import Network
    from dnncli.training.loop import train
    from dnncli.training.settings import TrainData, TrainSettings
    from dnncli.training.state import TrainState

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("case", choices=["A32", "A64", "B", "E64", "E32", "SMALL", "HOUSING"])
    parser.add_argument("--optimizer", default="gd", help="case SMALL's optimizer")
    parser.add_argument("--l2", type=float, default=0.0, help="case SMALL's l2_lambda")
    parser.add_argument("--batch", type=int, default=None, help="case SMALL's batch size (--epochs of them)")
    parser.add_argument("--epochs", type=int, default=4, help="case B's or HOUSING's epochs")
    parser.add_argument("--steps", type=int, default=None, help="case A's (2500) or E's (300) steps")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    if args.case.startswith("A"):
        return case_a(args)
    if args.case == "B":
        with h5py.File(SHARED / "mnist10k.h5", "r") as f:
            images, y = f["images"][:8000], f["labels"][:8000]
        X = np.asfortranarray(images.reshape(8000, -1).T.astype(np.float32) / np.float32(255))
        net = Network.create([784, 128, 64, 10], ["relu", "relu", "softmax"], "xavier", 1, dtype=np.float32)
        settings = TrainSettings(learning_rate=0.001, epochs=args.epochs, optimizer="adam", batch_size=64)
    elif args.case == "SMALL":  # the per-call costs of a small network: random points, football's shapes
        rng = np.random.default_rng(0)
        X = rng.standard_normal((2, 211))
        y = (X[0] * X[1] > 0).astype(int)
        net = Network.create([2, 20, 3, 1], ["relu", "relu", "sigmoid"], "xavier", 3)
        batched = args.batch is not None
        settings = TrainSettings(learning_rate=0.3, optimizer=args.optimizer, l2_lambda=args.l2,
                                 iterations=None if batched else args.steps or 5000,
                                 epochs=args.epochs if batched else None, batch_size=args.batch)
    elif args.case == "HOUSING":  # a table (bench case F): California housing as dnn encodes it
        from dnncli.data.encoding import TableEncoder, TableOptions
        from dnncli.data.tables import open_table

        source = open_table(SHARED / "housing_train.csv")
        encoder, _ = TableEncoder.fit(source, TableOptions(target="median_house_value"))
        encoded = encoder.encode_file(source)
        X, y = encoded.X, encoded.Y
        net = Network.create([X.shape[0], 64, 64, 1], ["relu", "relu", "linear"], "he", 1)
        settings = TrainSettings(learning_rate=0.001, epochs=args.epochs, optimizer="adam", batch_size=64)
    else:
        dtype = np.float64 if args.case == "E64" else np.float32
        with h5py.File(SHARED / "train_catvnoncat.h5", "r") as f:
            images, y = f["train_set_x"][()], f["train_set_y"][()]
        X = np.asfortranarray(images.reshape(len(images), -1).T.astype(dtype) / dtype(255))
        net = Network.create([12288, 20, 7, 5, 1], ["relu", "relu", "relu", "sigmoid"], "xavier", 1, dtype=dtype)
        settings = TrainSettings(learning_rate=0.0005, iterations=args.steps or 300, optimizer="adam")
    data = TrainData(X, net.encode_targets(y))
    cpu, wall = time.process_time(), time.perf_counter()
    result = train(net, data, settings, rng=np.random.default_rng(1), state=TrainState(threads=args.threads))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    digest = hashlib.sha256(b"".join(np.ascontiguousarray(p).tobytes() for p in net.params.values())).hexdigest()
    print(f"cpu {cpu:.3f} s  wall {wall:.3f} s  final cost {result.final_cost!r}  parameters {digest[:12]}")


def case_a(args: argparse.Namespace) -> None:
    import os
    import tempfile

    import numpy as np
    import yaml

    import dnncli.run.training as run_module
    from dnncli import run_training
    from dnncli.config import load_config

    os.environ.setdefault("DNN_BLAS_THREADS", str(args.threads))
    timed: dict[str, float] = {}
    engine = run_module.train

    def timed_train(*positional, **keywords):  # train() alone, as the benchmark's seconds
        cpu, wall = time.process_time(), time.perf_counter()
        try:
            return engine(*positional, **keywords)
        finally:
            timed["cpu"], timed["wall"] = time.process_time() - cpu, time.perf_counter() - wall

    run_module.train = timed_train
    with tempfile.TemporaryDirectory() as work:
        training = {"learning_rate": 0.0075, "iterations": args.steps or 2500}
        if args.case == "A32":
            training["dtype"] = "float32"
        config = {
            "name": "bench",
            "model": {"layers": [12288, 20, 7, 5, 1], "activations": ["relu", "relu", "relu", "sigmoid"],
                      "init": "xavier", "seed": 1},
            "data": {"train": str(SHARED / "train_catvnoncat.h5"), "test": str(SHARED / "test_catvnoncat.h5")},
            "training": training,
            "output": {"dir": work},
        }
        path = Path(work) / "bench.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        finished = run_training(load_config(path), force=True)
        metrics, result = finished[0], finished[1]
    params = result.network.params
    digest = hashlib.sha256(b"".join(np.ascontiguousarray(p).tobytes() for p in params.values())).hexdigest()
    rows = result.history.rows
    accuracies = repr([(row["train_accuracy"], row["test_accuracy"]) for row in rows]).encode()
    costs = repr([(row["cost"], row["test_cost"]) for row in rows]).encode()
    print(f"cpu {timed['cpu']:.3f} s  wall {timed['wall']:.3f} s  final cost {result.final_cost!r}  "
          f"parameters {digest[:12]}  {metrics['first_layer']}: history accuracies "
          f"{hashlib.sha256(accuracies).hexdigest()[:8]}, costs {hashlib.sha256(costs).hexdigest()[:8]}")


if __name__ == "__main__":
    main()
