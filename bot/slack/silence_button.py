"""The root message's Silence button (pure; no I/O): silences the incident at its source, after a confirm.

Its own module so the root message's builder (:mod:`bot.slack.blocks`) gains one line for it. The press
is :func:`bot.slack.bolt.button_command` → ``silence`` for ``SEVBOT_SILENCE_DURATION``.
"""

from __future__ import annotations

from typing import Any

ACTION_SILENCE = "incident_silence"


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text, "emoji": True}


def silence_button(value: str) -> dict[str, Any]:
    """The button for incident ``value`` (its id), with Slack's confirmation dialog."""
    return {
        "type": "button",
        "action_id": ACTION_SILENCE,
        "text": _plain("Silence"),
        "value": value,
        "confirm": {
            "title": _plain("Silence this incident?"),
            "text": _plain(
                "Its alerts stop notifying (at their source, Alertmanager or Grafana, when sevbot is set up"
                " for it) for a while; the silence command picks another duration."
            ),
            "confirm": _plain("Silence"),
            "deny": _plain("Cancel"),
        },
    }
