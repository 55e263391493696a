"""The OpenAPI schema's part that FastAPI cannot infer: the three webhook bodies and sevbot's error shape.

The webhook routes read their bodies themselves (size limit first, then the source's own validation), so
FastAPI sees no body parameter; the bodies are described here from the normalizers' own models, so the
schema says exactly what is accepted. Every 4xx and 503 answer is ``Error``: ``{"error", "fields"}``.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from bot.normalize import alertmanager, generic, grafana

REF = "#/components/schemas/{model}"

ERROR_SCHEMA: dict[str, Any] = {
    "title": "Error",
    "type": "object",
    "properties": {
        "error": {"type": "string", "description": "what is wrong, in words"},
        "fields": {
            "type": "array",
            "description": "each field that is wrong (422 only), dotted: alerts.1.startsAt",
            "items": {
                "type": "object",
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
                "required": ["field", "message"],
            },
        },
    },
    "required": ["error"],
}
ACCEPTED_SCHEMA: dict[str, Any] = {
    "title": "Accepted",
    "type": "object",
    "properties": {
        "accepted": {"type": "integer", "description": "alerts new or resolved by this payload"},
        "duplicates": {"type": "integer", "description": "alerts already known (nothing changed)"},
        "incidents": {"type": "array", "items": {"type": "integer"}, "description": "incidents touched"},
        "opened": {"type": "array", "items": {"type": "integer"}, "description": "incidents opened"},
        "truncated": {"type": "integer", "description": "alerts the sender says it left out"},
    },
    "required": ["accepted", "duplicates", "incidents", "opened", "truncated"],
}

_MODELS: list[type[BaseModel]] = [
    alertmanager.AMPayload,
    grafana.GrafanaPayload,
    generic.GenericAlert,
    generic.GenericBatch,
]
_BODIES: dict[str, dict[str, Any]] = {
    "alertmanager": {"$ref": REF.format(model="AMPayload")},
    "grafana": {"$ref": REF.format(model="GrafanaPayload")},
    "generic": {
        "anyOf": [{"$ref": REF.format(model="GenericAlert")}, {"$ref": REF.format(model="GenericBatch")}]
    },
}
_SUMMARIES = {
    "alertmanager": "Alertmanager's webhook payload (version 4)",
    "grafana": "Grafana unified alerting's webhook payload",
    "generic": 'One alert in sevbot\'s generic shape, or {"alerts": [...]}',
}


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": REF.format(model="Error")}}},
    }


def error_responses() -> dict[int | str, dict[str, Any]]:
    return {
        400: _error("not JSON, not UTF-8, or nested deeper than the parser reads"),
        401: _error("missing or wrong token for this source"),
        408: _error("the body did not arrive in time"),
        413: _error("the body is larger than SEVBOT_MAX_BODY_BYTES"),
        422: _error("the wrong shape, a value out of range, or more alerts or labels than the limits"),
        503: _error("nothing was written; retry (Retry-After says when)"),
    }


def webhook_openapi(source: str) -> dict[str, Any]:
    """Route settings for ``POST /webhooks/{source}``: its summary, request body and answers."""
    return {
        "summary": _SUMMARIES[source],
        "description": "202 only after the commit: a 202 is durable; any other answer wrote nothing.",
        "responses": {
            202: {
                "description": "committed",
                "content": {"application/json": {"schema": {"$ref": REF.format(model="Accepted")}}},
            },
            **error_responses(),
        },
        "requestBody": {"required": True, "content": {"application/json": {"schema": _BODIES[source]}}},
    }


def definitions() -> dict[str, Any]:
    """The component schemas the webhook bodies refer to, plus ``Error`` and ``Accepted``."""
    _, top = models_json_schema([(model, "validation") for model in _MODELS], ref_template=REF)
    return {**top.get("$defs", {}), "Error": ERROR_SCHEMA, "Accepted": ACCEPTED_SCHEMA}


def install(app: FastAPI) -> None:
    """Add the definitions to the app's schema, and document every 422 as ``Error`` (sevbot's shape)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components.update(definitions())
            for operations in schema.get("paths", {}).values():
                for operation in operations.values():
                    responses = operation.get("responses", {})
                    if "422" in responses:
                        responses["422"] = _error(responses["422"].get("description", "invalid request"))
            for name in ("HTTPValidationError", "ValidationError"):
                components.pop(name, None)
            return schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
