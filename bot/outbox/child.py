"""``sevbot serve``'s outbox worker as a child process: deliveries never share the web process's GIL.

In the web process, each delivery (a root post rendered and printed, a template draft grounded on the
incident's alerts and past incidents, its bookkeeping) took 3 to 15 ms of CPU on a thread of the same
interpreter, and a webhook that arrived meanwhile waited for the GIL at every SQLite call of its commit:
at a steady 200 alerts/s its p99 was 4 to 8 times its p50. The child is a plain ``sevbot worker`` (the
ticker and retention included) with two links to its parent:

* a pipe: the parent writes a byte after each commit that queued messages, and the child wakes at once
  (a root post goes out now, not at the next poll); end of file means the parent is gone, and the child
  finishes what it holds and stops, so it never outlives ``serve``, not even one killed with SIGKILL;
* a loopback port for its metrics, which the parent's ``/metrics`` merges into its own (bot.http.health).

The parent starts it once its own database is migrated, and again (after a pause) whenever it dies.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import anyio
import httpx

from bot.ingest.group_commit import QUIET_SECONDS
from bot.outbox.worker import OutboxWorker
from storage.db import Database

log = logging.getLogger(__name__)

RESTART_PAUSE_SECONDS = 1.0  # before starting a child again that died
READY_SECONDS = 60.0  # how long serve waits for its worker child to start
STOP_SECONDS = 15.0  # a stopping child's time to finish what it holds, then SIGKILL
METRICS_TIMEOUT_SECONDS = 2.0  # for the child's metrics, merged into serve's /metrics
WORKER_NICENESS = 10  # the child yields the CPU to the web process (webhooks first, deliveries after)


def worker_command() -> list[str]:
    """``sevbot`` with the interpreter running us: the console script beside it, else ``-m bot.cli``."""
    script = Path(sys.executable).with_name("sevbot")
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-m", "bot.cli"]


def free_loopback_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


class WorkerChild:
    """One ``sevbot worker`` child, woken through a pipe; ``wake`` is safe from any thread."""

    def __init__(self, *, command: list[str] | None = None, metrics_port: int | None = None) -> None:
        """``metrics_port``: where the child serves its metrics; by default a free port, picked again at
        every start (a port free when picked may be taken before the child binds it, or while it is down)."""
        self.command = command or worker_command()
        self._fixed_port = metrics_port
        self.metrics_port = metrics_port or free_loopback_port()
        self.restarts = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._write_end: int | None = None
        self._stopping = False
        self._metrics_client: httpx.AsyncClient | None = None

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def start(self) -> None:
        if self._fixed_port is None and self._process is not None:  # a restart
            self.metrics_port = free_loopback_port()
        read_end, write_end = os.pipe()
        os.set_blocking(write_end, False)
        argv = [*self.command, "worker", "--wake-fd", str(read_end), "--metrics-port", str(self.metrics_port)]
        argv += ["--nice", str(WORKER_NICENESS)]
        try:
            env = {**os.environ, "SEVBOT_SQLITE_SYNCHRONOUS": "normal"}  # see the module's docstring
            self._process = subprocess.Popen(argv, pass_fds=(read_end,), env=env)  # noqa: S603  # our own
        finally:
            os.close(read_end)  # the child has its copy; ours would hide the parent's end of file
        self._write_end = write_end
        log.info("outbox worker process started", extra={"pid": self._process.pid})

    async def wait_ready(self, seconds: float = READY_SECONDS) -> bool:
        """Until the child serves its metrics (it has built its services and is about to deliver), it died,
        or ``seconds``; whether it is ready. ``serve`` answers only then, so the first root posts do not
        wait for the child's start-up (2 to 4 s of imports and model loading on a 2-core machine)."""
        deadline = asyncio.get_running_loop().time() + seconds
        async with httpx.AsyncClient(timeout=1.0) as client:
            while asyncio.get_running_loop().time() < deadline:
                if self._process is None or self._process.poll() is not None:
                    return False
                try:
                    if (await client.get(self.metrics_url)).status_code == 200:
                        return True
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.05)
        return False

    async def metrics_text(self) -> str:
        """The child's Prometheus exposition (``httpx.HTTPError`` if it does not answer in time).

        One client for the child's lifetime: a new ``httpx.AsyncClient`` builds a TLS context and loads the
        CA bundle (about 1 ms of CPU on the web process's loop), which every scrape paid before."""
        if self._metrics_client is None:
            self._metrics_client = httpx.AsyncClient(timeout=METRICS_TIMEOUT_SECONDS)
        answer = await self._metrics_client.get(self.metrics_url)
        answer.raise_for_status()
        return answer.text

    async def close_metrics_client(self) -> None:
        client, self._metrics_client = self._metrics_client, None
        if client is not None:
            await client.aclose()

    def wake(self) -> None:
        """Tell the child that messages were queued. Never blocks: a full pipe already says so."""
        if self._write_end is None:
            return
        with contextlib.suppress(BlockingIOError, BrokenPipeError, OSError):
            os.write(self._write_end, b".")

    async def supervise(self, stop: asyncio.Event, *, poll_seconds: float = 0.5) -> None:
        """Start the child again whenever it dies, until ``stop``."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=poll_seconds)
            if stop.is_set() or self._process is None or self._process.poll() is None:
                continue
            log.error(
                "outbox worker process exited; starting another",
                extra={"pid": self._process.pid, "exit_code": self._process.returncode},
            )
            self._close_pipe()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=RESTART_PAUSE_SECONDS)
            if not stop.is_set():
                self.restarts += 1
                self.start()

    def stop(self, timeout: float = STOP_SECONDS) -> None:
        """Close the pipe (the child finishes what it holds and exits); SIGKILL after ``timeout``."""
        self._close_pipe()
        process, self._process = self._process, None
        if process is None:
            return
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            log.error("outbox worker process did not stop; killing it", extra={"pid": process.pid})
            process.kill()
            process.wait()

    def _close_pipe(self) -> None:
        write_end, self._write_end = self._write_end, None
        if write_end is not None:
            os.close(write_end)


class ParentPipe:
    """The child's end of the pipe: each byte wakes ``worker``, end of file sets ``stop``.

    Bytes come after commits, so they also say when the web process is busy ingesting: the worker's
    ``yield_to`` then holds it back for ``quiet_seconds`` after the last one (the web process's SQLite
    writes go first).
    """

    def __init__(self, fd: int, worker: OutboxWorker, *, quiet_seconds: float = QUIET_SECONDS) -> None:
        self.fd = fd
        self.worker = worker
        self.quiet_seconds = quiet_seconds
        self.last_wake = float("-inf")
        worker.yield_to = self.busy

    def busy(self) -> bool:
        return time.monotonic() - self.last_wake < self.quiet_seconds

    def listen(self, loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> None:
        os.set_blocking(self.fd, False)

        def readable() -> None:
            try:
                data = os.read(self.fd, 4096)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if not data:  # the parent is gone
                loop.remove_reader(self.fd)
                stop.set()
                return
            self.last_wake = time.monotonic()
            self.worker.wake()

        loop.add_reader(self.fd, readable)


CHECKPOINT_SECONDS = 1.0  # how often the child copies the WAL back into the SQLite file


async def keep_checkpointed(
    db: Database, stop: asyncio.Event, *, interval: float = CHECKPOINT_SECONDS
) -> None:
    """The child's share of SQLite upkeep: ``serve`` leaves WAL checkpoints to it (see
    ``Database.leave_checkpoints_to_another_process``), so it runs a passive one every ``interval``."""
    while not stop.is_set():
        try:
            await anyio.to_thread.run_sync(db.checkpoint)
        except Exception:
            log.exception("WAL checkpoint failed; trying again")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)
