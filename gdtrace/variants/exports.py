"""What ``gdtrace variants`` writes besides the problem files: keys, blank answer sheets, the
spread report and the course exports (Moodle XML quiz, CSV of answers, Gradescope bundle).

Every writer returns text or bytes and depends only on the variants, so the same seed gives the
same bytes on every machine (no dates, no machine paths, zip entries stored with fixed times).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from html import escape

import numpy as np

from gdtrace.check.cells import Address, Cell, cells_of
from gdtrace.variants.generate import Batch, Variant, name

# --key NAME → (gdtrace format, file suffix, render options)
KEY_FORMATS: dict[str, tuple[str, str, dict[str, object]]] = {
    "md": ("markdown", ".md", {}),
    "markdown": ("markdown", ".md", {}),
    "latex": ("latex", ".tex", {"standalone": True}),
    "json": ("json", ".json", {}),
    "text": ("text", ".txt", {}),
    "html": ("html", ".html", {}),
}
EXPORTS = ("moodle", "csv", "gradescope")
REL_TOLERANCE = 0.005  # a student who carries 4 decimals stays within 0.5 % …
ABS_TOLERANCE = 0.001  # … or 0.001 of the key (the CSV and the quiz use the same)


@dataclass(frozen=True)
class Answer:
    """One number a student writes: a cell, or one entry of a vector or matrix cell."""

    address: Address
    value: float

    @property
    def tolerance(self) -> float:
        return tolerance(self.value)


def tolerance(value: float) -> float:
    """0.5 % of the key, at least 0.001, to two significant digits (no float noise)."""
    return float(f"{max(ABS_TOLERANCE, REL_TOLERANCE * abs(value)):.2g}")


def answers(variant: Variant) -> Iterator[Answer]:
    """Every answer of a variant in the order of its worked solution."""
    for cell in cells_of(variant.trace.runs[0]):
        yield from _entries(cell)


def _entries(cell: Cell) -> Iterator[Answer]:
    value = np.asarray(cell.quantity.value, dtype=float)
    if value.ndim == 0:
        yield Answer(cell.address, float(value))
        return
    for index in np.ndindex(*value.shape):
        yield Answer(cell.address.at(tuple(int(i) for i in index)), float(value[index]))


def plain_number(value: float) -> str:
    """The shortest exact decimal of a float, never with an exponent (Moodle, CSV readers)."""
    text = format(Decimal(repr(value)), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


# ------------------------------------------------------------------------------------- keys


def key_files(variant: Variant, formats: list[str]) -> dict[str, str]:
    """The worked key of a variant in each format asked: file name → text."""
    from gdtrace.api import render

    out = {}
    for key in formats:
        fmt, suffix, options = KEY_FORMATS[key]
        out[f"{name(variant.index)}.key{suffix}"] = render(variant.trace, fmt, **options)
    return out


def blank_sheet(variant: Variant) -> str:
    """The variant's blank answers document, as ``gdtrace sheet`` writes it."""
    from gdtrace.check.sheet import sheet

    return sheet(variant.trace, "yaml", problem_ref=f"{name(variant.index)}.yaml",
                 answers_name=f"{name(variant.index)}.answers.yaml")


# ----------------------------------------------------------------------------------- report


def report(batch: Batch) -> str:
    """The spread of every answer over the variants (min / median / max), and the redraws."""
    table: dict[str, list[float]] = {}
    for variant in batch.variants:
        for answer in answers(variant):
            table.setdefault(answer.address.label(), []).append(answer.value)
    draws = sum(v.draws for v in batch.variants)
    rejected = ", ".join(f"{k} {v}" for k, v in batch.rejected.items()) or "none"
    lines = [f"{len(batch.variants)} variants of {batch.source.name} (seed {batch.seed}):"
             f" {draws} draws, rejected: {rejected}", ""]
    width = max([len(k) for k in table] + [4])
    lines.append(f"{'cell':<{width}}  {'min':>10}  {'median':>10}  {'max':>10}")
    lines.append("─" * (width + 36))
    for label, values in table.items():
        low, mid, high = np.min(values), np.median(values), np.max(values)
        lines.append(f"{label:<{width}}  {low:>10.4f}  {mid:>10.4f}  {high:>10.4f}")
    return "\n".join(lines) + "\n"


# -------------------------------------------------------------------------------------- csv


CSV_COLUMNS = ("variant", "cell", "epoch", "step", "sample", "section", "key", "entry", "value",
               "tolerance")


def answers_csv(batch: Batch) -> str:
    """One row per variant and answer: where it is, the exact value and the quiz tolerance."""
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for variant in batch.variants:
        for answer in answers(variant):
            a = answer.address
            entry = ",".join(str(i + 1) for i in a.index)
            writer.writerow([name(variant.index), a.label(), _blank_none(a.epoch),
                             _blank_none(a.step), _blank_none(a.sample), a.section, a.key,
                             entry, plain_number(answer.value),
                             plain_number(answer.tolerance)])
    return out.getvalue()


def _blank_none(value: int | None) -> str:
    return "" if value is None else str(value)


# ----------------------------------------------------------------------------------- moodle


def _cdata(html: str) -> str:
    return "<![CDATA[" + html.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def cloze(answer: Answer) -> str:
    """A Moodle embedded numerical answer: ``{1:NUMERICAL:=value:tolerance}``."""
    return f"{{1:NUMERICAL:={plain_number(answer.value)}:{plain_number(answer.tolerance)}}}"


def _question(batch: Batch, variant: Variant) -> str:
    from gdtrace.api import render

    title = variant.problem.title
    rows = "\n".join(f"<tr><td>{escape(a.address.label())}</td><td>{cloze(a)}</td></tr>"
                     for a in answers(variant))
    statement = "\n".join(line for line in variant.text.splitlines()
                          if not line.startswith("#"))
    text = (f"<p>Work this problem by hand ({escape(title)}) and enter every number you write"
            " down. Answers within 0.5 % (at least 0.001) of the key count.</p>\n"
            f"<pre>{escape(statement)}</pre>\n<table>\n<tr><th>value</th><th>answer</th></tr>\n"
            f"{rows}\n</table>")
    feedback = f"<pre>{escape(render(variant.trace, 'text'))}</pre>"
    return (f'  <question type="cloze">\n'
            f"    <name><text>{escape(title)} — {name(variant.index)}</text></name>\n"
            f'    <questiontext format="html"><text>{_cdata(text)}</text></questiontext>\n'
            f'    <generalfeedback format="html"><text>{_cdata(feedback)}</text>'
            "</generalfeedback>\n"
            "    <penalty>0.3333333</penalty>\n    <hidden>0</hidden>\n"
            f"    <idnumber>{name(variant.index)}</idnumber>\n  </question>\n")


def moodle_xml(batch: Batch) -> str:
    """A Moodle XML quiz: a category, then one cloze question per variant."""
    title = batch.variants[0].problem.title if batch.variants else batch.source.name
    category = escape(f"$course$/gdtrace/{title} (seed {batch.seed})")
    head = ('<?xml version="1.0" encoding="UTF-8"?>\n<quiz>\n'
            f'  <question type="category">\n    <category><text>{category}</text></category>\n'
            "  </question>\n")
    return head + "".join(_question(batch, v) for v in batch.variants) + "</quiz>\n"


# ------------------------------------------------------------------------------- gradescope

STUDENT_FIELD = "email"

SETUP_SH = """\
#!/usr/bin/env bash
# Gradescope runs this once, when it builds the autograder image: install Python and what
# gdtrace needs (requirements.txt); gdtrace itself is in python/, the version that made the keys.
set -euo pipefail
apt-get update
apt-get install -y python3 python3-pip
pip3 install -r /autograder/source/requirements.txt
"""

RUN_AUTOGRADER = """\
#!/usr/bin/env bash
# Gradescope runs this for every submission: find the student's variant from their e-mail (the
# same hash as `gdtrace variants --student`), grade answers.yaml with `gdtrace check`.
# AUTOGRADER_ROOT (default /autograder) lets you try it in a copy of the layout.
set -uo pipefail
root="${AUTOGRADER_ROOT:-/autograder}"
source_dir="$root/source"
# the bundled gdtrace (python/), unless GDTRACE names another command; run from $root so no
# other gdtrace folder in the working directory comes first
cd "$root" || exit 1
export PYTHONPATH="$source_dir/python${PYTHONPATH:+:$PYTHONPATH}"
read -r -a gdtrace <<< "${GDTRACE:-python3 -m gdtrace}"
mkdir -p "$root/results"
results="$root/results/results.json"
variant=$(python3 "$source_dir/pick_variant.py" "$source_dir/variants.json" \\
    "$root/submission_metadata.json") || {
    python3 "$source_dir/pick_variant.py" --fail "could not find the student's variant" \\
        > "$results"
    exit 0
}
"${gdtrace[@]}" check "$source_dir/variants/$variant" "$root/submission/answers.yaml" \\
    --format gradescope -o "$results" 2> "$root/results/check.err"
status=$?
if [ "$status" -ge 2 ] || [ ! -s "$results" ]; then
    python3 "$source_dir/pick_variant.py" --fail "$(cat "$root/results/check.err")" > "$results"
fi
exit 0
"""

PICK_VARIANT = '''\
"""The submitting student's variant file name, as `gdtrace variants --student ID` picks it;
with --fail MESSAGE, a Gradescope results.json that reports MESSAGE with score 0."""
import hashlib
import json
import sys


def student_index(seed, student, count):
    digest = hashlib.sha256(f"{seed}:{student.strip().lower()}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % count + 1


def main(argv):
    if argv[1] == "--fail":
        print(json.dumps({"score": 0, "output": argv[2]}))
        return 0
    with open(argv[1], encoding="utf-8") as handle:
        manifest = json.load(handle)
    with open(argv[2], encoding="utf-8") as handle:
        users = json.load(handle)["users"]
    student = str(users[0][manifest["student_field"]])
    index = student_index(manifest["seed"], student, manifest["count"])
    print(f"variant-{index:03d}.yaml")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
'''


def _requirements() -> str:
    """What the bundled gdtrace needs from PyPI: its own dependencies, one per line."""
    from importlib import metadata

    try:
        needed = metadata.requires("gdtrace") or []
    except metadata.PackageNotFoundError:  # run from a source tree that is not installed
        needed = []
    return "".join(f"{r}\n" for r in needed if "extra ==" not in r)


def _package_files() -> list[tuple[str, str, int]]:
    """gdtrace's own files under python/ (the version that wrote the keys grades with them),
    in a fixed order so the same seed gives the same bundle."""
    from pathlib import Path

    import gdtrace

    root = Path(gdtrace.__file__).parent
    found = sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts
                   and p.suffix in (".py", ".yaml", ".json", ".csv"))
    return [(f"python/gdtrace/{p.relative_to(root).as_posix()}",
             p.read_text(encoding="utf-8"), 0o644) for p in found]


def gradescope_zip(batch: Batch) -> bytes:
    """The autograder bundle: setup.sh, run_autograder, the variants and how to pick one."""
    import io
    import zipfile

    from gdtrace import __version__

    manifest = {"source": batch.source.name, "seed": batch.seed, "count": len(batch.variants),
                "student_field": STUDENT_FIELD, "gdtrace": __version__}
    files: list[tuple[str, str, int]] = [
        ("setup.sh", SETUP_SH, 0o755),
        ("run_autograder", RUN_AUTOGRADER, 0o755),
        ("pick_variant.py", PICK_VARIANT, 0o644),
        ("requirements.txt", _requirements(), 0o644),
        ("variants.json", json.dumps(manifest, indent=2) + "\n", 0o644),
        *((f"variants/{name(v.index)}.yaml", v.text, 0o644) for v in batch.variants),
        *_package_files(),
    ]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as bundle:
        for path, text, mode in files:
            info = zipfile.ZipInfo(path, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = (0o100000 | mode) << 16
            info.create_system = 3  # unix, so the modes count
            bundle.writestr(info, text.encode("utf-8"))
    return buffer.getvalue()
