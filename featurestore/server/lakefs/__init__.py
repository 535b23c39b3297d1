"""lakeFS's REST API (the subset its SDKs and lakefs-spec use) under ``/api/v1``.

The project's repository is served under the project's name; lakeFS clients
authenticate with an access key pair or a bearer token whose secret is one of the
server's API keys (``_auth``). Errors have lakeFS's shape (``_errors``), lists its
pagination (``_paging``); operations lakeFS clients may call that are not served here
answer 501 (``_unsupported``). Each module declares its operations as ``Op`` rows
(``_endpoint``); ``routes`` wraps them all.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.routing import BaseRoute, Route

from featurestore.server.lakefs import (
    _branches,
    _commits,
    _config,
    _refs,
    _repositories,
    _tags,
    _unsupported,
)
from featurestore.server.lakefs._endpoint import Op, wrap
from featurestore.server.lakefs._errors import LakeFSError, error_response
from featurestore.server.lakefs._objects import OBJECT_ROUTES

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

    from featurestore.server._app import _Service

__all__ = ["PREFIX", "routes"]

PREFIX = "/api/v1"

_OPS: tuple[Op | BaseRoute, ...] = (
    *_config.ROUTES,
    *_repositories.ROUTES,
    *_branches.ROUTES,
    *_commits.ROUTES,
    *_refs.ROUTES,
    *_tags.ROUTES,
    *OBJECT_ROUTES,
    *_unsupported.ROUTES,
)


async def _not_found(request: Request) -> Response:
    return error_response(
        LakeFSError(
            404,
            f"{request.method} {request.url.path} is not part of the lakeFS API this server "
            "answers; see the README's lakeFS clients section for the endpoints",
        )
    )


def routes(service: _Service) -> list[Route]:
    """The lakeFS routes under ``/api/v1`` for the app's ``service``; any other path
    under it is answered 404 in lakeFS's shape."""
    found: list[Route] = []
    for op in _OPS:
        if isinstance(op, Op):
            endpoint = wrap(service, op)
            found.append(Route(PREFIX + op.path, endpoint, methods=[op.method], name=op.name))
        elif isinstance(op, Route):  # a plain route, its path already under /api/v1
            found.append(op)
        else:
            raise TypeError(f"a lakeFS route must be an Op or a Route, not {op!r}")
    methods = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH"]
    return [*found, Route(PREFIX + "/{rest:path}", _not_found, methods=methods)]
