"""Fixtures: a fresh repository on SQLite and, when FEATURESTORE_TEST_POSTGRES_URL is
set, one on PostgreSQL in a schema of its own (dropped afterwards)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from repos import Repository

PG_URL = os.environ.get("FEATURESTORE_TEST_POSTGRES_URL")
BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(params=BACKENDS)
def metadata_url(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """``None`` (the default SQLite file) or a PostgreSQL URL bound to a fresh schema."""
    if request.param == "sqlite":
        yield None
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
def storage(tmp_path: Path) -> Path:
    return tmp_path / "repo"


@pytest.fixture
def repo(storage: Path, metadata_url: str | None) -> Iterator[Repository]:
    r = Repository.create(storage, metadata_url, author="tester")
    try:
        yield r
    finally:
        r.close()
