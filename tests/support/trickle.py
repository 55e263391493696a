"""Writing a stand-in's answer body, at once or trickled: the hostile upstream whose every read is quick and
whose whole answer never comes (a client's per-read timeout never fires)."""

from __future__ import annotations

import threading
from typing import BinaryIO


def write_body(out: BinaryIO, data: bytes, *, trickle: float = 0.0, stop: threading.Event) -> None:
    """Write ``data``; with ``trickle``, one byte every ``trickle`` seconds until done or ``stop`` is set."""
    if not trickle:
        out.write(data)
        return
    for at in range(len(data)):
        if stop.wait(trickle):
            return
        out.write(data[at : at + 1])
        out.flush()
