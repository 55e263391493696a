"""Channel routing and silence matching (pure)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.errors import ConfigError, MatcherError
from bot.settings import FileConfig, ServiceConfig, SlackConfig, is_notifying, load_file_config
from bot.slack.routing import (
    ChannelRouter,
    config_matchers,
    incident_facts,
    matcher_text,
    matches,
    parse_matcher,
    parse_matchers,
)


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


# --- silence matchers: Alertmanager's syntax, RE2's semantics ------------------------------------------


def test_matchers_take_alertmanagers_syntax_quotes_escapes_and_braces() -> None:
    written = '{service="check out", env=~"prod|eu", alertname!="Watch\\"dog", disk=~Disk.{2}}'

    parsed = parse_matchers(written)

    assert parsed == [
        {"name": "service", "op": "=", "value": "check out"},
        {"name": "env", "op": "=~", "value": "prod|eu"},
        {"name": "alertname", "op": "!=", "value": 'Watch"dog'},
        {"name": "disk", "op": "=~", "value": "Disk.{2}"},
    ]
    assert parse_matchers(" ".join(matcher_text(m) for m in parsed)) == parsed  # shown as it is typed
    assert parse_matchers("service=checkout, env=prod") == parse_matchers("service=checkout env=prod")
    assert matches(
        parse_matchers('service="check out" disk=~Disk.{2}'), facts(service="check out", disk="Disk01")
    )


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("checkout", "is not a matcher"),
        ("=x", "is not a matcher"),
        ("alertname=~(?=Disk)", "invalid perl operator"),  # RE2 has no look-around
        ("alertname=~(a)\\1", "invalid escape"),  # nor back-references
        ("alertname=~(a{100}){100}", "invalid repetition size"),
        ("alertname=~(", "missing )"),
        ('service="open', "does not close"),
        ('service="a\\qb"', "is not an escape"),
        ("service=", "empty value"),
        ("alertname=~" + "a" * 257, "at most 256 characters"),
    ],
)
def test_matchers_sevbot_cannot_run_safely_are_refused_with_the_reason(text: str, problem: str) -> None:
    with pytest.raises(MatcherError, match=re.escape(problem)):
        parse_matchers(text)


def test_a_catastrophic_pattern_for_backtracking_engines_is_just_a_regex_to_re2() -> None:
    # Python's re ran this for more than ten minutes against a 46-character name; RE2 is linear.
    matcher = parse_matcher("alertname=~(.|.)*X")
    name = "a" * 5000

    assert not matches([matcher], facts(alertname=name))
    assert matches([matcher], facts(alertname=name + "X"))


def test_stored_matchers_that_re2_refuses_match_nothing_instead_of_failing() -> None:
    # Silences in the database from before these rules: Python syntax, or far too long.
    stored = [
        [{"name": "alertname", "op": "=~", "value": "(?=High).*"}],
        [{"name": "alertname", "op": "!~", "value": "(a)\\1"}],
        [{"name": "alertname", "op": "=~", "value": "(.|.)*" + "x" * 5000}],
    ]

    assert [matches(m, facts()) for m in stored] == [False, False, False]


def test_the_owner_is_the_catalogs_then_the_routes_mention() -> None:
    config = SlackConfig.model_validate(
        {"routes": [{"match": {"team": "payments"}, "channel": "#payments", "mention": "S0PAY"}]}
    )
    router = ChannelRouter(config, "#incidents")
    catalog = {
        "checkout": ServiceConfig(owner="U0ALICE", team="payments"),
        "cart": ServiceConfig(team="payments"),
    }

    assert router.owner_mention(facts(), catalog) == "<@U0ALICE>"
    assert router.owner_mention(facts(service="cart"), catalog) == "<!subteam^S0PAY>"
    assert router.owner_mention(facts(service="search", team="search"), catalog) is None


@pytest.mark.parametrize(
    ("written", "stored", "notifies"),
    [
        ("U0ALICE", "<@U0ALICE>", True),
        ("S0PAY", "<!subteam^S0PAY>", True),
        ("<!subteam^S0PAY>", "<!subteam^S0PAY>", True),
        ("<!here>", "<!here>", True),
        ("@payments-oncall", "@payments-oncall", False),
    ],
)
def test_owners_are_written_as_slack_notifies_them(written: str, stored: str, notifies: bool) -> None:
    owner = ServiceConfig(owner=written).owner
    assert owner == stored
    assert is_notifying(owner) is notifies


def test_an_owner_that_looks_like_a_mention_but_is_not_one_is_refused() -> None:
    with pytest.raises(ValueError, match="not a Slack mention"):
        ServiceConfig(owner="<@alice>")
