"""``vary:`` and ``gdtrace variants``: deterministic files, requirements met on 200 variants of
each bundled varied problem, the Moodle quiz's numbers equal the keys, the CSV, ``--student``,
the Gradescope bundle, and bad input as one line with exit code 2."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path
from xml.etree import ElementTree

import jsonschema
import numpy as np
import pytest
from typer.testing import CliRunner

from gdtrace.api import solve
from gdtrace.check.cells import cells_of
from gdtrace.cli import app
from gdtrace.problem import bundled_problems, problem_json_schema
from gdtrace.problem.load import load_problem_text, parse_yaml
from gdtrace.problem.schema import Context
from gdtrace.variants import exports, require
from gdtrace.variants.generate import generate, read_source, student_index

RUNNER = CliRunner()
VARIED = ["logreg", "linreg"]
ALL = "converges,no_saturation,nice,distinct"


def invoke(*args: str) -> object:
    return RUNNER.invoke(app, ["variants", *args])


def files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def source(name: str) -> object:
    return read_source(bundled_problems()[name], f"problems/{name}.yaml")


# ------------------------------------------------------------------------------ determinism


def test_same_seed_same_bytes_different_seed_different_files(tmp_path):
    args = ["logreg", "-n", "4", "--require", "converges,distinct", "--key", "md,json,latex",
            "--export", "moodle,csv,gradescope"]
    for folder, seed in (("a", "7"), ("b", "7"), ("c", "8")):
        result = invoke(*args, "--seed", seed, "-o", str(tmp_path / folder))
        assert result.exit_code == 0, result.output
    first, again, other = (files(tmp_path / f) for f in "abc")
    assert first == again
    assert "variant-004.yaml" in first and "gradescope.zip" in first and "moodle.xml" in first
    assert first["variant-001.yaml"] != other["variant-001.yaml"]


def test_variant_files_are_plain_problems_and_keep_the_fixed_parts(tmp_path):
    assert invoke("logreg", "-n", "3", "--seed", "1", "-o", str(tmp_path)).exit_code == 0
    original = parse_yaml(bundled_problems()["logreg"].read_text(), Context("x"))
    for k in (1, 2, 3):
        text = (tmp_path / f"variant-00{k}.yaml").read_text()
        doc = parse_yaml(text, Context("v"))
        assert "vary" not in doc
        assert [row[3] for row in doc["dataset"]["rows"]] == [1, 1, 0, 0]  # y as written
        assert doc["epochs"] == original["epochs"] and doc["loss"] == original["loss"]
        assert all(isinstance(x, int) and 0 <= x <= 9 for row in doc["dataset"]["rows"]
                   for x in row[:3])
        assert all(-0.1 <= w <= 0.1 and round(w, 2) == w for w in doc["weights"])
        assert doc["learning_rate"] in (0.01, 0.02, 0.05)
        solved = RUNNER.invoke(app, ["solve", str(tmp_path / f"variant-00{k}.yaml"),
                                     "--format", "json"])
        assert solved.exit_code == 0
        assert json.loads(solved.stdout)["runs"][0]["final"]
        assert "Epoch 2" in (tmp_path / f"variant-00{k}.key.md").read_text()


@pytest.mark.parametrize("module", ["gdtrace.variants.rules", "gdtrace.problem.vary",
                                    "gdtrace.variants.command", "gdtrace.problem.schema"])
def test_any_module_can_be_imported_first(module):
    """register_model imports the vary type: no import order may make that circular."""
    subprocess.run([sys.executable, "-c", f"import {module}"], check=True)


def test_solve_ignores_vary():
    text = bundled_problems()["logreg"].read_text()
    without = text.split("\nvary:")[0] + "\n"
    assert "vary:" in text and "vary:" not in without
    with_vary = solve(load_problem_text(text, "x.yaml"))
    plain = solve(load_problem_text(without, "x.yaml"))
    assert with_vary.runs[0].final == plain.runs[0].final


# ----------------------------------------------------------------------------- requirements


@pytest.mark.parametrize("name", VARIED)
def test_200_variants_meet_every_requirement(name):
    batch = generate(source(name), 200, 2026, require.parse(ALL))
    assert len(batch.variants) == 200
    texts = [v.text.split("\n", 2)[2] for v in batch.variants]  # without the header comment
    assert len(set(texts)) == 200
    for variant in batch.variants:
        # checked again on the file as written, not on the generator's own trace
        trace = solve(load_problem_text(variant.text, "v.yaml"))
        assert require.converges(trace) is None
        assert require.no_saturation(trace) is None
        assert require.nice(trace) is None


def test_checks_can_fail():
    logreg, linreg = solve("logreg"), solve("linreg")  # the bundled files as written
    assert require.no_saturation(logreg) is not None  # σ = 0.0002 in epoch 2
    assert require.converges(logreg) is not None  # the loss rises 0.8866 → 3.6369
    assert require.converges(linreg) is not None and require.diverges(linreg) is None
    assert require.nice(linreg) is not None  # it diverges to huge values
    assert require.parse("final_loss<1")[0].check(logreg) is not None
    assert require.parse("final.w1<0")[0].check(logreg) is None
    mlp = bundled_problems()["sigmoid_mlp"].read_text()
    assert require.no_saturation(solve("sigmoid_mlp")) is None
    saturated = mlp.replace("[[0.5, -0.5],", "[[50, -50],")
    assert saturated != mlp  # the sigmoid layer written out as 1/(1 + exp(−u)) is found too
    assert require.no_saturation(solve(load_problem_text(saturated, "m.yaml"))) is not None


def test_an_impossible_requirement_is_a_clear_error(tmp_path):
    result = invoke("logreg", "-n", "2", "--require", "final_loss<0", "--tries", "5", "-o",
                    str(tmp_path))
    assert result.exit_code == 2
    assert "variant-001: no draw in 5 met final_loss<0" in result.stderr
    assert "Traceback" not in result.output and not list(tmp_path.iterdir())


def test_distinct_redraws_when_there_are_few_versions(tmp_path):
    problem = tmp_path / "p.yaml"
    problem.write_text(BASE + "vary:\n  learning_rate: {choice: [0.1, 0.2, 0.3]}\n")
    batch = generate(read_source(problem, "p.yaml"), 3, 0, require.parse("distinct"))
    assert sorted(v.problem.learning_rate for v in batch.variants) == [0.1, 0.2, 0.3]
    result = invoke(str(problem), "-n", "4", "--require", "distinct", "--tries", "50", "-o",
                    str(tmp_path / "out"))
    assert result.exit_code == 2 and "distinct: equal to an earlier variant" in result.stderr


def test_a_csv_dataset_is_written_into_each_variant(tmp_path):
    (tmp_path / "points.csv").write_text("x1,y\n1,0\n2.5,1\n")
    problem = tmp_path / "p.yaml"
    problem.write_text(BASE.replace("  columns: [x1, y]\n  rows: [[1, 0], [2, 1]]\n",
                                    "  csv: points.csv\n")
                       + "vary:\n  weights: {uniform: [-1, 1], decimals: 1}\n")
    assert invoke(str(problem), "-n", "1", "-o", str(tmp_path / "out")).exit_code == 0
    doc = parse_yaml((tmp_path / "out" / "variant-001.yaml").read_text(), Context("v"))
    assert doc["dataset"] == {"columns": ["x1", "y"], "rows": [[1, 0], [2.5, 1]]}


def test_report_prints_the_spread_of_every_answer():
    result = invoke("linreg", "-n", "5", "--seed", "3", "--report")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("5 variants of problems/linreg.yaml (seed 3)")
    batch = generate(source("linreg"), 5, 3, [])
    values = [a.value for v in batch.variants for a in exports.answers(v)
              if a.address.label() == "final w1"]
    row = next(line for line in lines if line.startswith("final w1 "))
    low, mid, high = (float(x) for x in row.split()[-3:])
    assert (low, mid, high) == tuple(round(x, 4) for x in (min(values), np.median(values),
                                                            max(values)))


# -------------------------------------------------------------------------------- --student


def test_student_variant_is_stable_and_is_one_of_the_set(tmp_path):
    whole = tmp_path / "all"
    assert invoke("logreg", "-n", "6", "--seed", "5", "-o", str(whole)).exit_code == 0
    picked = []
    for attempt in ("a", "b"):
        result = invoke("logreg", "-n", "6", "--seed", "5", "--student", "ada@uni.edu", "-o",
                        str(tmp_path / attempt))
        assert result.exit_code == 0, result.output
        picked.append(files(tmp_path / attempt))
    assert picked[0] == picked[1]
    index = student_index(5, "ada@uni.edu", 6)
    assert f"student ada@uni.edu: variant-{index:03d}" in result.stderr
    name = f"variant-{index:03d}.yaml"
    assert [n for n in picked[0] if n.endswith(".yaml") and ".answers" not in n] == [name]
    assert picked[0][name] == (whole / name).read_bytes()
    assert student_index(5, " Ada@Uni.edu", 6) == index  # as e-mail addresses compare
    spread = {student_index(5, f"s{i}@uni.edu", 6) for i in range(60)}
    assert spread == set(range(1, 7))


# ---------------------------------------------------------------------------------- exports


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("hw")
    result = invoke("logreg", "-n", "5", "--seed", "11", "--require", "converges",
                    "--key", "json", "--export", "moodle,csv,gradescope", "-o", str(folder))
    assert result.exit_code == 0, result.output
    return folder


def key_numbers(folder: Path, k: int) -> list[float]:
    """Every answer of variant k from its JSON key, in cell order."""
    trace = solve(load_problem_text((folder / f"variant-00{k}.yaml").read_text(), "v.yaml"))
    document = json.loads((folder / f"variant-00{k}.key.json").read_text())
    run = document["runs"][0]
    out = []
    for cell in cells_of(trace.runs[0]):
        a = cell.address
        if a.section == "loss":
            value = run["epochs"][a.epoch - 1]["loss"]
        elif a.section == "final":
            value = run["final"][a.key]
        else:
            step = next(s for e in run["epochs"] for s in e["steps"] if s["step"] == a.step)
            value = step[a.section][a.key]
            if a.sample is not None:
                value = value[a.sample - 1]
        out.extend(np.ravel(value).tolist())
    return out


def test_moodle_quiz_is_well_formed_with_the_keys_numbers(exported):
    root = ElementTree.parse(exported / "moodle.xml").getroot()
    assert root.tag == "quiz"
    questions = root.findall("question[@type='cloze']")
    assert len(questions) == 5
    assert root.find("question[@type='category']/category/text").text.startswith("$course$/")
    for k, question in enumerate(questions, start=1):
        assert question.find("idnumber").text == f"variant-00{k}"
        text = question.find("questiontext/text").text
        found = re.findall(r"\{1:NUMERICAL:=([-0-9.]+):([0-9.]+)\}", text)
        expected = key_numbers(exported, k)
        assert [float(v) for v, _ in found] == expected
        assert all(float(t) >= 0.001 for _, t in found)
        feedback = question.find("generalfeedback/text").text
        assert "Epoch 1" in feedback and "Result" in feedback


def test_csv_has_one_row_per_variant_and_answer(exported):
    rows = list(csv.DictReader(io.StringIO((exported / "answers.csv").read_text())))
    assert list(rows[0]) == list(exports.CSV_COLUMNS)
    for k in range(1, 6):
        mine = [r for r in rows if r["variant"] == f"variant-00{k}"]
        assert [float(r["value"]) for r in mine] == key_numbers(exported, k)
    assert rows[0]["cell"] == "epoch 1 loss" and rows[0]["section"] == "loss"
    assert len(rows) == 5 * len(key_numbers(exported, 1))


def test_blank_sheet_reads_back_as_every_cell_missing(exported):
    import gdtrace.check

    report = gdtrace.check.check(str(exported / "variant-002.yaml"),
                                 str(exported / "variant-002.answers.yaml"))
    assert {c.verdict for c in report.cells} == {"missing"}
    assert len(report.cells) == len(key_numbers(exported, 2))


def test_blank_sheet_of_a_batch_problem_lists_one_entry_per_sample(tmp_path):
    problem = tmp_path / "b.yaml"
    problem.write_text(BASE.replace("epochs: 1", "epochs: 1\nupdate: batch")
                       + "vary:\n  weights: {uniform: [-1, 1], decimals: 1}\n")
    assert invoke(str(problem), "-n", "1", "-o", str(tmp_path / "o")).exit_code == 0
    sheet = (tmp_path / "o" / "variant-001.answers.yaml").read_text()
    assert "z: [~, ~]" in sheet  # one entry per sample, as `gdtrace sheet` writes it


def test_gradescope_bundle_layout_and_scripts(exported):
    with zipfile.ZipFile(exported / "gradescope.zip") as bundle:
        names = bundle.namelist()
        assert names[:5] == ["setup.sh", "run_autograder", "pick_variant.py",
                             "requirements.txt", "variants.json"]
        assert names[5:10] == [f"variants/variant-00{k}.yaml" for k in range(1, 6)]
        assert all(n.startswith("python/gdtrace/") for n in names[10:])
        for script in ("setup.sh", "run_autograder"):
            info = bundle.getinfo(script)
            assert (info.external_attr >> 16) & 0o111, script
            assert bundle.read(script).startswith(b"#!/usr/bin/env bash\n")
        run = bundle.read("run_autograder").decode()
        assert '"${gdtrace[@]}" check "$source_dir/variants/$variant" ' \
            '"$root/submission/answers.yaml"' in run and '--format gradescope -o "$results"' in run
        assert 'export PYTHONPATH="$source_dir/python' in run
        assert 'results="$root/results/results.json"' in run
        assert "pip3 install -r /autograder/source/requirements.txt" in \
            bundle.read("setup.sh").decode()
        needed = bundle.read("requirements.txt").decode()
        assert "numpy" in needed and "gdtrace" not in needed  # gdtrace itself is bundled:
        assert "python/gdtrace/__init__.py" in bundle.namelist()
        assert "python/gdtrace/check/engine.py" in bundle.namelist()
        manifest = json.loads(bundle.read("variants.json"))
        assert manifest["seed"] == 11 and manifest["count"] == 5
        for k in range(1, 6):
            assert bundle.read(f"variants/variant-00{k}.yaml") == \
                (exported / f"variant-00{k}.yaml").read_bytes()


def _layout(tmp_path: Path, bundle: Path, email: str, answers: str) -> Path:
    """A directory laid out as Gradescope lays out /autograder."""
    root = tmp_path / "autograder"
    with zipfile.ZipFile(bundle) as archive:
        archive.extractall(root / "source")
    for script in ("setup.sh", "run_autograder"):
        os.chmod(root / "source" / script, 0o755)
    (root / "submission").mkdir()
    (root / "submission" / "answers.yaml").write_text(answers)
    (root / "submission_metadata.json").write_text(json.dumps(
        {"id": 1, "users": [{"email": email, "id": 7, "name": "A Student"}]}))
    return root


def test_pick_variant_agrees_with_student(exported, tmp_path):
    for email in ("ada@uni.edu", "bo@uni.edu", "Cy@Uni.edu"):
        root = _layout(tmp_path / email, exported / "gradescope.zip", email, "")
        picked = subprocess.run(
            [sys.executable, str(root / "source" / "pick_variant.py"),
             str(root / "source" / "variants.json"), str(root / "submission_metadata.json")],
            capture_output=True, text=True, check=True).stdout.strip()
        assert picked == f"variant-{student_index(11, email, 5):03d}.yaml"


def test_run_autograder_reports_a_failed_check_as_score_0(exported, tmp_path):
    """The script's plumbing: paths, the variant pick, and a results.json whatever happens."""
    root = _layout(tmp_path, exported / "gradescope.zip", "ada@uni.edu", "final: {w1: [1, 2]}\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls"
    (bin_dir / "gdtrace").write_text(f'#!/bin/sh\necho "$@" > {log}\necho "bad answers" >&2\n'
                                     "exit 2\n")
    os.chmod(bin_dir / "gdtrace", 0o755)
    (bin_dir / "python3").symlink_to(sys.executable)
    env = {**os.environ, "AUTOGRADER_ROOT": str(root), "GDTRACE": str(bin_dir / "gdtrace"),
           "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    subprocess.run(["bash", str(root / "source" / "run_autograder")], env=env, check=True)
    variant = f"variant-{student_index(11, 'ada@uni.edu', 5):03d}.yaml"
    assert log.read_text().split() == [
        "check", str(root / "source" / "variants" / variant),
        str(root / "submission" / "answers.yaml"), "--format", "gradescope", "-o",
        str(root / "results" / "results.json")]
    results = json.loads((root / "results" / "results.json").read_text())
    assert results == {"score": 0, "output": "bad answers"}


STAND_IN = """\
import json, sys
import gdtrace.check
args = sys.argv[1:]
assert args[0] == "check" and args[3:6] == ["--format", "gradescope", "-o"], args
report = gdtrace.check.check(args[1], args[2])
cells = [c for c in report.cells if c.verdict != "missing"]
result = {"score": sum(c.score for c in cells), "max_score": sum(c.points for c in cells)}
open(args[6], "w").write(json.dumps(result))
"""


def test_bundle_grades_with_the_check_engine_behind_a_stand_in_cli(exported, tmp_path):
    """GDTRACE names another command: the bundle, end to end, with the engine (the library)
    behind a stand-in for the command; the right variant's key scores full, a slip less."""
    email = "bo@uni.edu"
    index = student_index(11, email, 5)
    key = json.loads((exported / f"variant-{index:03d}.key.json").read_text())["runs"][0]
    right = {"final": {k: repr(v) for k, v in key["final"].items()}}
    wrong = {"final": {**right["final"], "w1": "123.0"}}
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "gdtrace").write_text(f"#!{sys.executable}\n{STAND_IN}")
    os.chmod(bin_dir / "gdtrace", 0o755)
    (bin_dir / "python3").symlink_to(sys.executable)
    scores = []
    for label, answers in (("right", right), ("wrong", wrong)):
        root = _layout(tmp_path / label, exported / "gradescope.zip", email, json.dumps(answers))
        env = {**os.environ, "AUTOGRADER_ROOT": str(root), "GDTRACE": str(bin_dir / "gdtrace"),
               "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
        subprocess.run(["bash", str(root / "source" / "run_autograder")], env=env, check=True)
        results = json.loads((root / "results" / "results.json").read_text())
        scores.append((results["score"], results["max_score"]))
    assert scores[0] == (4, 4) and scores[1] == (3, 4)


def test_gradescope_bundle_grades_a_submission_end_to_end(exported, tmp_path):
    """The bundle's own copy of gdtrace (python/, with the test's Python and its packages)
    grades a right and a wrong submission."""
    email = "ada@uni.edu"
    index = student_index(11, email, 5)
    key = json.loads((exported / f"variant-{index:03d}.key.json").read_text())["runs"][0]
    right = {"final": {k: repr(v) for k, v in key["final"].items()}}
    wrong = {"final": {**right["final"], "w1": "123.0"}}
    scores = []
    for label, answers in (("right", right), ("wrong", wrong)):
        root = _layout(tmp_path / label, exported / "gradescope.zip", email, json.dumps(answers))
        bin_dir = tmp_path / label / "bin"
        bin_dir.mkdir()
        # python3 is this test's Python, with its packages (a symlink would leave its venv)
        (bin_dir / "python3").write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
        os.chmod(bin_dir / "python3", 0o755)
        env = {**os.environ, "AUTOGRADER_ROOT": str(root), "PYTHONPATH": "",
               "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
        env.pop("GDTRACE", None)
        subprocess.run(["bash", str(root / "source" / "run_autograder")], env=env, check=True)
        results = json.loads((root / "results" / "results.json").read_text())
        scores.append(float(results["score"]))
    assert scores[0] > scores[1] > 0
    if "max_score" in results:
        assert scores[0] == float(results["max_score"])


# ------------------------------------------------------------------------------- bad input

BASE = """\
model: logistic
dataset:
  columns: [x1, y]
  rows: [[1, 0], [2, 1]]
weights: [0.1]
learning_rate: 0.1
epochs: 1
"""


@pytest.mark.parametrize(("vary", "message"), [
    ("  weigths: {uniform: [0, 1]}", "vary.weigths: weigths is not in the problem; did you mean"
                                     " 'weights'?"),
    ("  weights: {uniform: [1, 0]}", "vary.weights.uniform: low 1 is above high 0"),
    ("  weights: {uniform: [0]}", "vary.weights.uniform: expected [low, high]"),
    ("  weights: {uniform: [0, 1], integers: [0, 1]}", "give exactly one of uniform, integers"),
    ("  weights: {integers: [0, 1], decimals: 2}", "decimals only applies to uniform"),
    ("  weights: {colour: [0, 1]}", "unknown key 'colour'"),
    ("  dataset.rows[5]: {integers: [0, 9]}", "dataset.rows[5] is not in the problem"),
    ("  weights: {integers: [0, 9], columns: [x1]}", "columns only applies to the path"
                                                     " dataset.rows"),
    ("  dataset.rows: {integers: [0, 9], columns: [x9]}", "unknown column 'x9'"),
    ("  model: {uniform: [0, 1]}", "model holds a string"),
    ("  weights: {uniform: [0.011, 0.019], decimals: 1}", "no number with 1 decimals"),
])
def test_bad_vary_is_one_line_with_file_line_and_field(tmp_path, vary, message):
    problem = tmp_path / "p.yaml"
    problem.write_text(BASE + "vary:\n" + vary + "\n")
    result = invoke(str(problem), "-n", "2", "-o", str(tmp_path / "out"))
    assert result.exit_code == 2, result.output
    line = result.stderr.strip()
    assert "\n" not in line and "Traceback" not in result.output
    assert re.match(rf"gdtrace: error: {re.escape(str(problem))}:(9|10): vary\.", line), line
    assert message in line, line


def test_validate_and_the_json_schema_check_vary(tmp_path):
    validator = jsonschema.Draft202012Validator(problem_json_schema())
    good = BASE + "vary:\n  weights: {uniform: [-1, 1], decimals: 1}\n"
    bad = BASE + "vary:\n  weights: {uniform: [-1, 1, 2]}\n"
    assert not list(validator.iter_errors(parse_yaml(good, Context("g"))))
    assert list(validator.iter_errors(parse_yaml(bad, Context("b"))))
    (tmp_path / "bad.yaml").write_text(bad)
    assert RUNNER.invoke(app, ["validate", str(tmp_path / "bad.yaml")]).exit_code == 2


@pytest.mark.parametrize(("args", "message"), [
    (["backprop", "-n", "2", "-o", "x"], "has no vary: block"),
    (["logreg", "-n", "2", "--require", "convergs", "-o", "x"], "did you mean 'converges'?"),
    (["logreg", "-n", "2", "--require", "converges,diverges", "-o", "x"], "exclude each other"),
    (["logreg", "-n", "2", "--export", "blackboard", "-o", "x"], "--export: unknown"),
    (["logreg", "-n", "2", "--key", "pdf", "-o", "x"], "--key: unknown 'pdf'"),
    (["logreg", "-n", "0", "-o", "x"], "-n must be between 1"),
    (["logreg", "-n", "2"], "say where to write"),
    (["logreg", "-n", "2", "--student", "a", "--export", "csv", "-o", "x"], "leave out"),
])
def test_bad_options_are_one_line(tmp_path, args, message):
    result = invoke(*[str(tmp_path / a) if a == "x" else a for a in args])
    assert result.exit_code == 2, result.output
    assert message in result.stderr and result.stderr.count("\n") == 1


def test_the_variant_shown_in_teaching_md_is_what_gdtrace_writes(tmp_path):
    text = (Path(__file__).resolve().parent.parent / "docs" / "teaching.md").read_text()
    match = re.search(r"<!-- variant: (.+?) -->\n```yaml\n(.*?)```", text, re.S)
    assert match is not None
    result = invoke(*match[1].split(), "-o", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "variant-001.yaml").read_text() == match[2]
