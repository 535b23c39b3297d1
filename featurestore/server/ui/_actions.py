"""The Actions pages (writer and admin keys): create a branch or tag, merge, materialize.

Each action is a form, then a confirmation page, then a POST carrying the session's
CSRF token (checked by ``_pages`` before the handler runs). The POST runs the same
store calls and checks as the HTTP API: materialization parses the same body as
``POST /materialize`` (``_writes``), merges and refs go through the ``FeatureStore``
facade, and the page's role is checked against the same keys. A reader sees no
buttons and gets 403 on any POST; a read-only UI refuses them all.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, cast

from starlette.responses import Response

from featurestore.boundary import translated
from featurestore.datasets import refuse_internal
from featurestore.errors import MergeConflictError
from featurestore.server import _writes
from featurestore.server._errors import HTTPError
from featurestore.server.ui._pages import Page, page
from featurestore.server.ui._serving import Run, recent_runs

ACTIONS = ("branch", "tag", "merge", "materialize")
STRATEGIES = ("", "source-wins", "dest-wins")
DEFAULT_WINDOW = timedelta(days=7)


def _field(form: dict[str, str], name: str, what: str) -> str:
    value = form.get(name, "").strip()
    if not value:
        raise HTTPError(400, "bad_request", f"`{name}` is empty: give {what}")
    return value


@dataclass(frozen=True)
class Step:
    """What a confirmation page shows: the action, its fields, and what it will do."""

    action: str
    title: str
    fields: dict[str, str]
    says: list[str]


def _time(text: str, name: str) -> str:
    """A form's time field as an ISO string the API parses (empty: now)."""
    if not text:
        return datetime.now(UTC).isoformat()
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise HTTPError(
            400, "bad_request", f"`{name}` must be a date and time such as 2025-01-31T12:00"
        ) from None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()


def _step(p: Page, action: str, form: dict[str, str]) -> Step:
    """Check a form and say what it will do (nothing is changed yet)."""
    store = p.store
    if action == "branch":
        name, source = _field(form, "name", "a branch name"), _field(form, "source", "a ref")
        refuse_internal(name, "create")
        commit = p.resolve(source)
        return Step(action, f"Create branch {name}", {"name": name, "source": source},
                    [f"a new branch {name!r} at {source} ({commit[:12]})"])  # fmt: skip
    if action == "tag":
        name, at = _field(form, "name", "a tag name"), _field(form, "at", "a ref")
        commit = p.resolve(at)
        return Step(action, f"Create tag {name}", {"name": name, "at": at},
                    [f"a tag {name!r} fixed at {at} ({commit[:12]})"])  # fmt: skip
    if action == "merge":
        source = _field(form, "source", "the branch to merge")
        into = form.get("into", "").strip() or p.default_branch
        strategy = form.get("strategy", "").strip()
        if strategy not in STRATEGIES:
            raise HTTPError(
                400, "bad_request", "`strategy` must be empty, source-wins or dest-wins"
            )
        refuse_internal(into, "merge into")
        says = [
            f"merge {source} ({p.resolve(source)[:12]}) into {into} ({p.resolve(into)[:12]}) "
            "as one commit: tables three-way by key, definitions by object",
            "conflicts stop the merge and change nothing"
            if not strategy
            else f"conflicts are settled by {strategy}",
        ]
        fields = {"source": source, "into": into, "strategy": strategy,
                  "message": form.get("message", "").strip()}  # fmt: skip
        return Step(action, f"Merge {source} into {into}", fields, says)
    if action == "materialize":
        ref = form.get("ref", "").strip() or p.default_branch
        p.resolve(ref)
        views = [v.strip() for v in form.get("views", "").split(",") if v.strip()]
        incremental = form.get("incremental", "") in ("1", "on", "true")
        end = _time(form.get("end", "").strip(), "end")
        start = "" if incremental else _time(form.get("start", "").strip(), "start")
        if not incremental and not form.get("start", "").strip():
            start = (datetime.fromisoformat(end) - DEFAULT_WINDOW).isoformat()
        body = _materialize_body(ref, views, start, end, incremental)
        parsed = _parse(body)  # the API's own checks, before anything runs
        if parsed.start is not None:
            window = f"from {parsed.start:%Y-%m-%d %H:%M} to {parsed.end:%Y-%m-%d %H:%M} UTC"
        else:
            window = f"whatever is new up to {parsed.end:%Y-%m-%d %H:%M} UTC"
        says = [
            f"materialize {', '.join(views) if views else 'every online view'} from {ref} "
            f"({p.resolve(ref)[:12]}), {window}",
            f"writes {ref}'s online namespace" if ref in [b.id for b in store.branches()]
            else f"serves {ref} on {p.default_branch} (a rollback)",
        ]  # fmt: skip
        fields = {"ref": ref, "views": ",".join(views), "start": start, "end": end,
                  "incremental": "1" if incremental else ""}  # fmt: skip
        return Step(action, f"Materialize from {ref}", fields, says)
    raise HTTPError(404, "not_found", f"no action {action!r}; actions: {', '.join(ACTIONS)}")


def _materialize_body(
    ref: str, views: list[str], start: str, end: str, incremental: bool
) -> dict[str, Any]:
    """The ``POST /materialize`` (or ``-incremental``) body an HTTP client would send."""
    body: dict[str, Any] = {"end_ts": end, "ref": ref}
    if views:
        body["feature_views"] = views
    if not incremental:
        body["start_ts"] = start
    return body


def _parse(body: dict[str, Any]) -> _writes.MaterializeRequest:
    if "start_ts" in body:
        return _writes.parse_materialize(body)
    return _writes.parse_materialize_incremental(body)


@page("/actions", "actions", nav="Actions", order=80, role="writer")
def actions(p: Page) -> Response:
    """The action forms (each leads to a confirmation page)."""
    branches = [b.id for b in p.store.branches()]
    views = [v.name for v in p.registry(p.default_branch).feature_views if v.online]
    return p.render("actions.html", user_branches=branches, views=views, now=datetime.now(UTC))


@page("/actions/confirm", "actions_confirm", role="writer")
def confirm(p: Page) -> Response:
    """What the action will do, and the POST form that does it."""
    action = p.arg("action")
    return p.render("actions_confirm.html", step=_step(p, action, p.params))


def _done(p: Page, step: Step, lines: list[str], links: list[tuple[str, str]],
          status: int = 200, conflicts: list[str] | None = None) -> Response:  # fmt: skip
    return p.render(
        "actions_done.html", status, step=step, lines=lines, links=links, conflicts=conflicts or []
    )


@page("/actions/branch", "action_branch", methods=("POST",), role="writer", writes=True)
def create_branch(p: Page) -> Response:
    step = _step(p, "branch", p.form)
    name, source = step.fields["name"], step.fields["source"]
    with translated():
        branch = p.store.repository.branch(name).create(source)
        head = branch.resolve()
    return _done(p, step, [f"branch {name} created at {head[:12]}"],
                 [(p.url("/history", ref=name), f"history of {name}")])  # fmt: skip


@page("/actions/tag", "action_tag", methods=("POST",), role="writer", writes=True)
def create_tag(p: Page) -> Response:
    step = _step(p, "tag", p.form)
    name, at = step.fields["name"], step.fields["at"]
    with translated():
        tag = p.store.repository.tag(name).create(at)
        commit = tag.resolve()
    return _done(p, step, [f"tag {name} created at {commit[:12]}"],
                 [(p.url("/history", ref=name), f"history at {name}")])  # fmt: skip


@page("/actions/merge", "action_merge", methods=("POST",), role="writer", writes=True)
def merge(p: Page) -> Response:
    step = _step(p, "merge", p.form)
    f = step.fields
    strategy = cast(Literal["source-wins", "dest-wins"] | None, f["strategy"] or None)
    try:
        commit = p.store.merge(f["source"], f["into"], strategy, f["message"] or None)
    except MergeConflictError as e:
        conflicts = [str(c) for c in e.conflicts] + [f"object {path}" for path in e.paths]
        return _done(
            p, step, [f"the merge stopped: {len(conflicts)} conflict(s); nothing changed"],
            [(p.url("/diff", keep_ref=False, left=f["into"], right=f["source"]),
              f"diff {f['into']} → {f['source']}")],
            409, conflicts,
        )  # fmt: skip
    return _done(
        p, step, [f"merged {f['source']} into {f['into']}: commit {commit.id[:12]}"],
        [(p.url(f"/commit/{commit.id}", keep_ref=False), "the merge commit"),
         (p.url("/history", ref=f["into"]), f"history of {f['into']}")],
    )  # fmt: skip


@page(
    "/actions/materialize",
    "action_materialize",
    methods=("POST",),
    role="writer",
    writes=True,
    online=True,
)
def materialize(p: Page) -> Response:
    step = _step(p, "materialize", p.form)
    f = step.fields
    body = _materialize_body(
        f["ref"],
        [v for v in f["views"].split(",") if v],
        f["start"],
        f["end"],
        bool(f["incremental"]),
    )
    request = _parse(body)
    run = _writes.materialize if request.start is not None else _writes.materialize_incremental
    results: list[dict[str, Any]] = run(p.store, request)["results"]
    recent_runs(p.service).append(Run(datetime.now(UTC), p.role, f["ref"], results))
    lines = [
        f"{r['view']}: {r['rows_written']} rows written from {r['commit_id'][:12]}" for r in results
    ]
    return _done(p, step, lines, [(p.url("/serving", keep_ref=False), "serving status")])
