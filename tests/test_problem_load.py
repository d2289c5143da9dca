"""Problem loading: every error names the field and line; happy paths build the right arrays."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from seed_yaml import SEED_DATASET, SEED_START

from gdtrace.errors import ProblemError
from gdtrace.problem import (
    MODELS,
    Field,
    apply_overrides,
    bundled_problems,
    load_problem,
    load_problem_text,
    problem_json_schema,
    register_model,
    resolve_problem,
)
from gdtrace.problem.load import MAX_BYTES, MAX_NODES, common_args
from gdtrace.problem.schema import Number

LOGREG = ("title: Logistic regression by SGD\nmodel: logistic\n" + SEED_DATASET + SEED_START
          + "lambda: 0\nepochs: 2\nupdate: sgd\n")


def load(text: str, base_dir: Path | None = None):
    return load_problem_text(text, "p.yaml", base_dir or Path("."))


def error(text: str, base_dir: Path | None = None) -> ProblemError:
    with pytest.raises(ProblemError) as info:
        load(text, base_dir)
    return info.value


def edit(old: str, new: str) -> str:
    assert old in LOGREG, old
    return LOGREG.replace(old, new)


# ------------------------------------------------------------------------------ happy paths


def test_rows_happy_path():
    p = load(LOGREG)
    assert (p.title, p.model, p.source) == ("Logistic regression by SGD", "logistic", "p.yaml")
    assert p.dataset.features == ["x1", "x2", "x3"] and p.dataset.targets == ["y"]
    assert p.dataset.X.dtype == np.float64 and p.dataset.X.shape == (4, 3)
    np.testing.assert_array_equal(p.dataset.X[2], [8, 5, 9])
    np.testing.assert_array_equal(p.dataset.Y[:, 0], [1, 1, 0, 0])
    assert p.weight_names == ["w1", "w2", "w3"] and p.weights == [0.08, 0.06, 0.03]
    assert (p.learning_rate, p.epochs, p.update, p.lam) == (0.1, 2, "sgd", 0.0)


def test_defaults_filled():
    text = """\
model: linear
dataset: {columns: [a, t], rows: [[1, 2], [3, 4]]}
learning_rate: 0.5
epochs: 1
"""
    p = load(text)
    assert p.loss == "mse" and p.update == "sgd" and p.lam == 0.0 and p.bias == 0.0
    assert p.weights == [0.0] and p.weight_names == ["w1"]
    assert p.threshold == 0.5 and p.carry_decimals is None and p.shuffle_seed is None
    assert p.batch_size is None and p.title == "Linear regression (p.yaml)"
    assert load(LOGREG).loss == "log"


def test_csv_relative_to_problem_file(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "pts.csv").write_text("x1, x2, y\n1, 2, 0\n3, 4.5, 1\n\n")
    text = edit(
        "  columns: [x1, x2, x3, y]\n  rows:\n    - [5, 8, 6, 1]\n    - [6, 4, 3, 1]\n"
        "    - [8, 5, 9, 0]\n    - [7, 9, 1, 0]\n",
        "  csv: data/pts.csv\n",
    ).replace("[0.08, 0.06, 0.03]", "[0.1, 0.2]")
    (tmp_path / "p.yaml").write_text(text)
    p = load_problem(tmp_path / "p.yaml", display_name="mine.yaml")
    assert p.source == "mine.yaml"
    assert p.dataset.columns == ["x1", "x2", "y"]
    np.testing.assert_array_equal(p.dataset.X, [[1, 2], [3, 4.5]])
    np.testing.assert_array_equal(p.dataset.Y, [[0], [1]])


def test_weights_mapping_and_targets():
    text = edit("weights: [0.08, 0.06, 0.03]", "weights: {a: 0.08, b0: 0.06, c: 0.03}")
    text = text.replace("model: logistic", "model: linear")
    text = text.replace("  rows:", "  targets: [x1]\n  rows:")
    p = load(text)
    assert p.weight_names == ["a", "b0", "c"] and p.weights == [0.08, 0.06, 0.03]
    assert p.dataset.features == ["x2", "x3", "y"] and p.dataset.targets == ["x1"]
    np.testing.assert_array_equal(p.dataset.Y[:, 0], [5, 6, 8, 7])
    np.testing.assert_array_equal(p.dataset.X[0], [8, 6, 1])


def test_minibatch_with_batch_size_and_extras():
    text = edit("update: sgd", "update: minibatch\nbatch_size: 2\nshuffle: {seed: 7}\n"
                "carry_decimals: 4\nloss: mse\nlearning_rate_unused: 1").replace(
        "learning_rate_unused: 1", "threshold: 0.3")
    p = load(text)
    assert (p.update, p.batch_size, p.shuffle_seed, p.carry_decimals) == ("minibatch", 2, 7, 4)
    assert p.loss == "mse" and p.threshold == 0.3


def test_exponent_without_dot_is_a_number():
    assert load(edit("learning_rate: 0.1", "learning_rate: 1e-3")).learning_rate == 0.001


# ------------------------------------------------------------------------------- errors


def test_wrong_type():
    e = error(edit("epochs: 2", "epochs: abc"))
    assert "expected a whole number, got a string ('abc')" in e.message
    assert (e.field, e.line) == ("epochs", 14)
    e = error(edit("[7, 9, 1, 0]", "[7, true, 1, 0]"))
    assert "expected a number, got a boolean (true)" in e.message
    assert (e.field, e.line) == ("dataset.rows[3][1]", 9)


def test_not_whole_and_not_finite():
    assert "whole number" in error(edit("epochs: 2", "epochs: 2.5")).message
    e = error(edit("bias: 0", "bias: .nan"))
    assert "finite" in e.message and (e.field, e.line) == ("bias", 11)


def test_missing_key():
    e = error(edit("epochs: 2\n", ""))
    assert e.message == "missing required key 'epochs'"
    assert (e.field, e.line) == ("epochs", 1)
    e = error(edit("  columns: [x1, x2, x3, y]\n", ""))
    assert "missing required key 'columns'" in e.message and e.line == 3


def test_ragged_rows():
    e = error(edit("[6, 4, 3, 1]", "[6, 4, 3]"))
    assert "row has 3 values but there are 4 columns (x1, x2, x3, y)" in e.message
    assert (e.field, e.line) == ("dataset.rows[1]", 7)


def test_weights_count_mismatch():
    e = error(edit("[0.08, 0.06, 0.03]", "[0.08, 0.06]"))
    assert "2 weights given but there are 3 features (x1, x2, x3)" in e.message
    assert (e.field, e.line) == ("weights", 10)
    e = error(edit("[0.08, 0.06, 0.03]", "{w1: 1}"))
    assert "1 weight given" in e.message and e.field == "weights"


def test_unknown_key_suggests():
    e = error(edit("learning_rate: 0.1", "lerning_rate: 0.1"))
    assert "unknown key 'lerning_rate'; did you mean 'learning_rate'?" in e.message
    assert (e.field, e.line) == ("lerning_rate", 12)
    e = error(edit("  rows:", "  rowz:"))
    assert "did you mean 'rows'?" in e.message and (e.field, e.line) == ("dataset.rowz", 5)


@pytest.mark.parametrize("value, text", [("0", "greater than 0, got 0"),
                                         ("-0.5", "greater than 0, got -0.5")])
def test_learning_rate_must_be_positive(value, text):
    e = error(edit("learning_rate: 0.1", f"learning_rate: {value}"))
    assert text in e.message and (e.field, e.line) == ("learning_rate", 12)


def test_negative_lambda_and_bad_update():
    e = error(edit("lambda: 0", "lambda: -1"))
    assert "at least 0" in e.message and e.field == "lambda"
    e = error(edit("update: sgd", "update: sdg"))
    assert "unknown value 'sdg'; did you mean 'sgd'?" in e.message
    assert "sgd, batch, minibatch" in e.message and e.line == 15


def test_batch_size_rules():
    e = error(edit("update: sgd", "update: minibatch"))
    assert "needs batch_size" in e.message and e.field == "batch_size"
    e = error(edit("update: sgd", "update: batch\nbatch_size: 2"))
    assert "only applies with update: minibatch" in e.message and e.line == 16


def test_wrong_loss_for_model():
    e = error(edit("update: sgd", "update: sgd\nloss: half_sse"))
    assert "allowed: log, mse" in e.message and (e.field, e.line) == ("loss", 16)


def test_missing_csv(tmp_path):
    text = edit("  columns: [x1, x2, x3, y]\n", "  csv: nope.csv\n")
    text = text.split("  rows:")[0] + "weights:" + text.split("weights:")[1]
    e = error(text, tmp_path)
    assert "csv file not found" in e.message and str(tmp_path / "nope.csv") in e.message
    assert (e.field, e.line) == ("dataset.csv", 4)


def test_csv_bad_cell(tmp_path):
    (tmp_path / "d.csv").write_text("a,y\n1,0\nx,1\n")
    text = "model: linear\ndataset:\n  csv: d.csv\nlearning_rate: 1\nepochs: 1\n"
    e = error(text, tmp_path)
    assert "d.csv line 3, column a" in e.message and e.field == "dataset.csv"


def test_unknown_model():
    e = error(edit("model: logistic", "model: logisitc"))
    assert "unknown model 'logisitc'; did you mean 'logistic'?" in e.message
    assert "linear" in e.message and (e.field, e.line) == ("model", 2)


def test_unknown_target():
    e = error(edit("  rows:", "  targets: [yy]\n  rows:"))
    assert "unknown column 'yy'; did you mean 'y'?" in e.message
    assert (e.field, e.line) == ("dataset.targets[0]", 5)


def test_logistic_targets_in_range():
    e = error(edit("[8, 5, 9, 0]", "[8, 5, 9, 3]"))
    assert "between 0 and 1" in e.message and "sample 3" in e.message


def test_yaml_syntax_error():
    e = error(edit("epochs: 2", "epochs: [2"))
    assert e.message.startswith("YAML syntax error") and e.line is not None and e.line >= 14
    e = error("model: logistic\ntitle: a\x01b\n")
    assert "special characters are not allowed" in e.message and e.line == 2
    e = error("model: logistic\n  bad: indent: here\n")
    assert e.message.startswith("YAML syntax error") and e.line == 2


def test_multiple_documents():
    e = error(LOGREG + "---\nmodel: linear\n")
    assert "several YAML documents" in e.message and e.line == 16


def test_empty_and_top_level_not_mapping():
    assert "empty" in error("").message
    assert "empty" in error("# just a comment\n").message
    e = error("- model: logistic\n- epochs: 2\n")
    assert "top level must be a mapping" in e.message and "a list" in e.message and e.line == 1


def test_non_utf8(tmp_path):
    f = tmp_path / "p.yaml"
    f.write_bytes(LOGREG.encode() + b"title2: caf\xe9\n")
    with pytest.raises(ProblemError) as info:
        load_problem(f)
    assert "not UTF-8" in info.value.message and info.value.line == 16
    assert info.value.source == str(f)


def test_alias_bomb():
    bomb = "a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n"
    for name, prev in zip("bcdefg", "abcdef"):
        bomb += f"{name}: &{name} [{', '.join(['*' + prev] * 10)}]\n"
    e = error(bomb)
    assert f"aliases (*name) expand to more than {MAX_NODES} values" in e.message


def test_large_plain_dataset_is_not_an_alias_bomb():
    rows = "".join(f"    - [{i}, {i % 7}, {i % 3}, {i % 2}]\n" for i in range(3000))
    text = LOGREG.split("    - [5")[0] + rows + "weights:" + LOGREG.split("weights:")[1]
    assert load(text).dataset.X.shape == (3000, 3)


def test_recursive_alias_and_python_tag():
    assert "nested" in error("a: &x [*x]\n").message
    e = error(edit("bias: 0", "bias: !!python/object/apply:os.system ['true']"))
    assert "unsupported YAML tag" in e.message and (e.field, e.line) == ("bias", 11)
    e = error(edit("bias: 0", "bias: !!binary aGk="))
    assert "expected a number, got a bytes" in e.message


def test_duplicate_key():
    e = error(LOGREG + "epochs: 3\n")
    assert "duplicate key 'epochs' (first on line 14)" in e.message and e.line == 16


def test_missing_and_large_file(tmp_path):
    with pytest.raises(ProblemError, match="file not found") as info:
        load_problem(tmp_path / "none.yaml", display_name="none.yaml")
    assert info.value.source == "none.yaml"
    big = tmp_path / "big.yaml"
    big.write_text("# " + "x" * MAX_BYTES)
    with pytest.raises(ProblemError, match="larger than"):
        load_problem(big)


# ---------------------------------------------------------------------------- overrides


def test_apply_overrides_ok():
    p = apply_overrides(load(LOGREG), epochs=5, learning_rate=0.5, lam=1, carry_decimals=3)
    assert (p.epochs, p.learning_rate, p.lam, p.carry_decimals) == (5, 0.5, 1.0, 3)
    p = apply_overrides(p, update="minibatch", batch_size=2)
    assert (p.update, p.batch_size) == ("minibatch", 2)
    assert apply_overrides(p, update="batch").batch_size is None


@pytest.mark.parametrize(
    "kwargs, source, field, text",
    [
        ({"learning_rate": -1}, "--lr", "learning_rate", "greater than 0"),
        ({"epochs": 0}, "--epochs", "epochs", "at least 1"),
        ({"lam": -0.1}, "--l2", "lambda", "at least 0"),
        ({"update": "bach"}, "--update", "update", "did you mean 'batch'?"),
        ({"carry_decimals": 13}, "--carry", "carry_decimals", "at most 12"),
        ({"batch_size": 2}, "--batch-size", "batch_size", "--update minibatch"),
        ({"update": "minibatch"}, "--update", "batch_size", "--batch-size"),
    ],
)
def test_apply_overrides_errors(kwargs, source, field, text):
    with pytest.raises(ProblemError) as info:
        apply_overrides(load(LOGREG), **kwargs)
    assert (info.value.source, info.value.field) == (source, field)
    assert text in info.value.message and info.value.line is None


# ------------------------------------------------------------------------ resolve / registry


def test_resolve_problem(tmp_path, monkeypatch):
    f = tmp_path / "mine.yaml"
    f.write_text(LOGREG)
    assert resolve_problem(str(f)) == f
    fake = {"logreg": tmp_path / "logreg.yaml", "linreg": tmp_path / "linreg.yaml"}
    monkeypatch.setattr("gdtrace.problem.load.bundled_problems", lambda: fake)
    assert resolve_problem(None) == fake["logreg"]
    assert resolve_problem("linreg") == fake["linreg"]
    with pytest.raises(ProblemError) as info:
        resolve_problem("lingreg")
    assert "no such file or bundled problem 'lingreg'" in info.value.message
    assert "did you mean 'linreg'?" in info.value.message
    assert "(bundled: logreg, linreg)" in info.value.message


def test_bundled_problems_are_yaml_files():
    for name, path in bundled_problems().items():
        assert path.suffix == ".yaml" and path.stem == name and path.is_file()


def test_register_model_adds_keys():
    from dataclasses import dataclass

    from gdtrace.problem.model import Problem, Spec

    @dataclass(frozen=True)
    class GainSpec(Spec):
        gain: float

    def build(checked, ctx):
        return Problem(**common_args(checked, ctx), spec=GainSpec(checked["gain"]))

    register_model("toy_test", {"gain": Field(Number(minimum=0), default=1.0),
                                "learning_rate": None}, build)
    try:
        text = "model: toy_test\ndataset: {columns: [a, y], rows: [[1, 2]]}\nepochs: 1\ngain: 3\n"
        assert load(text).spec_of(GainSpec).gain == 3.0
        assert "unknown key 'learning_rate'" in error(text + "learning_rate: 1\n").message
        assert "toy_test" in problem_json_schema()["properties"]["model"]["enum"]
    finally:
        del MODELS["toy_test"]


def test_json_schema_is_complete():
    schema = problem_json_schema()
    assert schema["$schema"].endswith("2020-12/schema")
    logistic = next(b["then"] for b in schema["allOf"]
                    if b["if"]["properties"]["model"]["const"] == "logistic")
    props = logistic["properties"]
    assert props["learning_rate"]["exclusiveMinimum"] == 0
    assert props["loss"]["enum"] == ["log", "mse"]
    assert props["weights"]["oneOf"][1]["type"] == "object"
    assert set(logistic["required"]) >= {"model", "dataset", "learning_rate", "epochs"}
    assert logistic["additionalProperties"] is False
