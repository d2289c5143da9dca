"""The registry of models: each model's full key set (the common keys, its own, ``vary``) and
the function that builds a :class:`~gdtrace.problem.model.Problem` from checked values.

Above :mod:`gdtrace.problem.schema` (the types) and :mod:`gdtrace.problem.vary` (the ``vary:``
key, declared with those types), so neither imports the other's user. The models beyond
logistic and linear register from their own modules (:data:`MODEL_MODULES`), imported on
first use of the registry, so adding a model is one line there and the ``gdtrace --help``
path imports none of them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gdtrace.problem.model import Problem
from gdtrace.problem.schema import (
    COMMON_FIELDS,
    COMMON_RULES,
    JSON_SCHEMA_DRAFT,
    Context,
    Enum,
    Field,
    Object,
    String,
    quoted,
    suggest,
)
from gdtrace.problem.vary import VARY_FIELD

Build = Callable[[dict[str, Any], Context], Problem]


@dataclass
class ModelSpec:
    """A registered model: its full key set (common + own) and how to make a Problem from it."""

    name: str
    object: Object
    build: Build
    label: str


MODELS: dict[str, ModelSpec] = {}


def register_model(
    name: str,
    fields: dict[str, Field | None],
    build: Build,
    *,
    label: str | None = None,
    doc: str = "",
    json_extra: dict[str, Any] | None = None,
) -> ModelSpec:
    """Add a model. ``fields`` adds to (or, same name, replaces) :data:`COMMON_FIELDS`;
    a ``None`` value removes a common key (a closed-form model drops ``learning_rate``).

    ``build(checked, ctx)`` gets the checked values with defaults filled in; ``checked["dataset"]``
    is already a :class:`~gdtrace.problem.model.Dataset` (or None).
    """
    merged: dict[str, Field | None] = {**COMMON_FIELDS, **fields}
    merged["model"] = Field(Enum([name]), required=True, doc="Which model the problem uses.")
    keys = {k: f for k, f in merged.items() if f is not None}
    keys["vary"] = VARY_FIELD  # every model can be varied (gdtrace variants; solve ignores it)
    if "learning_rate" not in keys:  # an optimizer only applies to a model with steps
        keys.pop("optimizer", None)
    extra = dict(COMMON_RULES) if "update" in keys and "batch_size" in keys else {}
    extra.update(json_extra or {})
    spec = ModelSpec(name, Object(keys, doc=doc, json_extra=extra), build, label or name)
    MODELS[name] = spec
    return spec


def model_spec(name: Any, ctx: Context, path: str = "model") -> ModelSpec:
    """The registered model called ``name``, or an error suggesting the closest one."""
    String().check(name, path, ctx)
    if name not in MODELS:
        raise ctx.error(
            f"unknown model {quoted(str(name))}{suggest(str(name), sorted(MODELS))}"
            f" (models: {', '.join(sorted(MODELS))})",
            path,
        )
    return MODELS[name]


def problem_json_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) for a whole problem file, one branch per registered model."""
    import_model_modules()
    names = sorted(MODELS)
    return {
        "$schema": JSON_SCHEMA_DRAFT,
        "title": "gdtrace problem file",
        "type": "object",
        "required": ["model"],
        "properties": {"model": {"type": "string", "enum": names}},
        "allOf": [
            {
                "if": {"properties": {"model": {"const": n}}, "required": ["model"]},
                "then": MODELS[n].object.json_schema(),
            }
            for n in names
        ],
    }


MODEL_MODULES: list[str] = [
    "gdtrace.problem.network_models",
    "gdtrace.problem.extra_models",
    "gdtrace.problem.derivative_model",
]

_imported = False


def import_model_modules() -> None:
    """Import every module of :data:`MODEL_MODULES` once (each calls :func:`register_model`)."""
    global _imported
    if _imported:
        return
    _imported = True
    for module in MODEL_MODULES:
        importlib.import_module(module)
