"""``gdtrace schema``, ``new``, ``validate``; the shipped schema file; warnings never raised;
``--help``/``--version`` stay light (no numpy)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
from typer.testing import CliRunner

from gdtrace.cli import app
from gdtrace.problem import MODELS, bundled_problems, problem_json_schema
from gdtrace.problem.load import parse_yaml, problems_dir
from gdtrace.problem.registry import import_model_modules
from gdtrace.problem.schema import Context
from gdtrace.problem.templates import SCHEMA_FILE, SCHEMA_LINE, template
from gdtrace.solvers import SOLVERS

RUNNER = CliRunner()
SHIPPED = problems_dir() / SCHEMA_FILE
import_model_modules()


def plain(text: str) -> object:
    """The values gdtrace itself reads from YAML text (1e-8 is a number, as in the loader)."""
    return parse_yaml(text, Context("test"))


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = problem_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


# ------------------------------------------------------------------------------------ schema


def test_schema_command_prints_the_validator_definitions():
    result = RUNNER.invoke(app, ["schema"])
    assert result.exit_code == 0
    printed = json.loads(result.stdout)
    assert printed == problem_json_schema()
    assert printed["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert set(printed["properties"]["model"]["enum"]) == set(MODELS)


def test_shipped_schema_file_is_up_to_date():
    expected = RUNNER.invoke(app, ["schema"]).stdout
    assert SHIPPED.read_text(encoding="utf-8") == expected, (
        f"{SHIPPED} is stale: regenerate it with `gdtrace schema -o {SHIPPED}`")


def test_schema_output_file(tmp_path):
    target = tmp_path / "s.json"
    result = RUNNER.invoke(app, ["schema", "-o", str(target)])
    assert result.exit_code == 0 and json.loads(target.read_text()) == problem_json_schema()
    bad = RUNNER.invoke(app, ["schema", "-o", str(tmp_path / "missing" / "s.json")])
    assert bad.exit_code == 2 and bad.stderr.startswith("gdtrace: error: cannot write")


@pytest.mark.parametrize("name", sorted(bundled_problems()))
def test_bundled_problem_points_editors_at_the_schema(name, validator):
    path = bundled_problems()[name]
    text = path.read_text(encoding="utf-8")
    assert text.splitlines()[0] == SCHEMA_LINE
    assert (path.parent / SCHEMA_FILE).is_file()
    errors = [e.message for e in validator.iter_errors(plain(text))]
    assert not errors, errors


@pytest.mark.parametrize("model", sorted(MODELS))
def test_templates_match_the_schema(model, validator):
    errors = [e.message for e in validator.iter_errors(plain(template(model)))]
    assert not errors, errors


BASE = """\
model: logistic
dataset:
  columns: [x1, y]
  rows: [[1, 0], [2, 1]]
learning_rate: 0.1
epochs: 1
"""


@pytest.mark.parametrize("change", [
    ("epochs: 1", "epochs: 0"),
    ("epochs: 1", "epochs: 1\nunknown_key: 3"),
    ("learning_rate: 0.1", "learning_rate: fast"),
    ("epochs: 1", "epochs: 1\nupdate: minibatch"),
    ("epochs: 1", "epochs: 1\nbatch_size: 2"),
    ("model: logistic", "model: logistc"),
    ("learning_rate: 0.1\n", ""),
])
def test_schema_and_validator_reject_the_same_mistakes(tmp_path, validator, change):
    text = BASE.replace(*change)
    assert list(validator.iter_errors(plain(text))), text
    (tmp_path / "p.yaml").write_text(text)
    result = RUNNER.invoke(app, ["validate", str(tmp_path / "p.yaml")])
    assert result.exit_code == 2, result.output


def test_schema_and_validator_accept_the_base(tmp_path, validator):
    assert not list(validator.iter_errors(plain(BASE)))
    (tmp_path / "p.yaml").write_text(BASE)
    assert RUNNER.invoke(app, ["validate", str(tmp_path / "p.yaml")]).exit_code == 0


# --------------------------------------------------------------------------------------- new


@pytest.mark.parametrize("model", sorted(MODELS))
def test_new_writes_a_valid_commented_template(tmp_path, model):
    target = tmp_path / f"{model}.yaml"
    result = RUNNER.invoke(app, ["new", model, "-o", str(target)])
    assert result.exit_code == 0, result.output
    text = target.read_text(encoding="utf-8")
    assert text.startswith(SCHEMA_LINE + "\n")
    assert sum(line.startswith("#") for line in text.splitlines()) >= 5  # it explains itself
    checked = RUNNER.invoke(app, ["validate", str(target)])
    assert checked.exit_code == 0, checked.output
    if model in SOLVERS:
        solved = RUNNER.invoke(app, ["solve", str(target), "--format", "json"])
        assert solved.exit_code == 0, solved.output


def test_new_prints_to_stdout_and_refuses_to_overwrite(tmp_path):
    result = RUNNER.invoke(app, ["new", "logistic"])
    assert result.exit_code == 0 and "model: logistic" in result.stdout
    target = tmp_path / "p.yaml"
    target.write_text("mine")
    again = RUNNER.invoke(app, ["new", "logistic", "-o", str(target)])
    assert again.exit_code == 2 and "already exists" in again.stderr
    assert target.read_text() == "mine"


def test_new_unknown_model_suggests():
    result = RUNNER.invoke(app, ["new", "logistc"])
    assert result.exit_code == 2
    assert "did you mean 'logistic'" in result.stderr and "Traceback" not in result.output


# ---------------------------------------------------------------------------------- validate


def test_validate_one_line_per_file_and_exit_code(tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text(BASE)
    bad = tmp_path / "bad.yaml"
    bad.write_text(BASE.replace("epochs: 1", "epochs: -3"))
    result = RUNNER.invoke(app, ["validate", str(good), str(bad), "logreg"])
    assert result.exit_code == 2
    lines = result.stdout.strip().splitlines()
    assert lines[0] == f"{good}: ok (logistic)"
    assert lines[1] == f"{bad}:6: epochs: must be at least 1, got -3"
    assert lines[2] == "logreg: ok (logistic)"
    assert result.stderr.strip() == "gdtrace: 1 of 3 files invalid"
    ok = RUNNER.invoke(app, ["validate", str(good)])
    assert ok.exit_code == 0 and ok.stderr == ""


def test_validate_all_bundled_problems():
    names = sorted(bundled_problems())
    result = RUNNER.invoke(app, ["validate", *names])
    assert result.exit_code == 0, result.output
    assert len(result.stdout.strip().splitlines()) == len(names)


# -------------------------------------------------------------------------- warnings, startup


@pytest.mark.parametrize("name", sorted(bundled_problems()))
def test_large_learning_rate_never_raises_a_numpy_warning(name):
    """``python -W error``: any RuntimeWarning (overflow, invalid value) would be a crash."""
    result = subprocess.run(
        [sys.executable, "-W", "error", "-m", "gdtrace", "solve", name, "--lr", "1000",
         "--format", "text"], capture_output=True, text=True, timeout=60)
    assert "Traceback" not in result.stderr and "Warning" not in result.stderr, result.stderr
    assert result.returncode in (0, 2), result.stderr
    if result.returncode == 2:  # a model without a learning rate says so in one line
        assert result.stderr.count("\n") == 1 and "--lr" in result.stderr


@pytest.mark.parametrize("update", ["sgd", "batch"])
@pytest.mark.parametrize("name", ["logreg", "linreg"])
@pytest.mark.parametrize("mode", [[], ["--summary"]])
def test_overflow_with_l2_never_raises_a_numpy_warning(name, update, mode):
    result = subprocess.run(
        [sys.executable, "-W", "error", "-m", "gdtrace", "solve", name, "--lr", "1e300",
         "--l2", "0.5", "--update", update, "--epochs", "5", "--format", "text", *mode],
        capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr and "Warning" not in result.stderr
    assert "overflow" in result.stdout


@pytest.mark.parametrize("args", [["--help"], ["--version"]])
def test_help_and_version_do_not_import_numpy(args):
    code = (f"import sys\nsys.argv = ['gdtrace', *{args!r}]\nfrom gdtrace.cli import main\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "print('NUMPY' if 'numpy' in sys.modules else 'NO-NUMPY', file=sys.stderr)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60)
    assert result.stderr.strip().endswith("NO-NUMPY"), result.stderr
    assert result.stdout.strip()


def test_shell_completion_is_offered():
    result = RUNNER.invoke(app, ["--help"])
    assert "--install-completion" in result.stdout


def test_every_command_is_listed_in_help():
    result = RUNNER.invoke(app, ["--help"])
    for command in ("solve", "schema", "new", "validate"):
        assert command in result.stdout


def test_schema_file_is_valid_json_for_editors():
    document = json.loads(Path(SHIPPED).read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(document)
