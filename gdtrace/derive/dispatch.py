"""Find the handler for a sympy node along its class hierarchy, as sympy's own printers do.

A walker names its handlers ``<prefix><ClassName>``; the most specific class with a handler wins
(``Inverse`` before the ``MatPow`` it derives from, ``MatMul`` before ``Mul``), so a new node type
is one new method and the order of a chain of ``isinstance`` tests no longer matters.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def handler(walker: object, prefix: str, node: Any) -> Callable[[Any], Any] | None:
    for kind in type(node).__mro__:
        found = getattr(walker, prefix + kind.__name__, None)
        if found is not None:
            return found
    return None
