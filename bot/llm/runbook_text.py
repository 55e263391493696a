"""Runbook text: Markdown cut into sections at headings, words of text and paths (pure; linear-time regexes).

Shared by the runbook library (:mod:`bot.llm.runbooks`) and the alert side of a search
(:mod:`bot.llm.runbook_query`), so both read words the same way.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

_ATX_OPENING = re.compile(r"(#{1,6})\s+(.*)")


def atx_heading(line: str) -> tuple[int, str] | None:
    """A ``# Heading ##`` line's level and text, or None. The closing ``#``s go only after a space or as
    the whole text, as in CommonMark (``# C#`` is about C#); found by stripping, not by a pattern that
    backtracks over a long line of ``#``s."""
    opening = _ATX_OPENING.match(line)
    if opening is None:
        return None
    text = opening.group(2).rstrip()
    bare = text.rstrip("#")
    if not bare or bare[-1].isspace():
        text = bare
    return len(opening.group(1)), text.strip()


_SETEXT = re.compile(r"^(=+|-+)\s*$")


_FENCE = re.compile(r"^\s*(```|~~~)")


WORD = re.compile(r"[A-Za-z0-9]+")


# Case changes as zero-width boundaries ("KubeAPIDown" → Kube|API|Down): fixed-width lookarounds only, so
# splitting is linear in the word's length whatever the alert text holds.
_CASE_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


_STOPWORDS = (
    "a an and are as at be by for from has have if in is it its of on or that the this to was were will "
    "with when which than then there these those not no can may been into per"
)


STOP = frozenset(_STOPWORDS.split())


INDEX_STEMS = frozenset({"readme", "index", "_index"})  # a folder's own document


DOC_SUFFIXES = (".md", ".markdown", ".mdx", ".html", ".htm", ".rst", ".txt", ".adoc")


@dataclass(frozen=True, slots=True)
class Section:
    file: str  # the document's id: its path under the library folder
    title: str  # the document's title (its first heading, else the file name)
    heading: str  # the section's heading path, "Diagnosis" or "Overview › Impact"
    text: str

    @property
    def citation(self) -> str:
        return f"{self.file} § {self.heading}" if self.heading else self.file


def tokens(text: str) -> list[str]:
    """Lower-case words, with CamelCase and snake_case names also split into their parts."""
    out: list[str] = []
    for word in WORD.findall(text):
        lower = word.lower()
        parts = word_parts(word)
        if lower not in STOP:
            out.append(lower)
        if len(parts) > 1:
            out.extend(p for p in parts if p not in STOP and len(p) > 1)
    return out


def word_parts(word: str) -> list[str]:
    """The parts of one alphanumeric word at case changes, lower-cased."""
    return _CASE_BOUNDARY.sub(" ", word).lower().split()


def without_templates(text: str) -> str:
    """Text with ``{{ … }}`` template actions removed (a scan, not a regex: linear on any input)."""
    out: list[str] = []
    at = 0
    while True:
        start = text.find("{{", at)
        if start < 0:
            out.append(text[at:])
            return " ".join(out)
        end = text.find("}}", start + 2)
        out.append(text[at:start])
        if end < 0:
            return " ".join(out)
        at = end + 2


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
        atx = atx_heading(line)
        if atx:
            heads.append((i, i + 1, *atx))
        elif (
            i > 0
            and _SETEXT.match(line)
            and lines[i - 1].strip()
            and not atx_heading(lines[i - 1])
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


def name_key(name: str) -> str:
    """A name compared across spellings: ``web-pages``, ``web_pages`` and ``WebPages`` are ``webpages``."""
    return "".join(ch for ch in name.lower() if ch.isascii() and ch.isalnum())


def path_segments(file: str) -> list[str]:
    """A document id's path segments (``/`` and the ``source:`` prefix split; a ``#anchor`` kept last)."""
    path, _, anchor = file.partition("#")
    segments = [s for s in re.split(r"[/:\\]", path) if s]
    return [*segments, anchor] if anchor else segments


def file_stem(segment: str) -> str:
    lower = segment.lower()
    for suffix in DOC_SUFFIXES:
        if lower.endswith(suffix):
            return segment[: -len(suffix)]
    return segment


def whole_document(file: str, markdown: str) -> list[Section]:
    """A document with no section body, as one section holding all of it (titled by its first heading)."""
    text = markdown.strip()
    if not text:
        return []
    heading = next((h[1] for h in map(atx_heading, text.splitlines()) if h), Path(file).stem)
    return [Section(file, heading, "", text)]


def url_keys(segments: Sequence[str]) -> list[str]:
    """Path segments compared across URL and file spellings: no extension, case or punctuation, and no
    trailing ``README`` / ``index`` (a folder's URL is its index's)."""
    keys = [name_key(file_stem(s)) for s in segments]
    keys = [k for k in keys if k]
    while keys and keys[-1] in ("readme", "index"):
        keys.pop()
    return keys


def slug_key(section: Section) -> str:
    heading = section.heading.rsplit(" › ", 1)[-1] if section.heading else section.title
    return name_key(heading)


def path_tokens(file: str) -> list[str]:
    out: list[str] = []
    for segment in path_segments(file):
        out.extend(tokens(file_stem(segment)))
    return out


@dataclass(frozen=True, slots=True)
class Document:
    file: str
    sections: tuple[int, ...]  # indexes into the library's sections, in document order
    names: frozenset[str]  # keys of its title and file name: an alert with one of these names is its own
    service: str | None  # the key of the service it is the general document of (a folder's README)
    stem: str  # the key of its file name, "patroni" for patroni.md
    url_keys: tuple[str, ...]  # path segment keys for matching links, index stems dropped


def describe_document(file: str, first: Section, indexes: range) -> Document:
    segments = path_segments(file)
    stem = file_stem(segments[-1]) if segments else ""
    names = {key for key in (name_key(first.title), name_key(stem)) if len(key) >= 6}
    index = "#" not in file and name_key(stem) in {name_key(s) for s in INDEX_STEMS} and len(segments) >= 2
    return Document(
        file=file,
        sections=tuple(indexes),
        names=frozenset(names),
        service=name_key(segments[-2]) or None if index else None,
        stem="" if index or "#" in file else name_key(stem),
        url_keys=tuple(url_keys(segments)),
    )


def matched_fields(
    fields: Mapping[str, frozenset[str]], *, weights: Mapping[str, float], idf: Callable[[str], float]
) -> dict[str, list[str]]:
    """The alert's words found in each field of a section, rarest first, three per field at most."""
    out: dict[str, list[str]] = {}
    shown: set[str] = set()
    for name, words in fields.items():
        found = sorted((w for w in words & weights.keys() if w not in shown), key=lambda w: (-idf(w), w))[:3]
        if found:
            out[name] = found
            shown.update(found)
    return out
