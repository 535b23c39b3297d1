"""lakeFS credentials mapped onto the server's API keys and roles.

lakeFS clients authenticate with an access key pair (HTTP basic: ``access_key_id``
as the user, ``secret_access_key`` as the password) or with a bearer token. Here:

- the **secret access key is one of ``server.api_keys``**; the access key id is free
  text (a name for the client; it is shown as the user's id);
- a **bearer token is an API key** too; ``POST /auth/login`` with a key pair answers
  the secret itself as the token (it never expires), so clients that log in first
  and send the token afterwards work unchanged;
- the key's role decides what the client may do: ``reader`` reads, ``writer`` also
  writes objects, commits, branches, tags and merges, ``admin`` also creates and
  deletes repositories.

With no key configured, every request is allowed, as on the rest of the server.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from featurestore.server._auth import Keyring, Role
from featurestore.server._errors import HTTPError
from featurestore.server.lakefs._errors import LakeFSError

__all__ = ["Caller", "authenticate", "credentials"]

ANONYMOUS = "anonymous"


@dataclass(frozen=True)
class Caller:
    """Who sent a request: the access key id (or ``anonymous``) and the key used."""

    user: str
    key: str | None


def credentials(authorization: str | None, api_key: str | None) -> Caller:
    """The caller named by the request's ``Authorization`` (basic or bearer) or
    ``X-API-Key`` header; 401 for a malformed basic header."""
    if api_key:
        return Caller(ANONYMOUS, api_key)
    if not authorization:
        return Caller(ANONYMOUS, None)
    scheme, _, value = authorization.partition(" ")
    scheme = scheme.lower()
    if scheme == "bearer":
        return Caller(ANONYMOUS, value.strip() or None)
    if scheme == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise LakeFSError(
                401, "the basic credentials are not base64 of `access_key_id:secret_access_key`"
            ) from None
        user, sep, secret = decoded.partition(":")
        if not sep:
            raise LakeFSError(401, "the basic credentials need `access_key_id:secret_access_key`")
        return Caller(user or ANONYMOUS, secret or None)
    raise LakeFSError(
        401, f"unsupported authorization scheme {scheme!r}: use Basic (a key pair) or Bearer"
    )


def authenticate(
    keyring: Keyring, authorization: str | None, api_key: str | None, needed: Role
) -> Caller:
    """The caller, once its key holds ``needed``'s role; 401 otherwise, as lakeFS
    answers both a bad credential and a missing permission."""
    caller = credentials(authorization, api_key)
    if not keyring.enabled or needed == "open":
        return caller
    if caller.key is None:
        raise LakeFSError(
            401,
            "this server needs credentials: the secret access key (or bearer token) is one "
            "of the server's API keys",
        )
    try:
        keyring.check(f"Bearer {caller.key}", None, needed)
    except HTTPError as e:
        if e.status == 403:
            raise LakeFSError(
                401, f"insufficient permissions: this call needs a key with the `{needed}` role"
            ) from None
        raise LakeFSError(
            401, "the secret access key (or bearer token) is not an API key of this server"
        ) from None
    return caller
