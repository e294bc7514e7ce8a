"""CPU time of ``train()`` alone on case B or E, with the checkout this file is in: to compare two
checkouts (before/after a change), run it from each in turn, several times, and keep the least.

    python bench/train_cpu.py B --epochs 20          # MNIST, Adam, batches of 64, float32
    python bench/train_cpu.py E64 --steps 300 --threads 2
    python bench/train_cpu.py E32

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
    parser.add_argument("case", choices=["B", "E64", "E32"])
    parser.add_argument("--epochs", type=int, default=4, help="case B's epochs")
    parser.add_argument("--steps", type=int, default=300, help="case E's steps")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    if args.case == "B":
        with h5py.File(SHARED / "mnist10k.h5", "r") as f:
            images, y = f["images"][:8000], f["labels"][:8000]
        X = np.asfortranarray(images.reshape(8000, -1).T.astype(np.float32) / np.float32(255))
        net = Network.create([784, 128, 64, 10], ["relu", "relu", "softmax"], "xavier", 1, dtype=np.float32)
        settings = TrainSettings(learning_rate=0.001, epochs=args.epochs, optimizer="adam", batch_size=64)
    else:
        dtype = np.float64 if args.case == "E64" else np.float32
        with h5py.File(SHARED / "train_catvnoncat.h5", "r") as f:
            images, y = f["train_set_x"][()], f["train_set_y"][()]
        X = np.asfortranarray(images.reshape(len(images), -1).T.astype(dtype) / dtype(255))
        net = Network.create([12288, 20, 7, 5, 1], ["relu", "relu", "relu", "sigmoid"], "xavier", 1, dtype=dtype)
        settings = TrainSettings(learning_rate=0.0005, iterations=args.steps, optimizer="adam")
    data = TrainData(X, net.encode_targets(y))
    cpu, wall = time.process_time(), time.perf_counter()
    result = train(net, data, settings, rng=np.random.default_rng(1), state=TrainState(threads=args.threads))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    digest = hashlib.sha256(b"".join(np.ascontiguousarray(p).tobytes() for p in net.params.values())).hexdigest()
    print(f"cpu {cpu:.3f} s  wall {wall:.3f} s  final cost {result.final_cost!r}  parameters {digest[:12]}")


if __name__ == "__main__":
    main()
