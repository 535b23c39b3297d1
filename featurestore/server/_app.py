"""The ASGI app: routes, keys, limits, timeouts, metrics and JSON errors.

Every store call runs in a worker thread, never on the event loop, so a slow
dependency delays only the requests that need it: calls that reach Redis and calls
that do not get threads from separate pools, and ``/health`` answers within a second
whatever its checks do.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import anyio.to_thread
import pyarrow as pa
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from featurestore.boundary import redact
from featurestore.server import _calls, _scoring, _writes, ui
from featurestore.server._auth import Keyring, Role
from featurestore.server._cross_site import OriginPolicy, check_json_body
from featurestore.server._encoding import ARROW_STREAM, JSON, arrow_body, dumps, loads, wants_arrow
from featurestore.server._errors import HTTPError, from_exception
from featurestore.server._feast_shape import REF_HEADER, parse_lookup, with_ref_header
from featurestore.server._health import HealthChecks
from featurestore.server._metrics import CONTENT_TYPE_LATEST, Metrics
from featurestore.server._openapi import openapi_document
from featurestore.server.lakefs import routes as lakefs_routes

if TYPE_CHECKING:
    from featurestore import FeatureStore

__all__ = ["create_app"]

log = logging.getLogger("featurestore.server")
T = TypeVar("T")

REGISTRY_TTL_S = 1.0
ONLINE_THREADS = 32
"""Worker threads for calls that reach the online store (lookups, pushes, materialize)."""
OTHER_THREADS = 16
"""Worker threads for the other calls (versioning, metadata): Redis cannot take them."""
MAX_LIMIT = 10_000
DISCONNECTED = 499
"""The status recorded (nginx's convention) when the client left before its answer."""
_WHOLE_NUMBER = re.compile(r"[0-9]{1,18}")
FEAST_SDK_FIELDS = frozenset(
    {
        "include_feature_view_version_metadata",
        "allow_registry_cache",
        "transform_on_write",
        "disable_event_timestamp",
    }
)
"""Fields only Feast's SDK and Feast-shaped clients send: a body naming one is answered
with errors in Feast's form (see ``_errors``), which Feast's client raises as its own."""
Handler = Callable[["_Service", Request], Awaitable[Response]]


def _json(value: Any, status: int = 200) -> Response:
    return Response(dumps(value), status_code=status, media_type=JSON)


def _error(err: HTTPError, feast_form: bool = False) -> Response:
    body = err.feast_body() if feast_form else err.body()
    response = _json(body, err.status)
    if err.status == 408:
        response.headers["connection"] = "close"
    return response


class _Redact(logging.Filter):
    """Remove URL passwords from the server's log records, tracebacks included."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


if not any(isinstance(f, _Redact) for f in log.filters):
    log.addFilter(_Redact())


class _Service:
    """What every endpoint shares: the store, the keys, the limits and the metrics."""

    def __init__(self, store: FeatureStore, close_store: bool) -> None:
        server = store.config.server
        self.store = store
        self.close_store = close_store
        self.keyring = Keyring(server.api_keys)
        self.origins = OriginPolicy(server.allowed_origins)
        self.max_entities = server.max_entities_per_request
        self.max_body = server.max_body_bytes
        self.timeout = server.request_timeout_s
        self.lookups_inline = server.lookups_on_event_loop
        self.body_timeout = server.body_timeout_s
        self.metrics = Metrics()
        self.metrics.watch_serving_log(
            lambda: store.serving_log.dropped, lambda: store.serving_log.queued_rows
        )
        self.online_threads = anyio.CapacityLimiter(ONLINE_THREADS)
        self.other_threads = anyio.CapacityLimiter(OTHER_THREADS)
        self.places = _places(store)
        self.health = HealthChecks(store, self.places)
        self.scoring = _scoring.Scoring(store)  # loads the models of featurestore.yaml
        # A lookup reuses the served definitions for a second before checking the
        # default branch's head again (a metadata query costs more than the lookup).
        store.registry_ttl_s = max(store.registry_ttl_s, REGISTRY_TTL_S)
        self.openapi = dumps(openapi_document(f"featurestore: {store.config.project}"))

    async def call(self, fn: Callable[..., T], *args: Any, online: bool = False) -> T:
        """Run a blocking store call in a worker thread, within the request timeout.

        ``online`` calls (those that reach Redis) take threads from their own pool, so
        a stalled Redis cannot starve the endpoints that do not need it.
        """
        limiter = self.online_threads if online else self.other_threads
        try:
            with anyio.fail_after(self.timeout):
                return await anyio.to_thread.run_sync(
                    partial(fn, *args), abandon_on_cancel=True, limiter=limiter
                )
        except TimeoutError:
            raise HTTPError(
                504,
                "timeout",
                f"the request took longer than {self.timeout:g} s and was abandoned; "
                "ask for fewer entities or retry later",
            ) from None

    async def body(self, request: Request) -> Any:
        """The JSON body: 415 unless declared JSON, 413 past the size limit (declared or
        streamed), 408 when it does not arrive within the body timeout."""
        check_json_body(request.headers.get("content-type"))
        declared = request.headers.get("content-length")
        if declared is not None:
            if not _WHOLE_NUMBER.fullmatch(declared.strip()):
                if declared.strip().isascii() and declared.strip().isdigit():
                    raise self._too_large()
                raise HTTPError(400, "bad_request", "Content-Length must be a whole number")
            if int(declared) > self.max_body:
                raise self._too_large()
        chunks = []
        size = 0
        with anyio.move_on_after(self.body_timeout) as scope:
            async for chunk in request.stream():
                size += len(chunk)
                if size > self.max_body:
                    raise self._too_large()
                chunks.append(chunk)
        if scope.cancelled_caught:
            raise HTTPError(
                408,
                "body_timeout",
                f"the request body did not arrive within {self.body_timeout:g} s; "
                "send the whole body at once",
            )
        try:
            body = loads(b"".join(chunks))
        except ValueError:
            raise HTTPError(400, "bad_request", "the body is not valid JSON") from None
        if isinstance(body, dict) and not FEAST_SDK_FIELDS.isdisjoint(body):
            request.state.feast_form = True
        return body

    def _too_large(self) -> HTTPError:
        return HTTPError(
            413, "body_too_large", f"the body is larger than this server's {self.max_body} bytes"
        )


def _places(store: FeatureStore) -> list[tuple[str, str]]:
    """The local folders that error messages may name, and what clients see instead."""
    config = store.config
    places = [(str(config.project_dir), "the project folder")]
    location = config.storage_location
    if "://" not in location:
        places.append((location, "the repository"))
    return places


def _endpoint(service: _Service, name: str, role: Role, handler: Handler) -> Any:
    """Wrap ``handler`` with origin and key checks, error mapping and metrics."""
    metrics = service.metrics
    keyring = service.keyring
    origins = service.origins
    places = service.places

    async def endpoint(request: Request) -> Response:
        start = time.perf_counter()
        try:
            headers = request.headers
            origins.check(request.method, headers.get("origin"), headers.get("sec-fetch-site"))
            if keyring.enabled:
                keyring.check(headers.get("authorization"), headers.get("x-api-key"), role)
            response = await handler(service, request)
        except ClientDisconnect:
            # The client left before sending its whole body: nobody to answer, no error.
            metrics.error(name, "client_disconnected")
            response = Response(status_code=DISCONNECTED)
        except Exception as exc:
            err = from_exception(exc, places)
            if err.status >= 500:
                log.error("%s failed: %s", name, exc, exc_info=err.status == 500)
            metrics.error(name, err.code)
            response = _error(err, getattr(request.state, "feast_form", False))
        metrics.observe(name, request.method, response.status_code, time.perf_counter() - start)
        return response

    return endpoint


async def _get_online_features(service: _Service, request: Request) -> Response:
    lookup = with_ref_header(
        parse_lookup(await service.body(request), service.max_entities),
        request.headers.get(REF_HEADER),
    )
    service.metrics.entities.observe(lookup.rows)
    arrow = wants_arrow(request.headers.get("accept"))
    fn = _calls.lookup_arrow if arrow else _calls.lookup_feast
    if service.lookups_inline:  # server.lookups_on_event_loop: no thread hop, no timeout
        result = fn(service.store, lookup)
    else:
        result = await service.call(fn, service.store, lookup, online=True)
    if isinstance(result, pa.Table):
        response = Response(arrow_body(result), media_type=ARROW_STREAM)
        request_id = (result.schema.metadata or {}).get(b"request_id", b"").decode()
    else:
        response = _json(result)
        request_id = result["metadata"].get("request_id", "")
    if request_id:  # the lookup was logged: GET /explain/{request_id} explains it
        response.headers["x-request-id"] = request_id
    return response


async def _warm_up(service: _Service) -> None:
    """Ready the lookup path before serving (see ``_calls.warm_up``), within the request
    timeout: a metadata database that does not answer delays the start no longer, and
    its error is logged, not raised (lookups report it)."""
    try:
        await service.call(_calls.warm_up, service.store)
    except Exception as exc:
        log.warning("could not read the served definitions before serving: %s", exc)


async def _push(service: _Service, request: Request) -> Response:
    push = _writes.parse_push(
        await service.body(request), service.max_entities, request.headers.get(REF_HEADER)
    )
    return _json(await service.call(_writes.push, service.store, push, online=True))


async def _write_to_online_store(service: _Service, request: Request) -> Response:
    write = _writes.parse_write(
        await service.body(request), service.max_entities, request.headers.get(REF_HEADER)
    )
    return _json(
        await service.call(_writes.write_to_online_store, service.store, write, online=True)
    )


async def _materialize(service: _Service, request: Request) -> Response:
    materialize = _writes.parse_materialize(
        await service.body(request), request.headers.get(REF_HEADER)
    )
    return _json(await service.call(_writes.materialize, service.store, materialize, online=True))


async def _materialize_incremental(service: _Service, request: Request) -> Response:
    run = _writes.parse_materialize_incremental(
        await service.body(request), request.headers.get(REF_HEADER)
    )
    return _json(
        await service.call(_writes.materialize_incremental, service.store, run, online=True)
    )


async def _branches(service: _Service, request: Request) -> Response:
    return _json(await service.call(_calls.branches, service.store))


async def _tags(service: _Service, request: Request) -> Response:
    return _json(await service.call(_calls.tags, service.store))


def _int_param(request: Request, name: str, default: int, most: int = MAX_LIMIT) -> int:
    """A query parameter of ASCII digits from 1 to ``most``; anything else is a 400."""
    raw = request.query_params.get(name)
    if raw is None:
        return default
    value = int(raw) if _WHOLE_NUMBER.fullmatch(raw) else 0
    if not 1 <= value <= most:
        raise HTTPError(400, "bad_request", f"`{name}` must be a whole number from 1 to {most}")
    return value


async def _log(service: _Service, request: Request) -> Response:
    params = request.query_params
    limit = _int_param(request, "limit", 100)
    return _json(
        await service.call(
            _calls.log, service.store, params.get("ref"), limit, params.get("prefix")
        )
    )


async def _diff(service: _Service, request: Request) -> Response:
    params = request.query_params
    left, right = params.get("left"), params.get("right")
    if not left or not right:
        raise HTTPError(400, "bad_request", "give both refs: /diff?left=<ref>&right=<ref>")
    return _json(await service.call(_calls.diff, service.store, left, right, params.get("prefix")))


async def _explain(service: _Service, request: Request) -> Response:
    request_id = request.path_params["request_id"]
    return _json(await service.call(_calls.explain, service.store, request_id))


async def _online_status(service: _Service, request: Request) -> Response:
    return _json(await service.call(_calls.online_status, service.store, online=True))


async def _health(service: _Service, request: Request) -> Response:
    healthy, body = await service.health.run()
    return _json(body, 200 if healthy else 503)


async def _metrics(service: _Service, request: Request) -> Response:
    return Response(service.metrics.render(), media_type=CONTENT_TYPE_LATEST)


async def _openapi(service: _Service, request: Request) -> Response:
    return Response(service.openapi, media_type=JSON)


_ROUTES: tuple[tuple[str, str, str, Role, Handler], ...] = (
    ("/get-online-features", "POST", "get_online_features", "reader", _get_online_features),
    ("/push", "POST", "push", "writer", _push),
    (
        "/write-to-online-store",
        "POST",
        "write_to_online_store",
        "writer",
        _write_to_online_store,
    ),
    ("/materialize", "POST", "materialize", "writer", _materialize),
    (
        "/materialize-incremental",
        "POST",
        "materialize_incremental",
        "writer",
        _materialize_incremental,
    ),
    ("/score/{service}", "POST", "score", "reader", _scoring.score),
    ("/branches", "GET", "branches", "reader", _branches),
    ("/tags", "GET", "tags", "reader", _tags),
    ("/log", "GET", "log", "reader", _log),
    ("/diff", "GET", "diff", "reader", _diff),
    ("/online-status", "GET", "online_status", "reader", _online_status),
    ("/explain/{request_id}", "GET", "explain", "reader", _explain),
    ("/health", "GET", "health", "open", _health),
    ("/metrics", "GET", "metrics", "reader", _metrics),
    ("/openapi.json", "GET", "openapi", "reader", _openapi),
)


async def _http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    if status == 404:
        return _error(
            HTTPError(404, "not_found", f"no endpoint at {request.url.path}; see GET /openapi.json")
        )
    if status == 405:
        return _error(
            HTTPError(
                405, "method_not_allowed", f"{request.method} is not allowed on {request.url.path}"
            )
        )
    return _error(HTTPError(status, "http_error", str(getattr(exc, "detail", exc))))


def create_app(store: FeatureStore, *, close_store: bool = False) -> Starlette:
    """The HTTP service over ``store``; ``close_store`` closes it when the app shuts down."""
    service = _Service(store, close_store)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await _warm_up(service)
        yield
        service.health.close()
        service.store.serving_log.close()  # commit the lookups still queued
        if service.close_store:
            service.store.close()

    routes: list[BaseRoute] = [
        Route(path, _endpoint(service, name, role, handler), methods=[method], name=name)
        for path, method, name, role, handler in _ROUTES
    ]
    routes += ui.routes(service)  # the web UI under /ui; GET / redirects to it
    routes += lakefs_routes(service)  # lakeFS's /api/v1, in lakeFS's error shape
    middleware = []
    if service.origins.configured:
        # Answer browsers' preflights for the allowed origins (and only those).
        allowed = ["*"] if service.origins.any else sorted(service.origins.allowed)
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=allowed,
                allow_methods=["GET", "POST"],
                allow_headers=["Authorization", "X-API-Key", "Content-Type", "X-Featurestore-Ref"],
                expose_headers=["X-Request-Id"],  # a browser may read a lookup's id
            )
        )
    app = Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers={404: _http_error, 405: _http_error, HTTPException: _http_error},
        lifespan=lifespan,
    )
    app.state.service = service
    return app
