"""The library surface the CLI is built on: gdtrace's lazy names, the display of a trace, and
the one place the output path is chosen (gdtrace.writer)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import gdtrace
from gdtrace.errors import UsageError


def test_dir_lists_every_lazy_name_and_each_resolves() -> None:
    listed = dir(gdtrace)
    for name in gdtrace.__all__:
        assert name in listed
        assert getattr(gdtrace, name) is not None
    with pytest.raises(AttributeError):
        gdtrace.no_such_name  # noqa: B018


def test_import_gdtrace_stays_light() -> None:
    code = "import sys, gdtrace; dir(gdtrace); print('numpy' in sys.modules)"
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True)
    assert shown.stdout.strip() == "False"


def test_a_trace_displays_itself_in_jupyter_and_rich_from_a_fresh_start() -> None:
    """The display lives in gdtrace.api (trace.py is plain data); a trace from the public
    functions has it without importing anything else."""
    code = (
        "import io, gdtrace\n"
        "trace = gdtrace.solve('logreg', epochs=1)\n"
        "html = trace._repr_html_()\n"
        "assert html.startswith('<pre') and '0.7427' in html, html[:80]\n"
        "from rich.console import Console\n"
        "out = io.StringIO()\n"
        "Console(file=out, width=100, force_terminal=True).print(trace)\n"
        "assert '0.7427' in out.getvalue() and '\\x1b[' in out.getvalue()\n"
        "print('ok')\n")
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=False)
    assert shown.stdout.strip() == "ok", shown.stderr


def test_trace_module_has_no_display_code() -> None:
    import ast

    source = (Path(gdtrace.__file__).parent / "trace.py").read_text(encoding="utf-8")
    tree = ast.parse(source)
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    defined = {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}
    assert "gdtrace.api" not in imported and not {"_repr_html_", "__rich__"} & defined


def test_load_refuses_a_folder_by_name(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="is a directory"):
        gdtrace.load(tmp_path)


def test_choose_writer_picks_one_path() -> None:
    from gdtrace.writer import choose_writer, write_document, write_stream, write_summary

    assert choose_writer({}, "text") is write_document
    assert choose_writer({"summary": True}, "text") is write_summary
    assert choose_writer({"stream": True}, "json") is write_stream
    with pytest.raises(UsageError, match="cannot be combined with --summary"):
        choose_writer({"stream": True, "summary": True}, "json")


def test_a_new_output_path_is_one_entry(monkeypatch: pytest.MonkeyPatch) -> None:
    import gdtrace.writer as writer

    def worked_stream(problem: object, request: object) -> list[object]:
        return []

    monkeypatch.setattr(writer, "OUTPUT_PATHS", (("stream", ("text",), worked_stream),
                                                 *writer.OUTPUT_PATHS))
    assert writer.choose_writer({"stream": True}, "text") is worked_stream
    assert writer.choose_writer({"stream": True}, "json") is writer.write_stream


def test_a_file_never_gets_the_terminal_format() -> None:
    from gdtrace.writer import choose_format

    assert choose_format("terminal", "out.txt") == "text"
    assert choose_format(None, "out.md") == "markdown"
    with pytest.raises(UsageError, match="unknown format 'nope'"):
        choose_format("nope")


def test_library_comparison_is_the_command_s() -> None:
    """gdtrace.comparison runs the orchestration `gdtrace compare` runs (same checks)."""
    with pytest.raises(UsageError, match="--l2 does not apply to model function"):
        gdtrace.comparison("quadratic", l2=0.5)
    with pytest.raises(UsageError, match="nothing to compare"):
        gdtrace.comparison("logreg", update="sgd")
    runs = gdtrace.comparison("logreg", optimizer="adam", epochs=1).runs
    assert [run.label for run in runs] == ["as written", "optimizer = adam"]
    ridge = gdtrace.comparison("ridge", l2=[0.5], methods=[])
    assert [run.label for run in ridge.runs] == ["ridge, λ = 0.5"]


def test_one_colour_rule_for_solve_and_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """`solve` and `check` choose terminal or text by the same rule (gdtrace.writer)."""
    from typer.testing import CliRunner

    from gdtrace.cli import app

    answers = str(Path(__file__).parent / "answers" / "student_b.yaml")
    for env, coloured in (({"FORCE_COLOR": "1"}, True), ({"NO_COLOR": "1"}, False),
                          ({}, False)):
        for name in ("NO_COLOR", "FORCE_COLOR"):
            monkeypatch.delenv(name, raising=False)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        for args in (["solve", "logreg", "--epochs", "1"], ["check", "logreg", answers]):
            output = CliRunner().invoke(app, args, color=True).stdout
            assert ("\x1b[" in output) is coloured, (args, env)
