"""API keys with roles: ``reader`` < ``writer`` < ``admin``.

A key is sent as ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``. Keys are
kept as SHA-256 digests, so looking one up takes the same time whatever it shares
with a real key.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Literal

from featurestore.config import ApiKey
from featurestore.server._errors import HTTPError

__all__ = ["ROLES", "Keyring", "Role"]

Role = Literal["open", "reader", "writer", "admin"]
ROLES: dict[str, int] = {"open": 0, "reader": 1, "writer": 2, "admin": 3}


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


class Keyring:
    """The configured keys; with none, every request is allowed."""

    def __init__(self, keys: Iterable[ApiKey]) -> None:
        self._roles = {_digest(k.key): ROLES[k.role] for k in keys}

    @property
    def enabled(self) -> bool:
        """Whether any key is configured."""
        return bool(self._roles)

    def check(self, authorization: str | None, api_key: str | None, needed: Role) -> None:
        """Raise 401 without a valid key and 403 when its role is below ``needed``."""
        if not self._roles or needed == "open":
            return
        key = api_key
        if key is None and authorization is not None:
            scheme, _, value = authorization.partition(" ")
            if scheme.lower() == "bearer":
                key = value.strip()
        if not key:
            raise HTTPError(
                401,
                "unauthorized",
                "this server needs an API key: send `Authorization: Bearer <key>` "
                "or `X-API-Key: <key>`",
            )
        level = self._roles.get(_digest(key))
        if level is None:
            raise HTTPError(401, "unauthorized", "the API key is not valid on this server")
        if level < ROLES[needed]:
            raise HTTPError(
                403,
                "forbidden",
                f"this endpoint needs the `{needed}` role; ask for a key with that role",
            )
