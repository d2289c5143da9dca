"""Reading a data set's CSV file: up to 200 MiB, in chunks, at the speed of ``numpy.loadtxt``.

A chunk of whole lines is parsed by numpy's C reader into a float block and checked with
vectorised tests (every value finite, one row per line, as many values as header columns). A
chunk that fails any test, or that holds anything numpy and Python's :mod:`csv` might read
differently (a quote, a lone carriage return, a NUL, a line longer than csv's field limit), is
read again the careful way: :mod:`csv` rows and ``float()`` per cell, which finds the first
problem and words it exactly. So a clean file costs numpy's time and a broken one gets the same
message, with the same line number, as if it had been read whole.

The whole file is never held as text, nor as Python floats: only one chunk's text at a time and
the float blocks, joined once at the end.

Which error is reported when a file has several is kept as it was when the file was read whole
(size or read error, then UTF-8, then a malformed CSV row, then the first bad value): after the
first problem the rest of the file is still read, only to look for an error that ranks higher.
"""

from __future__ import annotations

import csv
import io
import math
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, NamedTuple

import numpy as np

from gdtrace.errors import ProblemError
from gdtrace.problem.schema import Context

MAX_CSV_BYTES = 200 * 1024 * 1024
"""Largest data set file (checked from ``stat`` before reading, and again while reading)."""
MAX_COLUMNS = 10_000
CHUNK_BYTES = 1 << 20
"""Bytes read at a time; a chunk is cut after its last newline, so it holds whole lines. 1 MiB
reads as fast as 4 MiB and keeps the transient text and parse buffers to about 12 MB."""
SHRINK_ROWS = 1 << 16
"""Rows copied out of the table before it is shrunk behind them (see :meth:`Table.columns`)."""


def excerpt(text: str, limit: int = 24) -> str:
    """A value from a user's file as shown in a message: escaped (no control characters reach
    the terminal) and cut to ``limit`` characters, so an error line never echoes a file."""
    shown = repr(text[:limit + 1])[1:-1]
    return f"'{shown[:limit]}…'" if len(shown) > limit else f"'{shown}'"


def names(columns: list[str], limit: int = 8) -> str:
    """Column names for a message: a few, each short and escaped."""
    shown = ", ".join(excerpt(c)[1:-1] for c in columns[:limit])
    return shown + (f", … ({len(columns)} in all)" if len(columns) > limit else "")


def read_csv_dataset(rel: str, path: str, ctx: Context) -> tuple[list[str], np.ndarray, Path]:
    """Read a data set CSV → (column names, rows × columns float64 array, resolved file)."""
    header, table, file = read_csv_table(rel, path, ctx)
    return header, table.result(), file


def read_csv_table(rel: str, path: str, ctx: Context) -> tuple[list[str], Table, Path]:
    """Read a data set CSV → (column names, its :class:`Table`, resolved file).

    Only a regular file is read, its size checked before reading and never more than the limit
    read, so a huge or endless file costs nothing. ``rel`` is relative to ``ctx.base_dir``;
    ``path`` is the problem-file field that errors point at.
    """
    file = Path(rel) if Path(rel).is_absolute() else ctx.base_dir / rel
    file = file.resolve()
    try:
        info = os.stat(file)
    except OSError:
        raise ctx.error(f"csv file not found: {file}", path) from None
    if stat.S_ISDIR(info.st_mode):
        raise ctx.error(f"csv file {file} is a directory, not a file", path)
    if not stat.S_ISREG(info.st_mode):
        raise ctx.error(f"csv file {file} is not a regular file (a device, FIFO or socket)", path)
    if info.st_size > MAX_CSV_BYTES:
        raise _too_large(file, path, ctx)
    try:
        with open(file, "rb") as handle:
            header, table = _CsvReader(handle, file, path, ctx, info.st_size).read()
    except OSError as exc:
        raise ctx.error(f"cannot read csv file {file}: {exc.strerror or exc}", path) from None
    return header, table, file


def _too_large(file: Path, path: str, ctx: Context) -> ProblemError:
    return ctx.error(f"csv file {file} is larger than {MAX_CSV_BYTES // (1024 * 1024)} MiB",
                     path)


class _Text(NamedTuple):
    """A chunk of whole lines: its text, its bytes and the offsets of its newlines."""

    text: str
    raw: bytes
    ends: np.ndarray


class _Malformed(Exception):
    """A row csv cannot read: reported unless a UTF-8, size or read error comes later."""

    def __init__(self, error: ProblemError):
        super().__init__(error.message)
        self.error = error


class _BadValue(_Malformed):
    """A bad header or value: reported unless the rest of the file has an error that ranks
    higher (a malformed row, or a UTF-8, size or read error)."""


class _Chunk:
    """Lines for csv's reader: a chunk's, then the next chunks' while a record runs on. Lines
    end at ``\n`` only, as :class:`io.StringIO` splits them (no 4-byte-per-character copy)."""

    def __init__(self, text: str):
        self.text = text
        self.used = 0  # characters of the current chunk handed to csv

    def lines(self, more: Iterator[_Text]) -> Iterator[str]:
        yield from self._own_lines()
        for text, _, _ in more:
            self.text, self.used = text, 0
            yield from self._own_lines()

    def _own_lines(self) -> Iterator[str]:
        text = self.text
        while self.used < len(text):
            start, self.used = self.used, (text.find("\n", self.used) + 1) or len(text)
            yield text[start:self.used]

    def at_end(self) -> bool:
        return self.used == len(self.text)

    def rest(self) -> str:
        return self.text[self.used:]


class Table:
    """The rows read so far, in one array sized from the file (rows per byte of the first
    block) and grown or trimmed in place (``ndarray.resize``: ``realloc``, which moves pages
    rather than copying a large array), so the floats are never held twice."""

    def __init__(self, file_bytes: int):
        self.file_bytes = file_bytes
        self.array: np.ndarray | None = None
        self.rows = 0
        self.unread: int | None = None  # lines not read, when the reading stopped at max_rows

    def add(self, block: np.ndarray, text_bytes: int) -> None:
        need = self.rows + len(block)
        if self.array is None:
            guess = int(len(block) * self.file_bytes / max(1, text_bytes) * 1.02) + 16
            self.array = np.empty((max(need, guess), block.shape[1]))
        elif need > len(self.array):
            self.array.resize((max(need, len(self.array) * 5 // 4), block.shape[1]),
                              refcheck=False)
        self.array[self.rows:need] = block
        self.rows = need

    def result(self) -> np.ndarray:
        assert self.array is not None
        self.array.resize((self.rows, self.array.shape[1]), refcheck=False)
        return self.array

    def columns(self, groups: list[list[int]]) -> list[np.ndarray]:
        """One array per group of column indices, each ``table[:, group]`` (the same values and
        the same column-major layout as numpy's fancy indexing), made from the last rows back
        while the table is shrunk in place behind them (``realloc``: its pages go back to the
        system), so the floats are held about once, not as the table plus its copies. The
        table is empty afterwards."""
        table = self.result()
        arrays = [np.empty((self.rows, len(group)), order="F") for group in groups]
        stop = self.rows
        while stop:
            start = max(0, stop - SHRINK_ROWS)
            for array, group in zip(arrays, groups):
                array[start:stop] = table[start:stop, group]
            table.resize((start, table.shape[1]), refcheck=False)
            stop = start
        self.array, self.rows = None, 0
        return arrays


class _CsvReader:
    """One pass over one file: whole-line chunks, each parsed fast or, failing that, carefully."""

    def __init__(self, handle: BinaryIO, file: Path, path: str, ctx: Context, size: int):
        self.handle = handle
        self.file = file
        self.name = file.name
        self.path = path
        self.ctx = ctx
        self.header: list[str] | None = None
        self.table = Table(size)
        self.records = 0  # CSV records so far (blank ones included): a row's "line" in messages
        self.lines = 0  # physical lines so far: a malformed row's line in messages
        self.byte_lines = 0  # newlines in the bytes read so far, for a UTF-8 error's line
        self.bad_value: ProblemError | None = None  # the first, held until the file is read
        self.chunks = self._bytes()
        self.first_chunk = True

    # ----------------------------------------------------------------------------- reading

    def _bytes(self) -> Iterator[bytes]:
        """The file as chunks of whole lines (the last may lack its newline)."""
        size = 0
        pending: list[bytes] = []
        while True:
            data = self.handle.read(CHUNK_BYTES)
            size += len(data)
            if size > MAX_CSV_BYTES:
                raise _too_large(self.file, self.path, self.ctx)
            if not data:
                if pending:
                    yield b"".join(pending)
                return
            cut = data.rfind(b"\n") + 1
            if not cut:
                pending.append(data)
                continue
            pending.append(data[:cut])
            yield b"".join(pending)
            pending = [data[cut:]] if cut < len(data) else []

    def _texts(self) -> Iterator[_Text]:
        """Decoded chunks; a UTF-8 error is raised once the rest of the file has been read."""
        for raw in self.chunks:
            try:
                text = raw.decode("utf-8-sig" if self.first_chunk else "utf-8")
            except UnicodeDecodeError as exc:
                # utf-8-sig counts from after a byte order mark; the line is counted in bytes
                start = exc.start + (3 if self.first_chunk and raw[:3] == b"\xef\xbb\xbf" else 0)
                line = self.byte_lines + raw.count(b"\n", 0, start) + 1
                for _ in self.chunks:  # a size or read error later in the file comes first
                    pass
                raise self.ctx.error(f"csv file {self.file} is not UTF-8 text (line {line})",
                                     self.path) from None
            self.first_chunk = False
            ends = _newlines(raw)
            self.byte_lines += len(ends)
            yield _Text(text, raw, ends)

    def read(self) -> tuple[list[str], Table]:
        texts = self._texts()
        limit = self.ctx.max_rows
        try:
            for chunk in texts:
                while chunk.text and (self.header is None or not self._fast(chunk)):
                    rest = self._careful(chunk.text, texts)
                    raw = rest.encode()  # after the header: the rest of the chunk, fast
                    chunk = _Text(rest, raw, _newlines(raw))
                if limit is not None and self.table.rows > limit and self.bad_value is None:
                    self.table.unread = self._count_rest()  # the run is refused: no need to
                    break  # parse the rest, only to say about how long the data set is
        except _Malformed as found:
            for _ in texts:  # a UTF-8, size or read error later in the file is reported first
                pass
            raise found.error from None
        if self.bad_value is not None:
            raise self.bad_value
        if self.header is None:
            raise self.ctx.error(f"{self.name} is empty; it needs a header row of column names",
                                 self.path)
        if not self.table.rows:
            raise self.ctx.error(f"{self.name} has a header but no rows of data", self.path)
        return self.header, self.table

    def _count_rest(self) -> int:
        """The lines of the rest of the file, counted without parsing (blank ones included)."""
        lines = 0
        for raw in self.chunks:
            lines += raw.count(b"\n") + (not raw.endswith(b"\n"))
        return lines

    # ---------------------------------------------------------------------------- fast path

    def _fast(self, chunk: _Text) -> bool:
        """Parse a chunk with numpy's C reader; False (nothing kept) when the careful path
        must read it, because it is not plainly numbers or numpy might read it differently."""
        text, raw, ends = chunk
        if b'"' in raw or b"\x00" in raw:  # quoting; a NUL ends numpy's number early
            return False
        if b"\r" in raw and raw.count(b"\r") != raw.count(b"\r\n"):  # csv: a malformed row
            return False
        limit = csv.field_size_limit()
        if len(raw) > limit and np.diff(ends, prepend=-1, append=len(raw)).max() > limit:
            return False  # csv: "field larger than field limit"
        assert self.header is not None
        body = text.rstrip()  # trailing blank lines: csv skips them, loadtxt may not
        lines = len(ends) + (not raw.endswith(b"\n"))
        if body:
            try:
                block = np.loadtxt(io.StringIO(body), dtype=np.float64, delimiter=",",
                                   comments=None, ndmin=2)
            except ValueError:
                return False
            rows = len(ends) - text.count("\n", len(body)) + 1
            if block.shape != (rows, len(self.header)) \
                    or not np.isfinite(block).all():
                return False
            self.table.add(block, len(raw))
        self.records += lines
        self.lines += lines
        return True

    # ------------------------------------------------------------------------- careful path

    def _careful(self, text: str, texts: Iterator[_Text]) -> str:
        """Read a chunk with :mod:`csv` and ``float()`` per cell, and as much of the next chunks
        as a quoted field running on needs. Stops where a record ends with a chunk, or after
        the header row: returns the rest of the current chunk, for the fast path."""
        chunk = _Chunk(text)
        reader = csv.reader(chunk.lines(texts))
        rows: list[list[float]] = []
        checking = True  # until the first bad value: then only csv's own errors are looked for
        try:
            for row in reader:
                self.records += 1
                if checking and any(c.strip() for c in row):  # blank lines skipped
                    had_header = self.header is not None
                    try:
                        self._record(row, rows)
                    except _BadValue as bad:
                        self.bad_value, checking = bad.error, False
                        continue
                    if not had_header and not chunk.at_end():
                        return chunk.rest()
                if checking and chunk.at_end():
                    break
        except csv.Error as exc:
            message = f"{self.name} line {self.lines + reader.line_num}: not a CSV row ({exc})"
            raise _Malformed(self.ctx.error(message, self.path)) from None
        finally:
            self.lines += reader.line_num
            if rows:
                self.table.add(np.array(rows, dtype=np.float64), chunk.used)
        return ""

    def _record(self, row: list[str], rows: list[list[float]]) -> None:
        """Check one non-blank record: the header, or a row of numbers appended to ``rows``."""
        if self.header is None:
            self.header = self._checked_header(row)
            return
        header = self.header
        if len(row) != len(header):
            self._value_error(f"{self.name} line {self.records} has {len(row)} values but the"
                              f" header has {len(header)} columns ({names(header)})")
        values = []
        for col, cell in zip(header, row):
            try:
                value = float(cell.strip())
            except ValueError:
                value = math.nan
            if not math.isfinite(value):
                self._value_error(f"{self.name} line {self.records}, column {excerpt(col)[1:-1]}:"
                                  f" expected a finite number, got {excerpt(cell.strip())}")
            values.append(value)
        rows.append(values)

    def _checked_header(self, row: list[str]) -> list[str]:
        header = [c.strip() for c in row]
        if any(not c for c in header):
            self._value_error(f"{self.name} line {self.records}: the header row has an empty"
                              " column name")
        if len(header) > MAX_COLUMNS:
            self._value_error(f"{self.name} has {len(header)} columns, more than {MAX_COLUMNS}")
        return header

    def _value_error(self, message: str) -> None:
        raise _BadValue(self.ctx.error(message, self.path))


def _newlines(raw: bytes) -> np.ndarray:
    """Offsets of a chunk's newlines (numpy: faster than ``bytes.count`` on megabytes)."""
    return np.flatnonzero(np.frombuffer(raw, dtype=np.uint8) == ord("\n"))
