"""A tiny declarative type system for problem files: one definition checks and documents.

Each type checks a plain Python value (already read from YAML) and raises a
:class:`~gdtrace.errors.ProblemError` that names the field path and line, and can describe itself
as JSON Schema (draft 2020-12), so ``gdtrace schema`` and the validator never disagree.

The keys every model shares live in :data:`COMMON_FIELDS`; models register their own with
:func:`gdtrace.problem.registry.register_model`.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gdtrace.errors import ProblemError
from gdtrace.problem.model import UPDATES
from gdtrace.problem.optimizer_config import (
    HYPERS,
    LABELS,
    OPTIMIZER_NAMES,
    Hyper,
    OptimizerConfig,
    make_config,
)

JSON_SCHEMA_DRAFT = "https://json-schema.org/draft/2020-12/schema"


# --------------------------------------------------------------------------- context and paths


def join(path: str, key: str | int) -> str:
    """Child path: ``dataset`` + ``rows`` → ``dataset.rows``; ``rows`` + 2 → ``rows[2]``."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


_LAST_PART = re.compile(r"(\.[^.\[\]]+|\[\d+\])$")


def parent(path: str) -> str:
    """``dataset.rows[2]`` → ``dataset.rows`` → ``dataset`` → ``""``."""
    return _LAST_PART.sub("", path) if _LAST_PART.search(path) else ""


@dataclass
class Context:
    """Where values came from: the source name, the problem's folder and the line of each path."""

    source: str
    base_dir: Path = field(default_factory=Path.cwd)
    lines: dict[str, int] = field(default_factory=dict)
    formula_only: bool = False  # --symbolic: a network may leave out its numbers
    max_rows: int | None = None  # a CSV data set is read no further (a worked solution's limit)

    def line(self, path: str) -> int | None:
        """The line of ``path`` or of its nearest ancestor that has one."""
        while True:
            if path in self.lines:
                return self.lines[path]
            if not path:
                return None
            path = parent(path)

    def error(self, message: str, path: str = "") -> ProblemError:
        return ProblemError(message, source=self.source, field=path, line=self.line(path))


def describe(value: Any) -> str:
    """How a wrong value is named in messages: ``a string ('abc')``."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, int):
        return f"an integer ({_short_int(value)})"
    if isinstance(value, float):
        return f"a number ({value:g})"
    if isinstance(value, str):
        text = value if len(value) <= 40 else value[:37] + "..."
        return f"a string ({text!r})"
    if isinstance(value, list):
        return f"a list of {len(value)} item{'s' if len(value) != 1 else ''}"
    if isinstance(value, dict):
        return "a mapping"
    return f"a {type(value).__name__}"


def quoted(text: str, limit: int = 40) -> str:
    """A word from the user's file in a message: quoted, escaped and at most ``limit``
    characters, so a 1 MB value never becomes a 1 MB error line."""
    shown = repr(text[:limit + 1])
    return shown if len(shown) <= limit + 2 else shown[:limit + 1] + "…'"


def _short_int(value: int) -> str:
    """An integer for a message: whole, or its digit count when it is long (never 8 KB)."""
    digits = len(str(abs(value))) if abs(value) < 10 ** 4000 else None
    if digits is not None and digits <= 20:
        return str(value)
    return f"{'-' if value < 0 else ''}{digits or 'over 4000'} digits long"


def _shown(value: float) -> str:
    return _short_int(value) if isinstance(value, int) else f"{value:g}"


INTEGER_LIMIT = 2**63 - 1
"""The largest whole number a problem file may hold (a 64-bit integer)."""


def suggest(word: str, choices: Sequence[str]) -> str:
    """``"; did you mean 'x'?"`` for the closest choice, or ``""``."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


# --------------------------------------------------------------------------------------- types


class Type:
    """Base type: ``kind`` names it in messages (``a number``), ``accepts`` is its shape test."""

    kind = "a value"

    def accepts(self, value: Any) -> bool:
        return True

    def check(self, value: Any, path: str, ctx: Context) -> Any:
        if not self.accepts(value):
            raise ctx.error(f"expected {self.kind}, got {describe(value)}", path)
        return value

    def json_schema(self) -> dict[str, Any]:
        return {}


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _bounds(
    value: float, path: str, ctx: Context, minimum: float | None, exclusive_minimum: float | None,
    maximum: float | None,
) -> None:
    if minimum is not None and value < minimum:
        raise ctx.error(f"must be at least {minimum:g}, got {_shown(value)}", path)
    if exclusive_minimum is not None and value <= exclusive_minimum:
        raise ctx.error(f"must be greater than {exclusive_minimum:g}, got {_shown(value)}",
                        path)
    if maximum is not None and value > maximum:
        raise ctx.error(f"must be at most {maximum:g}, got {_shown(value)}", path)


def _bounds_schema(
    minimum: float | None, exclusive_minimum: float | None, maximum: float | None
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if minimum is not None:
        out["minimum"] = minimum
    if exclusive_minimum is not None:
        out["exclusiveMinimum"] = exclusive_minimum
    if maximum is not None:
        out["maximum"] = maximum
    return out


@dataclass(frozen=True)
class Number(Type):
    """A finite real number (int or float, never a boolean); checked as ``float``."""

    minimum: float | None = None
    exclusive_minimum: float | None = None
    maximum: float | None = None
    kind = "a number"

    def accepts(self, value: Any) -> bool:
        return _is_number(value)

    def check(self, value: Any, path: str, ctx: Context) -> float:
        super().check(value, path, ctx)
        try:
            number = float(value)
        except OverflowError:
            raise ctx.error(f"is too large for a number (at most about 1.8e308), got an integer"
                            f" {_short_int(value)}", path) from None
        if not math.isfinite(number):
            raise ctx.error(f"must be a finite number, got {number}", path)
        _bounds(number, path, ctx, self.minimum, self.exclusive_minimum, self.maximum)
        return number

    def json_schema(self) -> dict[str, Any]:
        bounds = _bounds_schema(self.minimum, self.exclusive_minimum, self.maximum)
        return {"type": "number", **bounds}


@dataclass(frozen=True)
class Integer(Type):
    """A whole number; ``2.0`` is accepted as 2, ``2.5`` and booleans are not."""

    minimum: int | None = None
    maximum: int | None = None
    kind = "a whole number"

    def accepts(self, value: Any) -> bool:
        return _is_number(value)

    def check(self, value: Any, path: str, ctx: Context) -> int:
        super().check(value, path, ctx)
        if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
            raise ctx.error(f"expected a whole number, got {describe(value)}", path)
        number = int(value)
        if abs(number) > INTEGER_LIMIT:
            raise ctx.error(f"is too large (at most 2^63 − 1), got an integer "
                            f"{_short_int(number)}", path)
        _bounds(number, path, ctx, self.minimum, None, self.maximum)
        return number

    def json_schema(self) -> dict[str, Any]:
        return {"type": "integer", **_bounds_schema(self.minimum, None, self.maximum)}


@dataclass(frozen=True)
class String(Type):
    """Text; ``min_length=1`` forbids empty names."""

    min_length: int = 0
    kind = "a string"

    def accepts(self, value: Any) -> bool:
        return isinstance(value, str)

    def check(self, value: Any, path: str, ctx: Context) -> str:
        super().check(value, path, ctx)
        if len(value.strip()) < self.min_length:
            raise ctx.error("must not be empty", path)
        return value

    def json_schema(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "string"}
        if self.min_length:
            out["minLength"] = self.min_length
        return out


@dataclass(frozen=True)
class Boolean(Type):
    kind = "true or false"

    def accepts(self, value: Any) -> bool:
        return isinstance(value, bool)

    def json_schema(self) -> dict[str, Any]:
        return {"type": "boolean"}


@dataclass(frozen=True)
class Enum(Type):
    """One of a fixed set of words; a near miss gets a suggestion."""

    values: tuple[str, ...]
    kind = "a string"

    def __init__(self, values: Sequence[str]):
        object.__setattr__(self, "values", tuple(values))

    def accepts(self, value: Any) -> bool:
        return isinstance(value, str)

    def check(self, value: Any, path: str, ctx: Context) -> str:
        super().check(value, path, ctx)
        if value not in self.values:
            raise ctx.error(
                f"unknown value {quoted(value)}{suggest(value, self.values)}"
                f" (allowed: {', '.join(self.values)})",
                path,
            )
        return value

    def json_schema(self) -> dict[str, Any]:
        return {"type": "string", "enum": list(self.values)}


@dataclass(frozen=True)
class ListOf(Type):
    item: Type
    min_items: int = 0
    kind = "a list"

    def accepts(self, value: Any) -> bool:
        return isinstance(value, list)

    def check(self, value: Any, path: str, ctx: Context) -> list[Any]:
        super().check(value, path, ctx)
        if len(value) < self.min_items:
            need = f"at least {self.min_items} item{'s' if self.min_items != 1 else ''}"
            raise ctx.error(f"needs {need}, got {len(value)}", path)
        return [self.item.check(v, join(path, i), ctx) for i, v in enumerate(value)]

    def json_schema(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "array", "items": self.item.json_schema()}
        if self.min_items:
            out["minItems"] = self.min_items
        return out


@dataclass(frozen=True)
class MapOf(Type):
    """A mapping with free string keys (e.g. named weights), order kept."""

    value: Type
    min_items: int = 0
    kind = "a mapping"

    def accepts(self, value: Any) -> bool:
        return isinstance(value, dict)

    def check(self, value: Any, path: str, ctx: Context) -> dict[str, Any]:
        super().check(value, path, ctx)
        if len(value) < self.min_items:
            raise ctx.error(f"needs at least {self.min_items} entries, got {len(value)}", path)
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise ctx.error(f"keys must be strings, got {describe(key)}", path)
            out[key] = self.value.check(item, join(path, key), ctx)
        return out

    def json_schema(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "object", "additionalProperties": self.value.json_schema()}
        if self.min_items:
            out["minProperties"] = self.min_items
        return out


class OneOf(Type):
    """The first alternative whose shape fits decides, so its detailed errors are the ones shown."""

    def __init__(self, *types: Type):
        self.types = types
        kinds = [t.kind for t in types]
        self.kind = " or ".join([", ".join(kinds[:-1]), kinds[-1]]) if len(kinds) > 1 else kinds[0]

    def accepts(self, value: Any) -> bool:
        return any(t.accepts(value) for t in self.types)

    def check(self, value: Any, path: str, ctx: Context) -> Any:
        for t in self.types:
            if t.accepts(value):
                return t.check(value, path, ctx)
        return super().check(value, path, ctx)

    def json_schema(self) -> dict[str, Any]:
        return {"oneOf": [t.json_schema() for t in self.types]}


@dataclass(frozen=True)
class Field:
    """A key of an :class:`Object`. An optional key given as null counts as not given."""

    type: Type
    required: bool = False
    default: Any = None
    doc: str = ""

    def json_schema(self) -> dict[str, Any]:
        out = dict(self.type.json_schema())
        if self.doc:
            out["description"] = self.doc
        if self.default is not None:
            out["default"] = self.default
        return out


class Object(Type):
    """A mapping with known keys: unknown keys are errors (with a suggestion), defaults filled.

    ``validate(checked, path, ctx)`` runs after the fields for rules between keys;
    ``json_extra`` adds the same rules to the JSON Schema.
    """

    kind = "a mapping"

    def __init__(
        self,
        fields: dict[str, Field],
        doc: str = "",
        validate: Callable[[dict[str, Any], str, Context], None] | None = None,
        json_extra: dict[str, Any] | None = None,
    ):
        self.fields = dict(fields)
        self.doc = doc
        self.validate = validate
        self.json_extra = json_extra or {}

    def accepts(self, value: Any) -> bool:
        return isinstance(value, dict)

    def check(self, value: Any, path: str, ctx: Context) -> dict[str, Any]:
        super().check(value, path, ctx)
        for key in value:
            if key not in self.fields:
                hint = suggest(str(key), list(self.fields))
                if not hint:
                    hint = f" (valid keys: {', '.join(self.fields)})"
                raise ctx.error(f"unknown key {quoted(str(key))}{hint}", join(path, str(key)))
        out: dict[str, Any] = {}
        for key, spec in self.fields.items():
            given = value.get(key)
            if given is None:
                if spec.required:
                    # the key's own line if it is there with no value, else the enclosing mapping's
                    raise ctx.error(
                        f"missing value for required key {key!r}" if key in value
                        else f"missing required key {key!r}",
                        join(path, key),
                    )
                out[key] = spec.default
            else:
                out[key] = spec.type.check(given, join(path, key), ctx)
        if self.validate:
            self.validate(out, path, ctx)
        return out

    def json_schema(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "object"}
        if self.doc:
            out["description"] = self.doc
        out["properties"] = {k: f.json_schema() for k, f in self.fields.items()}
        required = [k for k, f in self.fields.items() if f.required]
        if required:
            out["required"] = required
        out["additionalProperties"] = False
        out.update(self.json_extra)
        return out


# ------------------------------------------------------------------------------ optimizer


@dataclass(frozen=True)
class DecayRate(Number):
    """A decay factor in [0, 1) (momentum μ, β₁, β₂, α): at 1 the state would never forget."""

    minimum: float | None = 0.0
    kind = "a number"

    def check(self, value: Any, path: str, ctx: Context) -> float:
        number = super().check(value, path, ctx)
        if number >= 1:
            raise ctx.error(f"must be less than 1, got {number:g}", path)
        return number

    def json_schema(self) -> dict[str, Any]:
        return {**super().json_schema(), "exclusiveMaximum": 1}


def _hyper_type(hyper: Hyper) -> Type:
    return DecayRate() if hyper.kind == "rate" else Number(exclusive_minimum=0)


class OptimizerChoice(Type):
    """``optimizer:`` as a name (``adam``) or a mapping (``{name: adam, beta1: 0.8}``).

    Checks into an :class:`~gdtrace.problem.optimizer_config.OptimizerConfig` with every
    hyper-parameter filled in; a key the named optimizer does not have is an error naming the
    valid ones.
    """

    kind = "an optimizer name or a mapping with a name"

    def accepts(self, value: Any) -> bool:
        return isinstance(value, (str, dict))

    def check(self, value: Any, path: str, ctx: Context) -> OptimizerConfig:
        super().check(value, path, ctx)
        names = Enum(OPTIMIZER_NAMES)
        if isinstance(value, str):
            return make_config(names.check(value, path, ctx))
        if value.get("name") is None:
            raise ctx.error(f"missing required key 'name' (one of: {', '.join(OPTIMIZER_NAMES)})",
                            join(path, "name"))
        name = names.check(value["name"], join(path, "name"), ctx)
        checked = self.mapping(name).check(value, path, ctx)
        return make_config(name, {k: v for k, v in checked.items() if k != "name"})

    @staticmethod
    def mapping(name: str) -> Object:
        """The keys of one optimizer's mapping form."""
        fields = {"name": Field(Enum([name]), required=True, doc="The optimizer.")}
        for hyper in HYPERS[name]:
            fields[hyper.key] = Field(_hyper_type(hyper), default=hyper.default, doc=hyper.doc)
        return Object(fields, doc=f"{LABELS[name]} with its hyper-parameters.")

    def json_schema(self) -> dict[str, Any]:
        return {"oneOf": [{"type": "string", "enum": list(OPTIMIZER_NAMES)},
                          *(self.mapping(name).json_schema() for name in OPTIMIZER_NAMES)]}


OPTIMIZER_FIELD = Field(
    OptimizerChoice(),
    doc="How gradients become updates: " + " | ".join(OPTIMIZER_NAMES) + " (default sgd, plain"
    " w ← w − η·g), or a mapping such as {name: adam, beta1: 0.9, beta2: 0.999, epsilon: 1e-8}"
    " or {name: momentum, momentum: 0.9}. See docs/optimizers.md.",
)


# ------------------------------------------------------------------------------ common fields

NUMBER_ROW = ListOf(Number(), min_items=1)

DATASET = Object(
    {
        "columns": Field(ListOf(String(min_length=1), min_items=1), doc="Column names, in order."),
        "rows": Field(
            ListOf(NUMBER_ROW, min_items=1),
            doc="One list of numbers per sample, as long as `columns`.",
        ),
        "csv": Field(
            String(min_length=1),
            doc="Instead of columns/rows: a CSV file (relative to the problem file) whose"
            " header row names the columns.",
        ),
        "targets": Field(
            ListOf(String(min_length=1), min_items=1),
            doc="Target column names; default: the last column. The other columns are features.",
        ),
    },
    doc="The samples: `columns` + `rows`, or `csv`.",
    json_extra={
        "oneOf": [
            {"required": ["columns", "rows"], "not": {"required": ["csv"]}},
            {
                "required": ["csv"],
                "not": {"anyOf": [{"required": ["columns"]}, {"required": ["rows"]}]},
            },
        ]
    },
)

COMMON_FIELDS: dict[str, Field] = {
    "title": Field(String(), doc="Heading of the worked solution; default: built from the model"
                   " and file name."),
    "model": Field(String(), required=True, doc="Which model the problem uses."),
    "dataset": Field(DATASET, required=True, doc=DATASET.doc),
    "learning_rate": Field(Number(exclusive_minimum=0), required=True, doc="Step size η > 0."),
    "lambda": Field(Number(minimum=0), default=0.0,
                    doc="L2 strength λ ≥ 0; each weight gradient gets (λ/n)·w added."),
    "epochs": Field(Integer(minimum=1), required=True, doc="Passes over the data set."),
    "update": Field(Enum(UPDATES), default="sgd",
                    doc="sgd: one sample per step; batch: all samples; minibatch: groups of"
                    " batch_size."),
    "batch_size": Field(Integer(minimum=1), doc="Samples per step; required with update: minibatch"
                        " and only allowed with it."),
    "shuffle": Field(Object({"seed": Field(Integer(minimum=0), required=True,
                                           doc="Random seed (0 or more).")}),
                     doc="Visit the samples in a seeded random order each epoch instead of file"
                     " order."),
    "carry_decimals": Field(Integer(minimum=0, maximum=12),
                            doc="Round every written value to this many decimals and carry the"
                            " rounded value on, like on paper."),
    "threshold": Field(Number(), default=0.5,
                       doc="Decision threshold for predicted classes."),
    "optimizer": OPTIMIZER_FIELD,
}

# Rules between common keys, as JSON Schema (checked in code by ``load.check_common``).
COMMON_RULES: dict[str, Any] = {
    "if": {"properties": {"update": {"const": "minibatch"}}, "required": ["update"]},
    "then": {"required": ["batch_size"]},
    "else": {"not": {"required": ["batch_size"]}},
}

LINEAR_FIELDS: dict[str, Field] = {
    "weights": Field(
        OneOf(ListOf(Number()), MapOf(Number())),
        doc="Initial weights, one per feature in column order: a list (named w1…wd) or a"
        " mapping whose keys are the names shown. Default: all 0.",
    ),
    "bias": Field(Number(), default=0.0, doc="Initial bias b."),
}
"""The ``weights``/``bias`` keys shared by single-layer models (logistic, linear, perceptron…)."""
