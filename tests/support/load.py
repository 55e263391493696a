"""Webhook load for fault tests: threads posting unique alerts to a real sevbot, recording every answer.

Each request carries ``alerts_per_request`` Alertmanager alerts with fingerprints never used before, spread
over ``groups`` alert names (so incidents get updates, and their messages queue in the outbox). An alert
is *acknowledged* when its request was answered ``202``; the test later checks that every acknowledged
alert is in the database. Answers are tallied by status (``None``: no answer at all — refused, reset, or
timed out). Standard library only.
"""

from __future__ import annotations

import http.client
import itertools
import json
import threading
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from tests.support.payloads import am_alert, am_payload


@dataclass
class Tally:
    acknowledged: set[str] = field(default_factory=set)  # fingerprints answered 202
    statuses: Counter[int | None] = field(default_factory=Counter)
    sent: int = 0  # requests sent


class WebhookLoad:
    """Start with ``start()``; ``wait_acknowledged(n)`` blocks until n alerts got a 202; ``stop()`` ends."""

    def __init__(
        self,
        url: str,
        token: str,
        *,
        clients: int = 4,
        alerts_per_request: int = 5,
        groups: int = 12,
        timeout: float = 10.0,
    ) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.token = token
        self.clients = clients
        self.alerts_per_request = alerts_per_request
        self.groups = groups
        self.timeout = timeout
        self.tally = Tally()
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._seq = itertools.count()
        self._threads: list[threading.Thread] = []

    def start(self) -> WebhookLoad:
        self._threads = [
            threading.Thread(target=self._client, args=(n,), name=f"load-{n}", daemon=True)
            for n in range(self.clients)
        ]
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> Tally:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=self.timeout + 5)
        return self.tally

    def wait_acknowledged(self, count: int, *, timeout: float = 30.0) -> int:
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.tally.acknowledged) >= count, timeout=timeout):
                raise TimeoutError(
                    f"only {len(self.tally.acknowledged)} alerts acknowledged: {self.tally.statuses}"
                )
            return len(self.tally.acknowledged)

    def wait_answers(self, status: int | None, count: int, *, timeout: float = 30.0) -> None:
        """Block until at least ``count`` requests were answered ``status``."""
        with self._cond:
            if not self._cond.wait_for(lambda: self.tally.statuses[status] >= count, timeout=timeout):
                raise TimeoutError(f"waited for {count} answers {status}: {self.tally.statuses}")

    def acknowledged_count(self) -> int:
        with self._cond:
            return len(self.tally.acknowledged)

    def _client(self, number: int) -> None:
        connection: http.client.HTTPConnection | None = None
        while not self._stop.is_set():
            seq = next(self._seq)
            alerts = [
                am_alert(
                    name=f"Load{(seq + i) % self.groups}",
                    instance=f"c{number}-r{seq}-a{i}",
                    fingerprint=f"{seq:010d}{i:03d}",
                )
                for i in range(self.alerts_per_request)
            ]
            body = json.dumps(am_payload(alerts)).encode()
            headers = {"Content-Type": "application/json", "Authorization": f"Bearer {self.token}"}
            status: int | None = None
            try:
                if connection is None:
                    connection = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
                connection.request("POST", "/webhooks/alertmanager", body=body, headers=headers)
                response = connection.getresponse()
                response.read()
                status = response.status
                if response.getheader("connection", "").lower() == "close":
                    connection.close()
                    connection = None
            except (OSError, http.client.HTTPException):
                if connection is not None:
                    connection.close()
                connection = None
                self._stop.wait(0.02)  # the server is gone: try again shortly (bounded by the test's stop)
            with self._cond:
                self.tally.sent += 1
                self.tally.statuses[status] += 1
                if status == 202:
                    self.tally.acknowledged.update(a["fingerprint"] for a in alerts)
                self._cond.notify_all()
        if connection is not None:
            connection.close()
