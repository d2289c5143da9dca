"""The type of the ``vary:`` key (the ranges ``gdtrace variants`` draws from), declared with
the schema's types so the loader, ``gdtrace validate`` and ``gdtrace schema`` agree.

Only the shape lives here: where each rule points and how values are drawn is
``gdtrace.variants.rules``. A module of ``gdtrace.problem`` (not of ``gdtrace.variants``) so
that :func:`~gdtrace.problem.schema.register_model` can import it whichever package is imported
first.
"""

from __future__ import annotations

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
    join,
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
