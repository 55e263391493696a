"""Rule ladders: a team's rules of one name at ordered thresholds, read from PromQL, served exactly, stored,
explained, and what they do to a team model's levels."""

from __future__ import annotations

import itertools
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from analytics.artifact import ArtifactError, bundled_model, load_model, model_document, save_model
from analytics.evaluate import evaluate
from analytics.examples import TrainingExample, rule_alert
from analytics.fitting import is_monotone_feature, project_monotone
from analytics.ladders import BOTTOM, MIDDLE, TOP, Ladders, order, rung_values, thresholds
from analytics.model import model_version
from analytics.paging import DEFAULT_LADDER, LADDER_WEIGHTS, PageRule, ladder_columns
from analytics.paging import apply as apply_page_rule
from analytics.paging import rules as page_rules
from analytics.records import AlertRecord, Severity
from analytics.scoring import ScoringContext
from analytics.training import Choice, choose_blend, train_team_model


def _rule(name: str, expr: str, *, summary: str = "", group: str = "g") -> AlertRecord:
    return rule_alert(
        alertname=name, expr=expr, for_duration="5m", labels={}, summary=summary or name, description=None
    )


def test_thresholds_read_the_direction_of_each_comparison() -> None:
    assert thresholds("node_filefd_allocated * 100 / node_filefd_maximum > 90") == ((90.0, 1),)
    assert thresholds("kubelet_certificate_manager_client_ttl_seconds < 86400") == ((86400.0, -1),)
    # Brackets, "bool", signs, leading dots, long spaces; products and quotients are one threshold.
    assert thresholds("sum(burnrate1h) > (14.40 * 0.01000)") == ((14.4 * 0.01, 1),)
    assert thresholds("age > 2 * 3600") == ((7200.0, 1),) and thresholds("age > 3600") == ((3600.0, 1),)
    assert thresholds("x > bool 0.9") == ((0.9, 1),) and thresholds("x < -1") == ((-1.0, -1),)
    assert thresholds("x >= .5") == ((0.5, 1),) and thresholds("x >" + " " * 40 + "5") == ((5.0, 1),)
    assert thresholds("x > 1 / 4") == ((0.25, 1),) and thresholds("x > 1 / 0") == ()
    # A "#" in a string is no comment; one outside is.
    assert thresholds('rate(hits{url="a/#/b"}[5m]) > 5 # was > 9') == ((5.0, 1),)
    # A number left of a comparison, a metric after one, "==", "!=", "=~" and infinities are no thresholds.
    assert thresholds("x * 100 > 90") == ((90.0, 1),)
    assert thresholds("0.9 >= ratio") == () and thresholds("a > b") == () and thresholds("x > 1e999") == ()
    assert thresholds('up == 0 and x != 1 and y{a=~"b>1"} == 2') == ()
    expr = 'predict_linear(free[6h], 4 * 3600) < 0 and up{job="a>5"} == 1 and rate(x[5m]) offset 1h > 1e3'
    assert thresholds(expr) == ((0.0, -1), (1000.0, 1))


def test_order_needs_the_same_directions_and_one_verdict() -> None:
    assert order(((90.0, 1),), ((70.0, 1),)) == 1
    assert order(((5.0, -1),), ((15.0, -1),)) == 1  # lower is stricter under "<"
    assert order(((70.0, 1),), ((90.0, 1),)) == -1
    assert order(((90.0, 1),), ((90.0, 1),)) == 0
    assert order(((90.0, 1), (5.0, -1)), ((70.0, 1), (10.0, -1))) == 1
    assert order(((90.0, 1), (15.0, -1)), ((70.0, 1), (10.0, -1))) is None  # stricter here, milder there
    assert order(((90.0, 1),), ((70.0, -1),)) is None
    assert order(((90.0, 1),), ((70.0, 1), (1.0, 1))) is None
    assert order((), ()) is None


def test_rungs_of_a_ladder() -> None:
    warn = _rule("FdLimit", "fd_used_ratio * 100 > 70")
    crit = _rule("FdLimit", "fd_used_ratio * 100 > 90")
    mid = _rule("FdLimit", "fd_used_ratio * 100 > 80")
    alone = _rule("Other", "x > 1")
    matcher_only = [
        _rule("Send", 'rate(failed{i="a"}[5m]) > 0.01'),
        _rule("Send", 'rate(failed{i="b"}[5m]) > 0.01'),
    ]
    ladders = Ladders.of([warn, crit, alone, *matcher_only])
    assert set(ladders.rungs) == {"FdLimit"}  # one rule alone, or rules of equal thresholds: no ladder
    assert ladders.rung(crit) == TOP and ladders.rung(warn) == BOTTOM
    assert ladders.rung(alone) is None and ladders.rung(matcher_only[0]) is None
    assert Ladders.of([warn, crit, mid]).rung(mid) == MIDDLE
    # An alert as Alertmanager sends it: the query in its generator URL, a threshold the file never had.
    firing = replace(
        crit, expression=None, generator_url="http://prom/graph?g0.expr=fd_used_ratio+%2A+100+%3E+95"
    )
    assert ladders.rung(firing) == TOP
    assert ladders.features(crit) == {TOP: 1.0} and ladders.features(alone) == {}
    assert rung_values(ladders, [crit, warn, alone]).tolist() == [1.0, -1.0, 0.0]
    assert Ladders.from_json(json.loads(json.dumps(ladders.to_json()))) == ladders
    assert not Ladders.of([alone])
    # Rules of one name, none two in order (stricter in one threshold, milder in the other): no ladder.
    crossed = [_rule("Mixed", "a > 1 and b > 2"), _rule("Mixed", "a > 2 and b > 1")]
    assert not Ladders.of(crossed)
    # A hostile query on a ladder's name: read, not kept (the cache holds short inputs only).
    huge = replace(crit, expression="fd_used_ratio * 100 > 95 or " + "x" * 100_000)
    assert ladders.rung(huge) == TOP and all(len(q or "") < 1000 for _, q, _ in ladders._seen)


def test_the_ladder_term_moves_the_top_rung_towards_urgency_and_the_bottom_away() -> None:
    step = ladder_columns(["SEV1", "SEV3", "SEV4"])
    assert step.tolist() == pytest.approx([5 / 3, -1 / 3, -4 / 3])
    logits = np.zeros((3, 3))
    rungs = np.array([1.0, -1.0, 0.0])
    out = apply_page_rule(logits, np.array([True, False, False]), PageRule(ladder=2.0), None, rungs, step)
    assert out.argmax(axis=1).tolist()[:2] == [0, 2] and np.all(out[2] == 0.0)
    assert is_monotone_feature(TOP) and not is_monotone_feature(BOTTOM)
    # Fitted coefficients of the wrong sign are projected: the top rung never lowers urgency, the bottom
    # rung never raises it (rows SEV1 … SEV4; one row of a binary model, either orientation).
    wrong = np.array([[-1.0, 1.0], [0.0, 0.0], [1.0, -1.0]])
    fixed = project_monotone([TOP, BOTTOM], wrong, binary_positive_is_urgent=True)
    assert np.all(np.diff(fixed[:, 0]) <= 0) and np.all(np.diff(fixed[:, 1]) >= 0)
    assert project_monotone(
        [TOP, BOTTOM], np.array([[-1.0, 1.0]]), binary_positive_is_urgent=True
    ).tolist() == [[0.0, 0.0]]
    assert project_monotone(
        [TOP, BOTTOM], np.array([[1.0, -1.0]]), binary_positive_is_urgent=False
    ).tolist() == [[0.0, 0.0]]
    kept = project_monotone([TOP, BOTTOM], np.array([[2.0, -3.0]]), binary_positive_is_urgent=True)
    assert kept.tolist() == [[2.0, -3.0]]
    # Candidates: the ladder weights only where training rows are on a ladder, with or without a prior.
    assert {r.ladder for r in page_rules(with_prior=False, with_ladders=True)} == set(LADDER_WEIGHTS)
    assert {r.ladder for r in page_rules(with_prior=True)} == {0.0}


def _ladder_team() -> list[TrainingExample]:
    """Rule groups of twins (same name and wording, a warning and a critical threshold) and plain rules."""
    out: list[TrainingExample] = []
    topics = [
        "disk",
        "memory",
        "queue",
        "certificate",
        "replica",
        "latency",
        "error",
        "connection",
        "lag",
        "cache",
    ]
    topics += ["socket", "backup", "scheduler", "ingest", "token", "dns", "proxy", "volume"]
    for topic in topics:
        group = f"rules.yaml::{topic}"
        name = f"{topic.title()}Pressure"
        summary = f"{topic} pressure is high on {{{{ $labels.instance }}}}"
        # One threshold bucket (90–94 %): nothing but the rungs tells the twins apart.
        for level, threshold in ((Severity.SEV3, 90), (Severity.SEV1, 93)):
            alert = _rule(name, f"{topic}_used_ratio * 100 > {threshold}", summary=summary)
            out.append(TrainingExample(alert=alert, level=level, group=group, origin="rules"))
        for level, word in ((Severity.SEV1, "down"), (Severity.SEV4, "info")):
            alert = _rule(f"{topic.title()}{word.title()}", f"{topic}_{word} > 0", summary=f"{topic} {word}")
            out.append(TrainingExample(alert=alert, level=level, group=group, origin="rules"))
    return out


@pytest.mark.parametrize(
    "alpha, with_prior, page, binary",
    [
        (0.5, False, PageRule(ladder=1.0), False),
        (0.0, False, PageRule(ladder=2.0), False),
        (1.0, True, PageRule(prior_weight=1.0, shift=0.5, ladder=0.5), False),
        (0.5, True, PageRule(prior_weight=2.0, shift=-0.5, ladder=1.0), True),
    ],
)
def test_a_team_model_with_a_ladder_term_is_exact_and_orders_the_twins(
    alpha: float, with_prior: bool, page: PageRule, binary: bool
) -> None:
    rows = _ladder_team()
    if binary:
        rows = [e for e in rows if e.level is not Severity.SEV4]
    alerts = [e.alert for e in rows]
    choice = Choice(alpha=alpha, with_prior=with_prior, scores={}, page=page)
    model = train_team_model(rows, choice=choice, seed=0, prior=bundled_model().content)
    content = model.content
    assert content.ladders is not None and len(content.ladders.rungs) == len(rows) // (3 if binary else 4)
    lean = content.lean.decision_batch([content.features(a) for a in alerts])
    assert np.abs(lean - model.reference.decision(alerts)).max() < 1e-9
    coef = content.lean.coef
    top, bottom = content.lean.feature_names.index(TOP), content.lean.feature_names.index(BOTTOM)
    assert np.all(np.diff(coef[:, top]) <= 1e-12) and np.all(np.diff(coef[:, bottom]) >= -1e-12)
    assert model.provenance["page_rule"]["ladder"] == page.ladder
    twins = [(a, b) for a, b in itertools.pairwise(rows) if a.alert.alertname == b.alert.alertname]
    for warning, critical in twins:  # the critical twin is scored at least as urgent, and here more
        levels = content.levels([warning.alert, critical.alert])
        assert levels[1].rank < levels[0].rank


def test_a_ladder_is_stored_explained_and_part_of_the_version(tmp_path: Path) -> None:
    rows = _ladder_team()
    alerts = [e.alert for e in rows]
    model = train_team_model(
        rows, choice=Choice(alpha=0.5, with_prior=False, scores={}, page=PageRule(ladder=1.0))
    )
    content = model.content
    # The rung is one reason, a sentence about the alert, and the terms still add up to the score.
    explanation = model.explain(alerts[1], ScoringContext())
    texts = [c.text for c in explanation.contributions]
    assert "its thresholds are the strictest of the team's rules named DiskPressure" in texts
    assert explanation.total == pytest.approx(explanation.score, abs=1e-9)
    # Stored and read back: the same model, ladders and version; without ladders another version.
    loaded = load_model(save_model(model, tmp_path / "team.json"))
    assert loaded.content.ladders == content.ladders and loaded.version == model.version
    assert loaded.content.levels(alerts) == content.levels(alerts)
    assert model_version(replace(content, ladders=None)) != model.version


@pytest.mark.parametrize(
    "ladders, message",
    [
        ({"X": [[[90, 2]], [[70, 1]]]}, "direction must be"),
        ({"X": [[[90, 1.9]], [[70, 1]]]}, "direction must be"),
        ({"X": [[[90, True]], [[70, 1]]]}, "direction must be"),
        ({"X": [[[90, float("inf")]], [[70, 1]]]}, "direction must be"),
        ({"X": [[["90", 1]], [[70, 1]]]}, "value must be a finite number"),
        ({"X": [[[float("inf"), 1]], [[70, 1]]]}, "value must be a finite number"),
        ({"X": [[[90]], [[70, 1]]]}, "must be \\[value, direction\\]"),
        ({"X": [[[90, 1]]]}, "list of 2 to 8"),
        ({"X": 3}, "list of 2 to 8"),
        ({"X": [5, 6]}, "must be a list"),
        ([1, 2], "object of alert names"),
    ],
)
def test_malformed_ladders_in_an_artifact_are_refused(tmp_path: Path, ladders: object, message: str) -> None:
    rows = _ladder_team()
    model = train_team_model(
        rows, choice=Choice(alpha=0.5, with_prior=False, scores={}, page=PageRule(ladder=1.0))
    )
    document = model_document(model)
    document["content"]["ladders"] = ladders
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(ArtifactError, match=message):
        load_model(path)


def test_the_inner_cv_weighs_the_rungs_or_falls_back_to_the_default() -> None:
    rows = _ladder_team()
    ladders = Ladders.of(e.alert for e in rows)
    chosen = choose_blend(rows, prior=None, seed=0, ladders=ladders)
    assert chosen.page.ladder in LADDER_WEIGHTS
    assert chosen.page.ladder > 0  # the twins are only told apart by their rungs
    # Training rows on no ladder, though the team's files have ladders (the held-out fold holds them all):
    # nothing to weigh the rungs on, so the default weight.
    plain = [e for e in rows if ladders.rung(e.alert) is None]
    assert choose_blend(plain, prior=None, seed=0, ladders=ladders).page.ladder == DEFAULT_LADDER
    assert choose_blend(plain, prior=None, seed=0).page.ladder == 0.0
    # Files whose same-named rules are in no order are no ladder: no default weight either.
    crossed = Ladders.of([_rule("Mixed", "a > 1 and b > 2"), _rule("Mixed", "a > 2 and b > 1")])
    assert choose_blend(plain, prior=None, seed=0, ladders=crossed).page.ladder == 0.0


def test_evaluation_reads_the_ladders_of_the_evaluated_rule_files() -> None:
    rows = _ladder_team()
    result = evaluate(rows, folds=5, seed=0)
    assert result.model.critical_f1 > result.baseline.critical_f1
    assert result.model.macro_f1 >= result.baseline.macro_f1
