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

Ideas measured and left out (bench/results/README.md, session 4), kept here to be rerun:
  fused     case E's first layer a block of X's rows at a time (dW1, the Adam update of those
            columns of W1, the next W1 X for them) against the two whole products and the update
  sparse    case B's two first-layer products skipping the input rows that are zero in the
            whole batch, against the whole products
  split     case B's first-layer tail (dW1, its Adam update, the next batch's W1 X_b) on one
            thread against dnn's two threads (wall time: run it on an idle machine)
  gram      case A's C G (20 x 209 by 209 x 209, float64) on one thread against dnn's two
            threads, by rows of C (wall time)

Session 5 (bench/results/README.md, session 5):
  floor     why case B's target is out of reach here: its step reduced to what no
            implementation can skip, its products (the two of the first layer, 128 x 784 by
            784 x 64, and the small ones) and its Adam update of 109,386 float32 numbers, on one
            core and on two (OpenBLAS's threads, dnn's), times the run's 2,500 steps (wall time:
            run it on an idle machine)
  gramstep  case A's Gram step (float32 network, the shared cat set) as the library runs it
            against the same operations written out in one function, without the per-layer
            dispatch; both from the same parameters, checked to give the same bits
  fingerprint
            the data fingerprint a checkpoint stores (SHA-256 of the C-order bytes) of
            column-major inputs, through tiles (dnn) against whole blocks of rows (before)

OpenBLAS's small float32 products run up to 1.6x slower in a process whose first product was
small and single-threaded (the sections that time them make a large one first).
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

    from dnncli.compute.kernels import affine

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


def _adam_math(g: np.ndarray, v: np.ndarray, s: np.ndarray, t: np.ndarray, lr: float = 5e-4) -> None:
    """dnn's Adam update of one piece (the step left in ``t``), bias corrections left out."""
    v *= 0.9
    np.multiply(g, 0.1, out=t)
    v += t
    np.multiply(g, g, out=t)
    t *= 0.001
    s *= 0.999
    s += t
    np.sqrt(s, out=t)
    t += 1e-8
    np.divide(v, t, out=t)
    t *= lr


def fused(repeats: int, clock: Callable[[], float]) -> None:
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(0)
    n1, n_x, m = 20, 12288, 209
    X = np.asfortranarray(rng.random((n_x, m)))
    W, G, V, S, T = (np.zeros((n1, n_x)) for _ in range(5))
    W += rng.standard_normal((n1, n_x)) * 0.01
    dZ = rng.standard_normal((n1, m))

    def whole() -> None:
        np.matmul(dZ, X.T, out=G)
        np.divide(G, m, out=G)
        _adam_math(G, V, S, T)
        np.subtract(W, T, out=W)
        W @ X

    def blocks(size: int) -> None:
        Z, part = np.zeros((n1, m)), np.empty((n1, m))
        for j in range(0, n_x, size):
            k = min(j + size, n_x)
            g = G[:, j:k]
            np.matmul(dZ, X[j:k].T, out=g)
            g /= m
            _adam_math(g, V[:, j:k], S[:, j:k], T[:, j:k])
            W[:, j:k] -= T[:, j:k]
            np.matmul(W[:, j:k], X[j:k], out=part)
            Z += part

    print("case E's first layer, float64, m = 209: gradient, Adam update, next forward product")
    with threadpool_limits(1, user_api="blas"):
        show("whole products and update (dnn)", best(whole, repeats, clock))
        for size in (256, 512, 1024):
            show(f"a block of {size} rows of X at a time (left out)", best(lambda: blocks(size), repeats, clock))


def _mnist_batches(count: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """MNIST's first 8,000 images as dnn holds them (column-major float32), or random sparse
    images like them where the shared set is absent; ``count`` random batches of 64."""
    from pathlib import Path

    rng = np.random.default_rng(0)
    path = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "mnist10k.h5"
    if path.exists():
        import h5py

        with h5py.File(path, "r") as f:
            images = f["images"][:8000].reshape(8000, -1)
    else:
        images = (rng.random((8000, 784)) < 0.19) * rng.integers(1, 256, (8000, 784))
    X = np.asfortranarray(images.T.astype(np.float32) / np.float32(255))
    return X, [rng.permutation(X.shape[1])[:64] for _ in range(count)]


def sparse(repeats: int, clock: Callable[[], float]) -> None:
    from threadpoolctl import threadpool_limits

    X, batches = _mnist_batches(100)
    rng = np.random.default_rng(1)
    W = rng.standard_normal((128, 784)).astype(np.float32)
    dZ = rng.standard_normal((128, 64)).astype(np.float32)
    dW = np.empty_like(W)

    def whole() -> None:
        for columns in batches:
            X_b = X[:, columns]
            W @ X_b
            np.matmul(dZ, X_b.T, out=dW)

    def skipping() -> None:
        for columns in batches:
            X_b = X[:, columns]
            rows = np.flatnonzero(X_b.any(axis=1))
            X_rows = X_b[rows]
            W[:, rows] @ X_rows
            dW.fill(0)
            dW[:, rows] = dZ @ X_rows.T

    zero = np.mean([784 - np.count_nonzero(X[:, c].any(axis=1)) for c in batches])
    print(f"case B's first-layer products, float32, a batch of 64 ({zero:.0f} of 784 input rows zero on average)")
    with threadpool_limits(1, user_api="blas"):
        W @ X[:, :2000]  # OpenBLAS's small float32 products run faster after a large one
        show("whole products (dnn)", best(whole, repeats, clock) / len(batches))
        show("zero rows skipped (left out)", best(skipping, repeats, clock) / len(batches))


def split(repeats: int) -> None:
    from threadpoolctl import threadpool_limits

    from dnncli.compute import threads

    X, batches = _mnist_batches(50)
    rng = np.random.default_rng(1)
    W, G, V, S, T = (np.zeros((128, 784), np.float32) for _ in range(5))
    W += rng.standard_normal((128, 784)).astype(np.float32) * 0.01
    dZ = rng.standard_normal((128, 64)).astype(np.float32)
    Z = np.empty((128, 64), np.float32)

    def tail(first: int, last: int, X_b: np.ndarray, X_next: np.ndarray) -> None:
        np.dot(dZ[first:last], X_b.T, out=G[first:last])
        np.divide(G[first:last], 64, out=G[first:last])
        _adam_math(G[first:last], V[first:last], S[first:last], T[first:last])
        W[first:last] -= T[first:last]
        np.dot(W[first:last], X_next, out=Z[first:last])

    def steps() -> None:
        for now, after in zip(batches, batches[1:]):
            X_b, X_next = X[:, now], X[:, after]
            threads.parallel(lambda a, b: tail(a, b, X_b, X_next), 128, minimum=8, align=8)

    print("case B's first-layer tail a step (dW1, its Adam update, the next W1 X_b), wall time")
    with threadpool_limits(1, user_api="blas"):
        W @ X[:, :2000]
        for count in (1, 2):
            with threads.limited_blas_threads(count):
                show(f"{count} of dnn's threads", best(steps, repeats, time.perf_counter) / (len(batches) - 1))


def gram(repeats: int) -> None:
    from threadpoolctl import threadpool_limits

    from dnncli.compute import threads

    rng = np.random.default_rng(0)
    X = rng.random((12288, 209))
    C, G = rng.standard_normal((20, 209)), X.T @ X
    Z = np.empty((20, 209))

    def split() -> None:
        threads.parallel(lambda a, b: np.dot(C[a:b], G, out=Z[a:b]), 20, minimum=1, align=1)

    print("case A's C G, float64, wall time")
    with threadpool_limits(1, user_api="blas"):
        show("one thread (dnn)", best(lambda: np.matmul(C, G, out=Z), repeats, time.perf_counter))
        with threads.limited_blas_threads(2):
            show("split by rows over dnn's two threads (left out)", best(split, repeats, time.perf_counter))


def floor(repeats: int) -> None:
    from threadpoolctl import threadpool_limits

    from dnncli.network.model import Network
    from dnncli.compute import threads
    from dnncli.training.optimizers import Adam

    X, batches = _mnist_batches(40)
    rng = np.random.default_rng(1)
    network = Network.create([784, 128, 64, 10], ["relu", "relu", "softmax"], "xavier", 1, dtype=np.float32)
    network.pack_parameters()
    W1, W2, W3 = (network.params[f"W{l}"] for l in (1, 2, 3))
    optimizer = Adam(1e-3)
    gradients = optimizer.gradient_buffers(network.params)
    for g in gradients.values():
        g[...] = rng.standard_normal(g.shape).astype(np.float32) * 1e-3
    A1, A2 = (np.maximum(rng.standard_normal((n, 64)).astype(np.float32), 0) for n in (128, 64))
    dZ1, dZ2, dZ3 = (rng.standard_normal((n, 64)).astype(np.float32) for n in (128, 64, 10))
    Z1 = np.empty((128, 64), np.float32)

    def small() -> None:  # layers 2 and 3: forward, weight gradients, back through
        np.dot(W2, A1), np.dot(W3, A2)
        np.dot(dZ3, A2.T, out=gradients["dW3"]), np.dot(W3.T, dZ3)
        np.dot(dZ2, A1.T, out=gradients["dW2"]), np.dot(W2.T, dZ2)

    def first_layer(rows: tuple[int, int], X_b: np.ndarray) -> None:
        a, b = rows
        np.dot(W1[a:b], X_b, out=Z1[a:b])
        np.dot(dZ1[a:b], X_b.T, out=gradients["dW1"][a:b])

    def products(split: bool = False) -> None:
        for columns in batches:
            X_b = X[:, columns]
            if split:  # by rows of W1 over dnn's threads
                threads.parallel(lambda a, b: first_layer((a, b), X_b), 128, minimum=64, align=8)
            else:
                first_layer((0, 128), X_b)
            small()

    def update() -> None:
        optimizer.update(network.params, gradients)

    steps = 2500
    print(f"case B's floor: a step's products and Adam update alone (wall time), x {steps:,} steps")
    with threadpool_limits(1, user_api="blas"):
        W1 @ X[:, :2000]  # see the module's docstring
        one = best(products, repeats, time.perf_counter) / len(batches)
        adam = best(update, repeats * 10, time.perf_counter)
        show("products, one core", one, f"-> {steps * one:.2f} s")
        show("Adam's update, one core", adam, f"-> {steps * adam:.2f} s")
        with threads.limited_blas_threads(2):
            split = best(lambda: products(split=True), repeats, time.perf_counter) / len(batches)
            show("products, first layer split over dnn's 2 threads", split, f"-> {steps * split:.2f} s")
            adam2 = best(update, repeats * 10, time.perf_counter)
            show("Adam's update over dnn's 2 threads", adam2, f"-> {steps * adam2:.2f} s")
    with threadpool_limits(2, user_api="blas"):
        spinning = best(products, repeats, time.perf_counter) / len(batches)
        show("products, OpenBLAS's 2 spinning threads", spinning, f"-> {steps * spinning:.2f} s")
    low = steps * (min(one, split, spinning) + min(adam, adam2))
    print(f"  at least {low:.2f} s for the run's products and updates, before its activations, loss, batches and"
          " evaluations; the target is 0.5x the faster peer's time")


def gramstep(steps: int) -> None:
    from pathlib import Path

    import h5py
    from threadpoolctl import threadpool_limits

    from dnncli.network.model import Network
    from dnncli.training.first_layer import GramFirstLayer
    from dnncli.training.optimizers import make_optimizer

    path = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "train_catvnoncat.h5"
    if not path.exists():
        print("case A's Gram step: skipped (the shared cat set is absent)")
        return
    with h5py.File(path, "r") as f:
        images, labels = f["train_set_x"][()], f["train_set_y"][()]
    X = np.asfortranarray(images.reshape(len(images), -1).T.astype(np.float32) / np.float32(255))

    def layer() -> tuple[Network, GramFirstLayer, np.ndarray]:
        network = Network.create([12288, 20, 7, 5, 1], ["relu", "relu", "relu", "sigmoid"], "xavier", 1,
                                 dtype=np.float32)
        return network, GramFirstLayer(network, X), network.encode_targets(labels)

    _, first, Y = layer()
    optimizer = make_optimizer("gd", 0.0075)

    def library() -> None:
        AL, caches = first.forward(None)
        first.cost(AL, caches, Y)
        first.step(optimizer, first.backward(AL, Y, caches, 0.0, optimizer))

    _, out, Y = layer()  # the same parameters again, stepped by hand
    p, g = out.params, out._grad_views  # noqa: SLF001 (the packed vectors the optimizer steps)
    C, b1, W2, b2, W3, b3, W4, b4 = (p[k] for k in ("W1_C", "b1", "W2", "b2", "W3", "b3", "W4", "b4"))
    coefficients, layers = out._packs["W1_coefficients"], out._packs["layers"]  # noqa: SLF001
    m, lr, f32 = Y.shape[1], 0.0075, np.float32
    Z64, steps_c, steps_l = np.empty((20, m)), np.empty_like(coefficients.vector), np.empty_like(layers.vector)

    def by_hand() -> None:  # the library's operations, in its order, for these layers only (a = 1)
        np.dot(C, out.G, out=Z64)
        np.subtract(out.P, Z64, out=Z64)
        np.add(Z64, b1, out=Z64)
        Z1 = Z64.astype(f32)
        A1 = np.maximum(Z1, 0)
        Z2 = np.dot(W2, A1); Z2 += b2; A2 = np.maximum(Z2, 0)  # noqa: E702
        Z3 = np.dot(W3, A2); Z3 += b3; A3 = np.maximum(Z3, 0)  # noqa: E702
        Z4 = np.dot(W4, A3); Z4 += b4  # noqa: E702
        E = np.exp(-np.abs(Z4))
        A4 = np.where(Z4 >= 0, 1.0, E).astype(f32, copy=False)
        A4 /= 1.0 + E
        float(np.add.reduce(np.logaddexp(0, Z4) - Y * Z4, axis=None) / m)
        dZ = A4 - Y
        for W, A_prev, Z_prev, dW, db in ((W4, A3, Z3, g["dW4"], g["db4"]), (W3, A2, Z2, g["dW3"], g["db3"]),
                                          (W2, A1, Z1, g["dW2"], g["db2"])):
            np.dot(dZ, A_prev.T, out=dW)
            np.add.reduce(dZ, axis=1, keepdims=True, out=db)
            dZ = np.dot(W.T, dZ)
            np.multiply(dZ, Z_prev > 0, out=dZ)
        np.add.reduce(dZ, axis=1, keepdims=True, out=g["db1"])
        layers.gradient /= m
        dZ /= -m
        np.add(dZ, 0.0, out=g["dW1_C"])
        g["dW1_a"][0, 0] = 0.0  # no L2 term: a stays 1
        np.multiply(coefficients.gradient, lr, out=steps_c)
        coefficients.vector -= steps_c
        np.multiply(layers.gradient, lr, out=steps_l)
        layers.vector -= steps_l

    print(f"case A's Gram step (float32 network), {steps:,} steps, CPU time per step")
    with threadpool_limits(1, user_api="blas"):
        lib = hand = math.inf
        for _ in range(3):  # in turns: a slower moment of the machine falls on both
            lib = min(lib, best(lambda: [library() for _ in range(steps)], 1, time.process_time) / steps)
            hand = min(hand, best(lambda: [by_hand() for _ in range(steps)], 1, time.process_time) / steps)
        same = all(np.array_equal(first.params[k], out.params[k]) for k in first.params)
        show("the library's step", lib)
        show("the same operations in one function", hand, "(the same bits)" if same else "(OTHER BITS)")
        show("of which C G alone", best(lambda: np.dot(C, out.G, out=Z64), steps, time.process_time))


def fingerprint(repeats: int) -> None:
    import hashlib

    from dnncli.run.checkpoint import data_fingerprint

    def by_row_blocks(array: np.ndarray) -> str:  # session 4's code: a copy of 4 MB of rows at a time
        digest = hashlib.sha256(f"{array.shape}{array.dtype.str}".encode())
        rows = max(1, (1 << 22) // max(1, array[0].nbytes))
        for start in range(0, array.shape[0], rows):
            digest.update(np.ascontiguousarray(array[start : start + rows]))
        return digest.hexdigest()

    rng = np.random.default_rng(0)
    shapes = {"the cat set x10, float64 (205 MB)": ((12288, 2090), np.float64),
              "the cat set x10, float32": ((12288, 2090), np.float32),
              "60,000 MNIST images, float32": ((784, 60000), np.float32),
              "the cat set, float32": ((12288, 209), np.float32)}
    def once(f: Callable[[], object]) -> float:
        start = time.perf_counter()
        f()
        return time.perf_counter() - start

    # a run computes it once: the first call, whose buffers are new to the process, is the one
    # that counts; the best of the later ones shows the copying alone
    print("data fingerprint of column-major inputs, wall time: the first call in this process, then the best")
    for name, (shape, dtype) in shapes.items():
        X = np.asfortranarray(rng.random(shape, dtype=dtype))
        for label, f in (("whole blocks of rows (before)", lambda: by_row_blocks(X)), ("tiles (dnn)", lambda: data_fingerprint(X))):
            first = once(f)
            show(f"{name}: {label}", first, f"then {best(f, repeats, time.perf_counter) * 1e3:.0f} ms")
        assert data_fingerprint(X) == by_row_blocks(X)
        del X


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sections", default="products,adam,relu")
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads for the products")
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    clock = time.process_time if args.threads == 1 else time.perf_counter
    sections = {"products": lambda: products(args.threads, args.repeats, clock), "adam": lambda: adam(args.repeats * 10, clock),
                "relu": lambda: relu(args.repeats * 30, clock), "fused": lambda: fused(max(3, args.repeats // 3), clock),
                "sparse": lambda: sparse(max(3, args.repeats // 5), clock), "split": lambda: split(max(3, args.repeats // 5)),
                "gram": lambda: gram(args.repeats * 30), "floor": lambda: floor(max(3, args.repeats // 5)),
                "gramstep": lambda: gramstep(args.repeats * 30), "fingerprint": lambda: fingerprint(3)}
    for name in args.sections.split(","):
        sections[name.strip()]()


if __name__ == "__main__":
    main()
