"""How a lakeFS endpoint is declared and wrapped.

A module declares its operations as ``Op`` rows (path under ``/api/v1``, method,
lakeFS's operation id, the role it needs, the handler)::

    async def _get_branch(ctx: Context, request: Request) -> Response:
        repo = ctx.repository(request)
        ...
        return json_response({...})

    ROUTES = (Op("/repositories/{repository}/branches/{branch}", "GET", "getBranch",
                 "reader", _get_branch),)

``wrap`` checks the origin and the credentials (``_auth``), runs the handler, answers
any error in lakeFS's shape (``_errors``) and records the request's metrics under
``lakefs_<operationId>``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

import repos
from featurestore.server._auth import Role
from featurestore.server._encoding import JSON, dumps
from featurestore.server.lakefs._auth import Caller, authenticate
from featurestore.server.lakefs._errors import LakeFSError, error_response, from_exception

if TYPE_CHECKING:
    from featurestore import FeatureStore
    from featurestore.server._app import _Service

__all__ = ["Context", "Handler", "Op", "json_response", "wrap"]

log = logging.getLogger("featurestore.server")
T = TypeVar("T")
DISCONNECTED = 499


class Context:
    """What a lakeFS handler gets: the service, the store, the caller."""

    def __init__(self, service: _Service, caller: Caller) -> None:
        self.service = service
        self.store: FeatureStore = service.store
        self.caller = caller

    @property
    def repository_name(self) -> str:
        """The name the project's repository is served under: the project's name."""
        return self.store.config.project

    def repository(self, request: Request) -> repos.Repository:
        """The repository the path names; 404 unless it is the project's."""
        name = request.path_params["repository"]
        self.check_repository(name)
        return self.store.repository

    def check_repository(self, name: str) -> None:
        """404 in lakeFS's words unless ``name`` is the project's repository."""
        if name != self.repository_name:
            raise LakeFSError(
                404,
                f"repository not found: {name!r}; this server serves one repository, "
                f"{self.repository_name!r} (the project's name)",
            )

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a blocking call in a worker thread within the request timeout."""
        return await self.service.call(fn, *args)

    async def body(self, request: Request) -> dict[str, Any]:
        """The JSON object body (size and content type checked); 400 unless an object."""
        body = await self.service.body(request)
        if not isinstance(body, dict):
            raise LakeFSError(400, "the body must be a JSON object")
        return body


Handler = Callable[[Context, Request], Awaitable[Response]]


@dataclass(frozen=True)
class Op:
    """One lakeFS operation: its path under ``/api/v1``, method, operation id, role."""

    path: str
    method: str
    name: str
    role: Role
    handler: Handler


def json_response(value: Any, status: int = 200) -> Response:
    """A JSON response."""
    return Response(dumps(value), status_code=status, media_type=JSON)


def wrap(service: _Service, op: Op) -> Callable[[Request], Awaitable[Response]]:
    """The ASGI endpoint for ``op``: origin and credential checks, lakeFS errors, metrics."""
    metrics = service.metrics
    name = f"lakefs_{op.name}"

    async def endpoint(request: Request) -> Response:
        start = time.perf_counter()
        try:
            headers = request.headers
            service.origins.check(
                request.method, headers.get("origin"), headers.get("sec-fetch-site")
            )
            caller = authenticate(
                service.keyring, headers.get("authorization"), headers.get("x-api-key"), op.role
            )
            response = await op.handler(Context(service, caller), request)
        except ClientDisconnect:
            metrics.error(name, "client_disconnected")
            response = Response(status_code=DISCONNECTED)
        except Exception as exc:
            err = from_exception(exc, service.places)
            if err.status >= 500:
                log.error("%s failed: %s", name, exc, exc_info=err.status == 500)
            metrics.error(name, str(err.status))
            response = error_response(err)
        metrics.observe(name, request.method, response.status_code, time.perf_counter() - start)
        return response

    return endpoint
