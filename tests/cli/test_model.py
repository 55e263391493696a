"""The severity model in the service: which scorer serves, the registry CLI, feedback → training → scoring,
promotion picked up without a restart, drift in /metrics, and "why" with similar past incidents."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.bootstrap import build_services
from bot.cli import main
from bot.incidents.actions import IncidentActions
from bot.normalize import normalize
from storage.feedback import FeedbackRepository
from storage.incident_reads import IncidentReads
from tests.support.payloads import T0, am_alert, am_payload, body
from tests.support.processes import MODEL_CACHE
from tests.support.settings import make_settings

GROUP_BY = ["alertname", "service|job", "namespace|cluster", "env"]


def ingest(services: Any, *alerts: dict[str, Any], group: str | None = None) -> list[int]:
    batch = normalize("alertmanager", body(am_payload(list(alerts), group_key=group)), GROUP_BY)
    result: list[int] = services.ingestor.ingest(batch).incidents
    return result


@pytest.fixture
def model_env(cli_env: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The CLI's environment with the bundled model serving (not the rule scorer)."""
    monkeypatch.delenv("SEVBOT_SCORER")
    return cli_env


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
    model_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Three incidents of a "critical" alert that people keep downgrading to SEV4.
    replay(model_env, "before", *(noisy(f"host-{i}", 120 * i) for i in range(3)))
    settings = make_settings(model_env / "data", None, scorer="model", model_cache_dir=MODEL_CACHE)
    services = build_services(settings)
    with services.db.write() as conn:
        for incident_id in (1, 2, 3):
            before = IncidentReads(conn).get(incident_id)
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
            at = T0 + timedelta(days=1)  # past incidents: similar-incident search reads resolved ones
            IncidentActions(conn).resolve(incident_id, user="U123", at=at, now=at)
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
    replay(model_env, "after", noisy("host-9", 24 * 60))
    capsys.readouterr()
    assert main(["incidents", "why", "4", "--json"]) == 0
    why = json.loads(capsys.readouterr().out)
    assert (why["severity"], why["model_version"]) == ("SEV4", candidate["version"])
    assert [s["rated"] for s in why["similar"]] == ["SEV4", "SEV4", "SEV4"]

    # It learned the pattern, not "everything is SEV4": a critical checkout outage still pages.
    replay(model_env, "other", am_alert(starts_at=T0 + timedelta(days=1)))
    capsys.readouterr()
    assert main(["incidents", "why", "5", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["severity"] in ("SEV1", "SEV2")

    assert main(["model", "rollback"]) == 1  # nothing was active before it
    assert "nothing to roll back to" in capsys.readouterr().err


def test_promote_refuses_unknown_versions_and_rollback_returns_to_the_previous_model(
    model_env: Path, mixins: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["model", "promote", "sevlr-nope"]) == 1
    assert "no model version 'sevlr-nope'" in capsys.readouterr().err

    # Two different teams' rules: two different models (the same rules give the same model).
    assert main(["model", "train", "--rules", str(mixins / "assets" / "prometheus"), "--promote"]) == 0
    first = capsys.readouterr().out
    assert "promoted (--promote)" in first
    assert main(["model", "train", "--rules", str(mixins / "assets" / "etcd"), "--promote"]) == 0
    capsys.readouterr()
    assert main(["model", "list", "--json"]) == 0
    models = json.loads(capsys.readouterr().out)["models"]
    assert [m["status"] for m in models] == ["active", "retired"]

    assert main(["model", "rollback"]) == 0
    assert f"rolled back to {models[1]['version']}" in capsys.readouterr().out


def test_train_and_evaluate_name_what_is_wrong(
    cli_env: Path, mixins: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["model", "train"]) == 2
    assert "--rules" in capsys.readouterr().err
    assert main(["model", "evaluate", "--rules", str(cli_env / "nowhere")]) == 2
    assert "no such file or folder" in capsys.readouterr().err
    assert main(["model", "evaluate", "--rules", str(mixins), "--folds", "1"]) == 2
    assert "--folds" in capsys.readouterr().err


def test_evaluate_prints_the_model_beside_the_baseline_as_json(
    cli_env: Path, mixins: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = [str(mixins / "assets" / name) for name in ("kubernetes", "prometheus", "node-exporter", "etcd")]
    assert main(["model", "evaluate", "--rules", *rules, "--folds", "3", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    for key in ("n", "macro_f1", "critical_f1", "baseline_macro_f1", "baseline_critical_f1", "per_class"):
        assert key in doc
    assert doc["n"] > 100
    assert 0.0 <= doc["baseline_macro_f1"] <= 1.0 and 0.0 <= doc["macro_f1"] <= 1.0
    assert set(doc["per_class"]) <= {"SEV1", "SEV2", "SEV3", "SEV4"}


def test_the_held_out_check_before_promotion_knows_every_rules_ladder(
    model_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Twins of a ladder share a rule group: the held-out candidate must see the held-out twins' thresholds
    (never their levels), as ``sevbot model evaluate`` does and the model trained on all rules will."""
    import bot.model.training as training

    groups = []
    for topic in ["disk", "memory", "queue", "cache", "socket", "backup", "token", "proxy", "volume", "dns"]:
        rules = [
            {
                "alert": f"{topic.title()}Pressure",
                "expr": f"{topic}_used * 100 > {threshold}",
                "labels": {"severity": word},
            }
            for word, threshold in (("warning", 90), ("critical", 93))
        ]
        rules.append(
            {"alert": f"{topic.title()}Down", "expr": f"{topic}_up == 0", "labels": {"severity": "critical"}}
        )
        groups.append({"name": topic, "rules": rules})
    (tmp_path / "rules.json").write_text(json.dumps({"groups": groups}))  # JSON is YAML
    seen: list[Any] = []
    original = training.team_model

    def spy(examples: Any, *, seed: int, ladders: Any = None) -> Any:
        seen.append(ladders)
        return original(examples, seed=seed, ladders=ladders)

    monkeypatch.setattr(training, "team_model", spy)
    assert main(["model", "train", "--rules", str(tmp_path / "rules.json")]) == 0
    candidate_ladders = seen[0]
    assert candidate_ladders is not None and len(candidate_ladders.rungs) == 10  # all ten, held-out ones too
