"""The chunked CSV data-set reader (gdtrace/problem/dataset.py): same tables and the same
messages as reading the file whole, whatever the chunk size; errors in a later chunk name the
right line; large data sets load and solve with --summary, a worked solution of one is refused."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from gdtrace.cli import app
from gdtrace.errors import ProblemError
from gdtrace.problem import dataset
from gdtrace.problem.dataset import MAX_COLUMNS, excerpt, names, read_csv_dataset
from gdtrace.problem.schema import Context

# --------------------------------------------------------------------------- the old reader


def whole_file_reader(raw: bytes, file: Path, path: str, ctx: Context) -> tuple[list[str], list]:
    """The reader before chunking (problem/load.py's _read_csv after its size checks): the
    oracle every chunk size must agree with, table and message. One fix: after a byte order
    mark, the UTF-8 error's line was counted 3 bytes short (utf-8-sig's offsets start after it)."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start + 3 * raw.startswith(b"\xef\xbb\xbf")) + 1
        raise ctx.error(f"csv file {file} is not UTF-8 text (line {line})", path) from None
    name = file.name
    rows = []
    reader = csv.reader(io.StringIO(text))
    try:
        for i, r in enumerate(reader, 1):
            if any(c.strip() for c in r):
                rows.append((i, r))
    except csv.Error as exc:
        raise ctx.error(f"{name} line {reader.line_num}: not a CSV row ({exc})", path) from None
    if not rows:
        raise ctx.error(f"{name} is empty; it needs a header row of column names", path)
    header = [c.strip() for c in rows[0][1]]
    if any(not c for c in header):
        raise ctx.error(f"{name} line {rows[0][0]}: the header row has an empty column name", path)
    if len(header) > MAX_COLUMNS:
        raise ctx.error(f"{name} has {len(header)} columns, more than {MAX_COLUMNS}", path)
    data = []
    for lineno, row in rows[1:]:
        if len(row) != len(header):
            raise ctx.error(f"{name} line {lineno} has {len(row)} values but the header has"
                            f" {len(header)} columns ({names(header)})", path)
        values = []
        for col, cell in zip(header, row):
            try:
                value = float(cell.strip())
            except ValueError:
                value = float("nan")
            if not math.isfinite(value):
                raise ctx.error(f"{name} line {lineno}, column {excerpt(col)[1:-1]}: expected a"
                                f" finite number, got {excerpt(cell.strip())}", path)
            values.append(value)
        data.append(values)
    if not data:
        raise ctx.error(f"{name} has a header but no rows of data", path)
    return header, data


def outcome(read, *args):
    try:
        header, table = read(*args)[:2]
    except ProblemError as exc:
        return ("error", exc.message, exc.field, exc.line)
    return ("table", header, np.asarray(table, dtype=np.float64).tolist())


def both_ways(folder: Path, raw: bytes, chunk: int, monkeypatch: pytest.MonkeyPatch):
    file = folder / "d.csv"
    file.write_bytes(raw)
    ctx = Context("p.yaml", folder)
    expected = outcome(whole_file_reader, raw, file.resolve(), "dataset.csv", ctx)
    monkeypatch.setattr(dataset, "CHUNK_BYTES", chunk)
    got = outcome(read_csv_dataset, "d.csv", "dataset.csv", ctx)
    return got, expected


CELLS = st.sampled_from([
    "1", "0", "-2.5", " 3 ", "1e3", "4.", ".5", "+7", "1_000", "1e400", "nan", "-inf", "Infinity",
    "", " ", "x", '"8"', '"1\n2"', '"a""b"', "٣", "\xa01\xa0", "1\r", "0x1", "\ufeff1", "１",
    "1 2", "\t9", "1" * 30, "0." + "0" * 200 + "1",
])
LINE_ENDS = st.sampled_from(["\n", "\n", "\n", "\r\n", "\n\n", "\n , \n", "\r", "\n  \n"])


@st.composite
def csv_bytes(draw: st.DrawFn) -> bytes:
    columns = draw(st.integers(1, 3))
    header = ",".join(draw(st.sampled_from(["a", "b", " c ", '"d,e"', "", "x"]))
                      for _ in range(columns))
    lines = [header]
    for _ in range(draw(st.integers(0, 8))):
        width = columns if draw(st.integers(0, 9)) else draw(st.integers(1, 4))
        clean = draw(st.integers(0, 3))  # mostly plain numbers, so the fast path runs
        cells = [str(draw(st.integers(-99, 99))) if clean else draw(CELLS) for _ in range(width)]
        lines.append(",".join(cells))
    text = "".join(line + draw(LINE_ENDS) for line in lines)
    raw = text.encode("utf-8")
    if draw(st.integers(0, 9)) == 0:
        raw = b"\xef\xbb\xbf" + raw
    if draw(st.integers(0, 9)) == 0:
        cut = draw(st.integers(0, len(raw)))
        raw = raw[:cut] + b"\xff" + raw[cut:]
    return raw


@settings(max_examples=400, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=csv_bytes(), chunk=st.sampled_from([1, 7, 16, 64, 1 << 22]))
def test_any_chunk_size_gives_the_whole_file_reading(tmp_path: Path, raw: bytes, chunk: int,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    got, expected = both_ways(tmp_path, raw, chunk, monkeypatch)
    assert got == expected


# ---------------------------------------------------------------- errors in a later chunk


def big_clean_csv(rows: int, columns: int = 4) -> list[str]:
    header = ",".join(f"x{j}" for j in range(columns - 1)) + ",y"
    body = [",".join(f"{(i * 7 + j) % 13 / 4}" for j in range(columns)) for i in range(rows)]
    return [header, *body]


@pytest.mark.parametrize(("bad_line", "expected"), [
    ("1,2,oops,4", "d.csv line {n}, column x2: expected a finite number, got 'oops'"),
    ("1,2,1e999,4", "d.csv line {n}, column x2: expected a finite number, got '1e999'"),
    ("1,2,3", "d.csv line {n} has 3 values but the header has 4 columns (x0, x1, x2, y)"),
    ("1,2\r3,4", "d.csv line {n}: not a CSV row (new-line character seen in unquoted field"),
])
def test_an_error_deep_in_a_later_chunk_names_its_line(tmp_path: Path, bad_line: str,
                                                        expected: str,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dataset, "CHUNK_BYTES", 1 << 12)
    lines = big_clean_csv(30_000)  # about 470 KB: the error is in the 97th 4 KiB chunk
    n = 25_001
    lines[n - 1] = bad_line
    (tmp_path / "d.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(ProblemError) as info:
        read_csv_dataset("d.csv", "dataset.csv", Context("p.yaml", tmp_path))
    assert info.value.message.startswith(expected.format(n=n)), info.value.message


def test_a_utf8_error_in_a_later_chunk_names_its_line(tmp_path: Path) -> None:
    lines = big_clean_csv(600_000)  # about 9 MB: the error is in the 8th 1 MiB chunk
    raw = ("\n".join(lines[:500_000]) + "\n").encode() + b"1,2,\xff,4\n" \
        + ("\n".join(lines[500_001:]) + "\n").encode()
    (tmp_path / "d.csv").write_bytes(raw)
    with pytest.raises(ProblemError, match=r"is not UTF-8 text \(line 500001\)"):
        read_csv_dataset("d.csv", "dataset.csv", Context("p.yaml", tmp_path))


def test_a_utf8_error_after_a_byte_order_mark_names_its_line(tmp_path: Path) -> None:
    (tmp_path / "d.csv").write_bytes(b"\xef\xbb\xbfa,y\n\xff,1\n")
    with pytest.raises(ProblemError, match=r"is not UTF-8 text \(line 2\)"):  # was: line 1
        read_csv_dataset("d.csv", "dataset.csv", Context("p.yaml", tmp_path))


def test_a_later_utf8_error_outranks_an_earlier_bad_value(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    raw = b"a,y\n1,2\nx,3\n" + b"4,5\n" * 50 + b"\xff,1\n"
    got, expected = both_ways(tmp_path, raw, 16, monkeypatch)
    assert got == expected and "not UTF-8 text (line 54)" in got[1]


def test_quoted_fields_over_chunk_ends_and_a_quoted_header(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    raw = b'"x","y"\n' + b"1,2\n" * 30 + b'"3\n","4"\n' + b"5,6\r\n" * 30 + b"\n \n"
    for chunk in (1, 5, 9, 64, 1 << 22):
        got, expected = both_ways(tmp_path, raw, chunk, monkeypatch)
        assert got == expected and got[0] == "table" and len(got[2]) == 61


def test_a_clean_file_is_read_by_numpy_and_a_quoted_one_carefully(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The fast path is taken (the test can fail): numpy's reader sees the data rows."""
    calls = []
    real = np.loadtxt

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(np, "loadtxt", counting)
    (tmp_path / "d.csv").write_text("a,b\n1,2\n3,4\n")
    header, table, _ = read_csv_dataset("d.csv", "dataset.csv", Context("p.yaml", tmp_path))
    assert header == ["a", "b"] and table.tolist() == [[1, 2], [3, 4]] and calls


# ------------------------------------------------------------------- large data sets, end to end


def write_large_problem(folder: Path, model: str, rows: int = 10_000, features: int = 20) -> Path:
    rng = np.random.default_rng(7)
    X = rng.normal(size=(rows, features))
    y = (X @ rng.normal(size=features) > 0).astype(float)
    table = np.column_stack([X, y])
    header = ",".join([*(f"x{j + 1}" for j in range(features)), "y"])
    np.savetxt(folder / "big.csv", table, fmt="%.6f", delimiter=",", header=header,
               comments="")
    assert (folder / "big.csv").stat().st_size > 1024 * 1024  # the old limit
    extra = ""
    if model == "mlp":  # 20 → 8 sigmoid → 1 sigmoid, small random weights
        hidden = np.round(rng.normal(scale=0.3, size=(features, 8)), 3).tolist()
        output = np.round(rng.normal(scale=0.3, size=8), 3).tolist()
        extra = (f"layers:\n  - weights: {hidden}\n    bias: {[0.0] * 8}\n"
                 "    activation: sigmoid\n"
                 f"  - weights: {output}\n    bias: 0.0\n    activation: sigmoid\n"
                 "loss: mse\n")
    path = folder / "p.yaml"
    path.write_text(f"model: {model}\ndataset:\n  csv: big.csv\n{extra}"
                    "learning_rate: 0.1\nepochs: 2\n")
    return path


@pytest.mark.parametrize("model", ["logistic", "mlp"])
def test_a_2_mb_data_set_solves_with_summary(tmp_path: Path, model: str) -> None:
    path = write_large_problem(tmp_path, model)
    result = CliRunner().invoke(app, ["solve", str(path), "--summary", "--format", "json"])
    assert result.exit_code == 0, (result.output, result.exception)
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) >= 3 and all(math.isfinite(float(v)) for v in _losses(lines))


def _losses(lines: list[dict]) -> list[float]:
    return [line["loss"] for line in lines if isinstance(line.get("loss"), (int, float))]


def test_a_worked_solution_of_a_large_data_set_is_refused_naming_summary(tmp_path: Path) -> None:
    path = write_large_problem(tmp_path, "logistic")
    result = CliRunner().invoke(app, ["solve", str(path)])
    assert result.exit_code == 2
    message = result.stderr
    assert "too many for a worked solution" in message and "10000 rows" in message
    assert "--summary" in message and "--stream" in message


def test_variants_keep_the_1_mib_limit_for_a_data_set_they_copy_into_every_file(
        tmp_path: Path) -> None:
    path = write_large_problem(tmp_path, "logistic")
    path.write_text(path.read_text() + "vary:\n  learning_rate: {choice: [0.1, 0.2]}\n")
    result = CliRunner().invoke(app, ["variants", str(path), "-n", "2", "--seed", "1", "-o",
                                      str(tmp_path / "out")])
    assert result.exit_code == 2, (result.output, result.exception)
    assert "larger than 1024 KiB: with vary: the data set is written into every variant file" \
        in result.stderr


# --------------------------------------------------------- the table split into features, targets


@settings(max_examples=60, deadline=None)
@given(rows=st.integers(1, 40), width=st.integers(1, 6), shrink=st.integers(1, 9),
       data=st.data())
def test_table_columns_equal_fancy_indexing(rows, width, shrink, data):
    """Table.columns gives exactly table[:, group] (values and column-major layout) whatever the
    row blocks it copies between shrinks, and leaves the table empty."""
    values = np.arange(rows * width, dtype=float).reshape(rows, width) * 1.5 - 7
    groups = [data.draw(st.lists(st.integers(0, width - 1), min_size=1, max_size=width))
              for _ in range(2)]
    table = dataset.Table(values.nbytes)
    for start in range(0, rows, 7):
        table.add(values[start:start + 7].copy(), 100)
    saved, dataset.SHRINK_ROWS = dataset.SHRINK_ROWS, shrink
    try:
        got = table.columns(groups)
    finally:
        dataset.SHRINK_ROWS = saved
    for array, group in zip(got, groups):
        expected = values[:, group]
        assert array.tolist() == expected.tolist()
        assert array.flags["F_CONTIGUOUS"] == expected.flags["F_CONTIGUOUS"]
        assert array.flags["C_CONTIGUOUS"] == expected.flags["C_CONTIGUOUS"]
    assert table.rows == 0 and table.array is None


def test_csv_problem_takes_its_columns_wherever_they_are(tmp_path):
    """A CSV problem's X and Y are the file's feature and target columns, in the file's and the
    problem's order, wherever the target stands in the file."""
    (tmp_path / "d.csv").write_text("a,t,b\n1,2,3\n4,5,6\n7,8,9\n")
    (tmp_path / "p.yaml").write_text(
        "model: linear\ndataset:\n  csv: d.csv\n  targets: [t]\nlearning_rate: 0.1\n"
        "epochs: 1\nupdate: batch\n")
    from gdtrace.api import load

    data = load(str(tmp_path / "p.yaml")).dataset
    assert data.features == ["a", "b"] and data.targets == ["t"]
    assert data.X.tolist() == [[1, 3], [4, 6], [7, 9]] and data.Y.tolist() == [[2], [5], [8]]


# ------------------------------------------------- a worked solution refused before the whole read


def _problem_with_rows(folder: Path, rows: int, tail: str = "") -> Path:
    lines = ["x,y"] + [f"{i % 7 - 3},{i % 2}" for i in range(rows)]
    (folder / "d.csv").write_text("\n".join(lines) + "\n" + tail)
    path = folder / "p.yaml"
    path.write_text("model: logistic\ndataset:\n  csv: d.csv\nlearning_rate: 0.1\nepochs: 1\n")
    return path


def test_a_worked_solution_is_refused_without_reading_the_whole_file(tmp_path: Path) -> None:
    """The refusal comes after the first chunk: a bad value far below it is never reached
    (--summary, which reads everything, reports it), and the row count is still named."""
    from gdtrace.solvers.streaming import WORKED_MAX_ROWS

    rows = 300_000  # 1.5 MB: the file is read a chunk (1 MiB) at a time
    path = _problem_with_rows(tmp_path, rows, tail="oops,1\n")
    assert rows > WORKED_MAX_ROWS and path.with_name("d.csv").stat().st_size > dataset.CHUNK_BYTES
    worked = CliRunner().invoke(app, ["solve", str(path)])
    assert worked.exit_code == 2
    assert "too many for a worked solution" in worked.stderr
    assert f"about {rows + 1} rows" in worked.stderr  # lines, counted unparsed
    assert "oops" not in worked.stderr
    summary = CliRunner().invoke(app, ["solve", str(path), "--summary"])
    assert summary.exit_code == 2 and "expected a finite number, got 'oops'" in summary.stderr
    from gdtrace import api
    from gdtrace.errors import UsageError

    with pytest.raises(UsageError, match="too many for a worked solution"):
        api.solve(str(path))


def test_a_data_set_at_the_row_limit_is_read_whole(tmp_path: Path) -> None:
    """WORKED_MAX_ROWS rows are read whole (no refusal from the loader); with one more, the
    loader refuses what check_work would refuse too (every model records at least 3 numbers
    a row an epoch), however few features and epochs."""
    from gdtrace import api
    from gdtrace.errors import UsageError
    from gdtrace.solvers.streaming import WORKED_MAX_ROWS, check_work

    at_limit = api.load_to_solve(str(_problem_with_rows(tmp_path, WORKED_MAX_ROWS)))
    assert at_limit.dataset is not None and at_limit.dataset.unread is None
    assert at_limit.dataset.n == WORKED_MAX_ROWS
    over = _problem_with_rows(tmp_path, WORKED_MAX_ROWS + 1)
    with pytest.raises(UsageError):
        check_work(api.load(str(over)), streaming=False, max_steps=None)
    with pytest.raises(UsageError, match="more than 6666"):
        api.load_to_solve(str(over))
    assert api.load_to_solve(str(over), worked=False).dataset.n == WORKED_MAX_ROWS + 1


def test_max_steps_and_summary_read_the_whole_data_set(tmp_path: Path) -> None:
    from gdtrace.solvers.streaming import WORKED_MAX_ROWS

    path = _problem_with_rows(tmp_path, 2 * WORKED_MAX_ROWS)
    capped = CliRunner().invoke(app, ["solve", str(path), "--max-steps", "2", "--format", "json"])
    assert capped.exit_code == 0, capped.output
    assert json.loads(capped.stdout)["runs"][0]["epochs"][0]["loss"] is not None
