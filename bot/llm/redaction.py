"""Redaction: removes secrets and personal data from text before it leaves for an LLM (pure; no I/O).

Each match is replaced by a marker naming what was there, e.g. ``[REDACTED:aws_key]``, so a draft can still
say "a key was in the alert" without carrying it. Built-in rules cover common token formats, passwords in
URLs and in ``key=value`` / ``key: value`` pairs, Authorization headers, PEM private keys and e-mail
addresses; teams add their own patterns (customer ids, hostnames) in the YAML file's ``redaction.patterns``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from bot.linear_re import compile_linear

MEMO_SIZE = 4096  # redacted strings remembered per redactor
MEMO_MAX_CHARS = 4096  # longer ones are redacted every time (they rarely repeat)

_SENSITIVE_NAMES = (
    r"pass(?:word|wd|phrase)?|pwd|pw|secret|client[_-]?secret|api[_-]?key|apikey|access[_-]?key|"
    r"secret[_-]?key|private[_-]?key|token|access[_-]?token|refresh[_-]?token|auth[_-]?token|"
    r"session[_-]?id|credentials?|dsn|connection[_-]?string"
)

# Order matters: whole structures (private keys, headers, URLs) before the token shapes inside them, and
# key=value pairs before e-mail addresses. A rule with a "value" group replaces only that group.
#
# Every rule runs in linear time on any input (alerts are hostile input): an unbounded repetition either
# starts where the same characters cannot precede it (a lookbehind), is bounded, or ends the match; no two
# adjacent repetitions range over the same characters. tests/llm/test_redaction.py holds each rule to a
# time bound on 100 KB adversarial texts.
_VALUE = r"(?P<value>(?!\[REDACTED:)[^\s\"',;}]+)"
_WEAK_WORDS = (
    r"(?:wrong|invalid|incorrect|expired|changed|required|missing|empty|not|too|set|reset|valid|weak)\b"
)
# Every rule runs in linear time on any text (bench/hostile_input.py; tests/llm/test_redaction.py):
# ``secret_value`` once had an optional ``[A-Za-z0-9_.-]*[_.-]`` prefix before the name, which retried
# every position of a long ``-a-a-a…`` (2.9 s on 8 KiB) and changed nothing (a name after ``_``, ``.`` or
# ``-`` already passes the look-behind); ``email`` is searched from each ``@`` (see ``_FromAt``).
BUILTIN_PATTERNS: tuple[tuple[str, str], ...] = (
    (
        "private_key",
        r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----[^\"]*?(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY"
        r"(?: BLOCK)?-----|(?=\")|\Z)",
    ),
    ("authorization", r"(?i)\b(?:bearer|basic|digest)\s+(?P<value>[A-Za-z0-9._~+/=:-]{8,})"),
    # Any scheme, any length, in an Authorization header: "Authorization: ApiKey …", "Token …", "Bearer ab1".
    (
        "authorization",
        r"(?i)\b(?:proxy-)?authorization[\"']?\s*[:=]\s*[\"']?"
        r"(?>(?:(?:bearer|basic|digest|apikey|api-key|token|key|ssws|sso-key|otp)\s+)?)"
        r"(?P<value>(?!\[REDACTED:)[^\s\"',;]+)",
    ),
    # A short bearer token outside a header (one with a digit or symbol in it, so "bearer of" stays).
    (
        "authorization",
        r"(?i)\bbearer\s+(?P<value>(?=[A-Za-z0-9._~+/=-]{0,7}[0-9._~+/=-])[A-Za-z0-9._~+/=-]{1,7})"
        r"(?![A-Za-z0-9._~+/=-])",
    ),
    ("jwt", r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{5,}+\.[A-Za-z0-9_-]{5,}+\.[A-Za-z0-9_-]{5,}"),
    # user:password@ — the user may be empty (redis://:pass@host), the password may hold / or @ (up to the
    # last @ within 256 characters).
    ("url_password", r"://[^\s:/@'\"<>]{0,128}:(?P<value>[^\s'\"<>]{1,256})@"),
    (
        "discord_webhook",
        r"https://(?:(?:ptb|canary)\.)?discord(?:app)?\.com/api/webhooks/\d{1,30}/[A-Za-z0-9_-]{20,}",
    ),
    ("openai_key", r"\bsk-(?:proj-|svcacct-|admin-|ant-)?[A-Za-z0-9_-]{20,}"),
    ("slack_token", r"\b(?:xox[abposre]|xapp)-[A-Za-z0-9-]{10,}"),
    ("slack_webhook", r"https://hooks\.slack\.com/services/[A-Za-z0-9/]+"),
    ("github_token", r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{40,})"),
    ("gitlab_token", r"\b(?:glpat|glrt|gldt|glptt|glsoat|glcbt|glimt|glft|glagent)-[A-Za-z0-9_-]{20,}"),
    ("aws_key", r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}\b"),
    ("google_key", r"\bAIza[A-Za-z0-9_-]{35}"),
    ("stripe_key", r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}"),
    ("webhook_secret", r"\bwhsec_[A-Za-z0-9+/=]{20,}"),
    ("npm_token", r"\bnpm_[A-Za-z0-9]{36}\b"),
    ("pypi_token", r"\bpypi-AgE[A-Za-z0-9_-]{50,}"),
    ("sendgrid_key", r"\bSG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}\b"),
    ("twilio_key", r"\b(?:SK|AC)[0-9a-fA-F]{32}\b"),
    ("huggingface_token", r"\bhf_[A-Za-z0-9]{30,}"),
    ("vault_token", r"\bhv[sbr]\.[A-Za-z0-9_-]{20,}"),
    ("kube_token", r"\b[a-z0-9]{6}\.[a-z0-9]{16}\b"),  # a kubeadm bootstrap token
    ("kubeconfig_key", r"(?i)\bclient-key-data[\"']?\s*:\s*[\"']?(?P<value>[A-Za-z0-9+/=]{8,})"),
    (
        "docker_auth",
        r"\"(?:auth|identitytoken|registrytoken)\"\s*:\s*\"(?P<value>(?!\[REDACTED:)[^\"\s]{4,})\"",
    ),
    (
        "azure_key",
        r"(?i)\b(?:AccountKey|SharedAccessKey|SharedAccessSignature|sig)="
        r"(?P<value>(?!\[REDACTED:)[A-Za-z0-9+/%=._-]{6,})",
    ),
    # A cookie header's first value (any name), and session cookies anywhere (JSESSIONID, PHPSESSID, sid …).
    ("cookie", r"(?i)\bset-cookie[\"']?\s*:\s*[^=;\s\"']{1,128}=(?P<value>(?!\[REDACTED:)[^;\s\"',]+)"),
    (
        "cookie",
        r"(?i)(?<![A-Za-z0-9])[A-Za-z0-9_.-]{0,30}?(?:sess(?:ion)?(?:_?id)?|sid)="
        r"(?P<value>(?!\[REDACTED:)[^;\s\"',&]+)",
    ),
    # Quoted secrets keep their spaces: password="correct horse battery staple".
    (
        "secret_value",
        r"(?i)(?:pass(?:word|wd|phrase)?|pwd|secret|token|api[_-]?key|credentials?)[\"']?\s*[=:]\s*"
        r"(?P<q>[\"'])(?P<value>(?!\[REDACTED:)[^\"'\n]{1,256})(?P=q)",
    ),
    # Environment-style names with no separator before the word: PGPASSWORD=…, DBPASS=…, MYAPPTOKEN=….
    (
        "secret_value",
        r"(?i)(?<![A-Za-z0-9])[A-Za-z0-9]{1,30}(?:password|passwd|pwd|secret|token|apikey|(?-i:PASS))"
        r"[\"']?\s*[=:]\s*[\"']?" + _VALUE,
    ),
    (
        "secret_value",
        r"(?i)\b(?:password|passwd|passphrase|pwd)\s+(?:is|was)\s+[\"']?(?!" + _WEAK_WORDS + ")" + _VALUE,
    ),
    (
        "secret_value",
        rf"(?i)(?<![A-Za-z0-9])(?:{_SENSITIVE_NAMES})[\"']?\s*[=:]\s*[\"']?"
        r"(?P<value>(?!\[REDACTED:)[^\s\"',;}]+)",
    ),
    ("email", r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9.-]{1,255}\.[A-Za-z]{2,24}\b"),
)


@dataclass(frozen=True, slots=True)
class Redaction:
    text: str
    counts: dict[str, int]


class Redactor:
    r"""Applies the built-in rules, then the configured ``patterns`` (name → regular expression).

    The built-in rules are Python ``re`` patterns, each written to run in linear time (above); a team's
    patterns run on RE2 (:mod:`bot.linear_re`), because nobody can check a pattern for backtracking by
    reading it: ``\b(?:[a-z0-9]+-?)+\.corp\.internal\b`` took 0.8 s on a 25-character label value in
    ``re``, twice as long for every two characters more."""

    def __init__(self, patterns: Mapping[str, str] | None = None) -> None:
        builtin: list[tuple[str, Any]] = [
            (name, _FromAt(pattern) if name == "email" else re.compile(pattern, re.DOTALL))
            for name, pattern in BUILTIN_PATTERNS
        ]
        team = [
            (name, compile_linear(pattern, dot_matches_newline=True))
            for name, pattern in (patterns or {}).items()
        ]
        self._rules: list[tuple[str, Any]] = builtin + team
        # The same titles, summaries and label values come back in every draft of an incident (and of
        # its rule's other incidents): each string is redacted once (about 35 patterns, a quarter of a
        # template draft's time), then remembered, within bounds.
        self._memo = functools.lru_cache(maxsize=MEMO_SIZE)(self._redacted)

    def redact(self, text: str) -> Redaction:
        counts: dict[str, int] = {}
        for name, rule in self._rules:
            text = rule.sub(_Marker(name, counts), text)
        return Redaction(text=text, counts=counts)

    def __call__(self, text: str) -> str:
        if len(text) > MEMO_MAX_CHARS:
            return self.redact(text).text
        return self._memo(text)

    def _redacted(self, text: str) -> str:
        return self.redact(text).text


_LOCAL_PART = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._%+-")


class _FromAt:
    """The ``email`` rule's pattern, with the same matches as ``re.sub`` finds, in linear time.

    Searched plainly, the pattern is tried at every position of a long run like ``a.a.a.a…`` and reads to
    the end of the run each time (quadratic: 0.3 s on 16 KiB). Every address has an ``@``, and its
    look-behind lets a match start only where the run of local-part characters before that ``@`` starts
    (any later start follows a local-part character), so that is the one place to try.
    """

    def __init__(self, pattern: str) -> None:
        self.pattern = re.compile(pattern, re.DOTALL)

    def sub(self, replace: Callable[[re.Match[str]], str], text: str) -> str:
        parts: list[str] = []
        done = 0
        at = text.find("@")
        while at >= 0:
            start = at
            while start > done and text[start - 1] in _LOCAL_PART:
                start -= 1
            found = self.pattern.match(text, start) if start < at else None
            if found is None:
                at = text.find("@", at + 1)
                continue
            parts += (text[done : found.start()], replace(found))
            done = found.end()
            at = text.find("@", done)
        if not parts:
            return text
        parts.append(text[done:])
        return "".join(parts)


@dataclass(frozen=True, slots=True)
class _Marker:
    """The replacement for one rule's matches: the whole match, or only its "value" group."""

    name: str
    counts: dict[str, int]

    def __call__(self, match: Any) -> str:  # an re or an RE2 match (RE2's take group numbers only)
        self.counts[self.name] = self.counts.get(self.name, 0) + 1
        marker = f"[REDACTED:{self.name}]"
        value = match.re.groupindex.get("value")
        if value is None or match.start(value) < 0:
            return marker
        whole: str = match.group(0)
        start, end = match.start(value) - match.start(), match.end(value) - match.start()
        return whole[:start] + marker + whole[end:]
