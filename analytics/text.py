"""Words of alert text: camelCase and snake_case split, templates and stopwords out, stems, 4-grams (pure).

Everything that turns free text (alert names, summaries, descriptions, metric names) into words lives here,
so the feature function, the evaluation's baseline and similar-incident search read text the same way.
"""

from __future__ import annotations

import re
from functools import lru_cache

STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "been",
        "by",
        "for",
        "from",
        "has",
        "have",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "than",
        "that",
        "the",
        "their",
        "there",
        "this",
        "to",
        "was",
        "were",
        "will",
        "with",
        "value",
        "labels",
        "label",
        "instance",
        "templated",
        "more",
        "less",
        "over",
        "under",
        "not",
        "no",
    ]
)

# Alert text is anyone's input and these run inside the write transaction, so every step is linear time:
# no regular expression here has two unbounded quantifiers that can share characters (the old word
# pattern ``[a-z0-9]*[a-z][a-z0-9]*`` took 0.9 s on one 8 KiB run of digits, bench/hostile_input.py),
# and text is cut to these lengths before any of it is read. The real rules' longest field is 2,129
# characters and their longest token 173, so the cuts change nothing for them (tests/analytics/test_text.py).
MAX_TEXT = 4096
MAX_TOKEN = 256

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
# A word is a run of letters and digits with at least one letter: the runs are found in one pass and the
# all-digit ones dropped (the same words the old pattern found, without its backtracking).
_RUN = re.compile(r"[a-z0-9]+")
_LETTER = re.compile(r"[A-Za-z]")


_TOKEN_WORDS: dict[str, tuple[str, ...]] = {}
_TOKEN_CACHE_LIMIT = 200_000


def _runs(text: str) -> list[str]:
    return [run for run in _RUN.findall(text) if not run.isdigit()]


def strip_templates(text: str) -> str:
    """Each ``{{ … }}`` replaced by a space (the shortest one from each ``{{``), in one pass."""
    parts: list[str] = []
    done = 0
    while (start := text.find("{{", done)) >= 0:
        end = text.find("}}", start + 2)
        if end < 0:  # no template closes after this one, so none after it closes either
            break
        parts += (text[done:start], " ")
        done = end + 2
    if not parts:
        return text
    parts.append(text[done:])
    return "".join(parts)


def _token_words(token: str) -> tuple[str, ...]:
    """Words of one whitespace-free token (camelCase and snake_case split, filtered), memoised."""
    token = token[:MAX_TOKEN]
    found = _TOKEN_WORDS.get(token)
    if found is None:
        if token.isascii() and _LETTER.search(token) is None:  # numbers, addresses, values: no words
            return ()  # (not memoised: rendered values rarely repeat and would only churn the cache)
        if token.islower() or (token.isalpha() and token.isupper()):
            pieces = _runs(token.lower())
        else:
            pieces = _runs(_CAMEL.sub(" ", token).lower())
        found = tuple(w for w in pieces if len(w) > 1 and w not in STOPWORDS)
        if len(_TOKEN_WORDS) >= _TOKEN_CACHE_LIMIT:  # rendered values (IPs, numbers) never repeat
            _TOKEN_WORDS.clear()
        _TOKEN_WORDS[token] = found
    return found


def words(text: str) -> tuple[str, ...]:
    """Lower-case words of a text, camelCase and snake_case split, templates and stopwords removed.

    This runs for every alert's freshly rendered annotations, so after templates are removed the text is
    cut at whitespace (no word, camelCase boundary or snake_case part spans it) and each token's words
    are memoised: the words of a rendered text are those of its tokens, in order, without repeats.
    Only the first ``MAX_TEXT`` characters are read, and the first ``MAX_TOKEN`` of each token.
    """
    text = text[:MAX_TEXT]
    if "{{" in text:
        text = strip_templates(text)
    seen: dict[str, None] = {}
    known = _TOKEN_WORDS.get  # the memo first, inline (a stored token is never longer than MAX_TOKEN)
    for token in text.split():
        found = known(token)
        for word in found if found is not None else _token_words(token):
            seen[word] = None
    return tuple(seen)


_SUFFIXES = (
    "izations",
    "ization",
    "isations",
    "isation",
    "ations",
    "ation",
    "ings",
    "ing",
    "ions",
    "ion",
    "ures",
    "ure",
    "ed",
    "es",
    "s",
    "ly",
)


@lru_cache(maxsize=16384)
def stem(word: str) -> str:
    """A light suffix-stripping stem: ``restarted``/``restarting``/``restarts`` → ``restart``."""
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            if suffix == "s" and word.endswith(("ss", "us", "is")):  # process, status, analysis
                return word
            return word[: -len(suffix)]
    return word


# Words whose meaning is fixed (they never lower a severity, see ``analytics.training``): their own
# features carry them, never stems or 4-grams ("production" → "product"), whose signs are learned from
# whatever other words share them.
FIXED_WORDS = frozenset({"critical", "prod", "production"})


@lru_cache(maxsize=8192)
def name_grams(name: str) -> tuple[str, ...]:
    """Character 4-grams of each word of an alert name (but :data:`FIXED_WORDS`), boundaries ``<``/``>``."""
    grams: dict[str, None] = {}
    for word in words(name):
        if word in FIXED_WORDS:
            continue
        marked = f"<{word}>"
        for i in range(len(marked) - 3):
            grams.setdefault(marked[i : i + 4], None)
    return tuple(grams)
