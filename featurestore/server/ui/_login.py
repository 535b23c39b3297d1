"""Login, logout, the UI's home and its not-found page."""

from __future__ import annotations

from starlette.responses import Response

from featurestore.server._errors import HTTPError
from featurestore.server.ui._pages import Page, PageSpec, page
from featurestore.server.ui._session import Session


def _next(target: str) -> str:
    """Where to go after login: a UI path only (never another site)."""
    if target.startswith("/ui") and not target.startswith("//") and "\\" not in target:
        return target
    return "/ui"


@page("/", "home")
def home(p: Page) -> Response:
    """``/ui``: the catalog."""
    return p.redirect(p.url("/catalog"))


@page("/login", "login", methods=("GET", "POST"), login=False)
def login(p: Page) -> Response:
    """The login form; a POST checks the key against the API's keys."""
    target = _next(p.form.get("next") or p.arg("next", "/ui"))
    if p.request.method == "GET":
        return p.render("login.html", next=target, failed="")
    key = p.form.get("key", "").strip()
    keyring = p.service.keyring
    if not keyring.enabled:
        return p.redirect(target)
    try:
        keyring.check(None, key, "reader")
    except HTTPError as e:
        return p.render("login.html", 401, next=target, failed=e.message)
    p.session = Session.fresh(key)  # a new CSRF token with the new identity
    return p.redirect(target)


@page("/logout", "logout", methods=("POST",), login=False)
def logout(p: Page) -> Response:
    """Forget the key (a new session, a new CSRF token)."""
    p.session = Session.fresh()
    return p.redirect("/ui/login" if p.service.keyring.enabled else "/ui")


def _not_found(p: Page) -> Response:
    raise HTTPError(404, "not_found", f"no UI page at {p.request.url.path}; start at /ui")


NOT_FOUND = PageSpec("", "not_found", _not_found, ("GET",), "reader", False, False, True)
