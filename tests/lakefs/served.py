"""The lakeFS test server's handle and keys (imported by conftest and the tests)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import lakefs
from lakefs_sdk.client import LakeFSClient
from lakefs_sdk.configuration import Configuration

from featurestore import FeatureStore
from tests.served_app import ServerThread

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


Uvicorn = ServerThread
