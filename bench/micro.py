"""The plain path's pieces, timed one by one: what each speed change of issue 14 bought.

    python bench/micro.py                  # every section, one BLAS thread
    python bench/micro.py --threads 2      # the products with two BLAS threads
    python bench/micro.py --sections adam,relu

Each line is the best of ``--repeats`` runs (the fastest is the least disturbed by other jobs on
a shared machine), in CPU time with one thread and wall time with more. "before" is the code as
it was (written out here), "after" the library's.

Sections:
  products  the cat set's first layer, Z1 = W1 X and dW1 = dZ1 X^T, in each layout and form,
            float64 and float32, 209 and 2,090 examples
  adam      one Adam step on the cat network's 245,973 parameters (and MNIST's 109,386): the
            former update (a concatenation and a temporary per operation) against dnn's, and
            dnn's on the plain path (parameters packed in one vector, gradients written into the
            optimizer's vector by the backward pass)
  relu      the ReLU derivative: boolean-index assignment against multiplying by the mask
"""

from __future__ import annotations

import argparse
import math
import time
from typing import Callable

import numpy as np


def best(f: Callable[[], object], repeats: int, clock: Callable[[], float]) -> float:
    f()
    fastest = math.inf
    for _ in range(repeats):
        start = clock()
        f()
        fastest = min(fastest, clock() - start)
    return fastest


def show(label: str, seconds: float, extra: str = "") -> None:
    unit, value = ("ms", seconds * 1e3) if seconds >= 1e-3 else ("us", seconds * 1e6)
    print(f"  {label:52s} {value:9.2f} {unit} {extra}")


def products(threads: int, repeats: int, clock: Callable[[], float]) -> None:
    from threadpoolctl import threadpool_limits

    from dnncli.network.model import affine

    rng = np.random.default_rng(0)
    n_x, n1 = 12288, 20
    for dtype in (np.float64, np.float32):
        for m in (209, 2090):
            Xc = rng.random((n_x, m)).astype(dtype)  # row-major (n_x, m): the former full-batch layout
            Xf = np.asfortranarray(Xc)  # column-major: each example contiguous (dnn's now)
            W = rng.standard_normal((n1, n_x)).astype(dtype)
            dZ = rng.standard_normal((n1, m)).astype(dtype)
            b = np.zeros((n1, 1), dtype)
            flops = 2 * n1 * n_x * m
            print(f"{np.dtype(dtype).name}, m = {m}, {threads} thread(s)")
            forms = {
                "forward W1 @ X, X row-major (before)": lambda: W @ Xc,
                "forward W1 @ X, X column-major": lambda: W @ Xf,
                "forward (X^T W1^T)^T, X column-major": lambda: Xf.T @ W.T,
                "forward as dnn computes it (affine), column-major": lambda: affine(W, Xf, b),
                "gradient dZ1 @ X^T, X row-major (before)": lambda: dZ @ Xc.T,
                "gradient dZ1 @ X^T, X column-major": lambda: dZ @ Xf.T,
            }
            with threadpool_limits(threads, user_api="blas"):
                for label, f in forms.items():
                    t = best(f, max(3, repeats // (10 if m > 1000 else 1)), clock)
                    show(label, t, f"{flops / t / 1e9:6.1f} GFLOP/s")


def adam_before(params: dict, grads: dict, state: dict, lr: float = 1e-3) -> None:
    """The former Adam step: a concatenated gradient, a temporary array per operation."""
    state["t"] += 1
    t, b1, b2 = state["t"], 0.9, 0.999
    root = math.sqrt(1.0 - b2**t)
    lr_t, eps_t = lr * root / (1.0 - b1**t), 1e-8 * root
    g = np.concatenate([grads["d" + k].reshape(-1) for k in params])
    v, s = state["v"], state["s"]
    v *= b1
    v += (1 - b1) * g
    g *= g
    g *= 1 - b2
    s *= b2
    s += g
    denominator = np.sqrt(s)
    denominator += eps_t
    step = v / denominator
    step *= lr_t
    start = 0
    for k, p in params.items():
        p -= step[start : start + p.size].reshape(p.shape)
        start += p.size


def adam(repeats: int, clock: Callable[[], float]) -> None:
    from dnncli.training.optimizers import Adam

    rng = np.random.default_rng(0)
    networks = {"cat [12288, 20, 7, 5, 1]": [12288, 20, 7, 5, 1], "MNIST [784, 128, 64, 10]": [784, 128, 64, 10]}
    for name, layers in networks.items():
        for dtype in (np.float64, np.float32):
            shapes = {}
            for l in range(1, len(layers)):
                shapes[f"W{l}"], shapes[f"b{l}"] = (layers[l], layers[l - 1]), (layers[l], 1)
            params = {k: rng.standard_normal(s).astype(dtype) for k, s in shapes.items()}
            grads = {"d" + k: rng.standard_normal(s).astype(dtype) * 1e-3 for k, s in shapes.items()}
            n = sum(p.size for p in params.values())
            state = {"t": 0, "v": np.zeros(n, dtype), "s": np.zeros(n, dtype)}
            optimizer = Adam(1e-3)
            print(f"Adam step, {name}, {n:,} parameters, {np.dtype(dtype).name}")
            show("before (temporaries)", best(lambda: adam_before(params, grads, state), repeats, clock))
            show("after (in place, kept scratch)", best(lambda: optimizer.update(params, grads), repeats, clock))
            # the plain path now: parameters in one vector, gradients written into the optimizer's
            from dnncli.network.model import Network

            packed = Network(layers, ["relu"] * (len(layers) - 2) + ["sigmoid"], {k: v.copy() for k, v in params.items()})
            packed.pack_parameters()
            optimizer = Adam(1e-3)
            buffers = optimizer.gradient_buffers(packed.params)
            for key, g in grads.items():
                buffers[key][...] = g
            show("packed parameters, gradients in place", best(lambda: optimizer.update(packed.params, buffers), repeats, clock))


def relu(repeats: int, clock: Callable[[], float]) -> None:
    from dnncli.network.activations import relu_derivative

    rng = np.random.default_rng(0)
    for shape in ((20, 209), (128, 64), (20, 2090)):
        Z = rng.standard_normal(shape)
        dA0 = rng.standard_normal(shape)
        work = dA0.copy()

        def before() -> None:
            np.copyto(work, dA0)
            work[Z <= 0] = 0

        def after() -> None:
            np.copyto(work, dA0)
            relu_derivative(Z, None, work)

        print(f"ReLU derivative, {shape[0]} x {shape[1]}, float64 (with a copy of dA in both)")
        show("before: dA[Z <= 0] = 0", best(before, repeats, clock))
        show("after: dA *= (Z > 0)", best(after, repeats, clock))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sections", default="products,adam,relu")
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads for the products")
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    clock = time.process_time if args.threads == 1 else time.perf_counter
    sections = {"products": lambda: products(args.threads, args.repeats, clock), "adam": lambda: adam(args.repeats * 10, clock),
                "relu": lambda: relu(args.repeats * 30, clock)}
    for name in args.sections.split(","):
        sections[name.strip()]()


if __name__ == "__main__":
    main()
