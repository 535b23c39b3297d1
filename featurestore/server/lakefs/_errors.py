"""lakeFS's error shape and status codes.

lakeFS answers an error with ``{"message": "..."}`` and the status its controller
picks for the cause; its SDK turns 400 / 401 / 403 / 404 / 409 / 412 / 420 into its
own exception classes (``BadRequestException``, ``NotFoundException``...). This module
maps our errors (``repos``'s and the facade's) onto the same statuses:

- not found -> 404; bad name, argument or nothing to commit -> 400;
- exists, lost race or merge conflict -> 409;
- protected branch, write through a tag or commit, untrusted code -> 403;
- a hook that refused -> 412 (lakeFS's "aborted by action failure");
- storage or backend failure -> 503; anything else -> 500.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.responses import Response

import repos
from featurestore import errors
from featurestore.server._encoding import JSON, dumps
from featurestore.server._errors import HTTPError, public_message

__all__ = ["LakeFSError", "error_response", "from_exception"]


class LakeFSError(Exception):
    """An error answered in lakeFS's shape: a status and a message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


# Most specific first.
_MAPPING: tuple[tuple[type[BaseException], int], ...] = (
    (repos.MergeConflictError, 409),
    (repos.NotFoundError, 404),
    (repos.EmptyCommitError, 400),
    (repos.InvalidNameError, 400),
    (repos.ConflictError, 409),
    (repos.HookRejectedError, 412),
    (repos.ProtectedBranchError, 403),
    (repos.ReadOnlyReferenceError, 403),
    (repos.StorageError, 503),
    (errors.MergeConflictError, 409),
    (errors.NotFoundError, 404),
    (errors.ValidationError, 400),
    (errors.DefinitionError, 400),
    (errors.ConflictError, 409),
    (errors.RefusedError, 403),
    (errors.CorruptDataError, 500),
    (errors.BackendError, 503),
)


def _cause(exc: BaseException) -> BaseException:
    """The ``repos`` error a facade error was translated from, when there is one: it
    tells a hook's refusal (412) from a protected branch's (403)."""
    cause = exc.__cause__
    return cause if isinstance(cause, repos.ReposError) else exc


def from_exception(exc: BaseException, places: Sequence[tuple[str, str]] = ()) -> LakeFSError:
    """The lakeFS error for ``exc``, its message made public (no password, no path)."""
    if isinstance(exc, LakeFSError):
        return exc
    if isinstance(exc, HTTPError):  # from the shared request checks (body size, keys)
        return LakeFSError(exc.status, exc.message)
    if isinstance(exc, errors.FeatureStoreError):
        inner = _cause(exc)
        if isinstance(inner, repos.HookRejectedError | repos.ProtectedBranchError):
            exc = inner
    for kind, status in _MAPPING:
        if isinstance(exc, kind):
            return LakeFSError(status, public_message(str(exc), places))
    return LakeFSError(500, "the server failed to answer; see its log for details")


def error_response(err: LakeFSError) -> Response:
    """The JSON response lakeFS sends for ``err``."""
    return Response(dumps({"message": err.message}), status_code=err.status, media_type=JSON)
