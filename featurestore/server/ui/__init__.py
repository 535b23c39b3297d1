"""The web UI, served by the HTTP app under ``/ui``: catalog, history, diffs, objects.

Server-rendered Jinja2 templates, Pygments for code, SVG drawn on the server for the
commit graph and charts, one CSS file and one tiny script, all shipped in the wheel.
Pages register in ``_pages`` (``@page``); each page module is imported below, once.
The same API keys as the HTTP API guard it (a login form keeps the key in a signed
session cookie); with no keys configured everything is open, as in the API.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

# Page modules: importing one registers its pages (one line each).
from featurestore.server.ui import (  # noqa: F401
    _actions,
    _catalog,
    _data,
    _diff,
    _governance,
    _history,
    _login,
    _objects,
    _serving,
)
from featurestore.server.ui._pages import PAGES, READ_ONLY_STATE, Site
from featurestore.server.ui._session import Signer
from featurestore.server.ui._templates import STATIC, Templates

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from featurestore.server._app import _Service

__all__ = ["READ_ONLY_POSTS", "READ_ONLY_STATE", "read_only", "routes"]


READ_ONLY_POSTS = frozenset({"/ui/login", "/ui/logout", "/get-online-features"})
"""The POSTs a read-only app still takes: logging in and out, and lookups (reads)."""


class _RefuseWrites:
    """ASGI middleware: any request but GET / HEAD / OPTIONS and ``READ_ONLY_POSTS`` is
    a 403, so the API served beside a read-only UI cannot change the store either."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        method = scope.get("method", "GET")
        path = scope.get("path", "")
        if (
            scope["type"] != "http"
            or method in ("GET", "HEAD", "OPTIONS")
            or path.startswith("/ui/")  # the UI's own pages refuse writes with a page
            or (method == "POST" and path in READ_ONLY_POSTS)
        ):
            await self.app(scope, receive, send)
            return
        refused = JSONResponse(
            {
                "error": {
                    "code": "read_only",
                    "message": f"{method} {path}: this server is read-only (featurestore ui); "
                    "run `featurestore serve` to write",
                }
            },
            status_code=403,
        )
        await refused(scope, receive, send)


def read_only(app: Starlette) -> Starlette:
    """Make ``app`` read-only: the UI's actions and the API's writes are refused (403)."""
    setattr(app.state, READ_ONLY_STATE, True)
    app.add_middleware(_RefuseWrites)
    return app


async def _to_ui(request: Request) -> Response:
    return RedirectResponse("/ui", status_code=307)


def routes(service: _Service) -> list[BaseRoute]:
    """``GET /`` (a redirect) and the UI's routes under ``/ui``."""
    site = Site(service, Templates(), Signer())
    inner: list[BaseRoute] = [
        Route(spec.path, site.endpoint(spec), methods=list(spec.methods), name=spec.name)
        for spec in PAGES
    ]
    inner.append(Mount("/static", app=StaticFiles(directory=str(STATIC)), name="static"))
    inner.append(Route("/{rest:path}", site.endpoint(_login.NOT_FOUND), name="ui_not_found"))
    return [Route("/", _to_ui, methods=["GET"]), Mount("/ui", routes=inner)]
