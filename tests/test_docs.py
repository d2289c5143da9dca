"""README.md and docs/*.md show real output: every marked example is what gdtrace prints now.

After an intended change of the output, regenerate them with ``python tests/doc_examples.py``.
"""

from __future__ import annotations

import pytest
from doc_examples import DOC_FILES, examples, output

CASES = [(path.name, args, how, body) for path in DOC_FILES
         for args, how, body in examples(path.read_text(encoding="utf-8"))]


def test_the_docs_have_examples() -> None:
    names = {name for name, *_ in CASES}
    assert {"README.md", "closed-form-and-functions.md"} <= names


@pytest.mark.parametrize(("doc", "args", "how", "body"), CASES,
                         ids=[f"{name}:{args}" for name, args, *_ in CASES])
def test_example_is_what_gdtrace_prints(doc: str, args: str, how: str | None, body: str) -> None:
    assert body == output(args, how), f"{doc}: example '{args}' is out of date " \
        "(regenerate: python tests/doc_examples.py)"
