"""Redaction: realistic secrets planted in alert labels and annotations never reach the LLM server."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.errors import ConfigError
from bot.llm import redaction
from bot.llm.redaction import BUILTIN_PATTERNS, Redactor
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


def test_a_configured_pattern_that_backtracks_in_re_runs_in_linear_time() -> None:
    """A pattern a team would write, which ``re`` backtracks on (0.8 s on 25 characters, doubling with
    every two more): team patterns run on RE2, so a label value of any length is redacted at once."""
    redactor = Redactor({"host": r"\b(?:[a-z0-9]+-?)+\.corp\.internal\b"})
    started = time.perf_counter()
    assert redactor.redact("a" * 100_000 + "!").counts == {}
    assert time.perf_counter() - started < 5.0
    assert redactor("db-7.corp.internal failed") == "[REDACTED:host] failed"
    assert Redactor({"key": r"key=(?P<value>\w+)"})("key=abc1 left") == "key=[REDACTED:key] left"


def test_an_address_that_starts_with_punctuation_is_redacted() -> None:
    # The linear e-mail search tried only the first word boundary, after the '-', where the look-behind
    # cannot match: these went to the LLM as they were.
    for text in ("--alice@example.com", ".bob@corp.io", "+carol@ex.org", "(-dave@ex.org) wrote", "%x@ex.org"):
        assert "@" not in Redactor()(text), text
        assert Redactor()(text) == re.sub(dict(BUILTIN_PATTERNS)["email"], "[REDACTED:email]", text)


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("'CUST-(\\d'", "not a regular expression RE2 runs"),
        ("'(?<=id=)CUST-\\d+'", "not a regular expression RE2 runs .*no look-around"),
        ("'x*'", "matches the empty string"),
    ],
)
def test_a_bad_configured_pattern_is_refused_with_its_name(
    tmp_path: Path, pattern: str, message: str
) -> None:
    path = tmp_path / "sevbot.yaml"
    path.write_text(f"redaction:\n  patterns:\n    customer_id: {pattern}\n", encoding="utf-8")

    with pytest.raises(ConfigError, match=f"redaction.patterns.*customer_id.*{message}"):
        load_file_config(path)


# One planted example of each kind that alerts carry (issue 14, item 9); shaped like the real thing, made
# up for these tests. Each case: (where it appears in an alert's description, the secret itself).
KINDS: dict[str, tuple[str, str]] = {
    "pgpassword": ("PGPASSWORD={} psql -h db-3 -U app", "Zx9kLm2Qp7"),
    "redis_no_user": ("redis://:{}@cache-1:6379/0 refused", "R3disPa55w0rd"),
    "url_password_slash_at": ("postgres://app:{}@db-2:5432/app timed out", "pa/ss@w0rd!"),
    "azure_account_key": (
        "DefaultEndpointsProtocol=https;AccountName=prodlogs;AccountKey={};EndpointSuffix=core.windows.net",
        "q8Zr3N+vT1mK5yB0pW9sX2cF7hJ4dL6gA1eR3tY5uI8oP0aS2dF4gH6jK8lZ0xC9vB7nM5==",
    ),
    "azure_shared_access_key": (
        "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=Root;SharedAccessKey={}",
        "Xy7Kp2Lm9Qr4St6Uv8Wx0Yz1Ab3Cd5Ef7Gh9Ij2Kl4=",
    ),
    "azure_sas_sig": (
        "GET https://prodlogs.blob.core.windows.net/logs?sv=2022-11-02&sp=r&se=2026-12-01&sig={} 403",
        "Jk3%2Bq9Zr4Lm7Xv2Np8Tb5Wc1Hd6Yf0Ge3Sa9Kq4Rt2%3D",
    ),
    "authorization_apikey": ("upstream said 401 to 'Authorization: ApiKey {}'", "dGVzdDprZXk6MTIzNDU2"),
    "authorization_token": ("request had Authorization: Token {} (rejected)", "9f8e7d6c5b4a"),
    "short_bearer": ("curl -H 'Authorization: Bearer {}' failed", "x7Kp2q"),
    "kubeconfig_client_key": (
        "kubeconfig users[0].user client-key-data: {}",
        "LS0tLS1CRUdJTiBSU0EgUFJJVkFURSBLRVktLS0tLQpNSUlFb3dJQkFBS0NBUUVB",
    ),
    "docker_auth": (
        'config.json: {{"auths": {{"registry.example.io": {{"auth": "{}"}}}}}}',
        "ZGVwbG95OnMzY3IzdC10MGszbg==",
    ),
    "kube_bootstrap_token": ("kubeadm join 10.0.0.1:6443 --token {} failed", "7f3k9q.x2m8v4b6n1c5z0la"),
    "slack_app_token": (
        "socket mode with {} lost",
        "xapp-1-A0SEVBOT12-4827163059214-9c1e7b3a5d2f8e6c4b0a7d9f3e5c1b8a6d4f2e0c9b7a5d3f1e8c6b4a2d0f9e7c",
    ),
    "npm": ("npm ERR! publish with {} denied", "npm_Xk7Qm2Lp9Rv4Tz6Wb1Yd8Nf3Hs5Jc0Ga7Ke2"),
    "pypi": (
        "twine upload -p {} got 403",
        "pypi-AgEIcHlwaS5vcmcCJGY0ZTk2MTc3LTg1ZDMtNDFlNS1iY2QwLTk0ZWI1ZjQ5ODJmZAACKlszLCJiNzQ2",
    ),
    "sendgrid": (
        "mailer key {} over quota",
        "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",
    ),
    "twilio": ("sms via {} failed", "SK8f2d6c1a9b7e4f3c5d0a2b6e8c4f1d7a"),
    "hugging_face": ("model pull with {} was rate limited", "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"),
    "vault": ("vault login {} expired", "hvs.CAESIJq7vX3mZ9kR2pT5wL8nB4cY6dF1gH0jK3sQ7eA"),
    "gitlab_runner": ("runner registered with {} is offline", "glrt-t3_Xy9zKq2Wm5Rn8Bv4Lc7D"),
    "stripe_webhook_secret": ("signature check with {} failed", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
    "discord_webhook": (
        "notify https://discord.com/api/webhooks/112233445566778899/{} returned 429",
        "Kq8Zr3NvT1mK5yB0pW9sX2cF7hJ4dL6gA1eR3tY5uI8oP0aS2dF4gH6jK8lZ0xC9v",
    ),
    "set_cookie_session": (
        "response had Set-Cookie: JSESSIONID={}; Path=/; HttpOnly",
        "9A8B7C6D5E4F3A2B1C0D",
    ),
    "password_is": ("ops note: the admin password is {} until Friday", "Sunflower!2024"),
    "quoted_password_with_spaces": ('db config password="{}" rejected', "correct horse battery staple"),
}


def kind_alerts() -> list[dict[str, object]]:
    """One alert per kind, in one incident: its description holds the case name and the planted secret."""
    return [
        am_alert(
            f"LeakCase{n:02d}",
            instance=f"case-{n:02d}",
            annotations={"summary": f"case-{n:02d} {kind}", "description": text.format(secret)},
        )
        for n, (kind, (text, secret)) in enumerate(KINDS.items())
    ]


def pieces(secret: str) -> list[str]:
    """The secret, and each word of it when it has spaces (half a passphrase is still a leak)."""
    return [secret, *(word for word in secret.split() if len(word) >= 5)]


def test_every_kind_of_secret_alerts_carry_is_kept_from_the_llm_and_its_record(
    tmp_path: Path, sqlite_url: str, clock: Clock, llm: FakeLLM
) -> None:
    with running_bot(
        tmp_path, sqlite_url, clock, openai_base_url=llm.base_url, llm_model="m", llm_context_tokens=20_000
    ) as bot:
        bot.alert(*kind_alerts(), group_key="one-incident")
        bot.run()
        calls = bot.calls()

    [request] = llm.requests
    sent = "\n".join(str(m["content"]) for m in request.messages)
    stored = "\n".join(call.prompt or "" for call in calls)
    # Every case reached the LLM (so nothing passed for being cut off), none with its secret.
    assert [kind for n, kind in enumerate(KINDS) if f"case-{n:02d}" not in sent] == []
    assert [kind for kind, (_, secret) in KINDS.items() if any(p in sent for p in pieces(secret))] == []
    assert [kind for kind, (_, secret) in KINDS.items() if any(p in stored for p in pieces(secret))] == []
    assert stored and "db-3" in sent and "cache-1:6379" in sent  # what helps stays


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("PGPASSWORD=Zx9kLm2Qp7 psql", "PGPASSWORD=[REDACTED:secret_value] psql"),
        ("redis://:R3disPa55w0rd@cache-1:6379/0", "redis://:[REDACTED:url_password]@cache-1:6379/0"),
        ("postgres://app:pa/ss@w0rd!@db-2/app", "postgres://app:[REDACTED:url_password]@db-2/app"),
        ("Authorization: Bearer x7Kp2q", "Authorization: Bearer [REDACTED:authorization]"),
        ('"Authorization": "Token abc"', '"Authorization": "Token [REDACTED:authorization]"'),
        ('password="correct horse"', 'password="[REDACTED:secret_value]"'),
        ("the password is Sunflower!2024 ok", "the password is [REDACTED:secret_value] ok"),
        ("Set-Cookie: PHPSESSID=9A8B7C6D; Path=/", "Set-Cookie: PHPSESSID=[REDACTED:cookie]; Path=/"),
        ("--token 7f3k9q.x2m8v4b6n1c5z0la", "--token [REDACTED:kube_token]"),
    ],
)
def test_redaction_of_the_shapes_alerts_carry(text: str, expected: str) -> None:
    assert Redactor()(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "the password is wrong for user app",
        "bypass=true on the cache",
        "the bearer of the news: disk 91% full",
        "https://grafana.internal:3000/d/abc?orgId=1",
    ],
)
def test_words_near_secrets_are_not_secrets(text: str) -> None:
    assert Redactor()(text) == text


# Texts built to make a backtracking regex engine go quadratic: long runs of the characters the rules
# repeat over, and their key words again and again with no end to the match.
ADVERSARIAL_UNITS = (
    "a", "a.", "a-", "a_", "-a", "a1_.", "=", ":", " ", "\t", "://", "://a:", "@a", "a@", "a=b;", "x-",
    "eyJ-", "eyJa", "bearer ", "Authorization: ", "password is ", "PGPASSWORD", "sess", "session_id",
    "-----BEGIN PRIVATE KEY-----", '"auth": "', "password='a", "a:/@=\"' ", "Set-Cookie: a=", "sig=",
    "hvs.", "SG.", "client-key-data: ", "https://discord.com/api/webhooks/1/",
)  # fmt: skip
SIZE = 100_000
# The original key=value rule is made linear by another change (issue 14, item 5); until it lands it is
# left out here. The filter matches only that rule's old text, so it lapses by itself once it is replaced.
_QUADRATIC_BEFORE_ITEM_5 = "(?:[A-Za-z0-9_.-]*[_.-])?"


def adversarial_texts() -> dict[str, str]:
    texts = {unit: (unit * (SIZE // len(unit) + 1))[:SIZE] for unit in ADVERSARIAL_UNITS}
    texts["bearer, then spaces"] = "bearer" + " " * SIZE
    texts["a long e-mail local part"] = "a" * SIZE + "@"
    return texts


def test_every_rule_finishes_in_linear_time_on_hostile_text() -> None:
    """Each rule on each 100 KB text: about 1-100 ms when linear, minutes when quadratic. The bound is
    generous (over ten times the slowest linear case measured) so that a loaded machine does not fail it."""
    slow = []
    for name, pattern in BUILTIN_PATTERNS:
        if _QUADRATIC_BEFORE_ITEM_5 in pattern:
            continue
        rule = re.compile(pattern, re.DOTALL)
        for unit, text in adversarial_texts().items():
            started = time.perf_counter()
            rule.sub("x", text)
            elapsed = time.perf_counter() - started
            if elapsed > 2.0:
                slow.append((name, unit, round(elapsed, 2)))
    assert slow == []


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
def test_linear_rules_redact_at_least_what_the_old_patterns_did(text: str) -> None:
    # The rules added since (issue 14's kinds) redact more, never less: every secret the old quadratic
    # patterns removed is removed, and nothing the old patterns kept is a new marker of the old kinds only.
    new, old = Redactor()(text), old_redact(text)
    assert new.count("[REDACTED:") >= old.count("[REDACTED:")
    if old == text:
        return
    assert new != text


@pytest.mark.parametrize("unit", ["-a", "a.", "x_token", "_a", "a.a@"])
def test_crafted_text_is_redacted_in_one_pass(unit: str) -> None:
    # 64 KiB of each: the old secret_value or email pattern needed minutes for any of these.
    text = unit * (65536 // len(unit)) + " password=hunter2 mail oncall@example.io"

    redacted = Redactor()(text)

    assert redacted.endswith(" password=[REDACTED:secret_value] mail [REDACTED:email]")
