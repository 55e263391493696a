"""A postmortem draft into its incident's thread as a Markdown file (``files_upload_v2``).

Slack's upload is three calls (``files.getUploadURLExternal``, the upload itself, then
``files.completeUploadExternal``, which shares the file in the thread with a comment); slack_sdk makes
them. The comment says whose request it answers and that the file is a draft; the file's name and title
carry the incident's number. Needs the ``files:write`` scope.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from bot.slack.blocks import esc, user_ref
from storage.drafts import StoredDraft
from storage.models import Incident


def postmortem_filename(incident_id: int) -> str:
    return f"incident-{incident_id}-postmortem-draft.md"


def postmortem_comment(
    incident_id: int, *, label: str, requested_by: str | None, link: str | None = None
) -> str:
    """The file's comment in the thread (mrkdwn; everything shown of others' words escaped)."""
    asked = f", asked for by {user_ref(requested_by)}" if requested_by else ""
    where = f" Also at <{link}|the API> (`postmortem.md`)." if link else ""
    return (
        f"*Postmortem draft* for incident #{incident_id} ({esc(label)}){asked}:"
        f" a draft, check it before you share it.{where}"
    )


async def share_postmortem(
    call: Callable[..., Awaitable[Any]],
    *,
    incident: Incident,
    draft: StoredDraft,
    label: str,
    requested_by: str | None,
    link: str | None = None,
) -> str:
    """Upload the draft to the incident's thread; the file's id."""
    assert incident.slack_channel and incident.slack_ts
    response = await call(
        "files_upload_v2",
        channel=incident.slack_channel,
        thread_ts=incident.slack_ts,
        content=draft.text,
        filename=postmortem_filename(incident.id),
        title=f"Incident #{incident.id} postmortem (draft)",
        snippet_type="markdown",
        initial_comment=postmortem_comment(incident.id, label=label, requested_by=requested_by, link=link),
    )
    file = response.get("file") or {}
    return str(file.get("id") or "")
