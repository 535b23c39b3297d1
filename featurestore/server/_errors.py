"""HTTP errors and the mapping of featurestore errors to status codes.

The error classes know nothing of HTTP; this module decides what each one means
for a client. Every error body has the same shape::

    {"error": {"code": "not_found", "message": "..."}}
"""

from __future__ import annotations

from featurestore import errors

__all__ = ["HTTPError", "from_exception"]


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
    (errors.BackendError, 503, "backend_unavailable"),
    (errors.ConfigError, 500, "config_error"),
)


def from_exception(exc: BaseException) -> HTTPError:
    """The HTTP error for an exception raised by the store."""
    if isinstance(exc, HTTPError):
        return exc
    for kind, status, code in _MAPPING:
        if isinstance(exc, kind):
            return HTTPError(status, code, str(exc))
    return HTTPError(500, "internal", "the server failed to answer; see its log for details")
