"""History pages: branches and tags, the commit log as a graph (paged), one commit."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from markupsafe import Markup
from starlette.responses import Response

from featurestore.boundary import translated
from featurestore.server._errors import HTTPError
from featurestore.server.ui._graph import layout
from featurestore.server.ui._pages import Page, page, take
from repos import Change, Commit

TABLES = "tables/"


def _after(log: Iterator[Commit], after: str) -> Iterator[Commit]:
    """The log past the commit ``after`` (a page's cursor); a 400 when it is not in it."""
    if not after:
        return log
    for commit in log:
        if commit.id == after:
            return log
    raise HTTPError(
        400, "bad_cursor", f"commit {after[:12]} is not in this log; start from the first page"
    )


HEADS = 200
"""Branches and tags listed (and resolved) on the history page, each."""


def heads(p: Page) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(name, commit id) of the first ``HEADS`` branches and of the first tags."""
    with translated():
        branches = [(b.id, b.resolve()) for b in p.store.branches()[:HEADS]]
        tags = [(t.id, t.resolve()) for t in p.store.repository.tags()[:HEADS]]
    return branches, tags


def ref_labels(
    branches: list[tuple[str, str]], tags: list[tuple[str, str]]
) -> dict[str, list[tuple[str, str]]]:
    """Commit id -> the branches and tags pointing at it."""
    labels: dict[str, list[tuple[str, str]]] = {}
    for kind, named in (("branch", branches), ("tag", tags)):
        for name, commit in named:
            labels.setdefault(commit, []).append((kind, name))
    return labels


@page("/history", "history", nav="History", order=20)
def history(p: Page) -> Response:
    """Branches, tags and one page of the commit log of ``ref``, drawn as a graph."""
    prefix = p.arg("prefix")
    limit = p.limit
    p.commit  # noqa: B018  (a bad ref is a 404 page before anything is read)
    with translated():
        log = p.store.repository.ref(p.ref).log(prefixes=[prefix] if prefix else None)
        commits, more = take(_after(log, p.arg("after")), limit)
    branches, tags = heads(p)
    labels = ref_labels(branches, tags)
    graph = layout(commits)
    return p.render(
        "history.html",
        commits=commits,
        more=more,
        next_after=commits[-1].id if commits else "",
        graph_svg=Markup(graph.svg(commits)),
        labels=labels,
        branch_heads=branches,
        tag_heads=tags,
        prefix=prefix,
    )


def _changes(p: Page, commit: Commit) -> Iterator[Change]:
    repo = p.store.repository
    if commit.parents:
        return iter(repo.ref(commit.parents[0]).diff(commit.id))
    return (Change("added", o.path, o.size) for o in repo.ref(commit.id).objects())


@page("/commit/{commit_id}", "commit")
def commit_page(p: Page) -> Response:
    """One commit: message, author, metadata, parents, and what it changed (paged)."""
    commit_id = p.request.path_params["commit_id"]
    full = p.resolve(commit_id)
    after = p.arg("after")
    limit = p.limit
    with translated():
        commit = p.store.repository.ref(full).get_commit()
        tables: Counter[tuple[str, str]] = Counter()
        shown: list[Change] = []
        more = False
        total = 0
        # Count every changed path per table (cheap: tree entries), show one page of them.
        for change in _changes(p, commit):
            total += 1
            name = (
                change.path[len(TABLES) :].partition("/")[0]
                if change.path.startswith(TABLES)
                else ""
            )
            tables[(name or change.path, change.type)] += 1
            if change.path <= after:
                continue
            if len(shown) < limit:
                shown.append(change)
            else:
                more = True
            if total > 100_000:  # a huge commit: stop counting, keep the page
                break
    per_table: dict[str, dict[str, int]] = {}
    for (name, kind), count in sorted(tables.items()):
        per_table.setdefault(name, {"added": 0, "removed": 0, "changed": 0})[kind] = count
    return p.render(
        "commit.html",
        commit=commit,
        changes=shown,
        more=more,
        next_after=shown[-1].path if shown else "",
        per_table=per_table,
        counted=total,
    )
