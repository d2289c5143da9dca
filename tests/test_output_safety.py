"""Issue 10: `-o` never damages a file the user did not name as output, and every `-o`
(including --summary and --stream) leaves the old file or the whole new one."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gdtrace.cli import app

DATA = "x1,y\n1,1\n2,0\n"
PROBLEM = "model: logistic\ndataset:\n  csv: data.csv\nlearning_rate: 0.1\nepochs: 1\n"


def invoke(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, list(args))


def one_line_error(result, *words: str) -> None:  # type: ignore[no-untyped-def]
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        repr(result.exception)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("gdtrace: error: "), result.stderr
    for word in words:
        assert word in lines[0], lines[0]


def leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.endswith(".tmp")]


def device(folder: Path, name: str, minor: int) -> Path:
    """A copy of /dev/null (minor 3) or /dev/full (minor 7), or skip without the right."""
    path = folder / name
    try:
        os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, minor))
    except (PermissionError, AttributeError, OSError):
        pytest.skip("cannot create a device node here (needs root on Linux)")
    return path


@pytest.mark.parametrize("args", [[], ["--summary", "-f", "text"], ["-f", "json", "--stream"]])
def test_a_device_node_is_written_through_never_replaced(tmp_path: Path, args: list[str]) -> None:
    null = device(tmp_path, "null", 3)
    result = invoke("solve", "logreg", "-o", str(null), "-f", "text", *args) if not args \
        else invoke("solve", "logreg", "-o", str(null), *args)
    assert result.exit_code == 0, result.output
    assert stat.S_ISCHR(os.lstat(null).st_mode)  # still the device, not a regular file
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("args", [["-f", "text"], ["--summary", "-f", "text"],
                                  ["-f", "json", "--stream"]])
def test_a_full_disk_is_reported_in_one_line(tmp_path: Path, args: list[str]) -> None:
    full = device(tmp_path, "full", 7)
    one_line_error(invoke("solve", "logreg", "-o", str(full), *args), "No space left")
    assert stat.S_ISCHR(os.lstat(full).st_mode)
    assert leftovers(tmp_path) == []


def test_a_symlink_is_written_through_and_stays_a_link(tmp_path: Path) -> None:
    real = tmp_path / "real.txt"
    real.write_text("old\n")
    link = tmp_path / "link.txt"
    link.symlink_to(real)
    assert invoke("solve", "logreg", "-o", str(link)).exit_code == 0
    assert link.is_symlink() and real.read_text().startswith("Logistic regression by SGD")


@pytest.mark.parametrize("command", [["solve", "logreg"], ["new", "logistic"], ["schema"]])
def test_a_dangling_symlink_is_refused_and_its_target_not_created(tmp_path: Path,
                                                                  command: list[str]) -> None:
    link = tmp_path / "out.txt"
    link.symlink_to(tmp_path / "elsewhere.txt")
    result = invoke(*command, "-o", str(link))
    one_line_error(result, "symbolic link")
    assert not (tmp_path / "elsewhere.txt").exists()


@pytest.mark.parametrize("command", [["solve"], ["solve", "--summary", "-f", "text"],
                                     ["compare", "--l2", "0.5"]])
def test_the_problems_dataset_is_never_overwritten(tmp_path: Path, command: list[str]) -> None:
    (tmp_path / "data.csv").write_text(DATA)
    problem = tmp_path / "p.yaml"
    problem.write_text(PROBLEM)
    for target in (tmp_path / "data.csv", tmp_path / "." / "data.csv"):
        result = invoke(command[0], str(problem), *command[1:], "-o", str(target), "-f", "csv")
        one_line_error(result, "refusing to overwrite the problem's dataset")
    assert (tmp_path / "data.csv").read_text() == DATA


def test_plot_never_overwrites_the_dataset(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    (tmp_path / "data.png").write_text(DATA)
    problem = tmp_path / "p.yaml"
    problem.write_text(PROBLEM.replace("data.csv", "data.png"))
    result = invoke("plot", str(problem), "-o", str(tmp_path / "data.png"))
    assert result.exit_code == 2 and (tmp_path / "data.png").read_text() == DATA


@pytest.mark.parametrize("args", [["--summary", "-f", "text"], ["-f", "json", "--stream"]])
def test_an_interrupted_long_run_leaves_the_old_file(tmp_path: Path, args: list[str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import gdtrace.solvers.streaming as streaming

    target = tmp_path / "out.txt"
    target.write_text("the old result\n")
    real = streaming.run_events

    def interrupted(*a, **k):  # type: ignore[no-untyped-def]
        events = real(*a, **k)
        yield next(events)
        yield next(events)
        raise KeyboardInterrupt

    monkeypatch.setattr(streaming, "run_events", interrupted)
    result = invoke("solve", "logreg", "-o", str(target), *args)
    assert result.exit_code != 0
    assert target.read_text() == "the old result\n"
    assert leftovers(tmp_path) == []


def test_a_long_run_to_a_file_replaces_it_whole(tmp_path: Path) -> None:
    target = tmp_path / "out.jsonl"
    target.write_text("x" * 100_000)
    assert invoke("solve", "logreg", "-o", str(target), "-f", "json", "--stream").exit_code == 0
    text = target.read_text()
    assert text.startswith('{"type":"run"') and "x" * 10 not in text
    assert stat.S_IMODE(target.stat().st_mode) & 0o044


@pytest.mark.skipif(not os.path.exists("/dev/stdout"), reason="no /dev/stdout")
@pytest.mark.parametrize("args", [["-f", "text"], ["-f", "json", "--stream"]])
def test_dev_stdout_is_written_through_and_appends(tmp_path: Path, args: list[str]) -> None:
    """`-o /dev/stdout >> log` appends to the log (never replaces it, nor /dev/stdout).
    Not run against 0.1.0: its rename would replace the machine's /dev/stdout."""
    import subprocess
    import sys

    log = tmp_path / "log.txt"
    log.write_text("previous line\n")
    with open(log, "a") as handle:
        result = subprocess.run([sys.executable, "-m", "gdtrace", "solve", "logreg", "-o",
                                 "/dev/stdout", *args], stdout=handle, stderr=subprocess.PIPE,
                                timeout=60)
    assert result.returncode == 0, result.stderr
    text = log.read_text()
    assert text.startswith("previous line\n") and len(text.splitlines()) > 5
    assert os.path.islink("/dev/stdout") or not os.path.isfile("/dev/stdout")


def test_concurrent_summary_runs_to_one_file_leave_one_whole_result(tmp_path: Path) -> None:
    """Several --summary -o runs at once: the file is one run's output, never interleaved."""
    import subprocess
    import sys

    target = tmp_path / "out.txt"
    command = [sys.executable, "-m", "gdtrace", "solve", "logreg", "--summary", "-f", "text",
               "-o", str(target)]
    runs = [subprocess.Popen(command, stderr=subprocess.DEVNULL) for _ in range(4)]
    assert all(run.wait(120) == 0 for run in runs)
    alone = subprocess.run([sys.executable, "-m", "gdtrace", "solve", "logreg", "--summary",
                            "-f", "text"], capture_output=True, text=True, timeout=60).stdout
    assert target.read_text() == alone
    assert leftovers(tmp_path) == []
