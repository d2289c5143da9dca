"""Writing ``-o`` files: the one place that creates, replaces or writes through an output file.

Policy (docs/cli.md, "Output files"):

- a new or existing regular file is written atomically: a temporary file in the same folder,
  then a rename, so a reader (or a concurrent run) sees the old file or the whole new one;
- a symbolic link is written through: the file it points to is replaced atomically and the
  link stays; a dangling link is refused (gdtrace never creates a file a link points to);
  a link under /dev or /proc (``/dev/stdout``) is opened and written, never replaced, so
  ``-o /dev/stdout >> log`` appends;
- anything else that exists (``/dev/null``, ``/dev/full``, a FIFO) is written through and never
  replaced, so gdtrace cannot turn a device node into a regular file; its write errors (a full
  disk) are reported;
- a directory, and every input of the problem (the YAML, its dataset CSV), are refused.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, Union

from gdtrace.errors import UsageError

PathLike = Union[str, "os.PathLike[str]"]


def _cannot(path: PathLike, error: OSError | str) -> UsageError:
    reason = error if isinstance(error, str) else (error.strerror or str(error))
    return UsageError(f"cannot write {os.fspath(path)}: {reason}")


def resolve_target(path: PathLike) -> tuple[Path, bool]:
    """(the file to write, whether to replace it atomically) for an ``-o`` name, after the
    symlink and device policy above; refuses what must not be written."""
    given = Path(path)
    try:
        info = os.lstat(given)
    except FileNotFoundError:
        info = None
    except OSError as error:
        raise _cannot(path, error) from None
    if info is not None and stat.S_ISLNK(info.st_mode):
        try:
            info = os.stat(given)  # what the link points to
        except FileNotFoundError:
            raise UsageError(f"--output {os.fspath(path)} is a symbolic link to a missing "
                             "file; remove the link or name another file") from None
        except OSError as error:
            raise _cannot(path, error) from None
        if _system_path(given):  # /dev/stdout >> log: append, never replace the log
            return given, False
        real = Path(os.path.realpath(given))
        if stat.S_ISREG(info.st_mode) and real.is_file():
            given = real  # replace the file the link points to; the link stays
        # else (/dev/stdout → a pipe, a link to a device): written through the link
    if info is None:
        folder = given.parent if str(given.parent) else Path(".")
        if not folder.is_dir():
            raise _cannot(path, f"folder {os.fspath(folder)} does not exist")
        return given, True
    if stat.S_ISDIR(info.st_mode):
        raise UsageError(f"--output {os.fspath(path)} is a directory; give a file name")
    return given, stat.S_ISREG(info.st_mode)


def _system_path(path: Path) -> bool:
    """/dev/stdout, /dev/fd/N, /proc/self/fd/N: links to whatever the shell opened."""
    return os.path.abspath(path).startswith(("/dev/", "/proc/"))


def _inherited_descriptor(path: PathLike) -> int | None:
    """The descriptor ``/dev/stdout``, ``/dev/fd/N`` or ``/proc/self/fd/N`` names: written
    through a duplicate, so ``-o /dev/stdout >> log`` appends as the shell set it up (opening
    the path anew would start at offset 0)."""
    import re

    name = os.path.abspath(path)
    named = {"/dev/stdin": 0, "/dev/stdout": 1, "/dev/stderr": 2}
    if name in named:
        return named[name]
    match = re.fullmatch(r"/(?:dev/fd|proc/self/fd)/(\d+)", name)
    return int(match.group(1)) if match else None


def check_target(path: PathLike, protected: Iterable[PathLike] = ()) -> Path:
    """Refuse to write into a directory or over an input (the problem file, its CSV)."""
    target, _ = resolve_target(path)
    for number, other in enumerate(protected):
        try:
            same = target.exists() and Path(other).exists() and os.path.samefile(target, other)
        except OSError:
            same = False
        if same:
            what = "problem file" if number == 0 else "problem's dataset"
            raise UsageError(f"refusing to overwrite the {what} {os.fspath(other)} with the "
                             "output; choose another --output name")
    return Path(path)


@contextlib.contextmanager
def open_output(path: PathLike, binary: bool = False) -> Iterator[IO]:
    """A text stream for ``path`` under the policy above. A regular file appears only when
    the block ends without an exception (then whole); an interrupted run leaves the old file."""
    target, atomic = resolve_target(path)
    mode, encoding = ("wb", None) if binary else ("w", "utf-8")
    if not atomic:
        try:
            number = _inherited_descriptor(path)
            if number is not None:
                fd = os.dup(number)  # the shell's own descriptor: its offset, its O_APPEND
            else:  # a device or FIFO as it is; a regular file reached this way starts empty
                regular = stat.S_ISREG(os.stat(target).st_mode)
                fd = os.open(target, os.O_WRONLY | (os.O_TRUNC if regular else 0))
            stream = open(fd, mode, encoding=encoding)
        except OSError as error:
            raise _cannot(path, error) from None
        try:
            with stream:
                yield stream
        except OSError as error:
            raise _cannot(path, error) from None
        return
    import tempfile  # here, not at the top: it imports random, which every start-up would pay

    try:
        handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp",
                                             dir=target.parent)
    except OSError as error:
        raise _cannot(path, error) from None
    try:
        with os.fdopen(handle, mode, encoding=encoding) as stream:
            yield stream
            stream.flush()
            os.fsync(stream.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)  # mkstemp makes 0600; a normal file is wanted
        os.replace(temporary, target)
    except OSError as error:
        Path(temporary).unlink(missing_ok=True)
        raise _cannot(path, error) from None
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_atomic(path: PathLike, data: str | bytes) -> Path:
    """Write ``data`` to ``path`` under the policy above (atomically for a regular file)."""
    with open_output(path, binary=isinstance(data, bytes)) as stream:
        stream.write(data)
    return Path(path)


def create_new(path: PathLike, text: str) -> Path:
    """Write a file that must not exist yet (``gdtrace new -o``): never follows a symlink,
    dangling or not, and never replaces anything."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags, 0o666)
    except FileExistsError:
        what = "is a symbolic link" if os.path.islink(path) else "already exists"
        raise UsageError(f"{os.fspath(path)} {what}; choose another name or remove it") from None
    except OSError as error:
        raise _cannot(path, error) from None
    try:
        with open(fd, "w", encoding="utf-8") as stream:
            stream.write(text)
    except OSError as error:
        raise _cannot(path, error) from None
    return Path(path)


_CONTROL = {code: f"\\x{code:02x}" for code in [*range(32), *range(127, 160)] if code != 10}


def visible(text: str) -> str:
    """Text for a terminal: control characters (ESC, BEL, CR, …; newlines kept) written as
    ``\\x1b`` escapes, so a title in a problem file cannot move the cursor or recolour the
    screen."""
    return text.translate(_CONTROL)


def silence_stdout() -> None:
    """Point standard output at /dev/null: the reader is gone, and Python must not fail
    (or print a warning) flushing what is left at exit."""
    import sys

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


# ASCII spellings of the symbols gdtrace prints, for an output that cannot encode them
# (PYTHONIOENCODING=ascii, a C locale); anything else falls back to its decomposition or "?".
ASCII_SPELLINGS = {
    "−": "-", "·": "*", "×": "x", "÷": "/", "←": "<-", "→": "->", "≥": ">=", "≤": "<=",
    "≈": "~", "≠": "!=", "±": "+-", "∞": "inf", "√": "sqrt", "…": "...", "—": "--", "–": "-",
    "─": "-", "━": "-", "│": "|", "┃": "|", "‸": "^", "′": "'", "″": "''", "∂": "d",
    "Σ": "sum", "∑": "sum", "∇": "grad", "ᵀ": "^T", "η": "eta", "λ": "lambda", "σ": "sigma",
    "θ": "theta", "α": "alpha", "β": "beta", "γ": "gamma", "δ": "delta", "ε": "eps",
    "μ": "mu", "ρ": "rho", "τ": "tau", "ŷ": "y^", "ⱼ": "j", "ᵢ": "i", "ₖ": "k", "ₗ": "l",
    "ₙ": "n", "ₜ": "t", "ⁿ": "^n", "ᵗ": "^t", "⁻": "^-", "⁺": "^+", "⊙": "(.)", "‖": "||",
    "⁽": "^(", "⁾": ")",
    **{chr(0x2080 + i): str(i) for i in range(10)},
    **{c: f"^{i}" for i, c in enumerate("⁰¹²³⁴⁵⁶⁷⁸⁹")},
}


def _ascii_spelling(error: UnicodeError) -> tuple[str, int]:
    import unicodedata

    if not isinstance(error, UnicodeEncodeError):
        raise error
    out = []
    for char in error.object[error.start:error.end]:
        spelled = ASCII_SPELLINGS.get(char)
        if spelled is None:
            decomposed = unicodedata.normalize("NFKD", char).encode("ascii", "ignore").decode()
            spelled = decomposed or "?"
        out.append(spelled)
    return "".join(out), error.end


def ascii_fallback() -> None:
    """When standard output or error cannot encode gdtrace's symbols (η, σ, −, subscripts),
    write ASCII spellings instead of failing with UnicodeEncodeError."""
    import codecs
    import sys

    codecs.register_error("gdtrace-ascii", _ascii_spelling)
    for stream in (sys.stdout, sys.stderr):
        encoding = getattr(stream, "encoding", None) or "ascii"
        try:
            "η−σ₁─".encode(encoding)
            continue
        except (UnicodeEncodeError, LookupError):
            pass
        try:
            stream.reconfigure(errors="gdtrace-ascii")  # type: ignore[union-attr]
        except (AttributeError, ValueError):
            pass


def format_from_extension(path: str | os.PathLike[str], extensions: Mapping[str, str],
                          what: str, use: str) -> str:
    """The format an output file's extension names (``.md`` → markdown); otherwise a usage
    error: "cannot tell the {what} from 'FILE' (.xyz); use {use}"."""
    suffix = Path(path).suffix.lower()
    if suffix not in extensions:
        shown = suffix or "no extension"
        raise UsageError(f"cannot tell the {what} from '{os.fspath(path)}' ({shown}); use {use}")
    return extensions[suffix]
