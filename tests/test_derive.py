"""gdtrace derive: identities of a matrix-calculus table checked numerically, wrong claims
caught, the command's exit codes and formats, and derivation problem files."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from gdtrace.cli import app

pytest.importorskip("sympy")

from gdtrace.derive.report import run  # noqa: E402 (after the skip when sympy is missing)

RUNNER = CliRunner()

# (f, wrt, the table's answer in the default layout or None, --shape)
IDENTITIES = [
    ("tr(A X)", "X", "A^T", None),
    ("tr(X A)", "X", "A^T", None),
    ("tr(A X^T)", "X", "A", None),
    ("tr(A X B)", "X", "A^T B^T", None),
    ("a^T X b", "X", "a b^T", None),
    ("a^T X^T b", "X", "b a^T", None),
    ("a^T X b", "X", "a b^T", "X=3x4,a=3,b=4"),
    ("a^T x", "x", "a", None),
    ("x^T a", "x", "a", None),
    ("x^T x", "x", "2x", None),
    ("x^T A x", "x", "(A + A^T) x", None),
    ("(a^T x)^2", "x", "2 (a^T x) a", None),
    ("A x", "x", "A", "A=3x4,x=4"),
    ("(x^T x) x", "x", "(x^T x) I + 2 x x^T", None),
    ("tr(X^T X)", "X", "2X", None),
    ("tr(X X^T)", "X", "2X", None),
    ("||X||_F^2", "X", "2X", None),
    ("tr(X^T A X)", "X", "(A + A^T) X", "X=3x2,A=3x3"),
    ("tr(X A X^T)", "X", "X (A + A^T)", None),
    ("a^T X^T X b", "X", "X(a b^T + b a^T)", None),
    ("tr(X^2)", "X", "2 X^T", None),
    ("tr(X^3)", "X", "3 X^T X^T", None),
    ("log(det(X))", "X", "X^{-T}", None),
    ("logdet(X)", "X", "X^-T", None),
    ("det(X)", "X", "det(X) X^{-T}", None),
    ("tr(X^{-1})", "X", "-X^{-T} X^{-T}", None),
    ("a^T X^{-1} b", "X", "-X^{-T} a b^T X^{-T}", None),
    ("tr(A X^-1 B)", "X", "-X^{-T} A^T B^T X^{-T}", None),
    ("norm(x)", "x", "x / norm(x)", None),
    ("||A x - b||^2", "x", "2 A^T (A x - b)", "A=4x3,x=3,b=4"),
    ("(A x - b)^T (A x - b)", "x", "2 A^T (A x - b)", None),
    ("log(a^T X b)", "X", "a b^T / (a^T X b)", None),
    ("a^T sigma(W x)", "W", None, None),
    ("a^T tanh(W x)", "x", None, None),
    ("sigma(W x)", "x", None, "W=2x3,x=3"),
    ("exp(x)", "x", None, None),
    ("a^T log(x)", "x", None, None),
    ("tanh(W x) ⊙ a", "x", None, None),
    ("norm(sigma(W x) - y)^2", "W", None, "W=2x3,x=3,y=2"),
    ("s^2 x^T x", "s", "2 s x^T x", "s=1"),  # a scalar variable
    ("exp(s) a", "s", "exp(s) a", "s=1"),  # a vector f of a scalar: an n×1 Jacobian
]


@pytest.mark.parametrize("f,wrt,answer,shape", IDENTITIES, ids=[i[0] for i in IDENTITIES])
def test_identity_agrees_with_central_differences(f, wrt, answer, shape):
    report = run(f, wrt, answer, shape)
    assert report.derived_ok, [t.derived_error for t in report.trials]
    assert report.second_ok in (None, True)
    if answer is not None:
        assert report.claim is not None and report.claim.correct, report.claim


def test_at_least_25_identities_and_several_sizes():
    assert len(IDENTITIES) >= 25
    sizes = {t.sizes["n"] for t in run("tr(X X^T)", "X").trials}
    assert len(sizes) >= 3


@pytest.mark.parametrize("f,wrt,claim,shape", [
    ("tr(A X)", "X", "A", None),  # transposed
    ("log(det(X))", "X", "X^{-1}", None),  # transposed
    ("a^T X b", "X", "b a^T", "X=3x3,a=3,b=3"),  # transposed, square: only numbers tell
    ("x^T A x", "x", "2 A x", None),  # missing symmetric term
    ("a^T X^T X b", "X", "2 X b a^T", None),  # missing symmetric term
    ("tr(X X^T)", "X", "X", None),  # factor 2 missing
    ("x^T x", "x", "4 x", None),  # factor 2 twice
    ("A x", "x", "A^T", None),  # the denominator-layout answer in the default layout
])
def test_wrong_claims_are_reported_wrong(f, wrt, claim, shape):
    verdict = run(f, wrt, claim, shape).claim
    assert verdict is not None and not verdict.correct
    assert "differs" in verdict.reason or "is " in verdict.reason


def test_layouts_transpose_the_answer():
    assert run("tr(A X)", "X", "A", layout="numerator").claim.correct
    assert run("A x", "x", "A^T", layout="denominator").claim.correct
    assert not run("A x", "x", "A", layout="denominator").claim.correct


def test_wrong_shape_is_wrong_not_an_error():
    verdict = run("a^T X b", "X", "b a^T", "X=3x4,a=3,b=4").claim
    assert not verdict.correct and "4×3" in verdict.reason and "3×4" in verdict.reason


def test_steps_name_the_identities():
    report = run("a^T X^T X b", "X")
    from gdtrace.derive.render import render

    text = render(report, "text")
    for words in ("product rule", "trace cyclicity", "df = ", "∂f/∂X = Xabᵀ + Xbaᵀ", "d²f = ",
                  "layout"):
        assert words in text, words
    hessian = render(run("x^T A x", "x"), "text")
    assert "∂²f/∂x² = A + Aᵀ" in hessian


# ------------------------------------------------------------------------------------ command


def test_cli_exit_codes():
    right = RUNNER.invoke(app, ["derive", "tr(X X^T)", "--wrt", "X", "--claim", "2X"])
    assert right.exit_code == 0 and "correct" in right.stdout
    wrong = RUNNER.invoke(app, ["derive", "a^T X^T X b", "--wrt", "X", "--claim", "2 X b a^T"])
    assert wrong.exit_code == 1
    assert "incorrect: the correct derivative is Xabᵀ + Xbaᵀ; yours differs at" in wrong.stdout
    plain = RUNNER.invoke(app, ["derive", "tr(A X)", "--wrt", "X"])
    assert plain.exit_code == 0


@pytest.mark.parametrize("args,words", [
    (["derive", "a^T X @ b", "--wrt", "X"], "unexpected character '@' at column 7"),
    (["derive", "a^T X b", "--wrt", "Y"], "'Y' does not occur in f"),
    (["derive", "a^T X b"], "--wrt"),
    (["derive", "tr(X)", "--wrt", "X", "--claim", "2 ("], "--claim"),
    (["derive", "tr(X)", "--wrt", "X", "--claim", "2 q"], "q does not occur in f"),
    (["derive", "a X", "--wrt", "X", "--shape", "a=3,X=4x4"], "cannot multiply"),
    (["derive", "X", "--wrt", "X"], "4-tensor"),
    (["derive", "A x", "--wrt", "A"], "3-tensor"),
    (["derive", "tr(X)", "--wrt", "X", "--shape", "X=3by3"], "--shape"),
    (["derive", "tr(X)", "--wrt", "X", "--layout", "sideways"], "--layout"),
    (["derive", "tr(X)", "--wrt", "X", "--format", "csv"], "format"),
    (["derive", "tr(X^100)", "--wrt", "X"], "matrix power"),
    (["derive", "log(det(-X X^T))", "--wrt", "X"], "undefined"),
])
def test_bad_input_is_one_line_and_exit_2(args, words):
    result = RUNNER.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gdtrace: error: ") and words in lines[0], \
        result.stderr


def test_json_has_the_claim_verdict():
    result = RUNNER.invoke(app, ["derive", "x^T A x", "--wrt", "x", "--claim", "2 A x",
                                 "--format", "json"])
    assert result.exit_code == 1
    document = json.loads(result.stdout)
    assert document["claim"]["correct"] is False
    assert document["derivative"]["text"] == "Ax + Aᵀx"
    assert document["second_derivative"]["kind"] == "hessian"
    assert document["check"]["agrees"] is True and len(document["check"]["trials"]) == 3
    ok = json.loads(RUNNER.invoke(app, ["derive", "tr(X X^T)", "--wrt", "X", "--claim", "2X",
                                        "--format", "json"]).stdout)
    assert ok["claim"]["correct"] is True and ok["claim"]["symbolic"] is True


@pytest.mark.parametrize("fmt,words", [
    ("markdown", ["# Derivative of f", "## Result", "$X a b^{\\top} + X b a^{\\top}$"]),
    ("latex", ["\\section*{Derivative", "\\subsection*{Result}", "X a b^{\\top}"]),
    ("text", ["Result\n------", "∂f/∂X = Xabᵀ + Xbaᵀ"]),
])
def test_every_format_renders_the_formulas(fmt, words):
    result = RUNNER.invoke(app, ["derive", "a^T X^T X b", "--wrt", "X", "--format", fmt])
    assert result.exit_code == 0
    for word in words:
        assert word in result.stdout, (word, result.stdout)


def test_sympy_is_not_imported_at_start_up():
    code = "import sys, gdtrace.cli; print('sympy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


# ------------------------------------------------------------------------------ problem files

SHEET = """\
model: derivative
title: Homework 3, question 2
f: "tr(X X^T)"
wrt: X
claim: "2 X"
"""


def test_derivation_problem_file(tmp_path):
    path = tmp_path / "q2.yaml"
    path.write_text(SHEET)
    assert RUNNER.invoke(app, ["validate", str(path)]).exit_code == 0
    result = RUNNER.invoke(app, ["derive", str(path)])
    assert result.exit_code == 0 and "correct" in result.stdout
    wrong = RUNNER.invoke(app, ["derive", str(path), "--claim", "X"])
    assert wrong.exit_code == 1
    solved = RUNNER.invoke(app, ["solve", str(path)])
    assert solved.exit_code == 2 and "gdtrace derive" in solved.stderr


def test_derivation_file_typo_names_the_line(tmp_path):
    path = tmp_path / "q.yaml"
    path.write_text(SHEET.replace('"tr(X X^T)"', '"tr(X X^T"'))
    result = RUNNER.invoke(app, ["validate", str(path)])
    assert result.exit_code == 2
    assert "q.yaml:3: f: expected ')'" in result.stdout
