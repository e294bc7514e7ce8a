"""The YAML config: schema (pydantic), loading, command-line overrides, readable errors.

A config names the network, the data and the training settings::

    name: cat_deep
    model: {layers: [12288, 20, 7, 5, 1], activations: [relu, relu, relu, sigmoid],
            init: xavier, seed: 1}
    data: {train: datasets/train_catvnoncat.h5, test: datasets/test_catvnoncat.h5}
    training: {learning_rate: 0.0075, iterations: 2500}

Sizes and activations that depend on the data (the input size, the number of classes) may be left
out; :mod:`dnncli.run.prepare` fills them in once the data is loaded.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any, Callable, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from dnncli.errors import ConfigError

Activation = Literal["relu", "leaky_relu", "tanh", "sigmoid", "linear", "softmax"]
HiddenActivation = Literal["relu", "leaky_relu", "tanh", "sigmoid", "linear"]
OutputActivation = Literal["sigmoid", "softmax", "linear"]
Init = Literal["zeros", "random", "xavier", "he"]

# Bounds that turn absurd values into a clear refusal instead of a hang or a crash.
MAX_ITERATIONS = 10**9
MAX_CONFIG_BYTES = 1 << 20
MAX_YAML_VALUES = 100_000  # after expanding anchors and aliases ("billion laughs")
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
    hidden_activation: HiddenActivation = "relu"
    output_activation: OutputActivation | None = Field(
        default=None, description="Default: sigmoid for 2 classes, softmax for more."
    )
    init: Init = "xavier"
    init_scale: float = Field(default=0.01, gt=0, description="Scale of the 'random' init.")
    seed: int | None = Field(default=1, ge=0, le=2**32 - 1)
    leaky_relu_slope: float = Field(default=0.01, ge=0, lt=1)

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


class DataConfig(_Section):
    train: str = Field(description="HDF5 file with the training set, or a folder of images (one subfolder per class).")
    test: str | None = Field(default=None, description="HDF5 file with the test set, or a folder of images.")
    x_key: str = "train_set_x"
    y_key: str = "train_set_y"
    test_x_key: str = "test_set_x"
    test_y_key: str = "test_set_y"
    classes_key: str = "list_classes"
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
        default=None, description="[start, stop]: train on these examples of the file only."
    )
    test_range: list[int] | None = Field(
        default=None,
        description="[start, stop]: test on these examples; without data.test, of the training file.",
    )
    validation: str | None = Field(default=None, description="HDF5 file with a validation set, or a folder of images.")
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
        default=None, description="Where folders of images are cached once decoded (default: <output.dir>/.cache)."
    )

    @model_validator(mode="after")
    def _check_images(self) -> "DataConfig":
        if not (len(self.image_size) == 2 and all(1 <= n <= 4096 for n in self.image_size)):
            raise ValueError(f"image_size = {self.image_size}: expected [height, width] between 1 and 4096, e.g. [64, 64]")
        if self.classes is not None and (len(set(self.classes)) != len(self.classes) or len(self.classes) < 2):
            raise ValueError(f"classes = {self.classes}: expected at least two different folder names")
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


class TrainingConfig(_Section):
    optimizer: Optimizer = Field(default="gd", description="gd, momentum, rmsprop or adam.")
    learning_rate: float = Field(default=0.0075, gt=0)
    iterations: int | None = Field(default=2500, ge=1, le=MAX_ITERATIONS)
    epochs: int | None = Field(
        default=None, ge=1, le=MAX_ITERATIONS, description="Budget in passes over the data (instead of iterations)."
    )
    batch_size: int | None = Field(
        default=None, ge=1, description="Examples per update step; null: the whole training set."
    )
    shuffle: bool = Field(default=True, description="Shuffle the examples every epoch (mini-batches).")
    seed: int | None = Field(
        default=None, ge=0, le=2**32 - 1,
        description="Seed of shuffling, dropout and the validation split; default: model.seed.",
    )
    beta: float = Field(default=0.9, ge=0, lt=1, description="Momentum's averaging factor.")
    beta1: float = Field(default=0.9, ge=0, lt=1, description="Adam's first-moment factor.")
    beta2: float = Field(default=0.999, ge=0, lt=1, description="Adam's and RMSProp's second-moment factor.")
    epsilon: float = Field(default=1e-8, gt=0, description="Adam's and RMSProp's denominator guard.")
    schedule: Schedule = Field(default="constant", description="Learning-rate schedule over epochs.")
    decay_rate: float | None = Field(default=None, gt=0, description="The schedule's rate.")
    decay_steps: int = Field(default=1, ge=1, description="Epochs per unit of decay.")
    l2_lambda: float = Field(default=0.0, ge=0, description="L2 penalty lambda (0: none).")
    keep_prob: float | list[float] = Field(
        default=1.0, description="Dropout keep probability of the hidden layers (one, or one per hidden layer)."
    )
    early_stopping: bool = Field(default=False, description="Stop when the validation cost stops improving.")
    patience: int = Field(default=10, ge=1, description="Validation checks without improvement before stopping.")
    min_delta: float = Field(default=0.0, ge=0, description="Smallest decrease of the validation cost that counts.")
    keep_best: bool = Field(default=False, description="Keep the parameters of the best validation cost.")
    dtype: Literal["float64", "float32"] = Field(default="float64", description="Floating-point type of training.")
    first_layer: Literal["auto", "plain", "gram"] = Field(
        default="auto",
        description="How layer 1 is trained: gram keeps W1 = a W1_0 - C X^T (gd and momentum only), "
        "plain multiplies by X every step, auto chooses from the sizes.",
    )
    gram_budget_mb: float = Field(default=512.0, gt=0, description="Largest Gram matrix X^T X (MB) auto accepts.")
    record_every: int = Field(default=100, ge=1, description="Record the cost every N iterations (epochs with mini-batches).")
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
        from dnncli.training.first_layer import gram_refusal

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


# ---- YAML ------------------------------------------------------------------------------------


class _Loader(yaml.SafeLoader):
    """Safe YAML that also reads ``1e-3`` as a number (YAML 1.1 wants ``1.0e-3``)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)


def _expanded_size(node: yaml.Node, sizes: dict[int, int], open_nodes: set[int], source: str) -> int:
    """How many values ``node`` becomes once every alias is expanded (memoized: linear time)."""
    key = id(node)
    if key in sizes:
        return sizes[key]
    if key in open_nodes:
        raise ConfigError(f"{source}: an alias refers to itself (a recursive structure); not a config")
    open_nodes.add(key)
    if isinstance(node, yaml.SequenceNode):
        children = node.value
    elif isinstance(node, yaml.MappingNode):
        children = [child for pair in node.value for child in pair]
    else:
        children = []
    total = 1
    for child in children:
        total += _expanded_size(child, sizes, open_nodes, source)
        if total > MAX_YAML_VALUES:
            raise ConfigError(
                f"{source}: expands to more than {MAX_YAML_VALUES} values through anchors and "
                "aliases; refused (no config needs that many)"
            )
    open_nodes.discard(key)
    sizes[key] = total
    return total


def parse_yaml(text: str, source: str) -> Any:
    """Safe YAML (no tags that build objects) with bounded size, nesting and alias expansion."""
    if len(text) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{source}: {len(text)} characters is too large for a config (limit {MAX_CONFIG_BYTES})")
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        # checked before constructing: the constructed objects share aliased lists, but anything
        # walking them (validation, dumping) would walk every expanded copy
        _expanded_size(node, {}, set(), source)
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{source}:{where}: not valid YAML: {problem}") from None
    except RecursionError:
        raise ConfigError(f"{source}: nested too deeply to be a config") from None
    finally:
        loader.dispose()


def read_yaml_file(path: str | Path, what: str = "config") -> Any:
    """A YAML file a user hands in (a config, a sweep file), read bounded and safely: what it
    holds, or one line naming the file."""
    path = Path(path)
    try:
        with path.open(encoding="utf-8") as f:
            text = f.read(MAX_CONFIG_BYTES + 1)  # bounded: a config is never megabytes long
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such {what} file") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, expected a YAML {what} file") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text file, expected a YAML {what}") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    return parse_yaml(text, str(path))


def read_config_file(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    raw = read_yaml_file(path)
    if raw is None:
        raise ConfigError(f"{path}: the config is empty; expected keys such as model, data, training")
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{path}: expected a mapping of keys (name, model, data, training), "
            f"got a {type(raw).__name__}"
        )
    return raw


# ---- overrides -------------------------------------------------------------------------------


def apply_overrides(raw: dict[str, Any], overrides: list[str], source: str = "--set") -> dict[str, str]:
    """Apply ``section.key=value`` overrides in place; values are read as YAML (``0.01``, ``[4, 1]``).
    Returns each overridden key (dotted) with the override as given, for error messages.

    ``model.hidden`` replaces the config's ``model.layers`` (and ``model.layers`` its
    ``model.hidden``); activations given per layer then become ``hidden_activation`` and
    ``output_activation``, so that they fit the new number of layers."""
    applied: dict[str, str] = {}
    for item in overrides:
        key, sep, value_text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"{source} {item!r}: expected KEY=VALUE, e.g. training.learning_rate=0.01")
        parts = key.split(".")
        node = raw
        for depth, part in enumerate(parts[:-1]):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                where = ".".join(parts[: depth + 1])
                raise ConfigError(f"{source} {item!r}: {where} is a value, not a section")
            node = child
        node[parts[-1]] = parse_yaml(value_text, f"{source} {key}")
        applied[key] = item
    _follow_architecture(raw, applied, source)
    return applied


def _follow_architecture(raw: dict[str, Any], applied: dict[str, str], source: str) -> None:
    """After ``--set model.hidden=...`` (or ``model.layers``), drop the other way of giving the
    sizes, and turn per-layer activations the new sizes no longer fit into hidden and output ones."""
    model = raw.get("model")
    if not isinstance(model, dict):
        return
    if "model.hidden" in applied and "model.layers" not in applied and model.get("hidden") is not None:
        model.pop("layers", None)
        n_layers = len(model["hidden"]) + 1 if isinstance(model["hidden"], list) else None
        given = "model.hidden"
    elif "model.layers" in applied and "model.hidden" not in applied and model.get("layers") is not None:
        model.pop("hidden", None)
        n_layers = len(model["layers"]) - 1 if isinstance(model["layers"], list) else None
        given = "model.layers"
    else:
        return
    activations = model.get("activations")
    if "model.activations" in applied or not isinstance(activations, list) or not activations:
        return
    if given == "model.layers" and len(activations) == n_layers:
        return  # same depth: the config's activations still fit
    del model["activations"]
    if "model.output_activation" not in applied:
        model["output_activation"] = activations[-1]
    hidden = activations[:-1]
    if hidden and "model.hidden_activation" not in applied:
        if len(set(map(str, hidden))) > 1:
            raise ConfigError(
                f"{source} {applied[given]!r}: the config's model.activations {activations} mix hidden "
                f"activations, so they cannot follow the new sizes; also {source} model.activations=[...] "
                "with one per layer"
            )
        model["hidden_activation"] = hidden[0]


# ---- validation with readable messages -------------------------------------------------------


_SECTIONS: dict[str, type[BaseModel]] = {
    "": Config,
    "model": ModelConfig,
    "data": DataConfig,
    "training": TrainingConfig,
    "output": OutputConfig,
}


def _loc_text(loc: tuple[Any, ...]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += ("." if text else "") + str(part)
    return text


def _known_keys(loc: tuple[Any, ...]) -> list[str]:
    section = ".".join(str(p) for p in loc[:-1] if not isinstance(p, int))
    model = _SECTIONS.get(section)
    return list(model.model_fields) if model else []


def _describe(error: dict[str, Any]) -> str:
    # pydantic adds the branch tried (e.g. 'float', 'literal[...]') to the location of union errors
    loc = tuple(p for p in error["loc"] if not (isinstance(p, str) and ("[" in p or p in ("float", "int", "str"))))
    return describe_error(error, _loc_text(loc), lambda: _known_keys(loc))


def describe_error(error: dict[str, Any], where: str, known_keys: Callable[[], list[str]]) -> str:
    """One of pydantic's validation errors as one line: ``where`` names the key (``training.beta``),
    ``known_keys`` gives the keys its section allows (for an unknown key's hint)."""
    kind = error["type"]
    got = error.get("input")
    ctx = error.get("ctx") or {}
    if kind == "extra_forbidden":
        known = known_keys()
        close = difflib.get_close_matches(str(error["loc"][-1]), known, n=1, cutoff=0.6)
        hint = f" (did you mean '{close[0]}'?)" if close else f" (known keys: {', '.join(known)})"
        return f"unknown key '{where}'{hint}"
    if kind == "missing":
        return f"missing required key '{where}'"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return f"{where}: expected an integer, got {got!r}"
    if kind in ("float_type", "float_parsing"):
        return f"{where}: expected a number, got {got!r}"
    if kind in ("string_type",):
        return f"{where}: expected a string, got {got!r}"
    if kind in ("list_type",):
        return f"{where}: expected a list, got {got!r}"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"{where}: expected a mapping of keys, got {got!r}"
    if kind == "literal_error":
        return f"{where}: expected {ctx.get('expected')}, got {got!r}"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        bound = {"greater_than": "> ", "greater_than_equal": ">= ", "less_than": "< ", "less_than_equal": "<= "}[kind]
        limit = next(iter(ctx.values()), "")
        return f"{where}: must be {bound}{limit}, got {got!r}"
    if kind == "bool_type":
        return f"{where}: expected true or false, got {got!r}"
    if kind == "string_too_short":
        return f"{where}: must not be empty"
    if kind == "string_too_long":
        return f"{where}: at most {ctx.get('max_length')} characters, got {len(str(got))}"
    if kind == "finite_number":
        return f"{where}: expected a finite number, got {got!r}"
    if kind == "value_error":
        message = str(ctx.get("error", error["msg"]))
        return f"{where}: {message}" if where else message
    return f"{where}: {error['msg']}" if where else error["msg"]


def _dedupe_union_errors(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # a union (e.g. scale: 'auto' | 'none' | float) reports one error per branch; keep one per key
    seen: set[str] = set()
    kept = []
    for error in errors:
        loc = tuple(
            p for p in error["loc"] if not (isinstance(p, str) and ("[" in p or p in ("float", "int", "str")))
        )
        key = _loc_text(loc)
        if key in seen:
            # 'auto' | float: the literal's message also names the number it could have been
            first = next(e for e in kept if e["_key"] == key)
            if first["type"] == "literal_error" and error["type"] in ("float_type", "float_parsing"):
                expected = str(first["ctx"]["expected"]).replace(" or ", ", ")
                first["ctx"] = {**first["ctx"], "expected": f"{expected} or a number"}
            continue
        seen.add(key)
        kept.append({**error, "_key": key})
    return kept


def _blame(error: dict[str, Any], source: str, overridden: dict[str, str]) -> str:
    """Where a wrong key or value came from: an override (``--set KEY=VALUE``) or the file."""
    loc = tuple(p for p in error["loc"] if not (isinstance(p, str) and ("[" in p or p in ("float", "int", "str"))))
    where = _loc_text(loc)
    for key, item in overridden.items():
        if where == key or where.startswith((key + ".", key + "[")):
            return f"--set {item}"
    # a check across keys (a section's, or the whole config's) that an override took part in
    related = [item for key, item in overridden.items() if not where or key.startswith(where + ".")]
    return f"{source} with --set {', --set '.join(related)}" if related else source


def validate_config(raw: dict[str, Any], source: str, overridden: dict[str, str] | None = None) -> Config:
    """The config ``raw`` read from ``source``; errors name the key, and ``--set KEY=VALUE``
    instead of the file for a key that an override gave (``overridden``: key -> override)."""
    try:
        return Config.model_validate(raw)
    except ValidationError as exc:
        by_source: dict[str, list[str]] = {}
        for error in _dedupe_union_errors(exc.errors()):
            by_source.setdefault(_blame(error, source, overridden or {}), []).append(_describe(error))
        raise ConfigError("; ".join(f"{where}: {'; '.join(messages)}" for where, messages in by_source.items())) from None


def load_config(
    path: str | Path, overrides: list[str] | None = None, name: str | None = None
) -> Config:
    """Read, override and validate a YAML config; the run name defaults to the file's stem."""
    raw = read_config_file(path)
    raw.setdefault("name", name or Path(path).stem)
    overridden = apply_overrides(raw, overrides or [])
    return validate_config(raw, str(path), overridden)
