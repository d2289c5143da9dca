"""Problem files: the YAML format's schema, loading with line-numbered errors, CLI overrides.

Importing this package registers the built-in models (``logistic``, ``linear``); other model
modules add theirs with :func:`register_model`.
"""

from __future__ import annotations

from gdtrace.problem.load import (
    apply_overrides,
    bundled_problems,
    load_problem,
    load_problem_text,
    resolve_problem,
)
from gdtrace.problem.model import Dataset, Problem
from gdtrace.problem.registry import MODELS, ModelSpec, problem_json_schema, register_model
from gdtrace.problem.schema import Field

__all__ = [
    "MODELS",
    "Dataset",
    "Field",
    "ModelSpec",
    "Problem",
    "apply_overrides",
    "bundled_problems",
    "load_problem",
    "load_problem_text",
    "problem_json_schema",
    "register_model",
    "resolve_problem",
]
