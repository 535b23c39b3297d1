"""lakeFS tag operations: list, create, get, delete."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

import repos
from featurestore.server.lakefs._convert import flag, ref_json
from featurestore.server.lakefs._endpoint import Context, Op, json_response
from featurestore.server.lakefs._errors import LakeFSError
from featurestore.server.lakefs._paging import page, paging

__all__ = ["ROUTES"]


def _list_tags(repo: repos.Repository) -> list[dict[str, str]]:
    return [ref_json(t.id, t.resolve()) for t in repo.tags()]


async def _list(ctx: Context, request: Request) -> Response:
    repo = ctx.repository(request)
    tags = await ctx.call(_list_tags, repo)
    return json_response(page(tags, lambda t: t["id"], paging(request)).body())


def _create_tag(repo: repos.Repository, name: str, ref: str, force: bool) -> dict[str, str]:
    tag = repo.tag(name)
    if force and any(t.id == name for t in repo.tags()):
        tag.delete()
    tag.create(ref)
    return ref_json(name, tag.resolve())


async def _create(ctx: Context, request: Request) -> Response:
    repo = ctx.repository(request)
    body = await ctx.body(request)
    name, ref = body.get("id"), body.get("ref")
    if not isinstance(name, str) or not name or not isinstance(ref, str) or not ref:
        raise LakeFSError(400, "give the tag's id and the ref it points at")
    force = body.get("force") is True
    return json_response(await ctx.call(_create_tag, repo, name, ref, force), 201)


def _get_tag(repo: repos.Repository, name: str) -> dict[str, str]:
    if not any(t.id == name for t in repo.tags()):
        raise LakeFSError(404, f"tag not found: {name!r}")
    return ref_json(name, repo.tag(name).resolve())


async def _get(ctx: Context, request: Request) -> Response:
    repo = ctx.repository(request)
    return json_response(await ctx.call(_get_tag, repo, request.path_params["tag"]))


async def _delete(ctx: Context, request: Request) -> Response:
    repo = ctx.repository(request)
    flag(request, "force")  # lakeFS's force skips tag protection, which is not kept here
    await ctx.call(repo.tag(request.path_params["tag"]).delete)
    return Response(status_code=204)


ROUTES: tuple[Op, ...] = (
    Op("/repositories/{repository}/tags", "GET", "listTags", "reader", _list),
    Op("/repositories/{repository}/tags", "POST", "createTag", "writer", _create),
    Op("/repositories/{repository}/tags/{tag}", "GET", "getTag", "reader", _get),
    Op("/repositories/{repository}/tags/{tag}", "DELETE", "deleteTag", "writer", _delete),
)
