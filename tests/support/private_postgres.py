"""A private PostgreSQL cluster for tests that stop and start the server (never the machine's shared one).

``private_postgres()`` runs ``initdb`` into a fresh directory and ``pg_ctl start`` on a free loopback port
(trust authentication, its socket in the same directory), yields a :class:`Cluster` the test can
``stop(mode="immediate")`` (a crash: no checkpoint, recovery from the WAL on the next start) and
``start()`` again, and removes it all afterwards. The binaries are found on ``PATH`` or under
``/usr/lib/postgresql/<version>/bin`` (``$SEVBOT_TEST_PG_BIN`` overrides). PostgreSQL refuses to run as
root, so as root the commands run as the ``postgres`` user (``runuser``). Standard library only.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from tests.support.processes import LOOPBACK, free_port


def postgres_bin_dir() -> Path | None:
    """Where ``initdb`` and ``pg_ctl`` are; ``None`` when this machine has no PostgreSQL server binaries."""
    explicit = os.environ.get("SEVBOT_TEST_PG_BIN")
    if explicit:
        return Path(explicit) if (Path(explicit) / "pg_ctl").exists() else None
    found = shutil.which("pg_ctl")
    if found and shutil.which("initdb"):
        return Path(found).parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[4]))
    return Path(versions[-1]).parent if versions else None


@dataclass
class Cluster:
    bin_dir: Path
    root: Path
    port: int
    user: str | None  # run as this user (when we are root), else as ourselves

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def url(self) -> str:
        return f"postgresql://postgres@{LOOPBACK}:{self.port}/postgres"

    @property
    def log_path(self) -> Path:
        return self.root / "postgres.log"

    def _run(self, *argv: str, timeout: float = 60.0) -> None:
        command = [str(self.bin_dir / argv[0]), *argv[1:]]
        if self.user is not None:
            command = ["runuser", "-u", self.user, "--", *command]
        subprocess.run(
            command, check=True, timeout=timeout, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )

    def init(self) -> None:
        self._run(
            "initdb", "-D", str(self.data_dir), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"
        )

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses={LOOPBACK} -c max_connections=60"
        self._run("pg_ctl", "-D", str(self.data_dir), "-l", str(self.log_path), "-o", options, "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        """``immediate`` is a crash (the next start recovers from the WAL); ``fast`` a clean shutdown."""
        self._run("pg_ctl", "-D", str(self.data_dir), "-m", mode, "-w", "stop")

    def running(self) -> bool:
        return (self.data_dir / "postmaster.pid").exists()


@contextmanager
def private_postgres() -> Iterator[Cluster]:
    bin_dir = postgres_bin_dir()
    if bin_dir is None:
        raise FileNotFoundError("no PostgreSQL server binaries (initdb, pg_ctl) on this machine")
    user = None
    root = Path(tempfile.mkdtemp(prefix="sevbot-pg-"))
    if os.geteuid() == 0:
        user = "postgres"
        entry = pwd.getpwnam(user)
        os.chown(root, entry.pw_uid, entry.pw_gid)
    cluster = Cluster(bin_dir=bin_dir, root=root, port=free_port(), user=user)
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        if cluster.running():
            with suppress(subprocess.SubprocessError):
                cluster.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)
