"""The type of the ``vary:`` key (the ranges ``gdtrace variants`` draws from), declared with
the schema's types so the loader, ``gdtrace validate`` and ``gdtrace schema`` agree.

The shape lives here, and where each rule points (:func:`check_targets`, run when a problem
loads); how values are drawn is ``gdtrace.variants.rules``. A module of ``gdtrace.problem``
(not of ``gdtrace.variants``) so that loading a problem never imports the package above it.
"""

from __future__ import annotations

import re
from typing import Any

from gdtrace.problem.schema import (
    Context,
    Field,
    Integer,
    ListOf,
    MapOf,
    Number,
    Object,
    String,
    Type,
    describe,
    join,
    suggest,
)

KINDS = ("uniform", "integers", "choice")
MAX_DECIMALS = 6


class Pair(ListOf):
    """``[lo, hi]``: exactly two items, lo ≤ hi (ListOf's fields; no dataclass of its own,
    which would cost start-up time: this module loads with every problem)."""

    def check(self, value: Any, path: str, ctx: Context) -> list[Any]:
        items = super().check(value, path, ctx)
        if len(items) != 2:
            raise ctx.error(f"expected [low, high] (two items), got {len(items)} items", path)
        if items[0] > items[1]:
            raise ctx.error(f"low {items[0]:g} is above high {items[1]:g}", path)
        return items

    def json_schema(self) -> dict[str, Any]:
        return {**super().json_schema(), "minItems": 2, "maxItems": 2}


def _one_kind(checked: dict[str, Any], path: str, ctx: Context) -> None:
    given = [k for k in KINDS if checked[k] is not None]
    if len(given) != 1:
        what = "none" if not given else " and ".join(given)
        raise ctx.error(f"give exactly one of uniform, integers or choice (got {what})", path)
    if checked["decimals"] is not None and given[0] != "uniform":
        raise ctx.error("decimals only applies to uniform", join(path, "decimals"))


RULE = Object(
    {
        "uniform": Field(Pair(Number()),
                         doc="Draw a number from [low, high] with `decimals` decimals."),
        "decimals": Field(Integer(minimum=0, maximum=MAX_DECIMALS),
                          doc="Decimals of a uniform draw (default 2)."),
        "integers": Field(Pair(Integer()),
                          doc="Draw a whole number from [low, high], both included."),
        "choice": Field(ListOf(Type(), min_items=1),
                        doc="Pick one of these values (numbers, lists, …) for the whole place."),
        "columns": Field(ListOf(String(min_length=1), min_items=1),
                         doc="For dataset.rows: only these columns (default: all)."),
    },
    doc="How to draw the value(s) at this place.",
    validate=_one_kind,
    json_extra={"oneOf": [{"required": [k]} for k in KINDS]},
)

VARY_FIELD = Field(
    MapOf(RULE, min_items=1),
    doc="Ranges for `gdtrace variants` (ignored by solve): a path such as weights, bias,"
    " learning_rate, dataset.rows or layers[0].weights → {uniform: [lo, hi], decimals: 2} |"
    " {integers: [lo, hi]} | {choice: [...]}; dataset.rows takes `columns: [...]`. See"
    " docs/teaching.md.",
)


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


def column_indices(doc: dict[str, Any], path: str, rule: dict[str, Any], where: str,
                   ctx: Context) -> list[int] | None:
    """The columns a ``dataset.rows`` rule draws (None: all of them), checked by name."""
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
        column_indices(raw, path, rule, where, ctx)
        if rule["choice"] is None and not _numbers(container[key]):
            raise ctx.error(f"{path} holds {describe(container[key])}; uniform and integers"
                            " draw numbers (use choice for other values)", where)
