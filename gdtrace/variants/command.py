"""The body of ``gdtrace variants``: options checked, variants drawn, files written atomically."""

from __future__ import annotations

import sys
from pathlib import Path

from gdtrace.errors import UsageError
from gdtrace.variants import exports
from gdtrace.variants.generate import (
    MAX_TRIES,
    Batch,
    Variant,
    generate,
    name,
    read_source,
    student_index,
)
from gdtrace.variants.require import parse


def _listed(text: str | None, option: str, allowed: tuple[str, ...] | list[str]) -> list[str]:
    from gdtrace.problem.schema import suggest

    out = []
    for part in (text or "").split(","):
        word = part.strip()
        if not word:
            continue
        if word not in allowed:
            raise UsageError(f"{option}: unknown {word!r}{suggest(word, list(allowed))} (choose"
                             f" from {', '.join(allowed)})")
        if word not in out:
            out.append(word)
    return out


def run(problem: str | None, count: int, seed: int, output: str | None, student: str | None,
        key: str | None, require: str | None, show_report: bool, export: str | None,
        tries: int = MAX_TRIES) -> list[str]:
    """Draw, check and write; returns the messages for stderr."""
    from gdtrace.problem import resolve_problem

    keys = _listed("md" if key is None else key, "--key", list(exports.KEY_FORMATS))
    wanted = _listed(export, "--export", exports.EXPORTS)
    requirements = parse(require)
    if output is None and not show_report:
        raise UsageError("say where to write the variants with -o DIR (or only --report)")
    if student is not None and wanted:
        raise UsageError("--export writes every variant; leave out --student")
    if student is not None and not student.strip():
        raise UsageError("--student needs an id (the student's e-mail for Gradescope)")
    if tries < 1:
        raise UsageError(f"--tries must be at least 1, got {tries}")
    path = resolve_problem(problem)
    shown = problem if problem is not None and Path(problem).exists() else \
        f"problems/{path.name}"
    source = read_source(path, shown)
    batch = generate(source, count, seed, requirements, tries)
    messages = []
    if show_report:
        sys.stdout.write(exports.report(batch))
    chosen = batch.variants
    if student is not None:
        index = student_index(seed, student, count)
        chosen = [batch.variants[index - 1]]
        messages.append(f"gdtrace: student {student.strip()}: {name(index)}")
    if output is not None:
        written = _write(Path(output), batch, chosen, keys, wanted, path)
        messages.append(f"gdtrace: wrote {written} files to {output} ({len(chosen)} variant"
                        f"{'s' if len(chosen) != 1 else ''}"
                        f"{'; keys: ' + ', '.join(keys) if keys else ''}"
                        f"{'; exports: ' + ', '.join(wanted) if wanted else ''})")
    return messages


def _write(folder: Path, batch: Batch, chosen: list[Variant], keys: list[str], wanted: list[str],
           problem_path: Path) -> int:
    from gdtrace.api import check_target, write_atomic

    if folder.exists() and not folder.is_dir():
        raise UsageError(f"-o {folder} is a file; give a folder for the variants")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(f"cannot create {folder}: {error.strerror or error}") from None
    files: dict[str, str | bytes] = {}
    for variant in chosen:
        files[f"{name(variant.index)}.yaml"] = variant.text
        files.update(exports.key_files(variant, keys))
        files[f"{name(variant.index)}.answers.yaml"] = exports.blank_sheet(variant)
    if "moodle" in wanted:
        files["moodle.xml"] = exports.moodle_xml(batch)
    if "csv" in wanted:
        files["answers.csv"] = exports.answers_csv(batch)
    if "gradescope" in wanted:
        files["gradescope.zip"] = exports.gradescope_zip(batch)
    for file_name, data in files.items():
        target = check_target(folder / file_name, [problem_path])
        write_atomic(target, data)
    return len(files)
