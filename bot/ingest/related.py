"""Ingestion's story-telling step, inside the transaction: link new incidents to the story they belong to,
order their root posts, and hold back what a flapping incident would say too soon (writes through storage).

:func:`relate_opened` asks :mod:`bot.incidents.correlation` which of this transaction's new incidents are
related to an earlier (or another new) one and stores the links; :func:`opening_messages` turns that into
outbox rows: a root post for each primary, most severe first, a post in the primary's thread for each
related incident, a root update of the primary (its "Related" line), and an opening draft for primaries
only. :func:`flapping_draft` keeps a flapping incident's drafts back until it has been stable.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from analytics.records import ChangeKind, DraftKind, DraftReason, Severity
from bot.incidents.correlation import Opened, Primary, Relation, Story, correlate
from bot.incidents.rules import IncidentRules
from bot.outbox.messages import draft_requested, incident_opened, incident_updated
from storage.incident_rows import IncidentState
from storage.outbox import NewMessage
from storage.stories import StoryRepository


def relate_opened(stories: StoryRepository, opened_ids: list[int], relation: Relation) -> Story:
    """Decide and store which new incidents join which story (see :mod:`bot.incidents.correlation`)."""
    if not opened_ids:
        return Story(links={}, order=[])
    opened = [
        Opened(f.id, f.service, Severity(f.severity), f.opened_at) for f in stories.opening_facts(opened_ids)
    ]
    services = frozenset().union(*(relation.services_of(o.service) for o in opened))
    waiting = stories.waiting_primaries(
        services,
        since=_shifted(min(o.opened_at for o in opened), -relation.window),
        until=_shifted(max(o.opened_at for o in opened), relation.window),
        exclude=opened_ids,
    )
    story = correlate(
        opened, [Primary(w.id, w.service, w.opened_at, paged=w.paged) for w in waiting], relation
    )
    stories.link({link.incident_id: link.primary_id for link in story.links.values()})
    return story


def _shifted(at: datetime, by: timedelta) -> datetime:
    """``at + by``, kept within the calendar (alerts may be timed in year 1 or 9999)."""
    try:
        return at + by
    except OverflowError:
        return datetime.max.replace(tzinfo=UTC) if by > timedelta(0) else datetime.min.replace(tzinfo=UTC)


def opening_messages(story: Story) -> list[NewMessage]:
    """Root posts in severity order (related ones into their primary's thread), the primaries' "Related"
    update, and an opening summary draft for each primary (a related incident's story has one already)."""
    messages = []
    for incident_id in story.order:
        link = story.links.get(incident_id)
        if link is None:
            messages.append(incident_opened(incident_id))
        else:
            messages.append(incident_opened(incident_id, related_to=link.primary_id, page=link.page))
    for link in story.links.values():
        messages.append(
            incident_updated(
                link.primary_id, [{"kind": ChangeKind.INCIDENT_RELATED, "related_id": link.incident_id}]
            )
        )
    messages += [
        draft_requested(i, DraftKind.SUMMARY, reason=DraftReason.OPENED)
        for i in story.order
        if i not in story.links
    ]
    return messages


def flapping_draft(
    request: NewMessage | None, state: IncidentState, *, rules: IncidentRules, now: datetime
) -> NewMessage | None:
    """While an incident flaps, no automatic draft goes out at once: a resolution draft waits until it has
    stayed resolved for ``rules.stable_after`` (it is skipped if the incident reopened by then), and a
    summary for a reopening is not written at all (the collapsed flapping reply says it)."""
    if request is None or not state.flapping:
        return request
    if request.payload.get("kind") != DraftKind.RESOLUTION or state.resolved_at is None:
        return None
    payload = {**request.payload, "resolved_at": state.resolved_at.isoformat()}
    return NewMessage(
        request.topic, request.kind, request.incident_id, payload, not_before=now + rules.stable_after
    )
