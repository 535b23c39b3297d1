"""The UI's session cookie: the API key a user logged in with and a CSRF token.

The cookie is signed with HMAC-SHA256 (a key made per server start, or
``FEATURESTORE_UI_SECRET`` so that several workers share sessions), HttpOnly and
SameSite=Strict. It holds the key the browser sent at login, so a client learns
nothing it did not know; the signature stops a forged or edited cookie.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass

__all__ = ["COOKIE", "SECRET_ENV", "Session", "Signer"]

COOKIE = "featurestore_ui"
SECRET_ENV = "FEATURESTORE_UI_SECRET"
MAX_AGE_S = 12 * 3600


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class Session:
    """One browser's session: its API key (None before login) and its CSRF token."""

    key: str | None
    csrf: str

    @staticmethod
    def fresh(key: str | None = None) -> Session:
        """A new session with a new CSRF token."""
        return Session(key, secrets.token_urlsafe(32))


class Signer:
    """Signs sessions into cookie values and reads them back, refusing forgeries."""

    def __init__(self, secret: bytes | None = None) -> None:
        given = os.environ.get(SECRET_ENV)
        self._secret = secret or (given.encode() if given else secrets.token_bytes(32))

    def _mac(self, payload: str) -> str:
        return _b64(hmac.new(self._secret, payload.encode(), hashlib.sha256).digest())

    def dump(self, session: Session) -> str:
        """The cookie value: payload and signature."""
        payload = _b64(json.dumps({"k": session.key, "c": session.csrf}).encode())
        return f"{payload}.{self._mac(payload)}"

    def load(self, value: str | None) -> Session | None:
        """The session in a cookie value, or None when absent, malformed or forged."""
        if not value or value.count(".") != 1:
            return None
        payload, mac = value.split(".")
        if not hmac.compare_digest(mac, self._mac(payload)):
            return None
        try:
            data = json.loads(_unb64(payload))
        except ValueError:
            return None
        key, csrf = data.get("k"), data.get("c")
        if not isinstance(csrf, str) or not (key is None or isinstance(key, str)):
            return None
        return Session(key, csrf)
