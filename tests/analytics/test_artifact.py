"""Model artifacts: JSON that round-trips exactly, refuses what is not a model, the cached bundled model."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from analytics.artifact import (
    ArtifactError,
    default_artifact_name,
    default_scorer,
    load_model,
    load_scorer,
    save_model,
)
from analytics.catalogue import catalogue_examples
from analytics.examples import rule_alert
from analytics.features import alert_features
from analytics.model import SeverityModel
from analytics.records import AlertRecord, AlertStatus
from analytics.scoring import ScoringContext


def real_alerts(rules: list[dict[str, Any]], instances: list[dict[str, Any]]) -> list[AlertRecord]:
    """Real rules as the alerts they raise (severity label kept, as serving sees it) and real firings."""
    alerts = [
        rule_alert(
            alertname=r["alertname"],
            expr=r["expr"],
            for_duration=r["for"] or None,
            labels={**r["labels"], "severity": r["severity"]},
            summary=r["summary"],
            description=r["description"],
        )
        for r in rules
    ]
    for i in instances:
        labels = {**i["labels"], "alertname": i["alertname"], "severity": i["severity"]}
        alerts.append(
            AlertRecord(
                source="alertmanager",
                fingerprint=i["alertname"],
                status=AlertStatus.FIRING,
                labels=labels,
                annotations=i["annotations"],
                starts_at=datetime(2025, 5, 1, 3, 0, tzinfo=UTC),
                ends_at=None,
                group_key="g",
            )
        )
    return alerts


def sample_contexts(n: int) -> list[ScoringContext]:
    rng = np.random.default_rng(1)
    return [
        ScoringContext(
            service_criticality=str(rng.choice(["critical", "high", "low", "unknown"])),
            service_alerts_5m=int(rng.integers(0, 30)),
            service_alerts_60m=int(rng.integers(0, 200)),
            service_usual_per_hour=float(rng.uniform(0, 20)),
            group_alerts_5m=int(rng.integers(0, 20)),
            group_alerts_60m=int(rng.integers(0, 50)),
            flapping=bool(rng.random() < 0.2),
            duplicates=int(rng.integers(0, 4)),
            past_ratings={"SEV2": int(rng.integers(0, 4))},
        )
        for _ in range(n)
    ]


def test_save_and_load_round_trip_exactly(default_model: SeverityModel, tmp_path: Path) -> None:
    path = save_model(default_model, tmp_path / "model.json")
    loaded = load_model(path)
    assert loaded.version == default_model.version
    assert loaded.feature_names == default_model.feature_names
    assert loaded.options == default_model.options
    assert loaded.summary == default_model.summary
    rows = [alert_features(e.alert, e.context) for e in catalogue_examples(seed=11)[::5]]
    assert np.abs(loaded.lean.proba_batch(rows) - default_model.lean.proba_batch(rows)).max() < 1e-12
    example = catalogue_examples(seed=11)[0]
    assert load_scorer(path).score(example.alert, example.context) == default_model.scorer().score(
        example.alert, example.context
    )


def test_load_refuses_other_files_and_tampered_coefficients(
    default_model: SeverityModel, tmp_path: Path
) -> None:
    path = save_model(default_model, tmp_path / "model.json")
    document = json.loads(path.read_text())
    document["coef"][0][0] += 1.0
    path.write_text(json.dumps(document))
    with pytest.raises(ArtifactError, match="recorded version"):
        load_model(path)
    (tmp_path / "other.json").write_text('{"format": "something-else"}')
    with pytest.raises(ValueError, match="not a sevbot"):
        load_model(tmp_path / "other.json")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(format_version=1), "unsupported model format version 1"),
        (lambda d: d.update(format_version=99), "unsupported model format version 99"),
        (lambda d: d.pop("coef"), "malformed model artifact: KeyError"),
        (lambda d: d.update(coef=[[1.0, 2.0]]), "do not match"),
        (lambda d: d.update(classes=["SEV1", "SEV9", "SEV3", "SEV4"]), "malformed model artifact"),
        (lambda d: d.update(feature_names=[1, 2]), "feature_names must be a list of strings"),
        (lambda d: d["options"].update(run="os.system"), "malformed model artifact: TypeError"),
        (lambda d: d.update(summary=[]), "options and summary must be objects"),
    ],
)
def test_load_names_what_is_wrong_with_a_malformed_artifact(
    default_model: SeverityModel, tmp_path: Path, change: Any, message: str
) -> None:
    document = json.loads(save_model(default_model, tmp_path / "model.json").read_text())
    change(document)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(document))
    with pytest.raises(ArtifactError, match=message):
        load_model(path)


def test_load_rejects_files_that_are_not_json_objects(tmp_path: Path) -> None:
    for name, text in (("half.json", '{"format": "sevbot-sev'), ("list.json", "[1, 2]")):
        (tmp_path / name).write_text(text)
    with pytest.raises(ArtifactError, match="not JSON"):
        load_model(tmp_path / "half.json")
    with pytest.raises(ArtifactError, match="not a sevbot severity model"):
        load_model(tmp_path / "list.json")
    (tmp_path / "latin1.json").write_bytes(b"\xff\xfe{")
    with pytest.raises(ArtifactError, match="unreadable"):
        load_model(tmp_path / "latin1.json")
    with pytest.raises(ArtifactError, match="unreadable"):
        load_model(tmp_path / "missing.json")


def test_default_scorer_trains_once_then_loads_the_cached_artifact(tmp_path: Path) -> None:
    first = default_scorer(tmp_path)
    artifact = tmp_path / default_artifact_name()
    assert artifact.exists()
    stamp = artifact.stat().st_mtime_ns
    second = default_scorer(tmp_path)
    assert second.version == first.version
    assert artifact.stat().st_mtime_ns == stamp
    assert second.model.pipeline is None  # loaded from the file, not retrained
