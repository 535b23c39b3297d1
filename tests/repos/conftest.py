"""Fixtures: a fresh repository on SQLite and, when FEATURESTORE_TEST_POSTGRES_URL is
set, one on PostgreSQL in a schema of its own (dropped afterwards).

Object storage is a local folder, unless a test module names more backends in
``STORAGE_BACKENDS`` (``local``, ``seaweedfs``, ``moto``): its tests then run on each,
the S3 ones on a fresh prefix of a real server started once per session, with the
credentials in the standard AWS variables.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from repos import Repository
from tests.s3_server import S3Server, moto_server, seaweedfs

PG_URL = os.environ.get("FEATURESTORE_TEST_POSTGRES_URL")
BACKENDS = ["sqlite", "postgresql"]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    backends = getattr(metafunc.module, "STORAGE_BACKENDS", None)
    if backends and "storage_backend" in metafunc.fixturenames:
        metafunc.parametrize("storage_backend", backends, indirect=True)


@pytest.fixture(scope="session")
def seaweedfs_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """One SeaweedFS server (`weed mini`) for the session."""
    with seaweedfs(tmp_path_factory.mktemp("seaweedfs")) as server:
        yield server


@pytest.fixture(scope="session")
def moto_s3_server() -> Iterator[S3Server]:
    """One moto threaded S3 server for the session."""
    with moto_server() as server:
        yield server


@pytest.fixture
def storage_backend(request: pytest.FixtureRequest) -> str:
    """``local`` unless the module's ``STORAGE_BACKENDS`` parametrize it."""
    return str(getattr(request, "param", "local"))


@pytest.fixture
def s3_server(
    storage_backend: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> S3Server | None:
    """The S3 server of this backend (None: local), its keys in the AWS variables."""
    if storage_backend == "local":
        return None
    name = {"seaweedfs": "seaweedfs_server", "moto": "moto_s3_server"}[storage_backend]
    server: S3Server = request.getfixturevalue(name)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", server.key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", server.secret)
    monkeypatch.setenv("AWS_ENDPOINT_URL", server.endpoint_url)
    monkeypatch.setenv("AWS_DEFAULT_REGION", server.region)
    return server


@pytest.fixture(params=BACKENDS)
def metadata_url(
    request: pytest.FixtureRequest, s3_server: S3Server | None, tmp_path: Path
) -> Iterator[str | None]:
    """``None`` (the default SQLite file; beside remote storage, a file in tmp_path) or a
    PostgreSQL URL bound to a fresh schema."""
    if request.param == "sqlite":
        yield None if s3_server is None else f"sqlite:///{tmp_path / 'repos.sqlite'}"
        return
    if PG_URL is None:
        pytest.skip("FEATURESTORE_TEST_POSTGRES_URL is not set (.ci/run sets it where PostgreSQL answers)")
    schema = f"repos_t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in PG_URL else "?"
    try:
        yield f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def storage(tmp_path: Path, s3_server: S3Server | None) -> Iterator[Path | str]:
    """A local folder, or a fresh ``s3://`` prefix (its objects removed afterwards)."""
    if s3_server is None:
        yield tmp_path / "repo"
        return
    url = s3_server.fresh_url()
    yield url
    import s3fs

    fs = s3fs.S3FileSystem(
        key=s3_server.key,
        secret=s3_server.secret,
        client_kwargs={"endpoint_url": s3_server.endpoint_url},
        skip_instance_cache=True,
    )
    if fs.exists(url):
        fs.rm(url, recursive=True)


@pytest.fixture
def repo(storage: Path | str, metadata_url: str | None) -> Iterator[Repository]:
    r = Repository.create(storage, metadata_url, author="tester")
    try:
        yield r
    finally:
        r.close()
