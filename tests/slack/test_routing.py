"""Channel routing and silence matching (pure)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.errors import ConfigError
from bot.settings import FileConfig, ServiceConfig, SlackConfig, load_file_config
from bot.slack.routing import ChannelRouter, config_matchers, incident_facts, matches, parse_matcher


def facts(**overrides: str) -> dict[str, str]:
    base = incident_facts(
        labels={"env": "prod", "region": "eu"},
        service="checkout",
        alertname="HighErrors",
        severity="SEV2",
        catalog={"checkout": ServiceConfig(team="payments")},
    )
    return {**base, **overrides}


def test_first_matching_route_wins_else_the_default() -> None:
    config = SlackConfig.model_validate(
        {
            "routes": [
                {"match": {"severity": ["sev1"], "team": "payments"}, "channel": "#payments-sev1"},
                {"match": {"team": "payments"}, "channel": "#payments"},
                {"match": {"region": ["us", "eu"]}, "channel": "#regional"},
            ]
        }
    )
    router = ChannelRouter(config, "#incidents")

    assert facts()["team"] == "payments"  # from the service catalog
    assert router.channel_for(facts(severity="SEV1")) == "#payments-sev1"
    assert router.channel_for(facts()) == "#payments"
    assert router.channel_for(facts(team="storage")) == "#regional"
    assert router.channel_for(facts(team="storage", region="ap")) == "#incidents"
    assert (
        ChannelRouter(SlackConfig(default_channel="#fallback"), "#incidents").channel_for(facts())
        == "#fallback"
    )


def test_silence_matchers_work_like_alertmanagers() -> None:
    assert matches([parse_matcher("service=checkout"), parse_matcher("alertname=~High.*")], facts())
    assert not matches([parse_matcher("service!=checkout")], facts())
    assert matches([parse_matcher("missing!~.+")], facts())  # an absent label is ""
    assert not matches([parse_matcher("alertname=~High")], facts())  # anchored, like Alertmanager
    assert matches(config_matchers({"region": ["us", "eu"]}), facts())
    assert not matches(config_matchers({"region": ["us"]}), facts())


def test_routing_config_is_validated_with_the_key_named(tmp_path: Path) -> None:
    bad = tmp_path / "sevbot.yml"
    bad.write_text("slack:\n  routes:\n    - match: {severity: P1}\n      channel: '#x'\n")
    with pytest.raises(ConfigError, match=r"slack\.routes\.0\.match: .*severity 'P1' is not one of SEV1"):
        load_file_config(bad)
    bad.write_text("slack:\n  routes:\n    - match: {}\n      channel: '#x'\n")
    with pytest.raises(ConfigError, match="needs at least one matcher"):
        load_file_config(bad)
    bad.write_text("silences:\n  - match: {service: checkout}\n    until: tomorrow\n")
    with pytest.raises(ConfigError, match=r"silences\.0\.until"):
        load_file_config(bad)
    assert FileConfig.model_validate({"slack": {"routes": [{"match": {"env": "prod"}, "channel": "C0123"}]}})
