"""The UI's Jinja2 templates, their filters, and Pygments highlighting.

Templates are autoescaped and strict (an undefined name is an error, caught by the
tests, not an empty string). Every page gets ``p`` (the ``Page``), ``nav``,
``branches`` / ``tags`` for the ref picker, ``url`` and ``csrf``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2
from markupsafe import Markup
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from featurestore.server._errors import HTTPError, public_message

if TYPE_CHECKING:
    from featurestore.server.ui._pages import Page

__all__ = ["STATIC", "TEMPLATES", "Templates", "highlight", "source_diff"]

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"


def highlight(code: str, language: str = "python") -> Markup:
    """``code`` as highlighted HTML (Pygments; classes styled by ui.css)."""
    from pygments import highlight as pyg_highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import DiffLexer, PythonLexer

    lexer = DiffLexer() if language == "diff" else PythonLexer()
    html = pyg_highlight(code, lexer, HtmlFormatter(cssclass="code", wrapcode=True))
    return Markup(html)


_HUNK = re.compile(r"^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@")


def source_diff(text: str) -> Markup:
    """A unified diff as a table: old and new line numbers, +/- rows, code highlighted."""
    from pygments import highlight as pyg_highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import PythonLexer

    lexer, formatter = PythonLexer(), HtmlFormatter(nowrap=True)
    rows = []
    old = new = 0
    for line in text.splitlines():
        if line.startswith(("---", "+++")):
            continue
        hunk = _HUNK.match(line)
        if hunk:
            old, new = int(hunk.group(1)), int(hunk.group(2))
            rows.append(
                f'<tr class="hunk"><td></td><td></td><td colspan="2">{escape(line)}</td></tr>'
            )
            continue
        sign, code = (line[:1], line[1:]) if line else (" ", "")
        code_html = pyg_highlight(code, lexer, formatter).rstrip("\n") if code else ""
        if sign == "+":
            cells, kind, new = ("", str(new)), "add", new + 1
        elif sign == "-":
            cells, kind, old = (str(old), ""), "del", old + 1
        else:
            cells, kind, old, new = (str(old), str(new)), "same", old + 1, new + 1
        rows.append(
            f'<tr class="{kind}"><td class="ln">{cells[0]}</td><td class="ln">{cells[1]}</td>'
            f'<td class="sign">{escape(sign)}</td><td class="src">{code_html}</td></tr>'
        )
    return Markup(f'<table class="sdiff code">{"".join(rows)}</table>')


def size(n: int | None) -> str:
    """Bytes in a short human form (1.2 MB)."""
    if n is None:
        return ""
    value = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{n} B"


def when(value: datetime | None) -> str:
    """A timestamp to the second, UTC."""
    if value is None:
        return ""
    return value.strftime("%Y-%m-%d %H:%M:%S")


def duration(value: timedelta | None) -> str:
    """A duration as days / hours / minutes / seconds (``7d``, ``1h30m``)."""
    if value is None:
        return "none"
    seconds = int(value.total_seconds())
    if seconds == 0:
        return "0s"
    parts = []
    for unit, length in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= length:
            parts.append(f"{seconds // length}{unit}")
            seconds %= length
    return "".join(parts)


class Templates:
    """The Jinja2 environment and the responses it renders."""

    def __init__(self) -> None:
        env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(TEMPLATES)),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        env.filters.update(
            size=size,
            when=when,
            duration=duration,
            highlight=highlight,
            source_diff=source_diff,
            short=lambda c: c[:12],
        )
        self.jinja = Jinja2Templates(env=env)

    def render(
        self, page: Page, template: str, context: Mapping[str, Any], status: int = 200
    ) -> Response:
        """``template`` with ``context`` and the names every page has."""
        from featurestore.server.ui._pages import NAV

        try:
            branches, tags = page.refs()
        except Exception:  # the picker is a convenience: an error page still renders
            branches, tags = [], []
        places = page.service.places
        full = {
            "p": page,
            "nav": [item for item in NAV if page.can(item.role)],
            "branches": branches,
            "tags": tags,
            "url": page.url,
            "csrf": page.session.csrf,
            "public": lambda v: public_message(str(v), places),
            "project": page.store.config.project,
            **context,
        }
        return self.jinja.TemplateResponse(page.request, template, full, status_code=status)

    def error(self, page: Page, err: HTTPError) -> Response:
        """The error page for ``err``, with its status."""
        return self.render(page, "error.html", {"error": err}, err.status)
