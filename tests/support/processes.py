"""Real processes for end-to-end tests and benchmarks: free ports, bounded waits, sevbot and Alertmanager.

Everything here is standard library plus PyYAML, so ``bench/`` scripts can use it as well as tests.
Each ``start_*`` is a context manager that returns once the process answers its readiness URL and
always stops the process on the way out (SIGTERM, then SIGKILL), whatever happened inside.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, TypeVar

import yaml

from bot.outbox.child import free_loopback_port, worker_command

T = TypeVar("T")

LOOPBACK = "127.0.0.1"
# Above serve's own wait for its worker child (bot.outbox.child.READY_SECONDS, 60 s) plus its start-up: the
# child runs at nice 10 and, on two busy cores, may get a tenth of one.
START_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 10.0
# Variables a developer's shell may hold that must not leak into a sevbot started by a test.
# Shared by every test that scores with the bundled model, so it is trained once, not once per test.
MODEL_CACHE = Path(tempfile.gettempdir()) / "sevbot-test-models"
_FOREIGN_ENV_PREFIXES = ("SEVBOT_", "SLACK_", "OPENAI_")


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    return free_loopback_port(host)


def wait_until(
    condition: Callable[[], T | None],
    *,
    what: str,
    timeout: float = 30.0,
    interval: float = 0.1,
) -> T:
    """Call ``condition`` every ``interval`` seconds until it returns something truthy, and return that.

    Raises ``TimeoutError`` naming ``what`` (and the last value seen) after ``timeout`` seconds.
    Exceptions from ``condition`` propagate: a condition decides itself what counts as "not yet".
    """
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise TimeoutError(f"gave up after {timeout:g}s waiting for {what}; last saw {result!r}")
        time.sleep(interval)


def http_status(url: str, *, timeout: float = 2.0) -> int | None:
    """The status code a GET of ``url`` answers, or ``None`` if nothing answers (yet)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            status: int = response.status
            return status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None


class ProcessExited(RuntimeError):
    """A process stopped before it became ready; the message carries the end of its output."""


@dataclass(frozen=True, slots=True)
class RunningProcess:
    """A started process: where it listens and where its output goes."""

    name: str
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    stdout_path: Path | None = None

    def log(self) -> str:
        """What the process wrote to stderr so far (and stdout, when that goes to the same file)."""
        return _read(self.log_path)

    def stdout(self) -> str:
        """What the process wrote to stdout so far ("" when stdout is discarded)."""
        return _read(self.stdout_path) if self.stdout_path else ""


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return ""


def kill_hard(process: subprocess.Popen[bytes], *, timeout: float = STOP_TIMEOUT_S) -> None:
    """``kill -9``: no cleanup, no flush, no goodbye; returns once the process is gone."""
    if process.poll() is None:
        process.kill()
    process.wait(timeout=timeout)


def stop_process(process: subprocess.Popen[bytes], *, timeout: float = STOP_TIMEOUT_S) -> None:
    """Ask politely (SIGTERM), then insist (SIGKILL); returns once the process is gone."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=timeout)


@contextmanager
def start_process(
    *,
    name: str,
    argv: list[str],
    url: str,
    ready_path: str,
    log_path: Path,
    env: Mapping[str, str] | None = None,
    stdout: Path | None = None,
    timeout: float = START_TIMEOUT_S,
) -> Iterator[RunningProcess]:
    """Run ``argv`` until the ``with`` block ends; ready once ``url + ready_path`` answers 200.

    stderr goes to ``log_path``; stdout goes there too when ``stdout`` is that same path, to ``stdout``
    when it is another path, and nowhere (``DEVNULL``) when it is ``None``.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with ExitStack() as files:
        err = files.enter_context(log_path.open("wb"))
        out: IO[bytes] | int
        if stdout is None:
            out = subprocess.DEVNULL
        elif stdout == log_path:
            out = err
        else:
            out = files.enter_context(stdout.open("wb"))
        process = subprocess.Popen(argv, stdout=out, stderr=err, env=dict(env) if env is not None else None)
        running = RunningProcess(name=name, url=url, process=process, log_path=log_path, stdout_path=stdout)
        try:
            wait_until(
                lambda: _ready(running, ready_path), what=f"{name} to answer {ready_path}", timeout=timeout
            )
            yield running
        finally:
            stop_process(process)


def _ready(running: RunningProcess, ready_path: str) -> bool:
    if running.process.poll() is not None:
        raise ProcessExited(
            f"{running.name} exited with code {running.process.returncode} before it was ready:\n"
            + running.log()[-4000:]
        )
    return http_status(running.url + ready_path) == 200


# --- sevbot -------------------------------------------------------------------------------------


def sevbot_command() -> list[str]:
    """How to run ``sevbot`` with the interpreter running us (the way ``serve`` starts its worker child)."""
    return worker_command()


def sevbot_env(
    *, data_dir: Path, token: str | None, database_url: str | None = None, **settings: str
) -> dict[str, str]:
    """This environment without any SEVBOT_/SLACK_/OPENAI_ variables, plus the given settings.

    Extra ``settings`` are named like the environment variable without its prefix (``log_level="WARNING"``).
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(_FOREIGN_ENV_PREFIXES)}
    env["SEVBOT_DATA_DIR"] = str(data_dir)
    env["SEVBOT_MODEL_CACHE_DIR"] = str(MODEL_CACHE)  # the bundled model, trained once per test run
    if token is not None:
        env["SEVBOT_WEBHOOK_TOKEN"] = token
    if database_url is not None:
        env["SEVBOT_DATABASE_URL"] = database_url
    env.update({f"SEVBOT_{key.upper()}": value for key, value in settings.items()})
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


@contextmanager
def start_sevbot(
    *,
    data_dir: Path,
    token: str | None,
    database_url: str | None = None,
    port: int | None = None,
    stdout: Path | None = None,
    settings: Mapping[str, str] | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = START_TIMEOUT_S,
) -> Iterator[RunningProcess]:
    """``sevbot serve`` on loopback, ready once ``/readyz`` answers 200 (database migrated).

    stderr (logs) goes to ``data_dir/sevbot.log``; stdout (what it would post to Slack) to ``stdout``,
    or nowhere when that is ``None``. ``env`` adds variables named in full (``SLACK_BOT_TOKEN``).
    """
    port = port or free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    variables = sevbot_env(data_dir=data_dir, token=token, database_url=database_url, **dict(settings or {}))
    variables.update(env or {})
    with start_process(
        name="sevbot",
        argv=[*sevbot_command(), "serve", "--host", LOOPBACK, "--port", str(port)],
        url=f"http://{LOOPBACK}:{port}",
        ready_path="/readyz",
        log_path=data_dir / "sevbot.log",
        env=variables,
        stdout=stdout,
        timeout=timeout,
    ) as running:
        yield running


@contextmanager
def start_worker(
    *,
    data_dir: Path,
    database_url: str | None = None,
    name: str = "worker",
    settings: Mapping[str, str] | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = START_TIMEOUT_S,
) -> Iterator[RunningProcess]:
    """``sevbot worker`` with its metrics on a free loopback port, ready once ``/metrics`` answers 200.

    Its log goes to ``data_dir/<name>.log``; ``url`` is where its metrics are (``url + "/metrics"``).
    """
    port = free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    variables = sevbot_env(data_dir=data_dir, token=None, database_url=database_url, **dict(settings or {}))
    variables.update(env or {})
    with start_process(
        name=name,
        argv=[*sevbot_command(), "worker", "--metrics-port", str(port)],
        url=f"http://{LOOPBACK}:{port}",
        ready_path="/metrics",
        log_path=data_dir / f"{name}.log",
        env=variables,
        timeout=timeout,
    ) as running:
        yield running


# --- Alertmanager -------------------------------------------------------------------------------


def alertmanager_binary() -> str | None:
    """Where Alertmanager is: ``$SEVBOT_ALERTMANAGER_BIN``, else Debian's name or upstream's on PATH."""
    explicit = os.environ.get("SEVBOT_ALERTMANAGER_BIN")
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    return shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")


@dataclass(frozen=True, slots=True)
class WebhookReceiver:
    """One Alertmanager receiver posting to a webhook with a bearer token; ``match`` routes alerts to it."""

    name: str
    url: str
    token: str
    match: Mapping[str, str] | None = None


def alertmanager_config(
    *,
    receivers: list[WebhookReceiver],
    group_by: list[str],
    group_wait: str = "1s",
    group_interval: str = "1s",
    repeat_interval: str = "4h",
) -> dict[str, Any]:
    """An Alertmanager configuration: the first receiver is the default, the others take their matches."""
    default, *others = receivers
    return {
        "route": {
            "receiver": default.name,
            "group_by": group_by,
            "group_wait": group_wait,
            "group_interval": group_interval,
            "repeat_interval": repeat_interval,
            "routes": [
                {"receiver": r.name, "matchers": [f'{k}="{v}"' for k, v in (r.match or {}).items()]}
                for r in others
            ],
        },
        "receivers": [
            {
                "name": r.name,
                "webhook_configs": [
                    {
                        "url": r.url,
                        "send_resolved": True,
                        "http_config": {"authorization": {"type": "Bearer", "credentials": r.token}},
                    }
                ],
            }
            for r in receivers
        ],
    }


@contextmanager
def start_alertmanager(
    *,
    binary: str,
    config: Mapping[str, Any],
    workdir: Path,
    port: int | None = None,
    timeout: float = START_TIMEOUT_S,
) -> Iterator[RunningProcess]:
    """A lone Alertmanager (clustering off) on loopback with its storage in ``workdir``."""
    port = port or free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    config_file = workdir / "alertmanager.yml"
    config_file.write_text(yaml.safe_dump(dict(config), sort_keys=False), encoding="utf-8")
    url = f"http://{LOOPBACK}:{port}"
    with start_process(
        name="alertmanager",
        argv=[
            binary,
            f"--config.file={config_file}",
            f"--storage.path={workdir / 'data'}",
            f"--web.listen-address={LOOPBACK}:{port}",
            f"--web.external-url={url}",
            "--cluster.listen-address=",
            "--log.level=debug",
        ],
        url=url,
        ready_path="/-/ready",
        log_path=workdir / "alertmanager.log",
        stdout=workdir / "alertmanager.log",
        timeout=timeout,
    ) as running:
        yield running
