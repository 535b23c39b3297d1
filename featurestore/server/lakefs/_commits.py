"""lakeFS commit operations: commit a branch, get a commit, the log of a ref.

A commit goes through ``FeatureStore.commit``, so protected branches, hooks and the
feature store's own bookkeeping apply as to any other commit. The log takes lakeFS's
``prefixes`` and ``objects`` (commits that changed a path under a prefix, or that
exact object), ``first_parent``, ``since``, ``stop_at``, ``limit`` and pagination
(``after`` is the last commit id of the previous page).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

import repos
from featurestore import FeatureStore
from featurestore.server.lakefs._convert import commit_json, flag
from featurestore.server.lakefs._endpoint import Context, Op, json_response
from featurestore.server.lakefs._errors import LakeFSError
from featurestore.server.lakefs._paging import Page, page_in_order, paging

__all__ = ["ROUTES", "metadata_of"]


def metadata_of(body: Mapping[str, Any], field: str = "metadata") -> dict[str, str] | None:
    """A body's string -> string metadata (None when absent); 400 otherwise."""
    meta = body.get(field)
    if meta is None:
        return None
    if not isinstance(meta, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in meta.items()
    ):
        raise LakeFSError(400, f"{field} must be an object of string values")
    return meta


def _commit(
    store: FeatureStore, branch: str, message: str, meta: dict[str, str] | None, empty: bool
) -> dict[str, Any]:
    return commit_json(store.commit(message, branch, metadata=meta, allow_empty=empty))


async def _create(ctx: Context, request: Request) -> Response:
    ctx.repository(request)
    if request.query_params.get("source_metarange"):
        raise LakeFSError(400, "source_metarange is not supported: commit staged objects")
    body = await ctx.body(request)
    message = body.get("message")
    if not isinstance(message, str):
        raise LakeFSError(400, "give the commit's message")
    if body.get("date") is not None:
        raise LakeFSError(400, "date is not supported: commits take the server's time")
    meta = metadata_of(body)
    empty = body.get("allow_empty") is True
    branch = request.path_params["branch"]
    return json_response(await ctx.call(_commit, ctx.store, branch, message, meta, empty), 201)


def _get_commit(repo: repos.Repository, ref: str) -> dict[str, Any]:
    return commit_json(repo.ref(ref).get_commit())


async def _get(ctx: Context, request: Request) -> Response:
    repo = ctx.repository(request)
    return json_response(await ctx.call(_get_commit, repo, request.path_params["commitId"]))


def _since(raw: str | None) -> datetime | None:
    if not raw:
        return None
    try:
        when = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise LakeFSError(400, f"since must be a date-time (RFC 3339), not {raw!r}") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _touches(repo: repos.Repository, commit: repos.Commit, objects: list[str]) -> bool:
    """Whether ``commit`` changed one of ``objects`` (exact paths) against its first parent."""
    if not commit.parents:
        return any(repo.ref(commit.id).object(o).exists() for o in objects)
    for path in objects:
        changes = repo.ref(commit.parents[0]).diff(commit.id, prefix=path)
        if any(c.path == path for c in changes):
            return True
    return False


def _log(
    repo: repos.Repository,
    ref: str,
    prefixes: list[str],
    objects: list[str],
    first_parent: bool,
    since: datetime | None,
    stop_at: str | None,
) -> Iterator[repos.Commit]:
    stop = repo.ref(stop_at).resolve() if stop_at else None
    wanted = prefixes + objects
    for commit in repo.ref(ref).log(prefixes=wanted or None, first_parent=first_parent):
        if since is not None and commit.creation_date < since:
            return
        if objects and not (
            _touches(repo, commit, objects)
            or any(_changed_under(repo, commit, p) for p in prefixes)
        ):
            continue  # the log matched an object's path as a prefix only
        yield commit
        if commit.id == stop:
            return


def _changed_under(repo: repos.Repository, commit: repos.Commit, prefix: str) -> bool:
    if not commit.parents:
        return next(iter(repo.ref(commit.id).objects(prefix)), None) is not None
    return next(iter(repo.ref(commit.parents[0]).diff(commit.id, prefix=prefix)), None) is not None


def _log_page(repo: repos.Repository, request: Request, ref: str, limit: bool) -> dict[str, Any]:
    params = request.query_params
    p = paging(request)
    commits = _log(
        repo,
        ref,
        params.getlist("prefixes"),
        params.getlist("objects"),
        flag(request, "first_parent"),
        _since(params.get("since")),
        params.get("stop_at") or None,
    )
    found = page_in_order(commits, lambda c: c.id, p)
    if limit:
        found = Page(found.results, False, "")
    return found.body([commit_json(c) for c in found.results])


async def _log_commits(ctx: Context, request: Request) -> Response:
    repo = ctx.repository(request)
    limit = flag(request, "limit")
    return json_response(
        await ctx.call(_log_page, repo, request, request.path_params["ref"], limit)
    )


ROUTES: tuple[Op, ...] = (
    Op("/repositories/{repository}/branches/{branch}/commits", "POST", "commit", "writer", _create),
    Op("/repositories/{repository}/commits/{commitId}", "GET", "getCommit", "reader", _get),
    Op(
        "/repositories/{repository}/refs/{ref}/commits", "GET", "logCommits", "reader", _log_commits
    ),
)
