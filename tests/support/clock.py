"""A clock the test moves by hand (every component takes a ``clock``; no test sleeps to pass time)."""

from __future__ import annotations

from datetime import datetime

from tests.support.payloads import T0


class Clock:
    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now
