"""The environment (``SEVBOT_*`` and the platforms' own names), validated once: every setting sevbot reads."""

from __future__ import annotations

import hmac
import os
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.errors import ConfigError
from bot.settings.common import PLACEHOLDER_SECRETS, SOURCES, Duration
from bot.settings.file import FileConfig, load_file_config


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
    max_body_bytes: int = Field(default=1024 * 1024, gt=0, le=64 * 1024 * 1024)
    # The read API (/api/*, /docs, /openapi.json): without a token it answers loopback clients only.
    api_token: SecretStr | None = None
    metrics_token: SecretStr | None = None  # /metrics asks for it when set (it holds no alert text)

    # Against slow or greedy clients (README, "HTTP API"): connections and tasks `serve` takes at once
    # (more get 503), webhooks that may wait for the database writer (more get 503 with Retry-After), and
    # the seconds a client gets to send its request line and headers.
    limit_concurrency: int = Field(default=256, ge=1, le=100_000)
    max_queued_webhooks: int = Field(default=128, ge=1, le=100_000)
    header_timeout_seconds: float = Field(default=10.0, gt=0, le=300)

    worker_in_process: bool = True
    # With one web process, `sevbot serve` runs that worker as a child process of its own (bot.outbox.child),
    # so deliveries never hold the webhooks' GIL; false: on a thread of the web process.
    worker_process: bool = True
    outbox_poll_seconds: float = Field(default=1.0, gt=0, le=300)
    # How long a worker holds a claimed outbox row before another may take it over. Keep it well above
    # SEVBOT_SLACK_TIMEOUT_SECONDS: a takeover while a post is in flight is the one duplicate left.
    outbox_lease_seconds: float = Field(default=60.0, gt=0, le=86_400)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    log_format: Literal["text", "json"] = "text"  # json: one JSON object a line, context as fields

    # SQLite's PRAGMA synchronous: "full" (default) survives power loss; "normal" is faster and may lose
    # the last acknowledged commits on power loss or an OS crash.
    sqlite_synchronous: Literal["full", "normal", "extra"] = "full"
    # Finished outbox rows and LLM prompts older than this are pruned (0: keep everything).
    retention_days: int = Field(default=30, ge=0, le=36_500)

    # Severity scoring: "model" (the registry's active model, else the bundled one) or "rules" only.
    workers: int = Field(default=1, ge=1, le=64)  # `sevbot serve` web processes sharing the port
    scorer: Literal["model", "rules"] = "model"
    model_cache_dir: Path | None = None  # where the bundled model is cached; default DATA_DIR/models
    model_check_seconds: float = Field(
        default=10.0, gt=0, le=3600
    )  # how often serve looks for a promoted model

    # LLM drafting (bot/llm). Without a key, base URL or Azure endpoint, drafts come from templates.
    openai_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("openai_api_key", "OPENAI_API_KEY")
    )
    openai_base_url: str | None = Field(
        default=None, validation_alias=AliasChoices("openai_base_url", "OPENAI_BASE_URL")
    )
    azure_openai_endpoint: str | None = Field(
        default=None, validation_alias=AliasChoices("azure_openai_endpoint", "AZURE_OPENAI_ENDPOINT")
    )
    azure_openai_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("azure_openai_api_key", "AZURE_OPENAI_API_KEY")
    )
    openai_api_version: str | None = Field(
        default=None, validation_alias=AliasChoices("openai_api_version", "OPENAI_API_VERSION")
    )
    llm_azure_deployment: str | None = None  # defaults to llm_model
    llm_model: str = "gpt-4o-mini"
    llm_timeout_seconds: float = Field(default=20.0, gt=0, le=600)
    llm_max_retries: int = Field(default=2, ge=0, le=10)
    llm_max_output_tokens: int = Field(default=600, gt=0, le=1_000_000)
    llm_context_tokens: int = Field(
        default=2500, ge=200, le=10_000_000
    )  # the grounding's share of the prompt
    llm_calls_per_hour: int = Field(default=60, ge=0, le=10_000_000)
    llm_tokens_per_day: int = Field(default=200_000, ge=0, le=2**31 - 1)
    llm_redraft_interval: Duration = timedelta(minutes=10)
    llm_handoff_seconds: float = Field(default=0.25, ge=0, le=60)
    runbooks_dir: Path | None = None

    # Slack (bot/slack). Without SLACK_BOT_TOKEN, the console sink prints what would be posted.
    slack_bot_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("slack_bot_token", "SLACK_BOT_TOKEN")
    )
    slack_signing_secret: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("slack_signing_secret", "SLACK_SIGNING_SECRET")
    )
    slack_app_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("slack_app_token", "SLACK_APP_TOKEN")
    )
    slack_api_url: str = "https://slack.com/api/"  # an egress proxy, or a stand-in in tests
    slack_timeout_seconds: int = Field(
        default=30, ge=1, le=300
    )  # per Web API call (slack_sdk takes whole seconds)
    slack_channel: str = "#incidents"  # the default channel, by id or name
    slack_command: str = Field(default="/incident", pattern=r"^/[a-z0-9_-]{1,31}$")
    slack_reply_interval: Duration = timedelta(seconds=30)  # at most one "alerts joined" reply per incident
    slack_channel_interval: float = Field(default=1.0, ge=0, le=60)  # seconds between posts to one channel
    slack_sev1_mention: str | None = None  # e.g. "<!here>" or "<!subteam^S0123>"; only on SEV1 root posts
    public_url: str | None = None  # where sevbot's API is reachable, for links in Slack messages

    # Escalation (YAML ``escalation``): the secrets of the pagers it hands incidents to, and how often the
    # ticker looks for incidents waiting unacknowledged and for silent heartbeats.
    pagerduty_routing_key: SecretStr | None = None  # the Events API v2 integration key of a service
    pager_webhook_token: SecretStr | None = None  # sent as "Authorization: Bearer …" to escalation.webhook
    tick_seconds: float = Field(default=15.0, gt=0, le=300)
    # Silences at the source (bot/incidents/silences.py): with Alertmanager's URL, "/incident silence ID"
    # and the Silence button silence an Alertmanager incident in Alertmanager (API v2); with Grafana's URL
    # and a service-account token, a Grafana incident in Grafana's Alertmanager. Without: sevbot-local.
    alertmanager_url: str | None = None  # e.g. http://alertmanager:9093 (with its --web.route-prefix)
    alertmanager_token: SecretStr | None = None  # a bearer token (an authenticating proxy), or …
    alertmanager_username: str | None = None  # … basic auth (Alertmanager's --web.config.file)
    alertmanager_password: SecretStr | None = None
    grafana_url: str | None = None  # e.g. https://grafana.example.com
    grafana_token: SecretStr | None = None  # a service-account token with the silences:write permission
    alertmanager_timeout_seconds: float = Field(default=5.0, gt=0, le=60)  # per call, Grafana's too
    silence_duration: Duration = timedelta(hours=2)  # the Silence button's, and "silence ID" without one

    @field_validator("database_url")
    @classmethod
    def _a_database_sevbot_speaks(cls, value: str | None) -> str | None:
        scheme = (value or "").split("://", 1)[0].split("+", 1)[0].lower()
        if value and scheme not in ("sqlite", "postgresql"):
            raise ValueError(f"must be a sqlite:/// or a postgresql:// URL, not {scheme[:20]}://")
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _level_in_capitals(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator(
        "webhook_token",
        "webhook_token_alertmanager",
        "webhook_token_grafana",
        "webhook_token_generic",
        "api_token",
        "metrics_token",
        "pagerduty_routing_key",
        "pager_webhook_token",
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

    @field_validator("slack_bot_token", "slack_signing_secret", "slack_app_token")
    @classmethod
    def _slack_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        if value.get_secret_value().lower() in PLACEHOLDER_SECRETS:
            raise ValueError("is a placeholder; set the value from your Slack app's settings")
        return value

    @field_validator("alertmanager_token", "alertmanager_password", "grafana_token")
    @classmethod
    def _source_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        if value.get_secret_value().lower() in PLACEHOLDER_SECRETS:
            raise ValueError("is a placeholder; set the real credential")
        return value

    @field_validator("alertmanager_url", "grafana_url")
    @classmethod
    def _base_url(cls, value: str | None) -> str | None:
        if not value:
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL such as http://alertmanager:9093")
        return value.rstrip("/")

    @field_validator("silence_duration")
    @classmethod
    def _silence_length(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0) or value > timedelta(days=30):
            raise ValueError("must be more than 0 and at most 30d")
        return value

    @model_validator(mode="after")
    def _one_alertmanager_auth(self) -> Settings:
        if self.alertmanager_token is not None and (self.alertmanager_username or self.alertmanager_password):
            raise ValueError(
                "SEVBOT_ALERTMANAGER_TOKEN and SEVBOT_ALERTMANAGER_USERNAME/PASSWORD are both set; use one"
            )
        if bool(self.alertmanager_username) != (self.alertmanager_password is not None):
            raise ValueError("SEVBOT_ALERTMANAGER_USERNAME and SEVBOT_ALERTMANAGER_PASSWORD go together")
        if self.grafana_url and self.grafana_token is None:
            raise ValueError("SEVBOT_GRAFANA_URL needs SEVBOT_GRAFANA_TOKEN (a service-account token)")
        return self

    @field_validator("sqlite_synchronous", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _one_token_one_door(self) -> Settings:
        """The API and metrics tokens differ from each other and from every webhook token, so a webhook
        sender's token never reads incidents (sources may share a webhook token among themselves)."""
        doors = {"SEVBOT_API_TOKEN": self.api_token, "SEVBOT_METRICS_TOKEN": self.metrics_token}
        others = {
            "SEVBOT_WEBHOOK_TOKEN": self.webhook_token,
            **{f"SEVBOT_WEBHOOK_TOKEN_{s.upper()}": getattr(self, f"webhook_token_{s}") for s in SOURCES},
        }
        checked: dict[str, SecretStr | None] = {}
        for name, token in doors.items():
            if token is not None:
                for other, value in {**checked, **others}.items():
                    if value is not None and hmac.compare_digest(
                        value.get_secret_value().encode(), token.get_secret_value().encode()
                    ):
                        raise ValueError(f"{name} is the same as {other}; give each its own random token")
            checked[name] = token
        return self

    @field_validator("slack_api_url")
    @classmethod
    def _trailing_slash(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL such as https://slack.com/api/")
        return value if value.endswith("/") else value + "/"

    @property
    def llm_configured(self) -> bool:
        """Whether drafts may go to an LLM (an API key, a compatible base URL or an Azure endpoint)."""
        return bool(self.openai_api_key or self.openai_base_url or self.azure_openai_endpoint)

    @property
    def resolved_model_cache_dir(self) -> Path:
        return self.model_cache_dir or self.data_dir / "models"

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


def secret_env_names(name: str) -> list[str]:
    """The environment variables a setting is read from (its aliases, else ``SEVBOT_<NAME>``)."""
    field = Settings.model_fields[name]
    alias = field.validation_alias
    if isinstance(alias, AliasChoices):
        return [str(choice) for choice in alias.choices if isinstance(choice, str) and choice.isupper()]
    return [f"SEVBOT_{name.upper()}"]


def secrets_from_files(environ: Mapping[str, str]) -> dict[str, str]:
    """Every secret may also come from a file: ``SLACK_BOT_TOKEN_FILE=/run/secrets/slack`` (the Docker and
    Kubernetes convention). The file's content, without a trailing newline, is the value; a variable set
    directly and as a file at once is an error (which one would win is not obvious)."""
    found: dict[str, str] = {}
    for name, field in Settings.model_fields.items():
        if field.annotation not in (SecretStr, SecretStr | None):
            continue
        for env in secret_env_names(name):
            path = environ.get(f"{env}_FILE")
            if not path:
                continue
            if environ.get(env):
                raise ConfigError(f"{env} and {env}_FILE are both set; set one of them")
            found[name] = _secret_file(f"{env}_FILE", Path(path))
    return found


MAX_SECRET_FILE_BYTES = 64 * 1024  # a token or a key; a pipe or /dev/zero never ends


def _secret_file(variable: str, path: Path) -> str:
    """A secret file's text without its trailing newline; ``ConfigError`` naming the variable otherwise."""
    try:
        if path.exists() and not path.is_dir() and not path.is_file():
            raise ConfigError(f"{variable}: {path} is not a regular file")
        with path.open("rb") as file:
            data = file.read(MAX_SECRET_FILE_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"{variable}: cannot read {path} ({exc.strerror})") from exc
    if len(data) > MAX_SECRET_FILE_BYTES:
        raise ConfigError(
            f"{variable}: {path} is larger than {MAX_SECRET_FILE_BYTES // 1024} KiB: not a secret"
        )
    try:
        return data.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError:
        raise ConfigError(f"{variable}: {path} is not UTF-8 text") from None


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment (plus explicit overrides); a ``ConfigError`` names the variable."""
    try:
        return Settings(**{**secrets_from_files(os.environ), **overrides})
    except ValidationError as exc:
        problems = "; ".join(
            f"SEVBOT_{'_'.join(str(p) for p in err['loc']).upper()}: {err['msg']}"
            if err["loc"]
            else str(err["msg"]).removeprefix("Value error, ")
            for err in exc.errors()
        )
        raise ConfigError(problems) from exc
