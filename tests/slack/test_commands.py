"""``/incident`` command text → Command, or a short usage message naming what is wrong."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.errors import UsageError
from bot.slack.commands import Command, parse


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", Command("help")),
        ("help", Command("help")),
        ("list", Command("list")),
        (
            "list acked checkout sev2",
            Command("list", status="acknowledged", service="checkout", severity="SEV2"),
        ),
        ("list SEV1 resolved", Command("list", status="resolved", severity="SEV1")),
        ("show 12", Command("show", incident_id=12)),
        ("why #12", Command("why", incident_id=12)),
        ("ACK 3", Command("ack", incident_id=3)),
        ("resolve 3", Command("resolve", incident_id=3)),
        ("resolve 3 rolled back v2.1", Command("resolve", incident_id=3, text="rolled back v2.1")),
        ("sev 3 sev2", Command("sev", incident_id=3, severity="SEV2")),
        ("sev 3 SEV4 only staging", Command("sev", incident_id=3, severity="SEV4", text="only staging")),
        ("noise 3", Command("noise", incident_id=3)),
        ("summarize 3", Command("summarize", incident_id=3)),
        ("summarise 3", Command("summarize", incident_id=3)),
        ("runbook 3", Command("runbook", incident_id=3)),
        ("stats", Command("stats", since=timedelta(days=7))),
        ("stats 24h", Command("stats", since=timedelta(hours=24))),
        ("stats charts", Command("stats", since=timedelta(days=7), charts=True)),
        ("stats 30d charts", Command("stats", since=timedelta(days=30), charts=True)),
        ("silence list", Command("silence", silence_action="list")),
        ("silence remove 4", Command("silence", silence_action="remove", silence_id=4)),
    ],
)
def test_commands_parse(text: str, expected: Command) -> None:
    assert parse(text) == expected


def test_silence_takes_matchers_and_a_duration() -> None:
    command = parse("silence service=checkout alertname=~Disk.* severity!=sev1 2h")

    assert command.silence_action == "add" and command.duration == timedelta(hours=2)
    assert command.matchers == (
        {"name": "service", "op": "=", "value": "checkout"},
        {"name": "alertname", "op": "=~", "value": "Disk.*"},
        {"name": "severity", "op": "!=", "value": "SEV1"},
    )


@pytest.mark.parametrize(
    ("text", "level"),
    [
        ("sev 2 high", "SEV2"),
        ("sev 2 critical", "SEV1"),
        ("sev 2 page", "SEV1"),
        ("sev 2 P1", "SEV1"),
        ("sev 2 sev-3", "SEV3"),
        ("sev 2 warning", "SEV3"),
        ("sev 2 info", "SEV4"),
        ("sev 2 low", "SEV4"),
        ("sev 2 sev4", "SEV4"),
    ],
)
def test_the_readmes_severity_words_are_accepted(text: str, level: str) -> None:
    assert parse(text) == Command("sev", incident_id=2, severity=level)


def test_list_filters_on_severity_words_too() -> None:
    assert parse("list open critical") == Command("list", status="open", severity="SEV1")
    assert parse("list high search") == Command("list", severity="SEV2", service="search")


def test_silence_an_incident_by_id_with_an_optional_duration_and_comment() -> None:
    assert parse("silence 12") == Command("silence", silence_action="incident", incident_id=12)
    assert parse("silence #12 4h deploying the fix") == Command(
        "silence",
        silence_action="incident",
        incident_id=12,
        duration=timedelta(hours=4),
        text="deploying the fix",
    )
    # In the incident's thread: no ID, and a bare duration is the incident's, not a matcher.
    assert parse("silence", thread_incident=9) == Command("silence", silence_action="incident", incident_id=9)
    assert parse("silence 30m flaky", thread_incident=9) == Command(
        "silence", silence_action="incident", incident_id=9, duration=timedelta(minutes=30), text="flaky"
    )
    assert parse("silence service=x 1h", thread_incident=9).silence_action == "add"


def test_silences_lists_and_remove_takes_sevbots_number_or_alertmanagers_id() -> None:
    assert parse("silences") == Command("silence", silence_action="list")
    uuid = "DAFE995E-65a0-43ff-8603-dbd6efd4dd3b"
    assert parse(f"silence remove {uuid}") == Command(
        "silence", silence_action="remove", silence_ref=uuid.lower()
    )


def test_in_an_incident_thread_the_id_may_be_left_out() -> None:
    assert parse("ack", thread_incident=9) == Command("ack", incident_id=9)
    assert parse("sev SEV2 too loud", thread_incident=9) == Command(
        "sev", incident_id=9, severity="SEV2", text="too loud"
    )
    assert parse("resolve fixed it", thread_incident=9) == Command("resolve", incident_id=9, text="fixed it")
    assert parse("why 4", thread_incident=9) == Command("why", incident_id=4)  # an explicit ID wins


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("frobnicate", "Unknown subcommand 'frobnicate'"),
        ("ack", "Which incident? Slash commands need the incident's ID (`/incident ack 12`)"),
        ("ack twelve", "'twelve' is not an incident ID."),
        ("show １", "'１' is not an incident ID."),  # fullwidth digits read as 1 by int()
        ("silence remove ١٢", "Give the silence ID"),  # Arabic-Indic digits likewise
        ("show 3 4", "`show` takes only an incident ID."),
        ("sev 3", "Give the new severity"),
        ("sev 3 loud", "'loud' is not a severity. Give the new severity"),
        ("list open acked", "'acked' is one filter too many."),
        ("silence 2h", "Give at least one matcher"),
        ("silence service=checkout forever", "'forever' is not a duration"),
        ("silence service=checkout 90d", "at most 30d"),
        ("silence checkout 1h", "'checkout' is not a matcher"),
        ("silence alertname=~( 1h", "not a valid regular expression"),
        ("silence x=y 99999999999w", "'99999999999w' is not a duration"),  # was an OverflowError
        ("silence alertname=~(?=X) 1h", "invalid perl operator"),  # RE2: no look-around
        ("stats 99999999999d", "'99999999999d' is not a period"),
        ("silence remove x", "Give the silence ID"),
        ("silence", "Give an incident ID, or matchers"),
        ("silence 12 soon", "'soon' is not a duration"),
        ("silence 12 45d", "at most 30d"),
        ("silences all", "`silences` takes nothing more."),
        ("stats lots", "'lots' is not a period"),
    ],
)
def test_bad_input_names_what_is_wrong_with_a_usage_line(text: str, message: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse(text)
    assert message in str(caught.value)
    assert len(str(caught.value)) < 300


def test_usage_names_the_configured_command() -> None:
    with pytest.raises(UsageError, match="Usage: `/oncall ack ID`"):
        parse("ack", command="/oncall")
