"""The UI's page registry and what each page handler gets: a ``Page``.

A page module registers its handlers with ``@page(path, name, ...)``; ``routes``
(in ``__init__``) turns the registry into Starlette routes under ``/ui``. A handler is
a plain function ``(Page) -> Response`` run in a worker thread (like every store call
of the HTTP API), within the request timeout. The wrapper around it reads the session,
checks the key's role (the same ``Keyring`` as the API), checks the CSRF token of
every POST, resolves ``?ref=`` (so a bad ref is an error page, not a 500) and turns
errors into error pages.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import parse_qsl, urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from featurestore.server._auth import ROLES, Role
from featurestore.server._errors import HTTPError, from_exception
from featurestore.server.ui._session import COOKIE, MAX_AGE_S, Session, Signer

if TYPE_CHECKING:
    from featurestore import FeatureStore
    from featurestore.registry import Registry
    from featurestore.server._app import _Service
    from featurestore.server.ui._templates import Templates

__all__ = ["NAV", "PAGES", "Nav", "Page", "PageSpec", "page", "take"]

T = TypeVar("T")
Handler = Callable[["Page"], Response]
DEFAULT_LIMIT = 50
MAX_LIMIT = 500
READ_ONLY_STATE = "ui_read_only"
"""``app.state`` attribute: when true, pages that write are refused (``featurestore ui``)."""


@dataclass(frozen=True)
class PageSpec:
    """One registered page: where it lives and who may use it."""

    path: str
    name: str
    handler: Handler
    methods: tuple[str, ...]
    role: Role
    writes: bool
    online: bool
    login: bool


@dataclass(frozen=True)
class Nav:
    """An entry of the top navigation bar."""

    title: str
    name: str
    path: str
    order: int
    role: Role
    """The least role its page needs: the entry is hidden from users without it."""


PAGES: list[PageSpec] = []
NAV: list[Nav] = []


def page(
    path: str,
    name: str,
    *,
    methods: Iterable[str] = ("GET",),
    role: Role = "reader",
    writes: bool = False,
    online: bool = False,
    nav: str | None = None,
    order: int = 100,
    login: bool = True,
) -> Callable[[Handler], Handler]:
    """Register ``handler`` at ``/ui<path>`` under route ``name``.

    ``role``: the least role a key needs (ignored with no keys configured, like the
    API). ``writes``: refused in a read-only UI. ``online``: the handler reaches the
    online store (its worker threads come from the API's online pool). ``nav``: the
    title of its entry in the navigation bar (sorted by ``order``). ``login=False``:
    shown without a key (the login page itself).
    """

    def register(handler: Handler) -> Handler:
        if any(p.name == name for p in PAGES):
            raise ValueError(f"a UI page named {name!r} is registered twice")
        PAGES.append(PageSpec(path, name, handler, tuple(methods), role, writes, online, login))
        if nav is not None:
            NAV.append(Nav(nav, name, path, order, role))
            NAV.sort(key=lambda n: (n.order, n.title))
        return handler

    return register


def take(items: Iterable[T], limit: int) -> tuple[list[T], bool]:
    """The first ``limit`` items and whether more follow (reads ``limit + 1`` at most)."""
    out: list[T] = []
    iterator: Iterator[T] = iter(items)
    for item in iterator:
        if len(out) == limit:
            return out, True
        out.append(item)
    return out, False


@dataclass
class Page:
    """What a page handler works with: the request, the store, the ref, the user."""

    request: Request
    service: _Service
    templates: Templates
    session: Session
    role: Role
    """The user's role: ``admin`` with no keys configured (everything is open)."""
    read_only: bool
    form: dict[str, str] = field(default_factory=dict)
    """A POST's form fields (urlencoded), CSRF token already checked."""

    @property
    def store(self) -> FeatureStore:
        return self.service.store

    @property
    def default_branch(self) -> str:
        return self.store.config.default_branch

    @property
    def params(self) -> dict[str, str]:
        """The query parameters (the last value of each)."""
        return dict(self.request.query_params)

    def arg(self, name: str, default: str = "") -> str:
        """A query parameter, stripped; ``default`` when absent or empty."""
        return self.request.query_params.get(name, "").strip() or default

    def int_arg(self, name: str, default: int, most: int = MAX_LIMIT) -> int:
        """A whole number from 1 to ``most``; anything else is a 400 page."""
        raw = self.arg(name)
        if not raw:
            return default
        if not (raw.isascii() and raw.isdigit() and 1 <= int(raw) <= most):
            raise HTTPError(400, "bad_request", f"`{name}` must be a whole number from 1 to {most}")
        return int(raw)

    @property
    def limit(self) -> int:
        """``?limit=``: rows per page (default 50, at most 500)."""
        return self.int_arg("limit", DEFAULT_LIMIT)

    @property
    def ref(self) -> str:
        """``?ref=`` (a branch, tag, commit or ``ref~N``), else the default branch."""
        return self.arg("ref", self.default_branch)

    @cached_property
    def commit(self) -> str:
        """The commit id ``ref`` points at (a 404 page when it names nothing)."""
        return self.resolve(self.ref)

    def resolve(self, ref: str) -> str:
        """The commit id of any ref; an unknown ref is a 404 page naming it."""
        try:
            return self.store.resolve(ref)
        except Exception as e:
            err = from_exception(e, self.service.places)
            if err.status == 500:
                raise
            raise HTTPError(
                404 if err.status in (404, 422) else err.status,
                "bad_ref",
                f"no branch, tag or commit {ref!r}: {err.message}; pick one in the ref picker",
            ) from None

    def registry(self, ref: str | None = None) -> Registry:
        """The definitions at ``ref`` (default: this page's ref)."""
        return self.store.registry(ref or self.ref)

    def can(self, role: Role) -> bool:
        """Whether the user may do what needs ``role`` here (never a write when read-only)."""
        if self.read_only and ROLES[role] > ROLES["reader"]:
            return False
        return ROLES[self.role] >= ROLES[role]

    def url(self, target: str, /, *, keep_ref: bool = True, **params: Any) -> str:
        """``/ui<target>`` with ``params`` (None values left out) and this page's ``ref``
        unless ``keep_ref=False`` or ``ref`` is given."""
        query = {k: str(v) for k, v in params.items() if v is not None and v != ""}
        if keep_ref and "ref" not in params and self.arg("ref"):
            query = {"ref": self.arg("ref"), **query}
        return f"/ui{target}" + (f"?{urlencode(query)}" if query else "")

    def here(self, **params: Any) -> str:
        """This page's URL with some query parameters replaced (None removes one)."""
        query = {**self.params, **{k: v for k, v in params.items()}}
        query = {k: str(v) for k, v in query.items() if v is not None and v != ""}
        return self.request.url.path + (f"?{urlencode(query)}" if query else "")

    def render(self, template: str, status: int = 200, **context: Any) -> Response:
        """The template rendered with ``context`` and what every page shows."""
        return self.templates.render(self, template, context, status)

    def redirect(self, url: str) -> Response:
        """A 303 to ``url`` (after a POST, the page to show)."""
        return RedirectResponse(url, status_code=303)

    def refs(self) -> tuple[list[str], list[str]]:
        """Branch and tag names for the ref picker (at most 200 of each)."""
        branches = [b.id for b in self.store.branches()][:200]
        tags = [t.id for t in self.store.repository.tags()][:200]
        return branches, tags


def _read_form(body: bytes, content_type: str) -> dict[str, str]:
    if not body:
        return {}
    if content_type.split(";")[0].strip().lower() != "application/x-www-form-urlencoded":
        raise HTTPError(
            415, "unsupported_media_type", "send the form as a browser does (urlencoded)"
        )
    try:
        return dict(parse_qsl(body.decode(), keep_blank_values=True))
    except UnicodeDecodeError:
        raise HTTPError(400, "bad_request", "the form is not valid UTF-8") from None


class Site:
    """What all UI endpoints share: the API's service, the templates, the signer."""

    def __init__(self, service: _Service, templates: Templates, signer: Signer) -> None:
        self.service = service
        self.templates = templates
        self.signer = signer

    def role_of(self, session: Session) -> Role | None:
        """The session's role, ``admin`` with no keys, None without a valid key."""
        keyring = self.service.keyring
        if not keyring.enabled:
            return "admin"
        if not session.key:
            return None
        for role in ("admin", "writer", "reader"):
            try:
                keyring.check(None, session.key, role)  # type: ignore[arg-type]
            except HTTPError:
                continue
            return role  # type: ignore[return-value]
        return None

    def cookie(self, response: Response, request: Request, session: Session) -> None:
        """Set the signed session cookie on ``response``."""
        response.set_cookie(
            COOKIE,
            self.signer.dump(session),
            max_age=MAX_AGE_S,
            path="/ui",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )

    def endpoint(self, spec: PageSpec) -> Callable[[Request], Any]:
        """The Starlette endpoint of ``spec``: session, role, CSRF, ref, errors."""
        service = self.service
        metrics = service.metrics
        metric = f"ui_{spec.name}"

        async def run(request: Request) -> Response:
            start = time.perf_counter()
            stored = self.signer.load(request.cookies.get(COOKIE))
            session = stored or Session.fresh()
            read_only = bool(getattr(request.app.state, READ_ONLY_STATE, False))
            role = self.role_of(session)
            ui = Page(request, service, self.templates, session, role or "reader", read_only)
            try:
                response = await self._answer(spec, ui, role, request)
            except Exception as exc:
                err = from_exception(exc, service.places)
                if err.status >= 500:
                    service_log(spec.name, exc, err.status == 500)
                metrics.error(metric, err.code)
                response = self.templates.error(ui, err)
            if ui.session is not stored:
                self.cookie(response, request, ui.session)
            response.headers.setdefault("cache-control", "no-store")
            response.headers.setdefault("x-frame-options", "DENY")
            metrics.observe(
                metric, request.method, response.status_code, time.perf_counter() - start
            )
            return response

        return run

    async def _answer(
        self, spec: PageSpec, ui: Page, role: Role | None, request: Request
    ) -> Response:
        if spec.login and role is None:
            if request.method == "GET":
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                return RedirectResponse(f"/ui/login?{urlencode({'next': target})}", 303)
            raise HTTPError(401, "unauthorized", "log in with an API key first (/ui/login)")
        if spec.writes and ui.read_only:
            raise HTTPError(
                403,
                "read_only",
                "this UI is read-only (featurestore ui); "
                "run `featurestore serve` to act on the store",
            )
        if spec.login and not ui.can(spec.role):
            raise HTTPError(
                403, "forbidden", f"this page needs the `{spec.role}` role; log in with such a key"
            )
        if request.method == "POST":
            declared = request.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > self.service.max_body:
                raise HTTPError(413, "body_too_large", "the form is too large")
            ui.form = _read_form(await request.body(), request.headers.get("content-type", ""))
            token = ui.form.pop("csrf", "")
            if not hmac.compare_digest(token.encode(), ui.session.csrf.encode()):
                raise HTTPError(
                    403,
                    "csrf",
                    "the form's CSRF token is missing or stale: reload the page "
                    "and submit it again",
                )
        if request.query_params.get("ref", "").strip():
            await self.service.call(lambda: ui.commit)  # a bad ref: an error page first
        return await self.service.call(spec.handler, ui, online=spec.online)


def service_log(name: str, exc: BaseException, trace: bool) -> None:
    """Log a page's server-side failure (the user sees a short error page)."""
    from featurestore.server._app import log

    log.error("ui page %s failed: %s", name, exc, exc_info=trace)
