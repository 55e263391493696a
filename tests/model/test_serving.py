"""The severity model in the service: which scorer serves, the registry CLI, feedback → training → scoring,
promotion picked up without a restart, drift in /metrics, and "why" with similar past incidents."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from analytics.artifact import ArtifactError, bundled_model, model_to_bytes
from analytics.model import ModelScorer, SeverityModel
from analytics.scoring import RuleScorer
from analytics.training import train_team_model
from bot.app import create_app
from bot.bootstrap import build_services
from bot.model import serving
from bot.model.rulefiles import load_rule_paths, rule_examples
from bot.model.serving import ModelWatcher, choose_scorer
from bot.normalize import normalize
from storage.incident_reads import IncidentReads
from storage.registry import ModelRepository
from tests.support.clock import Clock
from tests.support.payloads import T0, am_alert, am_payload, body
from tests.support.processes import MODEL_CACHE
from tests.support.settings import LOOPBACK_CLIENT, make_settings

GROUP_BY = ["alertname", "service|job", "namespace|cluster", "env"]


def ingest(services: Any, *alerts: dict[str, Any], group: str | None = None) -> list[int]:
    batch = normalize("alertmanager", body(am_payload(list(alerts), group_key=group)), GROUP_BY)
    result: list[int] = services.ingestor.ingest(batch).incidents
    return result


def test_the_service_scores_with_the_bundled_model_and_says_so(
    tmp_path: Path, database_url: str, clock: Clock
) -> None:
    settings = make_settings(tmp_path, database_url, scorer="model")
    with TestClient(create_app(settings, clock=clock), client=LOOPBACK_CLIENT) as client:
        ready = client.get("/readyz").json()
        assert ready["scorer"]["origin"] == "bundled"
        assert ready["scorer"]["version"].startswith("sevlr-")
        services = client.app.state.services  # type: ignore[attr-defined]
        incident_id = ingest(services, am_alert())[0]
        detail = client.get(f"/api/incidents/{incident_id}").json()
        metrics = client.get("/metrics").text

    alert = detail["alerts"][0]["severity"]
    assert alert["model_version"] == ready["scorer"]["version"]
    assert abs(sum(alert["probabilities"].values()) - 1.0) < 1e-9
    assert alert["level"] == max(alert["probabilities"], key=alert["probabilities"].get)
    assert detail["why"]["model_version"] == ready["scorer"]["version"]
    assert detail["why"]["reasons"], "every model score carries its reasons"
    assert f'sevbot_model_info{{origin="bundled",version="{ready["scorer"]["version"]}"}} 1.0' in metrics


def test_without_a_loadable_model_the_rule_scorer_serves_with_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken() -> ModelScorer:
        raise ArtifactError("analytics/data/bundled-model.json: unsupported model format version 2")

    monkeypatch.setattr(serving, "default_scorer", broken)
    settings = make_settings(tmp_path, None, scorer="model")
    services = build_services(settings)
    try:
        choice = choose_scorer(services.db)
        assert isinstance(services.scorer.current, RuleScorer)
        assert services.scorer.origin == "rules"
        assert services.scorer.warning and "rule scorer" in services.scorer.warning
        assert "unsupported model format version 2" in services.scorer.warning
        assert choice.origin == "rules"
    finally:
        services.close()


@pytest.fixture(scope="module")
def team_model(mixins: Path) -> SeverityModel:
    """A model that is not the bundled one: a team's rule files with the bundled prior (trained once)."""
    rules = rule_examples(load_rule_paths([mixins / "assets" / "prometheus"])).examples
    return train_team_model(rules, prior=bundled_model().content, seed=0)


def test_a_model_promoted_elsewhere_is_picked_up_without_a_restart(
    tmp_path: Path, database_url: str, clock: Clock, team_model: SeverityModel
) -> None:
    model = team_model
    settings = make_settings(tmp_path, database_url, scorer="model", model_cache_dir=MODEL_CACHE)
    services = build_services(settings, clock=clock)
    try:
        bundled = services.scorer.current.version
        assert model.version != bundled
        watcher = ModelWatcher(services.db, services.scorer, MODEL_CACHE)
        assert watcher.check() is False  # nothing promoted: the bundled model stays

        with services.db.write() as conn:  # what `sevbot model promote` does in another process
            repo = ModelRepository(conn)
            repo.add(
                version=model.version,
                artifact=model_to_bytes(model),
                metrics={},
                features=[],
                training_summary={"n_examples": model.summary.n_examples},
                sklearn_version="x",
                now=T0,
            )
            repo.promote(model.version, now=T0)

        assert watcher.check() is True
        assert (services.scorer.current.version, services.scorer.origin) == (model.version, "registry")
        scored = ingest(services, am_alert())
        with services.db.read() as conn:
            assert IncidentReads(conn).get(scored[0]).model_version == model.version  # type: ignore[union-attr]
    finally:
        services.close()
