"""Optimizers: how a step's gradient becomes the parameter update, written out line by line.

Every optimizer keeps its state per parameter (velocity, accumulated squares, Adam's m and v)
and turns one step's gradients into :class:`~gdtrace.trace.Quantity` lines: the state updates
(``Role.VALUE``, keyed ``v.w1``, ``m.w1`` … so they are JSON keys of ``steps[].values``) and the
parameter updates (``Role.PARAM``, keyed by the parameter's name). Solvers compute gradients and
call :meth:`Optimizer.step`; they never write an update formula themselves.

The rules follow ``torch.optim`` (default hyper-parameters as there, except Adagrad's ε, which is
1e-8 here and 1e-10 in torch), with g the step's gradient and η the learning rate:

- sgd:      w ← w − η·g
- momentum: v ← μ·v + g,  w ← w − η·v            (torch's form; not v ← μ·v − η·g)
- nesterov: v ← μ·v + g,  w ← w − η·(g + μ·v)
- adagrad:  s ← s + g²,   w ← w − η·g/(√s + ε)    (ε outside the square root, as torch)
- rmsprop:  s ← α·s + (1 − α)·g²,  w ← w − η·g/(√s + ε)
- adam:     m ← β₁·m + (1 − β₁)·g,  v ← β₂·v + (1 − β₂)·g²,  m̂ = m/(1 − β₁ᵗ),
            v̂ = v/(1 − β₂ᵗ),  w ← w − η·m̂/(√v̂ + ε)

All state starts at 0 and t counts the updates (1 in the first step). Parameters may be numbers
or numpy arrays (a network's weight matrices); the rules apply element by element. Carry
rounding (:class:`~gdtrace.formula.rounding.Carry`) applies to every value written down, and later
lines use the rounded value.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, NamedTuple

import numpy as np

from gdtrace.formula.expr import Expr, Pow, Sym, func
from gdtrace.formula.rounding import Carry
from gdtrace.problem.optimizer_config import (  # noqa: F401 (make_config: the names, also here)
    ALPHA,
    BETA1,
    BETA2,
    EPSILON,
    HYPERS,
    LABELS,
    MU,
    OPTIMIZER_NAMES,
    Hyper,
    OptimizerConfig,
    make_config,
)
from gdtrace.trace import Formula, Link, Quantity, Role, Value

ETA = Sym("eta", "η")
T = Sym("t", "t")


# --------------------------------------------------------------------------------- symbols

_W_INDEX = re.compile(r"^w(\d+)$")


def state_index(name: str) -> str:
    """Subscript for a parameter's state: ``w1`` → ``1`` (m₁, g₁), else the name (m_b, m_W1)."""
    match = _W_INDEX.match(name)
    return match.group(1) if match else name


def state_sym(kind: str, name: str, index: str | None = None, hat: bool = False) -> Sym:
    """The symbol of one state value, keyed ``kind.name`` (``m.w1``; ``mhat.w1`` when hatted)."""
    key = f"{kind}hat.{name}" if hat else f"{kind}.{name}"
    return Sym(key, kind, state_index(name) if index is None else index, hat=hat)


def grad_leaf(grad_key: str, index: str) -> Sym:
    """gⱼ: the step's gradient ∂L/∂wⱼ, substituted by the gradient's own operand key."""
    return Sym(grad_key, "g", index)


@dataclass(frozen=True)
class Slot:
    """One parameter the optimizer updates.

    ``symbol`` is the parameter's leaf (its key selects the value before the step), ``grad_key``
    the operand key of its gradient (``grad:w1``), ``name`` the JSON key (``w1``, ``b``, ``W1``).
    """

    name: str
    symbol: Sym
    grad_key: str
    grad_symbol: Expr  # ∂L/∂w as printed by the solver (used by plain sgd)
    # the lines whose values the step starts from (None: given by the problem), for the links
    param_source: Quantity | None = None
    grad_source: Quantity | None = None


def _zero(value: Value) -> Value:
    return np.zeros_like(value, dtype=float) if isinstance(value, np.ndarray) else 0.0


def _state(previous: dict[str, Value], kind: str, g: Value) -> Value:
    """The state value a step starts from: the last step's, or 0 (shaped like g) at first."""
    found = previous.get(kind)
    return _zero(g) if found is None else found


# ------------------------------------------------------------------------------ the rules


@dataclass(frozen=True)
class _Symbols:
    """The leaves one rule is written with: the parameter, its gradient g, the state symbols.

    ``name`` is the parameter's name in a step and ``""`` in the header (generic symbols).
    """

    param: Sym
    g: Sym
    index: str
    name: str = ""

    def state(self, kind: str, hat: bool = False) -> Sym:
        if not self.name:
            return Sym(f"{kind}hat" if hat else kind, kind, self.index, hat=hat)
        return state_sym(kind, self.name, self.index, hat)


@dataclass
class _Line:
    """One worked line before it becomes a Quantity (the header keeps only its formula)."""

    symbol: Sym
    relation: str
    formula: Expr
    operands: dict[str, Value]
    value: Value
    label: str


@dataclass
class _Result:
    state_lines: list[_Line]
    param_line: _Line
    state: dict[str, Value]  # what the next step starts from (v, s, m …)


def _sqrt(x: Expr) -> Expr:
    return func("sqrt", x)


class _Numbers(NamedTuple):
    """One parameter's update as numbers: each state line's value in writing order (by kind:
    ``v``; ``s``; ``m``, ``v``, ``mhat``, ``vhat``), the new parameter value, and the state the
    next step starts from. The rules below compute these once; the worked lines are written
    from them, and ``--summary`` uses them alone (:meth:`Optimizer.values`)."""

    written: list[tuple[str, Value]]
    new: Value
    state: dict[str, Value]


@dataclass(frozen=True)
class RuleText:
    """One update rule's arithmetic as Python source over one parameter: the single definition
    of its numbers. :func:`_numbers` runs it on floats or numpy arrays (the worked lines and
    :meth:`Optimizer.values`), and a network's compiled kernel writes it inline for each
    parameter (:mod:`gdtrace.solvers.network_kernel`), so both perform the same operations in
    the same order.

    Names: ``p`` the parameter, ``g`` its gradient, ``eta``, the hyper-parameters by key,
    ``t`` the update number, ``sqrt``, and each state kind (before its line: the value the
    step starts from). ``W(…)`` is carry rounding of a written value. ``shared`` lines
    (``name = expression``) depend on neither the parameter nor its gradient: computed once
    per step. ``lines`` are the written state values in writing order, ``new`` the updated
    parameter; ``kept`` the kinds the next step starts from. g² is written ``g * g``
    (``np.square`` is that product, and it overflows to inf where a float's ``** 2`` raises).
    """

    kept: tuple[str, ...]
    lines: tuple[tuple[str, str], ...]
    new: str
    shared: tuple[tuple[str, str], ...] = ()


_SCALED = "W(p - eta * (g / (sqrt({acc}) + epsilon)))"  # Adagrad's and RMSprop's update
RULES_TEXT = {
    "sgd": RuleText((), (), "W(p - eta * g)"),
    "momentum": RuleText(("v",), (("v", "W(momentum * v + g)"),), "W(p - eta * v)"),
    "nesterov": RuleText(("v",), (("v", "W(momentum * v + g)"),),
                         "W(p - eta * (g + momentum * v))"),
    "adagrad": RuleText(("s",), (("s", "W(s + g * g)"),), _SCALED.format(acc="s")),
    "rmsprop": RuleText(("s",), (("s", "W(alpha * s + (1 - alpha) * (g * g))"),),
                        _SCALED.format(acc="s")),
    "adam": RuleText(("m", "v"), (("m", "W(beta1 * m + (1 - beta1) * g)"),
                                  ("v", "W(beta2 * v + (1 - beta2) * (g * g))"),
                                  ("mhat", "W(m / correction1)"),
                                  ("vhat", "W(v / correction2)")),
                     _SCALED.format(acc="vhat").replace("(g /", "(mhat /"),
                     (("correction1", "1 - beta1 ** t"), ("correction2", "1 - beta2 ** t"))),
}


def _rule_function(name: str) -> Callable[..., _Numbers]:
    """The rule's text as a function of (p, g, the state dict, t, W, sqrt, eta, hyper)."""
    found = _COMPILED.get(name)
    if found is None:
        rule = RULES_TEXT[name]
        source = "\n".join([
            "def rule(p, g, prev, t, W, sqrt, eta, hyper):",
            *[f"    {h.key} = hyper[{h.key!r}]" for h in HYPERS[name]],
            *[f"    {kind} = prev.get({kind!r}, zero)" for kind in rule.kept],
            *[f"    {shared} = {expression}" for shared, expression in rule.shared],
            *[f"    {kind} = {expression}" for kind, expression in rule.lines],
            f"    return Numbers([{', '.join(f'({k!r}, {k})' for k, _ in rule.lines)}],"
            f" {rule.new}, {{{', '.join(f'{k!r}: {k}' for k in rule.kept)}}})", ""])
        namespace: dict[str, Any] = {"Numbers": _Numbers, "zero": 0.0}
        exec(compile(source, f"<optimizer rule {name}>", "exec"), namespace)  # noqa: S102
        found = _COMPILED[name] = namespace["rule"]
    return found


_COMPILED: dict[str, Callable[..., _Numbers]] = {}


def _numbers(opt: Optimizer, p: Value, g: Value, prev: dict[str, Value], t: int) -> _Numbers:
    """One parameter's update as numbers, from the rule's text (state starts at 0: a float 0
    broadcasts against an array exactly as an array of zeros)."""
    return _rule_function(opt.name)(p, g, prev, t, opt.write, np.sqrt, opt.eta, opt.hyper)


def _momentum(opt: Optimizer, s: _Symbols, p: Value, g: Value, prev: dict[str, Value],
              t: int) -> _Result:
    """v ← μ·v + g; w ← w − η·v (nesterov: w ← w − η·(g + μ·v)), torch's convention."""
    numbers = _numbers(opt, p, g, prev, t)
    mu, v = opt.hyper["momentum"], numbers.state["v"]
    v_sym = s.state("v")
    v_line = _Line(v_sym, "←", MU.symbol * v_sym + s.g,
                   {"momentum": mu, v_sym.key: _state(prev, "v", g), s.g.key: g}, v,
                   "velocity")
    if opt.name == "nesterov":
        formula = s.param - ETA * (s.g + MU.symbol * v_sym)
    else:
        formula = s.param - ETA * v_sym
    operands = {s.param.key: p, "eta": opt.eta, v_sym.key: v, s.g.key: g, "momentum": mu}
    return _Result([v_line], _Line(s.param, "←", formula, operands, numbers.new, "update"),
                   numbers.state)


def _scaled(opt: Optimizer, s: _Symbols, p: Value, g: Value, acc_sym: Sym, acc: Value,
            new: Value) -> _Line:
    """w ← w − η·(g/(√s + ε)), shared by Adagrad and RMSprop."""
    operands = {s.param.key: p, "eta": opt.eta, s.g.key: g, acc_sym.key: acc,
                "epsilon": opt.hyper["epsilon"]}
    formula = s.param - ETA * (s.g / (_sqrt(acc_sym) + EPSILON.symbol))
    return _Line(s.param, "←", formula, operands, new, "update")


def _adagrad(opt: Optimizer, s: _Symbols, p: Value, g: Value, prev: dict[str, Value],
             t: int) -> _Result:
    """s ← s + g²; w ← w − η·g/(√s + ε)."""
    numbers = _numbers(opt, p, g, prev, t)
    s_sym, acc = s.state("s"), numbers.state["s"]
    line = _Line(s_sym, "←", s_sym + s.g ** 2, {s_sym.key: _state(prev, "s", g), s.g.key: g},
                 acc, "sum of squared gradients")
    return _Result([line], _scaled(opt, s, p, g, s_sym, acc, numbers.new), numbers.state)


def _rmsprop(opt: Optimizer, s: _Symbols, p: Value, g: Value, prev: dict[str, Value],
             t: int) -> _Result:
    """s ← α·s + (1 − α)·g²; w ← w − η·g/(√s + ε)."""
    numbers = _numbers(opt, p, g, prev, t)
    s_sym, acc, a = s.state("s"), numbers.state["s"], ALPHA.symbol
    line = _Line(s_sym, "←", a * s_sym + (1 - a) * s.g ** 2,
                 {"alpha": opt.hyper["alpha"], s_sym.key: _state(prev, "s", g), s.g.key: g},
                 acc, "running mean of squared gradients")
    return _Result([line], _scaled(opt, s, p, g, s_sym, acc, numbers.new), numbers.state)


def _adam(opt: Optimizer, s: _Symbols, p: Value, g: Value, prev: dict[str, Value],
          t: int) -> _Result:
    """m, v (moment estimates), m̂, v̂ (bias-corrected), then w ← w − η·m̂/(√v̂ + ε)."""
    numbers = _numbers(opt, p, g, prev, t)
    (_, m), (_, v), (_, m_hat), (_, v_hat) = numbers.written
    b1, b2, eps = opt.hyper["beta1"], opt.hyper["beta2"], opt.hyper["epsilon"]
    B1, B2 = BETA1.symbol, BETA2.symbol
    m_sym, v_sym = s.state("m"), s.state("v")
    mh_sym, vh_sym = s.state("m", hat=True), s.state("v", hat=True)
    lines = [
        _Line(m_sym, "←", B1 * m_sym + (1 - B1) * s.g,
              {"beta1": b1, m_sym.key: _state(prev, "m", g), s.g.key: g}, m,
              "first moment (mean of g)"),
        _Line(v_sym, "←", B2 * v_sym + (1 - B2) * s.g ** 2,
              {"beta2": b2, v_sym.key: _state(prev, "v", g), s.g.key: g}, v,
              "second moment (mean of g²)"),
        _Line(mh_sym, "=", m_sym / (1 - Pow(B1, T)), {m_sym.key: m, "beta1": b1, "t": float(t)},
              m_hat, "bias-corrected m (t = update number)"),
        _Line(vh_sym, "=", v_sym / (1 - Pow(B2, T)), {v_sym.key: v, "beta2": b2, "t": float(t)},
              v_hat, "bias-corrected v"),
    ]
    operands = {s.param.key: p, "eta": opt.eta, mh_sym.key: m_hat, vh_sym.key: v_hat,
                "epsilon": eps}
    formula = s.param - ETA * (mh_sym / (_sqrt(vh_sym) + EPSILON.symbol))
    return _Result(lines, _Line(s.param, "←", formula, operands, numbers.new, "update"),
                   numbers.state)


_RULES = {"momentum": _momentum, "nesterov": _momentum, "adagrad": _adagrad,
          "rmsprop": _rmsprop, "adam": _adam}


# ------------------------------------------------------------------------------ optimizer


class Optimizer:
    """Turns each step's gradients into worked state and parameter updates; keeps the state.

    One instance per run: it remembers every parameter's state between steps and counts the
    updates (t).
    """

    def __init__(self, config: OptimizerConfig, eta: float, carry: Carry | None = None) -> None:
        self.config = config
        self.name = config.name
        self.eta = eta
        self.carry = carry or Carry(None)
        self.hyper = {h.key: float(config.params.get(h.key, h.default))
                      for h in HYPERS[config.name]}
        self.state: dict[str, dict[str, Value]] = {}
        self.state_lines: dict[str, dict[str, Quantity]] = {}  # the last line of each state
        self.t = 0

    @property
    def plain(self) -> bool:
        return self.config.plain

    def write(self, value: Value) -> Value:
        """Carry-round a value that is written down (a number or every entry of an array)."""
        if isinstance(value, np.ndarray):
            return self.carry.array(value)
        return self.carry(value)

    # -- header ---------------------------------------------------------------------------
    def description(self) -> str:
        """A few words for the header: the optimizer and its hyper-parameters."""
        if self.plain:
            return "plain gradient descent"
        values = ", ".join(f"{_hyper_text(h)} = {self.hyper[h.key]:g}"
                           for h in HYPERS[self.name])
        return f"{LABELS[self.name]} ({values}; state starts at 0)"

    def formulas(self, param: Sym, grad: Expr, index: str) -> list[Formula]:
        """The general rules for the header, for one generic parameter ``param``.

        ``grad`` is how the solver writes ∂L/∂param; ``index`` is the subscript of g and the
        state symbols (``j`` beside wⱼ, ``""`` for plain symbols). The formulas come from the
        same rule functions as the steps, so header and steps cannot disagree.
        """
        if self.plain:
            return [Formula(param, param - ETA * grad, "update", "←")]
        g = Sym("g", "g", index)
        symbols = _Symbols(param, g, index)
        with np.errstate(all="ignore"):
            result = _RULES[self.name](self, symbols, 0.0, 0.0, {}, 1)
        out = [Formula(g, grad, "this step's gradient")]
        for line in [*result.state_lines, result.param_line]:
            out.append(Formula(line.symbol, line.formula, line.label, line.relation))
        return out

    def note(self, index: str, param: str = "w") -> str:
        """What the state symbols stand for, for the header's notes."""
        sub = index.translate(str.maketrans("ijk", "ᵢⱼₖ"))
        of = f"{param}{sub}"
        return {
            "sgd": "",
            "momentum": f"v{sub}: velocity of {of}, kept between steps, starting at 0",
            "nesterov": f"v{sub}: velocity of {of}, kept between steps, starting at 0",
            "adagrad": f"s{sub}: sum of {of}'s squared gradients so far, starting at 0",
            "rmsprop": f"s{sub}: running mean of {of}'s squared gradients, starting at 0",
            "adam": f"m{sub}, v{sub}: Adam's moment estimates for {of}, starting at 0;"
                    " t = number of the update (1, 2, …)",
        }[self.name]

    def settings(self) -> dict[str, object]:
        return self.config.settings()

    # -- steps ----------------------------------------------------------------------------
    def step(self, slots: list[Slot], values: Sequence[Value], grads: Sequence[Value],
             linked: bool = True) -> tuple[list[Quantity], list[Quantity]]:
        """One update of every parameter: (state lines, parameter lines).

        State lines come grouped by kind (every m, then every v, …) as a student writes a
        vectorised step; parameter lines come in ``slots`` order. Parameters and gradients may
        be numbers or arrays of the same shape.
        """
        self.t += 1
        if self.plain:
            return [], [self._plain_update(s, v, g) for s, v, g in zip(slots, values, grads)]
        results = []
        with np.errstate(all="ignore"):  # overflow is the solvers' to report, once, in words
            for slot, value, grad in zip(slots, values, grads):
                index = state_index(slot.name)
                symbols = _Symbols(slot.symbol, grad_leaf(slot.grad_key, index), index,
                                   slot.name)
                result = _RULES[self.name](self, symbols, value, grad,
                                           self.state.get(slot.name, {}), self.t)
                results.append(result)
        per_slot = [self._linked(slot, result, linked) for slot, result in zip(slots, results)]
        for slot, result in zip(slots, results):
            self.state[slot.name] = result.state
        state_lines = [lines[k] for k in range(len(results[0].state_lines) if results else 0)
                       for lines in per_slot]
        param_lines = [lines[-1] for lines in per_slot]
        return state_lines, param_lines

    def _linked(self, slot: Slot, result: _Result, linked: bool = True) -> list[Quantity]:
        """One parameter's lines as quantities, each operand linked to the line it comes from:
        the parameter and gradient to the slot's sources, a state value to this step's line
        when an earlier line of the step wrote it (m̂ uses the new m), else to the previous
        step's line (v ← μ·v + g uses the old v; none before the first step: it starts at 0).
        ``linked=False`` links nothing (a run of numbers only must not chain its steps)."""
        previous = self.state_lines.setdefault(slot.name, {})
        written: dict[str, Quantity] = {}
        out: list[Quantity] = []
        lines = [*result.state_lines, result.param_line]
        for position, line in enumerate(lines):
            links: dict[str, Link] = {}
            for key in line.operands if linked else ():
                source = written.get(key) or previous.get(key)
                if key == slot.symbol.key:
                    source = slot.param_source
                elif key == slot.grad_key:
                    source = slot.grad_source
                if source is not None:
                    links[key] = source
            last = position == len(lines) - 1
            quantity = Quantity(slot.name if last else line.symbol.key,
                                Role.PARAM if last else Role.VALUE, line.symbol, line.value,
                                line.formula, line.operands, line.relation, links=links)
            written[line.symbol.key] = quantity
            out.append(quantity)
        previous.update({key: q for key, q in written.items() if key != slot.symbol.key})
        return out

    def kept_state(self, names: list[str], kept: Sequence[Value]) -> dict[str, dict[str, Value]]:
        """The state by parameter, as :attr:`state` holds it, from the flat tuple a compiled
        update keeps (``network_kernel.compile_update``: every parameter's first kept kind,
        then the next …)."""
        kinds = RULES_TEXT[self.name].kept
        return {name: {kind: kept[k * len(names) + i] for k, kind in enumerate(kinds)}
                for i, name in enumerate(names)} if kept else {}

    @contextmanager
    def resumed(self, state: dict[str, dict[str, Value]], t: int) -> Iterator[Optimizer]:
        """The optimizer as it stood after update ``t`` with this state, for one step written
        the worked way (or its state lines by key) in a run computed otherwise; its own state
        is put back afterwards."""
        saved = self.state, self.t, self.state_lines
        self.state, self.t, self.state_lines = state, t, {}
        try:
            yield self
        finally:
            self.state, self.t, self.state_lines = saved

    def values(self, names: list[str], values: Sequence[Value], grads: Sequence[Value]
               ) -> tuple[list[Value], dict[str, Value]]:
        """One update as numbers: the new parameter values and the state values by key
        (``m.W1`` …), for ``--summary``/``--stream`` of models computed as numbers only."""
        self.t += 1
        if self.plain:
            return [self._plain_value(v, g) for v, g in zip(values, grads)], {}
        updates = []
        with np.errstate(all="ignore"):  # as in step(): the solvers report overflow
            for name, value, grad in zip(names, values, grads):
                numbers = _numbers(self, value, grad, self.state.get(name, {}), self.t)
                self.state[name] = numbers.state
                updates.append(numbers)
        kinds = [kind for kind, _ in updates[0].written] if updates else []
        state = {f"{kind}.{name}": numbers.written[k][1]  # grouped by kind, as step() writes
                 for k, kind in enumerate(kinds) for name, numbers in zip(names, updates)}
        return [numbers.new for numbers in updates], state

    def _plain_value(self, current: Value, grad: Value) -> Value:
        return _numbers(self, current, grad, {}, self.t).new

    def _plain_update(self, slot: Slot, current: Value, grad: Value) -> Quantity:
        """w ← w − η·∂L/∂w, exactly as the solvers wrote it before optimizers existed."""
        new = self._plain_value(current, grad)
        links = {slot.symbol.key: slot.param_source, slot.grad_key: slot.grad_source}
        return Quantity(slot.name, Role.PARAM, slot.symbol, new,
                        plain_rule(slot.symbol, slot.grad_symbol),
                        {slot.symbol.key: current, "eta": self.eta, slot.grad_key: grad},
                        relation="←", links={k: q for k, q in links.items() if q is not None})


@lru_cache(maxsize=4096)
def plain_rule(param: Expr, grad: Expr) -> Expr:
    """w − η·∂L/∂w, one tree per parameter (symbols compare by identity): a printer
    remembers a tree's text by the tree."""
    return param - ETA * grad


def _hyper_text(hyper: Hyper) -> str:
    sub = hyper.symbol.sub.translate(str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉"))
    return hyper.symbol.base + sub


def make_optimizer(config: OptimizerConfig | None, eta: float,
                   carry: Carry | None = None) -> Optimizer:
    """The optimizer a problem asks for (plain gradient descent when it names none)."""
    return Optimizer(config or OptimizerConfig(), eta, carry)
