"""The severity model in the service: which scorer serves, the registry CLI, feedback → training → scoring,
promotion picked up without a restart, drift in /metrics, and "why" with similar past incidents."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from analytics.artifact import model_to_bytes
from analytics.model import SeverityModel
from analytics.scoring import RuleScorer
from analytics.training import train_model, training_set
from bot.app import create_app
from bot.bootstrap import build_services
from bot.cli import main
from bot.incidents.explain import explain_incident
from bot.model.rulefiles import load_rule_paths, rule_examples
from bot.model.serving import ModelWatcher, choose_scorer
from bot.normalize import normalize
from storage.feedback import FeedbackRepository
from storage.incidents import IncidentRepository
from storage.registry import ModelRepository
from tests.conftest import Clock, make_settings
from tests.support.payloads import T0, am_alert, am_payload, body
from tests.support.processes import MODEL_CACHE

GROUP_BY = ["alertname", "service|job", "namespace|cluster", "env"]
MIXINS = Path(__file__).resolve().parents[2] / "shared" / "data" / "upstream" / "monitoring-mixins__website"


def ingest(services: Any, *alerts: dict[str, Any], group: str | None = None) -> list[int]:
    batch = normalize("alertmanager", body(am_payload(list(alerts), group_key=group)), GROUP_BY)
    result: list[int] = services.ingestor.ingest(batch).incidents
    return result


def test_the_service_scores_with_the_bundled_model_and_says_so(
    tmp_path: Path, database_url: str, clock: Clock
) -> None:
    settings = make_settings(tmp_path, database_url, scorer="model")
    with TestClient(create_app(settings, clock=clock)) as client:
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


def test_without_a_loadable_model_the_rule_scorer_serves_with_a_warning(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the model cache should be")
    settings = make_settings(tmp_path, None, scorer="model", model_cache_dir=blocker / "models")
    services = build_services(settings)
    try:
        choice = choose_scorer(services.db, blocker / "models")
        assert isinstance(services.scorer.current, RuleScorer)
        assert services.scorer.origin == "rules"
        assert services.scorer.warning and "rule scorer" in services.scorer.warning
        assert choice.origin == "rules"
    finally:
        services.close()


@pytest.fixture(scope="module")
def team_model() -> SeverityModel:
    """A model that is not the bundled one: the catalogue plus a team's rule files (trained once)."""
    rules = rule_examples(load_rule_paths([MIXINS / "assets" / "prometheus"])).examples
    return train_model(training_set(rules=rules), seed=0)


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
            assert IncidentRepository(conn).get(scored[0]).model_version == model.version  # type: ignore[union-attr]
    finally:
        services.close()


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in ("SEVBOT_DATABASE_URL", "SEVBOT_WEBHOOK_TOKEN", "SEVBOT_CONFIG", "SEVBOT_SCORER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SEVBOT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SEVBOT_MODEL_CACHE_DIR", str(MODEL_CACHE))
    return tmp_path


def replay(tmp_path: Path, name: str, *alerts: dict[str, Any]) -> None:
    path = tmp_path / f"{name}.jsonl"
    # One Alertmanager group per alert (its instance), so each opens its own incident.
    lines = [
        {"source": "alertmanager", "payload": am_payload([a], group_key=a["labels"]["instance"])}
        for a in alerts
    ]
    path.write_text("\n".join(json.dumps(line) for line in lines))
    assert main(["replay", str(path)]) == 0


def noisy(instance: str, minutes: int) -> dict[str, Any]:
    return am_alert(
        "BatchQueueLagWarning",
        instance=instance,
        service="reports",
        severity="critical",
        starts_at=T0 + timedelta(minutes=minutes),
        annotations={"summary": "report batch queue is lagging", "description": "lag above 10 minutes"},
    )


def test_feedback_retrains_the_model_to_score_that_pattern_as_people_rated_it(
    cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Three incidents of a "critical" alert that people keep downgrading to SEV4.
    replay(cli_env, "before", *(noisy(f"host-{i}", 120 * i) for i in range(3)))
    settings = make_settings(cli_env / "data", None, scorer="model", model_cache_dir=MODEL_CACHE)
    services = build_services(settings)
    with services.db.write() as conn:
        for incident_id in (1, 2, 3):
            before = IncidentRepository(conn).get(incident_id)
            assert before is not None and before.severity != "SEV4"
            FeedbackRepository(conn).add(
                incident_id=incident_id,
                kind="severity",
                alertname="BatchQueueLagWarning",
                user="U123",
                old_severity=before.severity,
                new_severity="SEV4",
                reason="reports lag is never urgent",
                now=T0 + timedelta(days=1),
            )
    services.close()
    capsys.readouterr()

    assert main(["model", "train", "--feedback"]) == 0
    trained = capsys.readouterr().out
    assert "feedback: 3 corrected incident(s)" in trained
    assert "not promoted" in trained  # three incidents of one pattern: too few to hold any out
    assert main(["model", "list", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    (candidate,) = listing["models"]
    assert candidate["status"] == "candidate" and candidate["training_summary"]["feedback"] == 3

    assert main(["model", "promote", candidate["version"]]) == 0
    replay(cli_env, "after", noisy("host-9", 24 * 60))
    capsys.readouterr()
    assert main(["incidents", "why", "4", "--json"]) == 0
    why = json.loads(capsys.readouterr().out)
    assert (why["severity"], why["model_version"]) == ("SEV4", candidate["version"])
    assert [s["rated"] for s in why["similar"]] == ["SEV4", "SEV4", "SEV4"]

    # It learned the pattern, not "everything is SEV4": a critical checkout outage still pages.
    replay(cli_env, "other", am_alert(starts_at=T0 + timedelta(days=1)))
    capsys.readouterr()
    assert main(["incidents", "why", "5", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["severity"] in ("SEV1", "SEV2")

    assert main(["model", "rollback"]) == 1  # nothing was active before it
    assert "nothing to roll back to" in capsys.readouterr().err


def test_promote_refuses_unknown_versions_and_rollback_returns_to_the_previous_model(
    cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["model", "promote", "sevlr-nope"]) == 1
    assert "no model version 'sevlr-nope'" in capsys.readouterr().err

    rules = MIXINS / "assets" / "prometheus"
    assert main(["model", "train", "--rules", str(rules), "--promote", "--seed", "1"]) == 0
    first = capsys.readouterr().out
    assert "promoted (--promote)" in first
    assert main(["model", "train", "--rules", str(rules), "--promote", "--seed", "2"]) == 0
    capsys.readouterr()
    assert main(["model", "list", "--json"]) == 0
    models = json.loads(capsys.readouterr().out)["models"]
    assert [m["status"] for m in models] == ["active", "retired"]

    assert main(["model", "rollback"]) == 0
    assert f"rolled back to {models[1]['version']}" in capsys.readouterr().out


def test_train_and_evaluate_name_what_is_wrong(cli_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["model", "train"]) == 2
    assert "--rules" in capsys.readouterr().err
    assert main(["model", "evaluate", "--rules", str(cli_env / "nowhere")]) == 2
    assert "no such file or folder" in capsys.readouterr().err
    assert main(["model", "evaluate", "--rules", str(MIXINS), "--folds", "1"]) == 2
    assert "--folds" in capsys.readouterr().err


def test_evaluate_prints_the_model_beside_the_baseline_as_json(
    cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = [str(MIXINS / "assets" / name) for name in ("kubernetes", "prometheus", "node-exporter", "etcd")]
    assert main(["model", "evaluate", "--rules", *rules, "--folds", "3", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    for key in ("n", "macro_f1", "critical_f1", "baseline_macro_f1", "baseline_critical_f1", "per_class"):
        assert key in doc
    assert doc["n"] > 100
    assert 0.0 <= doc["baseline_macro_f1"] <= 1.0 and 0.0 <= doc["macro_f1"] <= 1.0
    assert set(doc["per_class"]) <= {"SEV1", "SEV2", "SEV3", "SEV4"}


def test_why_names_similar_past_incidents_and_how_people_rated_them(services: Any) -> None:
    checkout = ingest(services, am_alert())[0]
    ingest(services, am_alert("DiskFull", service="billing", instance="db-1", severity="warning"))
    with services.db.write() as conn:
        FeedbackRepository(conn).add(
            incident_id=checkout,
            kind="noise",
            alertname="CheckoutHighErrorRate",
            user="U1",
            old_severity="SEV1",
            new_severity=None,
            reason=None,
            now=T0,
        )
    later = ingest(
        services, am_alert(instance="checkout-7:8080", extra_labels={"env": "staging"}), group="g2"
    )[0]
    assert later != checkout
    with services.db.read() as conn:
        why = explain_incident(conn, later)
        assert explain_incident(conn, 999) is None
    assert why is not None
    best = why["similar"][0]
    assert (best["id"], best["rated"]) == (checkout, "noise")
