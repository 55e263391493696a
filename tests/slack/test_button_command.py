"""What a press of the root message's buttons or severity select stands for (button_command)."""

from __future__ import annotations

import pytest

from bot.slack.blocks import ACTION_ACK, ACTION_RESOLVE, ACTION_SEVERITY, ACTION_SILENCE, ACTION_WHY
from bot.slack.commands import Command
from bot.slack.interactions import button_command


@pytest.mark.parametrize(
    ("action_id", "verb"), [(ACTION_ACK, "ack"), (ACTION_RESOLVE, "resolve"), (ACTION_WHY, "why")]
)
def test_a_button_names_its_incident_in_its_value(action_id: str, verb: str) -> None:
    assert button_command({"action_id": action_id, "value": "42", "block_id": "incident:42"}) == Command(
        verb, incident_id=42
    )


def test_the_silence_button_silences_its_incident_for_the_default_duration() -> None:
    assert button_command({"action_id": ACTION_SILENCE, "value": "7"}) == Command(
        "silence", silence_action="incident", incident_id=7
    )


def test_without_a_value_the_actions_block_says_which_incident() -> None:
    assert button_command({"action_id": ACTION_ACK, "block_id": "incident:7"}) == Command(
        "ack", incident_id=7
    )


def test_the_severity_select_carries_the_chosen_level_and_the_block_names_the_incident() -> None:
    action = {"action_id": ACTION_SEVERITY, "block_id": "incident:9", "selected_option": {"value": "SEV2"}}
    assert button_command(action) == Command(
        "sev", incident_id=9, severity="SEV2", text="set from the Slack select"
    )


@pytest.mark.parametrize(
    "action",
    [
        {"action_id": ACTION_SEVERITY, "block_id": "incident:9", "selected_option": {"value": "SEV9"}},
        {"action_id": ACTION_SEVERITY, "block_id": "incident:9"},
        {"action_id": ACTION_ACK, "value": "not-a-number"},
        {"action_id": ACTION_ACK, "value": "-3"},
        {"action_id": ACTION_ACK, "value": "9" * 40},
        {"action_id": ACTION_ACK},
        {"action_id": "someone_elses_button", "value": "1"},
    ],
)
def test_anything_else_does_nothing(action: dict[str, object]) -> None:
    assert button_command(action) is None
