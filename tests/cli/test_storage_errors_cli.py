"""S3 storage at an endpoint nobody listens on, from featurestore.yaml or AWS_ENDPOINT_URL:
the command fails in one line naming the endpoint and what to check, not as a bug."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.cli.conftest import Run

DEAD = "http://127.0.0.1:1"  # a privileged port: nothing listens there
FAST = {"AWS_MAX_ATTEMPTS": "1"}  # botocore fails at once instead of after 5 tries


@pytest.mark.parametrize("where", ["storage_options", "AWS_ENDPOINT_URL"])
def test_unreachable_endpoint_is_a_clear_error(tmp_path: Path, redis_url: str, where: str) -> None:
    config = {
        "project": "unreachable",
        "storage": "s3://bucket/repo",
        "metadata_url": f"sqlite:///{tmp_path / 'meta' / 'repos.sqlite'}",
        "create_repository": True,
    }
    env = {**FAST, "AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s"}
    if where == "storage_options":
        config["storage_options"] = {"endpoint_url": DEAD}
    else:
        env["AWS_ENDPOINT_URL"] = DEAD
    (tmp_path / "featurestore.yaml").write_text(yaml.safe_dump(config))
    for args in (["status"], ["init", tmp_path]):
        err = Run(tmp_path, redis_url)(*args, code=1, env=env).stderr
        assert "unexpected" not in err and "this is a bug" not in err, err
        assert f"could not reach the storage at {DEAD}" in err, err
        assert "endpoint_url" in err and "AWS_ENDPOINT_URL" in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["featurestore.yaml"]
