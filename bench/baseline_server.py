"""The bare ceiling for ``bench/ingest.py --baseline``: FastAPI + pydantic + SQLAlchemy Core into SQLite.

A minimal Alertmanager webhook receiver with none of sevbot's work (no normalizing beyond pydantic's
validation, no scoring, grouping, timeline or outbox): each request's alerts are validated by a pydantic
model and inserted in one transaction with one ``executemany``, then answered ``202``. The database gets
the same settings as sevbot's embedded default (WAL, ``synchronous=FULL``, ``BEGIN IMMEDIATE`` writers
serialized by a lock), and uvicorn the same HTTP implementation (httptools), so what the ratio shows is
sevbot's own work per alert.

    .venv/bin/python bench/baseline_server.py --port 8099 --database /tmp/baseline.db
"""

from __future__ import annotations

import argparse
import json
import threading
from datetime import datetime
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel
from sqlalchemy import JSON, Column, DateTime, Engine, Integer, MetaData, String, Table, create_engine, event
from sqlalchemy import insert as sql_insert

metadata = MetaData()
alerts = Table(
    "alerts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("fingerprint", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("alertname", String(200), nullable=False),
    Column("labels", JSON, nullable=False),
    Column("annotations", JSON, nullable=False),
    Column("starts_at", DateTime(timezone=True), nullable=False),
    Column("ends_at", DateTime(timezone=True)),
    Column("generator_url", String(2000)),
)


class Alert(BaseModel):
    status: str
    labels: dict[str, str]
    annotations: dict[str, str] = {}
    startsAt: datetime
    endsAt: datetime | None = None
    generatorURL: str = ""
    fingerprint: str


class Webhook(BaseModel):
    version: str
    groupKey: str
    status: str
    receiver: str
    groupLabels: dict[str, str] = {}
    commonLabels: dict[str, str] = {}
    commonAnnotations: dict[str, str] = {}
    externalURL: str = ""
    truncatedAlerts: int = 0
    alerts: list[Alert]


def make_engine(path: str) -> Engine:
    engine = create_engine(f"sqlite:///{path}", connect_args={"check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    metadata.create_all(engine)
    return engine


def create_app(path: str) -> FastAPI:
    engine = make_engine(path)
    lock = threading.Lock()
    app = FastAPI()

    @app.get("/readyz")
    def ready() -> dict[str, str]:
        return {"status": "ready"}

    @app.get("/metrics")
    def metrics() -> PlainTextResponse:
        return PlainTextResponse("")

    @app.post("/webhooks/alertmanager", status_code=202)
    def receive(payload: Webhook) -> JSONResponse:
        rows = [
            {
                "fingerprint": a.fingerprint,
                "status": a.status,
                "alertname": a.labels.get("alertname", ""),
                "labels": a.labels,
                "annotations": a.annotations,
                "starts_at": a.startsAt,
                "ends_at": a.endsAt if a.endsAt and a.endsAt.year > 1 else None,
                "generator_url": a.generatorURL,
            }
            for a in payload.alerts
        ]
        with lock, engine.begin() as conn:
            conn.execute(sql_insert(alerts), rows)
        return JSONResponse({"accepted": len(rows)}, status_code=202)

    @app.exception_handler(json.JSONDecodeError)
    async def bad_json(_request: Request, exc: json.JSONDecodeError) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=400)

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--database", required=True, help="the SQLite file")
    args = parser.parse_args()
    uvicorn.run(
        create_app(args.database),
        host=args.host,
        port=args.port,
        http="httptools",
        log_level="warning",
        access_log=False,
        timeout_keep_alive=5,
    )


if __name__ == "__main__":
    main()
