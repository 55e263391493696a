"""Similar past incidents: TF-IDF over what an incident is about (name, title, service, labels, and the
notes people captured from its thread), cosine.

Pure: callers pass the texts. Used by "why was this flagged?" and by LLM grounding.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np


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
    """The ``k`` candidates (id, text) closest to ``target`` by TF-IDF cosine; best first, then newest."""
    if not candidates:
        return []
    from sklearn.feature_extraction.text import TfidfVectorizer

    words = r"(?u)\b\w[\w.-]*\b"  # keeps host-like words (checkout-1, db.eu) whole
    vectorizer = TfidfVectorizer(token_pattern=words, sublinear_tf=True)
    matrix = vectorizer.fit_transform([target, *(text for _, text in candidates)])
    scores = (matrix[1:] @ matrix[0].T).toarray().ravel()
    ids = np.array([cid for cid, _ in candidates])
    order = np.lexsort((-ids, -scores))  # highest score first, then the newest incident
    return [(int(ids[i]), float(scores[i])) for i in order[:k] if scores[i] >= min_similarity]
