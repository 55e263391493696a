"""Settings, read once at the edge: environment variables (``SEVBOT_*``, :mod:`bot.settings.env`) plus an
optional YAML file (:mod:`bot.settings.file`). Everything else is given values; nothing else reads the env."""

from bot.settings.common import PLACEHOLDER_SECRETS, SOURCES, Duration, parse_duration
from bot.settings.env import Settings, load_settings, secret_env_names, secrets_from_files
from bot.settings.file import (
    FileConfig,
    GroupingConfig,
    RedactionConfig,
    ServiceConfig,
    SilenceConfig,
    SlackAudience,
    SlackConfig,
    SlackPermissions,
    SlackRoute,
    is_notifying,
    load_file_config,
)

__all__ = [
    "PLACEHOLDER_SECRETS",
    "SOURCES",
    "Duration",
    "FileConfig",
    "GroupingConfig",
    "RedactionConfig",
    "ServiceConfig",
    "Settings",
    "SilenceConfig",
    "SlackAudience",
    "SlackConfig",
    "SlackPermissions",
    "SlackRoute",
    "is_notifying",
    "load_file_config",
    "load_settings",
    "parse_duration",
    "secret_env_names",
    "secrets_from_files",
]
