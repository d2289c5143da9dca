"""The ``vary:`` block: drawing values (its type, and where each rule points, checked when a
problem loads, are in ``gdtrace.problem.vary``).

A rule names a place in the problem file by a path (``weights``, ``bias``, ``learning_rate``,
``dataset.rows``, ``layers[0].weights``, ``weights.w1``) and says how to draw what is there:
``uniform: [lo, hi]`` with ``decimals`` (default 2), ``integers: [lo, hi]`` or ``choice: [...]``.
Every number under the path gets its own draw (a ``choice`` replaces the whole value);
``columns`` restricts a ``dataset.rows`` rule to some columns. Everything else stays as written.

Draws are integers from numpy's ``default_rng`` (a uniform value with d decimals is an integer
count of 10⁻ᵈ), so a seed gives the same numbers on every machine, with no float rounding.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from gdtrace.problem.schema import Context, join
from gdtrace.problem.vary import column_indices, locate

if TYPE_CHECKING:
    import numpy as np

# -------------------------------------------------------------------------------------- draws


def _draw_number(rule: dict[str, Any], rng: np.random.Generator) -> int | float:
    if rule["integers"] is not None:
        low, high = rule["integers"]
        return int(rng.integers(low, high + 1))
    low, high = rule["uniform"]
    decimals = 2 if rule["decimals"] is None else rule["decimals"]
    scale = 10 ** decimals
    first, last = math.ceil(low * scale - 1e-9), math.floor(high * scale + 1e-9)
    if first > last:
        raise ValueError(f"no number with {decimals} decimals lies in [{low:g}, {high:g}]")
    count = int(rng.integers(first, last + 1))
    return count if decimals == 0 else round(count / scale, decimals)


def _fill(value: Any, rule: dict[str, Any], rng: np.random.Generator) -> Any:
    if isinstance(value, list):
        return [_fill(v, rule, rng) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, rule, rng) for k, v in value.items()}
    return _draw_number(rule, rng)


def draw(raw: dict[str, Any], vary: dict[str, dict[str, Any]], rng: np.random.Generator,
         ctx: Context) -> dict[str, Any]:
    """A copy of the file's values without ``vary``, each rule's places drawn, in file order."""
    import copy

    doc = copy.deepcopy({k: v for k, v in raw.items() if k != "vary"})
    for path, rule in vary.items():
        where = join("vary", path)
        container, key = locate(doc, path, where, ctx)
        try:
            if rule["choice"] is not None:
                pick = int(rng.integers(0, len(rule["choice"])))
                container[key] = copy.deepcopy(rule["choice"][pick])
                continue
            columns = column_indices(doc, path, rule, where, ctx)
            if columns is None:
                container[key] = _fill(container[key], rule, rng)
            else:
                for row in container[key]:
                    for j in columns:
                        row[j] = _draw_number(rule, rng)
        except ValueError as error:
            raise ctx.error(str(error), where) from None
    return doc
