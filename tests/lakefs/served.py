"""The lakeFS test server's handle and keys (imported by conftest and the tests)."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lakefs
import uvicorn
from lakefs_sdk.client import LakeFSClient
from lakefs_sdk.configuration import Configuration

from featurestore import FeatureStore

REPO = "lakeproj"
READER, WRITER, ADMIN = "lk-reader-key-01", "lk-writer-key-01", "lk-admin-key-001"


@dataclass
class LakeServer:
    """A running server: its base URL, the store behind it and its keys by role."""

    url: str
    store: FeatureStore
    root: Path
    repo_name: str = REPO

    def client(self, key: str = WRITER, user: str = "tester") -> lakefs.Client:
        """A high-level SDK client with ``key`` as the secret access key."""
        return lakefs.Client(host=self.url, username=user, password=key)  # type: ignore[no-untyped-call]

    def sdk(self, key: str = WRITER, user: str = "tester") -> LakeFSClient:
        """A generated-API client with ``key`` as the secret access key."""
        config = Configuration(host=self.url, username=user, password=key)
        return LakeFSClient(config)  # type: ignore[no-untyped-call]


class Uvicorn:
    """uvicorn serving ``app`` in a thread on a free loopback port."""

    def __init__(self, app: Any) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        config = uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]})

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()
