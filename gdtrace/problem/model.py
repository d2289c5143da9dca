"""The validated problem: what solvers read. Built only by :mod:`gdtrace.problem.load`."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from gdtrace.problem.optimizer_config import OptimizerConfig

UPDATES = ("sgd", "batch", "minibatch")
LOSSES = {"logistic": ("log", "mse"), "linear": ("mse", "half_mse", "sse", "half_sse")}
DEFAULT_LOSS = {"logistic": "log", "linear": "mse"}


@dataclass(frozen=True)
class Dataset:
    columns: list[str]
    features: list[str]  # column names of the inputs, in column order
    targets: list[str]  # column names of the targets
    X: np.ndarray  # (n, d) float64
    Y: np.ndarray  # (n, k) float64
    file: Path | None = None  # the CSV it was read from: an input --output must not replace
    unread: int | None = None
    """Set when the loader was asked to stop after a few rows (``Context.max_rows``) and the CSV
    has more: the lines after those it read (counted, not parsed). The arrays are not the whole
    data set then, and the caller refuses the run (:func:`gdtrace.api.load_to_solve`)."""

    @property
    def n(self) -> int:
        return int(self.X.shape[0])


@dataclass(frozen=True)
class Spec:
    """What one model needs beyond the keys every model shares (a network's graph, a closed
    form's method …): each model's loader builds its own frozen subclass, and its solver reads
    it with :meth:`Problem.spec_of`. Logistic and linear regression need nothing more: ``Spec()``.
    """


SpecT = TypeVar("SpecT", bound=Spec)


@dataclass(frozen=True)
class Problem:
    """Everything a solver needs, already checked; ``spec`` holds the model's own settings."""

    source: str  # path as the user gave it, or the bundled name
    title: str
    model: str
    dataset: Dataset | None
    weight_names: list[str] = field(default_factory=list)
    weights: list[float] = field(default_factory=list)
    bias: float = 0.0
    learning_rate: float = 0.1
    lam: float = 0.0
    epochs: int = 1
    update: str = "sgd"
    batch_size: int | None = None
    loss: str = ""
    carry_decimals: int | None = None
    shuffle_seed: int | None = None
    threshold: float = 0.5
    spec: Spec = field(default_factory=Spec)
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)  # sgd unless asked

    def spec_of(self, kind: type[SpecT]) -> SpecT:
        """The model's own settings as the type its solver expects (a TypeError, not a wrong
        attribute deep in a solver, when a problem reaches the wrong solver)."""
        if not isinstance(self.spec, kind):
            raise TypeError(f"a {self.model} problem has no {kind.__name__} "
                            f"(it has {type(self.spec).__name__})")
        return self.spec

    def samples_per_update(self) -> int:
        """Samples in one update: 1 for SGD, all for batch, ``batch_size`` (at most all) for
        minibatch; 1 without a data set. The one place this rule is written."""
        n = self.dataset.n if self.dataset is not None else 1
        asked = {"sgd": 1, "batch": n}.get(self.update, self.batch_size or 1)
        return max(1, min(asked, n))

    def with_overrides(self, **changes: Any) -> Problem:
        """A copy with CLI options applied (None means: keep the file's value)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})
