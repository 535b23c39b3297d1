"""Refusing what a browser on another site can send: writes from foreign origins and
JSON endpoints called with form or text bodies.

The service serves no web pages, so no page of its own ever sends an ``Origin``: a
request other than GET / HEAD that carries one comes from some other site, and is
refused unless its origin is listed in ``server.allowed_origins``. A browser also
sends ``text/plain``, form and multipart bodies cross-site without asking first;
JSON endpoints take only JSON, so such a body is refused before it is read.
"""

from __future__ import annotations

from collections.abc import Iterable

from featurestore.server._errors import HTTPError

__all__ = ["OriginPolicy", "check_json_body"]

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_FOREIGN_FETCH = frozenset({"cross-site", "same-site"})


class OriginPolicy:
    """Which browser origins may send requests other than GET."""

    def __init__(self, allowed: Iterable[str]) -> None:
        origins = {o.strip().rstrip("/").lower() for o in allowed if o.strip()}
        self.any = "*" in origins
        self.allowed = frozenset(origins - {"*"})

    @property
    def configured(self) -> bool:
        """Whether any origin is allowed (the service then answers CORS preflights)."""
        return self.any or bool(self.allowed)

    def check(self, method: str, origin: str | None, fetch_site: str | None) -> None:
        """Raise 403 ``cross_origin`` for a state-changing request from a foreign site."""
        if method in SAFE_METHODS or self.any:
            return
        if origin is not None:
            if origin.strip().rstrip("/").lower() in self.allowed:
                return
            raise HTTPError(
                403,
                "cross_origin",
                f"requests from the web origin {origin[:200]!r} are refused: this service "
                "takes writes from browsers only from origins listed in "
                "server.allowed_origins",
            )
        if fetch_site is not None and fetch_site.strip().lower() in _FOREIGN_FETCH:
            raise HTTPError(
                403,
                "cross_origin",
                "a cross-site browser request is refused: list the calling page's origin "
                "in server.allowed_origins",
            )


def check_json_body(content_type: str | None) -> None:
    """Raise 415 ``unsupported_media_type`` unless the body is declared as JSON."""
    media = (content_type or "").partition(";")[0].strip().lower()
    if media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    ):
        return
    shown = f"Content-Type {media[:100]!r}" if media else "no Content-Type"
    raise HTTPError(
        415,
        "unsupported_media_type",
        f"this endpoint takes a JSON body, and the request has {shown}: "
        "send it with `Content-Type: application/json`",
    )
