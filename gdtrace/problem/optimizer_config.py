"""The ``optimizer:`` choice of a problem file: names, hyper-parameters and their defaults.

Plain data, below :mod:`gdtrace.solvers.optimizers` (which writes the update lines and needs the
trace types): a problem holds an :class:`OptimizerConfig` without importing how it is applied.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gdtrace.formula.expr import Sym


@dataclass(frozen=True)
class Hyper:
    """One hyper-parameter: its problem-file key (also its operand key), symbol and default.

    ``kind`` is ``"rate"`` for a decay factor in [0, 1) (1 would never forget, and β = 1 makes
    Adam's bias correction divide by zero) or ``"positive"`` for ε > 0 (ε = 0 divides 0 by 0
    when a gradient is 0 from the start).
    """

    key: str
    symbol: Sym
    default: float
    kind: str
    doc: str


MU = Hyper("momentum", Sym("momentum", "μ"), 0.9, "rate", "Momentum factor μ in [0, 1).")
EPSILON = Hyper("epsilon", Sym("epsilon", "ε"), 1e-8, "positive",
                "ε > 0 added to the square root in the denominator.")
ALPHA = Hyper("alpha", Sym("alpha", "α"), 0.99, "rate",
              "Decay α in [0, 1) of the running mean of squared gradients.")
BETA1 = Hyper("beta1", Sym("beta1", "β", "1"), 0.9, "rate",
              "Decay β₁ in [0, 1) of the first-moment estimate m.")
BETA2 = Hyper("beta2", Sym("beta2", "β", "2"), 0.999, "rate",
              "Decay β₂ in [0, 1) of the second-moment estimate v.")

HYPERS: dict[str, tuple[Hyper, ...]] = {
    "sgd": (),
    "momentum": (MU,),
    "nesterov": (MU,),
    "adagrad": (EPSILON,),
    "rmsprop": (ALPHA, EPSILON),
    "adam": (BETA1, BETA2, EPSILON),
}
"""Optimizer names (the values of ``optimizer:``) and their hyper-parameters, with defaults."""

LABELS = {"sgd": "plain gradient descent", "momentum": "momentum",
          "nesterov": "Nesterov momentum", "adagrad": "Adagrad", "rmsprop": "RMSprop",
          "adam": "Adam"}

OPTIMIZER_NAMES: tuple[str, ...] = tuple(HYPERS)


@dataclass(frozen=True)
class OptimizerConfig:
    """A checked ``optimizer:`` choice: the name and every hyper-parameter (defaults filled)."""

    name: str = "sgd"
    params: dict[str, float] = field(default_factory=dict)

    def __str__(self) -> str:  # how ``compare`` labels a run: "optimizer = adam"
        return self.name

    @property
    def plain(self) -> bool:
        """True for plain gradient descent, whose output must stay exactly as without it."""
        return self.name == "sgd"

    def settings(self) -> dict[str, object]:
        """Run settings: nothing for sgd, else the name and the hyper-parameters."""
        if self.plain:
            return {}
        return {"optimizer": self.name, **self.params}


def make_config(name: str, given: dict[str, float] | None = None) -> OptimizerConfig:
    """A config with the given hyper-parameters and the defaults for the rest (no checking:
    the problem loader checks names and ranges before calling this)."""
    given = given or {}
    return OptimizerConfig(name, {h.key: float(given.get(h.key, h.default))
                                  for h in HYPERS[name]})
