"""Properties, checked with Hypothesis over many generated inputs.

* Every config either trains or is refused with one clean line (a ``DnnError``): no other
  exception, whatever the keys, types and values, and nothing half-written on disk.
* Backpropagation matches two-sided finite differences on random small networks (every hidden
  activation, every output and loss, with and without L2), away from the kinks of relu.
"""

from __future__ import annotations

import itertools
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dnncli.config import parse_yaml, validate_config
from dnncli.errors import DnnError
from dnncli.model.file import load_model
from dnncli.network.gradcheck import PassOptions, gradient_check
from dnncli.network.model import Network
from dnncli.run.training import run_training
from tests.conftest import make_images, write_h5

# values of the wrong type, or far out of range: mixed into every key
WILD = st.one_of(
    st.none(),
    st.booleans(),
    st.text(max_size=4),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-(10**15), 0),
    st.integers(10**13, 10**20),
    st.lists(st.integers(-3, 3), max_size=3),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=1),
)


def mostly(sane: st.SearchStrategy) -> st.SearchStrategy:
    """Usually a plausible value (so that many configs get as far as training), 1 in 20 a wild one."""
    return st.integers(0, 19).flatmap(lambda roll: WILD if roll == 7 else sane)


HIDDEN = ["relu", "leaky_relu", "tanh", "sigmoid", "linear"]
MODEL_KEYS = {
    "hidden": st.lists(st.integers(1, 6), max_size=3),
    # null (the default) most of the time: layers and hidden together are refused
    "layers": st.one_of(
        st.none(), st.none(), st.none(),
        st.lists(st.integers(1, 200), min_size=1, max_size=3),
        st.builds(lambda h: [48, *h, 1], st.lists(st.integers(1, 5), max_size=2)),
    ),
    "activations": st.one_of(st.none(), st.lists(st.sampled_from([*HIDDEN, "softmax"]), min_size=1, max_size=3)),
    "hidden_activation": st.sampled_from(HIDDEN),
    "output_activation": st.sampled_from(["sigmoid", "softmax", "linear"]),
    "init": st.sampled_from(["zeros", "random", "xavier", "he"]),
    "init_scale": st.floats(1e-3, 10),
    "seed": st.integers(0, 2**32 - 1),
    "leaky_relu_slope": st.floats(0, 0.99),
}
TRAINING_KEYS = {
    "optimizer": st.sampled_from(["gd", "momentum", "rmsprop", "adam"]),
    "learning_rate": st.floats(1e-4, 1e3),
    "iterations": st.integers(1, 8),
    "epochs": st.integers(1, 3),
    "batch_size": st.integers(1, 40),
    "shuffle": st.booleans(),
    "seed": st.integers(0, 2**32 - 1),
    "beta": st.floats(0, 0.999),
    "beta1": st.floats(0, 0.999),
    "beta2": st.floats(0, 0.9999),
    "epsilon": st.floats(1e-10, 1e-3),
    "schedule": st.sampled_from(["constant", "exponential", "inverse_time", "step"]),
    "decay_rate": st.floats(0, 2),
    "decay_steps": st.integers(1, 5),
    "l2_lambda": st.floats(0, 10),
    "keep_prob": st.one_of(st.floats(0.05, 1), st.lists(st.floats(0.05, 1), max_size=3)),
    "early_stopping": st.booleans(),
    "patience": st.integers(1, 3),
    "min_delta": st.floats(0, 1),
    "keep_best": st.booleans(),
    "dtype": st.sampled_from(["float64", "float32"]),
    "first_layer": st.sampled_from(["auto", "plain", "gram"]),
    "record_every": st.integers(1, 5),
    "checkpoint_every": st.integers(0, 3),
}
DATA_KEYS = {
    "scale": st.one_of(st.sampled_from(["auto", "none"]), st.floats(1, 255)),
    "validation_fraction": st.floats(0.05, 0.5),
    "train_range": st.lists(st.integers(0, 50), min_size=2, max_size=2),
    "memory_budget_mb": st.floats(1e-4, 100),
    "x_key": st.sampled_from(["train_set_x", "missing_key"]),
}


def section(keys: dict[str, st.SearchStrategy]) -> st.SearchStrategy:
    known = st.fixed_dictionaries({}, optional={key: mostly(value) for key, value in keys.items()})
    # 1 in 20 sections also carries an unknown key (a misspelling, a key from elsewhere)
    unknown = st.dictionaries(st.sampled_from(["learning_rat", "bogus", "layer"]), WILD, min_size=1, max_size=1)
    extra = st.integers(0, 19).flatmap(lambda roll: unknown if roll == 7 else st.just({}))
    return st.builds(lambda a, b: {**a, **b}, known, extra)


@pytest.fixture(scope="module")
def property_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("properties")
    X, y = make_images(40, seed=4, shape=(4, 4, 3))
    write_h5(root / "train.h5", train_set_x=X, train_set_y=y, list_classes=np.array([b"dark", b"bright"]))
    Xt, yt = make_images(10, seed=5, shape=(4, 4, 3))
    write_h5(root / "test.h5", test_set_x=Xt, test_set_y=yt)
    return root


_runs = itertools.count()


@pytest.mark.slow
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(model=section(MODEL_KEYS), training=section(TRAINING_KEYS), data=section(DATA_KEYS), through_yaml=st.booleans())
def test_every_config_trains_or_is_refused_cleanly(property_dir: Path, model, training, data, through_yaml) -> None:
    runs = property_dir / "runs"
    raw = {
        "name": "prop",
        "model": model,
        "data": {"train": str(property_dir / "train.h5"), "test": str(property_dir / "test.h5"), **data},
        "training": {"iterations": 3, **training},
        "output": {"dir": str(runs), "plot": "none"},  # pictures are test_pictures.py's (0.4 s a run)
    }
    if through_yaml:  # the same values written out and read back as a user's file would be
        try:
            raw = parse_yaml(yaml.safe_dump(raw), "prop.yaml")
        except DnnError as error:
            assert "\n" not in error.message
            return
    target = runs / f"run-{next(_runs)}"
    try:
        config = validate_config(raw, "prop.yaml")
        metrics, _, _ = run_training(config, run_dir=target)
    except DnnError as error:  # a clean refusal: one line, and no complete run claimed
        assert error.message and "\n" not in error.message
        assert not target.exists()
        return
    finally:
        leftovers = sorted(p.name for p in runs.iterdir()) if runs.exists() else []
        # an unfinished run may stay only as a diverged run's last good parameters
        for name in leftovers:
            if name.endswith(".partial"):
                assert (runs / name / "metrics.json").exists(), name
                shutil.rmtree(runs / name)
    bundle = load_model(target)
    assert all(np.all(np.isfinite(p)) for p in bundle.network.params.values())
    assert metrics["run_dir"] == str(target)
    shutil.rmtree(target)


# ---- gradients -------------------------------------------------------------------------------


@st.composite
def small_networks(draw: st.DrawFn) -> tuple[Network, np.ndarray, np.ndarray, float]:
    output = draw(st.sampled_from(["sigmoid", "softmax", "linear"]))
    hidden = draw(st.lists(st.integers(1, 4), max_size=3))
    n_out = {"sigmoid": 1, "softmax": draw(st.integers(2, 4)), "linear": draw(st.integers(1, 3))}[output]
    sizes = [draw(st.integers(1, 5)), *hidden, n_out]
    activations = [draw(st.sampled_from(HIDDEN)) for _ in hidden] + [output]
    seed = draw(st.integers(0, 2**32 - 1))
    network = Network.create(sizes, activations, init=draw(st.sampled_from(["xavier", "he", "random"])), seed=seed % 1000, random_scale=0.5)
    rng = np.random.default_rng(seed)
    # random biases: with zero biases a dead relu feeds exactly z = 0 to the next layer, a kink
    # where no finite difference can match a one-sided derivative
    for l in range(1, len(sizes)):
        network.params[f"b{l}"] = rng.normal(size=(sizes[l], 1))
    m = draw(st.integers(1, 6))
    X = rng.normal(size=(sizes[0], m))
    if output == "sigmoid":
        Y = (rng.random((1, m)) > 0.5).astype(float)
    elif output == "softmax":
        Y = np.eye(n_out)[:, rng.integers(0, n_out, size=m)]
    else:
        Y = rng.normal(size=(n_out, m))
    l2 = draw(st.sampled_from([0.0, 0.0, 0.7]))
    return network, X, Y, l2


@settings(max_examples=60, deadline=None)
@given(case=small_networks())
def test_gradients_match_finite_differences(case) -> None:
    network, X, Y, l2 = case
    options = PassOptions(cost={"l2_lambda": l2}, backward={"l2_lambda": l2}) if l2 else None
    result = gradient_check(network, X, Y, epsilon=1e-6, threshold=1e-6, options=options)
    assert result.passed, (network.layer_sizes, network.activations, l2, result.per_parameter)
