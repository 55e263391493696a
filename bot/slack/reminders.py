"""The reminder posted in an incident's thread while nobody acknowledges it (pure; no I/O).

Whom it mentions: the service's catalog ``owner``, else the matching route's ``mention``
(:meth:`ChannelRouter.owner_mention`); with neither it says so, and a SEV1 mentions
SEVBOT_SLACK_SEV1_MENTION when that is set. Mentions come from the validated configuration; everything
from the alerts is escaped.
"""

from __future__ import annotations

from analytics.records import Severity
from bot.slack.blocks import SlackMessage, esc, reply_message
from storage.models import Incident


def waited_text(seconds: int) -> str:
    minutes = max(1, seconds // 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"


def reminder_message(
    incident: Incident,
    *,
    owner: str | None,
    sev1_mention: str | None,
    count: int,
    unacked_seconds: int,
    link: str | None = None,
) -> SlackMessage:
    """``:alarm_clock: <owner> SEV1 incident #7 has waited 10 min without an acknowledgement …``."""
    mention = owner
    lines = []
    if owner is None:
        where = f"service *{esc(incident.service)}*" if incident.service else "this incident"
        lines.append(
            f":warning: Nobody is configured to be reminded for {where}: give the service an `owner` in the"
            " service catalog, or its Slack route a `mention`."
        )
        if incident.severity == Severity.SEV1 and sev1_mention:
            mention = sev1_mention
    who = f"{mention} " if mention else ""
    ordinal = "" if count <= 1 else f" (reminder {count})"
    lines.insert(
        0,
        f":alarm_clock: {who}{esc(incident.severity)} incident #{incident.id} *{esc(incident.title)}* has"
        f" waited {waited_text(unacked_seconds)} without an acknowledgement{ordinal}."
        " Acknowledge it to stop these reminders.",
    )
    return reply_message(lines, link=link)
