"""Settings and the YAML file: defaults, per-source tokens, durations, and errors that name the key."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from bot.errors import ConfigError
from bot.settings import Settings, load_file_config, parse_duration


def test_embedded_default_is_a_sqlite_file_under_the_data_dir(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)

    assert settings.resolved_database_url == f"sqlite:///{tmp_path.resolve() / 'sevbot.db'}"
    assert settings.max_body_bytes == 1024 * 1024


def test_a_source_token_takes_precedence_over_the_shared_one() -> None:
    settings = Settings(webhook_token="shared-token-1", webhook_token_grafana="grafana-token-1")

    assert settings.webhook_token_for("grafana") == "grafana-token-1"
    assert settings.webhook_token_for("alertmanager") == "shared-token-1"
    assert settings.unauthenticated_sources() == []


@pytest.mark.parametrize("value", ["changeme", "short"])
def test_placeholder_tokens_are_refused(value: str) -> None:
    with pytest.raises(ValueError, match="placeholder"):
        Settings(webhook_token=value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", timedelta(seconds=90)),
        ("30m", timedelta(minutes=30)),
        ("1.5h", timedelta(hours=1.5)),
        ("7d", timedelta(days=7)),
        (45, timedelta(seconds=45)),
    ],
)
def test_durations(text: object, expected: timedelta) -> None:
    assert parse_duration(text) == expected


def test_file_config_is_read_and_validated(tmp_path: Path) -> None:
    path = tmp_path / "sevbot.yml"
    path.write_text(
        "grouping:\n  by: [alertname, team]\n  reopen_window: 10m\n"
        "services:\n  checkout: {owner: '@payments', criticality: critical}\n",
        encoding="utf-8",
    )

    config = load_file_config(path)

    assert config.grouping.by == ["alertname", "team"]
    assert config.grouping.reopen_window == timedelta(minutes=10)
    assert config.services["checkout"].criticality == "critical"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("grouping:\n  reopen_window: soon\n", "grouping.reopen_window"),
        ("services:\n  checkout: {criticality: extreme}\n", "services.checkout.criticality"),
        ("groupin: {}\n", "groupin"),
        ("grouping: [\n", "not valid YAML"),
        ("- a\n- b\n", "top level must be a mapping"),
    ],
)
def test_file_config_errors_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "sevbot.yml"
    path.write_text(text, encoding="utf-8")

    with pytest.raises(ConfigError, match=message):
        load_file_config(path)


@pytest.mark.parametrize("text", ["99999999999w", "1" * 400 + "d", 1e300, float("nan")])
def test_durations_longer_than_any_timedelta_are_a_value_error_not_an_overflow(text: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)
