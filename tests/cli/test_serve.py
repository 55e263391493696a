"""``sevbot serve --workers 2``: several web processes on one port and one SQLite file, as replicas would."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from tests.support.payloads import am_alert, am_payload
from tests.support.processes import start_sevbot

TOKEN = "workers-test-token-81d2"


def post(url: str, payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        f"{url}/webhooks/alertmanager",
        data=json.dumps(payload).encode(),
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status, json.loads(response.read())


def child_processes(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def test_two_web_processes_share_one_database_without_splitting_a_group(tmp_path: Path) -> None:
    settings = {"workers": "2", "scorer": "rules", "log_level": "WARNING"}
    with start_sevbot(data_dir=tmp_path / "data", token=TOKEN, settings=settings) as sevbot:
        # 40 alerts of one group from 8 concurrent senders, and 8 other groups: whichever process
        # answers, each group is one incident and every alert is stored once.
        same = [am_payload([am_alert(instance=f"pod-{i}")], group_key="one") for i in range(40)]
        other = [am_payload([am_alert(f"Other{i}")], group_key=f"g{i}") for i in range(8)]
        with ThreadPoolExecutor(max_workers=8) as pool:
            answers = list(pool.map(lambda p: post(sevbot.url, p), same + other))
        with urllib.request.urlopen(f"{sevbot.url}/api/incidents?limit=100", timeout=30) as response:
            listing = json.loads(response.read())
        children = len(child_processes(sevbot.process.pid))

    assert {status for status, _ in answers} == {202}
    assert listing["total"] == 9
    by_group = {item["group_key"]: item for item in listing["items"]}
    assert by_group["one"]["alert_count"] == 40
    assert len({answer["incidents"][0] for _, answer in answers[:40]}) == 1
    assert children >= 2, "uvicorn runs each web process as a child of `sevbot serve`"


def test_serve_closes_slow_headers_with_408_and_answers_503_past_its_concurrency(tmp_path: Path) -> None:
    settings = {
        "scorer": "rules",
        "log_level": "WARNING",
        "header_timeout_seconds": "5",  # the crowded request below is answered well before it
        "limit_concurrency": "4",
    }
    with start_sevbot(data_dir=tmp_path / "data", token=TOKEN, settings=settings) as sevbot:
        host, port = sevbot.url.removeprefix("http://").split(":")
        idle = [socket.create_connection((host, int(port)), timeout=30) for _ in range(3)]
        idle[0].sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # headers begun, never finished
        try:
            with urllib.request.urlopen(f"{sevbot.url}/healthz", timeout=30) as response:
                crowded = response.status
        except urllib.error.HTTPError as exc:
            crowded = exc.code
            exc.close()
        answers = [sock.recv(4096) for sock in idle]  # each is answered and closed by the deadline
        for sock in idle:
            sock.close()
        with urllib.request.urlopen(f"{sevbot.url}/healthz", timeout=30) as response:
            after = response.status

    assert crowded == 503  # four connections at once: three idle ones and this request
    assert all(answer.startswith(b"HTTP/1.1 408") for answer in answers)
    assert after == 200
