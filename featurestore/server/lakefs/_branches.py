"""lakeFS branch operations: list, create, get, delete, reset, revert, cherry-pick and
the uncommitted diff.

Branches the product keeps for itself (saved datasets, the serving log) are left out
of lists and refused to writers, as in our own API. Deleting goes through
``FeatureStore.delete_branch`` (its online namespace is freed too).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

import repos
from featurestore import FeatureStore
from featurestore.datasets import refuse_internal
from featurestore.server.lakefs._commits import metadata_of
from featurestore.server.lakefs._convert import commit_json, diff_page, ref_json, require_clean
from featurestore.server.lakefs._endpoint import Context, Op, json_response
from featurestore.server.lakefs._errors import LakeFSError
from featurestore.server.lakefs._paging import page, paging

__all__ = ["ROUTES"]

_BRANCH = "/repositories/{repository}/branches/{branch}"


def _branch(ctx: Context, request: Request) -> repos.Branch:
    return ctx.repository(request).branch(request.path_params["branch"])


def _list_branches(store: FeatureStore) -> list[dict[str, str]]:
    return [ref_json(b.id, b.resolve()) for b in store.branches()]


async def _list(ctx: Context, request: Request) -> Response:
    ctx.repository(request)
    found = await ctx.call(_list_branches, ctx.store)
    return json_response(page(found, lambda b: b["id"], paging(request)).body())


def _create_branch(repo: repos.Repository, name: str, source: str, force: bool) -> str:
    refuse_internal(name, "create")
    branch = repo.branch(name)
    if force and any(b.id == name for b in repo.branches()):
        commit = repo.ref(source).resolve()
        require_clean(branch, "moving it")
        branch.delete()
        branch.create(commit)
    else:
        branch.create(source)
    return branch.resolve()


async def _create(ctx: Context, request: Request) -> Response:
    repo = ctx.repository(request)
    body = await ctx.body(request)
    name, source = body.get("name"), body.get("source")
    if not isinstance(name, str) or not name or not isinstance(source, str) or not source:
        raise LakeFSError(400, "give the branch's name and its source ref")
    commit = await ctx.call(_create_branch, repo, name, source, body.get("force") is True)
    return Response(commit, status_code=201, media_type="text/html")


def _get_branch(repo: repos.Repository, name: str) -> dict[str, str]:
    if not any(b.id == name for b in repo.branches()):
        raise LakeFSError(404, f"branch not found: {name!r}")
    return ref_json(name, repo.branch(name).resolve())


async def _get(ctx: Context, request: Request) -> Response:
    repo = ctx.repository(request)
    return json_response(await ctx.call(_get_branch, repo, request.path_params["branch"]))


async def _delete(ctx: Context, request: Request) -> Response:
    ctx.repository(request)
    await ctx.call(ctx.store.delete_branch, request.path_params["branch"])
    return Response(status_code=204)


def _reset_paths(branch: repos.Branch, path: str, whole_prefix: bool) -> None:
    """Drop the uncommitted changes of one object, or of every object under a prefix:
    each path gets its head version back (or its deletion), staged at once."""
    head = branch.head
    upload: dict[str, bytes] = {}
    delete: list[str] = []
    for change in branch.uncommitted(path):
        if not whole_prefix and change.path != path:
            continue
        obj = head.object(change.path)
        if obj.exists():
            upload[change.path] = obj.read()
        else:
            delete.append(change.path)
    if upload or delete:
        branch.stage(upload=upload, delete=delete)


async def _reset(ctx: Context, request: Request) -> Response:
    branch = _branch(ctx, request)
    refuse_internal(branch.id, "reset")
    body = await ctx.body(request)
    kind = body.get("type")
    if kind == "reset":
        await ctx.call(branch.reset)
    elif kind in ("object", "common_prefix"):
        path = body.get("path")
        if not isinstance(path, str) or not path:
            raise LakeFSError(400, f"a reset of type {kind!r} needs a path")
        await ctx.call(_reset_paths, branch, path, kind == "common_prefix")
    else:
        raise LakeFSError(400, "type must be one of 'object', 'common_prefix', 'reset'")
    return Response(status_code=204)


def _parent_number(body: dict[str, Any], default: int | None) -> int:
    raw = body.get("parent_number", default)
    if raw is None or raw == 0:
        return 1
    if not isinstance(raw, int) or isinstance(raw, bool) or raw < 1:
        raise LakeFSError(400, "parent_number must be a whole number from 1")
    return raw


def _overrides(body: dict[str, Any]) -> tuple[str | None, dict[str, str] | None]:
    over = body.get("commit_overrides") or {}
    if not isinstance(over, dict):
        raise LakeFSError(400, "commit_overrides must be an object")
    message = over.get("message")
    if message is not None and not isinstance(message, str):
        raise LakeFSError(400, "commit_overrides.message must be a string")
    return message, metadata_of(over)


def _checksum(ref: repos.Reference, path: str) -> str | None:
    obj = ref.object(path)
    return obj.stat().checksum if obj.exists() else None


def _reverts_nothing(branch: repos.Branch, ref: str, parent: int) -> bool:
    """Whether reverting ``ref`` on ``branch`` would leave its content as it is: every
    path the commit changed already holds its parent's version."""
    repo = branch.repository
    target = repo.ref(ref).get_commit()
    if not 1 <= parent <= len(target.parents):
        return False  # the revert itself says what is wrong
    before = repo.ref(target.parents[parent - 1])
    head = branch.head
    return all(
        _checksum(head, c.path) == _checksum(before, c.path)
        for c in repo.ref(target.id).diff(before.resolve())
    )


def _revert_branch(branch: repos.Branch, ref: str, parent: int, allow_empty: bool) -> None:
    """Revert ``ref`` on ``branch``; a revert that changes nothing is refused (400, as
    lakeFS's "no changes") unless ``allow_empty`` records it anyway."""
    require_clean(branch, "reverting")
    if not allow_empty and _reverts_nothing(branch, ref, parent):
        raise LakeFSError(
            400,
            f"no changes: reverting {ref!r} leaves branch {branch.id!r} as it is; pass "
            "allow_empty to record an empty revert commit",
        )
    branch.revert(ref, parent_number=parent)


async def _revert(ctx: Context, request: Request) -> Response:
    branch = _branch(ctx, request)
    refuse_internal(branch.id, "revert on")
    body = await ctx.body(request)
    ref = body.get("ref")
    if not isinstance(ref, str) or not ref:
        raise LakeFSError(400, "give the ref to revert")
    message, meta = _overrides(body)
    if message is not None or meta:
        raise LakeFSError(400, "commit_overrides is not supported for a revert")
    parent = _parent_number(body, 1)
    await ctx.call(_revert_branch, branch, ref, parent, body.get("allow_empty") is True)
    return Response(status_code=204)


def _cherry_pick(
    store: FeatureStore,
    branch: repos.Branch,
    ref: str,
    parent: int | None,
    message: str | None,
    meta: dict[str, str] | None,
) -> dict[str, Any]:
    """Apply ``ref``'s changes (against its parent ``parent``) to the branch as one
    commit, by one tree swap (a crash leaves the branch as it was); a path the branch
    changed since that parent is a conflict (409)."""
    from featurestore import serving

    repo = branch.repository
    picked = repo.ref(ref).get_commit()
    if not picked.parents:
        raise LakeFSError(400, f"commit {picked.id[:12]} has no parent to cherry-pick against")
    number = 1 if parent is None else parent
    if number > len(picked.parents):
        raise LakeFSError(400, f"commit {picked.id[:12]} has no parent {number}")
    require_clean(branch, "cherry-picking")
    head = branch.head.get_commit().id
    try:
        done = branch.cherry_pick(picked.id, parent_number=number, message=message, metadata=meta)
    except repos.MergeConflictError as e:
        shown = ", ".join(e.paths[:5]) + (" ..." if len(e.paths) > 5 else "")
        raise LakeFSError(
            409, f"cherry-pick conflicts on {len(e.paths)} path(s): {shown}"
        ) from None
    serving.clear_dropped_views(store, branch.id, head, done.id)
    return commit_json(done)


async def _cherry(ctx: Context, request: Request) -> Response:
    branch = _branch(ctx, request)
    refuse_internal(branch.id, "cherry-pick onto")
    body = await ctx.body(request)
    ref = body.get("ref")
    if not isinstance(ref, str) or not ref:
        raise LakeFSError(400, "give the ref to cherry-pick")
    message, meta = _overrides(body)
    parent = _parent_number(body, None)
    return json_response(
        await ctx.call(_cherry_pick, ctx.store, branch, ref, parent, message, meta), 201
    )


def _uncommitted(branch: repos.Branch, request: Request) -> dict[str, Any]:
    return diff_page(request, branch.uncommitted()).body()


async def _diff(ctx: Context, request: Request) -> Response:
    branch = _branch(ctx, request)
    return json_response(await ctx.call(_uncommitted, branch, request))


ROUTES: tuple[Op, ...] = (
    Op("/repositories/{repository}/branches", "GET", "listBranches", "reader", _list),
    Op("/repositories/{repository}/branches", "POST", "createBranch", "writer", _create),
    Op(_BRANCH, "GET", "getBranch", "reader", _get),
    Op(_BRANCH, "DELETE", "deleteBranch", "writer", _delete),
    Op(_BRANCH, "PUT", "resetBranch", "writer", _reset),
    Op(_BRANCH + "/revert", "POST", "revertBranch", "writer", _revert),
    Op(_BRANCH + "/cherry-pick", "POST", "cherryPick", "writer", _cherry),
    Op(_BRANCH + "/diff", "GET", "diffBranch", "reader", _diff),
)
