"""Population stability against the training baseline."""

from __future__ import annotations

import numpy as np

from analytics.drift import drift_report, numeric_psi, psi
from analytics.examples import TrainingExample
from analytics.model import SeverityModel


def test_psi_is_zero_for_equal_distributions_and_large_for_shifted_ones() -> None:
    assert psi(expected={"a": 0.5, "b": 0.5}, actual={"a": 50, "b": 50}) == 0.0
    assert psi(expected={"a": 0.9, "b": 0.1}, actual={"a": 0.1, "b": 0.9}) > 1.0
    assert psi(expected={"a": 1.0}, actual={"b": 1.0}) > 5.0  # empty bins are floored, not infinite


def test_numeric_psi_detects_a_shift() -> None:
    rng = np.random.default_rng(0)
    base = rng.normal(0, 1, 5000)
    assert numeric_psi(expected=base, actual=rng.normal(0, 1, 5000)) < 0.02
    assert numeric_psi(expected=base, actual=rng.normal(1.5, 1, 5000)) > 0.25


def test_drift_report_is_stable_on_training_like_traffic_and_flags_a_change(
    team_model: SeverityModel, catalogue_rules: list[TrainingExample]
) -> None:
    rows = [team_model.features(e.alert) for e in catalogue_rules]
    levels = [e.level.value for e in catalogue_rules]  # alerts of these rules carry their words
    same = drift_report(summary=team_model.summary, recent_levels=levels, recent_features=rows)
    assert same.status == "stable"
    assert same.n_recent == len(catalogue_rules)

    pages = [row for row, level in zip(rows, levels, strict=True) if level == "SEV1"]
    shifted = drift_report(
        summary=team_model.summary, recent_levels=["SEV1"] * len(pages), recent_features=pages
    )
    assert shifted.status == "major"
    assert shifted.level_psi > 0.25
    assert shifted.features[0].psi >= shifted.features[-1].psi
