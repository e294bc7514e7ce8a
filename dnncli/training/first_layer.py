"""How layer 1 is trained: the plain path (multiply by X every step) or the Gram path, behind one
interface (:class:`FirstLayer`), so that the training loop never asks which one it has.

The Gram path trains the first layer without touching the n_x-long inputs every step.

When every update of ``W1`` is a linear combination of its gradients (gradient descent, momentum,
an L2 penalty; full batch or mini-batches), ``W1`` never leaves the span of its initial value
``W1_0`` and the training inputs::

    W1 = a * W1_0 - C X^T          (a scalar ``a``, a matrix ``C`` of shape (n1, m))

because ``dW1 = dZ1 X_b^T / m_b + (lambda / m_b) W1`` is ``(lambda / m_b) a W1_0 - G_C X^T``
with ``G_C = (lambda / m_b) C - dZ1 / m_b`` scattered into the batch's columns. So
``Z1 = W1 X_b = a (W1_0 X)[:, b] - C (X^T X)[:, b]``: with ``P = W1_0 X`` and the Gram matrix
``G = X^T X`` computed once, a step costs O(n1 m m_b) instead of O(n1 n_x m_b), and the update of
``W1`` becomes one of ``(a, C)``. For the cat set (n_x = 12288, m = 209) that is about sixty times
less work per full-batch iteration.

The optimizer itself is unchanged: it steps the parameters ``W1_a`` (shape (1, 1)) and ``W1_C``
in place of ``W1``, with their gradients ``dW1_a``, ``dW1_C``. Since gradient descent and momentum
are linear in the gradients, stepping the coefficients steps ``W1`` exactly as the plain path would
(up to rounding). Adam and RMSProp are not linear (they divide element-wise by a running norm), so
they always take the plain path; so does a resumed run whose optimizer already holds a velocity.
The parameters are views of two vectors (the coefficients in float64, the other layers' in the
network's type) and ``backward`` writes the gradients into two more, so that the optimizer
(``step``) does four element-wise operations a step instead of two per parameter, the very same
ones on every element.

``W1`` is formed explicitly (``sync``) only when something outside the training steps reads it:
the epoch hook (checkpoints, last good parameters), the end of training (the saved model, the
final evaluation), and a history row that hands the parameters on (early stopping's best ones) or
scores a regression. Forming it costs one O(n1 n_x m) product (5 ms on the cat set, more than ten
steps), so the epoch hook runs only when it is due (``sync_due``): when a hook asks for it (a
checkpoint is due), at the end, on a stop request, and at least every second. A history row needs
no ``W1``: the test and validation sets go through layer 1 in the same coefficient form, with
``W1_0 X_t`` and ``X^T X_t`` computed once next to ``P`` and ``G`` (``evaluation_forward``), and
whether the parameters are finite is read from ``(a, C)`` and the other layers.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any, Callable, Iterator, Protocol, Sequence

import numpy as np

from dnncli.network.losses import LOSSES, l2_penalty, squared_norms
from dnncli.compute.kernels import divide_and_regularize, pack
from dnncli.network.model import Cache, Network
from dnncli.training.optimizers import Optimizer
from dnncli.compute.threads import largest_product, run_threads

FIRST_LAYER_MODES = ("auto", "plain", "gram")
# optimizers whose update is linear in the gradient: the only ones the Gram path is exact for
GRAM_OPTIMIZERS = ("gd", "momentum")
# on the Gram path the epoch hook (which needs W1 formed) runs at least this often
SYNC_SECONDS = 1.0
DEFAULT_GRAM_BUDGET_MB = 512
# below this much first-layer work per epoch (multiply-adds), the plain path is already fast
MIN_PLAIN_WORK = 10_000_000
# W1 @ X with few rows (logistic regression: one) is a matrix-vector product that streams X from
# memory: it costs about as much as a product with this many rows (cat logistic regression,
# 2000 iterations: plain 7.2 s, Gram 0.33 s)
STREAMING_ROWS = 8


def gram_refusal(optimizer: str) -> str | None:
    """Why the Gram path would be wrong for ``optimizer`` (None: it is exact). The one statement
    of the rule: the config's validation asks it too."""
    if optimizer in GRAM_OPTIMIZERS:
        return None
    return (
        f"the Gram path needs an optimizer whose steps are linear in the gradient (gd or momentum), "
        f"not {optimizer}"
    )


def choose_first_layer(
    mode: str,
    *,
    layer_sizes: Sequence[int],
    m: int,
    epochs: int,
    optimizer: str,
    itemsize: int = 8,
    budget_mb: float = DEFAULT_GRAM_BUDGET_MB,
    evaluations: int = 0,
    has_state: bool = False,
    in_memory: bool = True,
) -> tuple[str, str]:
    """``("gram" | "plain", why)`` for ``training.first_layer = mode``.

    ``auto`` takes the Gram path when it is exact for the optimizer, ``G`` fits the memory budget,
    and its estimated work (``G`` once, ``n1 m^2`` per epoch, ``W1`` formed ``evaluations`` times)
    is under half the plain path's (``2 n1 n_x m`` per epoch, n1 counted as at least
    ``STREAMING_ROWS``: a product with few rows is bound by reading X). ``gram`` insists, unless it would
    be wrong (an optimizer that is not linear in the gradient): then it is an error.
    """
    if mode not in FIRST_LAYER_MODES:
        raise ValueError(f"first_layer {mode!r}: expected one of {', '.join(FIRST_LAYER_MODES)}")
    if mode == "plain":
        return "plain", "training.first_layer = plain"
    n_x, n1 = int(layer_sizes[0]), int(layer_sizes[1])
    refusal = gram_refusal(optimizer)
    if refusal is not None:
        if mode == "gram":
            raise ValueError(f"first_layer gram: {refusal}; use first_layer auto or plain")
        return "plain", f"the {optimizer} optimizer is not linear in the gradient"
    if has_state:
        return "plain", "the optimizer resumes with a velocity from a checkpoint"
    if not in_memory:
        return "plain", "the training inputs are streamed a batch at a time"
    gram_mb = m * m * itemsize / 1e6
    if mode == "gram":
        return "gram", "training.first_layer = gram"
    if gram_mb > budget_mb:
        return "plain", f"G = X^T X would take {gram_mb:.0f} MB, over the {budget_mb:g} MB budget"
    rows = max(n1, STREAMING_ROWS)
    plain_work = 2.0 * rows * n_x * m * epochs
    if rows * n_x * m < MIN_PLAIN_WORK:
        return "plain", "the first layer is small: the plain path is already fast"
    gram_work = m * m * n_x + 2.0 * n1 * m * m * epochs + (n1 * n_x * m + 2 * n1 * m) * (evaluations + 1)
    if gram_work > 0.5 * plain_work:
        return "plain", f"the Gram path would save little here (n_x = {n_x}, m = {m})"
    return "gram", f"about {plain_work / gram_work:.0f}x less first-layer work (n_x = {n_x}, m = {m})"


class FirstLayerSettings(Protocol):
    """The training settings the choice of a path reads (:class:`~dnncli.training.settings.TrainSettings`
    has them)."""

    @property
    def first_layer(self) -> str: ...
    @property
    def optimizer(self) -> str: ...
    @property
    def gram_budget_mb(self) -> float: ...
    @property
    def record_every(self) -> int: ...


def first_layer_for(
    settings: FirstLayerSettings, layer_sizes: Sequence[int], X: Any, m: int, epochs: int, optimizer: Optimizer
) -> tuple[str, str]:
    """:func:`choose_first_layer` for a ``train`` call with ``settings`` on the inputs ``X`` (``m``
    examples), ``epochs`` to go and its ``optimizer`` (which may resume with a velocity)."""
    return choose_first_layer(
        settings.first_layer,
        layer_sizes=layer_sizes,
        m=m,
        epochs=epochs,
        optimizer=settings.optimizer,
        itemsize=X.dtype.itemsize,
        budget_mb=settings.gram_budget_mb,
        evaluations=epochs // settings.record_every,
        has_state=any(isinstance(v, np.ndarray) for v in optimizer.state_dict().values()),
        in_memory=isinstance(X, np.ndarray),
    )


class FirstLayer:
    """The plain path, and the interface both paths share.

    ``params`` is what the optimizer updates; ``forward``, ``cost`` and ``backward`` follow
    :class:`~dnncli.network.model.Network`'s, given a batch as ``columns`` of the training inputs
    (an index array or a slice; None: every example). ``evaluation_forward`` runs another set
    (test, validation) through the network without dropout, ``parameters_finite`` checks the
    parameters. ``sync`` makes ``network.params["W1"]`` current, ``explicit_optimizer_state``
    turns the optimizer's state dict into the form a checkpoint saves, ``hand_back_optimizer``
    leaves the optimizer holding that form when training ends, ``sync_due`` says whether the
    epoch hook should run now. ``evaluation_sets``: the inputs ``evaluation_forward`` will be
    given ``records`` times (the Gram path prepares for them).
    """

    # ``forward()`` over every example is the network's own pass over X, to the last bit: the end
    # of training may reuse the last such pass instead of making it again
    forward_is_the_networks = True

    def __init__(self, network: Network, X: Any, evaluation_sets: Sequence[Any] = (), records: int = 0) -> None:
        self.network = network
        self.X = X
        # one vector for all parameters: Adam and RMSProp then step them in one operation
        # (W1, b1... stay views of their own shapes; the same values)
        network.pack_parameters()
        self.params: dict[str, np.ndarray] = network.params

    def forward(
        self,
        columns: np.ndarray | slice | None = None,
        keep_probs: Sequence[float] | None = None,
        rng: np.random.Generator | None = None,
    ) -> tuple[np.ndarray, list[Cache]]:
        X = self.X if columns is None else self.X[:, columns]
        return self.network.forward(X, keep_probs, rng)

    def scoring_forward(self, block: int | None = None) -> tuple[np.ndarray, list[Cache]]:
        """``A[L]`` of every training example without dropout, for its cost and scores only
        (:func:`whole_set_forward`: nothing to go backward from)."""
        return whole_set_forward(self.network, self.X, block)

    def evaluation_forward(self, X: Any, block: int | None = None) -> tuple[np.ndarray, list[Cache]]:
        """``A[L]`` and the caches of the inputs ``X`` (a test or validation set), no dropout
        (``block``: :func:`whole_set_forward`'s)."""
        return whole_set_forward(self.network, X, block)

    def parameters_finite(self) -> bool:
        """Whether every parameter the optimizer steps is finite: on the Gram path ``(a, C)`` and
        the other layers' (W1 is then finite unless it overflows the network's type, which the
        end of training, where it is formed, catches)."""
        return all(np.isfinite(p).all() for p in self.params.values())

    def cost(self, AL: np.ndarray, caches: list[Cache], Y: np.ndarray, l2_lambda: float = 0.0) -> float:
        return self.network.cost(AL, caches, Y, l2_lambda)

    def backward(
        self,
        AL: np.ndarray,
        Y: np.ndarray,
        caches: list[Cache],
        l2_lambda: float = 0.0,
        optimizer: Optimizer | None = None,
    ) -> dict[str, np.ndarray]:
        """The gradients of ``params``, written where ``optimizer`` takes them (its
        ``gradient_buffers``) when it says where, so that its update need not gather them."""
        out = optimizer.gradient_buffers(self.params) if optimizer is not None else None
        return self.network.backward(AL, Y, caches, l2_lambda, out)

    def step(self, optimizer: Optimizer, grads: dict[str, np.ndarray]) -> None:
        """One update of the parameters by ``optimizer`` with ``grads`` (from ``backward``)."""
        optimizer.update(self.params, grads)

    def sync(self) -> None:
        """W1 is always explicit on the plain path."""

    def sync_due(self, needed: Callable[[], bool]) -> bool:
        """Whether the epoch hook runs now; ``needed()``: the end, a stop request, or a hook that
        says it is due (:meth:`~dnncli.training.settings.Hooks.epoch_end_due`). On the plain path
        W1 is free to see: after every epoch (``needed`` is not even asked)."""
        return True

    def explicit_optimizer_state(self, state: dict[str, Any]) -> dict[str, Any]:
        return state

    def hand_back_optimizer(self, optimizer: Optimizer) -> None:
        """At the end of training (done, stopped or failed): leave ``optimizer`` holding its state
        as the plain path keeps it, so that a later ``train`` call with it continues from it. The
        plain path's is that already."""

    @staticmethod
    def largest_product(layer_sizes: Sequence[int], m: int, batch: int) -> int:
        """Multiply-adds of a step's largest product (what decides the BLAS threads), known
        before the layer is made: the Gram path's G is computed with the threads it decides."""
        return largest_product(layer_sizes, batch)


def whole_set_forward(network: Network, X: Any, block: int | None = None) -> tuple[np.ndarray, list[Cache]]:
    """``network.forward(X)`` over every example, without dropout, for a cost and scores. Inputs
    read a batch at a time (``chunks()``: :class:`dnncli.data.columns.ScaledColumns`), and a
    matrix whose pass would hold more than the run's memory budget (``block``: examples at a time,
    :attr:`TrainData.score_block`), go through the network a block of examples at a time, keeping
    only the outputs and what the cost needs (:meth:`Network.forward_in_blocks`): every layer's
    activations over every example (``m × Σ n[l]`` floats, often more than the inputs themselves
    for a table's rows) are then never held."""
    if hasattr(X, "chunks"):
        return network.forward_in_blocks(X.chunks(), int(X.shape[1]))
    return network.scoring_forward(X, block)


class GramFirstLayer(FirstLayer):
    """Layer 1 of ``network`` kept as ``W1 = a W1_0 - C X^T`` over the training inputs ``X``.

    ``params`` holds ``W1_a``, ``W1_C`` and the network's other parameters (shared with it).
    """

    # layer 1 goes through P and G (``a P - C G``), which rounds otherwise than ``W1 @ X``
    forward_is_the_networks = False

    def __init__(
        self, network: Network, X: np.ndarray, evaluation_sets: Sequence[Any] = (), records: int = 0
    ) -> None:
        self.network = network
        self.X = X  # only read here and by ``sync``: never copied
        # G, P and the coefficients stay in float64 even for a float32 network: Z1 = a P - C G
        # subtracts two large, nearly equal terms, and float32 visibly loses the cat set's training
        # there (cost 0.068 instead of 0.084); the layers after the first run in the network's type
        dtype = np.float64
        X64 = X if X.dtype == dtype else X.astype(dtype)
        self.W1_0 = network.params["W1"].astype(dtype)
        # W1 is formed in the inputs' type (``explicit``): W1_0 in that type, converted once
        self._W1_0_typed = self.W1_0.astype(X.dtype)
        self.P = self.W1_0 @ X64  # (n1, m)
        with _run_blas_threads():
            self.G = X64.T @ X64  # (m, m), symmetric
            # the sets a history row evaluates, in the same form: (X_t, W1_0 X_t, X^T X_t)
            self._evaluation_sets = [
                (X_t, self.W1_0 @ X_t64, X64.T @ X_t64)
                for X_t in evaluation_sets
                if self._prepares_for(X_t, records)
                for X_t64 in (X_t.astype(dtype, copy=False),)
            ]
        del X64
        self.W1_0_sq = float(np.sum(np.square(self.W1_0)))
        n1, m = self.P.shape
        # the optimizer steps two vectors, not one array per parameter (the parameters are tiny
        # next to the inputs, and a step of the cat set's network did 18 small operations instead
        # of 4): the coefficients (float64) and the other layers' parameters (the network's type),
        # each parameter a view of its part; the network's own arrays become those views
        coefficients = _Packed({"W1_a": np.ones((1, 1), dtype), "W1_C": np.zeros((n1, m), dtype)})
        layers = _Packed({key: value for key, value in network.params.items() if key != "W1"})
        self._packs = {"W1_coefficients": coefficients, "layers": layers}
        self.params = {**coefficients.views, **layers.views}
        network.params.update(layers.views)
        self._packed_params = {name: pack.vector for name, pack in self._packs.items()}
        self._packed_grads = {"d" + name: pack.gradient for name, pack in self._packs.items()}
        self._grad_views = {**coefficients.gradients, **layers.gradients}
        self._columns: np.ndarray | slice | None = None
        self._last_sync = time.perf_counter()
        # the coefficients the network's W1 was last formed from (at the start W1 is W1_0:
        # a = 1, C = 0): ``sync`` forms it again only when they changed
        self._synced_a = 1.0
        self._synced_C = np.zeros((n1, m), dtype)

    @property
    def a(self) -> float:
        return float(self.params["W1_a"][0, 0])

    def _prepares_for(self, X_t: Any, records: int) -> bool:
        """Whether a set of inputs ``X_t`` that ``records`` history rows evaluate goes through layer
        1 in coefficient form: when ``X^T X_t`` (m x m_t) is no larger than ``G`` and costs less
        than forming ``W1`` and multiplying it by ``X_t`` at every row (about: m_t under
        records x n1; the cat set's 50 test images and 25 rows, against 500)."""
        if not isinstance(X_t, np.ndarray) or X_t.ndim != 2 or X_t.shape[0] != self.X.shape[0]:
            return False
        n1, m, m_t = self.W1_0.shape[0], self.X.shape[1], X_t.shape[1]
        return m * m_t <= self.G.size and m * m_t < records * n1 * (m + m_t)

    def scoring_forward(self, block: int | None = None) -> tuple[np.ndarray, list[Cache]]:
        """The training set's ``A[L]`` through the products (the path is taken for sets whose
        ``m × m`` products fit in memory: their activations do too)."""
        return self.forward(None)

    def evaluation_forward(self, X: Any, block: int | None = None) -> tuple[np.ndarray, list[Cache]]:
        """Layer 1 as ``a W1_0 X_t - C X^T X_t`` for a set prepared at the start; any other set
        through the formed ``W1``."""
        for X_t, P_t, G_t in self._evaluation_sets:
            if X_t is X:
                return self._forward_from_products(P_t, G_t)
        self.sync()
        return whole_set_forward(self.network, X, block)

    # ---- W1 and the optimizer's state in explicit form ----------------------------------------

    def explicit(self, a: float, C: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """``a W1_0 - C X^T``: one O(n1 n_x m) product, in the inputs' type (a float32 ``X`` is
        not copied to float64 for it: the result is stored as float32 anyway), into ``out`` when
        given (C-contiguous, of that type and shape)."""
        W = np.matmul(C.astype(self.X.dtype, copy=False), self.X.T, out=out)
        W1_0 = self._W1_0_typed if a == 1 else a * self._W1_0_typed
        return np.subtract(W1_0, W, out=W)

    def sync(self) -> None:
        """Write the current ``W1`` into the network's parameters (in place) and refresh the view
        of the others (an early-stopping restore may have replaced them). ``W1`` is formed only
        when the coefficients changed since it last was: a recorded iteration and the epoch hook
        (or the end of training) before it see the same parameters, and forming costs more than
        hundreds of steps' products on the cat set."""
        a, C = self.a, self.params["W1_C"]
        W1 = self.network.params["W1"]
        if a != self._synced_a or not np.array_equal(C, self._synced_C):
            if W1.flags.c_contiguous and W1.dtype == self.X.dtype:
                self.explicit(a, C, out=W1)
            else:
                W1[...] = self.explicit(a, C)
            self._synced_a = a
            np.copyto(self._synced_C, C)
        for key, value in self.network.params.items():
            if key != "W1" and value is not self.params[key]:  # replaced (a restore): take its values
                self.params[key][...] = value
                self.network.params[key] = self.params[key]
        self._last_sync = time.perf_counter()

    def sync_due(self, needed: Callable[[], bool]) -> bool:
        return time.perf_counter() - self._last_sync >= SYNC_SECONDS or needed()

    def explicit_optimizer_state(self, state: dict[str, Any]) -> dict[str, Any]:
        """A momentum optimizer's state as the plain path keeps it (what a checkpoint saves, and
        what the plain path resumes from): ``v_W1`` in place of the coefficients' velocity, and
        one ``v_b1``, ``v_W2``... per parameter in place of the packed vectors."""
        if "v_W1_coefficients" not in state:
            return state
        state = dict(state)
        velocity = {}
        for name, pack in self._packs.items():
            velocity.update(pack.unpack(state.pop(f"v_{name}")))
        v_a, v_C = velocity.pop("W1_a"), velocity.pop("W1_C")
        state["v_W1"] = self.explicit(float(v_a[0, 0]), v_C).astype(self.network.dtype, copy=False)
        state.update({f"v_{key}": value for key, value in velocity.items()})
        return state

    def hand_back_optimizer(self, optimizer: Optimizer) -> None:
        optimizer.load_state_dict(self.explicit_optimizer_state(optimizer.state_dict()))

    def step(self, optimizer: Optimizer, grads: dict[str, np.ndarray]) -> None:
        """The optimizer steps the two packed vectors; ``grads`` are ``backward``'s, which are
        already parts of the packed gradients (others are copied there first)."""
        views = self._grad_views
        if grads is not views and any(grads.get(key) is not view for key, view in views.items()):
            for key, view in views.items():
                np.copyto(view, grads[key])
        optimizer.update(self._packed_params, self._packed_grads)

    @staticmethod
    def largest_product(layer_sizes: Sequence[int], m: int, batch: int) -> int:
        return int(layer_sizes[1]) * int(m) * int(batch)

    # ---- forward, cost, backward --------------------------------------------------------------

    def forward(
        self,
        columns: np.ndarray | slice | None = None,
        keep_probs: Sequence[float] | None = None,
        rng: np.random.Generator | None = None,
    ) -> tuple[np.ndarray, list[Cache]]:
        """``A[L]`` and the caches of the examples ``columns`` (all of them for None).

        Layer 1's cache holds ``A_prev = None`` (no X is needed) and C for W; the batch's columns
        are kept for ``backward``. Dropout masks are drawn in the same order as ``Network.forward``.
        """
        self._columns = columns
        if columns is None:
            return self._forward_from_products(self.P, self.G, keep_probs, rng)
        # G is symmetric: its rows are its columns
        return self._forward_from_products(self.P[:, columns], self.G[columns].T, keep_probs, rng)

    def _forward_from_products(
        self,
        P: np.ndarray,
        G: np.ndarray,
        keep_probs: Sequence[float] | None = None,
        rng: np.random.Generator | None = None,
    ) -> tuple[np.ndarray, list[Cache]]:
        """The network on examples whose ``W1_0 X_b`` is ``P`` and whose ``X^T X_b`` is ``G``."""
        net, params = self.network, self.params
        a, C = self.a, params["W1_C"]
        Z = C @ G
        np.subtract(P if a == 1 else a * P, Z, out=Z)  # Z1 = a P - C G
        if Z.dtype == net.dtype:
            Z += params["b1"]
        else:  # the sum in float64, rounded once to the network's type
            Z = np.add(Z, params["b1"], out=np.empty(Z.shape, net.dtype))
        A, D = net.activate(1, Z, keep_probs, rng)
        return net.forward_from(2, A, [Cache(None, params["W1_C"], params["b1"], Z, D)], keep_probs, rng)

    def squared_norm_W1(self) -> float:
        """``||a W1_0 - C X^T||^2`` from ``P`` and ``G``: O(n1 m^2), no X."""
        a, C = self.a, self.params["W1_C"]
        return a * a * self.W1_0_sq - 2 * a * float((C * self.P).sum()) + float((C * (C @ self.G)).sum())

    def cost(self, AL: np.ndarray, caches: list[Cache], Y: np.ndarray, l2_lambda: float = 0.0) -> float:
        cost = LOSSES[self.network.loss_name](caches[-1].Z, AL, Y)
        if l2_lambda:
            squares = self.squared_norm_W1() + squared_norms(c.W for c in caches[1:])
            cost += l2_penalty(squares, Y.shape[1], l2_lambda)
        return cost

    def backward(
        self,
        AL: np.ndarray,
        Y: np.ndarray,
        caches: list[Cache],
        l2_lambda: float = 0.0,
        optimizer: Optimizer | None = None,
    ) -> dict[str, np.ndarray]:
        """Gradients of ``params``: the network's for layers 2..L, and ``dW1_a``, ``dW1_C``, all
        written into their parts of this path's packed gradients, which ``step`` hands the
        optimizer (so ``optimizer`` is not needed here). The dict returned is this path's own:
        read it, do not change it."""
        m = Y.shape[1]
        views = self._grad_views
        grads, dZ = self.network.backward_to_first_layer(AL, Y, caches, l2_lambda, out=views, divide=False)
        for key, value in grads.items():  # written there already; a copy only if not
            if value is not views[key]:
                np.copyto(views[key], value)
        dZ.sum(axis=1, keepdims=True, out=views["db1"])
        # db1, dW2, db2 ... dbL are the parts of one vector: divided by m at once, as each would be
        weights = [(views[f"dW{l}"], self.params[f"W{l}"]) for l in range(2, self.network.L + 1)] if l2_lambda else []
        divide_and_regularize([self._packs["layers"].gradient], weights, m, l2_lambda)
        C = self.params["W1_C"]
        dW1_a, dW1_C = views["dW1_a"], views["dW1_C"]
        dW1_a[0, 0] = (l2_lambda / m) * self.a if l2_lambda else 0.0
        dZ /= -m
        if self._columns is None and not l2_lambda:
            np.add(dZ, 0.0, out=dW1_C)  # 0 + dZ as before (a -0 becomes +0), in C's type
        else:
            if l2_lambda:
                np.multiply(C, l2_lambda / m, out=dW1_C)
            else:
                dW1_C[...] = 0
            if self._columns is None:
                dW1_C += dZ
            else:
                dW1_C[:, self._columns] += dZ
        return views


class _Packed:
    """Arrays of one type kept as views of one vector (in the order given), and a gradient vector
    of the same layout, whose parts are named ``"d" + key``."""

    def __init__(self, arrays: dict[str, np.ndarray]) -> None:
        self.vector, self.views = pack(arrays)
        self.gradient, self.gradients = pack({"d" + key: value for key, value in arrays.items()})

    def unpack(self, vector: np.ndarray) -> dict[str, np.ndarray]:
        """A vector of this layout as one array per key."""
        start, arrays = 0, {}
        for key, view in self.views.items():
            arrays[key] = vector[start : start + view.size].reshape(view.shape).copy()
            start += view.size
        return arrays


FIRST_LAYERS: dict[str, type[FirstLayer]] = {"plain": FirstLayer, "gram": GramFirstLayer}


def make_first_layer(
    path: str, network: Network, X: Any, evaluation_sets: Sequence[Any] = (), records: int = 0
) -> FirstLayer:
    """The first layer for ``path``; the Gram path computes G and P (and the products of the
    ``evaluation_sets`` that ``records`` history rows evaluate) here, so a training run makes it
    within its BLAS threads (:func:`dnncli.compute.threads.limited_blas_threads`)."""
    return FIRST_LAYERS[path](network, X, evaluation_sets, records)


@contextlib.contextmanager
def _run_blas_threads() -> Iterator[None]:
    """BLAS with the run's threads for one large product (G = X^T X, which OpenBLAS splits by
    blocks of its result: the same numbers with one thread or two). Within a run BLAS is kept
    to one thread (dnn splits products itself); outside one it is left as it is."""
    threads = run_threads()
    if threads <= 1:
        yield
        return
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=threads, user_api="blas"):
        yield
