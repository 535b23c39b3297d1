"""``serve(path, host, port, workers)`` as the CLI runs it: two uvicorn workers in a
child process over a project on embedded defaults; lookups answer; SIGTERM ends it all."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import httpx
import pyarrow as pa

from featurestore import FeatureStore
from featurestore.project import load_definitions
from tests.server.conftest import EXAMPLE, NOW

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the server exited"
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError("the server did not answer /health")


def test_two_workers_answer_and_stop(tmp_path: Path, data: pa.Table) -> None:
    root = tmp_path / "embedded"
    root.mkdir()
    (root / "definitions.py").write_text((EXAMPLE / "definitions.py").read_text())
    with FeatureStore.init(root, project="serve_test") as store:
        store.apply(load_definitions(root))
        store.ingest("driver_stats", data)
        store.commit("first load")
        store.materialize(NOW - timedelta(days=10), NOW + timedelta(seconds=1))
    port = _free_port()
    code = (
        "import sys; from featurestore.server import serve; "
        f"serve(sys.argv[1], host='127.0.0.1', port={port}, workers=2, log_level='warning')"
    )
    proc = subprocess.Popen([sys.executable, "-c", code, str(root)], cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait(url, proc)
        body = {"features": ["driver_hourly_stats:conv_rate"], "entities": {"driver_id": [1001]}}
        with httpx.Client(base_url=url, timeout=10) as http:
            for _ in range(10):
                r = http.post("/get-online-features", json=body, headers={"Connection": "close"})
                assert r.status_code == 200, r.text
                assert r.json()["results"][1]["statuses"] == ["PRESENT"]
        workers = [p for p in _children(proc.pid) if b"multiprocessing.spawn" in _cmdline(p)]
        assert len(workers) == 2
        valkey = int((root / "data" / "online" / "valkey.pid").read_text())
        assert _alive(valkey)
    finally:
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(30)
    assert rc == 0
    # Nothing is left running: the workers and the embedded online server are gone.
    for pid in [*workers, valkey]:
        deadline = time.monotonic() + 15
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(pid), pid


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(c) for c in text.split()]


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
