"""The Slack app manifest asks for exactly what the app uses, at the URL sevbot serves."""

from __future__ import annotations

import ast
from pathlib import Path

import yaml

from bot.settings import Settings
from bot.slack.capture import SHORTCUT_CALLBACK

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = yaml.safe_load((ROOT / "docs" / "slack-app-manifest.yml").read_text(encoding="utf-8"))


def web_api_methods() -> set[str]:
    """The Web API methods bot/slack calls on its AsyncWebClient (``client.chat_postMessage(...)`` …)."""
    methods: set[str] = set()
    for path in (ROOT / "bot" / "slack").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr.startswith(
                ("chat_", "users_", "usergroups_", "conversations_", "files_", "auth_")
            ):
                methods.add(node.attr)
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and node.value.startswith(("chat_", "conversations_"))
            ):
                methods.add(node.value)
    return methods


def test_the_manifest_matches_the_app() -> None:
    settings = MANIFEST["settings"]
    [command] = MANIFEST["features"]["slash_commands"]
    urls = {
        command["url"],
        settings["event_subscriptions"]["request_url"],
        settings["interactivity"]["request_url"],
    }

    assert command["command"] == Settings().slack_command == "/incident"
    assert {url.split("://", 1)[1].split("/", 1)[1] for url in urls} == {"slack/events"}
    assert settings["event_subscriptions"]["bot_events"] == ["app_mention", "reaction_added"]
    assert MANIFEST["features"]["shortcuts"] == [
        {
            "name": "Add to incident timeline",
            "type": "message",
            "callback_id": SHORTCUT_CALLBACK,
            "description": MANIFEST["features"]["shortcuts"][0]["description"],
        }
    ]
    assert settings["interactivity"]["is_enabled"] is True
    # chat:write covers the chat.* methods, files:write the chart upload; channels:/groups:history and
    # :read the look for an earlier post before posting again; the permission and visibility checks read
    # users (users:read), user groups (usergroups:read) and channels (channels:read and groups:read);
    # auth.test and chat.getPermalink (the thread's link in a SEV1 notice) need no scope. Nothing else is
    # asked for.
    assert web_api_methods() == {
        "chat_postMessage",
        "chat_getPermalink",
        "chat_update",
        "chat_postEphemeral",
        "files_upload_v2",
        "conversations_history",
        "conversations_replies",
        "auth_test",
        "users_info",
        "usergroups_users_list",
        "conversations_info",
        "conversations_list",
    }
    assert sorted(MANIFEST["oauth_config"]["scopes"]["bot"]) == [
        "app_mentions:read",
        "channels:history",
        "channels:read",
        "chat:write",
        "commands",
        "files:write",
        "groups:history",
        "groups:read",
        "reactions:read",
        "usergroups:read",
        "users:read",
    ]
