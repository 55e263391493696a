"""Regular expressions that take time linear in the text, whatever the pattern and the text (pure; RE2).

Python's ``re`` backtracks: ``(.|.)*X`` on a 46-character name ran for 10 minutes, a redaction pattern
like ``\\b(?:[a-z0-9]+-?)+\\.corp\\b`` doubled its time with every character of a label value, and it holds
the GIL meanwhile, so one alert or one file stalled every request. Every pattern a person or a file
supplies (silence and route matchers, a team's redaction patterns) and every pattern sevbot runs over a
file anyone can write (Helm templates in rule files) is compiled here, on RE2 (``google-re2``, the engine
Alertmanager's matchers use). RE2 has no look-around and no back-references; :func:`problem` says so in
words a person can act on.
"""

from __future__ import annotations

from typing import Any

import re2

MAX_PROGRAM_BYTES = 1 << 20  # a pattern whose program needs more (``(a{100}){100}``) is refused

error = re2.error


def compile_linear(pattern: str, *, dot_matches_newline: bool = False) -> Any:
    """``pattern`` compiled on RE2 (``re2.error`` when RE2 refuses it; :func:`problem` says why)."""
    options = re2.Options()
    options.log_errors = False
    options.max_mem = MAX_PROGRAM_BYTES
    options.dot_nl = dot_matches_newline
    return re2.compile(pattern, options)


def problem(pattern: str) -> str | None:
    """Why RE2 refuses ``pattern`` (RE2 syntax: no look-around or back-references), or None."""
    try:
        compile_linear(pattern)
    except re2.error as exc:
        detail = exc.args[0] if exc.args else exc
        return detail.decode(errors="replace") if isinstance(detail, bytes) else str(detail)
    return None
