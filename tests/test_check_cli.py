"""``gdtrace sheet`` and ``gdtrace check``: exit codes, the report formats (the spec's JSON,
Gradescope's results.json), the sheet read back by check, a class's summary and gradebook,
and bad answers files (one line naming file, line and key; exit 2)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import gdtrace
from gdtrace.check.cells import cells_of
from gdtrace.cli import app

ROOT = Path(__file__).resolve().parent.parent
SEED = str(ROOT / "tests" / "answers" / "seed000.yaml")
SPEC_TOP = {"gdtrace", "problem", "answers", "summary", "cells"}
SPEC_SUMMARY = {"correct", "carried", "rounding", "wrong", "missing", "score", "max_score"}
SPEC_CELL = {"epoch", "step", "sample", "section", "key", "given", "expected",
             "expected_from_yours", "verdict", "diagnosis"}


def invoke(*args: str):
    return CliRunner().invoke(app, list(args))


def one_error_line(result, *needles: str) -> str:
    """Bad input: exit 2, nothing on stdout, one line on stderr naming what is wrong."""
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("gdtrace: error: ")
    assert "Traceback" not in result.output
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def own_numbers_csv(problem: str, decimals: int = 6) -> str:
    """The blank CSV sheet of a problem filled in with gdtrace's own numbers, rounded."""
    sheet = invoke("sheet", problem, "--format", "csv")
    assert sheet.exit_code == 0, sheet.output
    run = gdtrace.solve(problem).runs[0]
    values = {cell.address: np.asarray(cell.quantity.value, dtype=float)
              for cell in cells_of(run)}
    rows = list(csv.reader(io.StringIO(sheet.stdout)))
    head, body = rows[0], rows[1:]
    assert head == ["epoch", "step", "sample", "section", "key", "entry", "answer"]
    from gdtrace.check.cells import Address

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(head)
    for epoch, step, sample, section, key, entry, answer in body:
        assert answer == ""
        address = Address(int(epoch) if epoch else None, int(step) if step else None,
                          int(sample) if sample else None, section, key)
        index = tuple(int(i) - 1 for i in entry.split(",")) if entry else ()
        value = float(values[address][index])
        writer.writerow([epoch, step, sample, section, key, entry, f"{value:.{decimals}f}"])
    return out.getvalue()


# ------------------------------------------------------------------------------- exit codes


def test_exit_1_when_a_number_is_wrong_and_the_report_leads_with_it() -> None:
    result = invoke("check", "logreg", SEED, "--format", "text")
    assert result.exit_code == 1, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"{SEED}: 89/92 points — 25 correct, 62 carried, 2 rounding, "
                               "3 wrong, 0 missing; first slip: step 1 b")
    assert lines[2] == "wrong (3):"
    # the bias after step 1: −0.0258 written, +0.0258 from the student's own ∂L/∂b
    assert lines[3].startswith("  step 1 b: you wrote -0.0258; from your ∂L/∂b = -0.258, "
                               "b = 0.0258; key 0.025731 (wrong: the sign is flipped; the "
                               "first slip)")
    assert "rounded the wrong way (2; credit 1 each):" in lines
    assert "  step 1 σ(z₁): you wrote 0.742; key 0.74269" in lines
    table = lines.index("epoch 1:")
    assert "0.742 ≈" in lines[table + 3] and "1.06 ✓" in lines[table + 3]


def test_exit_0_when_nothing_is_wrong(tmp_path: Path) -> None:
    answers = tmp_path / "right.yaml"
    answers.write_text("steps:\n  - step: 1\n    values: {z: 1.06, sigma: 0.7427}\n"
                       "    params: {b: 0.0257}\n", encoding="utf-8")
    result = invoke("check", "logreg", str(answers))
    assert result.exit_code == 0, result.output
    assert "3/3 points — 3 correct" in result.stdout


def test_no_ecf_rounding_credit_and_points_change_the_score() -> None:
    plain = json.loads(invoke("check", "logreg", SEED, "-f", "json").stdout)["summary"]
    assert (plain["score"], plain["max_score"]) == (89, 92)
    strict = json.loads(invoke("check", "logreg", SEED, "-f", "json", "--no-ecf",
                               "--rounding-credit", "0").stdout)["summary"]
    assert strict["score"] == plain["correct"]  # only the numbers that match the key
    weighted = json.loads(invoke("check", "logreg", SEED, "-f", "json", "--points",
                                 "grad=2,final=0").stdout)["summary"]
    assert weighted["max_score"] == 92 + 32 - 4  # 32 gradients count twice, 4 finals not


@pytest.mark.parametrize(("args", "needle"), [
    (["--rounding-credit", "2"], "--rounding-credit: must be between 0 and 1"),
    (["--points", "grads=2"], "did you mean 'grad'?"),
    (["--points", "grad=x"], "--points: grad: 'x' is not a number"),
    (["--format", "xml"], "unknown check format 'xml'"),
    (["--run", "nope"], "no run 'nope'"),
    (["--lr", "0"], "learning_rate"),
])
def test_bad_options_are_one_line_and_exit_2(args: list[str], needle: str) -> None:
    one_error_line(invoke("check", "logreg", SEED, *args), needle)


def test_output_never_overwrites_an_input(tmp_path: Path) -> None:
    answers = tmp_path / "a.yaml"
    answers.write_text(Path(SEED).read_text(encoding="utf-8"), encoding="utf-8")
    one_error_line(invoke("check", "logreg", str(answers), "-f", "json", "-o", str(answers)),
                   "refusing to overwrite the answers file")
    problem = tmp_path / "p.yaml"
    problem.write_text((ROOT / "problems" / "logreg.yaml").read_text(encoding="utf-8"),
                       encoding="utf-8")
    one_error_line(invoke("check", str(problem), str(answers), "-f", "json", "-o",
                          str(problem)), "refusing to overwrite the problem file")
    report = tmp_path / "report.json"
    result = invoke("check", "logreg", str(answers), "-o", str(report))
    assert result.exit_code == 1 and result.stdout == ""
    assert json.loads(report.read_text(encoding="utf-8"))["summary"]["wrong"] == 3


# ------------------------------------------------------------------------- bad answers files


@pytest.mark.parametrize(("text", "needles"), [
    ("steps:\n  - step: 99\n    values: {z: 1}\n", ["a.yaml:2", "no step 99", "steps 1–8"]),
    ("steps:\n  - step: 1\n    values: {sigmo: 0.7}\n",
     ["a.yaml:3", "values", "'sigmo'", "did you mean 'sigma'?"]),
    ("steps:\n  - step: 1\n    values: {z: abc}\n",
     ["a.yaml:3", "steps[step 1].values.z", "expected a number, got 'abc'"]),
    ("", ["a.yaml", "empty"]),
    ("stepz: []\n", ["a.yaml:1", "did you mean 'steps'?"]),
    ("final: {w4: 1}\n", ["a.yaml:1", "no final parameter 'w4'"]),
])
def test_bad_answers_file_is_one_line(tmp_path: Path, text: str, needles: list[str]) -> None:
    path = tmp_path / "a.yaml"
    path.write_text(text, encoding="utf-8")
    line = one_error_line(invoke("check", "logreg", str(path)), *needles)
    assert str(path) in line


def test_a_list_of_the_wrong_length_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "a.yaml"  # sigmoid_mlp: a batch step of 3 samples, 2 hidden units
    path.write_text("steps:\n  - step: 1\n    values:\n      u1: [[0.1, 0.2], [0.3, 0.4]]\n",
                    encoding="utf-8")
    one_error_line(invoke("check", "sigmoid_mlp", str(path)), "a.yaml:4",
                   "expected a list of 3 values (one per sample), got 2")
    path.write_text("steps:\n  - step: 1\n    grad: {b1: [0.1, 0.2, 0.3]}\n", encoding="utf-8")
    one_error_line(invoke("check", "sigmoid_mlp", str(path)), "a.yaml:3",
                   "expected a list of 2 entries")


def test_a_bad_csv_row_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text("epoch,step,sample,section,key,entry,answer\n1,1,,values,z,,one\n",
                    encoding="utf-8")
    one_error_line(invoke("check", "logreg", str(path)), "a.csv:2", "answer",
                   "expected a number")


# ----------------------------------------------------------------------------------- formats


def test_json_has_exactly_the_spec_keys_and_more_only_added() -> None:
    data = json.loads(invoke("check", "logreg", SEED, "--format", "json").stdout)
    assert SPEC_TOP <= set(data)
    assert data["problem"] == {"title": "Logistic regression by SGD", "model": "logistic",
                               "source": "problems/logreg.yaml"}
    assert data["answers"] == SEED
    assert set(data["summary"]) == SPEC_SUMMARY
    assert data["summary"] == {"correct": 25, "carried": 62, "rounding": 2, "wrong": 3,
                               "missing": 0, "score": 89.0, "max_score": 92.0}
    assert all(SPEC_CELL <= set(cell) for cell in data["cells"])
    bias = next(c for c in data["cells"] if c["step"] == 1 and c["key"] == "b"
                and c["section"] == "params")
    assert (bias["given"], bias["verdict"], bias["diagnosis"], bias["root"]) == \
        ("-0.0258", "wrong", "sign", True)
    assert bias["expected"] == pytest.approx(0.025730945469731425)
    assert bias["expected_from_yours"] == pytest.approx(0.0258)
    assert {c["section"] for c in data["cells"]} == {"values", "grad", "params", "final"}


def test_gradescope_results_json() -> None:
    data = json.loads(invoke("check", "logreg", SEED, "--format", "gradescope").stdout)
    assert data["score"] == 89.0
    names = [t["name"] for t in data["tests"]]
    assert names == [f"Step {n}" for n in range(1, 9)] + ["Final parameters"]
    for test in data["tests"]:
        assert set(test) >= {"name", "score", "max_score", "output"}
        assert isinstance(test["score"], float) and test["score"] <= test["max_score"]
        assert test["status"] in ("passed", "failed")
        assert test["visibility"] in ("visible", "hidden", "after_due_date", "after_published")
    assert sum(t["score"] for t in data["tests"]) == data["score"]
    first = data["tests"][0]
    assert first["status"] == "failed" and "step 1 b: you wrote -0.0258" in first["output"]
    one_error_line(invoke("check", "logreg", SEED, SEED, "--format", "gradescope"),
                   "one answers file")


def test_markdown_and_csv_reports() -> None:
    markdown = invoke("check", "logreg", SEED, "--format", "markdown").stdout
    assert markdown.startswith(f"### Check of `{SEED}`")
    assert "**89 / 92 points**" in markdown
    assert "| step | z | σ(z) | error |" in markdown
    rows = list(csv.DictReader(io.StringIO(invoke("check", "logreg", SEED, "-f", "csv").stdout)))
    assert len(rows) == 92
    wrong = [r for r in rows if r["verdict"] == "wrong"]
    assert [(r["step"], r["section"], r["key"], r["diagnosis"]) for r in wrong][0] == \
        ("1", "params", "b", "sign")


def test_terminal_colours_the_marks() -> None:
    text = invoke("check", "logreg", SEED, "--format", "terminal").stdout
    assert "\x1b[1;31m" in text and "\x1b[32m" in text
    plain = invoke("check", "logreg", SEED, "--format", "text").stdout
    assert "\x1b[" not in plain


# ------------------------------------------------------------------------------------- class


def test_class_summary_and_gradebook(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text("steps:\n  - step: 1\n    params: {b: 0.0257}\n", encoding="utf-8")
    bad = tmp_path / "bad.yaml"
    bad.write_text("steps:\n  - step: 1\n    params: {b: -0.0257}\n", encoding="utf-8")
    result = invoke("check", "logreg", SEED, str(good), str(bad), "--format", "text")
    assert result.exit_code == 1
    summary = result.stdout[result.stdout.index("class: "):].splitlines()
    assert summary[0] == ("class: 3 answers files, mean score 30.00 points (66% of the points "
                          "each file answered; at most 92), 2 with a wrong number")
    assert summary[1] == "where the class struggles (most wrong first):"
    first = summary[3].split()
    assert first[:3] == ["step", "1", "b"] and first[3:5] == ["2", "0"]  # 2 wrong, 0 carried
    book = list(csv.reader(io.StringIO(
        invoke("check", "logreg", SEED, str(good), str(bad), "--format", "csv").stdout)))
    assert book[0][:5] == ["file", "score", "max_score", "wrong", "first_slip"]
    assert [row[:5] for row in book[1:]] == [
        [SEED, "89.0", "92.0", "3", "step 1 params.b"],
        [str(good), "1.0", "1.0", "0", ""],
        [str(bad), "0.0", "1.0", "1", "step 1 params.b"],
    ]
    markdown = invoke("check", "logreg", SEED, str(good), "--format", "markdown").stdout
    assert markdown.count("### Check of ") == 2 and "### Class summary" in markdown
    assert "| step 1 b | 1 | 0 | 0 | 0 | 2 |" in markdown
    only_good = invoke("check", "logreg", str(good), str(good))
    assert only_good.exit_code == 0


def test_class_json_has_every_report() -> None:
    data = json.loads(invoke("check", "logreg", SEED, SEED, "-f", "json").stdout)
    assert len(data["reports"]) == 2 and all(SPEC_TOP <= set(r) for r in data["reports"])
    assert data["struggles"][0]["wrong"] == 2
    assert data["summary"] == {"files": 2, "mean_score": 89.0,
                               "mean_share": pytest.approx(89 / 92), "with_wrong": 2}


# ------------------------------------------------------------------------------------- sheet


@pytest.mark.parametrize("problem", ["logreg", "linreg", "adam", "backprop", "perceptron",
                                     "quadratic", "relu_mlp", "sigmoid_mlp", "softmax"])
def test_csv_sheet_filled_with_gdtraces_numbers_checks_with_nothing_wrong(
        tmp_path: Path, problem: str) -> None:
    path = tmp_path / "filled.csv"
    path.write_text(own_numbers_csv(problem), encoding="utf-8")
    result = invoke("check", problem, str(path), "--format", "json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)["summary"]
    assert summary["wrong"] == 0 and summary["missing"] == 0
    assert summary["score"] == summary["max_score"] > 0


def test_csv_sheet_with_one_slip_is_caught(tmp_path: Path) -> None:
    text = own_numbers_csv("logreg").replace("1,1,,values,z,,1.060000",
                                             "1,1,,values,z,,-1.060000")
    path = tmp_path / "slip.csv"
    path.write_text(text, encoding="utf-8")
    data = json.loads(invoke("check", "logreg", str(path), "-f", "json").stdout)
    wrong = [c for c in data["cells"] if c["verdict"] == "wrong"]
    assert [(c["step"], c["key"], c["diagnosis"]) for c in wrong] == [(1, "z", "sign")]


def test_yaml_sheet_is_an_answers_document_with_every_number_missing(tmp_path: Path) -> None:
    path = tmp_path / "sheet.yaml"
    assert invoke("sheet", "logreg", "-o", str(path)).exit_code == 0
    text = path.read_text(encoding="utf-8")
    assert "problem: \"logreg.yaml\"" in text
    assert "  # step 1 (epoch 1), sample 1: x₁ = 5, x₂ = 8, x₃ = 6, y = 1" in text
    assert "# settings: η = 0.1, λ = 0, epochs = 2, update = sgd, loss = log" in text
    data = json.loads(invoke("check", "logreg", str(path), "-f", "json").stdout)
    assert data["summary"]["missing"] == 94 == len(data["cells"])
    mlp = tmp_path / "mlp.yaml"
    assert invoke("sheet", "sigmoid_mlp", "-o", str(mlp)).exit_code == 0
    data = json.loads(invoke("check", "sigmoid_mlp", str(mlp), "-f", "json").stdout)
    assert data["summary"]["missing"] == len(data["cells"]) > 100


def test_sheet_keys_and_steps_trim_it() -> None:
    text = invoke("sheet", "logreg", "--keys", "grad,loss,z", "--steps", "1-2,5",
                  "-f", "csv").stdout
    rows = list(csv.DictReader(io.StringIO(text)))
    assert {r["step"] for r in rows} == {"", "1", "2", "5"}
    assert {(r["section"], r["key"]) for r in rows if r["step"] == "1"} == {
        ("values", "z"), ("grad", "w1"), ("grad", "w2"), ("grad", "w3"), ("grad", "b")}
    assert [r["epoch"] for r in rows if r["section"] == "loss"] == ["1", "2"]
    assert not any(r["section"] == "final" for r in rows)
    one_error_line(invoke("sheet", "logreg", "--keys", "sigm"), "--keys", "'sigm'",
                   "did you mean 'sigma'?")
    one_error_line(invoke("sheet", "logreg", "--steps", "3-12"), "no step 9", "steps 1–8")
    one_error_line(invoke("sheet", "logreg", "--steps", "x"), "--steps: 'x'")
    one_error_line(invoke("sheet", "logreg", "-o", "sheet.txt"), "cannot tell the sheet format")
    one_error_line(invoke("sheet", "ridge"), "no steps to write answers for")


def test_markdown_sheet_has_the_homework_tables_blank() -> None:
    text = invoke("sheet", "logreg", "--format", "markdown").stdout
    assert "| step | sample | x₁ | x₂ | x₃ | y | z | σ(z) | error | ∂L/∂w₁ |" in text
    assert "| 1 | 1 | 5 | 8 | 6 | 1 |   |   |" in text
    assert "0.7427" not in text and "1.06" not in text  # no computed number is given away
    batch = invoke("sheet", "sigmoid_mlp", "--format", "markdown", "--steps", "1").stdout
    assert "### Step 1 — samples 1, 2, 3" in batch and "| W₁[1,2] after |  |" in batch


# ------------------------------------------------------------------------------------ library


def test_gdtrace_check_is_callable_at_package_level() -> None:
    report = gdtrace.check("logreg", SEED)
    assert report.counts["wrong"] == 3
    import gdtrace.check as module

    assert module is gdtrace.check and callable(module)
    assert module.check_class("logreg", [SEED, SEED]).struggles(1)[0].wrong == 2


def test_a_network_report_finds_a_matrix_slip_and_its_tables_fit_the_page(
        tmp_path: Path) -> None:
    rows = list(csv.reader(io.StringIO(own_numbers_csv("sigmoid_mlp", 4))))
    row = next(r for r in rows if r[1:6] == ["1", "", "grad", "W1", "1,2"])
    row[6] = row[6][1:] if row[6].startswith("-") else "-" + row[6]
    path = tmp_path / "slip.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerows(rows)
    result = invoke("check", "sigmoid_mlp", str(path), "--format", "text")
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[3].startswith("  step 1 ∂L/∂W₁[1,2]: you wrote ")
    assert "(wrong: the sign is flipped; the first slip)" in lines[3]
    tables = lines[lines.index("epoch 1:"):]
    assert max(len(line) for line in tables) <= 160
    assert sum(line == "epoch 1:" for line in tables) >= 3  # the wide epoch was split


@pytest.mark.parametrize("problem", ["logreg", "sigmoid_mlp", "softmax", "backprop"])
def test_yaml_sheet_filled_with_gdtraces_numbers_checks_clean(tmp_path: Path,
                                                                 problem: str) -> None:
    """The YAML sheet's shape (per-sample lists, nested matrices, epochs, final) is what
    check reads: filled in place with gdtrace's numbers it has nothing wrong or missing."""
    import yaml

    from gdtrace.check.cells import Address

    sheet = yaml.safe_load(invoke("sheet", problem).stdout)
    run = gdtrace.solve(problem).runs[0]
    values = {cell.address: cell.quantity.value for cell in cells_of(run)}

    def text(value: object) -> object:
        if isinstance(value, np.ndarray) or isinstance(value, list):
            return [text(v) for v in value]
        return f"{float(value):.6f}"

    for entry in sheet.get("epochs", []):
        entry["loss"] = text(values[Address(entry["epoch"], None, None, "loss", "loss")])
    for step in sheet["steps"]:
        for section in ("values", "grad", "params"):
            for key, blank in step.get(section, {}).items():
                found = [a for a in values if a.step == step["step"]
                         and a.section == section and a.key == key]
                if found[0].sample is None:
                    step[section][key] = text(values[found[0]])
                else:
                    assert isinstance(blank, list) and len(blank) == len(found)
                    step[section][key] = [text(values[a]) for a in
                                          sorted(found, key=lambda a: a.sample or 0)]
    for key in sheet.get("final", {}):
        sheet["final"][key] = text(values[Address(None, None, None, "final", key)])
    path = tmp_path / "filled.json"
    path.write_text(json.dumps(sheet), encoding="utf-8")
    result = invoke("check", problem, str(path), "-f", "json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)["summary"]
    assert summary["wrong"] == summary["missing"] == 0 and summary["correct"] > 10


def test_check_grades_a_run_of_a_comparison(tmp_path) -> None:
    """--compare-l2 gives the runs of `gdtrace compare --l2`; the answers name theirs."""
    from typer.testing import CliRunner

    from gdtrace.cli import app

    answers = tmp_path / "l2.yaml"
    answers.write_text('run: "λ = 0.5"\nsteps:\n  - step: 1\n    grad: {w1: -1.28}\n'
                       "    params: {w1: 0.208}\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["check", "logreg", str(answers), "--compare-l2", "0.5",
                                      "--format", "json"])
    assert result.exit_code == 0, result.output
    assert '"correct": 2' in result.output
    plain = CliRunner().invoke(app, ["check", "logreg", str(answers)])
    assert plain.exit_code == 2 and "--compare-l2" in plain.output


def test_html_report_marks_each_number_by_its_verdict(tmp_path) -> None:
    """--format html: one page, well-formed, the wrong numbers in cells of class wrong with
    the key in their tooltip; a class of files is refused (one page per answers file)."""
    import xml.etree.ElementTree as ElementTree

    from typer.testing import CliRunner

    from gdtrace.cli import app

    seed = Path(__file__).parent / "answers" / "seed000.yaml"
    out = tmp_path / "report.html"
    result = CliRunner().invoke(app, ["check", "logreg", str(seed), "-o", str(out)])
    assert result.exit_code == 1, result.output  # the seed has wrong numbers
    text = out.read_text(encoding="utf-8")
    root = ElementTree.fromstring(text.split("\n", 1)[1])  # after <!DOCTYPE html>
    wrong = [td for td in root.iter("td") if td.get("class") == "wrong"]
    assert any(td.text == "-0.0258 ✗" and "key 0.0257" in td.get("title", "")
               for td in wrong), [(td.text, td.get("title")) for td in wrong]
    assert any(td.get("class") == "right" for td in root.iter("td"))
    two = CliRunner().invoke(app, ["check", "logreg", str(seed), str(seed), "-f", "html"])
    assert two.exit_code == 2 and "one answers file" in two.output
