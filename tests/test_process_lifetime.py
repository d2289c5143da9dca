"""Issue 10: no gdtrace process outlives the command (the --stream writer), a reader that goes
away ends the run quietly with exit code 0, and an output that cannot encode gdtrace's symbols
gets ASCII spellings. These run the real command in a subprocess."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

COMMAND = [sys.executable, "-W", "error", "-m", "gdtrace"]
LONG_STREAM = ["solve", "logreg", "-f", "json", "--stream", "--epochs", "5000000",
               "--max-steps", "20000000"]
linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses /proc")


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def eof_within(stream: object, seconds: float) -> bool:
    """Read the pipe until end of file (True) or until the time is up (False)."""
    fd = stream.fileno()  # type: ignore[attr-defined]
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready and not os.read(fd, 1 << 16):
            return True
    return False


@linux_only
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_the_stream_writer_dies_with_gdtrace(sig: signal.Signals) -> None:
    """After SIGTERM or SIGKILL of a long --stream, the writer child is gone and the pipe
    downstream gets its end of file (before: an orphan kept stdout open for ever)."""
    process = subprocess.Popen([*COMMAND, *LONG_STREAM], stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL)
    try:
        assert process.stdout is not None
        assert process.stdout.readline().startswith(b'{"type":"run"')
        deadline = time.monotonic() + 10
        while not children(process.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        writers = children(process.pid)
        assert writers, "the long run did not start its writer process"
        process.send_signal(sig)
        assert eof_within(process.stdout, 10), "something still holds gdtrace's stdout"
        process.wait(10)
        assert process.returncode == (-sig if sig == signal.SIGKILL else 128 + sig)
        time.sleep(0.2)
        assert not any(alive(pid) for pid in writers)
    finally:
        process.kill()
        process.wait()


@pytest.mark.parametrize("args", [["solve", "logreg"], ["solve", "logreg", "--steps"],
                                  LONG_STREAM, ["solve", "logreg", "--summary"]])
def test_a_closed_pipe_ends_the_run_quietly_with_exit_0(args: list[str]) -> None:
    """`gdtrace … | head`: exit 0 and nothing on stderr (before: exit 1, or a traceback)."""
    process = subprocess.Popen([*COMMAND, *args], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()  # the reader goes away (as head does) before gdtrace writes
    _, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert err == b""


def test_an_ascii_only_output_gets_ascii_spellings(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONIOENCODING": "ascii"}
    result = subprocess.run([*COMMAND, "solve", "logreg", "--steps"], capture_output=True,
                            env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    text = result.stdout.decode("ascii")  # fails on any byte outside ASCII
    assert "eta" in text and "sigma(z1)" in text and "Step 1" in text


@linux_only
def test_term_dumb_gets_no_ansi_codes_in_a_terminal() -> None:
    import pty

    main, child = pty.openpty()
    env = {**os.environ, "TERM": "dumb"}
    env.pop("NO_COLOR", None)
    process = subprocess.Popen([*COMMAND, "solve", "logreg"], stdout=child,
                               stderr=subprocess.PIPE, env=env)
    os.close(child)
    chunks = []
    while True:
        try:
            chunk = os.read(main, 1 << 16)
        except OSError:  # EIO: the terminal's other end closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    process.wait(60)
    os.close(main)
    text = b"".join(chunks)
    assert process.returncode == 0 and b"Logistic regression by SGD" in text
    assert b"\x1b[" not in text
