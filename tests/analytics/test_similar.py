"""Similar past incidents (analytics/similar.py): the words an incident is about, TF-IDF cosine ranking."""

from __future__ import annotations

import random
from typing import Any

import pytest

from analytics.similar import TIE_DIGITS, WORDS, incident_text, most_similar


def text(labels: dict[str, object], *, service: str | None = "checkout") -> str:
    return incident_text(
        alertname="HighErrorRate", title="Checkout returns 5xx", service=service, labels=labels
    )


# --- incident_text -------------------------------------------------------------------------------------


def test_severity_and_instance_labels_do_not_change_what_an_incident_is_about() -> None:
    base = text({"env": "prod", "pod": "web"})

    assert text({"env": "prod", "pod": "web", "severity": "critical", "instance": "checkout-1:8080"}) == base
    assert text({"env": "prod", "pod": "web", "severity": "info", "instance": "checkout-9:8080"}) == base
    assert "critical" not in text({"severity": "critical"})


def test_label_values_count_and_label_names_do_not() -> None:
    words = text({"environment": "staging"}).split()

    assert "staging" in words
    assert "environment" not in words


def test_the_order_labels_come_in_does_not_matter() -> None:
    assert text({"a": "1", "b": "2"}) == text({"b": "2", "a": "1"})


def test_the_alert_name_weighs_twice_and_the_title_and_service_are_included() -> None:
    words = text({}).split()

    assert words.count("HighErrorRate") == 2
    assert {"Checkout", "returns", "5xx", "checkout"} <= set(words)


def test_an_incident_without_a_service_has_no_service_word() -> None:
    assert "None" not in text({}, service=None).split()


# --- most_similar --------------------------------------------------------------------------------------

TARGET = "CheckoutHighErrorRate CheckoutHighErrorRate checkout prod eu-west"


def test_no_candidates_give_no_similar_incidents() -> None:
    assert most_similar(TARGET, []) == []


def test_candidates_are_ranked_best_first_and_unrelated_ones_left_out() -> None:
    found = most_similar(
        TARGET,
        [
            (1, "CheckoutHighErrorRate CheckoutHighErrorRate billing staging us-east"),  # the name only
            (2, "CheckoutHighErrorRate CheckoutHighErrorRate checkout prod eu-west"),  # the same words
            (3, "DiskFull DiskFull ledger staging us-east"),  # nothing in common
            (4, "CheckoutHighErrorRate CheckoutHighErrorRate checkout prod us-east"),  # most words
        ],
        k=5,
    )

    assert [incident_id for incident_id, _ in found] == [2, 4, 1]
    assert found[0][1] == pytest.approx(1.0)
    assert all(0.0 < score <= 1.0 + 1e-9 for _, score in found)


def test_equally_similar_candidates_are_ranked_newest_first() -> None:
    same = "CheckoutHighErrorRate checkout"

    found = most_similar(TARGET, [(3, same), (9, same), (5, same)], k=3)

    assert [incident_id for incident_id, _ in found] == [9, 5, 3]


def test_at_most_k_candidates_are_given() -> None:
    candidates = [(n, f"CheckoutHighErrorRate checkout host-{n}") for n in range(10)]

    assert len(most_similar(TARGET, candidates, k=3)) == 3
    assert len(most_similar(TARGET, candidates, k=1)) == 1


def test_candidates_below_the_minimum_similarity_are_left_out() -> None:
    candidates = [(1, TARGET), (2, "CheckoutHighErrorRate billing staging us-east ledger worker batch")]
    scores = dict(most_similar(TARGET, candidates, k=2, min_similarity=0.0))

    assert [i for i, _ in most_similar(TARGET, candidates, k=2, min_similarity=scores[2])] == [1, 2]
    assert [i for i, _ in most_similar(TARGET, candidates, k=2, min_similarity=scores[2] + 0.01)] == [1]


def test_host_like_words_are_kept_whole() -> None:
    found = most_similar("db.eu-1 down", [(1, "db.eu-1 slow"), (2, "db eu 1 slow")], k=2)

    assert [incident_id for incident_id, _ in found] == [1]


# --- the same ranking as scikit-learn's TfidfVectorizer ---------------------------------------------------


def sklearn_most_similar(
    target: str, candidates: list[tuple[int, str]], *, k: int, min_similarity: float = 0.1
) -> list[tuple[int, float]]:
    """What most_similar computed with scikit-learn before (the reference it must equal)."""
    import numpy as np
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectorizer = TfidfVectorizer(token_pattern=WORDS.pattern, sublinear_tf=True)
    try:
        matrix = vectorizer.fit_transform([target, *(text for _, text in candidates)])
    except ValueError:  # "empty vocabulary"
        return []
    scores = (matrix[1:] @ matrix[0].T).toarray().ravel()
    ids = np.array([cid for cid, _ in candidates])
    order = np.lexsort((-ids, -np.round(scores, TIE_DIGITS)))
    return [(int(ids[i]), float(scores[i])) for i in order[:k] if scores[i] >= min_similarity]


def assert_same_ranking(found: list[tuple[int, float]], expected: list[tuple[int, float]]) -> None:
    assert [cid for cid, _ in found] == [cid for cid, _ in expected]
    assert [score for _, score in found] == pytest.approx([score for _, score in expected], abs=1e-12)


def test_the_ranking_equals_scikit_learns_on_random_texts() -> None:
    rng = random.Random(7)
    words = [f"w{n}" for n in range(60)] + ["db.eu-1", "Checkout", "checkout", "5xx", "pod-3", "Ä", "ß"]
    for _ in range(200):
        candidates = [
            (rng.randrange(1000), " ".join(rng.choices(words, k=rng.randrange(0, 12))))
            for _ in range(rng.randrange(1, 40))
        ]
        target = " ".join(rng.choices(words, k=rng.randrange(0, 10)))
        for k, minimum in ((3, 0.1), (50, 0.0), (5, 0.4)):
            assert_same_ranking(
                most_similar(target, candidates, k=k, min_similarity=minimum),
                sklearn_most_similar(target, candidates, k=k, min_similarity=minimum),
            )


def test_the_ranking_equals_scikit_learns_on_real_alerts(real_instances: list[dict[str, Any]]) -> None:
    texts = [
        incident_text(
            alertname=item["alertname"],
            title=str(item.get("annotations", {}).get("summary") or item["alertname"]),
            service=item.get("labels", {}).get("service") or item.get("labels", {}).get("job"),
            labels=item.get("labels", {}),
        )
        for item in real_instances
    ]
    candidates = list(enumerate(texts[:400]))
    for target in texts[::25]:
        assert_same_ranking(
            most_similar(target, candidates, k=5), sklearn_most_similar(target, candidates, k=5)
        )
