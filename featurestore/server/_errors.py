"""HTTP errors and the mapping of featurestore errors to status codes.

The error classes know nothing of HTTP; this module decides what each one means
for a client. An error body has this shape::

    {"error": {"code": "not_found", "message": "..."}}

A request in the form Feast's SDK sends (a body naming one of Feast's SDK fields,
``_app.FEAST_SDK_FIELDS``) is answered in Feast's error form instead: a JSON *string*
holding ``{"module", "class", "message"}``, which Feast's client turns into its own
exception class (``FeatureViewNotFoundException``...). That string holds our ``error``
object too, so one parser reads both::

    "{\"module\": \"feast.errors\", \"class\": \"FeatureViewNotFoundException\",
      \"message\": \"...\", \"error\": {\"code\": \"not_found\", \"message\": \"...\"}}"

Messages from the store are made public first: URL passwords are redacted and local
paths removed (the server's log keeps the detail, without passwords).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from featurestore import errors
from featurestore.boundary import redact

__all__ = ["FEAST_ERRORS", "HTTPError", "from_exception", "public_message"]

FEAST_ERRORS = "feast.errors"
"""The module of Feast's exception classes, named in Feast's error form."""

# An absolute POSIX path of at least two parts, not inside a URL (``s3://b/x``).
_ABSOLUTE_PATH = re.compile(r"(?<![\w.:/~-])/(?:[^\s/'\"`]+/)+[^\s/'\"`:;,)]*")


class HTTPError(Exception):
    """An error answered to the client with a status and a stable code."""

    def __init__(
        self, status: int, code: str, message: str, feast_class: str | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.feast_class = feast_class

    def body(self) -> dict[str, object]:
        """The JSON error body."""
        return {"error": {"code": self.code, "message": self.message}}

    def feast_body(self) -> str:
        """Feast's error form: the JSON text Feast's client reads its exception from.

        The class is the one Feast raises for the same mistake where one exists
        (``feast_class``), else Feast's class for the status: not found, permission, or
        its root ``FeastError``.
        """
        name = self.feast_class
        if name is None:
            name = _FEAST_BY_STATUS.get(self.status, "FeastError")
        detail = {"module": FEAST_ERRORS, "class": name, "message": self.message}
        return json.dumps({**detail, **self.body()})


_FEAST_BY_STATUS = {
    401: "FeastPermissionError",
    403: "FeastPermissionError",
    404: "FeastObjectNotFoundException",
}


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
