"""The serving model: lean scores equal scikit-learn's, reasons add up to the score and read as sentences,
the source's word decides, and production, a `critical` word, the hour and the weekday never lower it."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from analytics.catalogue import catalogue_examples
from analytics.examples import rule_alert
from analytics.model import ModelScorer, SeverityModel, adds_no_term
from analytics.policy import band, level_probabilities, settle
from analytics.records import AlertRecord, AlertStatus, Severity
from analytics.scoring import Score, Scorer, ScoringContext

README_SAMPLE = AlertRecord(
    source="alertmanager",
    fingerprint="3f1c2a9b7d6e5f40",
    status=AlertStatus.FIRING,
    labels={
        "alertname": "CheckoutHighErrorRate",
        "service": "checkout",
        "severity": "critical",
        "env": "prod",
    },
    annotations={"summary": "Checkout 5xx rate above 5%"},
    starts_at=datetime(2026, 11, 22, 8, 0, tzinfo=UTC),
    ends_at=None,
    group_key='{}:{alertname="CheckoutHighErrorRate"}',
    generator_url="http://prometheus:9090/graph?g0.expr=job%3Acheckout_errors%3Aratio5m+%3E+0.05&g0.tab=1",
)
# A feature's raw name ("name:down", "ctx:burst", "label:env=prod") is what a reason must never be.
RAW_FEATURE = re.compile(r"^[a-z_]+:\S")


def rule_alerts(rules: list[dict[str, Any]], *, word: bool) -> list[AlertRecord]:
    """Real rules as the alerts they raise, with their severity word or without it."""
    return [
        rule_alert(
            alertname=r["alertname"],
            expr=r["expr"],
            for_duration=r["for"] or None,
            labels={**r["labels"], **({"severity": r["severity"]} if word else {})},
            summary=r["summary"],
            description=r["description"],
        )
        for r in rules
    ]


def catalogue_alerts(*, word: bool) -> list[AlertRecord]:
    alerts = [e.alert for e in catalogue_examples(seed=7)[::4]]
    if word:
        return alerts
    return [replace(a, labels={k: v for k, v in a.labels.items() if k != "severity"}) for a in alerts]


def changed(alert: AlertRecord, **fields: Any) -> AlertRecord:
    return replace(alert, **fields)


def assert_exact_and_readable(score: Score, explained_score: float) -> None:
    assert abs(sum(r.weight for r in score.reasons) - explained_score) < 1e-9
    texts = [r.text for r in score.reasons]
    assert len(texts) == len(set(texts)), texts
    quoted = [t.split("“")[1].split("”")[0] for t in texts if "“" in t]
    assert len(quoted) == len(set(quoted)), f"one word in two reasons: {texts}"
    for text in texts:
        assert not RAW_FEATURE.match(text) and len(text.split()) >= 3, text


def test_the_readme_sample_is_sev1_because_the_source_says_critical(default_model: SeverityModel) -> None:
    score = default_model.scorer().score(README_SAMPLE, ScoringContext())
    assert score.level is Severity.SEV1
    assert score.reasons[0].text == "source says critical"
    assert score.confidence > 0.8


def test_lean_path_equals_scikit_learn_for_the_bundled_and_a_team_model(
    default_model: SeverityModel, team_model: SeverityModel, real_rules: list[dict[str, Any]]
) -> None:
    alerts = [*rule_alerts(real_rules, word=False), *catalogue_alerts(word=False)]
    assert len(alerts) > 3000
    for model in (team_model,):
        lean = model.content.lean.decision_batch([model.features(a) for a in alerts])
        assert np.abs(lean - model.reference.decision(alerts)).max() < 1e-9
        single = np.stack([model.content.decision(a) for a in alerts[:300]])
        assert np.abs(single - lean[:300]).max() < 1e-12
    # The bundled model as shipped is rounded to 6 significant digits; rebuilt, it equals its pipeline.
    from analytics.bundled import build_bundled

    fresh = build_bundled(real_rules, choice=_recorded_choice(default_model))
    lean = fresh.content.lean.decision_batch([fresh.features(a) for a in alerts])
    assert np.abs(lean - fresh.reference.decision(alerts)).max() < 1e-9
    shipped = default_model.content.lean.decision_batch([default_model.features(a) for a in alerts])
    assert np.abs(shipped - lean).max() < 1e-3


def _recorded_choice(model: SeverityModel) -> Any:
    from analytics.bundled import BundledChoice
    from analytics.features import FeatureOptions

    p = model.provenance
    return BundledChoice(
        options=FeatureOptions(**p["options"]),
        c=p["c"],
        page_probability=p["page_probability"],
        info_edge=p["info_edge"],
        scores={},
    )


@pytest.mark.parametrize("word", [True, False])
def test_reasons_add_up_to_the_score_and_read_as_sentences(
    default_model: SeverityModel, team_model: SeverityModel, word: bool
) -> None:
    contexts = [
        ScoringContext(),
        ScoringContext(service_criticality="critical", service_alerts_5m=9, service_usual_per_hour=1.0),
        ScoringContext(flapping=True, past_ratings={"SEV2": 2}),
    ]
    for model in (default_model, team_model):
        scorer: Scorer = model.scorer()
        for i, alert in enumerate(catalogue_alerts(word=word)):
            context = contexts[i % len(contexts)]
            score = scorer.score(alert, context)
            explanation = model.explain(alert, context)
            assert score.level is explanation.level
            assert abs(explanation.total - explanation.score) < 1e-9
            assert_exact_and_readable(score, explanation.score)
            assert set(score.probabilities) == set(Severity)
            assert abs(sum(score.probabilities.values()) - 1.0) < 1e-9
            assert score.level is max(score.probabilities, key=lambda s: score.probabilities[s])
            if word and "severity" in alert.labels:
                assert score.reasons[0].text.startswith("source says ")


def test_production_never_lowers_and_the_hour_and_weekday_change_nothing(
    default_model: SeverityModel, team_model: SeverityModel, real_rules: list[dict[str, Any]]
) -> None:
    alerts = [*rule_alerts(real_rules[::7], word=False), *catalogue_alerts(word=False)]
    for model in (default_model, team_model):
        scorer = ModelScorer(model)
        for alert in alerts:
            base = scorer.score(alert, ScoringContext())
            for key, env in (("env", "prod"), ("environment", "production"), ("env", "dev"), ("stage", "qa")):
                other = scorer.score(changed(alert, labels={**alert.labels, key: env}), ScoringContext())
                assert other.level is base.level, (alert.alertname, key, env)
            for hours in (3, 14, 24 * 5 + 2):  # night, afternoon, a Saturday night
                start = datetime(2025, 3, 3, tzinfo=UTC) + timedelta(hours=hours)
                assert scorer.score(changed(alert, starts_at=start), ScoringContext()) == base


def test_a_critical_word_in_name_or_text_never_lowers_the_bundled_level(
    default_model: SeverityModel, real_rules: list[dict[str, Any]]
) -> None:
    scorer = default_model.scorer()
    lowered = []

    def level(alert: AlertRecord) -> int:
        return scorer.score(alert, ScoringContext()).level.rank

    for alert in rule_alerts(real_rules, word=False):
        # A renamed alert is another alert (its name's own feature goes): compare with a meaningless word.
        plain = changed(alert, labels={**alert.labels, "alertname": alert.alertname + "Qzx"})
        louder = changed(alert, labels={**alert.labels, "alertname": alert.alertname + "Critical"})
        if level(louder) > level(plain):
            lowered.append(alert.alertname)
        said = changed(alert, annotations={**alert.annotations, "summary": "critical: " + alert.title})
        if level(said) > level(alert):
            lowered.append(alert.alertname)
    assert lowered == []


def test_context_moves_an_alert_with_its_reason_and_only_by_one_level(default_model: SeverityModel) -> None:
    scorer = default_model.scorer()
    warning = changed(README_SAMPLE, labels={**README_SAMPLE.labels, "severity": "warning"})
    burst = ScoringContext(service_criticality="critical", service_alerts_5m=20, service_usual_per_hour=2.0)
    hot = scorer.score(warning, burst)
    assert hot.level is Severity.SEV2
    assert [r.text for r in hot.reasons] == [
        "source says warning",
        "the catalog rates checkout critical",
        "20 alerts for checkout in 5 min, 120× its usual rate",
    ]
    capped = scorer.score(warning, replace(burst, past_ratings={"SEV1": 2}))
    assert capped.level is Severity.SEV2
    assert capped.reasons[-1].text == "without team data context moves a level by one at most"
    calm = scorer.score(warning, ScoringContext(service_criticality="low", flapping=True))
    assert calm.level is Severity.SEV4
    assert scorer.score(warning, ScoringContext()).level is Severity.SEV3


def _batch_cases(alerts: list[AlertRecord]) -> list[tuple[AlertRecord, ScoringContext]]:
    """Alerts twice over (the second sight hits the batch's content parts), with contexts that add no
    term and contexts that do (ratings, criticality, a burst, flapping), and an unknown severity word."""
    contexts = [ScoringContext()] + [e.context for e in catalogue_examples(seed=5)[:40]]
    contexts += [
        ScoringContext(flapping=True),
        ScoringContext(service_criticality="critical"),
        ScoringContext(service_criticality="medium"),
        ScoringContext(past_ratings={"SEV1": 1}),
        ScoringContext(past_ratings={"SEV4": 3}),
        ScoringContext(service_usual_per_hour=1.0, service_alerts_5m=40, service_alerts_60m=45),
        ScoringContext(service_criticality="low", flapping=True, past_ratings={"SEV1": 3}),
    ]
    items = [(a, contexts[i % len(contexts)]) for i, a in enumerate(alerts)]
    items += [(a, contexts[(i * 7) % len(contexts)]) for i, a in enumerate(alerts)]
    odd = [changed(a, labels={**a.labels, "severity": "whatever"}) for a in alerts[:20]]
    return items + [(a, ScoringContext()) for a in odd]


def assert_batch_equals_single(model: SeverityModel, items: list[tuple[AlertRecord, ScoringContext]]) -> None:
    alone = ModelScorer(model, cache_size=0)  # no content part kept: the features of every alert, computed
    expected = [alone.score(alert, context) for alert, context in items]
    got = model.scorer().score_batch(items)
    assert len(got) == len(expected)
    for g, e in zip(got, expected, strict=True):
        assert (g.level, g.confidence, g.reasons) == (e.level, e.confidence, e.reasons)
        assert g == e  # probabilities and model version too, exactly
    assert {s.level for s in got} != {got[0].level}, "the cases must reach more than one level"


@pytest.mark.parametrize("word", [False, True])
def test_score_batch_equals_scoring_each_alert_alone_on_the_real_rules(
    default_model: SeverityModel, real_rules: list[dict[str, Any]], word: bool
) -> None:
    assert_batch_equals_single(default_model, _batch_cases(rule_alerts(real_rules, word=word)))


@pytest.mark.parametrize("word", [False, True])
def test_score_batch_equals_scoring_each_alert_alone_on_the_catalogue(
    default_model: SeverityModel, team_model: SeverityModel, word: bool
) -> None:
    items = _batch_cases(catalogue_alerts(word=word))
    assert_batch_equals_single(default_model, items)
    assert_batch_equals_single(team_model, items[:300])


def test_a_context_said_to_add_no_term_settles_to_the_anchor_alone(default_model: SeverityModel) -> None:
    """The shortcut of ``score`` and ``score_batch`` (the anchor's level and probabilities, no settling)
    holds exactly where ``settle`` adds no term, for anchors across all levels."""
    content = default_model.content
    alert = catalogue_alerts(word=False)[0]
    contexts = [e.context for e in catalogue_examples(seed=5)[:200]] + [
        ScoringContext(),
        ScoringContext(service_criticality="medium"),
        ScoringContext(service_criticality="low"),
        ScoringContext(flapping=True),
        ScoringContext(past_ratings={"SEV2": 1}),
        ScoringContext(service_usual_per_hour=1.0, service_alerts_5m=40, service_alerts_60m=45),
    ]
    said = 0
    for context in contexts:
        for anchor in (0.2, 1.4, 2.0, 2.6, 3.7, 4.9):
            settled = settle(
                alert=alert, context=context, anchor=anchor, edges=content.edges, sharpness=content.sharpness
            )
            if adds_no_term(context):
                said += 1
                assert settled.terms == ()
                assert settled.level == band(anchor, content.edges)
                assert settled.probabilities == level_probabilities(
                    anchor, edges=content.edges, sharpness=content.sharpness
                )
            elif context.service_criticality != "medium":
                assert settled.terms != () or context.service_usual_per_hour > 0  # a burst needs a burst
    assert 0 < said < len(contexts) * 6
