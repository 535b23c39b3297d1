"""Our records in lakeFS's JSON shapes: ``Commit``, ``Ref`` and ``Diff`` lists."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from starlette.requests import Request

import repos
from featurestore.server.lakefs._errors import LakeFSError
from featurestore.server.lakefs._paging import Page, Paging, page, paging

__all__ = ["commit_json", "diff_page", "flag", "ref_json", "require_clean"]


def commit_json(commit: repos.Commit) -> dict[str, Any]:
    """lakeFS's ``Commit``; the committer is the commit's author."""
    return {
        "id": commit.id,
        "parents": list(commit.parents),
        "committer": commit.author,
        "message": commit.message,
        "creation_date": int(commit.creation_date.timestamp()),
        "meta_range_id": commit.meta_range_id,
        "metadata": dict(commit.metadata),
        "version": 1,
    }


def ref_json(name: str, commit_id: str) -> dict[str, str]:
    """lakeFS's ``Ref``: a branch's or tag's name and commit."""
    return {"id": name, "commit_id": commit_id}


def flag(request: Request, name: str) -> bool:
    """A boolean query parameter (``true`` / ``false``, absent is false); 400 otherwise."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return False
    if raw.lower() in ("true", "1"):
        return True
    if raw.lower() in ("false", "0"):
        return False
    raise LakeFSError(400, f"{name} must be true or false, not {raw!r}")


def _grouped(changes: Iterable[repos.Change], p: Paging, delimiter: str) -> list[dict[str, Any]]:
    """Each change as a ``Diff``; with a delimiter, paths below the next delimiter after
    the prefix fold into one ``prefix_changed`` common prefix."""
    out: dict[str, dict[str, Any]] = {}
    for c in changes:
        if not c.path.startswith(p.prefix):
            continue
        if delimiter:
            cut = c.path.find(delimiter, len(p.prefix))
            if cut >= 0:
                common = c.path[: cut + len(delimiter)]
                out.setdefault(
                    common, {"type": "prefix_changed", "path": common, "path_type": "common_prefix"}
                )
                continue
        entry: dict[str, Any] = {"type": c.type, "path": c.path, "path_type": "object"}
        if c.size is not None:
            entry["size_bytes"] = c.size
        out[c.path] = entry
    return list(out.values())


def diff_page(request: Request, changes: Iterable[repos.Change]) -> Page:
    """The page of ``changes`` a diff request asks for (``prefix``, ``delimiter``,
    ``after``, ``amount``), as ``Diff`` entries sorted by path."""
    p = paging(request)
    delimiter = request.query_params.get("delimiter", "")
    return page(_grouped(changes, p, delimiter), lambda d: str(d["path"]), p)


def require_clean(branch: repos.Branch, verb: str) -> None:
    """400 (lakeFS's answer for a dirty branch) when ``branch`` has uncommitted changes."""
    if next(iter(branch.uncommitted()), None) is not None:
        raise LakeFSError(
            400,
            f"branch {branch.id!r} has uncommitted changes: commit or reset them before {verb}",
        )
