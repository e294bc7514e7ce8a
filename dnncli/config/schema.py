"""The config's schema (pydantic): every key, its type, default, bounds and meaning (an example
config: :mod:`dnncli.config`). Sizes and activations that depend on the data may be left out;
:mod:`dnncli.run.prepare` fills them in once the data is loaded.
"""

from __future__ import annotations

import re
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from dnncli.data.tables import is_table
from dnncli.network.activations import DEFAULT_LEAKY_SLOPE
from dnncli.network.initializers import DEFAULT_RANDOM_SCALE
from dnncli.training.first_layer import gram_refusal
from dnncli.training.settings import TrainSettings

Activation = Literal["relu", "leaky_relu", "tanh", "sigmoid", "linear", "softmax"]
HiddenActivation = Literal["relu", "leaky_relu", "tanh", "sigmoid", "linear"]
OutputActivation = Literal["sigmoid", "softmax", "linear"]
Init = Literal["zeros", "random", "xavier", "he"]

# Bounds that turn absurd values into a clear refusal instead of a hang or a crash.
MAX_ITERATIONS = 10**9
MIN_SCALE = 1e-30  # data.scale: beyond 1e±30 any pixel leaves float32's range (or vanishes)
# float32's and float64's smallest normal numbers: a smaller epsilon vanishes in the sum
# sqrt(s) + epsilon (or is a subnormal that overflows the step), and 0/0 is NaN
SMALLEST_NORMAL = {"float32": 1.1754943508222875e-38, "float64": 2.2250738585072014e-308}


class _Section(BaseModel):
    # strict: a string is never silently read as a number, nor a float as an integer
    # allow_inf_nan=False: `.inf` or `.nan` is never a usable rate, scale or slope
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


class ModelConfig(_Section):
    layers: list[int] | None = Field(
        default=None, description="All sizes [n0, n1, ..., nL]; n0 and nL may come from the data."
    )
    hidden: list[int] | None = Field(
        default=None, description="Hidden sizes only; input and output sizes come from the data."
    )
    activations: list[Activation] | None = Field(
        default=None, description="One activation per layer (L of them)."
    )
    hidden_activation: HiddenActivation = Field(
        default="relu", description="Activation of every hidden layer when 'activations' is not given.",
    )
    output_activation: OutputActivation | None = Field(
        default=None, description="Default: sigmoid for 2 classes, softmax for more, linear for a table's regression."
    )
    init: Init = Field(
        default="xavier", description="zeros; random: randn x init_scale; xavier: randn / sqrt(n[l-1]); he: randn x sqrt(2/n[l-1]).",
    )
    init_scale: float = Field(default=DEFAULT_RANDOM_SCALE, gt=0, description="Scale of the 'random' init.")
    seed: int | None = Field(
        default=1, ge=0, le=2**32 - 1, description="Seed of numpy.random.RandomState, drawn layer by layer as the course does; null: drawn at random and written into the run's config.yaml.",
    )
    leaky_relu_slope: float = Field(
        default=DEFAULT_LEAKY_SLOPE, ge=0, lt=1, description="Slope of leaky_relu for z < 0.",
    )

    @model_validator(mode="after")
    def _check_architecture(self) -> "ModelConfig":
        if self.layers is not None and self.hidden is not None:
            raise ValueError("give either 'layers' (all sizes) or 'hidden' (hidden sizes), not both")
        sizes = self.layers if self.layers is not None else self.hidden
        if sizes is not None:
            key = "layers" if self.layers is not None else "hidden"
            for i, n in enumerate(sizes):
                if n < 1:
                    raise ValueError(f"{key}[{i}] = {n}: every layer size must be at least 1")
        if self.layers is not None and len(self.layers) < 2:
            raise ValueError(
                f"layers = {self.layers}: need at least an input and an output size, e.g. [12288, 1]"
            )
        # the count of layers is known without the data (only n0 and nL come from it): the one
        # place that checks the activations against it
        n_layers = len(self.layers) - 1 if self.layers is not None else len(self.hidden or []) + 1
        if self.activations is not None:
            if len(self.activations) != n_layers:
                raise ValueError(
                    f"activations has {len(self.activations)} entries but the network has "
                    f"{n_layers} layers: give one activation per layer"
                )
            for l, name in enumerate(self.activations[:-1], start=1):
                if name == "softmax":
                    raise ValueError(
                        f"activations[{l - 1}] = softmax: softmax is only allowed on the output layer"
                    )
            if self.activations[-1] not in ("sigmoid", "softmax", "linear"):
                raise ValueError(
                    f"output activation {self.activations[-1]!r} has no loss; use sigmoid "
                    "(binary), softmax (multi-class) or linear (regression)"
                )
        output = self.activations[-1] if self.activations else self.output_activation
        if self.layers is not None and output == "sigmoid" and self.layers[-1] != 1:
            raise ValueError(
                f"a sigmoid output has 1 unit (binary classification), not {self.layers[-1]}; "
                f"use softmax for {self.layers[-1]} classes"
            )
        if self.layers is not None and output == "softmax" and self.layers[-1] < 2:
            raise ValueError("a softmax output needs at least 2 units (one per class)")
        return self


# a memory budget (MB) beyond any machine's memory: larger values are refused, not rounded to bytes
MAX_MEMORY_BUDGET_MB = 1e9


# keys of HDF5 files and image folders, and keys of tables: each refused for the other kind
# (cache_dir serves both: decoded folders of images, encoded tables over the memory budget)
IMAGE_AND_HDF5_KEYS = (
    "x_key", "y_key", "test_x_key", "test_y_key", "classes_key", "validation_x_key", "validation_y_key", "scale",
    "image_size", "image_mode", "resize", "classes",
)
TABLE_KEYS = ("target", "features", "drop", "categorical", "task")


class DataConfig(_Section):
    train: str = Field(
        description="HDF5 file with the training set, a folder of images (one subfolder per class), or a "
        "table (.csv, .parquet: one example a row)."
    )
    test: str | None = Field(default=None, description="HDF5 file with the test set, a folder of images, or a table.")
    x_key: str = Field(
        default="train_set_x", description="Key of the training examples in the training file.",
    )
    y_key: str = Field(
        default="train_set_y", description="Key of the training labels (or targets) in the training file.",
    )
    test_x_key: str = Field(
        default="test_set_x", description="Key of the test examples in the test file.",
    )
    test_y_key: str = Field(
        default="test_set_y", description="Key of the test labels (or targets) in the test file.",
    )
    classes_key: str = Field(
        default="list_classes", description="Key of the class names, when the file has them.",
    )
    memory_budget_mb: Literal["auto"] | float = Field(
        default="auto",
        description="Training inputs whose float matrix exceeds this (MB, at most 1e9) are kept as stored "
        "and scaled a batch at a time; over it as stored, they are read from the file batch by batch. "
        "auto: half of the memory available at the start (cgroup limit and MemAvailable).",
    )
    scale: Literal["auto", "none"] | float = Field(
        default="auto",
        description="Divide inputs by this; auto: integer pixels by their maximum (255 for "
        "uint8), floats unchanged.",
    )

    train_range: list[int] | None = Field(
        default=None, description="[start, stop]: train on these examples (a table's rows) of the file only."
    )
    test_range: list[int] | None = Field(
        default=None,
        description="[start, stop]: test on these examples; without data.test, of the training file.",
    )
    train_size: int | None = Field(
        default=None, ge=1,
        description="Train on this many of the training examples (after train_range and the validation "
        "hold-out), drawn at random with the run's seed; a smaller size takes a subset of a larger one's "
        "examples. The course's training-set size m, for a learning curve (a sweep's scale picture).",
    )
    validation: str | None = Field(
        default=None, description="HDF5 file with a validation set, a folder of images, or a table."
    )
    validation_x_key: str | None = Field(default=None, description="Default: x_key.")
    validation_y_key: str | None = Field(default=None, description="Default: y_key.")
    validation_fraction: float | None = Field(
        default=None, gt=0, lt=1, description="Hold out this fraction of the training examples."
    )

    # folders of images given as train, test or validation (see dnn data import)
    image_size: list[int] = Field(
        default=[64, 64], description="Folders of images: [height, width] of every example."
    )
    image_mode: Literal["rgb", "grayscale"] = Field(
        default="rgb", description="Folders of images: rgb (h, w, 3) or grayscale (h, w) examples."
    )
    resize: Literal["squash", "crop", "pad"] = Field(
        default="squash", description="Folders of images: squash, crop (the centre) or pad (black borders)."
    )
    classes: list[str] | None = Field(
        default=None, description="Folders of images: the class folders in label order (default: all, sorted)."
    )
    cache_dir: str | None = Field(
        default=None, description="Where folders of images are cached once decoded, and tables over the memory budget once encoded (default: <output.dir>/.cache)."
    )
    follow_links: bool = Field(
        default=False,
        description="Folders of images: follow symbolic links that lead out of the folder (by default they are passed over, named).",
    )

    # tables (.csv, .parquet) given as train, test or validation
    target: str | None = Field(default=None, description="Tables: the label column (required for a table).")
    features: list[str] | None = Field(
        default=None, description="Tables: the columns the network reads (default: every other column)."
    )
    drop: list[str] | None = Field(default=None, description="Tables: columns left out (ids, free text).")
    categorical: list[str] | None = Field(
        default=None, description="Tables: the columns one-hot encoded (default: the columns that are not numbers)."
    )
    task: Literal["auto", "classification", "regression"] = Field(
        default="auto",
        description="Tables: auto calls a text target, or whole numbers with few values, a classification; "
        "other numbers a regression.",
    )

    @model_validator(mode="after")
    def _check_images(self) -> "DataConfig":
        if not (len(self.image_size) == 2 and all(1 <= n <= 4096 for n in self.image_size)):
            raise ValueError(f"image_size = {self.image_size}: expected [height, width] between 1 and 4096, e.g. [64, 64]")
        if self.classes is not None and (len(set(self.classes)) != len(self.classes) or len(self.classes) < 2):
            raise ValueError(f"classes = {self.classes}: expected at least two different folder names")
        return self

    @model_validator(mode="after")
    def _check_table_keys(self) -> "DataConfig":
        table = is_table(self.train)
        for key in ("test", "validation"):
            path = getattr(self, key)
            if path is not None and is_table(path) != table:
                raise ValueError(
                    f"{key} = {path!r}: train is {'a table' if table else 'not a table'} ({self.train}), so {key} "
                    f"must be {'a table too (.csv, .parquet)' if table else 'an HDF5 file or a folder of images'}"
                )
        # a key counts as given when it differs from its default (a resolved config lists every key)
        given = {key for key in self.model_fields_set if getattr(self, key) != type(self).model_fields[key].get_default()}
        if table:
            stray = [key for key in IMAGE_AND_HDF5_KEYS if key in given]
            if stray:
                raise ValueError(f"{stray[0]} has no meaning for a table ({self.train}); its columns are named by target, features, drop")
            if self.target is None:
                raise ValueError(f"train is a table ({self.train}): give its label column as target")
        else:
            stray = [key for key in TABLE_KEYS if key in given]
            if stray:
                raise ValueError(f"{stray[0]} applies to tables (.csv, .parquet), and train ({self.train}) is not one")
        return self

    @model_validator(mode="after")
    def _check_scale(self) -> "DataConfig":
        if isinstance(self.scale, float) and not self.scale > 0:
            raise ValueError(f"scale = {self.scale}: must be a positive divisor, 'auto' or 'none'")
        if isinstance(self.scale, float) and not MIN_SCALE <= self.scale <= 1 / MIN_SCALE:
            raise ValueError(
                f"scale = {self.scale}: a divisor this {'small' if self.scale < 1 else 'large'} turns every input "
                f"into an overflow or a zero; expected a number between {MIN_SCALE:g} and {1 / MIN_SCALE:g}"
            )
        return self

    @model_validator(mode="after")
    def _check_memory_budget(self) -> "DataConfig":
        # pydantic refuses infinity and NaN; a finite budget this large would overflow in bytes
        if isinstance(self.memory_budget_mb, float) and not 0 < self.memory_budget_mb <= MAX_MEMORY_BUDGET_MB:
            raise ValueError(
                f"memory_budget_mb = {self.memory_budget_mb}: must be a positive number of MB (at most "
                f"{MAX_MEMORY_BUDGET_MB:g}) or 'auto'"
            )
        return self

    @model_validator(mode="after")
    def _check_ranges(self) -> "DataConfig":
        for key in ("train_range", "test_range"):
            value = getattr(self, key)
            if value is not None and not (len(value) == 2 and 0 <= value[0] < value[1]):
                raise ValueError(
                    f"{key} = {value}: expected [start, stop] with 0 <= start < stop, e.g. [0, 8000]"
                )
        if self.validation is not None and self.validation_fraction is not None:
            raise ValueError(
                "give either 'validation' (a file) or 'validation_fraction' (held out), not both"
            )
        return self


Optimizer = Literal["gd", "momentum", "rmsprop", "adam"]
Schedule = Literal["constant", "exponential", "inverse_time", "step"]

# Every engine setting's default is the engine's (dnncli.training.settings.TrainSettings), written
# there once; this section adds what a run needs beyond the engine (seed, dtype, checkpoints, output)
ENGINE = TrainSettings()


class TrainingConfig(_Section):
    optimizer: Optimizer = Field(default=ENGINE.optimizer, description="gd, momentum, rmsprop or adam.")
    learning_rate: float = Field(
        default=ENGINE.learning_rate, gt=0, description="The step size; the initial one when a schedule decays it.",
    )
    iterations: int | None = Field(
        default=ENGINE.iterations, ge=1, le=MAX_ITERATIONS, description="Budget in update steps (one per epoch with full batches); null with epochs.",
    )
    epochs: int | None = Field(
        default=ENGINE.epochs, ge=1, le=MAX_ITERATIONS,
        description="Budget in passes over the data (instead of iterations).",
    )
    batch_size: int | None = Field(
        default=ENGINE.batch_size, ge=1, description="Examples per update step; null: the whole training set."
    )
    shuffle: bool = Field(default=ENGINE.shuffle, description="Shuffle the examples every epoch (mini-batches).")
    seed: int | None = Field(
        default=None, ge=0, le=2**32 - 1,
        description="Seed of shuffling, dropout and the validation split; default: model.seed.",
    )
    beta: float = Field(default=ENGINE.beta, ge=0, lt=1, description="Momentum's averaging factor.")
    beta1: float = Field(default=ENGINE.beta1, ge=0, lt=1, description="Adam's first-moment factor.")
    beta2: float = Field(default=ENGINE.beta2, ge=0, lt=1, description="Adam's and RMSProp's second-moment factor.")
    epsilon: float = Field(default=ENGINE.epsilon, gt=0, description="Adam's and RMSProp's denominator guard.")
    schedule: Schedule = Field(default=ENGINE.schedule, description="Learning-rate schedule over epochs.")
    decay_rate: float | None = Field(default=ENGINE.decay_rate, gt=0, description="The schedule's rate.")
    decay_steps: int = Field(default=ENGINE.decay_steps, ge=1, description="Epochs per unit of decay.")
    l2_lambda: float = Field(default=ENGINE.l2_lambda, ge=0, description="L2 penalty lambda (0: none).")
    keep_prob: float | list[float] = Field(
        default=ENGINE.keep_prob,
        description="Dropout keep probability of the hidden layers (one, or one per hidden layer).",
    )
    early_stopping: bool = Field(
        default=ENGINE.early_stopping, description="Stop when the validation cost stops improving."
    )
    patience: int = Field(
        default=ENGINE.patience, ge=1, description="Validation checks without improvement before stopping."
    )
    min_delta: float = Field(
        default=ENGINE.min_delta, ge=0, description="Smallest decrease of the validation cost that counts."
    )
    keep_best: bool = Field(default=ENGINE.keep_best, description="Keep the parameters of the best validation cost.")
    dtype: Literal["float64", "float32"] = Field(default="float64", description="Floating-point type of training.")
    first_layer: Literal["auto", "plain", "gram"] = Field(
        default=ENGINE.first_layer,
        description="How layer 1 is trained: gram keeps W1 = a W1_0 - C X^T (gd and momentum only), "
        "plain multiplies by X every step, auto chooses from the sizes.",
    )
    gram_budget_mb: float = Field(
        default=ENGINE.gram_budget_mb, gt=0, description="Largest Gram matrix X^T X (MB) auto accepts."
    )
    record_every: int = Field(
        default=ENGINE.record_every, ge=1,
        description="Record the cost every N iterations (epochs with mini-batches).",
    )
    print_every: int | None = Field(
        default=None, ge=1, description="With --verbose, print the cost every N (default record_every)."
    )
    checkpoint_every: int = Field(
        default=100, ge=0, le=MAX_ITERATIONS,
        description="Write a resumable checkpoint every N epochs (iterations with full batches); 0: only "
        "when interrupted.",
    )
    log_every_seconds: float = Field(
        default=10.0, gt=0, le=1e9,
        description="When stderr is not a terminal (a CI log), print a progress line this often (seconds).",
    )
    checkpoint_min_seconds: float = Field(
        default=5.0, ge=0, le=1e9,
        description="A periodic checkpoint waits until this many seconds have passed since the last one "
        "(or the start), so fast iterations are not slowed by writes; 0: every checkpoint_every epochs.",
    )

    @model_validator(mode="after")
    def _check_training(self) -> "TrainingConfig":
        if self.epochs is not None:
            if self.iterations is not None and "iterations" in self.model_fields_set:
                raise ValueError(
                    f"iterations = {self.iterations} and epochs = {self.epochs}: give one budget "
                    "(set the other to null)"
                )
            self.iterations = None
        elif self.iterations is None:
            raise ValueError("no budget: set iterations or epochs")
        if self.optimizer in ("adam", "rmsprop") and self.epsilon < SMALLEST_NORMAL[self.dtype]:
            raise ValueError(
                f"epsilon = {self.epsilon} is below {self.dtype}'s smallest normal number "
                f"({SMALLEST_NORMAL[self.dtype]:.3g}): it vanishes from sqrt(s) + epsilon and a zero "
                "gradient then gives 0/0 = NaN; use e.g. 1e-8"
            )
        probs = self.keep_prob if isinstance(self.keep_prob, list) else [self.keep_prob]
        for k in probs:
            if not 0 < k <= 1:
                raise ValueError(f"keep_prob = {k}: a keep probability must be in (0, 1] (1: no dropout)")
        if self.schedule == "constant":
            if self.decay_rate is not None:
                raise ValueError(
                    f"decay_rate = {self.decay_rate} has no effect with schedule constant; "
                    "choose schedule exponential, inverse_time or step"
                )
        elif self.decay_rate is None:
            raise ValueError(f"schedule {self.schedule} needs a decay_rate")
        elif self.schedule in ("exponential", "step") and self.decay_rate > 1:
            raise ValueError(
                f"decay_rate = {self.decay_rate}: schedule {self.schedule} multiplies the learning "
                "rate by it, so it must be at most 1"
            )
        return self

    @model_validator(mode="after")
    def _check_first_layer(self) -> "TrainingConfig":
        refusal = gram_refusal(self.optimizer) if self.first_layer == "gram" else None
        if refusal is not None:
            raise ValueError(f"first_layer = gram: {refusal}; use first_layer auto or plain")
        return self


class OutputConfig(_Section):
    dir: str = Field(default="runs", description="Where run directories go: <dir>/<name>/.")
    plot: Literal["png", "svg", "none"] = Field(
        default="png",
        description="The run's pictures (loss, and boundary for 2-D inputs): png, svg, or none (no matplotlib).",
    )


class Config(_Section):
    name: str = Field(default="run", min_length=1, max_length=100)
    model: ModelConfig = Field(default_factory=ModelConfig)
    data: DataConfig
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    output: OutputConfig = Field(default_factory=OutputConfig)

    @model_validator(mode="after")
    def _check_name(self) -> "Config":
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", self.name):
            raise ValueError(
                f"name = {self.name!r}: use letters, digits, '.', '_' or '-' (it names a directory)"
            )
        if self.name == "latest" or self.name.endswith(".partial"):
            raise ValueError(
                f"name = {self.name!r}: 'latest' and names ending in '.partial' are dnn's own (the link "
                "to the newest run, unfinished runs); choose another name"
            )
        return self

    @model_validator(mode="after")
    def _check_validation(self) -> "Config":
        has_validation = self.data.validation is not None or self.data.validation_fraction is not None
        for key in ("early_stopping", "keep_best"):
            if getattr(self.training, key) and not has_validation:
                raise ValueError(
                    f"training.{key} needs a validation set: set data.validation_fraction "
                    "(e.g. 0.2) or data.validation (a file)"
                )
        return self

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def to_yaml(self) -> str:
        """Block style, one key a line, every key present (defaults included)."""
        return yaml.safe_dump(self.to_dict(), sort_keys=False, default_flow_style=False)
