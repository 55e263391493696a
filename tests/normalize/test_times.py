"""An alert's times must be possible: resolved no earlier than it started, and not after sevbot's "now".

A resolution before the start made a negative MTTR in the report; a start in 9999 opened an incident no
list or report could place, and kept the service's "last alert" there for good. Both are now a 422 naming
the field (nothing written). A sender's clock may run a little ahead of sevbot's: up to an hour passes.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.errors import InvalidPayload
from bot.normalize import normalize
from bot.normalize.common import MAX_CLOCK_AHEAD
from tests.support.payloads import am_alert, am_payload, generic_alert, grafana_payload

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
GROUP_BY = ["alertname"]


def _body(payload: Any) -> bytes:
    return json.dumps(payload, default=str).encode()


def _fields(source: str, payload: Any, *, now: datetime | None = NOW) -> list[tuple[str, str]]:
    with pytest.raises(InvalidPayload) as raised:
        normalize(source, _body(payload), GROUP_BY, now=now)
    return [(e.field, e.message) for e in raised.value.errors]


def _resolved(starts_at: datetime, ends_at: datetime) -> dict[str, Any]:
    return am_alert(status="resolved", starts_at=starts_at, ends_at=ends_at)


def test_a_resolution_before_the_start_is_refused_naming_the_field_for_every_source() -> None:
    later, earlier = NOW - timedelta(hours=1), NOW - timedelta(days=3)
    grafana = grafana_payload()
    grafana["alerts"][0].update(status="resolved", startsAt=later.isoformat(), endsAt=earlier.isoformat())

    am = _fields("alertmanager", am_payload([am_alert(), _resolved(later, earlier)]))
    gf = _fields("grafana", grafana)
    one = _fields("generic", generic_alert(status="resolved", started_at=later, ended_at=earlier))
    many = _fields(
        "generic", {"alerts": [generic_alert(status="resolved", started_at=later, ended_at=earlier)]}
    )

    assert am == [("alerts.1.endsAt", "is before startsAt (2026-12-03T11:00:00Z)")]
    assert gf == [("alerts.0.endsAt", "is before startsAt (2026-12-03T11:00:00Z)")]
    assert one == [("ended_at", "is before started_at (2026-12-03T11:00:00Z)")]
    assert many == [("alerts.0.ended_at", "is before started_at (2026-12-03T11:00:00Z)")]


def test_a_time_more_than_an_hour_after_sevbots_clock_is_refused() -> None:
    far = datetime(9999, 12, 31, 23, 0, tzinfo=UTC)
    ahead = NOW + MAX_CLOCK_AHEAD + timedelta(seconds=1)

    starts = _fields("alertmanager", am_payload([am_alert(starts_at=far)]))
    ends = _fields("alertmanager", am_payload([_resolved(NOW, ahead)]))
    generic = _fields("generic", generic_alert(started_at=ahead))

    assert starts == [
        ("alerts.0.startsAt", "is more than an hour after sevbot's clock (2026-12-03T12:00:00Z): not yet")
    ]
    assert [f for f, _ in ends] == ["alerts.0.endsAt"]
    assert [f for f, _ in generic] == ["started_at"]


def test_what_real_senders_send_passes() -> None:
    skewed = NOW + MAX_CLOCK_AHEAD - timedelta(seconds=1)  # a sender's clock ahead of sevbot's
    payload = am_payload(
        [
            am_alert(starts_at=skewed, instance="a"),
            # Firing: Alertmanager's endsAt is when it would expire the alert, in the future; not a time.
            {**am_alert(instance="b"), "endsAt": (NOW + timedelta(days=2)).isoformat()},
            _resolved(NOW - timedelta(minutes=5), NOW - timedelta(minutes=5)),  # resolved as it started
            am_alert(instance="c", starts_at=datetime(1, 1, 1, tzinfo=UTC)),  # "no time"
        ]
    )

    batch = normalize("alertmanager", _body(payload), GROUP_BY, now=NOW)

    assert len(batch.alerts) == 4
    assert batch.alerts[1].ends_at is None


def test_without_a_clock_only_the_order_is_checked() -> None:
    far = datetime(9999, 12, 31, 23, 0, tzinfo=UTC)
    assert len(normalize("alertmanager", _body(am_payload([am_alert(starts_at=far)])), GROUP_BY).alerts) == 1
    assert _fields("alertmanager", am_payload([_resolved(NOW, NOW - timedelta(seconds=1))]), now=None)


@pytest.mark.parametrize("blank", ["", "   ", "\u0000"])
def test_a_blank_group_key_groups_by_labels_not_everything_together(blank: str) -> None:
    payload = am_payload([am_alert("DiskFull"), am_alert("CheckoutHighErrorRate")], group_key=blank)
    payload["groupKey"] = blank

    alerts = normalize("alertmanager", _body(payload), GROUP_BY, now=NOW).alerts

    assert alerts[0].group_key != alerts[1].group_key
    assert all(a.group_key.strip() for a in alerts)
