"""A real Prometheus for end-to-end tests, and a tiny exporter whose metric values a test sets.

Standard library plus PyYAML, like ``tests/support/processes.py`` whose process helpers it reuses:
``start_prometheus`` returns once Prometheus answers ``/-/ready`` and always stops it afterwards.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

from tests.support.processes import LOOPBACK, START_TIMEOUT_S, RunningProcess, free_port, start_process


def prometheus_binary() -> str | None:
    """Where Prometheus is: ``$SEVBOT_PROMETHEUS_BIN``, else ``prometheus`` on PATH (Debian's package)."""
    explicit = os.environ.get("SEVBOT_PROMETHEUS_BIN")
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    return shutil.which("prometheus")


class MetricsExporter:
    """Serves ``/metrics`` in the Prometheus text format from values the test sets at any time.

    Series are keyed by ``(metric name, frozen label items)``; ``set`` changes one, and the next scrape
    sees it. Every metric is exposed as a gauge.
    """

    def __init__(self) -> None:
        self._values: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self.scrapes = 0

    def set(self, name: str, value: float, **labels: str) -> None:
        with self._lock:
            self._values[(name, tuple(sorted(labels.items())))] = value

    def render(self) -> str:
        with self._lock:
            items = sorted(self._values.items())
        lines: list[str] = []
        seen: set[str] = set()
        for (name, labels), value in items:
            if name not in seen:
                lines.append(f"# TYPE {name} gauge")
                seen.add(name)
            rendered = ",".join(f'{k}="{v}"' for k, v in labels)
            lines.append(f"{name}{{{rendered}}} {value}")
        return "\n".join(lines) + "\n"

    @property
    def target(self) -> str:
        assert self._server is not None, "start the exporter first"
        return f"{LOOPBACK}:{self._server.server_address[1]}"

    @contextmanager
    def serving(self) -> Iterator[MetricsExporter]:
        exporter = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.split("?")[0] != "/metrics":
                    self.send_error(404)
                    return
                body = exporter.render().encode()
                exporter.scrapes += 1
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                with suppress(BrokenPipeError, ConnectionResetError):  # Prometheus stopped mid-scrape
                    self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

        self._server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        thread = threading.Thread(target=self._server.serve_forever, name="metrics-exporter", daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._server.shutdown()
            self._server.server_close()
            thread.join(timeout=5)


def prometheus_config(
    *, scrape_targets: list[str], alertmanager: str, rule_files: list[str], interval: str = "1s"
) -> dict[str, Any]:
    """Scrape ``scrape_targets`` (job "shop") and evaluate ``rule_files`` every ``interval``; alert to
    the Alertmanager at ``host:port``."""
    return {
        "global": {"scrape_interval": interval, "evaluation_interval": interval, "scrape_timeout": interval},
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]},
        "rule_files": rule_files,
        "scrape_configs": [{"job_name": "shop", "static_configs": [{"targets": scrape_targets}]}],
    }


@contextmanager
def start_prometheus(
    *,
    binary: str,
    config: Mapping[str, Any],
    rules: Mapping[str, Mapping[str, Any]],
    workdir: Path,
    port: int | None = None,
    resend_delay: str = "2s",
    timeout: float = START_TIMEOUT_S,
) -> Iterator[RunningProcess]:
    """Prometheus on loopback with its TSDB in ``workdir``; ``rules`` maps file names to rule-file
    documents (written next to the config, and named in ``config["rule_files"]``)."""
    port = port or free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    for name, document in rules.items():
        (workdir / name).write_text(yaml.safe_dump(dict(document), sort_keys=False), encoding="utf-8")
    config_file = workdir / "prometheus.yml"
    config_file.write_text(yaml.safe_dump(dict(config), sort_keys=False), encoding="utf-8")
    url = f"http://{LOOPBACK}:{port}"
    with start_process(
        name="prometheus",
        argv=[
            binary,
            f"--config.file={config_file}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address={LOOPBACK}:{port}",
            f"--web.external-url={url}",
            f"--rules.alert.resend-delay={resend_delay}",
            "--log.level=debug",
        ],
        url=url,
        ready_path="/-/ready",
        log_path=workdir / "prometheus.log",
        stdout=workdir / "prometheus.log",
        timeout=timeout,
    ) as running:
        yield running
