"""A featurestore project served over real HTTP (uvicorn on a free port), and lakeFS's
own clients pointed at it.

Fixtures:

- ``lakefs_server``: the running server (``url``, ``store``, ``repo_name``, ``keys``);
- ``lakefs_client``: a ``lakefs.Client`` with the writer key (``reader_client``,
  ``admin_client`` for the other roles);
- ``lakefs_repo``: the project's repository as a ``lakefs.Repository`` (writer);
- ``sdk_client``: a ``lakefs_sdk.LakeFSClient`` (generated API, writer key);
- ``fresh_branch``: a new branch from ``main`` for one test (``lakefs.Branch``), deleted
  afterwards.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path

import lakefs
import pytest
import yaml
from lakefs_sdk.client import LakeFSClient

from featurestore import FeatureStore
from featurestore.server import create_app
from tests.lakefs.served import ADMIN, READER, REPO, WRITER, LakeServer, Uvicorn


def write_project(root: Path, redis_url: str) -> None:
    """A project named ``lakeproj`` with reader, writer and admin keys."""
    root.mkdir(parents=True, exist_ok=True)
    config = {
        "project": REPO,
        "storage": "data",
        "online_store": {
            "type": "redis",
            "url": redis_url,
            "key_prefix": f"lk{uuid.uuid4().hex[:8]}",
        },
        "server": {
            "api_keys": [
                {"key": READER, "role": "reader"},
                {"key": WRITER, "role": "writer"},
                {"key": ADMIN, "role": "admin"},
            ],
            "request_timeout_s": 30.0,
            "max_body_bytes": 64_000_000,
        },
    }
    (root / "featurestore.yaml").write_text(yaml.safe_dump(config))


@pytest.fixture(scope="session")
def lakefs_server(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[LakeServer]:
    root = tmp_path_factory.mktemp("lakeproj")
    write_project(root, redis_url)
    store = FeatureStore.init(root, exist_ok=True)
    store.repository.branch("main").object("README.md").upload(b"lakeproj\n")
    store.commit("first commit")
    app = create_app(store, close_store=True)
    with Uvicorn(app) as url:
        yield LakeServer(url, store, root)


@pytest.fixture
def lakefs_client(lakefs_server: LakeServer) -> lakefs.Client:
    return lakefs_server.client(WRITER)


@pytest.fixture
def reader_client(lakefs_server: LakeServer) -> lakefs.Client:
    return lakefs_server.client(READER)


@pytest.fixture
def admin_client(lakefs_server: LakeServer) -> lakefs.Client:
    return lakefs_server.client(ADMIN)


@pytest.fixture
def lakefs_repo(lakefs_server: LakeServer, lakefs_client: lakefs.Client) -> lakefs.Repository:
    return lakefs.Repository(lakefs_server.repo_name, client=lakefs_client)


@pytest.fixture
def sdk_client(lakefs_server: LakeServer) -> LakeFSClient:
    return lakefs_server.sdk(WRITER)


@pytest.fixture
def fresh_branch(lakefs_repo: lakefs.Repository) -> Iterator[lakefs.Branch]:
    branch = lakefs_repo.branch(f"t-{uuid.uuid4().hex[:10]}").create(source_reference="main")
    yield branch
    with contextlib.suppress(lakefs.exceptions.NotFoundException):
        branch.delete()
