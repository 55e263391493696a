"""The ``escalation`` section: defaults, per-level overrides, and refusals that name the key."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from bot.errors import ConfigError
from bot.settings import load_file_config, secrets_from_files
from bot.settings.escalation import EscalationConfig


def load(tmp_path: Path, text: str) -> EscalationConfig:
    path = tmp_path / "sevbot.yaml"
    path.write_text(text, encoding="utf-8")
    return load_file_config(path).escalation


def test_defaults_remind_sev1_after_ten_minutes_and_sev2_after_thirty() -> None:
    config = EscalationConfig()
    assert config.timeout_for("SEV1") == timedelta(minutes=10)
    assert config.timeout_for("SEV2") == timedelta(minutes=30)
    assert config.timeout_for("SEV3") is None and config.timeout_for("SEV4") is None
    assert config.repeat_for("SEV1") == timedelta(minutes=10)  # the repeat defaults to the timeout
    assert config.pages_at("SEV1") == "escalation" and config.pages_at("SEV3") == "never"
    assert config.watched() == ["SEV1", "SEV2"]
    assert config.dedup_key(42) == "sevbot-default-42"


def test_levels_given_replace_their_defaults_one_by_one(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        "escalation:\n  ack_timeout: {sev2: off, SEV3: 2h}\n  repeat: {SEV1: 5m}\n"
        "  page: {SEV3: open}\n  webhook: {url: 'https://hooks.example.com/x'}\n",
    )
    assert config.timeout_for("SEV1") == timedelta(minutes=10)
    assert config.timeout_for("SEV2") is None
    assert config.timeout_for("SEV3") == timedelta(hours=2)
    assert config.repeat_for("SEV1") == timedelta(minutes=5)
    assert config.watched() == ["SEV1", "SEV3"]  # SEV3: reminders, and paging at open with a pager set


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("escalation:\n  ack_timeout: {SEV5: 10m}\n", "'SEV5' is not one of SEV1"),
        ("escalation:\n  ack_timeout: {SEV1: 5s}\n", "between 30s and 7d"),
        ("escalation:\n  ack_timeout: {SEV1: soon}\n", "not a duration"),
        ("escalation:\n  repeat: {SEV3: 10m}\n", "repeat is set for SEV3 but its ack_timeout is off"),
        ("escalation:\n  repeat: {SEV1: off}\n", "repeat for SEV1 must be a duration"),
        ("escalation:\n  page: {SEV1: sometimes}\n", "escalation.page.SEV1"),
        ("escalation:\n  pagerduty: {url: 'ftp://x'}\n", "must be an http(s) URL"),
        ("escalation:\n  install: 'Prod EU'\n", "escalation.install"),
        ("escalation:\n  pager: {}\n", "escalation.pager"),
    ],
)
def test_mistakes_are_refused_naming_the_key(tmp_path: Path, text: str, problem: str) -> None:
    with pytest.raises(ConfigError, match="escalation") as refused:
        load(tmp_path, text)
    assert problem in str(refused.value)


def test_the_pagerduty_routing_key_may_come_from_a_file(tmp_path: Path) -> None:
    secret = tmp_path / "routing-key"
    secret.write_text("R0UTINGKEY0123456789abcdef012345\n", encoding="utf-8")
    found = secrets_from_files({"SEVBOT_PAGERDUTY_ROUTING_KEY_FILE": str(secret)})
    assert found == {"pagerduty_routing_key": "R0UTINGKEY0123456789abcdef012345"}


def test_the_readme_escalation_snippets_are_valid_config(tmp_path: Path) -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Escalation: reminders, pagers and the heartbeat", 1)[1].split("\n## ", 1)[0]
    snippets = [part.split("```", 1)[0] for part in section.split("```yaml\n")[1:]]
    assert len(snippets) == 3
    for number, snippet in enumerate(snippets):
        path = tmp_path / f"snippet-{number}.yaml"
        path.write_text(snippet, encoding="utf-8")
        load_file_config(path)  # raises ConfigError naming the key if the README drifted
