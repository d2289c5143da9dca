"""--output/-o: atomic writes, the format from the extension, never over the problem file;
and the library's save()."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

import gdtrace
from gdtrace.api import EXTENSIONS, format_for_path, write_atomic
from gdtrace.cli import app
from gdtrace.errors import UsageError
from gdtrace.problem import bundled_problems


def invoke(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, list(args))


def leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize("suffix, start", [
    (".txt", "Logistic regression by SGD\n"), (".md", "<!-- gdtrace"),
    (".tex", "% gdtrace"), (".json", "{"), (".csv", "run,part,group"),
    (".svg", "<svg"), (".html", "<!DOCTYPE html>")])
def test_format_comes_from_the_extension(tmp_path: Path, suffix: str, start: str) -> None:
    target = tmp_path / f"out{suffix}"
    result = invoke("solve", "logreg", "-o", str(target))
    assert result.exit_code == 0, result.output
    assert result.stdout == ""  # nothing on standard output
    text = target.read_text(encoding="utf-8")
    assert text.startswith(start)
    assert "\x1b[" not in text  # no terminal colour codes in a file
    assert leftovers(tmp_path) == []


def test_explicit_format_wins_over_the_extension(tmp_path: Path) -> None:
    target = tmp_path / "answer.txt"
    result = invoke("solve", "logreg", "--format", "json", "--output", str(target))
    assert result.exit_code == 0, result.output
    assert json.loads(target.read_text())["runs"][0]["final"]["w1"] == pytest.approx(
        -0.7402207419, abs=1e-10)


def test_compare_to_markdown_file(tmp_path: Path) -> None:
    target = tmp_path / "cmp.md"
    result = invoke("compare", "--l2", "0.5", "-o", str(target))
    assert result.exit_code == 0, result.output
    text = target.read_text()
    assert "| parameter | as written | λ = 0.5 | λ = 0.5 − as written |" in text
    assert f"wrote {target}" in result.output


def test_standalone_latex_file(tmp_path: Path) -> None:
    fragment, document = tmp_path / "a.tex", tmp_path / "b.tex"
    assert invoke("solve", "linreg", "-o", str(fragment)).exit_code == 0
    assert invoke("solve", "linreg", "-o", str(document), "--standalone").exit_code == 0
    assert not fragment.read_text().startswith("\\documentclass")
    assert document.read_text().startswith("\\documentclass")
    assert document.read_text().rstrip().endswith("\\end{document}")


def test_warnings_still_reach_stderr_when_writing_a_file(tmp_path: Path) -> None:
    result = invoke("solve", "linreg", "-o", str(tmp_path / "lin.txt"))
    assert result.exit_code == 0
    assert "stability limit" in result.stderr


def test_refuses_to_overwrite_the_problem_file(tmp_path: Path) -> None:
    problem = tmp_path / "p.yaml"
    original = bundled_problems()["logreg"].read_text()
    problem.write_text(original)
    for args in (["-o", str(problem)], ["-o", str(problem), "-f", "text"],
                 ["-o", str(tmp_path / "." / "p.yaml"), "-f", "json"]):
        result = invoke("solve", str(problem), *args)
        assert result.exit_code == 2, result.output
        assert "refusing to overwrite the problem file" in result.output
    assert problem.read_text() == original
    link = tmp_path / "link.md"
    link.symlink_to(problem)
    result = invoke("solve", str(problem), "-o", str(link))
    assert result.exit_code == 2 and problem.read_text() == original


def test_bad_targets_exit_2_with_one_line(tmp_path: Path) -> None:
    cases = {
        str(tmp_path / "out.xyz"): "cannot tell the format",
        str(tmp_path / "missing" / "out.md"): "does not exist",
        str(tmp_path): "is a directory",
    }
    for target, message in cases.items():
        result = invoke("solve", "logreg", "-o", target)
        assert result.exit_code == 2, (target, result.output)
        assert message in result.output
        assert result.output.count("\n") == 1 and "Traceback" not in result.output


def test_an_existing_file_is_replaced_whole(tmp_path: Path) -> None:
    target = tmp_path / "out.md"
    target.write_text("old content that is much longer than nothing\n" * 1000)
    assert invoke("solve", "logreg", "-o", str(target)).exit_code == 0
    assert target.read_text().startswith("<!-- gdtrace") and "old content" not in \
        target.read_text()
    mode = stat.S_IMODE(target.stat().st_mode)
    assert mode & 0o044  # readable by others as a normal file is, not mkstemp's 0600


def test_a_failed_write_leaves_the_old_file_and_no_temp(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "out.md"
    target.write_text("keep me\n")

    def broken_replace(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(UsageError, match="No space left"):
        write_atomic(target, "new")
    assert target.read_text() == "keep me\n"
    assert leftovers(tmp_path) == []


def test_format_for_path() -> None:
    assert format_for_path("a/b/answer.TEX") == "latex"
    assert format_for_path("x.md") == "markdown"
    assert format_for_path("x.unknown", "csv") == "csv"
    with pytest.raises(UsageError):
        format_for_path("noextension")
    assert set(EXTENSIONS.values()) <= {"text", "markdown", "latex", "json", "csv", "svg",
                                        "html"}


def test_library_save_solve_render(tmp_path: Path) -> None:
    trace = gdtrace.solve("logreg", epochs=1, l2=0.5)
    assert trace.runs[0].final["w1"] == pytest.approx(-0.5552576399, abs=1e-10)
    path = gdtrace.save(trace, tmp_path / "key.tex", standalone=True)
    assert path.read_text().startswith("\\documentclass")
    assert gdtrace.render(trace, "markdown", steps=True).startswith("<!-- gdtrace")
    with pytest.raises(UsageError, match="unknown render option"):
        gdtrace.render(trace, "text", colour=True)
    with pytest.raises(UsageError, match="unknown setting"):
        gdtrace.solve("logreg", epochz=3)
    compared = gdtrace.comparison("logreg", l2=[0.5])
    assert [run.label for run in compared.runs] == ["as written", "λ = 0.5"]


def test_import_gdtrace_stays_light() -> None:
    import subprocess
    import sys

    code = ("import sys, gdtrace; heavy = [m for m in ('numpy', 'rich', 'yaml', 'matplotlib')"
            " if m in sys.modules]; print(','.join(heavy))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == ""


def test_the_library_docs_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import doctest

    monkeypatch.chdir(tmp_path)  # the save() example writes answer.tex
    docs = Path(__file__).resolve().parents[1] / "docs" / "library.md"
    result = doctest.testfile(str(docs), module_relative=False, globs={"gdtrace": gdtrace},
                              optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 15 and result.failed == 0


@pytest.mark.parametrize("fmt, reader", [
    ("json", "import json, sys; json.load(sys.stdin)"),
    ("csv", "import csv, sys; rows = list(csv.reader(sys.stdin)); assert len(rows) > 10"),
])
def test_piped_output_loads_in_the_standard_readers(fmt: str, reader: str) -> None:
    import subprocess
    import sys

    produced = subprocess.run([sys.executable, "-m", "gdtrace", "solve", "--format", fmt],
                              capture_output=True, check=True)
    subprocess.run([sys.executable, "-c", reader], input=produced.stdout, check=True)
    if fmt == "json":
        subprocess.run([sys.executable, "-m", "json.tool"], input=produced.stdout, check=True,
                       capture_output=True)
