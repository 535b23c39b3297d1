"""The diff between any two refs: tables by row counts (rows on request, paged),
definitions by field, on-demand code as highlighted source diffs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from starlette.responses import Response

from featurestore.server._errors import HTTPError
from featurestore.server.ui._pages import Page, page

if TYPE_CHECKING:
    from featurestore.table_diff import RowKind

KINDS = ("added", "removed", "changed")


def _value(value: Any) -> str:
    if value is None:
        return ""
    text = str(value)
    return text if len(text) <= 300 else text[:297] + "..."


@page("/diff", "diff", nav="Diff", order=30)
def diff(p: Page) -> Response:
    """``left`` -> ``right`` (default: the default branch -> ``ref``)."""
    left = p.arg("left", p.default_branch)
    right = p.arg("right", p.ref)
    table = p.arg("table")
    kind = p.arg("kind")
    if kind and kind not in KINDS:
        raise HTTPError(400, "bad_request", f"kind={kind!r}: use added, removed or changed")
    left_commit, right_commit = p.resolve(left), p.resolve(right)
    result = p.store.diff(left_commit, right_commit)
    raw = p.arg("offset", "0")
    if not (raw.isascii() and raw.isdigit()):
        raise HTTPError(400, "bad_request", "`offset` must be a whole number from 0")
    offset, limit = int(raw), p.limit
    rows = None
    total = 0
    if table:
        changes = result[table].rows(cast("RowKind | None", kind or None))
        total = changes.num_rows
        rows = changes.slice(offset, limit).to_pylist()
    return p.render(
        "diff.html",
        left=left,
        right=right,
        left_commit=left_commit,
        right_commit=right_commit,
        result=result,
        table=table,
        kind=kind,
        rows=rows,
        offset=offset,
        total=total,
        previous=max(offset - limit, 0),
        following=offset + limit,
        value=_value,
    )
