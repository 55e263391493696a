"""Similar past incidents (analytics/similar.py): the words an incident is about, TF-IDF cosine ranking."""

from __future__ import annotations

import pytest

from analytics.similar import incident_text, most_similar


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
