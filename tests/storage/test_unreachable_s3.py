"""S3 storage at an endpoint nobody listens on: a ``repos.StorageError`` that names the
endpoint and what to check (through the facade, a ``FeatureStoreError`` caused by it), and
nothing left behind. No S3 server is needed."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

import repos
from featurestore import FeatureStore, FeatureStoreError

DEAD = "http://127.0.0.1:1"  # a privileged port: nothing listens there
ONE_TRY = {"retries": {"max_attempts": 1}}  # botocore's config: fail at once, not after 5 tries


@pytest.fixture(autouse=True)
def _no_aws_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(var, raising=False)


def test_create_and_open_on_an_unreachable_endpoint_are_storage_errors(tmp_path: Path) -> None:
    meta = tmp_path / "meta" / "repos.sqlite"
    options = {"endpoint_url": DEAD, "key": "k", "secret": "s", "config_kwargs": ONE_TRY}
    with pytest.raises(repos.StorageError) as created:
        repos.Repository.create(
            "s3://bucket/repo", metadata_url=f"sqlite:///{meta}", storage_options=options
        )
    message = str(created.value)
    assert f"could not reach the storage at {DEAD}" in message
    assert "endpoint_url" in message and "AWS_ENDPOINT_URL" in message
    assert type(created.value.__cause__).__name__ == "EndpointConnectionError"
    assert list(tmp_path.iterdir()) == []  # no metadata folder for a repository never made

    meta.parent.mkdir()
    meta.touch()  # a metadata database is there; the storage is asked for the repository's id
    with pytest.raises(repos.StorageError, match=f"could not reach the storage at {DEAD}"):
        repos.Repository.open(
            "s3://bucket/repo", metadata_url=f"sqlite:///{meta}", storage_options=options
        )


def test_aws_endpoint_url_unreachable_through_the_facade(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", DEAD)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "k")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s")
    config = {
        "project": "unreachable",
        "storage": "s3://bucket/repo",
        "storage_options": {"options": {"config_kwargs": ONE_TRY}},
        "metadata_url": f"sqlite:///{tmp_path / 'meta' / 'repos.sqlite'}",
    }
    (tmp_path / "featurestore.yaml").write_text(yaml.safe_dump(config))
    with pytest.raises(FeatureStoreError) as raised:
        FeatureStore.init(tmp_path, exist_ok=True)
    assert isinstance(raised.value.__cause__, repos.StorageError)
    assert f"could not reach the storage at {DEAD}" in str(raised.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["featurestore.yaml"]
