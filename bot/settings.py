"""Settings, read once at the edge: environment variables (``SEVBOT_*``) plus an optional YAML file."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.errors import ConfigError

SOURCES = ("alertmanager", "grafana", "generic")
PLACEHOLDER_SECRETS = frozenset({"changeme", "change-me", "changethis", "secret", "password", "token", "xxx"})

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(value: Any) -> timedelta:
    """``"90s"``, ``"30m"``, ``"1h"``, ``"7d"`` (or a number of seconds) as a timedelta."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=value)
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            return timedelta(seconds=float(match.group(1)) * _UNIT_SECONDS[match.group(2)])
    raise ValueError(f"{value!r} is not a duration such as 90s, 30m, 1h or 7d")


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


class GroupingConfig(BaseModel):
    """How alerts without Alertmanager's groupKey are grouped, and the incident windows."""

    model_config = ConfigDict(extra="forbid")

    # Each entry is a label, or alternatives separated by "|" (the first present one counts).
    by: list[str] = Field(default_factory=lambda: ["alertname", "service|job", "namespace|cluster", "env"])
    reopen_window: Duration = timedelta(minutes=30)
    flap_changes: int = Field(default=6, ge=2)
    flap_window: Duration = timedelta(hours=1)

    @field_validator("by")
    @classmethod
    def _not_empty(cls, value: list[str]) -> list[str]:
        if not value or any(not part.strip() for entry in value for part in entry.split("|")):
            raise ValueError("needs at least one label, and no empty label names")
        return value


class ServiceConfig(BaseModel):
    """One entry of the service catalog."""

    model_config = ConfigDict(extra="forbid")

    owner: str | None = None
    team: str | None = None
    criticality: Literal["critical", "high", "medium", "low"] = "medium"


class FileConfig(BaseModel):
    """What lives in the optional YAML file (``SEVBOT_CONFIG``): the structured settings."""

    model_config = ConfigDict(extra="forbid")

    grouping: GroupingConfig = Field(default_factory=GroupingConfig)
    services: dict[str, ServiceConfig] = Field(default_factory=dict)


def load_file_config(path: Path | None) -> FileConfig:
    """Read and validate the YAML file; a ``ConfigError`` names the file and the offending key."""
    if path is None:
        return FileConfig()
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config file ({exc.strerror})") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from exc
    if raw is None:
        return FileConfig()
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections")
    try:
        return FileConfig.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors())
        raise ConfigError(f"{path}: {problems}") from exc


class Settings(BaseSettings):
    """Every setting sevbot reads, validated in one place. Secrets are ``SecretStr``."""

    model_config = SettingsConfigDict(env_prefix="SEVBOT_", extra="ignore", populate_by_name=True)

    data_dir: Path = Path("data")
    database_url: str | None = None
    config: Path | None = None

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    allow_unauthenticated: bool = False

    webhook_token: SecretStr | None = None
    webhook_token_alertmanager: SecretStr | None = None
    webhook_token_grafana: SecretStr | None = None
    webhook_token_generic: SecretStr | None = None
    max_body_bytes: int = Field(default=1024 * 1024, gt=0)

    worker_in_process: bool = True
    outbox_poll_seconds: float = Field(default=1.0, gt=0)
    log_level: str = "INFO"

    @field_validator(
        "webhook_token", "webhook_token_alertmanager", "webhook_token_grafana", "webhook_token_generic"
    )
    @classmethod
    def _no_placeholder(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        secret = value.get_secret_value()
        if not secret:
            return None
        if secret.lower() in PLACEHOLDER_SECRETS or len(secret) < 8:
            raise ValueError("is a placeholder or shorter than 8 characters; set a real random token")
        return value

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'sevbot.db').resolve()}"

    def webhook_token_for(self, source: str) -> str | None:
        """The token a source must present: its own when set, else the shared one, else none."""
        specific: SecretStr | None = getattr(self, f"webhook_token_{source}")
        chosen = specific or self.webhook_token
        return chosen.get_secret_value() if chosen else None

    def unauthenticated_sources(self) -> list[str]:
        return [source for source in SOURCES if self.webhook_token_for(source) is None]

    def file_config(self) -> FileConfig:
        return load_file_config(self.config)


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment (plus explicit overrides); a ``ConfigError`` names the variable."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"SEVBOT_{'_'.join(str(p) for p in err['loc']).upper()}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(problems) from exc
