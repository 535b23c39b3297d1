"""What the online store serves: materialization runs over views, and their status.

``FeatureStore.materialize`` / ``materialize_incremental`` and ``online_status`` forward
here. A run resolves the branch to a commit, writes each view's rows from that commit
(incrementally when the files read last time are still there) and records the commit
and watermark it served (``featurestore.materialization``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from featurestore import materialization as m
from featurestore.boundary import redact, translated
from featurestore.definitions import FeatureView
from featurestore.errors import FeatureStoreError, NotFoundError, ValidationError
from featurestore.progress import Progress

if TYPE_CHECKING:
    import online
    from featurestore.registry import Registry
    from featurestore.store import FeatureStore

__all__ = [
    "DroppedViews",
    "ViewStatus",
    "clear_dropped_views",
    "dropped_views",
    "materialize",
    "online_status",
    "online_views",
]


@dataclass(frozen=True)
class ViewStatus:
    """Which commit a view serves online, how far it lags its branch, up to when.

    ``branch`` is the ref it was materialized from: the namespace's branch, or for a
    rollback of the default branch the tag or commit served. ``branch_head`` and
    ``commits_behind`` are measured against the namespace's branch (None when that
    branch is gone; ``commits_behind`` None too when the commit served is not on the
    branch's first-parent history).
    """

    view: str
    branch: str | None
    commit_id: str | None
    watermark: datetime | None
    branch_head: str | None
    commits_behind: int | None
    namespace: str | None = None
    """The branch whose online namespace holds it (lookups with ``ref=`` that branch)."""

    @property
    def up_to_date(self) -> bool:
        return self.commit_id is not None and self.commit_id == self.branch_head


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def online_views(
    registry: Registry, feature_views: Sequence[str | FeatureView] | None
) -> list[FeatureView]:
    """The views named (default: every enabled online view), or NotFoundError naming the
    unknown; a disabled view (``enabled=False``) named is refused."""
    views = registry.feature_views_by_name
    if feature_views is None:
        return [v for v in views.values() if v.online and v.enabled]
    out = []
    for v in feature_views:
        name = v.name if isinstance(v, FeatureView) else v
        if name not in views:
            raise NotFoundError(f"no feature view {name!r} is applied; known: {sorted(views)}")
        if not views[name].enabled:
            raise ValidationError(
                f"feature view {name!r} is disabled (enabled=False); apply it with "
                "enabled=True to materialize it"
            )
        out.append(views[name])
    return out


def materialize(
    store: FeatureStore,
    start_date: datetime | None,
    end_date: datetime,
    feature_views: Sequence[str | FeatureView] | None,
    ref: str | None,
    incremental: bool,
    on_rows: Callable[[int], None] | None,
    progress: Progress | None = None,
) -> list[m.MaterializeResult]:
    """Run materialization of ``feature_views`` (default: every online view) from ``ref``.

    A branch is written to its own namespace (``featurestore.namespaces``); a tag or
    commit is served by the default branch (a rollback); internal branches are refused.
    """
    from featurestore.aggregates import materialize_windowed, series_table, tile_store, tiled
    from featurestore.namespaces import materialized_namespace, online_for, register

    branch = ref or store.config.default_branch
    namespace, target = materialized_namespace(store, branch)
    commit = store.resolve(branch)
    registry = store.registry(commit)
    views = online_views(registry, feature_views)
    end = _utc(end_date)
    start = _utc(start_date) if start_date is not None else None
    results = []
    with translated():
        states = m.read_states(target, [v.name for v in views])
        # a windowed view's own record says its series were written (not frozen values)
        series_states = m.read_states(target, [series_table(v.name) for v in views if tiled(v)])
        for view in views:
            files = store.tables.files(commit, view.source.table)
            state = states.get(view.name)
            view_start = start
            full = True
            if tiled(view):
                series = series_states.get(series_table(view.name))
                if state is not None and (
                    series is None or not _reachable(store, state.commit_id, commit)
                ):
                    # frozen values of an earlier release, or series of a commit this one
                    # does not contain: start from nothing
                    m.clear_online(target, [view.name])
                    series = None
                written, stale, full = materialize_windowed(
                    view,
                    files,
                    series,
                    incremental,
                    store.engine,
                    tile_store(online_for(store, namespace)),
                    commit_id=commit,
                    end=end,
                    on_rows=on_rows,
                    progress=progress,
                    before_write=lambda: register(store, namespace),
                )
                if not full and series is not None:
                    view_start = series.watermark
                m.write_state(
                    target, m.ViewState(series_table(view.name), branch, commit, end, tuple(files))
                )
            elif incremental and state is not None and not view.is_aggregation:
                old, new = set(state.files), set(files)
                if old <= new:
                    full = False
                    written, stale = m.materialize_view_incremental(
                        view,
                        sorted(old),
                        sorted(new - old),
                        state.watermark,
                        store.engine,
                        target,
                        commit_id=commit,
                        end=end,
                        on_rows=on_rows,
                        progress=progress,
                    )
                    view_start = state.watermark
            if full and not tiled(view):
                if state is not None and not _reachable(store, state.commit_id, commit):
                    # Recorded from a commit this one does not contain (history rewritten,
                    # view re-created): its values may be newer than this commit's data,
                    # and monotonic writes would keep them. Start from nothing.
                    m.clear_online(target, [view.name])
                written, stale = m.materialize_view(
                    view,
                    files,
                    store.engine,
                    target,
                    commit_id=commit,
                    start=view_start,
                    end=end,
                    on_rows=on_rows,
                    progress=progress,
                )
            m.write_state(target, m.ViewState(view.name, branch, commit, end, tuple(files)))
            results.append(
                m.MaterializeResult(
                    view.name, branch, commit, view_start, end, written, stale, full
                )
            )
    return results


@dataclass(frozen=True)
class DroppedViews:
    """What a commit that removed or re-created views did to their online data.

    ``cleared``: views whose values and record were removed (their record named this
    branch); ``kept``: views whose record names another branch, left alone;
    ``unreachable``: why the online store could not be checked (None when it was).
    """

    cleared: tuple[str, ...] = ()
    kept: tuple[str, ...] = ()
    unreachable: str | None = None


def _key_shape(view: FeatureView) -> tuple[object, ...]:
    """What a view's online values are stored under: join keys and their types, features."""
    return (
        tuple((f.name, str(f.to_arrow().type)) for f in view.entity_columns),
        tuple(view.join_keys),
        tuple((f.name, str(f.to_arrow().type)) for f in view.features),
    )


def dropped_views(before: Registry, after: Registry) -> list[str]:
    """Online views of ``before`` that ``after`` removes, or re-creates with other keys or
    feature types (values stored under the old definition no longer fit)."""
    now = after.feature_views_by_name
    return sorted(
        v.name
        for v in before.feature_views
        if v.online and (v.name not in now or _key_shape(now[v.name]) != _key_shape(v))
    )


def clear_dropped_views(
    store: FeatureStore, branch: str, parent: str | None, commit: str
) -> DroppedViews:
    """After ``commit`` on ``branch``: clear the online data of the views it drops.

    Only views whose materialization record in ``branch``'s namespace names ``branch``
    are cleared (their values came from this branch's history); a view served there
    from a tag or commit, and every other namespace, is kept. When
    the online store cannot be reached the commit stands, and the returned
    ``unreachable`` says so (``FeatureStore.commit`` warns with it).
    """
    if parent is None:
        return DroppedViews()
    names: list[str] = []
    try:
        names = _dropped_by(store, parent, commit)
        if not names:
            return DroppedViews()
        with translated():
            from featurestore.namespaces import online_for

            target = online_for(store, branch)
            states = m.read_states(target, names)
            ours = [n for n in names if n in states and states[n].branch == branch]
            kept = tuple(n for n in names if n in states and states[n].branch != branch)
            m.clear_online(target, ours)
    except FeatureStoreError as e:
        which = f"removed or re-created view(s) {', '.join(names)}" if names else "views"
        return DroppedViews(
            unreachable=f"committed {commit[:12]} on {branch!r}, but the online data of "
            f"{which} could not be cleared: {redact(str(e))}. Lookups may still answer "
            "their old values; once the online store answers, run `featurestore teardown` "
            "(or FeatureStore.teardown()) and materialize again"
        )
    return DroppedViews(cleared=tuple(ours), kept=kept)


def _dropped_by(store: FeatureStore, parent: str, commit: str) -> list[str]:
    """The online views ``commit`` drops from its parent's definitions (none when the
    definitions object did not change, which spares loading both registries)."""
    from featurestore.registry import REGISTRY_PATH

    with translated():
        repo = store.repository
        old, new = repo.ref(parent).object(REGISTRY_PATH), repo.ref(commit).object(REGISTRY_PATH)
        if not old.exists() or (new.exists() and old.read() == new.read()):
            return []
    return dropped_views(store.registry(parent), store.registry(commit))


def _reachable(store: FeatureStore, recorded: str, commit: str) -> bool:
    """Whether ``recorded`` is ``commit`` or one of its ancestors."""
    return recorded == commit or any(c.id == recorded for c in store.repository.ref(commit).log())


def online_status(store: FeatureStore) -> list[ViewStatus]:
    """For every online view: the branch and commit it serves, and how far it lags.

    The default branch's namespace first (every online view it defines), then each
    branch namespace that was written (``featurestore.namespaces``), with the views its
    branch defines, or, for a branch since deleted, those that hold a record there.
    """
    from featurestore.namespaces import namespaces, online_for

    default = store.config.default_branch
    registry = store._serving_registry()
    main_views = [v.name for v in registry.feature_views if v.online]
    with translated():
        out = _status_rows(store, store.online_store, main_views, default, gone=False)
        for branch in namespaces(store):
            try:
                views = [v.name for v in store.registry(branch).feature_views if v.online]
                gone = False
            except NotFoundError:
                views, gone = main_views, True
            out += _status_rows(store, online_for(store, branch), views, branch, gone=gone)
        return out


def _status_rows(
    store: FeatureStore, target: online.OnlineStore, views: list[str], namespace: str, gone: bool
) -> list[ViewStatus]:
    """The status of ``views`` in one namespace (``gone``: its branch was deleted, so
    only views with a record there are shown)."""
    states = m.read_states(target, views)
    out = []
    for name in views:
        state = states.get(name)
        if state is None:
            if not gone:
                out.append(ViewStatus(name, None, None, None, None, None, namespace))
            continue
        # Measured against the namespace's branch, not the ref served: a rollback to a
        # tag serves it on the default branch, which may have moved on since.
        try:
            head = store.repository.ref(namespace).resolve()
        except LookupError:
            head = None
        behind = None
        if head is not None:
            for n, c in enumerate(store.repository.ref(head).log(first_parent=True)):
                if c.id == state.commit_id:
                    behind = n
                    break
        out.append(
            ViewStatus(
                name, state.branch, state.commit_id, state.watermark, head, behind, namespace
            )
        )
    return out
