"""lakeFS ref operations: diff two refs (two-dot or three-dot) and merge.

A merge goes through ``FeatureStore.merge``: tables merge by key, definitions by
definition, other paths per path, and protected branches and pre-merge hooks apply.
``squash_merge`` commits the merge's result with the destination as the only parent;
as that is a commit, not a merge, it is refused (403) on a protected branch, which
moves only by merge commits here.
"""

from __future__ import annotations

import fnmatch
import uuid
from typing import Any, Literal, cast

from starlette.requests import Request
from starlette.responses import Response

import repos
from featurestore import FeatureStore
from featurestore.datasets import refuse_internal
from featurestore.server.lakefs._commits import metadata_of
from featurestore.server.lakefs._convert import diff_page, require_clean
from featurestore.server.lakefs._endpoint import Context, Op, json_response
from featurestore.server.lakefs._errors import LakeFSError

__all__ = ["ROUTES", "merge_base"]

Strategy = Literal["source-wins", "dest-wins"]
_SQUASH_BRANCH = "lakefs-squash-"


def merge_base(repo: repos.Repository, left: str, right: str) -> str:
    """The newest commit both refs reach (404 when they share none)."""
    reached = {c.id for c in repo.ref(left).log()}
    for commit in repo.ref(right).log():
        if commit.id in reached:
            return commit.id
    raise LakeFSError(404, f"{left!r} and {right!r} have no common commit")


def _diff_refs(repo: repos.Repository, request: Request, left: str, right: str) -> dict[str, Any]:
    kind = request.query_params.get("type") or "three_dot"
    if kind not in ("two_dot", "three_dot"):
        raise LakeFSError(400, f"type must be two_dot or three_dot, not {kind!r}")
    start = merge_base(repo, left, right) if kind == "three_dot" else left
    return diff_page(request, repo.ref(start).diff(right)).body()


async def _diff(ctx: Context, request: Request) -> Response:
    repo = ctx.repository(request)
    left, right = request.path_params["leftRef"], request.path_params["rightRef"]
    return json_response(await ctx.call(_diff_refs, repo, request, left, right))


def _squash(
    store: FeatureStore,
    source: str,
    dest: str,
    strategy: Strategy | None,
    message: str,
    meta: dict[str, str] | None,
    allow_empty: bool,
) -> repos.Commit:
    """Merge on a scratch branch at ``dest``'s head, then commit the result's changes on
    ``dest`` as one single-parent commit."""
    repo = store.repository
    if any(fnmatch.fnmatchcase(dest, p) for p in repo.protected_patterns()):
        raise LakeFSError(
            403,
            f"branch {dest!r} is protected: it moves only by merge commits, and a squash merge "
            "is a single-parent commit; merge without squash_merge",
        )
    target = repo.branch(dest)
    require_clean(target, "merging into it")
    scratch = repo.branch(f"{_SQUASH_BRANCH}{uuid.uuid4().hex[:12]}").create(target.resolve())
    try:
        merged = store.merge(
            source, scratch.id, strategy, message, metadata=meta, allow_empty=allow_empty
        )
        upload: dict[str, bytes] = {}
        delete: list[str] = []
        for change in target.head.diff(merged.id):
            if change.type == "removed":
                delete.append(change.path)
            else:
                upload[change.path] = repo.ref(merged.id).object(change.path).read()
    finally:
        scratch.delete()
    target.stage(upload=upload, delete=delete)
    try:
        return store.commit(message, dest, metadata=meta, allow_empty=True)
    except Exception:
        target.reset()
        raise


def _merge(
    store: FeatureStore,
    source: str,
    dest: str,
    body: dict[str, Any],
) -> dict[str, str]:
    strategy = body.get("strategy") or None
    if strategy not in (None, "source-wins", "dest-wins"):
        raise LakeFSError(400, f"unknown strategy {strategy!r}: use source-wins or dest-wins")
    message = body.get("message") or None
    if message is not None and not isinstance(message, str):
        raise LakeFSError(400, "message must be a string")
    meta = metadata_of(body)
    allow_empty = body.get("allow_empty") is True
    refuse_internal(dest, "merge into")
    require_clean(store.repository.branch(dest), "merging into it")
    chosen = cast("Strategy | None", strategy)
    if body.get("squash_merge") is True:
        text = message or f"Merge '{source}' into '{dest}' (squashed)"
        commit = _squash(store, source, dest, chosen, text, meta, allow_empty)
    else:
        commit = store.merge(source, dest, chosen, message, metadata=meta, allow_empty=allow_empty)
    return {"reference": commit.id}


async def _merge_into(ctx: Context, request: Request) -> Response:
    ctx.repository(request)
    body = await ctx.body(request) if await request.body() else {}
    source = request.path_params["sourceRef"]
    dest = request.path_params["destinationBranch"]
    return json_response(await ctx.call(_merge, ctx.store, source, dest, body))


async def _find_base(ctx: Context, request: Request) -> Response:
    repo = ctx.repository(request)
    source = request.path_params["sourceRef"]
    dest = request.path_params["destinationBranch"]
    base = await ctx.call(merge_base, repo, source, dest)
    return json_response(
        {
            "source_commit_id": await ctx.call(repo.ref(source).resolve),
            "destination_commit_id": await ctx.call(repo.ref(dest).resolve),
            "base_commit_id": base,
        }
    )


_MERGE = "/repositories/{repository}/refs/{sourceRef}/merge/{destinationBranch}"

ROUTES: tuple[Op, ...] = (
    Op(
        "/repositories/{repository}/refs/{leftRef}/diff/{rightRef}",
        "GET",
        "diffRefs",
        "reader",
        _diff,
    ),
    Op(_MERGE, "POST", "mergeIntoBranch", "writer", _merge_into),
    Op(_MERGE, "GET", "findMergeBase", "reader", _find_base),
)
