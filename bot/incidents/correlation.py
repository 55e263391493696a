"""Related incidents as one story: which new incidents join an earlier incident's thread (pure; no I/O).

Incidents are *related* when they open on related services within ``grouping.related_window`` of the
story's first incident, its *primary*. ``grouping.related_by`` says which services are related:

- ``service`` (the default): the same service (``service``, else ``job``, ``app`` or ``container``);
- ``dependency``: the same service, or one of the same dependency chain of the catalog (services joined
  by ``depends_on``, either way and transitively: a storm on ``search`` and on ``search-db`` it depends on
  is one story);
- ``none``: nothing is related; every incident has its own root message.

An incident without a service is related to nothing. The window is measured from the primary's opening
(event times, as everywhere), so a story is bounded: an incident of the same service opening later starts
a new one. Only a primary that is still open or acknowledged gathers related incidents.

Within one transaction (a webhook, or a group commit of several), new incidents are decided most severe
first, so when no earlier primary is waiting the most severe of them (then the first) becomes the primary,
and roots are posted in severity order. The lot is paged once, at its highest severity: a related
incident that is SEV1 while nothing of the story was SEV1 yet carries the story's single SEV1 mention, as a
reply in the primary's thread (never a second channel message).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from analytics.records import Severity


class RelatedBy(enum.StrEnum):
    SERVICE = "service"
    DEPENDENCY = "dependency"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class Relation:
    """How relation is decided: by what, within which window, and the catalog's dependency chains."""

    by: RelatedBy = RelatedBy.SERVICE
    window: timedelta = timedelta(minutes=10)
    chains: Mapping[str, frozenset[str]] = field(default_factory=dict)  # service → its whole chain

    def services_of(self, service: str | None) -> frozenset[str]:
        """The services whose incidents are related to one of ``service`` (itself included)."""
        if not service or self.by is RelatedBy.NONE:
            return frozenset()
        if self.by is RelatedBy.DEPENDENCY:
            return self.chains.get(service, frozenset({service}))
        return frozenset({service})

    def lock_key(self, service: str | None) -> str | None:
        """One name per set of related services: writers deciding on the same story take its lock."""
        services = self.services_of(service)
        return f"related:{min(services)}" if services else None


def dependency_chains(depends_on: Mapping[str, Sequence[str]]) -> dict[str, frozenset[str]]:
    """Each service's dependency chain: every service reachable through ``depends_on`` either way."""
    parent: dict[str, str] = {}

    def root(name: str) -> str:
        parent.setdefault(name, name)
        while parent[name] != name:
            parent[name] = parent[parent[name]]
            name = parent[name]
        return name

    for service, dependencies in depends_on.items():
        for dependency in dependencies:
            parent[root(service)] = root(dependency)
        root(service)
    members: dict[str, set[str]] = {}
    for name in parent:
        members.setdefault(root(name), set()).add(name)
    return {name: frozenset(members[root(name)]) for name in parent}


@dataclass(frozen=True, slots=True)
class Opened:
    """An incident opened in this transaction."""

    id: int
    service: str | None
    severity: Severity
    opened_at: datetime


@dataclass(slots=True)
class Primary:
    """An incident leading a story: its service, when it opened, and whether the story was paged at SEV1."""

    id: int
    service: str | None
    opened_at: datetime
    paged: bool


@dataclass(frozen=True, slots=True)
class Link:
    """``incident_id`` joins ``primary_id``'s story; ``page``: its post carries the story's SEV1 mention."""

    incident_id: int
    primary_id: int
    page: bool


@dataclass(frozen=True, slots=True)
class Story:
    """What correlation decided for one transaction's new incidents."""

    links: dict[int, Link]
    order: list[int]  # every new incident, most severe first (then in opening order): how roots are posted


def correlate(opened: Sequence[Opened], waiting: Sequence[Primary], relation: Relation) -> Story:
    """Link each new incident to the story it belongs to, or make it a primary (see the module's doc).

    ``waiting``: the stored primaries still open that opened within the window of one of ``opened``.
    """
    order = sorted(opened, key=lambda o: (o.severity.rank, o.id))
    stored = sorted(waiting, key=lambda p: (p.opened_at, p.id))
    new: list[Primary] = []
    links: dict[int, Link] = {}
    for incident in order:
        related = relation.services_of(incident.service)
        primary = next(
            (
                p
                for p in (*stored, *new)
                if p.service in related and abs(incident.opened_at - p.opened_at) <= relation.window
            ),
            None,
        )
        sev1 = incident.severity is Severity.SEV1
        if primary is None:
            new.append(Primary(incident.id, incident.service, incident.opened_at, paged=sev1))
            continue
        page = sev1 and not primary.paged
        primary.paged = primary.paged or sev1
        links[incident.id] = Link(incident.id, primary.id, page)
    return Story(links=links, order=[o.id for o in order])
