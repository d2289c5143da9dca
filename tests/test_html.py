"""``--format html``: the page's structure, the MathML printer, the reusable page writer, and
every bundled problem's page rendered by headless Chromium (laid out, no errors, not blank)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from gdtrace.formula import expr as E
from gdtrace.problem import bundled_problems, load_problem
from gdtrace.render import RenderOptions, render
from gdtrace.render.mathml import MathMLPrinter, math_element
from gdtrace.render.page import Cell, HtmlPage, Markup
from gdtrace.render.printer import NumberFormat
from gdtrace.solvers import solve

BUNDLED = sorted(bundled_problems())
_PAGES: dict[tuple[str, bool], str] = {}


def page_of(name: str, steps: bool = False) -> str:
    if (name, steps) not in _PAGES:
        path = bundled_problems()[name]
        trace = solve(load_problem(path, display_name=f"problems/{path.name}"))
        _PAGES[name, steps] = render(trace, "html", RenderOptions(steps=steps))
    return _PAGES[name, steps]


def parsed(page: str) -> ET.Element:
    """The page as XML (it is written well-formed), namespaces dropped from the tags."""
    root = ET.fromstring(page.removeprefix("<!DOCTYPE html>\n"))
    for element in root.iter():
        element.tag = element.tag.rsplit("}", 1)[-1]
    return root


# ----------------------------------------------------------------------------- the page


@pytest.mark.parametrize("name", BUNDLED)
@pytest.mark.parametrize("steps", [False, True])
def test_every_page_is_well_formed_and_self_contained(name: str, steps: bool) -> None:
    page = page_of(name, steps)
    root = parsed(page)
    assert root.find("head/title").text == load_problem(bundled_problems()[name]).title
    assert root.find(".//h1") is not None
    assert root.findall(".//math"), "no typeset math"
    assert root.find(".//pre") is None, "the terminal view, not the page"
    # nothing to fetch: no external script, style sheet, image or font
    assert not re.search(r"""(src|href)=|@import|url\(""", page)
    assert "http" not in page.replace("http://www.w3.org/2000/svg", "")


def test_step_table_is_a_table_with_column_groups() -> None:
    root = parsed(page_of("perceptron"))
    table = root.find(".//details//table")
    groups = [(th.text, th.get("colspan")) for th in table.find("thead/tr").findall("th")]
    assert groups == [(None, "2"), ("forward pass", "6"), ("parameters after", "3")]
    first_row = [td.text for td in table.find("tbody/tr").findall("td")]
    assert first_row[:2] == ["1", "1"] and len(first_row) == 11


def test_a_table_too_wide_for_a_page_is_split_into_named_panels() -> None:
    root = parsed(page_of("logreg"))
    tables = root.find(".//details[@class='epoch']").findall("div/table")
    assert [t.find("caption").text for t in tables] == ["Forward pass, gradients",
                                                        "Parameters after"]
    for table in tables:  # each panel repeats step and sample
        assert [th.text for th in table.find("thead/tr").findall("th")][:2] == ["step",
                                                                                "sample"]
    first_row = [td.text for td in tables[0].find("tbody/tr").findall("td")]
    assert first_row[:9] == ["1", "1", "5", "8", "6", "1", "1.0600", "0.7427", "-0.2573"]
    assert [td.text for td in tables[1].find("tbody/tr").findall("td")] == [
        "1", "1", "0.2087", "0.2658", "0.1844", "0.0257"]


def test_epochs_fold_and_long_runs_open_only_the_ends() -> None:
    import gdtrace

    root = parsed(render(gdtrace.solve("logreg", epochs=5), "html"))
    details = root.findall(".//details[@class='epoch']")
    assert [d.get("open") for d in details] == ["open", None, None, None, "open"]
    assert details[1].find("summary/h3").text.startswith("Epoch 2")


def test_warnings_are_highlighted_and_the_loss_is_charted() -> None:
    root = parsed(page_of("linreg"))
    boxes = root.findall(".//div[@class='warning']")
    assert len(boxes) == 2 and "diverges" in "".join(boxes[1].itertext())
    chart = root.find(".//figure/svg")
    assert chart is not None and chart.find("polyline") is not None
    assert "log scale" in chart.get("aria-label")  # the loss grows by orders of magnitude
    tips = ["".join(c.itertext()) for c in chart.iter("title")]
    assert tips[0] == "start of epoch 1: L = 0.6952" and tips[-1].startswith("final: L = ")


def test_worked_lines_are_typeset_and_long_ones_are_broken() -> None:
    root = parsed(page_of("logreg", steps=True))
    loss_line, step_1 = root.findall(".//div[@class='worked']")[:2]
    cells = list(step_1)
    assert [c.get("class") for c in cells[:3]] == ["lhs", "rel", "rhs"]
    assert cells[0].find("math").get("alttext") == "z₁"
    assert "".join(cells[2].itertext()).endswith("=1.06")
    # the loss line sums eight terms: symbolic, substituted (over rows) and result
    rows = [list(loss_line)[k:k + 3] for k in range(0, len(loss_line), 3)]
    assert len(rows) >= 3 and rows[0][0].find("math").get("alttext") == "L"
    assert all(not list(lhs) for lhs, _, _ in rows[1:])  # continuation rows: no left side
    assert "".join(rows[-1][2].itertext()) == "0.8866"


def test_tables_come_with_each_steps_worked_lines_folded() -> None:
    epoch = parsed(page_of("logreg")).find(".//details[@class='epoch']")
    asides = epoch.findall("details[@class='aside']")
    assert len(asides) == 4 and all(a.get("open") is None for a in asides)
    assert asides[0].find("summary/h4").text == "Step 1 — sample 1: worked lines"
    first = asides[0].find("div[@class='worked']/div[@class='lhs']/math")
    assert first.get("alttext") == "z₁"


def test_terminal_html_is_the_rich_export() -> None:
    page = render(solve(load_problem(bundled_problems()["logreg"])), "terminal-html")
    assert "<pre" in page and "0.7427" in page and "<math" not in page


# ---------------------------------------------------------------------------- MathML printer


def mathml(node: E.Expr, values: dict[str, object] | None = None) -> str:
    printer = MathMLPrinter(NumberFormat(4))
    return printer.symbolic(node) if values is None else printer.substituted(node, values)


def test_mathml_symbols_fractions_and_signs() -> None:
    w, x, b = E.sym("w1"), E.sym("x1"), E.sym("b")
    assert mathml(w) == "<msub><mi>w</mi><mn>1</mn></msub>"
    assert mathml(E.Sym("yhat", "y", hat=True)) == \
        '<mover accent="true"><mi>y</mi><mo>^</mo></mover>'
    line = w * x + b
    assert mathml(line) == ("<msub><mi>w</mi><mn>1</mn></msub><mo>&#x2062;</mo>"
                            "<msub><mi>x</mi><mn>1</mn></msub><mo>+</mo><mi>b</mi>")
    # x − (−0.5): a negative number after a minus is bracketed, as in the text output
    assert mathml(x - w, {"x1": 2, "w1": -0.5}) == (
        '<mn>2</mn><mo>−</mo><mrow><mo>(</mo><mrow><mo form="prefix">−</mo><mn>0.5</mn>'
        "</mrow><mo>)</mo></mrow>")
    # x + (−0.5) reads x − 0.5
    assert mathml(x + w, {"x1": 2, "w1": -0.5}) == "<mn>2</mn><mo>−</mo><mn>0.5</mn>"
    assert mathml(E.Num(1) / (1 + E.func("exp", -x))).startswith("<mfrac><mn>1</mn><mrow>")
    assert mathml(E.Num(1.5e-9)) == \
        "<mn>1.5</mn><mo>×</mo><msup><mn>10</mn><mrow><mo form=\"prefix\">−</mo><mn>9</mn>" \
        "</mrow></msup>"


def test_mathml_escapes_user_names() -> None:
    text = mathml(E.sym("a<b&c"))
    ET.fromstring(math_element(text))
    assert "a&lt;b&amp;c" in text


# ------------------------------------------------------------------------------ page writer


def test_page_writer_marks_cells_and_escapes_text() -> None:
    page = HtmlPage("Check <3>")
    page.heading("Epoch 1", 2)
    page.table(["step", "z"], [["1", Cell("0.75", "wrong", title="expected 0.7427")],
                               ["2", Cell("0.5", "right")]], caption="answers")
    page.paragraph("x < y & z")
    page.paragraph(Markup("<em>kept</em>"))
    page.warning("careful")
    root = parsed(page.render())
    assert root.find("head/title").text == "Check <3>"
    wrong = root.find(".//td[@class='wrong']")
    assert wrong.text == "0.75" and wrong.get("title") == "expected 0.7427"
    assert [p.text for p in root.findall(".//p")][0] == "x < y & z"
    assert root.find(".//p/em").text == "kept"
    assert "td.wrong" in page.render() and "@media print" in page.render()


# ----------------------------------------------------------------------- headless Chromium

CHROMIUM = next((shutil.which(name) for name in ("chromium", "chromium-browser",
                                                 "google-chrome") if shutil.which(name)), None)
# Injected into a copy of the page: collects errors from the start, then after load measures
# the layout and writes the result into the DOM for --dump-dom to print.
ERRORS_PROBE = ("<script>window.__errors = []; addEventListener('error', function (e) "
                "{ window.__errors.push(String(e.message)); });</script>")
LAYOUT_PROBE = """<script>
addEventListener('load', function () {
  function box(e) { return e.getBoundingClientRect(); }
  var maths = Array.prototype.slice.call(document.querySelectorAll('math'));
  var result = {maths: maths.length, errors: window.__errors,
                empty: maths.filter(function (m) {
                  var r = box(m); return r.width === 0 || r.height === 0; }).length,
                text: document.body.innerText.length,
                resources: performance.getEntriesByType('resource').map(function (r) {
                  return r.name; })};
  var frac = document.querySelector('mfrac');
  if (frac) { result.stacked = box(frac.children[0]).bottom <= box(frac.children[1]).top + 1; }
  var sub = document.querySelector('msub');
  if (sub) { result.lowered = box(sub.children[1]).bottom > box(sub.children[0]).bottom; }
  var probe = document.createElement('pre');
  probe.id = 'layout-probe';
  probe.textContent = JSON.stringify(result);
  document.body.appendChild(probe);
});
</script>"""


def chromium() -> str:
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing in CI (apt-get install chromium)")
        pytest.skip("chromium not installed (CI installs it)")
    return CHROMIUM


def run_chromium(*args: str) -> subprocess.CompletedProcess[str]:
    command = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
               "--no-first-run", "--disable-extensions", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("name", BUNDLED)
def test_chromium_lays_out_every_bundled_page(name: str, tmp_path: Path) -> None:
    page = page_of(name, steps=True)
    probed = page.replace("<head>", "<head>" + ERRORS_PROBE, 1).replace(
        "</body>", LAYOUT_PROBE + "</body>", 1)
    path = tmp_path / f"{name}.html"
    path.write_text(probed, encoding="utf-8")
    result = run_chromium("--virtual-time-budget=5000", "--dump-dom", path.as_uri())
    assert result.returncode == 0, result.stderr[-2000:]
    found = re.search(r'<pre id="layout-probe">(.*?)</pre>', result.stdout, re.S)
    assert found, "the page did not finish loading"
    probe = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&")
                       .replace("&lt;", "<").replace("&gt;", ">"))
    assert probe["errors"] == []
    assert probe["resources"] == []  # self-contained: nothing fetched
    assert probe["maths"] > 5 and probe["empty"] == 0
    if name != "perceptron":  # the only page without a fraction
        assert probe["stacked"] is True, "MathML fractions are not laid out"
    assert probe["lowered"] is True, "MathML subscripts are not laid out"
    assert probe["text"] > 500


@pytest.mark.parametrize("name", BUNDLED)
def test_chromium_screenshot_of_every_bundled_page_is_not_blank(name: str,
                                                                 tmp_path: Path) -> None:
    image_module = pytest.importorskip("PIL.Image")
    path = tmp_path / f"{name}.html"
    path.write_text(page_of(name), encoding="utf-8")
    shot = tmp_path / f"{name}.png"
    result = run_chromium("--window-size=1000,900", f"--screenshot={shot}", path.as_uri())
    assert result.returncode == 0 and shot.exists(), result.stderr[-2000:]
    image = image_module.open(shot).convert("L")
    dark = sum(image.histogram()[:128])  # pixels of text, rules and math
    assert dark > 0.01 * image.width * image.height
