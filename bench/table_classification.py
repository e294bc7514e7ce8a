"""A classification table trained by dnn and by scikit-learn's MLPClassifier, on the same split
with the same preprocessing (issue 22's check: within 0.02 accuracy).

    python bench/table_classification.py                 # 4,000 training rows, 1,000 test rows
    python bench/table_classification.py --epochs 30 --seeds 1 2 3

The table is dnn's demo table (:mod:`dnncli.data.demo_table`): whether a house sold within a
month (``sold``: yes / no) from ``area`` (gaps), ``rooms`` (gaps), ``age``, ``district`` (text,
gaps), with an ``id`` and a free-text ``note`` (commas, quotes, a line break, a formula) that
``data.drop`` leaves out. Training rows: seed 0; test rows: seed 1 (the same distribution).

dnn trains from the CSV files through ``dnn train`` (the library's run_training); scikit-learn
gets the same preprocessing built from its own parts: the training median for a missing number
plus a missing-indicator column, numbers standardized with the training mean and deviation, the
district one-hot with a missing value as a level of its own. Both: hidden layers (64, 64) ReLU,
Adam with learning rate 1e-3, mini-batches of 64, the same epochs, no L2 penalty.
scikit-learn is a bench-only peer (the ``bench`` extra), never a test dependency.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np


def _sklearn_accuracy(train_csv: Path, test_csv: Path, epochs: int, seed: int) -> tuple[float, float]:
    import warnings

    from sklearn.compose import ColumnTransformer
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.impute import SimpleImputer
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    import pandas as pd

    train, test = pd.read_csv(train_csv), pd.read_csv(test_csv)
    numbers, categories = ["area", "rooms", "age"], ["district"]
    preprocessing = ColumnTransformer([
        ("numbers", make_pipeline(SimpleImputer(strategy="median", add_indicator=True), StandardScaler()), numbers),
        ("categories", make_pipeline(SimpleImputer(strategy="constant", fill_value="(missing)"),
                                     OneHotEncoder(handle_unknown="ignore")), categories),
    ])
    model = MLPClassifier(hidden_layer_sizes=(64, 64), solver="adam", learning_rate_init=1e-3, batch_size=64,
                          max_iter=epochs, alpha=0.0, random_state=seed, n_iter_no_change=epochs + 1, tol=0)
    pipeline = make_pipeline(preprocessing, model)
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        pipeline.fit(train[numbers + categories], train["sold"])
    seconds = time.perf_counter() - started
    return float(np.mean(pipeline.predict(test[numbers + categories]) == test["sold"])), seconds


def _dnn_accuracy(folder: Path, train_csv: Path, test_csv: Path, epochs: int, seed: int) -> tuple[float, float]:
    from dnncli.config import load_config
    from dnncli.run.training import run_training

    config = {
        "name": f"houses-{seed}",
        "model": {"hidden": [64, 64], "seed": seed},
        "data": {"train": str(train_csv), "test": str(test_csv), "target": "sold", "drop": ["id", "note"]},
        "training": {"optimizer": "adam", "learning_rate": 1e-3, "batch_size": 64, "epochs": epochs},
        "output": {"dir": str(folder / "runs"), "plot": "none"},
    }
    path = folder / f"houses-{seed}.yaml"
    path.write_text(json.dumps(config))
    metrics = run_training(load_config(path)).metrics
    return float(metrics["test_accuracy"]), float(metrics["seconds"])


def main() -> None:
    from dnncli.data.demo_table import write_demo_table

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-rows", type=int, default=4000)
    parser.add_argument("--test-rows", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dnn-table-bench-") as directory:
        folder = Path(directory)
        train_csv = write_demo_table(folder / "houses_train.csv", m=args.train_rows, seed=0)
        test_csv = write_demo_table(folder / "houses_test.csv", m=args.test_rows, seed=1)
        print(f"demo table: {args.train_rows} training rows (seed 0), {args.test_rows} test rows (seed 1), "
              f"{args.epochs} epochs, hidden (64, 64), Adam 1e-3, batches of 64")
        print("| seed | dnn test accuracy | scikit-learn test accuracy | difference | dnn s | scikit-learn s |")
        print("| --- | --- | --- | --- | --- | --- |")
        ours, theirs = [], []
        for seed in args.seeds:
            accuracy, seconds = _dnn_accuracy(folder, train_csv, test_csv, args.epochs, seed)
            peer, peer_seconds = _sklearn_accuracy(train_csv, test_csv, args.epochs, seed)
            ours.append(accuracy)
            theirs.append(peer)
            print(f"| {seed} | {accuracy:.4f} | {peer:.4f} | {accuracy - peer:+.4f} | {seconds:.2f} | {peer_seconds:.2f} |")
        gap = abs(np.mean(ours) - np.mean(theirs))
        print(f"mean: dnn {np.mean(ours):.4f}, scikit-learn {np.mean(theirs):.4f}, difference {gap:.4f} "
              f"({'within' if gap <= 0.02 else 'NOT within'} 0.02)")


if __name__ == "__main__":
    main()
