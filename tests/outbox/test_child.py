"""``sevbot serve``'s outbox worker child (bot/outbox/child.py): it delivers, its metrics show in serve's
``/metrics``, it is started again when it dies and never outlives serve; and the pieces it relies on: the
writers' lock file shared between processes, the merged metrics text."""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.metrics import merge_expositions
from bot.outbox import child as child_module
from bot.outbox.child import WorkerChild
from storage.db import WriteLock, create_database
from tests.cli.test_serve import TOKEN, child_processes, post
from tests.support.faults import metric
from tests.support.payloads import am_alert, am_payload
from tests.support.processes import kill_hard, sevbot_command, sevbot_env, start_sevbot

WAIT_S = 30.0


def eventually(condition: Callable[[], object], *, timeout: float = WAIT_S) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout} s")


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def command_line(pid: int) -> str:
    """A process's command line, or "" once it has gone (between listing /proc and reading it)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_text()
    except OSError:
        return ""


def workers_of(pid: int) -> list[int]:
    return [p for p in child_processes(pid) if "worker" in command_line(p)]


# --- serve with its worker child -------------------------------------------------------------------------


def test_serve_delivers_from_a_child_process_and_shows_its_metrics(tmp_path: Path) -> None:
    settings = {"scorer": "rules", "log_level": "WARNING"}
    out = tmp_path / "posts.txt"
    with start_sevbot(data_dir=tmp_path / "data", token=TOKEN, settings=settings, stdout=out) as sevbot:
        workers = eventually(lambda: workers_of(sevbot.process.pid))
        status, _ = post(sevbot.url, am_payload([am_alert("ChildDelivers")], group_key="child"))
        eventually(lambda: "ChildDelivers" in sevbot.stdout())
        delivered = eventually(lambda: metric(sevbot.url + "/metrics", "sevbot_outbox_delivered_total"))
        received = metric(sevbot.url + "/metrics", "sevbot_webhook_requests_total")

    assert status == 202
    assert len(workers) == 1  # type: ignore[arg-type]
    assert delivered >= 1  # type: ignore[operator]  # counted in the child, shown by serve
    assert received == 1  # counted in serve, not doubled by the merge


def test_a_dead_child_is_started_again_and_one_killed_with_serve_stops(tmp_path: Path) -> None:
    settings = {"scorer": "rules", "log_level": "WARNING"}
    out = tmp_path / "posts.txt"
    with start_sevbot(data_dir=tmp_path / "data", token=TOKEN, settings=settings, stdout=out) as sevbot:
        first = eventually(lambda: workers_of(sevbot.process.pid))[0]  # type: ignore[index]
        os.kill(first, signal.SIGKILL)
        second = eventually(lambda: [p for p in workers_of(sevbot.process.pid) if p != first])[0]  # type: ignore[index]
        post(sevbot.url, am_payload([am_alert("AfterRestart")], group_key="again"))
        eventually(lambda: "AfterRestart" in sevbot.stdout())
        kill_hard(sevbot.process)  # SIGKILL: no shutdown code runs in serve
        eventually(lambda: not alive(second))  # the pipe's end of file stopped it

    assert second != first


def test_a_child_whose_metrics_port_was_taken_is_started_again_on_another(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """serve picks the child's port, the child binds it seconds later: another process may take it first.
    The child says so and exits; the next start picks a new port, so deliveries resume."""
    for name in list(os.environ):
        monkeypatch.delenv(name)
    for name, value in sevbot_env(data_dir=tmp_path, token=None, scorer="rules", log_level="WARNING").items():
        monkeypatch.setenv(name, value)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        picks = iter([taken])
        real_pick = child_module.free_loopback_port
        monkeypatch.setattr(child_module, "free_loopback_port", lambda: next(picks, None) or real_pick())
        worker = WorkerChild()

        async def scenario() -> tuple[bool, bool, int]:
            stop = asyncio.Event()
            worker.start()
            first = await worker.wait_ready(WAIT_S)  # it cannot bind: it exits
            supervising = asyncio.create_task(worker.supervise(stop, poll_seconds=0.1))
            await asyncio.to_thread(eventually, lambda: worker.restarts)
            second = await worker.wait_ready(WAIT_S)
            stop.set()
            await supervising
            await worker.close_metrics_client()
            return first, second, worker.restarts

        try:
            first, second, restarts = asyncio.run(scenario())
        finally:
            worker.stop()

    assert (first, second, restarts) == (False, True, 1)
    assert worker.metrics_port != taken


def test_a_worker_whose_metrics_port_is_taken_says_so_and_exits(tmp_path: Path) -> None:
    env = sevbot_env(data_dir=tmp_path, token=None, scorer="rules", log_level="WARNING")
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        ran = subprocess.run(
            [*sevbot_command(), "worker", "--metrics-port", str(taken)],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    assert ran.returncode == 2
    assert f"sevbot: cannot serve metrics on 127.0.0.1:{taken}: " in ran.stderr
    assert "Traceback" not in ran.stderr


# --- the writers' lock file ------------------------------------------------------------------------------


HOLDER = textwrap.dedent(
    """
    import sys
    from storage.db import WriteLock
    lock = WriteLock(sys.argv[1])
    with lock.hold():
        print("held", flush=True)
        sys.stdin.readline()
    """
)


def test_writers_of_two_processes_queue_on_the_lock_file(tmp_path: Path) -> None:
    path = str(tmp_path / "db.writer-lock")
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, path],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert holder.stdout is not None and holder.stdin is not None
    assert holder.stdout.readline().strip() == "held"
    got = threading.Event()

    def take() -> None:
        with WriteLock(path).hold():
            got.set()

    taker = threading.Thread(target=take)
    taker.start()
    waited = not got.wait(0.5)  # the other process holds it
    holder.stdin.write("\n")
    holder.stdin.flush()
    holder.wait(timeout=WAIT_S)
    taken = got.wait(WAIT_S)
    taker.join(WAIT_S)

    assert waited and taken


def test_only_a_sqlite_file_gets_a_lock_file(tmp_path: Path) -> None:
    on_file = create_database(f"sqlite:///{tmp_path / 'x.db'}")
    in_memory = create_database("sqlite://")

    assert on_file._write_lock.path == f"{tmp_path / 'x.db'}.writer-lock"
    assert in_memory._write_lock.path is None


# --- one /metrics text from two processes ----------------------------------------------------------------

SERVE = """\
# HELP jobs_total Jobs.
# TYPE jobs_total counter
jobs_total{kind="a"} 2.0
# HELP backlog Rows waiting.
# TYPE backlog gauge
backlog 5.0
# HELP took_seconds Time.
# TYPE took_seconds histogram
took_seconds_bucket{le="1.0"} 1.0
took_seconds_bucket{le="+Inf"} 2.0
took_seconds_count 2.0
took_seconds_sum 3.0
"""
CHILD = """\
# HELP jobs_total Jobs.
# TYPE jobs_total counter
jobs_total{kind="a"} 3.0
jobs_total{kind="b"} 1.0
# HELP backlog Rows waiting.
# TYPE backlog gauge
backlog 4.0
# HELP took_seconds Time.
# TYPE took_seconds histogram
took_seconds_bucket{le="1.0"} 4.0
took_seconds_bucket{le="+Inf"} 4.0
took_seconds_count 4.0
took_seconds_sum 1.5
# HELP only_child Only here.
# TYPE only_child gauge
only_child 7.0
"""


def test_counts_add_up_gauges_keep_the_largest_and_lone_families_are_kept() -> None:
    merged = merge_expositions([SERVE, CHILD]).decode()
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(merged)
        for s in family.samples
    }

    assert samples[("jobs_total", (("kind", "a"),))] == 5.0
    assert samples[("jobs_total", (("kind", "b"),))] == 1.0
    assert samples[("backlog", ())] == 5.0
    assert samples[("took_seconds_bucket", (("le", "1.0"),))] == 5.0
    assert samples[("took_seconds_count", ())] == 6.0
    assert samples[("took_seconds_sum", ())] == 4.5
    assert samples[("only_child", ())] == 7.0
    assert merged.count("# TYPE jobs_total counter") == 1


# --- start-up's objects out of the collector's sight ------------------------------------------------------


def test_what_start_up_built_is_frozen_while_the_app_serves_and_thawed_after(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from bot.app import create_app
    from tests.support.settings import make_settings

    with TestClient(create_app(make_settings(tmp_path))) as client:
        assert client.get("/healthz").status_code == 200
        frozen = gc.get_freeze_count()
    thawed = gc.get_freeze_count()

    assert frozen > 10_000  # the model, the routes, the tables, the modules
    assert thawed == 0
