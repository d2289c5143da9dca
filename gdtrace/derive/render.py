"""A derivation report as text, Markdown, LaTeX or JSON.

The document is written once (:func:`_document`: a title, then sections of lines, each line a
list of expressions and words) and each format supplies its syntax, like
``gdtrace.render.layout`` does for the solvers' traces.
"""

from __future__ import annotations

import json
import math
from typing import Any

from gdtrace import __version__
from gdtrace.derive.calculus import RULES, Step
from gdtrace.derive.numeric import STEP, TOLERANCE
from gdtrace.derive.printing import LatexPrinter, UnicodePrinter
from gdtrace.derive.report import SECOND_TOLERANCE, Report

FORMATS = ("text", "terminal", "markdown", "latex", "json")

LAYOUT_WORDS = {
    "ml": "∂f/∂X has the shape of X for a scalar f (∂tr(MX)/∂X = Mᵀ); a vector f: ℝⁿ → ℝᵐ "
          "has its m×n Jacobian (∂(Ax)/∂x = A)",
    "numerator": "numerator layout: ∂f/∂X is shaped like Xᵀ for a scalar f (∂tr(MX)/∂X = M); "
                 "a vector f has its m×n Jacobian (∂(Ax)/∂x = A)",
    "denominator": "denominator layout: ∂f/∂X has the shape of X for a scalar f; a vector f: "
                   "ℝⁿ → ℝᵐ has the n×m transpose of its Jacobian (∂(Ax)/∂x = Aᵀ)",
}

Line = list[Any]  # sympy expressions (printed as formulas) and str (words)


def _d(report: Report) -> str:
    return f"∂f/∂{report.wrt}"


def _document(report: Report) -> tuple[str, list[tuple[str, list[Line]]]]:
    d = report.derivation
    title = f"Derivative of f = {report.f_text} with respect to {report.wrt}"
    kind = "a scalar" if d.kind == "scalar" else f"a vector ({_shape(d.f.tree)})"
    shapes = ", ".join(f"{name} {shape}" for name, shape in report.shapes.items())
    setup: list[Line] = [
        [f"f is {kind}; shapes: {shapes}"],
        [f"layout: {LAYOUT_WORDS[report.layout]}"],
    ]
    rules: list[Line] = [[f"{RULES[r]}"] for r in d.rules if r not in ("read-gradient",
                                                                      "read-jacobian")]
    differential: list[Line] = rules + [["df", " = ", d.differential]]
    reading: list[Line] = []
    for step in d.steps[1:]:
        reading.append(_step_line(step, report))
    final_rule = "read-jacobian" if d.kind == "vector" else "read-gradient"
    reading.append([RULES[final_rule].replace("dX", f"d{report.wrt}").replace(
        "dx", f"d{report.wrt}").replace("∂f/∂X", _d(report)).replace("∂f/∂x", _d(report))])
    result: list[Line] = [[_d(report), " = ", report.derivative,
                           f"   ({_shape(report.derivative)})"]]
    if d.second is not None and d.second_kind == "hessian":
        result.append([f"∂²f/∂{report.wrt}²", " = ", d.second, "   (the Hessian)"])
    elif d.second is not None:
        result.append(["d²f", " = ", d.second, f"   ({d.second_note})"])
    else:
        result.append([d.second_note])
    sections = [("Set-up", setup), ("The differential", differential),
                ("Reading off the derivative", reading), ("Result", result),
                ("Numeric check", _numeric_lines(report))]
    if report.claim is not None:
        sections.append(("Claim", _claim_lines(report)))
    return title, sections


def _step_line(step: Step, report: Report) -> Line:
    line: Line = []
    for k, part in enumerate(step.chain):
        line += ([" = "] if k else []) + [part]
    if step.contribution is not None:
        if step.transposed:
            line += [f"   adds to {_d(report)}: ", step.contribution]
        else:
            line += [f"   adds to {_d(report)}: (", step.q, ")ᵀ = ", step.contribution]
    if step.rule == "hadamard-trace":
        line += [f"   ({RULES['hadamard-trace']})"]
    return line


def _shape(e: Any) -> str:
    shape = getattr(e, "shape", None)
    return "scalar" if shape is None else f"{shape[0]}×{shape[1]}"


def _numeric_lines(report: Report) -> list[Line]:
    lines: list[Line] = [[f"central differences (h = {STEP:g}) at random well-conditioned points;"
                          f" agreement means relative error < {TOLERANCE:g}"]]
    for trial in report.trials:
        sizes = ", ".join(f"{k} = {v}" for k, v in trial.sizes.items()) or "at the given sizes"
        words = f"{sizes}: relative error of {_d(report)} {trial.derived_error:.1e}"
        if trial.second_error is not None:
            words += f", of the second derivative {trial.second_error:.1e}"
        if trial.claim_error is not None:
            error = "wrong shape" if math.isinf(trial.claim_error) else \
                f"{trial.claim_error:.1e}"
            words += f", of the claim {error}"
        if trial.positive:
            words += " (positive values: f is undefined at signed ones)"
        lines.append([words])
    verdict = ("the derived formula agrees" if report.derived_ok else
               "warning: the derived formula disagrees with the numbers (a gdtrace bug; trust "
               "the numbers)")
    lines.append([f"{verdict}: largest relative error {report.max_error:.1e}"])
    if report.second_ok is False:
        lines.append([f"warning: the second derivative disagrees with second differences "
                      f"(tolerance {SECOND_TOLERANCE:g})"])
    return lines


def _claim_lines(report: Report) -> list[Line]:
    claim = report.claim
    assert claim is not None
    lines: list[Line] = [[f"yours: {_d(report)} = ", claim.expression]]
    if claim.correct:
        how = "symbolically and numerically" if claim.symbolic else "numerically"
        lines.append([f"correct: equal to the derivative {how} (largest relative error "
                      f"{claim.relative_error:.1e})"])
    else:
        lines.append(["incorrect: the correct derivative is ", report.derivative,
                      f"; {claim.reason}"])
    return lines


# ------------------------------------------------------------------------------------ formats


class _Writer:
    printer = UnicodePrinter()

    def __init__(self) -> None:
        self.out: list[str] = []

    def words(self, text: str) -> str:
        return text

    def line(self, line: Line) -> str:
        return "".join(self.words(p) if isinstance(p, str) else self.formula(p) for p in line)

    def formula(self, e: Any) -> str:
        return self.printer(e)

    def render(self, report: Report) -> str:
        title, sections = _document(report)
        self.title(title)
        for name, lines in sections:
            self.section(name, lines)
        return "\n".join(self.out).rstrip("\n") + "\n"

    def title(self, text: str) -> None:
        self.out += [text, "=" * len(text)]

    def section(self, name: str, lines: list[Line]) -> None:
        self.out += ["", name, "-" * len(name)]
        self.out += ["  " + self.line(line) for line in lines]


class _Markdown(_Writer):
    latex = LatexPrinter()

    def formula(self, e: Any) -> str:
        return f"${self.latex(e)}$"

    def words(self, text: str) -> str:
        return text.replace("*", "\\*").replace("_", "\\_")

    def title(self, text: str) -> None:
        self.out += [f"<!-- gdtrace {__version__} -->", f"# {self.words(text)}"]

    def section(self, name: str, lines: list[Line]) -> None:
        self.out += ["", f"## {name}", ""]
        self.out += [f"- {self.line(line)}" for line in lines]


_LATEX_WORDS = {"∂": "\\partial ", "ᵀ": "^{\\top}", "ℝ": "\\mathbb{R}", "²": "^{2}",
                "⁻¹": "^{-1}", "→": "\\to ", "×": "\\times ", "⊙": "\\odot ", "σ": "\\sigma ",
                "′": "'", "ⁿ": "^{n}", "ᵐ": "^{m}", "Σ": "\\Sigma ", "ⱼ": "_{j}", "ʲ": "^{j}",
                "ᵏ": "^{k}", "ᵖ": "^{p}", "⁻": "^{-}", "⇔": "\\Leftrightarrow ", "−": "-"}


class _Latex(_Writer):
    printer = LatexPrinter()

    def formula(self, e: Any) -> str:
        return f"${self.printer(e)}$"

    def words(self, text: str) -> str:
        out = []
        for ch in text.replace("\\", "\\textbackslash{}"):
            if ch in "&%#_{}$":
                out.append("\\" + ch)
            elif ch in _LATEX_WORDS:
                out.append(f"\\ensuremath{{{_LATEX_WORDS[ch]}}}")
            else:
                out.append(ch)
        return "".join(out)

    def title(self, text: str) -> None:
        self.out += [f"% gdtrace {__version__}: {text}", "% needs \\usepackage{amsmath,amssymb}",
                     f"\\section*{{{self.words(text)}}}"]

    def section(self, name: str, lines: list[Line]) -> None:
        self.out += ["", f"\\subsection*{{{name}}}", "\\begin{itemize}"]
        self.out += [f"  \\item {self.line(line)}" for line in lines]
        self.out += ["\\end{itemize}"]


def _matrix_json(report: Report, e: Any) -> dict[str, Any]:
    return {"text": UnicodePrinter()(e), "latex": LatexPrinter()(e), "shape": _shape(e)}


def to_json(report: Report) -> dict[str, Any]:
    d = report.derivation
    out: dict[str, Any] = {
        "gdtrace": __version__,
        "f": report.f_text,
        "wrt": report.wrt,
        "layout": report.layout,
        "kind": d.kind,
        "shapes": report.shapes,
        "rules": [RULES[r] for r in d.rules],
        "differential": _matrix_json(report, d.differential),
        "derivative": _matrix_json(report, report.derivative),
        "second_derivative": None if d.second is None else {
            "kind": d.second_kind, **_matrix_json(report, d.second)},
        "check": {
            "method": "central differences",
            "step": STEP,
            "tolerance": TOLERANCE,
            "agrees": report.derived_ok,
            "trials": [{"sizes": t.sizes, "relative_error": t.derived_error,
                        "second_relative_error": t.second_error} for t in report.trials],
        },
        "claim": None,
    }
    if report.claim is not None:
        claim = report.claim
        out["claim"] = {
            "text": claim.text,
            "parsed": UnicodePrinter()(claim.expression),
            "correct": claim.correct,
            "symbolic": claim.symbolic,
            "relative_error": None if math.isinf(claim.relative_error) else
            claim.relative_error,
            "reason": claim.reason,
            **({"where": claim.where} if claim.where else {}),
        }
    return out


def render(report: Report, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(to_json(report), indent=2, ensure_ascii=False) + "\n"
    writer = {"markdown": _Markdown, "latex": _Latex}.get(fmt, _Writer)()
    return writer.render(report)


