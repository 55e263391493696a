"""Argument types the commands share: whole numbers within bounds, refused by argparse naming them."""

from __future__ import annotations

import argparse
from collections.abc import Callable


def whole_number(low: int, high: int) -> Callable[[str], int]:
    """An argparse ``type`` for an integer from ``low`` to ``high`` (``--port 99999`` is a usage error,
    not a port the OS wraps round to another, and ``--workers 100000`` does not fork 100,000 processes)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text[:40]!r} is not a whole number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(
                f"{value if len(text) <= 40 else text[:40] + '…'} is not from {low} to {high}"
            )
        return value

    return parse
