"""Commented problem templates for ``gdtrace new MODEL``.

A template is built from the model's registered keys (the same definitions the validator and
``gdtrace schema`` use), so it can never name a key the checker refuses: each key gets its
description as a comment, required keys get a value, optional ones are shown commented out
with their default. Values come from :data:`EXAMPLES` when a model has one, else from the
first bundled problem of that model, else from the key's type (the data set: the seed
homework's four samples).
"""

from __future__ import annotations

import textwrap
from typing import Any

SCHEMA_FILE = "gdtrace-problem.schema.json"
SCHEMA_LINE = f"# yaml-language-server: $schema={SCHEMA_FILE}"

_DATA = {
    "columns": ["x1", "x2", "x3", "y"],
    "rows": [[5, 8, 6, 1], [6, 4, 3, 1], [8, 5, 9, 0], [7, 9, 1, 0]],
}

EXAMPLES: dict[str, dict[str, Any]] = {
    "logistic": {
        "title": "Logistic regression by SGD", "model": "logistic", "dataset": _DATA,
        "weights": [0.08, 0.06, 0.03], "bias": 0, "learning_rate": 0.1, "lambda": 0,
        "epochs": 2, "update": "sgd", "loss": "log",
    },
    "linear": {
        "title": "Linear regression by batch gradient descent", "model": "linear",
        "dataset": _DATA, "weights": [0.08, 0.06, 0.03], "bias": 0, "learning_rate": 0.005,
        "lambda": 0, "epochs": 4, "update": "batch", "loss": "mse",
    },
    "derivative": {
        "title": "Derivative of a bilinear form", "model": "derivative", "f": "a^T X^T X b",
        "wrt": "X", "claim": "X(a b^T + b a^T)",
    },
}
"""Hand-picked values per model (others come from a bundled problem)."""


def _bundled_example(model: str) -> dict[str, Any] | None:
    """The plain values of the first bundled problem (by name) that uses ``model``."""
    from gdtrace.errors import GdtraceError
    from gdtrace.problem.load import bundled_problems, parse_yaml
    from gdtrace.problem.schema import Context

    for path in bundled_problems().values():
        try:
            raw = parse_yaml(path.read_text(encoding="utf-8"), Context(str(path)))
        except (GdtraceError, OSError, UnicodeDecodeError):
            continue
        if isinstance(raw, dict) and raw.get("model") == model:
            return raw
    return None


def _placeholder(kind: Any) -> Any:
    """A value of the right shape for a key without an example (the user fills it in)."""
    from gdtrace.problem import schema as S

    if isinstance(kind, S.Number):
        if kind.exclusive_minimum is not None:
            return kind.exclusive_minimum + 0.1
        return kind.minimum if kind.minimum is not None else 0.0
    if isinstance(kind, S.Integer):
        return kind.minimum if kind.minimum is not None else 1
    if isinstance(kind, S.Enum):
        return kind.values[0]
    if isinstance(kind, S.Boolean):
        return False
    if isinstance(kind, S.ListOf):
        return [_placeholder(kind.item)] * max(1, kind.min_items)
    if isinstance(kind, S.OneOf):
        return _placeholder(kind.types[0])
    if isinstance(kind, S.Object):
        return {k: _placeholder(f.type) for k, f in kind.fields.items() if f.required}
    if isinstance(kind, S.MapOf):
        return {}
    return "..."


def _dump(key: str, value: Any) -> str:
    """``key: value`` in YAML: short lists inline, mappings and lists of rows as blocks."""
    import yaml

    if isinstance(value, (dict, list)):
        return yaml.safe_dump({key: value}, sort_keys=False, default_flow_style=None,
                              allow_unicode=True, width=100).rstrip("\n")
    scalar = yaml.safe_dump([value], default_flow_style=True, allow_unicode=True, width=1000)
    return f"{key}: {scalar.strip()[1:-1]}"


def _comment(text: str) -> list[str]:
    return [f"# {line}" for line in textwrap.wrap(text, 96)] if text else []


def template(model: str) -> str:
    """The commented template for ``model``; a :class:`UsageError` names the models."""
    from gdtrace.errors import UsageError
    from gdtrace.problem.registry import MODELS, import_model_modules
    from gdtrace.problem.schema import suggest

    import_model_modules()
    if model not in MODELS:
        names = sorted(MODELS)
        raise UsageError(f"unknown model {model!r}{suggest(model, names)} (models: "
                         f"{', '.join(names)})")
    spec = MODELS[model]
    example = EXAMPLES.get(model) or _bundled_example(model) or {}
    if "dataset" in spec.object.fields and "dataset" not in example:
        example = {**example, "dataset": _DATA}
    lines = [SCHEMA_LINE,
             *_comment(f"A gdtrace problem: {spec.label}. {spec.object.doc}".rstrip()),
             *_comment(f"Editors complete and check the keys with {SCHEMA_FILE}; write it next"
                       f" to this file with `gdtrace schema -o {SCHEMA_FILE}`. Check this file"
                       " with `gdtrace validate FILE`, solve it with `gdtrace "
                       f"{'derive' if model == 'derivative' else 'solve'} FILE`."),
             *_comment("Keys marked (optional) may be left out; a commented-out optional key"
                       " shows its default."), ""]
    for key, spec_field in spec.object.fields.items():
        if key == "model":
            lines.append(_dump("model", model))
            continue
        lines.extend(_comment(spec_field.doc + ("" if spec_field.required else " (optional)")))
        if key in example:
            lines.append(_dump(key, example[key]))
        elif spec_field.required:
            lines.append(_dump(key, _placeholder(spec_field.type)))
        else:
            shown = spec_field.default if spec_field.default is not None else \
                _placeholder(spec_field.type)
            lines.extend("# " + line for line in _dump(key, shown).splitlines())
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"
