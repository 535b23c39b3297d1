"""The SDK's first calls: server config, credentials and their roles."""

from __future__ import annotations

import httpx
import lakefs
import pytest
from lakefs_sdk.models.config import Config

from tests.lakefs.served import ADMIN, LakeServer


def test_client_reads_config(lakefs_client: lakefs.Client) -> None:
    assert lakefs_client.version.split(".")[0] == "1"
    assert lakefs_client.storage_config.pre_sign_support is False


def test_bad_secret_is_401_in_lakefs_shape(lakefs_server: LakeServer) -> None:
    with pytest.raises(lakefs.exceptions.NotAuthorizedException):
        _ = lakefs_server.client("not-a-key-at-all").version
    r = httpx.get(f"{lakefs_server.url}/api/v1/config", auth=("someone", "not-a-key-at-all"))
    assert r.status_code == 401
    assert set(r.json()) == {"message"}


def test_bearer_token_from_login(lakefs_server: LakeServer) -> None:
    r = httpx.post(
        f"{lakefs_server.url}/api/v1/auth/login",
        json={"access_key_id": "ops", "secret_access_key": ADMIN},
    )
    assert r.status_code == 200, r.text
    token = r.json()["token"]
    user = httpx.get(
        f"{lakefs_server.url}/api/v1/user", headers={"Authorization": f"Bearer {token}"}
    )
    assert user.status_code == 200


def test_unknown_path_is_lakefs_404(lakefs_server: LakeServer) -> None:
    r = httpx.get(f"{lakefs_server.url}/api/v1/no/such/thing", auth=("x", ADMIN))
    assert r.status_code == 404
    assert "message" in r.json()


def test_generated_sdk_current_user(lakefs_server: LakeServer) -> None:
    api = lakefs_server.sdk(ADMIN, user="ops")
    assert api.auth_api.get_current_user().user.id == "ops"
    assert isinstance(api.config_api.get_config(), Config)
