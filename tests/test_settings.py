"""Settings and the YAML file: defaults, per-source tokens, durations, and errors that name the key."""

from __future__ import annotations

import os
import time
from datetime import timedelta
from pathlib import Path

import pytest

from bot.errors import ConfigError
from bot.settings import Settings, load_file_config, load_settings, parse_duration


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


def test_every_secret_can_come_from_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "slack").write_text("xoxb-from-a-file\n", encoding="utf-8")
    (tmp_path / "webhook").write_text("webhook-token-from-a-file", encoding="utf-8")
    monkeypatch.setenv("SLACK_BOT_TOKEN_FILE", str(tmp_path / "slack"))
    monkeypatch.setenv("SEVBOT_WEBHOOK_TOKEN_FILE", str(tmp_path / "webhook"))
    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    monkeypatch.delenv("SEVBOT_WEBHOOK_TOKEN", raising=False)

    settings = load_settings()

    assert settings.slack_bot_token is not None
    assert settings.slack_bot_token.get_secret_value() == "xoxb-from-a-file"  # the newline dropped
    assert settings.webhook_token_for("grafana") == "webhook-token-from-a-file"


def test_a_secret_file_that_cannot_be_read_or_is_set_twice_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY_FILE", str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match="OPENAI_API_KEY_FILE: cannot read"):
        load_settings()
    (tmp_path / "key").write_text("sk-from-file", encoding="utf-8")
    monkeypatch.setenv("OPENAI_API_KEY_FILE", str(tmp_path / "key"))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-direct")
    with pytest.raises(ConfigError, match="OPENAI_API_KEY and OPENAI_API_KEY_FILE are both set"):
        load_settings()


@pytest.mark.parametrize("text", ["99999999999w", "1" * 400 + "d", 1e300, float("nan")])
def test_durations_longer_than_any_timedelta_are_a_value_error_not_an_overflow(text: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def test_alertmanager_and_grafana_credentials_come_from_files_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "am").write_text("am-bearer-from-a-file\n", encoding="utf-8")
    (tmp_path / "grafana").write_text("glsa_from_a_file", encoding="utf-8")
    monkeypatch.setenv("SEVBOT_ALERTMANAGER_URL", "http://alertmanager:9093/")
    monkeypatch.setenv("SEVBOT_ALERTMANAGER_TOKEN_FILE", str(tmp_path / "am"))
    monkeypatch.setenv("SEVBOT_GRAFANA_URL", "https://grafana.example.com")
    monkeypatch.setenv("SEVBOT_GRAFANA_TOKEN_FILE", str(tmp_path / "grafana"))

    settings = load_settings()

    assert settings.alertmanager_url == "http://alertmanager:9093"
    assert settings.alertmanager_token is not None
    assert settings.alertmanager_token.get_secret_value() == "am-bearer-from-a-file"
    assert settings.grafana_token is not None
    assert settings.grafana_token.get_secret_value() == "glsa_from_a_file"
    assert settings.silence_duration == timedelta(hours=2)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"alertmanager_url": "alertmanager:9093"}, "SEVBOT_ALERTMANAGER_URL: .*http"),
        (
            {"alertmanager_token": "tok-123456", "alertmanager_username": "u", "alertmanager_password": "p"},
            "both set; use one",
        ),
        ({"alertmanager_username": "sevbot"}, "go together"),
        ({"grafana_url": "https://grafana.example.com"}, "needs SEVBOT_GRAFANA_TOKEN"),
        ({"alertmanager_token": "changeme"}, "SEVBOT_ALERTMANAGER_TOKEN: .*placeholder"),
        ({"silence_duration": "45d"}, "SEVBOT_SILENCE_DURATION: .*at most 30d"),
    ],
)
def test_alertmanager_settings_that_cannot_work_are_refused(values: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(**values)


def test_related_incidents_are_configured_in_grouping_and_the_catalog(tmp_path: Path) -> None:
    from bot.bootstrap import relation_from

    path = tmp_path / "sevbot.yml"
    path.write_text(
        "grouping: {related_by: dependency, related_window: 5m, stable_after: 20m}\n"
        "services: {search: {depends_on: [search-db]}, search-db: {}}\n",
        encoding="utf-8",
    )
    config = load_file_config(path)
    relation = relation_from(config)
    assert (relation.by, relation.window) == ("dependency", timedelta(minutes=5))
    assert relation.services_of("search-db") == {"search", "search-db"}
    assert config.grouping.stable_after == timedelta(minutes=20)

    path.write_text("grouping: {related_by: team}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="related_by"):
        load_file_config(path)


# From a probe of the command line and the configuration (each was a traceback, a hang, a crash loop of
# the worker or a 503 for every webhook after a clean start).


def _bomb(levels: int) -> str:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, levels)]
    return (
        "x-anchors:\n"
        + "\n".join("  " + line for line in lines)
        + f"\ngrouping:\n  reopen_window: *a{levels - 1}\n"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (_bomb(9), "values with YAML aliases expanded"),
        ("grouping:\n  reopen_window: " + "[" * 5000 + "]" * 5000 + "\n", "nest(ed|ing) depth|nested deeper"),
        ("grouping:\n  reopen_window: &a [*a]\n", "a YAML alias refers to the value that holds it"),
    ],
)
def test_a_config_file_that_would_never_end_is_refused_at_once(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "sevbot.yaml"
    path.write_text(text, encoding="utf-8")
    started = time.monotonic()
    with pytest.raises(ConfigError, match=message):
        load_file_config(path)
    assert time.monotonic() - started < 10.0  # generous: milliseconds; the bomb's repr took minutes


def test_a_config_file_that_is_a_pipe_not_utf8_or_too_large_is_named(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.yaml")
    with pytest.raises(ConfigError, match="not a regular file"):
        load_file_config(tmp_path / "pipe.yaml")
    (tmp_path / "latin1.yaml").write_bytes("grouping: {}\n# caf\xe9\n".encode("latin-1"))
    with pytest.raises(ConfigError, match="not UTF-8 text"):
        load_file_config(tmp_path / "latin1.yaml")
    (tmp_path / "huge.yaml").write_bytes(b"#" * (9 << 20))
    with pytest.raises(ConfigError, match="larger than 8 MiB"):
        load_file_config(tmp_path / "huge.yaml")


@pytest.mark.parametrize(
    ("value", "message"),
    [("3000000d", "longer than 36500 days"), (-5, "negative duration"), (-1.5, "negative duration")],
)
def test_a_window_that_no_clock_can_hold_or_negative_is_refused(
    tmp_path: Path, value: object, message: str
) -> None:
    # 3000000d loaded, then every resolve answered 503 (OverflowError) for good
    path = tmp_path / "sevbot.yaml"
    path.write_text(f"grouping:\n  flap_window: {value}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=f"grouping.flap_window.*{message}"):
        load_file_config(path)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SEVBOT_OUTBOX_LEASE_SECONDS", "inf"),  # the worker child crash-looped while /readyz said ok
        ("SEVBOT_OUTBOX_LEASE_SECONDS", "1e300"),
        ("SEVBOT_HEADER_TIMEOUT_SECONDS", "inf"),  # turned the 408 for half-sent requests off
        ("SEVBOT_OUTBOX_POLL_SECONDS", "inf"),
        ("SEVBOT_RETENTION_DAYS", "1000000"),  # every retention pass an OverflowError
    ],
)
def test_settings_beyond_what_sevbot_can_run_are_refused_naming_them(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=name):
        load_settings()


def test_log_levels_database_urls_and_secret_files_sevbot_cannot_use_are_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SEVBOT_LOG_LEVEL", "debug")
    assert load_settings().log_level == "DEBUG"
    monkeypatch.setenv("SEVBOT_LOG_LEVEL", "bogus")  # was a ValueError traceback from logging
    with pytest.raises(ConfigError, match="SEVBOT_LOG_LEVEL"):
        load_settings()
    monkeypatch.delenv("SEVBOT_LOG_LEVEL")
    monkeypatch.setenv("SEVBOT_DATABASE_URL", "mysql://u@h/db")  # was a ModuleNotFoundError traceback
    with pytest.raises(
        ConfigError, match=r"SEVBOT_DATABASE_URL.*sqlite:/// or a postgresql:// URL, not mysql"
    ):
        load_settings()
    monkeypatch.delenv("SEVBOT_DATABASE_URL")
    os.mkfifo(tmp_path / "pipe")  # the read waited for a writer for ever
    (tmp_path / "binary").write_bytes(b"\xff\xfe\x00token")
    for path, message in (
        (tmp_path / "pipe", "is not a regular file"),
        (tmp_path / "binary", "is not UTF-8"),
    ):
        monkeypatch.setenv("SEVBOT_WEBHOOK_TOKEN_FILE", str(path))
        with pytest.raises(ConfigError, match=f"SEVBOT_WEBHOOK_TOKEN_FILE: .* {message}"):
            load_settings()
