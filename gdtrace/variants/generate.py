"""Drawing variants: each a plain problem file (no ``vary:``), loaded and solved like any other.

Variant k (1-based) draws from ``numpy.random.default_rng([seed, k])``; a draw that fails a
requirement is followed by the next draw of the same stream, so variant k depends only on the
seed, k, the file and (with ``distinct``) the variants before it — never on ``-n``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gdtrace.errors import ProblemError, UsageError
from gdtrace.problem.model import Problem
from gdtrace.trace import Trace
from gdtrace.variants.require import Requirement

if TYPE_CHECKING:
    from gdtrace.problem.schema import Context

MAX_TRIES = 200
MAX_VARIANTS = 10_000


@dataclass
class Source:
    """The varied problem file: its text, values as read, checked rules and where it lives."""

    name: str  # as shown: problems/logreg.yaml or the path given
    raw: dict[str, Any]
    vary: dict[str, dict[str, Any]]
    base_dir: Path
    ctx: Context  # the source's, so errors in drawing name its lines


@dataclass
class Variant:
    index: int
    text: str  # the variant's problem file
    problem: Problem
    trace: Trace
    draws: int = 1  # draws it took


@dataclass
class Batch:
    """The variants and, per requirement, how many draws it rejected."""

    source: Source
    seed: int
    variants: list[Variant]
    rejected: dict[str, int] = field(default_factory=dict)


def name(index: int) -> str:
    return f"variant-{index:03d}"


def read_source(path: Path, shown: str) -> Source:
    """Load (and so fully check) a problem file that has a ``vary:`` block."""
    from gdtrace.problem.load import load_problem, parse_yaml
    from gdtrace.problem.schema import Context
    from gdtrace.problem.vary import VARY_FIELD

    load_problem(path, display_name=shown)  # every key checked, vary's places included
    ctx = Context(shown, path.parent)
    raw = parse_yaml(path.read_bytes().decode("utf-8-sig"), ctx)
    if raw.get("vary") is None:
        raise ProblemError("has no vary: block, so every variant would be the same; add one"
                           " (docs/teaching.md)", source=shown, field="vary")
    vary = VARY_FIELD.type.check(raw["vary"], "vary", ctx)
    data = raw.get("dataset")
    if isinstance(data, dict) and data.get("csv") is not None:
        # written into each variant, so a variant file works wherever it is copied
        from gdtrace.problem.dataset import read_csv_dataset
        from gdtrace.problem.load import MAX_BYTES

        columns, table, file = read_csv_dataset(data["csv"], "dataset.csv", ctx)
        if file.stat().st_size > MAX_BYTES:  # a data set's 200 MiB would go into every file
            raise ctx.error(f"csv file {file} is larger than {MAX_BYTES // 1024} KiB: with vary:"
                            " the data set is written into every variant file", "dataset.csv")
        rows = [[_number(x) for x in row] for row in table.tolist()]
        raw["dataset"] = {"columns": columns, "rows": rows,
                          **{k: v for k, v in data.items() if k != "csv"}}
    return Source(shown, raw, vary, path.parent, ctx)


def _number(value: float) -> int | float:
    return int(value) if value.is_integer() else value


def dump(doc: dict[str, Any], header: str) -> str:
    """A problem file's text: keys in file order, short lists on one line."""
    import yaml

    body = yaml.safe_dump(doc, sort_keys=False, default_flow_style=None, allow_unicode=True,
                          width=100)
    return "".join(f"# {line}\n" for line in header.splitlines()) + body


def build(doc: dict[str, Any], shown: str, base_dir: Path) -> Problem:
    """A drawn problem, checked and built as ``load.load_problem_text`` does after its YAML
    step (which would cost more than the solve: the values are already plain Python)."""
    from gdtrace.problem.load import build_dataset, check_common
    from gdtrace.problem.registry import import_model_modules, model_spec
    from gdtrace.problem.schema import Context

    import_model_modules()
    ctx = Context(shown, base_dir)
    spec = model_spec(doc.get("model"), ctx)
    checked = spec.object.check(doc, "", ctx)
    check_common(checked, ctx)
    if isinstance(checked.get("dataset"), dict):
        checked["dataset"] = build_dataset(checked["dataset"], ctx)
    return spec.build(checked, ctx)


def student_index(seed: int, student: str, count: int) -> int:
    """The variant (1…count) of a student: sha256 of seed and id (trimmed, lower-case, as
    e-mail addresses compare), so any machine, and the Gradescope bundle, agree."""
    digest = hashlib.sha256(f"{seed}:{student.strip().lower()}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % count + 1


def generate(source: Source, count: int, seed: int, requirements: list[Requirement],
             tries: int = MAX_TRIES) -> Batch:
    """``count`` variants meeting every requirement; a clear error when one cannot be found."""
    import numpy as np

    from gdtrace.api import solve
    from gdtrace.variants.rules import draw

    if not 1 <= count <= MAX_VARIANTS:
        raise UsageError(f"-n must be between 1 and {MAX_VARIANTS}, got {count}")
    if seed < 0:
        raise UsageError(f"--seed must be 0 or more, got {seed}")
    distinct = any(r.name == "distinct" for r in requirements)
    checks = [r for r in requirements if r.check is not None]
    batch = Batch(source, seed, [])
    seen: set[str] = set()
    for index in range(1, count + 1):
        rng = np.random.default_rng([seed, index])
        reasons: dict[str, str] = {}
        for attempt in range(1, tries + 1):
            doc = draw(source.raw, source.vary, rng, source.ctx)
            canonical = json.dumps(doc, sort_keys=True)
            if distinct and canonical in seen:
                reasons["distinct"] = "equal to an earlier variant"
                batch.rejected["distinct"] = batch.rejected.get("distinct", 0) + 1
                continue
            problem = build(doc, f"{name(index)}.yaml", source.base_dir)
            trace = solve(problem)
            failed = None
            for requirement in checks:
                reason = requirement.check(trace)  # type: ignore[misc]
                if reason is not None:
                    failed = requirement.name
                    reasons[failed] = reason
                    break
            if failed is not None:
                batch.rejected[failed] = batch.rejected.get(failed, 0) + 1
                continue
            seen.add(canonical)
            header = (f"{name(index)} of {source.name} (gdtrace variants --seed {seed}); a plain"
                      " problem file:\nsolve it with `gdtrace solve FILE`")
            batch.variants.append(Variant(index, dump(doc, header), problem, trace, attempt))
            break
        else:
            detail = "; ".join(f"{k}: {v}" for k, v in reasons.items())
            raise UsageError(
                f"{source.name}: {name(index)}: no draw in {tries} met"
                f" {', '.join(r.name for r in requirements)} (last failures: {detail}); widen"
                " the vary: ranges or drop a requirement")
    return batch
