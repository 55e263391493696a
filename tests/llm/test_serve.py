"""As ``sevbot serve`` runs it: the in-process worker drafts after the incident is posted, unprompted."""

from __future__ import annotations

import threading
from pathlib import Path

from fastapi.testclient import TestClient

from bot.app import create_app
from bot.outbox.console import ConsoleSink
from tests.support.fake_llm import FakeLLM
from tests.support.payloads import am_alert, am_payload, body
from tests.support.settings import LOOPBACK_CLIENT, make_settings


def test_the_in_process_worker_posts_the_incident_then_its_draft(tmp_path: Path, llm: FakeLLM) -> None:
    lines: list[str] = []
    drafted = threading.Event()

    def write(text: str) -> None:
        lines.append(text)
        if "AI draft (served-model)" in text:
            drafted.set()

    settings = make_settings(
        tmp_path,
        f"sqlite:///{tmp_path / 'sevbot.db'}",
        worker_in_process=True,
        openai_base_url=llm.base_url,
        llm_model="served-model",
    )
    with TestClient(create_app(settings, sink=ConsoleSink(write)), client=LOOPBACK_CLIENT) as client:
        response = client.post("/webhooks/alertmanager", content=body(am_payload([am_alert()])))
        assert response.status_code == 202
        assert drafted.wait(30), lines
        drafts = client.get("/api/incidents/1").json()["drafts"]

    assert lines[0].startswith("[slack] NEW INCIDENT #1")
    assert "AI draft (served-model) · summary" in lines[-1]
    assert [(d["source"], d["model"]) for d in drafts] == [("llm", "served-model")]
    assert len(llm.requests) == 1
