"""Similar past incidents: TF-IDF over what an incident is about (name, title, service, labels, and the
notes people captured from its thread), cosine.

Pure: callers pass the texts. Used by "why was this flagged?" and by LLM grounding.
"""

from __future__ import annotations

import functools
import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence

# Words as the ranking sees them: host-like words (checkout-1, db.eu) stay whole.
WORDS = re.compile(r"(?u)\b\w[\w.-]*\b")
# Scores equal to this many digits are a tie, broken by the newest incident (sums in another order may
# differ in the last bits; the similarity shown is rounded to 3 digits).
TIE_DIGITS = 12


def incident_text(
    *,
    alertname: str,
    title: str,
    service: str | None,
    labels: Mapping[str, object],
    notes: Sequence[str] = (),
) -> str:
    """The words that say what an incident is about; label values count, label names do not. Captured
    notes add what people said about it ("the cache node ran out of memory")."""
    values = " ".join(str(v) for k, v in sorted(labels.items()) if k not in ("severity", "instance"))
    return f"{alertname} {alertname} {title} {service or ''} {values} {' '.join(notes)}".rstrip()


def most_similar(
    target: str, candidates: Sequence[tuple[int, str]], *, k: int = 3, min_similarity: float = 0.1
) -> list[tuple[int, float]]:
    """The ``k`` candidates (id, text) closest to ``target`` by TF-IDF cosine; best first, then newest.

    The weights are scikit-learn's ``TfidfVectorizer(token_pattern=WORDS, sublinear_tf=True)`` fitted on
    the target and the candidates together (lower-cased words; tf ``1 + ln(count)``; smooth idf
    ``ln((1 + n) / (1 + df)) + 1``; each vector of unit length), computed here in plain Python: only
    candidates sharing a word with the target can score above zero, and scikit-learn's import (about a
    second of one core, a hundred thousand objects for the garbage collector) and fitting overhead stay
    out of the service. ``tests/analytics/test_similar.py`` checks it against scikit-learn itself.
    """
    if not candidates:
        return []
    target_terms = term_counts(target)
    if not target_terms and min_similarity > 0:
        return []
    docs = [term_counts(text) for _, text in candidates]
    if not target_terms and not any(docs):  # no word anywhere: nothing to compare
        return []
    wanted = {term for term, _ in target_terms}
    n = len(docs) + 1
    df = dict.fromkeys(wanted, 1)  # the target itself
    sharing: list[int] = []
    for index, doc in enumerate(docs):
        shared = False
        for term, _ in doc:
            df[term] = df.get(term, 0) + 1
            shared = shared or term in wanted
        if shared:
            sharing.append(index)
    idf = {term: math.log((1 + n) / (1 + count)) + 1.0 for term, count in df.items()}
    target_weights = {term: (1.0 + math.log(count)) * idf[term] for term, count in target_terms}
    target_norm = math.sqrt(sum(w * w for w in target_weights.values()))
    scored: list[tuple[float, int]] = []
    # Candidates without a shared word score 0: only a minimum of 0 or less lets them in.
    for index in sharing if min_similarity > 0 else range(len(docs)):
        weights = [(term, (1.0 + math.log(count)) * idf[term]) for term, count in docs[index]]
        norm = math.sqrt(sum(w * w for _, w in weights))
        dot = sum(w * target_weights[term] for term, w in weights if term in target_weights)
        score = dot / (norm * target_norm) if dot else 0.0
        if score >= min_similarity:
            scored.append((score, candidates[index][0]))
    scored.sort(key=lambda pair: (-round(pair[0], TIE_DIGITS), -pair[1]))  # then the newest incident
    return [(cid, score) for score, cid in scored[:k]]


@functools.lru_cache(maxsize=8192)
def term_counts(text: str) -> tuple[tuple[str, int], ...]:
    """The lower-cased words of ``text`` with their counts, in first-seen order (remembered: the same
    incidents' texts come back for every draft)."""
    return tuple(Counter(WORDS.findall(text.lower())).items())
