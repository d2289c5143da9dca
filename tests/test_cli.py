"""The command line: every command and option, and every class of bad input → exit code 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from seed_yaml import SEED_DATASET
from typer.testing import CliRunner

from gdtrace import __version__
from gdtrace.cli import app

ANSI = "\x1b["
LOGREG_ROWS = SEED_DATASET


def invoke(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(app, list(args), env=env)


def ok(*args: str, env: dict[str, str] | None = None) -> str:
    result = invoke(*args, env=env)
    assert result.exit_code == 0, result.output
    return result.stdout


def as_json(*args: str) -> dict:
    return json.loads(ok(*args, "--format", "json"))


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


# ------------------------------------------------------------------------------------ solve


def test_solve_default_is_logreg_as_plain_text():
    out = ok("solve")
    assert out.startswith("Logistic regression by SGD\n")
    assert "source: problems/logreg.yaml" in out
    assert "Epoch 1 — loss at the start L = 0.8866" in out and "Epoch 2" in out
    assert "final parameters: w1 = -0.7402, w2 = 0.1598, w3 = -0.9123, b = -0.0505" in out
    assert "final loss: 3.6369" in out and "accuracy: 2/4 (50%)" in out
    assert ANSI not in out  # CliRunner's stdout is not a terminal: plain text


def test_solve_bundled_name_and_path(tmp_path):
    out = ok("solve", "linreg")
    assert "Linear regression by batch gradient descent" in out
    assert "stability:" in out and "0 < η < 2/λmax = 0.00901456; η = 0.1 diverges." in out
    path = write(tmp_path, "mine.yaml", "title: Mine\nmodel: linear\n" + LOGREG_ROWS
                 + "learning_rate: 0.005\nepochs: 3\nupdate: batch\n")
    out = ok("solve", str(path))
    assert out.startswith("Mine\n") and f"source: {path}" in out
    assert "η = 0.005 converges" in out
    assert ok("solve", "logreg.yaml") == ok("solve")  # the bundled name may keep its suffix


def test_solve_format_text_and_json():
    assert ok("solve", "--format", "text") == ok("solve")
    document = as_json("solve")
    assert [r["label"] for r in document["runs"]] == ["as written"]
    assert document["runs"][0]["final"]["w1"] == pytest.approx(-0.7402207419, abs=1e-10)


def test_solve_terminal_format_is_coloured_and_no_color_is_plain():
    assert ANSI in ok("solve", "--format", "terminal")
    out = ok("solve", env={"NO_COLOR": "1"})
    assert ANSI not in out and out == ok("solve", "--format", "text")


def test_override_epochs():
    run = as_json("solve", "--epochs", "1")["runs"][0]
    assert run["settings"]["epochs"] == 1 and len(run["epochs"]) == 1
    assert run["final"]["w1"] == pytest.approx(-0.5564398639, abs=1e-10)
    assert "Epoch 2" not in ok("solve", "--epochs", "1")


def test_override_lr():
    run = as_json("solve", "--lr", "0.01")["runs"][0]
    assert run["settings"]["learning_rate"] == 0.01
    first = run["epochs"][0]["steps"][0]["params"]
    assert first["w1"] == pytest.approx(0.08 + 0.01 * 1.2865472735, abs=1e-10)


def test_override_l2_gives_seed_values_at_lambda_half():
    run = as_json("solve", "--l2", "0.5")["runs"][0]
    assert run["settings"]["lambda"] == 0.5
    expected = [-0.7292600473, 0.1375507685, -0.8915558086, -0.0514790493]
    assert list(run["final"].values()) == pytest.approx(expected, abs=1e-10)


def test_override_update_and_batch_size():
    run = as_json("solve", "--update", "batch")["runs"][0]
    assert run["settings"]["update"] == "batch"
    assert [[s["samples"] for s in e["steps"]] for e in run["epochs"]] == [[[1, 2, 3, 4]]] * 2
    run = as_json("solve", "--update", "minibatch", "--batch-size", "3")["runs"][0]
    assert run["settings"]["batch_size"] == 3
    assert [s["samples"] for s in run["epochs"][0]["steps"]] == [[1, 2, 3], [4]]
    out = ok("solve", "--update", "batch")
    assert "Step 1 — samples 1, 2, 3, 4" in out and "∂L/∂w₁ = (1/4)·Σᵢ errorᵢ·xᵢ₁" in out


def test_override_carry():
    run = as_json("solve", "linreg", "--carry", "2")["runs"][0]
    assert run["settings"]["carry_decimals"] == 2
    assert run["final"] == {"w1": 7312.17, "w2": 7346.15, "w3": 5642.77, "b": 1110.56}
    out = ok("solve", "linreg", "--carry", "2")
    assert "loss per epoch (start of epoch): 1: 0.7, 2: 172.64, 3: 77362.46, 4: 34724944.43" in out
    assert "= −(2/4)·(-0.06·5 + 0.19·6 − 1.21·8 − 1.13·7) = 8.38" in out


def test_decimals_changes_display_only():
    out = ok("solve", "--decimals", "6")
    assert "0.742691" in out and "final parameters: w1 = -0.740221" in out
    assert as_json("solve", "--decimals", "2") == as_json("solve")  # JSON never rounds


def test_steps_prints_worked_lines():
    out = ok("solve", "--steps")
    assert "z₁ = w₁x₁ + w₂x₂ + w₃x₃ + b = 0.08·5 + 0.06·8 + 0.03·6 + 0 = 1.06" in out
    assert "σ(z₁) = 1/(1 + exp(−z₁)) = 1/(1 + exp(−1.06)) = 0.7427" in out
    assert "error₁ = σ(z₁) − y₁ = 0.7427 − 1 = -0.2573" in out
    assert "∂L/∂w₁ = error₁·x₁ = -0.2573·5 = -1.2865" in out
    assert "w₁ ← w₁ − η·∂L/∂w₁ = 0.08 − 0.1·(-1.2865) = 0.2087" in out
    with_l2 = ok("solve", "--steps", "--l2", "0.5")
    assert "∂L/∂w₁ = error₁·x₁ + (λ/n)·w₁ = -0.2573·5 + (0.5/4)·0.08 = -1.2765" in with_l2


def test_json_warnings_also_go_to_stderr():
    result = invoke("solve", "linreg", "--format", "json")
    assert result.exit_code == 0
    document = json.loads(result.stdout)
    assert len(document["warnings"]) == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 2 and all(line.startswith("gdtrace: warning: ") for line in lines)


def test_text_warnings_are_in_the_output():
    out = ok("solve", "linreg")
    assert "warning (epoch 1): the loss rose 3 epochs in a row, starting in epoch 1" in out
    assert "η = 0.1 is 11.1× the stability limit 2/λmax = 0.00901456" in out


# ---------------------------------------------------------------------------------- compare


def test_compare_l2_table_and_reading():
    out = ok("compare", "--l2", "0.5")
    assert "Comparison" in out and "λ = 0.5 − as written" in out
    assert "λ = 0.5 vs as written: 3 of 3 weights moved toward zero (|w1| by 0.011, " \
           "|w2| by 0.0223, |w3| by 0.0208); b changed by -0.0009; final loss changed by " \
           "-0.0098." in out
    assert "Epoch 1" not in out  # the epochs only with --full
    full = ok("compare", "--l2", "0.5", "--full")  # every run's epochs, as tables
    assert full.count("Epoch 1 — loss at the start L = 0.8866") == 2 and "Step 1 —" not in full
    worked = ok("compare", "--l2", "0.5", "--steps")  # every run's epochs, as worked lines
    assert worked.count("z₁ = w₁x₁ + w₂x₂ + w₃x₃ + b = 0.08·5 + 0.06·8 + 0.03·6 + 0 = 1.06") == 2


def test_compare_l2_json_has_two_labelled_runs():
    document = as_json("compare", "--l2", "0.5")
    assert [r["label"] for r in document["runs"]] == ["as written", "λ = 0.5"]
    assert [r["settings"]["lambda"] for r in document["runs"]] == [0.0, 0.5]
    assert document["runs"][1]["final"]["w2"] == pytest.approx(0.1375507685, abs=1e-10)
    comparison = document["comparison"]
    assert comparison["baseline"] == "as written"
    (contrast,) = comparison["contrasts"]
    assert contrast["run"] == "λ = 0.5" and len(contrast["changes"]) == 4
    change = contrast["changes"][0]
    assert set(change) == {"name", "baseline", "other", "difference", "magnitude_change", "bias"}
    assert change["difference"] == pytest.approx(-0.7292600473 + 0.7402207419, abs=1e-9)


def test_compare_several_values_lr_and_update():
    document = as_json("compare", "--l2", "0.1,1,10")
    assert [r["label"] for r in document["runs"]] == ["as written", "λ = 0.1", "λ = 1", "λ = 10"]
    document = as_json("compare", "--lr", "0.1,0.01")
    assert [r["label"] for r in document["runs"]] == ["as written", "η = 0.01"]
    document = as_json("compare", "--update", "sgd,batch")
    assert [r["label"] for r in document["runs"]] == ["as written", "update = batch"]
    assert document["runs"][1]["settings"]["update"] == "batch"
    out = ok("compare", "linreg", "--lr", "0.005")
    assert "η = 0.005 vs as written" in out
    document = as_json("compare", "--update", "sgd,minibatch", "--batch-size", "2")
    runs = document["runs"]
    assert [r["label"] for r in runs] == ["as written", "update = minibatch"]
    assert [s["samples"] for s in runs[1]["epochs"][0]["steps"]] == [[1, 2], [3, 4]]
    assert runs[1]["settings"]["batch_size"] == 2 and "batch_size" not in runs[0]["settings"]


# ------------------------------------------------------------------------- list and version


def test_list_and_version():
    out = ok("list")
    assert "linreg" in out and "Linear regression by batch gradient descent" in out
    assert "logreg" in out and "Logistic regression by SGD" in out
    assert ok("--version") == f"gdtrace {__version__}\n"


# ----------------------------------------------------------------------------------- errors

GOOD_TAIL = "learning_rate: 0.1\nepochs: 1\n"
BAD_FILES = {
    "wrong_type.yaml": ("model: logistic\n" + LOGREG_ROWS + "learning_rate: fast\nepochs: 1\n",
                        "wrong_type.yaml:9: learning_rate: expected a number, got a string"),
    "missing_key.yaml": ("model: logistic\n" + LOGREG_ROWS + "learning_rate: 0.1\n",
                         "missing_key.yaml:1: epochs: missing required key 'epochs'"),
    "ragged.yaml": ("model: linear\n" + LOGREG_ROWS.replace("[6, 4, 3, 1]", "[6, 4, 3]")
                    + GOOD_TAIL, "ragged.yaml:6: dataset.rows[1]: row has 3 values but there "
                    "are 4 columns"),
    "weights.yaml": ("model: linear\n" + LOGREG_ROWS + "weights: [0.1, 0.2]\n" + GOOD_TAIL,
                     "weights.yaml:9: weights: 2 weights given but there are 3 features"),
    "unknown.yaml": ("model: linear\n" + LOGREG_ROWS + "learning_rat: 0.1\nepochs: 1\n",
                     "unknown.yaml:9: learning_rat: unknown key 'learning_rat'; did you mean "
                     "'learning_rate'?"),
    "zero_lr.yaml": ("model: linear\n" + LOGREG_ROWS + "learning_rate: 0\nepochs: 1\n",
                     "zero_lr.yaml:9: learning_rate: must be greater than 0, got 0"),
    "negative_lr.yaml": ("model: linear\n" + LOGREG_ROWS + "learning_rate: -0.5\nepochs: 1\n",
                         "negative_lr.yaml:9: learning_rate: must be greater than 0, got -0.5"),
    "no_csv.yaml": ("model: linear\ndataset: {csv: missing.csv}\n" + GOOD_TAIL,
                    "no_csv.yaml:2: dataset.csv: csv file not found:"),
}


def assert_one_line_error(result, *expected: str) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("gdtrace: error: ")
    for text in expected:
        assert text in lines[0], lines[0]


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_bad_problem_file(tmp_path, name):
    text, expected = BAD_FILES[name]
    path = write(tmp_path, name, text)
    result = invoke("solve", str(path))
    assert_one_line_error(result, expected)


@pytest.mark.parametrize(("args", "expected"), [
    (["solve", "--lr", "0"], "--lr: learning_rate: must be greater than 0, got 0"),
    (["solve", "--lr", "-0.1"], "--lr: learning_rate: must be greater than 0, got -0.1"),
    (["solve", "--epochs", "0"], "--epochs: epochs: must be at least 1"),
    (["solve", "--update", "minibach"], "unknown value 'minibach'; did you mean 'minibatch'?"),
    (["solve", "--update", "minibatch"], "batch_size"),
    (["solve", "--batch-size", "2"], "only applies with update minibatch"),
    (["solve", "--carry", "-1"], "--carry: carry_decimals: must be at least 0"),
    (["solve", "nosuch"], "no such file or bundled problem 'nosuch'"),
    (["solve", "logre"], "did you mean 'logreg'?"),
    (["solve", "--format", "xml"], "unknown format 'xml' (choose from"),
    (["compare", "--l2", "0.5,abc"], "--l2: 'abc' is not a valid value"),
    (["compare", "--lr", "x"], "--lr: 'x' is not a valid value"),
    (["compare", "--l2", "-1"], "lambda: must be at least 0, got -1"),
    (["compare", "--format", "yaml", "--l2", "1"], "unknown format 'yaml'"),
    (["compare"], "say what to compare: --l2, --lr"),
    (["compare", "--l2", "0"], "nothing to compare"),
    (["compare", "--update", "sgd"], "nothing to compare"),
    (["compare", "--update", "minibatch"], "needs a batch size"),
    (["compare", "--l2", "0.5", "--batch-size", "2"], "applies to minibatch runs only"),
    (["compare", "--update", "minibatch", "--batch-size", "0"], "must be at least 1"),
])
def test_bad_options(args, expected):
    assert_one_line_error(invoke(*args), expected)


def test_directory_is_not_a_problem(tmp_path):
    """Issue 10: `gdtrace solve /tmp` said "no such file"; it names the directory."""
    for command in ("solve", "compare", "validate"):
        result = invoke(command, str(tmp_path))
        assert result.exit_code == 2 and "Traceback" not in result.output
        assert "is a directory" in result.output and "no such file" not in result.output
    if os.path.exists("/dev/zero"):
        result = invoke("solve", "/dev/zero")
        assert result.exit_code == 2 and "not a regular file" in result.output


def test_option_type_errors_are_usage_errors():
    """Wrong option types are caught by the option parser: exit 2 with usage, no traceback."""
    for args in (["solve", "--lr", "abc"], ["solve", "--decimals", "99"], ["solve", "--bogus"]):
        result = invoke(*args)
        assert result.exit_code == 2 and "Traceback" not in result.output


# ------------------------------------------------------------------------------ subprocesses


def installed_script() -> Path:
    folder = Path(sys.executable).parent
    for name in ("gdtrace", "gdtrace.exe"):
        if (folder / name).exists():
            return folder / name
    pytest.skip("the gdtrace console script is not installed next to the interpreter")


def pipe_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    env |= {"TERM": "xterm-256color", "COLUMNS": "80"}  # a colour terminal's settings
    return env


def test_installed_script_through_a_pipe_has_no_ansi():
    result = subprocess.run([str(installed_script()), "solve"], capture_output=True,
                            env=pipe_env(), timeout=60, check=False)
    out = result.stdout.decode("utf-8")
    assert result.returncode == 0, result.stderr
    assert out.startswith("Logistic regression by SGD")
    assert ANSI not in out and "\x1b" not in result.stderr.decode("utf-8")


def test_force_color_colours_a_pipe_and_no_color_wins():
    """FORCE_COLOR asks for colour even when piped (issue 14); NO_COLOR still means none."""
    forced = subprocess.run([str(installed_script()), "solve"], capture_output=True,
                            env=pipe_env() | {"FORCE_COLOR": "1"}, timeout=60, check=False)
    assert "\x1b[" in forced.stdout.decode("utf-8")
    both = subprocess.run([str(installed_script()), "solve"], capture_output=True,
                          env=pipe_env() | {"FORCE_COLOR": "1", "NO_COLOR": "1"}, timeout=60,
                          check=False)
    assert "\x1b" not in both.stdout.decode("utf-8")


def test_python_dash_m():
    result = subprocess.run([sys.executable, "-m", "gdtrace", "solve", "linreg", "--carry", "2"],
                            capture_output=True, env=pipe_env(),
                            timeout=60, check=False)
    out = result.stdout.decode("utf-8")
    assert result.returncode == 0, result.stderr
    assert "final parameters: w1 = 7312.17, w2 = 7346.15, w3 = 5642.77, b = 1110.56" in out
    assert ANSI not in out
    bad = subprocess.run([sys.executable, "-m", "gdtrace", "solve", "nosuch"],
                         capture_output=True, timeout=60, check=False)
    assert bad.returncode == 2 and bad.stdout == b""
    assert bad.stderr.decode("utf-8").count("\n") == 1


# ------------------------------------------------------------------- rendering robustness


def test_epoch_whose_steps_differ_is_written_step_by_step():
    """A step with an extra line (networks add rounded weights) cannot share one table."""
    from gdtrace.problem import bundled_problems, load_problem
    from gdtrace.render import RenderOptions, render
    from gdtrace.solvers import solve
    from gdtrace.trace import Quantity, Role

    trace = solve(load_problem(bundled_problems()["logreg"]))
    first = trace.runs[0].epochs[0].steps[0]
    first.quantities.append(Quantity("w1 rounded", Role.VALUE, first.quantities[0].symbol, 0.2))
    text = render(trace, "text", RenderOptions())
    assert "Step 1 — sample 1\n" in text and "Step 4 — sample 4\n" in text
    assert "Epoch 2" in text  # the second epoch still gets its one table


def test_table_cells_keep_their_decimals():
    """A value that only rounds to a whole number keeps its decimals in a table column."""
    from gdtrace.render.printer import NumberFormat

    numbers = NumberFormat(4)
    assert [numbers.fixed(v) for v in (0.99996, -0.99996, 5.0, 1.06, 0.0)] == \
        ["1.0000", "-1.0000", "5", "1.0600", "0"]
    assert numbers.fixed(1.5394534633806398e-06) == "1.5395e-06"
    assert numbers.fixed(1.147e34) == "1.1470e+34" and numbers.fixed(1e300) == "1.0000e+300"
    rows = ok("solve", "--decimals", "1").splitlines()
    step_3 = next(line for line in rows if line.startswith("   3        3"))
    assert step_3.split()[6:9] == ["5.2", "1.0", "1.0"]  # z, σ(z) = 0.9944, error


# -------------------------------------------------------------------- the docs show real output

DOCS = Path(__file__).resolve().parent.parent / "docs"


def _excerpt(text: str, start: str, end: str | None = None) -> str:
    """The lines of ``text`` from the first starting with ``start`` to the next starting with
    ``end`` (included), or to the end."""
    lines = text.splitlines(keepends=True)
    first = next(i for i, line in enumerate(lines) if line.startswith(start))
    if end is None:
        return "".join(lines[first:])
    last = next(i for i in range(first + 1, len(lines)) if lines[i].startswith(end))
    return "".join(lines[first:last + 1])


@pytest.mark.parametrize(("doc", "args", "start", "end"), [
    ("cli.md", ["solve"], "Logistic regression by SGD", None),
    ("cli.md", ["compare", "--l2", "0.5"], "Comparison", None),
    ("models.md", ["solve", "linreg", "--carry", "2"], "Step 1", "  b ←"),
    ("models.md", ["solve", "--steps"], "Epoch 1", "  b ←"),
    ("models.md", ["solve", "linreg"], "stability:", None),
])
def test_docs_examples_are_real_output(doc, args, start, end):
    text = (DOCS / doc).read_text(encoding="utf-8")
    assert _excerpt(ok(*args), start, end) in text


def test_settings_are_shown_as_given_whatever_the_decimals():
    out = ok("solve", "--decimals", "0", "--l2", "0.5", "--carry", "0")
    assert "settings: η = 0.1, λ = 0.5, epochs = 2, update = sgd, loss = log" in out
    assert "(1 when ŷ ≥ 0.5)" in out
    assert "η = 0.1 diverges." in ok("solve", "linreg", "--decimals", "0")
