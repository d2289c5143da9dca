"""gdtrace: worked, step-by-step solutions of gradient-descent problems."""

from __future__ import annotations

__version__ = "0.1.0"
