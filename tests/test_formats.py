"""Report formats: every bundled problem in every format, and each format checked by a reader
of that format (pdflatex, markdown-it-py, csv, json, xml)."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gdtrace.formula import expr as E
from gdtrace.problem import bundled_problems, load_problem
from gdtrace.render import FORMATS, RenderOptions, render
from gdtrace.render.csv_format import COLUMNS
from gdtrace.render.latex_printer import LatexPrinter, align_lines
from gdtrace.render.latex_text import math_text, tex
from gdtrace.render.printer import NumberFormat
from gdtrace.solvers import solve
from gdtrace.trace import Quantity, Role

BUNDLED = sorted(bundled_problems())
REPORT_FORMATS = ["markdown", "latex", "csv", "json", "html", "terminal-html", "svg"]
_TRACES: dict[str, object] = {}


def trace_of(name: str):  # type: ignore[no-untyped-def]
    """Solve each bundled problem once per test session (the traces are read-only)."""
    if name not in _TRACES:
        path = bundled_problems()[name]
        _TRACES[name] = solve(load_problem(path, display_name=f"problems/{path.name}"))
    return _TRACES[name]


def compare_trace():  # type: ignore[no-untyped-def]
    import gdtrace

    return gdtrace.comparison("logreg", l2=0.5)


# ------------------------------------------------------------------------------ every format


def test_report_formats_are_registered() -> None:
    for fmt in REPORT_FORMATS:
        assert fmt in FORMATS


@pytest.mark.parametrize("name", BUNDLED)
@pytest.mark.parametrize("fmt", REPORT_FORMATS)
def test_every_bundled_problem_renders_in_every_report_format(name: str, fmt: str) -> None:
    trace = trace_of(name)
    for steps in (False, True):
        text = render(trace, fmt, RenderOptions(steps=steps))
        assert text.strip(), (name, fmt)
        assert text.endswith("\n") or fmt in ("terminal-html", "svg")


@pytest.mark.parametrize("fmt", REPORT_FORMATS)
def test_compare_renders_in_every_report_format(fmt: str) -> None:
    trace = compare_trace()
    for full in (False, True):
        text = render(trace, fmt, RenderOptions(full=full))
        assert "0.5" in text


@pytest.mark.parametrize("name", BUNDLED)
def test_comparisons_of_every_model_render_in_the_report_formats(name: str) -> None:
    import gdtrace

    trace = gdtrace.comparison(name, lr=[0.01])
    for full in (False, True):
        options = RenderOptions(full=full)
        check_markdown(render(trace, "markdown", options))
        assert latex_problems(render(trace, "latex", options)) == []
        rows = list(csv.reader(io.StringIO(render(trace, "csv", options))))
        assert {row[0] for row in rows[1:]} == {"as written", "η = 0.01"}
        json.loads(render(trace, "json", options))


# ------------------------------------------------------------------------------------ LaTeX


def latex_problems(text: str) -> list[str]:
    """Structural mistakes pdflatex would stop on, found without running it."""
    found = []
    if not text.isascii():
        found.append("non-ASCII: " + "".join(sorted({c for c in text if not c.isascii()})))
    depth = 0
    for match in re.finditer(r"\\\\|\\[{}]|[{}]", text):
        token = match.group()
        if token == "{":
            depth += 1
        elif token == "}":
            depth -= 1
            if depth < 0:
                found.append("unbalanced }")
                depth = 0
    if depth:
        found.append(f"{depth} unclosed {{")
    begins = re.findall(r"\\begin\{([^}]*)\}", text)
    ends = re.findall(r"\\end\{([^}]*)\}", text)
    if sorted(begins) != sorted(ends):
        found.append(f"environments {begins} vs {ends}")
    if len(re.findall(r"\\left(?![a-z])", text)) != len(re.findall(r"\\right(?![a-z])", text)):
        found.append("unmatched \\left/\\right")
    return found


@pytest.mark.parametrize("name", BUNDLED)
def test_latex_is_ascii_and_balanced(name: str) -> None:
    for standalone in (False, True):
        text = render(trace_of(name), "latex", RenderOptions(standalone=standalone))
        assert latex_problems(text) == []
        assert text.startswith("\\documentclass") == standalone


def test_latex_worked_step_reads_like_the_homework() -> None:
    text = render(trace_of("logreg"), "latex", RenderOptions())
    assert (r"z_{1} &= w_{1} x_{1} + w_{2} x_{2} + w_{3} x_{3} + b = 0.08 \cdot 5 + 0.06 \cdot 8"
            r" + 0.03 \cdot 6 + 0 = 1.06") in text
    assert r"\sigma(z_{1}) &= \frac{1}{1 + e^{-z_{1}}} = \frac{1}{1 + e^{-1.06}} = 0.7427" in text
    assert r"\text{error}_{1} &= \sigma(z_{1}) - y_{1} = 0.7427 - 1 = -0.2573" in text
    assert (r"\frac{\partial L}{\partial w_{1}} &= \text{error}_{1} \cdot x_{1} = -0.2573 \cdot 5"
            r" = -1.2865") in text
    assert (r"w_{1} &\leftarrow w_{1} - \eta \cdot \frac{\partial L}{\partial w_{1}} = 0.08 - "
            r"0.1 \cdot (-1.2865) = 0.2087") in text
    assert text.count(r"\begin{align*}") == 1 + 8 + 2  # header, 8 steps, 2 loss lines
    assert r"\toprule" in text and r"\bottomrule" in text


def test_latex_settings_line_has_no_math_markup_escaped() -> None:
    trace = trace_of("logreg")
    trace.header.settings["epsilon"] = 1e-8
    try:
        text = render(trace, "latex", RenderOptions())
    finally:
        del trace.header.settings["epsilon"]
    assert "epsilon = 1e-08" in text and "textbackslash" not in text


def test_latex_final_values_match_the_seed_values() -> None:
    text = render(trace_of("logreg"), "latex", RenderOptions(decimals=10))
    assert "$w_{1} = -0.7402207419$" in text
    assert "$b = -0.0505485403$" in text


def test_long_latex_lines_are_broken_inside_sums() -> None:
    printer = LatexPrinter(NumberFormat(4))
    terms = tuple(E.Ref(E.Sym(f"e{k}", "e", str(k)), f"e{k}") ** 2 for k in range(1, 30))
    quantity = Quantity("loss", Role.LOSS, E.Sym("L", "L"), 1.5,
                        E.Sum("i", E.Sym("n", "n"), E.Sym("e_i", "e", "i") ** 2, terms),
                        {f"e{k}": 0.123456 * k for k in range(1, 30)})
    rows = align_lines(printer, quantity)
    assert len(rows) > 3
    assert rows[0].startswith("L &= ")
    assert rows[-1] == "&= 1.5"
    assert any(r.startswith(r"&\quad + ") for r in rows)
    joined = " \\\\\n".join(rows)
    assert r"\bigl(" in joined and r"\bigr)" in joined and r"\left(" not in joined


def pdflatex() -> str:
    found = shutil.which("pdflatex")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("pdflatex is missing in CI (apt-get install texlive-latex-base "
                        "texlive-latex-recommended)")
        pytest.skip("pdflatex not installed (CI installs it)")
    return found


def compile_pdf(source: str, folder: Path, name: str = "doc") -> int:
    """Compile with pdflatex; return the page count it reports (fails with the log)."""
    tex_file = folder / f"{name}.tex"
    tex_file.write_text(source, encoding="ascii")
    result = subprocess.run(
        [pdflatex(), "-interaction=nonstopmode", "-halt-on-error", "-no-shell-escape",
         tex_file.name], cwd=folder, capture_output=True, text=True, timeout=120)
    log = (folder / f"{name}.log").read_text(errors="replace") if \
        (folder / f"{name}.log").exists() else result.stdout
    assert result.returncode == 0, log[-3000:]
    pdf = folder / f"{name}.pdf"
    assert pdf.is_file() and pdf.read_bytes().startswith(b"%PDF")
    pages = re.search(r"Output written on .*?\((\d+) pages?", log.replace("\n", ""))
    assert pages, log[-2000:]
    return int(pages.group(1))


@pytest.mark.parametrize("name", BUNDLED)
def test_standalone_latex_compiles_with_pdflatex(name: str, tmp_path: Path) -> None:
    pdflatex()
    source = render(trace_of(name), "latex", RenderOptions(standalone=True))
    assert compile_pdf(source, tmp_path, name) >= 1


def test_compare_latex_and_hostile_text_compile(tmp_path: Path) -> None:
    pdflatex()
    trace = compare_trace()
    trace.problem.title = r"50% of {x} & $y_1$ #2 ~ ^ \ < > | — ŷ σ² naïve “q” 日本 ✓"
    trace.runs[0].label = "as_written & 100%"
    from gdtrace.trace import Formula

    trace.header.formulas.append(Formula(E.Sym("g", "größe", "ø"), E.Sym("t", "température")
                                         + E.Sym("x", "X̃ᵀX̃"), "naïve ŷ label, 100% & #"))
    source = render(trace, "latex", RenderOptions(standalone=True, full=True))
    assert latex_problems(source) == []
    assert compile_pdf(source, tmp_path) >= 1


def test_tex_escapes_specials() -> None:
    assert tex("50% & $5 #1 a_b {x}") == r"50\% \& \$5 \#1 a\_b \{x\}"
    assert tex("~^\\") == r"\textasciitilde{}\textasciicircum{}\textbackslash{}"
    assert tex("<|>") == r"\textless{}\textbar{}\textgreater{}"
    assert tex("η = 0.1 — ŷ") == r"\ensuremath{\eta} = 0.1 --- \^{y}"
    assert tex("x₁²") == r"x\textsubscript{1}\textsuperscript{2}"


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_tex_output_is_ascii_and_balanced_for_any_text(text: str) -> None:
    escaped = tex(text)
    assert latex_problems(escaped) == []


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=20))
def test_math_names_are_ascii_and_balanced_for_any_text(text: str) -> None:
    assert latex_problems(math_text(text)) == []


def test_latex_printer_nodes() -> None:
    p = LatexPrinter(NumberFormat(4))
    x, w, b = E.sym("x1"), E.sym("w1"), E.Sym("b", "b")
    assert p.symbolic(w * x + b) == "w_{1} x_{1} + b"
    assert p.symbolic(1 / (1 + E.func("exp", -x))) == r"\frac{1}{1 + e^{-x_{1}}}"
    assert p.symbolic(E.Sym("yhat", "y", "2", hat=True)) == r"\hat{y}_{2}"
    assert p.symbolic(E.Sym("eta", "η")) == r"\eta"
    assert p.symbolic(E.Sym("error", "error", "1")) == r"\text{error}_{1}"
    assert p.symbolic(E.Sym("XtX", "X̃ᵀX̃")) == r"\tilde{X}^{\top}\tilde{X}"
    assert p.symbolic(E.Deriv(E.Sym("L", "L"), w, "g")) == r"\frac{\partial L}{\partial w_{1}}"
    assert p.substituted(w * x, {"w1": -0.5, "x1": 2}) == r"-0.5 \cdot 2"
    assert p.substituted(x * w, {"w1": -0.5, "x1": 2}) == r"2 \cdot (-0.5)"
    assert p.substituted(x ** 2, {"x1": -0.06}) == "(-0.06)^{2}"
    assert p.number(1.5e-9) == r"1.5 \times 10^{-9}"
    assert p.number(float("nan")) == r"\text{NaN}"
    assert p.number(np.array([[1, 2], [3, 4.5]])) == \
        r"\left[\begin{array}{rr}1 & 2 \\ 3 & 4.5\end{array}\right]"
    assert p.symbolic(E.func("relu", x)) == r"\operatorname{relu}(x_{1})"
    assert p.symbolic(E.func("sqrt", x) + 1) == r"\sqrt{x_{1}} + 1"
    assert p.symbolic(E.Sym("g", "größe")) == r'\text{gr\"{o}\ss{}e}'
    assert math_text("âge_2") == r"\text{\^{a}ge}\_2"
    assert p.symbolic(E.Compare(x, ">", E.Num(0))) == r"\left[x_{1} > 0\right]"
    summed = E.Sum("i", E.Sym("n", "n"), E.Sym("e", "e", "i"),
                   (E.Ref(E.Sym("e1", "e", "1"), "e1"), E.Ref(E.Sym("e2", "e", "2"), "e2")))
    assert p.symbolic(summed) == r"\sum_{i=1}^{n} e_{i}"
    assert p.substituted(summed, {"e1": 1, "e2": -2}).replace("\x00", "") == r"\bigl(1 - 2\bigr)"


# --------------------------------------------------------------------------------- Markdown


def markdown_tokens(text: str) -> list:
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark").enable("table").parse(text)


def check_markdown(text: str) -> tuple[int, int]:
    """Every table has as many cells in each row as headings, every pipe line belongs to a
    table, and every $$ block is balanced LaTeX. Returns (tables, math blocks)."""
    tokens = markdown_tokens(text)
    tables = 0
    table_rows = 0
    for index, token in enumerate(tokens):
        if token.type == "table_open":
            tables += 1
            cells_per_row: list[int] = []
            for inner in tokens[index + 1:]:
                if inner.type == "table_close":
                    break
                if inner.type == "tr_open":
                    cells_per_row.append(0)
                elif inner.type in ("th_open", "td_open"):
                    cells_per_row[-1] += 1
            assert len(set(cells_per_row)) == 1, cells_per_row
            table_rows += len(cells_per_row)
    pipe_lines = [line for line in text.splitlines()
                  if line.startswith("|") and not re.fullmatch(r"\|(-+:?\|)+", line)]
    assert table_rows == len(pipe_lines)
    blocks = re.findall(r"^\$\$\n(.*?)\n\$\$$", text, flags=re.S | re.M)
    assert text.count("$$") == 2 * len(blocks)
    for block in blocks:
        assert latex_problems(block) == [], block
        assert block.startswith(r"\begin{aligned}") and block.endswith(r"\end{aligned}")
    return tables, len(blocks)


@pytest.mark.parametrize("name", BUNDLED)
def test_markdown_tables_and_math_are_valid(name: str) -> None:
    for steps in (False, True):
        text = render(trace_of(name), "markdown", RenderOptions(steps=steps))
        tables, blocks = check_markdown(text)
        assert tables >= 1 and blocks >= 1
        headings = [t for t in markdown_tokens(text) if t.type == "heading_open"]
        assert headings[0].tag == "h1"


def test_markdown_logreg_layout() -> None:
    text = render(trace_of("logreg"), "markdown", RenderOptions())
    assert "## Epoch 1 — loss at the start L = 0.8866" in text
    assert "| 1 | 1 | 5 | 8 | 6 | 1 | 1.0600 | 0.7427 | -0.2573 |" in text
    steps = render(trace_of("logreg"), "markdown", RenderOptions(steps=True))
    assert "### Step 1 — sample 1" in steps
    assert r"\sigma(z_{1}) &= \frac{1}{1 + e^{-z_{1}}} = \frac{1}{1 + e^{-1.06}} = 0.7427" in steps


def test_markdown_compare_has_a_column_per_run() -> None:
    text = render(compare_trace(), "markdown", RenderOptions())
    check_markdown(text)
    assert "| parameter | as written | λ = 0.5 | λ = 0.5 − as written |" in text


def test_markdown_escapes_user_text() -> None:
    trace = compare_trace()
    trace.problem.title = "a | b *c* `d` $e$"
    trace.runs[1].label = "λ | 0.5"
    text = render(trace, "markdown", RenderOptions())
    check_markdown(text)
    assert r"# a \| b \*c\* \`d\` \$e\$" in text


# -------------------------------------------------------------------------------------- CSV


def csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


@pytest.mark.parametrize("name", BUNDLED)
def test_csv_is_tidy(name: str) -> None:
    text = render(trace_of(name), "csv", RenderOptions())
    raw = list(csv.reader(io.StringIO(text)))
    assert raw[0] == COLUMNS
    assert all(len(row) == len(COLUMNS) for row in raw)
    for row in csv_rows(text):
        float(row["value"])  # every value is a number
        assert row["part"] in ("step", "epoch", "block", "table", "final", "prediction",
                               "comparison")


def test_csv_values_are_full_precision() -> None:
    rows = csv_rows(render(trace_of("logreg"), "csv", RenderOptions(decimals=2)))
    sigma = [r for r in rows if r["key"] == "sigma" and r["step"] == "1"]
    assert len(sigma) == 1 and sigma[0]["sample"] == "1" and sigma[0]["symbol"] == "σ(z)"
    assert float(sigma[0]["value"]) == pytest.approx(0.7426905453, abs=1e-10)
    final = {r["key"]: float(r["value"]) for r in rows if r["part"] == "final"}
    assert final["w1"] == pytest.approx(-0.7402207419, abs=1e-10)
    assert final["b"] == pytest.approx(-0.0505485403, abs=1e-10)
    grads = [r for r in rows if r["role"] == "grad" and r["step"] == "8" and r["key"] == "w2"]
    assert float(grads[0]["value"]) == pytest.approx(0.0921750908, abs=1e-10)
    assert grads[0]["sample"] == ""


def test_csv_compare_and_arrays() -> None:
    rows = csv_rows(render(compare_trace(), "csv", RenderOptions()))
    assert {r["run"] for r in rows} == {"as written", "λ = 0.5"}
    diff = [r for r in rows if r["part"] == "comparison" and r["key"] == "w1"]
    assert float(diff[0]["value"]) == pytest.approx(-0.7292600473 + 0.7402207419, abs=1e-9)
    mlp = next((n for n in BUNDLED if "mlp" in n), None)
    if mlp is not None:
        matrix = [r for r in csv_rows(render(trace_of(mlp), "csv", RenderOptions()))
                  if r["index"].startswith("[") and "," in r["index"]]
        assert matrix, "a network's weight matrices are one row per entry"


def test_csv_loads_in_pandas_unchanged() -> None:
    pandas = pytest.importorskip("pandas")
    frame = pandas.read_csv(io.StringIO(render(trace_of("linreg"), "csv", RenderOptions())))
    assert list(frame.columns) == COLUMNS
    assert frame["value"].dtype.kind == "f"
    loss = frame[(frame.part == "epoch")]["value"].tolist()
    assert loss[0] == pytest.approx(0.695175)


# ------------------------------------------------------------------------ JSON, HTML, SVG


@pytest.mark.parametrize("name", BUNDLED)
def test_json_parses(name: str) -> None:
    document = json.loads(render(trace_of(name), "json", RenderOptions()))
    assert document["runs"]


def test_html_and_svg_are_well_formed() -> None:
    trace = trace_of("logreg")
    page = render(trace, "html", RenderOptions())
    assert page.startswith("<!DOCTYPE html>")
    assert "<title>Logistic regression by SGD</title>" in page
    assert "0.7427" in page and "\x1b[" not in page
    svg = render(trace, "svg", RenderOptions())
    root = ET.fromstring(svg)
    assert root.tag.endswith("svg")
    assert "0.7427" in svg


def test_jupyter_display_is_an_html_table() -> None:
    import gdtrace

    trace = gdtrace.solve("logreg")  # the library (gdtrace.api) gives traces their display
    html = trace._repr_html_()
    assert html.startswith("<pre") and "σ(z)" in html and "0.7427" in html


# ------------------------------------------------------------------------- docs are true


def test_every_excerpt_in_the_output_formats_doc_is_real_output() -> None:
    """Each line of the docs' markdown/latex/csv/html excerpts (except elisions) occurs in
    the output of the command the doc names."""
    import gdtrace

    logreg1 = gdtrace.solve("logreg", epochs=1)
    linreg1 = gdtrace.solve("linreg", epochs=1)
    compared = gdtrace.comparison("logreg", l2=0.5)
    outputs = [
        gdtrace.render(logreg1, fmt) for fmt in ("markdown", "latex", "csv", "html")
    ] + [
        gdtrace.render(logreg1, "markdown", steps=True),
        gdtrace.render(logreg1, "html", steps=True),
        gdtrace.render(linreg1, "latex"),
        gdtrace.render(compared, "markdown"),
        gdtrace.render(compared, "csv"),
    ]
    produced = "\n".join(outputs)
    docs = Path(__file__).resolve().parents[1] / "docs" / "output-formats.md"
    blocks = re.findall(r"^```(markdown|latex|html|)\n(.*?)^```$", docs.read_text(),
                        flags=re.S | re.M)
    checked = 0
    for kind, body in blocks:
        lines = body.splitlines()
        if kind == "" and not (lines and lines[0].startswith(("run,", "as written,", "λ ="))):
            continue  # shell commands and the terminal excerpt
        for line in lines:
            if line.strip() in ("", "…") or line.startswith("…"):
                continue
            assert line in produced, line
            checked += 1
    assert checked > 100


def test_csv_keeps_the_per_step_values_of_steps_without_samples() -> None:
    """A function step has a row (x, f(x)) but no sample number; its values still get rows."""
    table = list(csv.DictReader(io.StringIO(render(trace_of("quadratic"), "csv",
                                                   RenderOptions()))))
    first_f = next(row for row in table if row["key"] == "f" and row["part"] == "step")
    assert (first_f["step"], first_f["sample"], float(first_f["value"])) == ("1", "", 47.0)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.integers(1, 10**6), st.integers(0, 10**6),
       st.dictionaries(st.text(max_size=6), st.one_of(
           st.floats(allow_nan=True, allow_infinity=True), st.integers(-5, 5)), max_size=6),
       st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)))
def test_summary_lines_written_directly_are_what_json_writes(index, steps, params, loss):
    """--summary's epoch lines skip json's encoder for plain floats: same bytes either way."""
    from gdtrace.render.json_format import _compact, epoch_end_line, epoch_line

    assert epoch_line(index, loss) == _compact({"type": "epoch", "epoch": index, "loss": loss})
    assert epoch_end_line(index, steps, params) == _compact(
        {"type": "epoch_end", "epoch": index, "steps": steps, "params": params})
    json.loads(epoch_end_line(index, steps, params))
