"""The runbook library: a folder of Markdown cut into sections and searched locally with BM25F, for grounding
(pure after loading: no I/O, no network).

Each section keeps the file it came from and its heading path, so a suggestion can cite
"``database/replication.md § Diagnosis``". A section has four fields, each with its own weight: the
document's path (folder names and file name), its title, the section's heading path and its text. An alert
is read as fields too: its name (split on case changes, "KubePodCrashLooping" also searches "kube pod crash
looping"), the labels that name a service, component or job (``type``, ``service``, ``component``, ``job`` …,
also when they only appear as matchers of its PromQL), its summary, its description and the metrics its
PromQL reads. :meth:`RunbookLibrary.suggest` ranks documents for one alert and says why each matched:

1. the document the alert's ``runbook_url`` links, when it is in the library ("linked from the alert's
   runbook_url");
2. a runbook named after the alert ("named after the alert KubePodCrashLooping");
3. the general document of the service the alert is about: ``<service>/README.md`` or ``<service>/index.md``
   (or ``<service>.md`` for a service its labels name) ("runbook for service web-pages (label type)"), found
   although no section names the alert;
4. then BM25F over all fields ("matched path: patroni; text: replication lag").
"""

from __future__ import annotations

import logging
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from urllib.parse import unquote, urlsplit

from bot.llm.runbook_query import AlertQuery, ServiceHint, name_variants, query_terms, service_hints
from bot.llm.runbook_text import (
    WORD,
    Document,
    Section,
    describe_document,
    matched_fields,
    name_key,
    path_tokens,
    slug_key,
    split_sections,
    tokens,
    url_keys,
    whole_document,
)

log = logging.getLogger(__name__)

MAX_FILE_BYTES = 512 * 1024
NAME_BONUS = 10.0  # free-text search: added to a section of a runbook whose title or file name is a word

# Field weights of a section: the same as the single-field index before BM25F (title and file name ×3,
# heading ×2, text ×1); folder names join the file name in the path field.
FIELD_WEIGHTS = {"path": 3.0, "title": 3.0, "heading": 2.0, "text": 1.0}
K1 = 1.2
B = 0.75
# Ranking bonuses, in units of relevance (1.0 = a section that holds every word of the alert once): a
# runbook named after the alert outranks any text match; the general document of the alert's service
# outranks text matches that are not half a full match better than its own. Round values, not fitted:
# anywhere in 0.5-2 (named) × 0.25-1 (service), recall@3 does not move on the three cases of
# bench/runbooks.py (shared 1.000, service-level 0.975, alerts unseen 0.882) and recall@1 by ≤ 0.04.
NAMED_BONUS = 1.0
SERVICE_BONUS = 0.5


@dataclass(frozen=True, slots=True)
class RunbookHit:
    section: Section
    score: float
    relevance: float


class MatchKind(StrEnum):
    LINKED = "linked"  # the alert's runbook_url points at this document
    NAMED = "named"  # the document is named after the alert
    SERVICE = "service"  # the general document of the service the alert is about
    TEXT = "text"  # BM25F over the fields only


@dataclass(frozen=True, slots=True)
class Suggestion:
    """A document for an alert: its best sections for the alert, and why it matched."""

    file: str
    sections: tuple[Section, ...]  # best first; at least one
    score: float  # the ranking key: relevance over all the alert's fields plus the bonuses
    relevance: float  # 0..1; 1.0 for a linked, named or service document, else the text match
    kind: MatchKind
    why: str  # "runbook for service web-pages (label type); matched path: web pages, text: apdex"

    @property
    def section(self) -> Section:
        return self.sections[0]


@dataclass(frozen=True, slots=True)
class LinkedSection:
    """Where a runbook link points in the library."""

    file: str
    index: int  # the section the link's anchor names, else the document's first (into ``sections``)


class RunbookLibrary:
    """BM25F (k1=1.2, b=0.75 per field) over sections; a document's path and title count in each section."""

    def __init__(self, documents: Iterable[tuple[str, str]]) -> None:
        self.sections: list[Section] = []
        self._documents: dict[str, Document] = {}
        for file, markdown in documents:
            start = len(self.sections)
            # A document of headings only (a service's README that is a title and a list of links) is
            # still that service's document: it is kept whole as one section rather than dropped.
            self.sections.extend(split_sections(file, markdown) or whole_document(file, markdown))
            if len(self.sections) > start:
                self._documents[file] = describe_document(
                    file, self.sections[start], range(start, len(self.sections))
                )
        self._postings: dict[str, list[tuple[int, float]]] = {}
        self._words: list[dict[str, frozenset[str]]] = []  # each section's words by field, to explain
        self._index()
        self._named: dict[str, list[str]] = defaultdict(list)
        self._services: dict[str, list[str]] = defaultdict(list)
        self._stems: dict[str, list[str]] = defaultdict(list)
        self._by_last_key: dict[str, list[str]] = defaultdict(list)
        for doc in self._documents.values():
            for key in doc.names:
                self._named[key].append(doc.file)
            if doc.service:
                self._services[doc.service].append(doc.file)
            if doc.stem:
                self._stems[doc.stem].append(doc.file)
            if doc.url_keys:
                self._by_last_key[doc.url_keys[-1]].append(doc.file)

    def _index(self) -> None:
        counts: list[dict[str, Counter[str]]] = []
        totals: dict[str, float] = dict.fromkeys(FIELD_WEIGHTS, 0.0)
        for section in self.sections:
            fields = {
                "path": Counter(path_tokens(section.file)),
                "title": Counter(tokens(section.title)),
                "heading": Counter(tokens(section.heading)),
                "text": Counter(tokens(section.text)),
            }
            counts.append(fields)
            self._words.append({name: frozenset(counter) for name, counter in fields.items()})
            for name, counter in fields.items():
                totals[name] += sum(counter.values())
        average = {
            name: total / len(self.sections) if self.sections else 0.0 for name, total in totals.items()
        }
        postings: dict[str, list[tuple[int, float]]] = defaultdict(list)
        for index, fields in enumerate(counts):
            pseudo: dict[str, float] = defaultdict(float)
            for name, counter in fields.items():
                if not counter:
                    continue
                norm = 1 - B + B * sum(counter.values()) / average[name]
                for word, count in counter.items():
                    pseudo[word] += FIELD_WEIGHTS[name] * count / norm
            for word, tf in pseudo.items():
                postings[word].append((index, (K1 + 1) * tf / (K1 + tf)))
        self._postings = dict(postings)

    @classmethod
    def from_folder(cls, folder: Path) -> RunbookLibrary:
        """Every ``*.md`` file under ``folder``, named by its path relative to it."""
        if not folder.is_dir():
            raise FileNotFoundError(f"runbook library {folder} is not a folder")
        documents = []
        for path in sorted(folder.rglob("*.md")):
            if path.stat().st_size > MAX_FILE_BYTES:
                log.warning("runbook file too large; skipped", extra={"path": str(path)})
                continue
            documents.append((path.relative_to(folder).as_posix(), path.read_text("utf-8", errors="replace")))
        return cls(documents)

    def __len__(self) -> int:
        return len(self.sections)

    def _idf(self, word: str) -> float:
        df = len(self._postings.get(word, ()))
        return math.log(1 + (len(self.sections) - df + 0.5) / (df + 0.5))

    # --- free text -------------------------------------------------------------------------------------

    def search(
        self, query: str, *, limit: int = 5, min_score: float = 0.0, min_relevance: float = 0.0
    ) -> list[RunbookHit]:
        """The best sections for a free-text ``query``, best first.

        ``relevance`` is the score over what a section of average length holding every query word once would
        get, capped at 1.0 (and 1.0 for a runbook named after a word of the query). Hits below ``min_score``
        or ``min_relevance`` are dropped, so an unrelated query finds nothing rather than the least bad one.
        """
        scores: dict[int, float] = defaultdict(float)
        ideal = 0.0
        for word in set(tokens(query)):
            idf = self._idf(word)
            ideal += idf
            for index, saturated in self._postings.get(word, ()):
                scores[index] += idf * saturated
        named = {
            index
            for word in {name_key(w) for w in WORD.findall(query)}
            for file in self._named.get(word, ())
            for index in self._documents[file].sections
        }
        hits = []
        for index, score in scores.items():
            relevance = 1.0 if index in named else min(1.0, score / ideal) if ideal else 0.0
            total_score = score + (NAME_BONUS if index in named else 0.0)
            if total_score >= min_score and relevance >= min_relevance:
                hits.append(RunbookHit(self.sections[index], total_score, relevance))
        hits.sort(key=lambda hit: -hit.score)
        return hits[:limit]

    def search_documents(self, query: str, *, limit: int = 3, min_relevance: float = 0.0) -> list[RunbookHit]:
        """The best documents for a free-text ``query``, each represented by its best section."""
        best: dict[str, RunbookHit] = {}
        for hit in self.search(query, limit=limit * 20, min_relevance=min_relevance):
            best.setdefault(hit.section.file, hit)
            if len(best) == limit:
                break
        return list(best.values())

    # --- an alert --------------------------------------------------------------------------------------

    def suggest(
        self, alert: AlertQuery, *, limit: int = 3, min_relevance: float = 0.0, sections: int = 2
    ) -> list[Suggestion]:
        """The best documents for ``alert``, best first, each with up to ``sections`` of its best sections.

        A document the alert links comes first whatever its text; then the ranking key is the text match's
        share of a full match over all the alert's fields, plus :data:`NAMED_BONUS` for a runbook named
        after the alert and :data:`SERVICE_BONUS` for the general document of its service. Documents whose
        ``relevance`` is below ``min_relevance`` are left out.
        """
        weights, core = query_terms(alert)
        ideal = sum(w * self._idf(t) for t, w in weights.items()) or 1.0
        ideal_core = sum(weights[t] * self._idf(t) for t in core) or 1.0
        # Lists indexed by section rather than dicts: a search on 2,500 sections reads ~2,200 postings at the
        # median and ~5,800 at p99, and list updates take half the time of dict ones.
        scores = [0.0] * len(self.sections)
        core_scores = [0.0] * len(self.sections)
        touched: set[int] = set()
        for term, weight in weights.items():
            postings = self._postings.get(term)
            if not postings:
                continue
            value = weight * self._idf(term)
            for index, saturated in postings:
                scores[index] += value * saturated
            if term in core:
                for index, saturated in postings:
                    core_scores[index] += value * saturated
            touched.update(index for index, _ in postings)
        linked = self.resolve(alert.runbook_url) if alert.runbook_url else None
        named = self._named_files(alert.alertname)
        service_docs = self._service_files(alert)
        # The best section of each document, then the ranking in floats; Suggestion objects only for the
        # documents returned (building one per candidate was half the time of a search on 2,500 sections).
        sections_of = self.sections
        best_of: dict[str, int] = {}
        for index in touched:
            file = sections_of[index].file
            held = best_of.get(file)
            if held is None or scores[index] > scores[held]:
                best_of[file] = index
        extra = [*([linked.file] if linked else []), *named, *service_docs]
        ranking: list[tuple[float, str, float, MatchKind]] = []
        for file in dict.fromkeys([*best_of, *extra]):
            best = best_of.get(file)
            key = scores[best] / ideal if best is not None else 0.0
            if linked is not None and file == linked.file:
                kind, bonus = MatchKind.LINKED, math.inf
            elif file in named:
                kind, bonus = MatchKind.NAMED, NAMED_BONUS
            elif file in service_docs:
                kind, bonus = MatchKind.SERVICE, SERVICE_BONUS
            else:
                kind, bonus = MatchKind.TEXT, 0.0
            if kind is MatchKind.TEXT:
                relevance = min(1.0, core_scores[best] / ideal_core) if best is not None else 0.0
            else:
                relevance = 1.0
            if relevance >= min_relevance:
                ranking.append((key + bonus, file, relevance, kind))
        ranking.sort(key=lambda item: (-item[0], item[1]))
        results: list[Suggestion] = []
        for score, file, relevance, kind in ranking[:limit]:
            doc = self._documents[file]
            ranked = sorted(doc.sections, key=lambda i: -scores[i])
            if kind is MatchKind.LINKED and linked is not None and linked.index in doc.sections:
                ranked = [linked.index, *(i for i in ranked if i != linked.index)]
            suggestion = Suggestion(
                file=file,
                sections=tuple(sections_of[i] for i in ranked[:sections]),
                score=score,
                relevance=relevance,
                kind=kind,
                why="",
            )
            why = self._why(
                suggestion, best=ranked[0], alert=alert, weights=weights, service=service_docs.get(file)
            )
            results.append(replace(suggestion, why=why))
        return results

    def _named_files(self, alertname: str) -> set[str]:
        return {file for key in name_variants(alertname) for file in self._named.get(key, ())}

    def _service_files(self, alert: AlertQuery) -> dict[str, ServiceHint]:
        """The general documents of the services the alert names: by its labels (and PromQL matchers) when
        they name one in the library, else by its name, else by a compound word of its summary."""
        found: dict[str, ServiceHint] = {}
        for trusted, group in enumerate(service_hints(alert)):
            for hint in group:
                # A label names a service exactly, so a file named after it (patroni.md) is its document
                # too; a part of the alert's name or summary only finds a folder's README.
                stems = self._stems.get(hint.key, ()) if trusted == 0 else ()
                for file in [*self._services.get(hint.key, ()), *stems]:
                    found.setdefault(file, hint)
            if found:
                return found
        return found

    def resolve(self, url: str) -> LinkedSection | None:
        """The library section a runbook link points at (``…/docs/web-pages/README.md``, a GitHub or GitLab
        blob URL, a Hugo URL without ``.md``, ``…/playbooks.md#anchor``), or None when it is not in the
        library or more than one document matches it equally well."""
        parts = urlsplit(url.strip())
        path = unquote(parts.path if parts.scheme or parts.netloc else url.split("#", 1)[0].split("?", 1)[0])
        anchor = name_key(unquote(parts.fragment))
        keys = url_keys([s for s in path.split("/") if s])
        if not keys:
            return None
        attempts = [([*keys, anchor], ""), (keys, anchor)] if anchor else [(keys, "")]
        for wanted, section_anchor in attempts:
            file = self._best_suffix(wanted)
            if file is None:
                continue
            doc = self._documents[file]
            index = next(
                (i for i in doc.sections if section_anchor and slug_key(self.sections[i]) == section_anchor),
                doc.sections[0],
            )
            return LinkedSection(file=file, index=index)
        return None

    def _best_suffix(self, keys: Sequence[str]) -> str | None:
        candidates = self._by_last_key.get(keys[-1], [])
        best: list[str] = []
        best_length = 0
        for file in candidates:
            doc_keys = self._documents[file].url_keys
            length = 0
            while length < min(len(keys), len(doc_keys)) and keys[-1 - length] == doc_keys[-1 - length]:
                length += 1
            if length > best_length:
                best, best_length = [file], length
            elif length == best_length:
                best.append(file)
        if len(best) != 1:
            return None
        # One matching segment is enough when it is all the link or all the document has ("CephOSDDown.md",
        # ".../web-pages/" for web-pages/README.md), not when their folders differ (other/replication.md is
        # not patroni/replication.md).
        doc_keys = self._documents[best[0]].url_keys
        if best_length < 2 and best_length < min(len(keys), len(doc_keys)):
            return None
        return best[0]

    def _why(
        self,
        suggestion: Suggestion,
        *,
        best: int,
        alert: AlertQuery,
        weights: Mapping[str, float],
        service: ServiceHint | None,
    ) -> str:
        head = {
            MatchKind.LINKED: "linked from the alert's runbook_url",
            MatchKind.NAMED: f"named after the alert {alert.alertname}",
            MatchKind.SERVICE: f"runbook for service {service.shown} ({service.source})" if service else "",
            MatchKind.TEXT: "",
        }[suggestion.kind]
        matched = matched_fields(self._words[best], weights=weights, idf=self._idf)
        detail = "; ".join(f"{name}: {' '.join(words)}" for name, words in matched.items())
        if not detail:
            return head
        return f"{head}; matched {detail}" if head else f"matched {detail}"
