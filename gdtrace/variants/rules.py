"""The ``vary:`` block: where each rule points, and drawing values (its type, checked when a
problem loads, is ``gdtrace.problem.vary``).

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
import re
from typing import TYPE_CHECKING, Any

from gdtrace.problem.schema import Context, describe, join, suggest

if TYPE_CHECKING:
    import numpy as np

# ------------------------------------------------------------------------------------- paths

_TOKEN = re.compile(r"\[(\d+)\]|([^.\[\]]+)")


def parse_path(path: str) -> list[str | int] | None:
    """``layers[0].weights`` → ["layers", 0, "weights"]; None when it is not a path."""
    parts: list[str | int] = []
    pos = 0
    for match in _TOKEN.finditer(path):
        if match.start() != pos:
            return None
        parts.append(int(match[1]) if match[1] is not None else match[2])
        pos = match.end()
        if pos < len(path) and path[pos] == ".":
            pos += 1
    return parts if parts and pos == len(path) and not path.endswith(".") else None


def locate(doc: dict[str, Any], path: str, where: str, ctx: Context) -> tuple[Any, str | int]:
    """The container and key/index holding ``path`` in ``doc``; errors name the vary key."""
    parts = parse_path(path)
    if parts is None:
        raise ctx.error(f"{path!r} is not a path (e.g. weights, dataset.rows, layers[0].bias)",
                        where)
    node: Any = doc
    for i, part in enumerate(parts):
        shown = _show(parts[:i + 1])
        if isinstance(part, int):
            if not isinstance(node, list) or part >= len(node):
                size = f"a list of {len(node)}" if isinstance(node, list) else describe(node)
                raise ctx.error(f"{shown} is not in the problem ({_show(parts[:i])} is {size})",
                                where)
        elif not isinstance(node, dict) or part not in node:
            keys = list(node) if isinstance(node, dict) else []
            hint = suggest(part, keys) if keys else ""
            raise ctx.error(f"{shown} is not in the problem{hint}; vary only changes values the"
                            " file writes out", where)
        if i == len(parts) - 1:
            return node, part
        node = node[part]
    raise AssertionError("unreachable")


def _show(parts: list[str | int]) -> str:
    out = ""
    for part in parts:
        out = join(out, part)
    return out


def _numbers(value: Any) -> bool:
    """A number, or lists/mappings of numbers only."""
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return True
    if isinstance(value, list):
        return bool(value) and all(_numbers(v) for v in value)
    if isinstance(value, dict):
        return bool(value) and all(_numbers(v) for v in value.values())
    return False


def _column_indices(doc: dict[str, Any], path: str, rule: dict[str, Any], where: str,
                    ctx: Context) -> list[int] | None:
    if rule["columns"] is None:
        return None
    if parse_path(path) != ["dataset", "rows"]:
        raise ctx.error("columns only applies to the path dataset.rows", join(where, "columns"))
    names = doc["dataset"].get("columns") or []
    out = []
    for i, name in enumerate(rule["columns"]):
        if name not in names:
            raise ctx.error(f"unknown column {name!r}{suggest(name, names)} (columns:"
                            f" {', '.join(map(str, names))})", join(join(where, "columns"), i))
        out.append(names.index(name))
    return out


def check_targets(raw: dict[str, Any], vary: dict[str, dict[str, Any]], ctx: Context) -> None:
    """Every rule points at a value the file writes, of a kind the rule can draw."""
    for path, rule in vary.items():
        where = join("vary", path)
        container, key = locate(raw, path, where, ctx)
        _column_indices(raw, path, rule, where, ctx)
        if rule["choice"] is None and not _numbers(container[key]):
            raise ctx.error(f"{path} holds {describe(container[key])}; uniform and integers"
                            " draw numbers (use choice for other values)", where)


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
            columns = _column_indices(doc, path, rule, where, ctx)
            if columns is None:
                container[key] = _fill(container[key], rule, rng)
            else:
                for row in container[key]:
                    for j in columns:
                        row[j] = _draw_number(rule, rng)
        except ValueError as error:
            raise ctx.error(str(error), where) from None
    return doc
