"""Redaction: realistic secrets planted in alert labels and annotations never reach the LLM server."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.errors import ConfigError
from bot.llm import redaction
from bot.llm.redaction import Redactor
from bot.settings import load_file_config
from tests.support.clock import Clock
from tests.support.fake_llm import FakeLLM
from tests.support.llm import running_bot
from tests.support.payloads import am_alert

# Shaped like the real thing (right prefixes, lengths and alphabets), made up for these tests.
SECRETS = {
    "openai": "sk-proj-4fT9qLm2Xv8RzB1nK7wYc3HdJ0aPeS6uVgQ5",
    "slack_bot": "xoxb-2718281828-3141592653589-Zr8kWq2mNv5tYb7cLp0sXe4H",
    "github_classic": "ghp_R4nD0mT0k3nV4lu3Xy9Qw2Er7Ty6Ui1Op5As8D",
    "github_fine": "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUV0123",
    "aws": "AKIAZ7Q3N4R5T6Y7U8I9",
    "google": "AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY",
    "jwt": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJzZXZib3QiLCJpYXQiOjE3NjQwMDAwMDB9.q8Zc0fXr4Nw",
    "db_password": "Tr0ub4dor&3xyz",
    "url_password": "s3cr3t-P4ss",
    "bearer": "c2V2Ym90LWJlYXJlci10b2tlbi12YWx1ZS0xMjM0NQ",
    "basic": "YWRtaW46aHVudGVyMg==",
    "email": "oncall.person@example-corp.io",
    "pem_body": "MIIEowIBAAKCAQEA7bq9Xk3vQ2rT8sLmN4pY6wZc1dF0gH5jK8lM2nO3pQ4rS5tU",
    "customer": "CUST-493021",
}


@pytest.fixture
def redaction_config(tmp_path: Path) -> Path:
    path = tmp_path / "sevbot.yaml"
    path.write_text("redaction:\n  patterns:\n    customer_id: 'CUST-\\d{6}'\n", encoding="utf-8")
    return path


def planted_alert() -> dict[str, object]:
    s = SECRETS
    return am_alert(
        "PaymentsDbConnectionErrors",
        service="payments",
        extra_labels={
            "api_token": s["openai"],
            "database_url": f"postgres://payments:{s['url_password']}@db-1.internal:5432/payments",
            "customer": s["customer"],
        },
        annotations={
            "summary": f"payments cannot reach its database; owner {s['email']}",
            "description": (
                f"Last error: password authentication failed (password={s['db_password']}).\n"
                f"Slack notify with {s['slack_bot']};\n"
                f"deploy key {s['github_classic']} and {s['github_fine']};\n"
                f"aws_access_key_id: {s['aws']} google {s['google']}\n"
                f"request headers: Authorization: Bearer {s['bearer']} / Authorization: Basic {s['basic']}\n"
                f"session cookie {s['jwt']}; the client was built with {s['openai']}\n"
                f"-----BEGIN RSA PRIVATE KEY-----\n{s['pem_body']}\n-----END RSA PRIVATE KEY-----"
            ),
            "runbook_url": "https://runbooks.example-corp.io/payments/db",
        },
    )


def test_no_planted_secret_reaches_the_llm_server(
    tmp_path: Path, database_url: str, clock: Clock, llm: FakeLLM, redaction_config: Path
) -> None:
    with running_bot(
        tmp_path, database_url, clock, openai_base_url=llm.base_url, llm_model="m", config=redaction_config
    ) as bot:
        bot.alert(planted_alert())
        bot.run()
        [call] = bot.calls()

    [request] = llm.requests
    sent = request.text
    leaked = [name for name, secret in SECRETS.items() if secret in sent]
    assert leaked == []
    assert "BEGIN RSA PRIVATE KEY" not in sent
    # What was redacted is marked, and what is needed to help is still there.
    for marker in ("private_key", "authorization", "jwt", "url_password", "openai_key", "slack_token"):
        assert f"[REDACTED:{marker}]" in sent, marker
    for marker in (
        "github_token",
        "aws_key",
        "google_key",
        "secret_value",
        "email",
        "customer_id",
        "secret_label",
    ):
        assert f"[REDACTED:{marker}]" in sent, marker
    assert "PaymentsDbConnectionErrors" in sent and "db-1.internal" in sent
    # The stored prompt is the redacted text that was sent.
    assert call.prompt is not None
    assert not [name for name, secret in SECRETS.items() if secret in call.prompt]
    assert request.messages[1]["content"] in call.prompt


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "export OPENAI_API_KEY=sk-abcdefghijklmnopqrstuvwx12",
            "export OPENAI_API_KEY=[REDACTED:openai_key]",
        ),
        (
            "curl -H 'Authorization: Bearer abc.def-ghi_jkl'",
            "curl -H 'Authorization: Bearer [REDACTED:authorization]'",
        ),
        ("amqp://guest:guest@rabbit:5672/", "amqp://guest:[REDACTED:url_password]@rabbit:5672/"),
        ('{"client_secret": "q9w8e7r6t5"}', '{"client_secret": "[REDACTED:secret_value]"}'),
        ("mail jane.doe+ops@corp.example.com now", "mail [REDACTED:email] now"),
        ("token xoxp-1234567890-abcdef", "token [REDACTED:slack_token]"),
    ],
)
def test_redaction_of_common_shapes(text: str, expected: str) -> None:
    assert Redactor()(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "p99 latency 2.3s above 2s on checkout-1:8080 (tokens_in=5, keys=12)",
        "http://prometheus.internal:9090/graph?g0.expr=up",
        "KubePodCrashLooping in namespace payments, pod api-7d9f8",
        "the secret santa party is at 5",
    ],
)
def test_ordinary_alert_text_is_left_alone(text: str) -> None:
    assert Redactor()(text) == text


def test_configured_patterns_are_applied_and_counted() -> None:
    result = Redactor({"host": r"\b[a-z0-9-]+\.corp\.internal\b"}).redact(
        "db-7.corp.internal is down, pw=hunter22"
    )

    assert result.text == "[REDACTED:host] is down, pw=[REDACTED:secret_value]"
    assert result.counts == {"secret_value": 1, "host": 1}


@pytest.mark.parametrize(
    ("pattern", "message"),
    [("'CUST-(\\d'", "not a valid regular expression"), ("'x*'", "matches the empty string")],
)
def test_a_bad_configured_pattern_is_refused_with_its_name(
    tmp_path: Path, pattern: str, message: str
) -> None:
    path = tmp_path / "sevbot.yaml"
    path.write_text(f"redaction:\n  patterns:\n    customer_id: {pattern}\n", encoding="utf-8")

    with pytest.raises(ConfigError, match=f"redaction.patterns.*customer_id.*{message}"):
        load_file_config(path)


# --- linear time, the same redactions ------------------------------------------------------------------
# The two built-in patterns as they were before they were made linear (both quadratic on crafted text).
OLD_SECRET_VALUE = re.compile(
    r"(?i)(?<![A-Za-z0-9])(?:[A-Za-z0-9_.-]*[_.-])?(?:"
    + redaction._SENSITIVE_NAMES
    + r")[\"']?\s*[=:]\s*[\"']?(?P<value>(?!\[REDACTED:)[^\s\"',;}]+)",
    re.DOTALL,
)
OLD_EMAIL = re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b", re.DOTALL)
PIECES = [
    "pass",
    "word",
    "token",
    "api_key",
    "Secret",
    "my",
    "_",
    "-",
    ".",
    "=",
    ": ",
    "'",
    '"',
    "a",
    "1",
    ",",
    " ",
    "\n",
    "[REDACTED:x]",
    "@",
    "x.io",
    "é",
    "%",
    "+",
]


def old_redact(text: str) -> str:
    """What the built-in rules did, with the two old patterns in place of the linear ones."""
    counts: dict[str, int] = {}
    for name, pattern in redaction.BUILTIN_PATTERNS:
        old = {"secret_value": OLD_SECRET_VALUE, "email": OLD_EMAIL}.get(name)
        text = (old or re.compile(pattern, re.DOTALL)).sub(redaction._Marker(name, counts), text)
    return text


@settings(max_examples=600, deadline=None, derandomize=True)
@given(st.lists(st.sampled_from(PIECES), max_size=14).map("".join))
def test_linear_rules_redact_exactly_what_the_old_patterns_did(text: str) -> None:
    assert Redactor()(text) == old_redact(text)


@pytest.mark.parametrize("unit", ["-a", "a.", "x_token", "_a", "a.a@"])
def test_crafted_text_is_redacted_in_one_pass(unit: str) -> None:
    # 64 KiB of each: the old secret_value or email pattern needed minutes for any of these.
    text = unit * (65536 // len(unit)) + " password=hunter2 mail oncall@example.io"

    redacted = Redactor()(text)

    assert redacted.endswith(" password=[REDACTED:secret_value] mail [REDACTED:email]")
