"""The runbook library: a folder of Markdown split into sections and searched locally with BM25 (no I/O
after loading).

Each section keeps the file it came from and its heading path, so a suggestion can cite
"``database/replication.md § Diagnosis``". Alert names are split on case changes ("KubePodCrashLooping" also
searches "kube pod crash looping"), and a document's title and file name count in every one of its sections.
"""

from __future__ import annotations

import logging
import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

_ATX = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_SETEXT = re.compile(r"^(=+|-+)\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")
_WORD = re.compile(r"[A-Za-z0-9]+")
_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")
_STOPWORDS = (
    "a an and are as at be by for from has have if in is it its of on or that the this to was were will "
    "with when which than then there these those not no can may been into per"
)
_STOP = frozenset(_STOPWORDS.split())
MAX_FILE_BYTES = 512 * 1024
NAME_BONUS = 10.0  # added to a section of a runbook whose title or file name is a word of the query


@dataclass(frozen=True, slots=True)
class Section:
    file: str  # the document's id: its path under the library folder
    title: str  # the document's title (its first heading, else the file name)
    heading: str  # the section's heading path, "Diagnosis" or "Overview › Impact"
    text: str

    @property
    def citation(self) -> str:
        return f"{self.file} § {self.heading}" if self.heading else self.file


@dataclass(frozen=True, slots=True)
class RunbookHit:
    section: Section
    score: float
    relevance: float


def tokens(text: str) -> list[str]:
    """Lower-case words, with CamelCase and snake_case names also split into their parts."""
    out: list[str] = []
    for word in _WORD.findall(text):
        lower = word.lower()
        parts = [p.lower() for p in _CAMEL.findall(word)]
        if lower not in _STOP:
            out.append(lower)
        if len(parts) > 1:
            out.extend(p for p in parts if p not in _STOP and len(p) > 1)
    return out


def split_sections(file: str, markdown: str) -> list[Section]:
    """A document cut at its headings (ATX ``#`` and setext underlines); code fences are not headings."""
    lines = markdown.splitlines()
    heads: list[tuple[int, int, int, str]] = []  # (heading's first line, body's first line, level, heading)
    in_fence = False
    for i, line in enumerate(lines):
        if _FENCE.match(line):
            in_fence = not in_fence
            continue
        if in_fence:
            continue
        atx = _ATX.match(line)
        if atx:
            heads.append((i, i + 1, len(atx.group(1)), atx.group(2).strip()))
        elif (
            i > 0
            and _SETEXT.match(line)
            and lines[i - 1].strip()
            and not _ATX.match(lines[i - 1])
            and not (heads and heads[-1][1] == i)
        ):
            heads.append((i - 1, i + 1, 1 if line.strip()[0] == "=" else 2, lines[i - 1].strip()))
    title = next((h for _, _, level, h in heads if level == 1), heads[0][3] if heads else Path(file).stem)
    sections: list[Section] = []
    preamble = "\n".join(lines[: heads[0][0]] if heads else lines).strip()
    if preamble:
        sections.append(Section(file, title, "", preamble))
    path: list[tuple[int, str]] = []
    ends = [head[0] for head in heads[1:]] + [len(lines)] if heads else []
    for (_, body_start, level, heading), end in zip(heads, ends, strict=True):
        path = [(lvl, h) for lvl, h in path if lvl < level] + [(level, heading)]
        shown = [h for lvl, h in path if not (lvl == 1 and h == title and len(path) > 1)]
        body = "\n".join(lines[body_start:end]).strip()
        if body:
            sections.append(Section(file, title, " › ".join(shown), body))
    return sections


def _name_key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


class RunbookLibrary:
    """BM25 (k1=1.2, b=0.75) over sections; a section's document title and file name are part of it."""

    def __init__(self, documents: Iterable[tuple[str, str]]) -> None:
        self.sections: list[Section] = []
        for file, markdown in documents:
            self.sections.extend(split_sections(file, markdown))
        self._postings: dict[str, list[tuple[int, int]]] = defaultdict(list)
        self._lengths: list[int] = []
        for index, section in enumerate(self.sections):
            words = tokens(section.text) + 3 * tokens(f"{section.title} {Path(section.file).stem}")
            words += 2 * tokens(section.heading)
            self._lengths.append(len(words))
            for word, count in Counter(words).items():
                self._postings[word].append((index, count))
        self._average = sum(self._lengths) / len(self._lengths) if self._lengths else 0.0
        # A runbook named after an alert ("KubePodCrashLooping.md") is the best match for that alert.
        self._named: dict[str, set[int]] = defaultdict(set)
        for index, section in enumerate(self.sections):
            for name in (section.title, Path(section.file.split("#")[0]).stem):
                key = _name_key(name)
                if len(key) >= 6:
                    self._named[key].add(index)

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

    def search(
        self, query: str, *, limit: int = 5, min_score: float = 0.0, min_relevance: float = 0.0
    ) -> list[RunbookHit]:
        """The best sections for ``query``, best first.

        ``relevance`` is the score over what a section of average length holding every query word once would
        get, capped at 1.0 (and 1.0 for a runbook named after a word of the query). Hits below ``min_score``
        or ``min_relevance`` are dropped, so an unrelated query finds nothing rather than the least bad one.
        """
        scores: dict[int, float] = defaultdict(float)
        total = len(self.sections)
        ideal = 0.0
        for word in set(tokens(query)):
            postings = self._postings.get(word, [])
            idf = math.log(1 + (total - len(postings) + 0.5) / (len(postings) + 0.5))
            ideal += idf
            for index, count in postings:
                norm = 1.2 * (0.25 + 0.75 * self._lengths[index] / self._average)
                scores[index] += idf * count * 2.2 / (count + norm)
        named: set[int] = set()
        for word in {_name_key(word) for word in _WORD.findall(query)}:
            named.update(self._named.get(word, ()))
        hits = []
        for index, score in scores.items():
            relevance = 1.0 if index in named else min(1.0, score / ideal) if ideal else 0.0
            total_score = score + (NAME_BONUS if index in named else 0.0)
            if total_score >= min_score and relevance >= min_relevance:
                hits.append(RunbookHit(self.sections[index], total_score, relevance))
        hits.sort(key=lambda hit: -hit.score)
        return hits[:limit]

    def search_documents(self, query: str, *, limit: int = 3, min_relevance: float = 0.0) -> list[RunbookHit]:
        """The best documents for ``query``, each represented by its best section."""
        best: dict[str, RunbookHit] = {}
        for hit in self.search(query, limit=limit * 20, min_relevance=min_relevance):
            best.setdefault(hit.section.file, hit)
            if len(best) == limit:
                break
        return list(best.values())
