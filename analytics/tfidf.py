"""An alert's text as TF-IDF features, as scikit-learn's ``TfidfVectorizer`` computes them (pure).

Data flow: ``AlertRecord`` ─► :func:`alert_text` (name words, summary, description: what the evaluation's
baseline reads) ─► :class:`TextView` ─► ``{"tok:<token>": tf-idf}`` ─► a linear model (``analytics.model``).

Serving must not call scikit-learn, so :meth:`TextView.features` reproduces the default vectorizer exactly:
lower-case, tokens of two or more word characters (``(?u)\\b\\w\\w+\\b``), raw counts times the fitted idf,
then L2-normalised over the tokens in the vocabulary. A linear model over these values is still a sum of
per-token terms, so a text model's explanation is as exact as the feature model's.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from analytics.records import AlertRecord
from analytics.text import words

TOKEN_PREFIX = "tok:"  # noqa: S105 (a feature-name prefix, not a secret)
_TOKEN = re.compile(r"(?u)\b\w\w+\b")


def alert_text(alert: AlertRecord) -> str:
    """What a text model reads: the alert name's words, the summary and the description."""
    return " ".join(
        [
            " ".join(words(alert.alertname)),
            alert.annotations.get("summary", ""),
            alert.annotations.get("description", ""),
        ]
    )


class TextView:
    """A fitted vocabulary with its idf weights: text ─► ``{"tok:<token>": value}``."""

    __slots__ = ("idf", "tokens")

    def __init__(self, *, tokens: Sequence[str], idf: Sequence[float]) -> None:
        if len(tokens) != len(idf):
            raise ValueError("tokens and idf differ in length")
        self.tokens: tuple[str, ...] = tuple(tokens)
        self.idf: dict[str, float] = dict(zip(self.tokens, map(float, idf), strict=True))

    @classmethod
    def from_vectorizer(cls, vectorizer: Any) -> TextView:
        """The view of a fitted ``TfidfVectorizer`` with default settings."""
        names = [str(t) for t in vectorizer.get_feature_names_out()]
        return cls(tokens=names, idf=[float(v) for v in vectorizer.idf_])

    def features(self, text: str) -> dict[str, float]:
        """TF-IDF of the vocabulary's tokens in ``text``, L2-normalised (``TfidfVectorizer.transform``)."""
        idf = self.idf
        counts: dict[str, int] = {}
        for token in _TOKEN.findall(text.lower()):
            if token in idf:
                counts[token] = counts.get(token, 0) + 1
        if not counts:
            return {}
        raw = {token: n * idf[token] for token, n in counts.items()}
        norm = math.sqrt(math.fsum(v * v for v in raw.values()))
        return {TOKEN_PREFIX + token: v / norm for token, v in raw.items()}

    def to_json(self) -> dict[str, Any]:
        return {"tokens": list(self.tokens), "idf": [self.idf[t] for t in self.tokens]}

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> TextView:
        return cls(tokens=list(document["tokens"]), idf=list(document["idf"]))
