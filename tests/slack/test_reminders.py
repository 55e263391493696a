"""The reminder's text: the owner mentioned, what came from alerts escaped, nobody configured said so."""

from __future__ import annotations

from bot.slack.reminders import reminder_message, waited_text
from storage.models import Incident
from tests.support.payloads import T0


def incident(**values: object) -> Incident:
    fields: dict[str, object] = {
        "id": 7,
        "title": "Checkout <!channel> down & out",
        "severity": "SEV1",
        "status": "open",
        "service": "checkout",
        "opened_at": T0,
    }
    fields.update(values)
    return Incident(**fields)


def test_the_owner_is_mentioned_and_alert_text_is_escaped() -> None:
    message = reminder_message(
        incident(), owner="<!subteam^S0PAY>", sev1_mention=None, count=3, unacked_seconds=1500
    )
    assert message.text.startswith(":alarm_clock: <!subteam^S0PAY> SEV1 incident #7")
    assert "&lt;!channel&gt; down &amp; out" in message.text and "<!channel>" not in message.text
    assert "waited 25 min" in message.text and "(reminder 3)" in message.text


def test_without_an_owner_it_says_so_and_only_a_sev1_falls_back_to_the_global_mention() -> None:
    sev1 = reminder_message(
        incident(service="a<b"), owner=None, sev1_mention="<!here>", count=1, unacked_seconds=600
    )
    assert sev1.text.startswith(":alarm_clock: <!here> SEV1")
    assert "Nobody is configured to be reminded for service *a&lt;b*" in sev1.text
    sev2 = reminder_message(
        incident(severity="SEV2"), owner=None, sev1_mention="<!here>", count=1, unacked_seconds=600
    )
    assert "<!here>" not in sev2.text and "Nobody is configured" in sev2.text


def test_waiting_times_read_in_minutes_and_hours() -> None:
    assert waited_text(30) == "1 min"
    assert waited_text(600) == "10 min"
    assert waited_text(3 * 3600 + 120) == "3 h 2 min"
