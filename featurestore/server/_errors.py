"""HTTP errors and the mapping of featurestore errors to status codes.

The error classes know nothing of HTTP; this module decides what each one means
for a client. Every error body has the same shape::

    {"error": {"code": "not_found", "message": "..."}}

Messages from the store are made public first: URL passwords are redacted and local
paths removed (the server's log keeps the detail, without passwords).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from featurestore import errors
from featurestore.boundary import redact

__all__ = ["HTTPError", "from_exception", "public_message"]

# An absolute POSIX path of at least two parts, not inside a URL (``s3://b/x``).
_ABSOLUTE_PATH = re.compile(r"(?<![\w.:/~-])/(?:[^\s/'\"`]+/)+[^\s/'\"`:;,)]*")


class HTTPError(Exception):
    """An error answered to the client with a status and a stable code."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def body(self) -> dict[str, object]:
        """The JSON error body."""
        return {"error": {"code": self.code, "message": self.message}}


# Most specific first: SchemaError before ValidationError.
_MAPPING: tuple[tuple[type[BaseException], int, str], ...] = (
    (errors.SchemaError, 422, "schema_error"),
    (errors.ValidationError, 422, "validation_error"),
    (errors.DefinitionError, 422, "definition_error"),
    (errors.NotFoundError, 404, "not_found"),
    (errors.ConflictError, 409, "conflict"),
    (errors.RefusedError, 403, "refused"),
    (errors.CorruptDataError, 500, "corrupt_data"),
    (errors.BackendError, 503, "backend_unavailable"),
    (errors.ConfigError, 500, "config_error"),
)


def public_message(text: str, places: Sequence[tuple[str, str]] = ()) -> str:
    """``text`` fit for a client: no URL password, no local path.

    ``places`` names known local folders (``(path, "the repository")``); any other
    absolute path becomes ``<local path>``.
    """
    text = redact(text)
    for path, name in sorted(places, key=lambda p: len(p[0]), reverse=True):
        if path and path != "/":
            text = text.replace(path, name)
    return _ABSOLUTE_PATH.sub("<local path>", text)


def from_exception(exc: BaseException, places: Sequence[tuple[str, str]] = ()) -> HTTPError:
    """The HTTP error for an exception raised by the store, its message made public."""
    if isinstance(exc, HTTPError):
        return exc
    for kind, status, code in _MAPPING:
        if isinstance(exc, kind):
            return HTTPError(status, code, public_message(str(exc), places))
    return HTTPError(500, "internal", "the server failed to answer; see its log for details")
