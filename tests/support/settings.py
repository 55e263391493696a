"""Settings for tests: a fresh data folder, the shared model cache, the worker off unless asked for."""

from __future__ import annotations

from pathlib import Path

from bot.settings import Settings
from tests.support.processes import MODEL_CACHE

# TestClient's peer, as an operator's on the same machine: the read API answers it without a token.
LOOPBACK_CLIENT = ("127.0.0.1", 50000)


def make_settings(tmp_path: Path, database_url: str | None = None, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "data_dir": tmp_path,
        "database_url": database_url,
        "worker_in_process": False,
        # Grouping tests score with the rule scorer (its levels are fixed by the words); tests of the
        # model ask for scorer="model" and share one cached bundled model.
        "scorer": "rules",
        "model_cache_dir": MODEL_CACHE,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]
