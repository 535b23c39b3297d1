"""A SeaweedFS server (`weed mini`) for the Spark tests on S3 storage, started once per session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.s3_server import S3Server, seaweedfs


@pytest.fixture(scope="session")
def seaweedfs_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    with seaweedfs(tmp_path_factory.mktemp("seaweedfs")) as server:
        yield server
