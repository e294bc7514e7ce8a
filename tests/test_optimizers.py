"""The optimizers' in-place updates: the course's formulas to the last bit, whatever the threads,
the pieces or the memory layout, and no new arrays per step."""

from __future__ import annotations

import math
import tracemalloc

import numpy as np
import pytest

from dnncli.training.optimizers import PARALLEL_MINIMUM, make_optimizer
from dnncli.compute.threads import limited_blas_threads


def reference_steps(name: str, params: dict, grads_per_step: list[dict], lr: float) -> dict:
    """The update rules written out plainly, with temporaries, in the order the docstring gives."""
    params = {k: v.copy() for k, v in params.items()}
    v = {k: np.zeros_like(p) for k, p in params.items()}
    s = {k: np.zeros_like(p) for k, p in params.items()}
    beta, beta1, beta2, eps = 0.9, 0.9, 0.999, 1e-8
    for t, grads in enumerate(grads_per_step, start=1):
        for key, p in params.items():
            g = grads["d" + key]
            if name == "gd":
                p -= lr * g
            elif name == "momentum":
                v[key] *= beta
                v[key] += (1 - beta) * g
                p -= lr * v[key]
            elif name == "rmsprop":
                s[key] *= beta2
                s[key] += (1 - beta2) * (g * g)
                p -= lr * (g / (np.sqrt(s[key]) + eps))
            else:
                root = math.sqrt(1.0 - beta2**t)
                lr_t, eps_t = lr * root / (1.0 - beta1**t), eps * root
                v[key] *= beta1
                v[key] += (1 - beta1) * g
                g2 = g * g
                g2 *= 1 - beta2
                s[key] *= beta2
                s[key] += g2
                p -= (v[key] / (np.sqrt(s[key]) + eps_t)) * lr_t
    return params


def problem(dtype: type, n_big: int = PARALLEL_MINIMUM + 4321):
    rng = np.random.default_rng(7)
    shapes = {"W1": (3, n_big // 3), "b1": (3, 1), "W2": (1, 3), "b2": (1, 1)}
    params = {k: rng.normal(size=s).astype(dtype) for k, s in shapes.items()}
    steps = [{"d" + k: rng.normal(scale=1e-2, size=s).astype(dtype) for k, s in shapes.items()} for _ in range(4)]
    return params, steps


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", ["gd", "momentum", "rmsprop", "adam"])
@pytest.mark.parametrize("threads", [1, 3])
def test_updates_are_the_formulas_to_the_last_bit(name, dtype, threads) -> None:
    params, steps = problem(dtype)
    expected = reference_steps(name, params, steps, 0.01)
    optimizer = make_optimizer(name, 0.01)
    with limited_blas_threads(threads):
        for grads in steps:
            optimizer.update(params, grads)
    for key in params:
        assert params[key].dtype == dtype
        np.testing.assert_array_equal(params[key], expected[key], err_msg=f"{name} {key}")


@pytest.mark.parametrize("name", ["gd", "momentum", "rmsprop", "adam"])
def test_parameters_and_gradients_of_any_layout(name) -> None:
    params, steps = problem(np.float64, 300)
    expected = reference_steps(name, params, steps, 0.05)
    params = {k: np.asfortranarray(v) for k, v in params.items()}  # no flat view of these
    optimizer = make_optimizer(name, 0.05)
    for grads in steps:
        optimizer.update(params, {k: np.asfortranarray(g) for k, g in grads.items()})
    for key in params:
        np.testing.assert_array_equal(params[key], expected[key], err_msg=f"{name} {key}")


@pytest.mark.parametrize("name", ["gd", "momentum", "rmsprop", "adam"])
def test_a_step_allocates_no_arrays(name) -> None:
    params, steps = problem(np.float64, 300_000)
    optimizer = make_optimizer(name, 0.01)
    optimizer.update(params, steps[0])  # the first step creates the moments and scratch arrays
    tracemalloc.start()
    try:
        for grads in steps[1:]:
            optimizer.update(params, grads)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # the old updates allocated a few parameter-sized temporaries (2.4 MB each) per step
    assert peak < 100_000, f"{name}: {peak} bytes allocated during a step"


def test_the_state_resumes_the_same_steps() -> None:
    params, steps = problem(np.float32, 5000)
    straight = make_optimizer("adam", 0.01)
    resumed_params = {k: v.copy() for k, v in params.items()}
    for grads in steps:
        straight.update(params, grads)
    first = make_optimizer("adam", 0.01)
    for grads in steps[:2]:
        first.update(resumed_params, grads)
    second = make_optimizer("adam", 0.01)
    second.load_state_dict(first.state_dict())
    assert set(second.state_dict()) >= {"v_W1", "s_W1", "t"}
    for grads in steps[2:]:
        second.update(resumed_params, grads)
    for key in params:
        np.testing.assert_array_equal(resumed_params[key], params[key])


@pytest.mark.parametrize("name", ["gd", "momentum", "rmsprop", "adam"])
@pytest.mark.parametrize("threads", [1, 3])
def test_packed_parameters_and_gradients_written_in_place_give_the_same_bits(name, threads) -> None:
    """The plain path's fast form: parameters views of one vector (Network.pack_parameters), the
    gradients written into the optimizer's own vector (gradient_buffers): the formulas still, to
    the last bit, and a parameter replaced by another array is still stepped."""
    from dnncli.network.model import Network

    params, steps = problem(np.float32)
    expected = reference_steps(name, params, steps, 0.01)
    network = Network([1, 1], ["sigmoid"], {k: v.copy() for k, v in params.items()})
    vector = network.pack_parameters()
    assert vector is not None and vector.size == sum(p.size for p in params.values())
    assert network.pack_parameters() is vector  # already packed: left as it is
    for key in params:
        assert network.params[key].base is vector
        np.testing.assert_array_equal(network.params[key], params[key])
    optimizer = make_optimizer(name, 0.01)
    with limited_blas_threads(threads):
        for grads in steps:
            buffers = optimizer.gradient_buffers(network.params)
            for key, g in grads.items():
                buffers[key][...] = g
            optimizer.update(network.params, buffers)
    for key in params:
        np.testing.assert_array_equal(network.params[key], expected[key], err_msg=f"{name} {key}")
    # the one-subtraction path ran: the update itself looked the packed vector up (a look-up made
    # here would find it whichever path the update took)
    assert optimizer._seen and all(a is b for a, b in zip(optimizer._seen, network.params.values()))
    assert optimizer._packed_parameters(network.params) is vector

    network.params["b1"] = network.params["b1"].copy()  # no longer a view of the vector
    again = {k: v.copy() for k, v in network.params.items()}
    optimizer.update(network.params, steps[0])
    assert optimizer._packed_parameters(network.params) is None
    for key in params:
        assert not np.array_equal(network.params[key], again[key]), key


def test_gradients_written_into_given_arrays_are_the_same() -> None:
    from dnncli.network.model import Network

    rng = np.random.default_rng(3)
    network = Network.create([30, 8, 5, 3], ["relu", "tanh", "softmax"], "he", 2)
    X, y = rng.normal(size=(30, 40)), rng.integers(0, 3, 40)
    Y = network.encode_targets(y)
    AL, caches = network.forward(np.asfortranarray(X))
    expected = network.backward(AL, Y, caches, 0.3)
    out = {"d" + k: np.full_like(v, np.nan) for k, v in network.params.items()}
    grads = network.backward(AL, Y, caches, 0.3, out=out)
    for key, value in expected.items():
        assert grads[key] is out[key]
        np.testing.assert_array_equal(out[key], value, err_msg=key)
