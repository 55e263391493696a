"""The optional YAML file (``SEVBOT_CONFIG``): grouping, the service catalog, redaction, Slack routing,
silences and permissions, validated (unknown keys refused; errors name the file and the key)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
)

from analytics.records import Severity
from bot import linear_re
from bot.errors import ConfigError
from bot.settings.common import Duration
from bot.settings.escalation import EscalationConfig, HeartbeatConfig
from bot.yaml_shape import check_shape


class GroupingConfig(BaseModel):
    """How alerts without Alertmanager's groupKey are grouped, and the incident windows."""

    model_config = ConfigDict(extra="forbid")

    # Each entry is a label, or alternatives separated by "|" (the first present one counts).
    by: list[str] = Field(default_factory=lambda: ["alertname", "service|job", "namespace|cluster", "env"])
    reopen_window: Duration = timedelta(minutes=30)
    flap_changes: int = Field(default=6, ge=2)
    flap_window: Duration = timedelta(hours=1)
    # Related incidents (bot.incidents.correlation): by what, and within how long of the story's first.
    related_by: Literal["service", "dependency", "none"] = "service"
    related_window: Duration = timedelta(minutes=10)
    # A flapping incident's resolution draft waits until it has stayed resolved this long.
    stable_after: Duration = timedelta(minutes=15)

    @field_validator("by")
    @classmethod
    def _not_empty(cls, value: list[str]) -> list[str]:
        if not value or any(not part.strip() for entry in value for part in entry.split("|")):
            raise ValueError("needs at least one label, and no empty label names")
        return value


def _slack_mention(value: str | None) -> str | None:
    """A person or group as Slack notifies them: ``U0123``/``W0123`` → ``<@U0123>``, ``S0123`` →
    ``<!subteam^S0123>``; ``<@…>``, ``<!subteam^…>``, ``<!here>`` and ``<!channel>`` are kept. Anything else
    (``@payments-oncall``, a team's name) is shown as text and notifies nobody."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        raise ValueError("must not be empty")
    if re.fullmatch(r"[UW][A-Z0-9]{2,20}", value):
        return f"<@{value}>"
    if re.fullmatch(r"S[A-Z0-9]{2,20}", value):
        return f"<!subteam^{value}>"
    if value.startswith("<") and not re.fullmatch(
        r"<(@[UW][A-Z0-9]{2,20}|!subteam\^S[A-Z0-9]{2,20}|!here|!channel)>", value
    ):
        raise ValueError(f"{value!r} is not a Slack mention like <@U0123>, <!subteam^S0123>, <!here>")
    return value


SlackMention = Annotated[str | None, BeforeValidator(_slack_mention)]


def is_notifying(mention: str | None) -> bool:
    """Whether Slack notifies someone for this mention (a ``@handle`` written as text does not)."""
    return bool(mention) and str(mention).startswith("<")


class ServiceConfig(BaseModel):
    """One entry of the service catalog. ``owner`` is whom escalations and re-notifications mention."""

    model_config = ConfigDict(extra="forbid")

    owner: SlackMention = None
    team: str | None = None
    criticality: Literal["critical", "high", "medium", "low"] = "medium"
    depends_on: list[str] = Field(default_factory=list)  # services this one needs (grouping.related_by)


class RedactionConfig(BaseModel):
    """Extra patterns removed from text before it is sent to an LLM: name → regular expression."""

    model_config = ConfigDict(extra="forbid")

    patterns: dict[str, str] = Field(default_factory=dict)

    @field_validator("patterns")
    @classmethod
    def _compiles(cls, value: dict[str, str]) -> dict[str, str]:
        for name, pattern in value.items():
            if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
                raise ValueError(f"pattern name {name!r} may hold only letters, digits, _ . -")
            why = linear_re.problem(pattern)
            if why is not None:
                raise ValueError(
                    f"pattern {name!r} is not a regular expression RE2 runs ({why}); patterns run on RE2, in"
                    " time linear in the text: no look-around, no back-references"
                )
            if linear_re.compile_linear(pattern).match(""):
                raise ValueError(f"pattern {name!r} matches the empty string")
        return value


SEVERITIES = tuple(level.value for level in Severity)
MatchValue = Annotated[list[str], BeforeValidator(lambda v: [v] if isinstance(v, str | int | float) else v)]


def _check_matchers(value: dict[str, list[str]]) -> dict[str, list[str]]:
    if not value:
        raise ValueError("needs at least one matcher (service, team, severity or any label)")
    for key, allowed in value.items():
        if not key.strip() or not allowed or any(not str(v).strip() for v in allowed):
            raise ValueError(f"matcher {key!r} needs a name and at least one non-empty value")
        if key == "severity" and (bad := [v for v in allowed if str(v).upper() not in SEVERITIES]):
            raise ValueError(f"severity {bad[0]!r} is not one of {', '.join(SEVERITIES)}")
    return {k: [str(v).upper() if k == "severity" else str(v) for v in vs] for k, vs in value.items()}


class SlackRoute(BaseModel):
    """Incidents whose service, team, severity or labels match (every key, any value) go to ``channel``."""

    model_config = ConfigDict(extra="forbid")

    match: dict[str, MatchValue]
    channel: str = Field(min_length=1)
    mention: SlackMention = None  # whom escalations mention when the service's catalog entry names no owner
    _matchers = field_validator("match")(_check_matchers)


class SilenceConfig(BaseModel):
    """A standing silence from the YAML file: matching incidents get no Slack posts until ``until``."""

    model_config = ConfigDict(extra="forbid")

    match: dict[str, MatchValue]
    until: datetime | None = None  # None: until the file changes
    comment: str | None = None
    _matchers = field_validator("match")(_check_matchers)


# Slack ids, as Slack writes them: people U…/W…, user groups S…, channels C…/G… (names can be renamed or
# reused; an id cannot, so permissions take ids only).
SlackUserId = Annotated[str, StringConstraints(pattern=r"^[UW][A-Z0-9]{2,20}$")]
SlackGroupId = Annotated[str, StringConstraints(pattern=r"^S[A-Z0-9]{2,20}$")]
SlackChannelId = Annotated[str, StringConstraints(pattern=r"^[CG][A-Z0-9]{2,20}$")]


class SlackAudience(BaseModel):
    """Who gets one permission level: anyone listed, in a listed group, or asking in a listed channel.

    ``everyone``: every full member of the bot's own workspace; ``admins``: its admins and owners
    (``users.info``'s ``is_admin`` / ``is_owner``). A level written in the file replaces its default whole.
    """

    model_config = ConfigDict(extra="forbid")

    everyone: bool = False
    admins: bool = False
    users: list[SlackUserId] = Field(default_factory=list)
    usergroups: list[SlackGroupId] = Field(default_factory=list)
    channels: list[SlackChannelId] = Field(default_factory=list)


class SlackPermissions(BaseModel):
    """Who may do what in Slack: ``read`` (help, list, show, why, stats, silence list), ``respond`` (ack,
    resolve with a note, summarize, runbook) and ``manage`` (silence, silence removal, severity, noise).

    Each level includes the ones below it. The defaults: every full member of the workspace may read and
    respond; only workspace admins and owners may manage. Guests and external (Slack Connect) people are
    refused unless allowed here; requests from another workspace or enterprise always are.
    """

    model_config = ConfigDict(extra="forbid")

    read: SlackAudience = Field(default_factory=lambda: SlackAudience(everyone=True))
    respond: SlackAudience = Field(default_factory=lambda: SlackAudience(everyone=True))
    manage: SlackAudience = Field(default_factory=lambda: SlackAudience(admins=True))
    allow_guests: bool = False  # multi- and single-channel guests (is_restricted, is_ultra_restricted)
    allow_external: bool = False  # people of another organization in a Slack Connect channel
    cache_ttl: Duration = timedelta(minutes=5)  # how long users, user groups and channels are remembered


class SlackConfig(BaseModel):
    """Channel routing: the first matching route wins, else ``default_channel``, else SEVBOT_SLACK_CHANNEL."""

    model_config = ConfigDict(extra="forbid")

    default_channel: str | None = None
    routes: list[SlackRoute] = Field(default_factory=list)
    permissions: SlackPermissions = Field(default_factory=SlackPermissions)


class FileConfig(BaseModel):
    """What lives in the optional YAML file (``SEVBOT_CONFIG``): the structured settings."""

    model_config = ConfigDict(extra="forbid")

    grouping: GroupingConfig = Field(default_factory=GroupingConfig)
    services: dict[str, ServiceConfig] = Field(default_factory=dict)
    redaction: RedactionConfig = Field(default_factory=RedactionConfig)
    slack: SlackConfig = Field(default_factory=SlackConfig)
    silences: list[SilenceConfig] = Field(default_factory=list)
    escalation: EscalationConfig = Field(default_factory=EscalationConfig)
    heartbeat: HeartbeatConfig = Field(default_factory=HeartbeatConfig)


MAX_CONFIG_BYTES = 8 << 20  # a catalogue of 100,000 services is about 5 MB
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when installed: about 10x faster
MAX_CONFIG_NESTING = 32
MAX_CONFIG_VALUES = 2_000_000  # with YAML aliases expanded


def load_file_config(path: Path | None) -> FileConfig:
    """Read and validate the YAML file; a ``ConfigError`` names the file and the offending key."""
    if path is None:
        return FileConfig()
    try:
        if path.exists() and not path.is_dir() and not path.is_file():
            raise ConfigError(f"{path}: not a regular file (a pipe or a device would never end)")
        with path.open("rb") as file:
            data = file.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config file ({exc.strerror})") from exc
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}: larger than {MAX_CONFIG_BYTES >> 20} MiB: not a config file")
    try:
        raw = yaml.load(data.decode("utf-8"), Loader=_SAFE_LOADER)  # noqa: S506 - a safe loader
        check_shape(raw, max_nesting=MAX_CONFIG_NESTING, max_values=MAX_CONFIG_VALUES)
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start})") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from exc
    except RecursionError as exc:  # PyYAML composes nested nodes recursively
        raise ConfigError(f"{path}: nested deeper than {MAX_CONFIG_NESTING} levels") from exc
    except ValueError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    if raw is None:
        return FileConfig()
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections")
    try:
        return FileConfig.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors())
        raise ConfigError(f"{path}: {problems}") from exc
