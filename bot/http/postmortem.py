"""``GET /api/incidents/{id}/postmortem.md``: an incident's postmortem draft as Markdown (reads only).

The latest postmortem drafted for the incident (``/incident postmortem ID`` asks for one through the
outbox: an LLM's when configured, else the template's). Before anyone asked, the template draft is made
from the incident's record on request: no LLM is ever called on this path. Either way the document says
it is a draft. Guarded like the rest of ``/api`` (the API token, or a loopback client without one).
"""

from __future__ import annotations

from typing import Annotated

import anyio
from fastapi import APIRouter, HTTPException, Path
from fastapi.responses import Response

from analytics.records import DraftKind, DraftSource
from bot.http.api import MAX_INTEGER
from bot.http.deps import ApiAccess, ServicesDep
from bot.llm.postmortem import postmortem_facts
from bot.llm.postmortem_markdown import postmortem_document
from bot.llm.redaction import Redactor
from bot.outbox.messages import draft_label
from storage.drafts import DraftRepository

router = APIRouter(prefix="/api", dependencies=[ApiAccess])
MARKDOWN = "text/markdown; charset=utf-8"


@router.get(
    "/incidents/{incident_id}/postmortem.md",
    response_class=Response,
    responses={200: {"content": {"text/markdown": {}}, "description": "The postmortem draft (Markdown)"}},
)
async def get_postmortem(
    incident_id: Annotated[int, Path(ge=1, le=MAX_INTEGER)], services: ServicesDep
) -> Response:
    redactor = Redactor(services.config.redaction.patterns)

    def read() -> tuple[str, str] | None:
        with services.db.read() as conn:
            draft = DraftRepository(conn).latest(incident_id, DraftKind.POSTMORTEM)
            if draft is not None:
                return draft.text, "stored"
            facts = postmortem_facts(conn, incident_id, redact=redactor)
        if facts is None:
            return None
        return postmortem_document(facts, label=draft_label(DraftSource.TEMPLATE, None)), "on-request"

    found = await anyio.to_thread.run_sync(read)
    if found is None:
        raise HTTPException(404, detail=f"no incident {incident_id}")
    text, origin = found
    return Response(
        content=text,
        media_type=MARKDOWN,
        headers={
            "Content-Disposition": f'inline; filename="incident-{incident_id}-postmortem-draft.md"',
            "X-Sevbot-Draft": origin,  # "stored": drafted through the outbox; "on-request": the template now
        },
    )
