"""``/config``, ``/healthcheck``, ``/setup_lakefs``, ``/user`` and ``/auth/login``: what a
lakeFS client reads before its first real call."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from featurestore.server.lakefs._auth import authenticate
from featurestore.server.lakefs._endpoint import Context, Op, json_response
from featurestore.server.lakefs._errors import LakeFSError

__all__ = ["API_VERSION", "ROUTES", "storage_config"]

API_VERSION = "1.84.0"
"""The lakeFS release whose API this server follows (clients compare versions)."""
_NEVER = 4_102_444_800
"""2100-01-01 in Unix seconds: tokens from ``/auth/login`` are API keys; they do not expire."""


def storage_config(ctx: Context) -> dict[str, Any]:
    """lakeFS's ``StorageConfig``: local or remote object storage, no pre-signed URLs."""
    location = ctx.store.config.storage_location
    scheme = location.split("://", 1)[0] if "://" in location else "local"
    return {
        "blockstore_type": scheme,
        "blockstore_namespace_example": f"{scheme}://",
        "blockstore_namespace_ValidityRegex": ".*",
        "default_namespace_prefix": "",
        "pre_sign_support": False,
        "pre_sign_support_ui": False,
        "import_support": False,
        "import_validity_regex": "^$",
        "pre_sign_multipart_upload": False,
        "blockstore_id": "",
        "blockstore_description": "the featurestore project's object storage",
    }


def _version() -> dict[str, Any]:
    return {
        "version": API_VERSION,
        "version_context": "featurestore",
        "upgrade_recommended": False,
    }


async def _get_config(ctx: Context, request: Request) -> Response:
    storage = storage_config(ctx)
    return json_response(
        {
            "version_config": _version(),
            "storage_config": storage,
            "storage_config_list": [storage],
            "ui_config": {"custom_viewers": []},
            "capabilities_config": {},
        }
    )


async def _get_version(ctx: Context, request: Request) -> Response:
    return json_response(_version())


async def _get_storage(ctx: Context, request: Request) -> Response:
    return json_response(storage_config(ctx))


async def _health(ctx: Context, request: Request) -> Response:
    return Response(status_code=204)


async def _setup_state(ctx: Context, request: Request) -> Response:
    return json_response({"state": "initialized", "login_config": {"rbac": "none"}})


async def _setup(ctx: Context, request: Request) -> Response:
    raise LakeFSError(
        409,
        "lakeFS setup is already done: this server's users are its API keys "
        "(server.api_keys in featurestore.yaml)",
    )


async def _user(ctx: Context, request: Request) -> Response:
    return json_response(
        {
            "user": {
                "id": ctx.caller.user,
                "creation_date": 0,
                "friendly_name": ctx.caller.user,
            }
        }
    )


async def _login(ctx: Context, request: Request) -> Response:
    body = await ctx.body(request)
    secret = body.get("secret_access_key")
    if not isinstance(secret, str) or not secret:
        raise LakeFSError(400, "give access_key_id and secret_access_key")
    authenticate(ctx.service.keyring, f"Bearer {secret}", None, "reader")
    return json_response({"token": secret, "token_expiration": _NEVER})


ROUTES: tuple[Op, ...] = (
    Op("/config", "GET", "getConfig", "reader", _get_config),
    Op("/config/version", "GET", "getLakeFSVersion", "reader", _get_version),
    Op("/config/storage", "GET", "getStorageConfig", "reader", _get_storage),
    Op("/healthcheck", "GET", "healthCheck", "open", _health),
    Op("/setup_lakefs", "GET", "getSetupState", "open", _setup_state),
    Op("/setup_lakefs", "POST", "setup", "open", _setup),
    Op("/user", "GET", "getCurrentUser", "reader", _user),
    Op("/auth/login", "POST", "login", "open", _login),
)
