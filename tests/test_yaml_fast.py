"""Problem files composed by libyaml (fast) read exactly as with PyYAML's Python parser: the
same values, the same line of every field, and every mistake reported by the Python parser's
reading, with its message. Checked on the fuzz corpus (every bundled problem and template,
mutated) and on numbers written every way YAML allows."""

from __future__ import annotations

import math
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_fuzz import SEEDS, _dump, mutated_bytes, mutated_tree

from gdtrace.errors import GdtraceError
from gdtrace.problem import bundled_problems
from gdtrace.problem import load as load_module
from gdtrace.problem.load import parse_yaml
from gdtrace.problem.schema import Context

pytestmark = pytest.mark.skipif(not yaml.__with_libyaml__, reason="PyYAML without libyaml")

SAME = settings(max_examples=300, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def outcome(text: str, fast: bool) -> tuple[Any, ...]:
    """What a reading gives: the values (floats by their bits, so −0.0 and nan compare) and
    every field's line, or the error's message, field and line."""
    ctx = Context("p.yaml")
    try:
        value = parse_yaml(text, ctx, fast=fast)
    except GdtraceError as exc:
        return ("error", str(exc))
    return ("ok", _exact(value), dict(ctx.lines))


def _exact(value: Any) -> Any:
    if isinstance(value, float):
        return ("float", value.hex() if not math.isnan(value) else "nan")
    if isinstance(value, dict):
        return {key: _exact(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_exact(item) for item in value]
    return (type(value).__name__, value)


def test_bundled_problems_read_alike_and_fast(monkeypatch):
    """Every bundled problem reads the same both ways, in one pass of libyaml (the fast path is
    taken: the test fails if it falls back)."""
    used = []
    real = load_module._parse_with

    def spy(loader_class, text, ctx):
        used.append(loader_class)
        return real(loader_class, text, ctx)

    for name, path in bundled_problems().items():
        text = path.read_text(encoding="utf-8")
        assert outcome(text, fast=True) == outcome(text, fast=False), name
        used.clear()
        monkeypatch.setattr(load_module, "_parse_with", spy)
        parse_yaml(text, Context(name))
        monkeypatch.undo()
        assert used == [yaml.CSafeLoader], name


@SAME
@given(tree=mutated_tree())
def test_mutated_trees_read_alike(tree):
    text = _dump(tree)
    assert outcome(text, fast=True) == outcome(text, fast=False)


@SAME
@given(data=mutated_bytes())
def test_mutated_texts_read_alike(data):
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return  # refused before YAML is read
    assert outcome(text, fast=True) == outcome(text, fast=False)


@SAME
@given(text=st.text(max_size=200))
def test_arbitrary_text_reads_alike(text):
    assert outcome(text, fast=True) == outcome(text, fast=False)


NUMBER = st.one_of(
    st.floats(allow_nan=False).map(repr), st.integers(-10**30, 10**30).map(str),
    st.from_regex(r"\A[-+]?(\d{1,4}(_\d{1,3})?)?\.?\d{0,4}([eE][-+]?\d{1,3})?\Z")
    .filter(lambda text: any(c.isdigit() for c in text)),
    st.sampled_from(["0", "-0", "+0", "00", "007", "0x1F", "0o17", "0b101", "1:30", "1_000",
                     "-.5", "+.5e3", "1.", ".inf", "-.Inf", ".nan", "1e3", "1E+3", "-0.0"]))


@settings(max_examples=500, deadline=None, derandomize=True, database=None)
@given(number=NUMBER, quoted=st.booleans())
def test_numbers_read_as_pyyaml_constructs_them(number, quoted):
    """The shortcut for plain decimal numbers gives PyYAML's own value (and type), and only
    plain ones take it."""
    written = f"'{number}'" if quoted else number
    text = f"x: {written}\ny: [{written}, {written}]\n"
    assert outcome(text, fast=True) == outcome(text, fast=False)
    expected = yaml.safe_load(text)
    got = parse_yaml(text, Context("p.yaml"))
    if isinstance(expected["x"], str) and not quoted and load_module._EXP_NUMBER.fullmatch(number):
        expected = {"x": float(number), "y": [float(number)] * 2}  # 1e3: a number here, by design
    assert _exact(got) == _exact(expected)


def test_seeds_exist():
    assert SEEDS
