"""Reading problem files: safe YAML with line numbers, checking against the schema, building.

YAML is only ever *composed* with PyYAML's safe loader (libyaml's when it reads the file
plainly, see :func:`parse_yaml`); plain values are then built here from the node tree, so every
field path gets the line it was written on, aliases cannot blow up memory and nothing in the
file is ever executed.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from gdtrace.errors import ProblemError
from gdtrace.problem.dataset import Table, excerpt, read_csv_table
from gdtrace.problem.dataset import names as _names
from gdtrace.problem.model import DEFAULT_LOSS, LOSSES, Dataset, Problem
from gdtrace.problem.registry import MODELS, import_model_modules, model_spec, register_model
from gdtrace.problem.schema import (
    COMMON_FIELDS,
    LINEAR_FIELDS,
    Context,
    Enum,
    Field,
    join,
    quoted,
    suggest,
)

MAX_BYTES = 1024 * 1024
MAX_NODES = 10_000
MAX_DEPTH = 64

_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_STR_TAG = "tag:yaml.org,2002:str"
_MERGE_TAG = "tag:yaml.org,2002:merge"
# YAML 1.1 reads 1e-3 (no dot) as a string; people mean a number.
_EXP_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")
_DECIMAL = re.compile(r"[-+]?(\d+\.\d*|\.\d+)([eE][-+]?\d+)?")
_INTEGER = re.compile(r"[-+]?(0|[1-9]\d*)")
_FLOAT_TAG = "tag:yaml.org,2002:float"
_INT_TAG = "tag:yaml.org,2002:int"


# ----------------------------------------------------------------------------------- YAML


class _Builder:
    """Turns a composed node tree into dicts/lists/scalars, recording path → line."""

    def __init__(self, loader: yaml.SafeLoader, ctx: Context):
        self.loader = loader
        self.ctx = ctx
        self.seen: set[int] = set()
        self.repeated = 0  # nodes built a second time because an alias points at them

    def build(self, node: yaml.Node, path: str = "", depth: int = 0) -> Any:
        line = node.start_mark.line + 1
        if id(node) in self.seen:
            self.repeated += 1
        self.seen.add(id(node))
        if self.repeated > MAX_NODES:
            raise ProblemError(
                f"YAML aliases (*name) expand to more than {MAX_NODES} values; write the"
                " values out instead of repeating large parts of the file",
                source=self.ctx.source, line=line,
            )
        if depth > MAX_DEPTH:
            raise ProblemError(
                f"nested more than {MAX_DEPTH} levels deep (a YAML alias that contains itself?)",
                source=self.ctx.source, line=line,
            )
        self.ctx.lines.setdefault(path, line)
        if isinstance(node, yaml.SequenceNode):
            self._plain_tag(node, _SEQ_TAG, path)
            return [self.build(item, join(path, i), depth + 1) for i, item in enumerate(node.value)]
        if isinstance(node, yaml.MappingNode):
            self._plain_tag(node, _MAP_TAG, path)
            return self._mapping(node, path, depth)
        if not isinstance(node, yaml.ScalarNode):  # the only other kind PyYAML composes
            raise self.ctx.error(f"unsupported YAML node {type(node).__name__}", path)
        return self._scalar(node, path)

    def _plain_tag(self, node: yaml.Node, tag: str, path: str) -> None:
        if node.tag != tag:
            raise self.ctx.error(f"unsupported YAML tag {node.tag!r}", path)

    def _mapping(self, node: yaml.MappingNode, path: str, depth: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key_line = key_node.start_mark.line + 1
            if not isinstance(key_node, yaml.ScalarNode):
                raise ProblemError("mapping keys must be plain names", source=self.ctx.source,
                                   field=path, line=key_line)
            if key_node.tag == _MERGE_TAG:
                raise ProblemError("YAML merge keys (<<) are not supported",
                                   source=self.ctx.source, field=path, line=key_line)
            key = key_node.value
            child = join(path, key)
            _no_surrogates(key, self.ctx, child, key_line)
            if key in out:
                raise ProblemError(
                    f"duplicate key {quoted(key)} (first on line {self.ctx.lines.get(child)})",
                    source=self.ctx.source, field=child, line=key_line,
                )
            self.ctx.lines[child] = key_line
            out[key] = self.build(value_node, child, depth + 1)
        return out

    def _scalar(self, node: yaml.ScalarNode, path: str) -> Any:
        if not node.style:  # plain: None from PyYAML's parser, "" from libyaml's
            value, tag = node.value, node.tag
            if tag == _FLOAT_TAG and _DECIMAL.fullmatch(value):
                return float(value)  # what PyYAML's float constructor gives, without its work
            if tag == _INT_TAG and _INTEGER.fullmatch(value):
                return int(value)
            if tag == _STR_TAG and _EXP_NUMBER.fullmatch(value):
                return float(value)
        _no_surrogates(node.value, self.ctx, path, node.start_mark.line + 1)
        try:
            return self.loader.construct_object(node)
        except Exception as exc:  # noqa: BLE001 - PyYAML's safe constructors raise many kinds
            # a tagged scalar the safe constructor cannot build (!!timestamp x, !!binary é)
            problem = getattr(exc, "problem", None)
            tag = node.tag.replace("tag:yaml.org,2002:", "!!")
            message = f"cannot read this value: {problem}" if problem else \
                f"cannot read {node.value[:40]!r} as a {tag} value"
            raise self.ctx.error(message, path) from None


_SURROGATE = re.compile("[\ud800-\udfff]")


def _no_surrogates(text: str, ctx: Context, path: str, line: int) -> None:
    """A ``"\\ud800"`` escape in YAML makes half a UTF-16 pair, which no output can encode."""
    found = _SURROGATE.search(text)
    if found is not None:
        raise ProblemError(f"contains a lone surrogate \\u{ord(found.group()):04x}, which is not"
                           " a character (write the character itself)",
                           source=ctx.source, field=path, line=line)


def _yaml_error(exc: yaml.YAMLError, text: str, ctx: Context) -> ProblemError:
    mark = getattr(exc, "problem_mark", None)
    if mark is not None:
        line: int | None = mark.line + 1
    elif isinstance(exc, yaml.reader.ReaderError):
        line = text.count("\n", 0, exc.position) + 1
    else:
        line = None
    problem = getattr(exc, "problem", None) or getattr(exc, "reason", None) or str(exc)
    context = getattr(exc, "context", None)
    detail = f"{context}, {problem}" if context else problem
    return ProblemError(f"YAML syntax error: {detail}", source=ctx.source, line=line)


def parse_yaml(text: str, ctx: Context, *, fast: bool = True) -> Any:
    """One YAML document → plain Python values; fills ``ctx.lines``.

    A file is composed with libyaml's parser when PyYAML has it (ten times faster: an MLP's
    weights are thousands of numbers) and only when that succeeds plainly; anything else (a
    syntax error, several documents, deep nesting, characters PyYAML's own reader refuses,
    a mistake the builder reports) is read again with PyYAML's Python parser, so every
    message and line number is that parser's. ``fast=False`` reads with it directly.
    """
    if len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise ProblemError(f"file is larger than {MAX_BYTES // 1024} KiB", source=ctx.source)
    if fast and _C_LOADER is not None and _plain_for_libyaml(text):
        lines = dict(ctx.lines)
        try:
            return _parse_with(_C_LOADER, text, ctx)
        except Exception:  # noqa: BLE001 - whatever failed, the careful reading reports it
            ctx.lines.clear()
            ctx.lines.update(lines)  # the careful reading below starts from the same state
    return _parse_with(yaml.SafeLoader, text, ctx)


_C_LOADER: type[yaml.SafeLoader] | None = getattr(yaml, "CSafeLoader", None)


def _plain_for_libyaml(text: str) -> bool:
    """No character on which the two parsers are known to disagree: libyaml accepts some tabs
    PyYAML refuses, and PyYAML's reader refuses characters libyaml may let through."""
    return "\t" not in text and not yaml.reader.Reader.NON_PRINTABLE.search(text)


def _parse_with(loader_class: type[yaml.SafeLoader], text: str, ctx: Context) -> Any:
    try:
        loader = loader_class(text)
    except yaml.YAMLError as exc:  # a control character the YAML reader refuses
        raise _yaml_error(exc, text, ctx) from None
    try:
        if not loader.check_node():
            raise ProblemError("the file is empty", source=ctx.source)
        root = loader.get_node()
        if loader.check_node():
            second = loader.get_event() if loader.check_event() else None
            line = second.start_mark.line + 1 if second is not None else None
            raise ProblemError(
                "the file holds several YAML documents (separated by ---); put one problem per"
                " file",
                source=ctx.source, line=line,
            )
        if root is None or (isinstance(root, yaml.ScalarNode)
                            and root.tag == "tag:yaml.org,2002:null"):
            raise ProblemError("the file is empty", source=ctx.source)
        return _Builder(loader, ctx).build(root)
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, text, ctx) from None
    except RecursionError:  # PyYAML parses nesting recursively, before our depth check
        raise ProblemError(f"nested too deeply (more than {MAX_DEPTH} levels of lists or"
                           " mappings)", source=ctx.source) from None
    finally:
        loader.dispose()


# ------------------------------------------------------------------------------------ dataset


def build_dataset(checked: dict[str, Any], ctx: Context, path: str = "dataset") -> Dataset:
    """The checked ``dataset`` mapping → :class:`Dataset` (reads the csv if there is one)."""
    columns, rows, csv_name = checked["columns"], checked["rows"], checked["csv"]
    csv_file = None
    if csv_name is not None:
        for key in ("columns", "rows"):
            if checked[key] is not None:
                raise ctx.error(f"give either csv or {key}, not both (the csv header names the"
                                " columns)", join(path, key))
        columns, rows, csv_file = read_csv_table(csv_name, join(path, "csv"), ctx)
    elif rows is None:
        raise ctx.error("missing required key 'rows' (or give 'csv' instead)", join(path, "rows"))
    elif columns is None:
        raise ctx.error("missing required key 'columns' (the names of the row values)",
                        join(path, "columns"))
    else:
        for i, row in enumerate(rows):
            if len(row) != len(columns):
                raise ctx.error(
                    f"row has {len(row)} value{'s' if len(row) != 1 else ''} but there are"
                    f" {len(columns)} columns ({_names(columns)})",
                    join(join(path, "rows"), i),
                )
    seen: set[str] = set()
    for i, name in enumerate(columns):
        if name in seen:
            raise ctx.error(f"column name {excerpt(name)} appears twice",
                            join(join(path, "columns"), i))
        seen.add(name)
    targets = checked["targets"] or [columns[-1]]
    chosen: set[str] = set()
    for i, name in enumerate(targets):
        if name not in seen:
            raise ctx.error(
                f"unknown column {excerpt(name)}{suggest(name, columns)}"
                f" (columns: {_names(columns)})",
                join(join(path, "targets"), i),
            )
        if name in chosen:
            raise ctx.error(f"target {excerpt(name)} is listed twice",
                            join(join(path, "targets"), i))
        chosen.add(name)
    features = [c for c in columns if c not in chosen]
    if not features:
        raise ctx.error("every column is a target; at least one feature column is needed",
                        join(path, "targets"))
    index = {c: i for i, c in enumerate(columns)}  # one dict, not a list.index per column
    groups = [[index[c] for c in features], [index[c] for c in targets]]
    unread = None
    if isinstance(rows, Table):
        unread = rows.unread
        X, Y = rows.columns(groups)
    else:
        table = np.asarray(rows, dtype=np.float64).reshape(len(rows), len(columns))
        X, Y = (table[:, group] for group in groups)
    return Dataset(list(columns), features, list(targets), X, Y, csv_file, unread)


# ------------------------------------------------------------------------ shared build helpers


def check_common(checked: dict[str, Any], ctx: Context) -> None:
    """Rules between common keys that a single field cannot express."""
    update, batch_size = checked.get("update"), checked.get("batch_size")
    if update == "minibatch" and batch_size is None:
        raise ctx.error("update: minibatch needs batch_size (samples per step)", "batch_size")
    if update != "minibatch" and batch_size is not None:
        raise ctx.error(f"batch_size only applies with update: minibatch (update is {update})",
                        "batch_size")


def common_args(checked: dict[str, Any], ctx: Context) -> dict[str, Any]:
    """The :class:`Problem` keyword arguments every model shares, from checked values."""
    spec = MODELS[checked["model"]]
    title = checked.get("title") or f"{spec.label} ({Path(ctx.source).name})"
    shuffle = checked.get("shuffle")
    args = {
        "source": ctx.source,
        "title": title,
        "model": checked["model"],
        "dataset": checked.get("dataset"),
        "lam": checked.get("lambda") or 0.0,
        "update": checked.get("update") or "sgd",
        "batch_size": checked.get("batch_size"),
        "loss": checked.get("loss") or "",
        "carry_decimals": checked.get("carry_decimals"),
        "shuffle_seed": shuffle["seed"] if shuffle else None,
    }
    if checked.get("optimizer") is not None:
        args["optimizer"] = checked["optimizer"]
    for key in ("learning_rate", "epochs", "threshold"):
        if checked.get(key) is not None:
            args[key] = checked[key]
    return args


def linear_params(
    checked: dict[str, Any], dataset: Dataset, ctx: Context
) -> tuple[list[str], list[float], float]:
    """``weights`` (list or mapping, one per feature; default zeros) and ``bias``."""
    weights = checked.get("weights")
    d = len(dataset.features)
    if weights is None:
        names, values = [f"w{j + 1}" for j in range(d)], [0.0] * d
    elif isinstance(weights, dict):
        names, values = list(weights), list(weights.values())
    else:
        names, values = [f"w{j + 1}" for j in range(len(weights))], list(weights)
    if len(values) != d:
        raise ctx.error(
            f"{len(values)} weight{'s' if len(values) != 1 else ''} given but there"
            f" {'is' if d == 1 else 'are'} {d} feature{'s' if d != 1 else ''}"
            f" ({_names(dataset.features)}); give one weight per feature",
            "weights",
        )
    if "b" in names:
        raise ctx.error("'b' is the bias's name; choose another weight name", "weights.b")
    return names, values, float(checked.get("bias") or 0.0)


def single_target(dataset: Dataset, model: str, ctx: Context) -> None:
    """Refuse a data set with several target columns for a model that predicts one."""
    if len(dataset.targets) != 1:
        raise ctx.error(
            f"{model} uses one target column, got {len(dataset.targets)}"
            f" ({_names(dataset.targets)})",
            "dataset.targets",
        )


def _build_single_layer(checked: dict[str, Any], ctx: Context) -> Problem:
    dataset = checked["dataset"]
    model = checked["model"]
    single_target(dataset, model, ctx)
    if model == "logistic":
        bad = np.flatnonzero((dataset.Y[:, 0] < 0) | (dataset.Y[:, 0] > 1))
        if bad.size:
            i = int(bad[0])
            raise ctx.error(
                f"logistic targets must be between 0 and 1; sample {i + 1} has"
                f" {dataset.targets[0]} = {dataset.Y[i, 0]:g}",
                "dataset",
            )
    names, weights, bias = linear_params(checked, dataset, ctx)
    return Problem(**common_args(checked, ctx), weight_names=names, weights=weights, bias=bias)


def _loss_field(model: str) -> Field:
    return Field(Enum(LOSSES[model]), default=DEFAULT_LOSS[model],
                 doc=f"Loss: {' | '.join(LOSSES[model])} (default {DEFAULT_LOSS[model]}).")


register_model(
    "logistic",
    {**LINEAR_FIELDS, "loss": _loss_field("logistic")},
    _build_single_layer,
    label="Logistic regression",
    doc="ŷ = σ(w·x + b); one target column with values in [0, 1].",
)
register_model(
    "linear",
    {**LINEAR_FIELDS, "loss": _loss_field("linear")},
    _build_single_layer,
    label="Linear regression",
    doc="ŷ = w·x + b; one target column.",
)


# ----------------------------------------------------------------------------------- loading


def load_problem_text(text: str, source: str, base_dir: Path | str | None = None,
                      formula_only: bool = False, max_rows: int | None = None) -> Problem:
    """Check and build a problem from YAML text; csv paths are relative to ``base_dir``.
    ``formula_only`` (``--symbolic``) lets a network leave out its data and numbers;
    ``max_rows``: a CSV data set with more rows is read only that far (``Dataset.complete``
    False), for a caller that then refuses the run rather than wait for the whole file."""
    import_model_modules()
    ctx = Context(source, Path(base_dir) if base_dir is not None else Path.cwd(),
                  formula_only=formula_only, max_rows=max_rows)
    raw = parse_yaml(text, ctx)
    if not isinstance(raw, dict):
        raise ctx.error(
            "the top level must be a mapping of keys (title:, model:, dataset: …), got"
            f" {'a list' if isinstance(raw, list) else 'a single value'}"
        )
    if raw.get("model") is None:
        raise ctx.error(f"missing required key 'model' (models: {', '.join(sorted(MODELS))})",
                        "model")
    spec = model_spec(raw["model"], ctx)
    checked = spec.object.check(raw, "", ctx)
    check_common(checked, ctx)
    if checked.get("vary") is not None:  # the places it names must exist; solve ignores it
        from gdtrace.problem.vary import check_targets

        check_targets(raw, checked["vary"], ctx)
    if isinstance(checked.get("dataset"), dict):
        checked["dataset"] = build_dataset(checked["dataset"], ctx)
    return spec.build(checked, ctx)


def load_problem(path: str | Path, display_name: str | None = None,
                 formula_only: bool = False, max_rows: int | None = None) -> Problem:
    """Read and check a problem file; ``display_name`` (default: the path as given) names it;
    ``max_rows`` as for :func:`load_problem_text`."""
    source = display_name or str(path)
    file = Path(path)
    if not file.is_file():
        what = "is a directory, not a problem file" if file.is_dir() else "file not found"
        raise ProblemError(what, source=source)
    with file.open("rb") as fh:
        raw = fh.read(MAX_BYTES + 1)
    if len(raw) > MAX_BYTES:
        raise ProblemError(f"file is larger than {MAX_BYTES // 1024} KiB", source=source)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise ProblemError(
            f"not UTF-8 text (byte 0x{raw[exc.start]:02x}); save the file as UTF-8",
            source=source, line=line,
        ) from None
    return load_problem_text(text, source, file.parent, formula_only, max_rows)


# --------------------------------------------------------------------------------- overrides

_OVERRIDES = {  # keyword → (problem file key, CLI option, Problem attribute)
    "epochs": ("epochs", "--epochs", "epochs"),
    "learning_rate": ("learning_rate", "--lr", "learning_rate"),
    "lam": ("lambda", "--l2", "lam"),
    "update": ("update", "--update", "update"),
    "carry_decimals": ("carry_decimals", "--carry", "carry_decimals"),
    "batch_size": ("batch_size", "--batch-size", "batch_size"),
    "optimizer": ("optimizer", "--optimizer", "optimizer"),
}


def apply_overrides(
    problem: Problem,
    *,
    epochs: int | None = None,
    learning_rate: float | None = None,
    lam: float | None = None,
    update: str | None = None,
    carry_decimals: int | None = None,
    batch_size: int | None = None,
    optimizer: str | None = None,
) -> Problem:
    """Apply CLI options (None = keep the file's value), checked by the file's own rules, so
    ``--lr -1`` is a ProblemError with source ``--lr`` and field ``learning_rate``."""
    options = {
        "epochs": epochs,
        "learning_rate": learning_rate,
        "lam": lam,
        "update": update,
        "carry_decimals": carry_decimals,
        "batch_size": batch_size,
        "optimizer": optimizer,
    }
    fields = MODELS[problem.model].object.fields if problem.model in MODELS else COMMON_FIELDS
    changes: dict[str, Any] = {}
    for name, value in options.items():
        if value is None:
            continue
        key, option, attr = _OVERRIDES[name]
        spec = fields.get(key)
        if spec is None:
            raise ProblemError(f"{option} does not apply to model {problem.model}",
                               source=option, field=key)
        changes[attr] = spec.type.check(value, key, Context(option))
    if "optimizer" in changes and changes["optimizer"].name == problem.optimizer.name:
        changes["optimizer"] = problem.optimizer  # keep the file's hyper-parameters for it
    new_update = changes.get("update", problem.update)
    if new_update == "minibatch":
        if changes.get("batch_size", problem.batch_size) is None:
            raise ProblemError("update minibatch needs a batch size (--batch-size N)",
                               source="--update", field="batch_size")
    elif "batch_size" in changes:
        raise ProblemError(
            f"a batch size only applies with update minibatch (update is {new_update});"
            " add --update minibatch",
            source="--batch-size",
            field="batch_size",
        )
    else:
        changes["batch_size"] = None
    return replace(problem, **changes)


# ------------------------------------------------------------------------------ bundled files


def problems_dir() -> Path:
    """Where the bundled example problems live (``gdtrace/problems``)."""
    return Path(__file__).resolve().parent.parent / "problems"


def bundled_problems() -> dict[str, Path]:
    """Bundled problem files by name (file stem), sorted."""
    folder = problems_dir()
    if not folder.is_dir():
        return {}
    return {p.stem: p for p in sorted(folder.glob("*.yaml")) if p.is_file()}


def resolve_problem(arg: str | None) -> Path:
    """A CLI argument → a file: nothing = bundled ``logreg``; an existing path; a bundled name."""
    bundled = bundled_problems()
    name = "logreg" if arg is None else arg
    if arg is not None and Path(arg).is_file():
        return Path(arg)
    stem = name.removesuffix(".yaml")
    if stem in bundled and "/" not in name and "\\" not in name:
        return bundled[stem]
    listing = ", ".join(bundled) or "none installed"
    raise ProblemError(
        f"no such file or bundled problem {name!r}{suggest(stem, list(bundled))}"
        f" (bundled: {listing})",
        source=name,
    )
