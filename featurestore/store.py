"""``FeatureStore``: the facade that wires the configuration to the parts and forwards.

The work lives in the modules named after it (``retrieval``, ``lookup``,
``materialization``, ``datasets``, ``registry``); this class opens the repository, the
DuckDB engine and the online store lazily, pins reads to commits, and translates the
errors of the layers below into the ``featurestore.errors`` tree.
"""

from __future__ import annotations

import threading
import time
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

import pyarrow as pa

from featurestore.boundary import translated
from featurestore.config import CONFIG_FILE, StoreConfig, load_config
from featurestore.definitions import (
    DataSource,
    Entity,
    FeatureService,
    FeatureView,
    OnDemandFeatureView,
    PushSource,
)
from featurestore.errors import (
    ConfigError,
    ConflictError,
    NotFoundError,
    SchemaError,
    ValidationError,
)
from featurestore.features import FeaturePlan, plan_features
from featurestore.file_sources import plan_file_imports
from featurestore.frames import (
    DataLike,
    rows_to_columns,
)
from featurestore.inference import prepare_definitions
from featurestore.progress import Progress
from featurestore.registry import (
    Plan,
    Registry,
    load_registry,
    merge_partial,
    plan,
    stage_registry,
)
from featurestore.serving import ViewStatus
from featurestore.source_tables import natural_keys, table_of, tables_needed
from featurestore.trust import CodeTrust

if TYPE_CHECKING:
    import offline
    import online
    import repos
    from featurestore.datasets import SavedDataset
    from featurestore.erasure import ErasureRecord
    from featurestore.explain import Explanation
    from featurestore.lineage import Lineage
    from featurestore.lookup import OnlineResponse
    from featurestore.materialization import MaterializeResult
    from featurestore.retrieval import RetrievalJob
    from featurestore.scoring import ScoreResult
    from featurestore.serving_log import ServingLog
    from featurestore.table_diff import StoreDiff
    from featurestore.training import TrainingLoader

__all__ = ["FeatureStore", "ViewStatus"]

PushTarget = Literal["online", "offline", "online_and_offline"]


class FeatureStore:
    """A feature repository: definitions, versioned offline tables and the online store."""

    def __init__(
        self,
        repo_path: str | Path | None = ".",
        config: StoreConfig | None = None,
        fs_yaml_file: str | Path | None = None,
        embedding_provider: None = None,
    ) -> None:
        """Open the project at ``repo_path`` (Feast's arguments, in Feast's order).

        ``fs_yaml_file`` names the configuration file to read instead of the one in
        ``repo_path`` (see ``load_config``); ``embedding_provider`` (vector search) is
        not supported and must be None.
        """
        if embedding_provider is not None:
            raise ConfigError(
                "embedding_provider is not supported: there is no vector search here; leave it out"
            )
        if fs_yaml_file is not None and config is not None:
            raise ConfigError("pass config or fs_yaml_file, not both")
        root = "." if repo_path is None else repo_path
        self.config = config if config is not None else load_config(root, config_file=fs_yaml_file)
        self._lock = threading.RLock()
        self._repo: repos.Repository | None = None
        self._tables: offline.TableStore | None = None
        self._engine: offline.ComputeEngine | None = None
        self._online: online.RedisOnlineStore | None = None
        self._embedded: online.EmbeddedRedis | None = None
        self._registry_cache: tuple[str, Registry] | None = None
        self._registry_checked = 0.0
        self._registry_refresh = threading.Lock()
        self.registry_ttl_s = 0.0
        """How long lookups and pushes may use the definitions they last read before
        checking the default branch's head again (0: every call checks; the HTTP service
        sets a second, as Feast's registry cache does, to spare a metadata query)."""
        self._plans: dict[tuple[Any, ...], FeaturePlan] = {}
        self._serving_log: ServingLog | None = None
        self.code_trust = CodeTrust.of_project(self.config.project_dir)
        """The project's trust list of on-demand code (see ``featurestore.trust``)."""

    # -- construction ----------------------------------------------------------------

    @classmethod
    def init(
        cls, path: str | Path, *, project: str | None = None, exist_ok: bool = False
    ) -> FeatureStore:
        """Create a project folder with ``featurestore.yaml`` and an empty repository."""
        import yaml

        root = Path(path).resolve()
        config_path = root / CONFIG_FILE
        if config_path.exists() and not exist_ok:
            raise ConfigError(
                f"{config_path} already exists; open it with FeatureStore({str(root)!r})"
            )
        root.mkdir(parents=True, exist_ok=True)
        if not config_path.exists():
            name = project or "".join(c if c.isalnum() else "_" for c in root.name) or "features"
            if name[0].isdigit():
                name = f"p_{name}"
            config_path.write_text(yaml.safe_dump({"project": name, "storage": "data"}))
        store = cls(root)
        store._open_repository(create=True)
        return store

    def _open_repository(self, create: bool = False) -> repos.Repository:
        import repos

        with self._lock:
            if self._repo is None:
                cfg = self.config
                with translated():
                    if create or cfg.create_repository:
                        self._repo = repos.Repository.create(
                            cfg.storage_location,
                            metadata_url=cfg.metadata_url,
                            default_branch=cfg.default_branch,
                            exist_ok=True,
                            storage_options=cfg.storage_options.fsspec(),
                        )
                    else:
                        try:
                            self._repo = repos.Repository.open(
                                cfg.storage_location,
                                metadata_url=cfg.metadata_url,
                                storage_options=cfg.storage_options.fsspec(),
                            )
                        except repos.NotFoundError as e:
                            raise NotFoundError(
                                f"no repository at {cfg.storage_location}: run `featurestore "
                                f"init {cfg.project_dir}` first"
                            ) from e
            return self._repo

    @property
    def repository(self) -> repos.Repository:
        """The versioned repository holding every byte of offline data and definitions."""
        return self._open_repository()

    @property
    def tables(self) -> offline.TableStore:
        import offline

        with self._lock:
            if self._tables is None:
                self._tables = offline.TableStore(self.repository)
            return self._tables

    @property
    def engine(self) -> offline.ComputeEngine:
        """The compute engine the config names (DuckDB, or Spark with ``type: spark``)."""
        import offline

        with self._lock:
            if self._engine is None:
                options = self.config.offline_store.model_dump(exclude={"type"})
                options["filesystem"] = self.repository.filesystem  # reads storage URLs
                with translated():
                    self._engine = offline.open_engine(self.config.offline_store.type, **options)
            return self._engine

    @property
    def online_store(self) -> online.RedisOnlineStore:
        """The online store: ``online_store.url`` or ``REDIS_URL``, else an embedded server."""
        import online

        with self._lock:
            if self._online is None:
                cfg = self.config.online_store
                if cfg.type == "redis_cluster":
                    self._online = online.RedisClusterOnlineStore(
                        [cfg.url, *cfg.startup_nodes],
                        key_prefix=cfg.key_prefix or self.config.project,
                        socket_timeout=cfg.socket_timeout_s,
                        max_connections=cfg.max_connections,
                        replica_acks=cfg.replica_acks,
                        replica_ack_timeout=cfg.replica_ack_timeout_s,
                        failover_timeout=cfg.failover_timeout_s,
                    )
                    return self._online
                url = cfg.url
                if url is None:
                    with translated():
                        self._embedded = online.EmbeddedRedis(self._embedded_dir())
                    url = self._embedded.url
                self._online = online.RedisOnlineStore(
                    url,
                    key_prefix=cfg.key_prefix or self.config.project,
                    socket_timeout=cfg.socket_timeout_s,
                    max_connections=cfg.max_connections,
                )
            return self._online

    def _embedded_dir(self) -> Path:
        location = self.config.storage_location
        base = (
            Path(location) if "://" not in location else self.config.project_dir / ".featurestore"
        )
        return base / "online"

    def close(self) -> None:
        """Commit the queued serving log; release connections; stop the embedded online
        server if no other process uses it."""
        if self._serving_log is not None:
            self._serving_log.close()
        with self._lock:
            if self._online is not None:
                self._online.close()
                self._online = None
            if self._embedded is not None:
                self._embedded.stop()  # gives its lease back; the last user's stops it
                self._embedded = None
            if self._engine is not None:
                self._engine.close()
                self._engine = None
            if self._repo is not None:
                self._repo.close()
                self._repo = None
                self._tables = None

    def __enter__(self) -> FeatureStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"FeatureStore(project={self.config.project!r}, storage={self.config.storage_location!r})"

    # -- refs and definitions -----------------------------------------------------------

    def _branch_name(self, branch: str | None) -> str:
        """The branch a write goes to; internal branches (saved datasets) are refused."""
        from featurestore.datasets import refuse_internal

        name = branch or self.config.default_branch
        refuse_internal(name, "write to")
        return name

    def branches(self) -> list[repos.Branch]:
        """The users' branches, sorted; internal ones (saved datasets) are left out."""
        from featurestore.datasets import is_internal

        with translated():
            return [b for b in self.repository.branches() if not is_internal(b.id)]

    def delete_branch(self, name: str) -> int:
        """Delete a branch and its uncommitted changes; internal branches are refused.

        Then its online namespace is freed (and those of branches deleted without it);
        returns the online keys removed. If the online store cannot be reached, the
        branch is still deleted and a warning says how to free its keys later.
        """
        from featurestore.datasets import refuse_internal
        from featurestore.namespaces import free_branch

        refuse_internal(name, "delete")
        with translated():
            self.repository.branch(name).delete()
        return free_branch(self, name)

    def collect_online_orphans(self) -> dict[str, int]:
        """Free the online namespaces of branches that no longer exist (deleted through
        ``repos`` directly, or a crash after the delete); keys removed per branch."""
        from featurestore.namespaces import collect_orphans

        return collect_orphans(self)

    def resolve(self, ref: str | None = None) -> str:
        """The commit id ``ref`` (a branch, tag, commit or ``ref~N``) points at now."""
        with translated():
            return self.repository.ref(ref or self.config.default_branch).resolve()

    def registry(self, ref: str | None = None) -> Registry:
        """The definitions at ``ref``: committed ones, or staged ones for a branch."""
        with translated():
            return load_registry(
                self.repository.ref(ref or self.config.default_branch), self.code_trust
            )

    def trust_code(self, view: str, ref: str | None = None) -> str:
        """Trust on-demand view ``view``'s code as stored at ``ref``; its sha256.

        Review its ``udf_source`` first: once trusted, that code runs whenever the view
        is computed in this project, on any ref.
        """
        odfv = self.registry(ref).get_on_demand_feature_view(view)
        self.code_trust.add([(odfv.name, odfv.udf_source)], "trusted with trust_code")
        return odfv.udf_sha256

    def _serving_registry(self) -> Registry:
        """The default branch's definitions, cached until its head moves.

        With a ttl, one call at a time checks the head once the ttl has passed; the
        calls meanwhile answer with the kept definitions instead of waiting for it.
        """
        cached = self._registry_cache
        checked = time.monotonic()
        if cached is not None and checked - self._registry_checked < self.registry_ttl_s:
            return cached[1]
        if cached is None or self.registry_ttl_s <= 0:
            return self._refresh_registry(cached, checked)
        if not self._registry_refresh.acquire(blocking=False):
            return cached[1]  # another call is checking the head
        try:
            return self._refresh_registry(cached, checked)
        finally:
            self._registry_refresh.release()

    def _refresh_registry(self, cached: tuple[str, Registry] | None, checked: float) -> Registry:
        head = self.resolve()
        self._registry_checked = checked
        if cached is not None and cached[0] == head:
            return cached[1]
        registry = self.registry(head)
        self._registry_cache = (head, registry)
        self._plans.clear()
        return registry

    def plan(
        self, objects: Iterable[object], branch: str | None = None, *, partial: bool = True
    ) -> Plan:
        """What ``apply(objects, branch, partial=partial)`` would change; changes nothing.

        As for ``apply``, ``partial=True`` adds or replaces the given objects and keeps the
        rest; ``partial=False`` takes them as the full set (``featurestore plan``).
        """
        return self._planned(objects, self._branch_name(branch), partial)[1]

    def _planned(
        self, objects: Iterable[object], branch: str, partial: bool
    ) -> tuple[list[object], Plan]:
        """The definitions an apply would stage on ``branch``, and its plan."""
        current = self.registry(branch)
        given = list(objects)
        if partial:
            given = merge_partial(current.objects, given)
        prepared = prepare_definitions(self, given, branch)
        return prepared, plan(current, prepared)

    def apply(
        self, objects: Iterable[object], branch: str | None = None, *, partial: bool = True
    ) -> Plan:
        """Stage definitions on ``branch`` (commit with ``commit``) and create their tables.

        ``partial=True`` adds or replaces the given objects and keeps the rest (Feast's
        ``FeatureStore.apply``); ``partial=False`` makes them the full set. A change that
        would break stored data (a type change of an existing column) is refused. Views
        it removes lose their online data when the apply is committed (see ``commit``).
        """
        name = self._branch_name(branch)
        objects, result = self._planned(objects, name, partial)
        if result.breaking:
            raise SchemaError(
                "these changes would break data already stored: "
                + "; ".join(result.breaking)
                + ". Add a new feature or view instead of changing a type"
            )
        with translated():
            b = self.repository.branch(name)
            existing = set(self.tables.tables(b))
            needed = tables_needed(result.registry)
            # Check every table before creating any, so a refused apply stages nothing.
            for source, schema in needed:
                if source in existing:
                    stored = self.tables.schema(b, source)
                    missing = [f.name for f in schema if f.name not in stored.names]
                    if missing:
                        raise SchemaError(
                            f"table {source!r} exists without column(s) {missing}; add them "
                            "as a new source table, or ingest them before applying"
                        )
            imports = plan_file_imports(
                result.registry, b, dict(needed), sorted(existing), self.config.project_dir
            )
            for source, schema in needed:
                if source not in existing:
                    self.tables.create_table(b, source, schema)
            for file_import in imports:
                file_import.run(self.tables, b)
            stage_registry(b, result.registry)
        self.code_trust.add_applied(objects)
        self._registry_cache = None
        return result

    # Feast's listing and lookup names; ``allow_cache`` / ``allow_registry_cache`` are
    # accepted for Feast's callers and change nothing (see ``featurestore.catalog``).

    def list_feature_views(
        self,
        ref: str | None = None,
        *,
        allow_cache: bool = False,
        tags: Mapping[str, str] | None = None,
    ) -> list[FeatureView]:
        """The feature views at ``ref`` (default branch), those with all ``tags`` if given."""
        from featurestore.catalog import with_tags

        return with_tags(self.registry(ref).feature_views, tags)

    def list_on_demand_feature_views(
        self,
        ref: str | None = None,
        *,
        allow_cache: bool = False,
        tags: Mapping[str, str] | None = None,
    ) -> list[OnDemandFeatureView]:
        from featurestore.catalog import with_tags

        return with_tags(self.registry(ref).on_demand_feature_views, tags)

    def list_entities(
        self,
        allow_cache: bool = False,
        tags: Mapping[str, str] | None = None,
        *,
        ref: str | None = None,
    ) -> list[Entity]:
        from featurestore.catalog import with_tags

        return with_tags(self.registry(ref).entities, tags)

    def list_feature_services(
        self, tags: Mapping[str, str] | None = None, *, ref: str | None = None
    ) -> list[FeatureService]:
        from featurestore.catalog import with_tags

        return with_tags(self.registry(ref).feature_services, tags)

    def list_data_sources(
        self,
        allow_cache: bool = False,
        tags: Mapping[str, str] | None = None,
        *,
        ref: str | None = None,
    ) -> list[DataSource]:
        from featurestore.catalog import with_tags

        return with_tags(self.registry(ref).data_sources, tags)

    def get_entity(
        self, name: str, allow_registry_cache: bool = False, *, ref: str | None = None
    ) -> Entity:
        return self.registry(ref).get_entity(name)

    def get_data_source(self, name: str, *, ref: str | None = None) -> DataSource:
        return self.registry(ref).get_data_source(name)

    def get_feature_view(
        self, name: str, ref: str | None = None, *, allow_registry_cache: bool = False
    ) -> FeatureView:
        return self.registry(ref).get_feature_view(name)

    def get_on_demand_feature_view(
        self, name: str, ref: str | None = None, *, allow_registry_cache: bool = False
    ) -> OnDemandFeatureView:
        return self.registry(ref).get_on_demand_feature_view(name)

    def get_feature_service(
        self, name: str, ref: str | None = None, *, allow_cache: bool = False
    ) -> FeatureService:
        """A feature service at ``ref``; by default the one lookups serve (committed, cached)."""
        registry = self._serving_registry() if ref is None else self.registry(ref)
        return registry.get_feature_service(name)

    # -- offline data ---------------------------------------------------------------------

    def ingest(
        self,
        source: str | FeatureView | PushSource,
        data: DataLike,
        branch: str | None = None,
        mode: Literal["append", "upsert", "delete"] = "append",
        keys: Sequence[str] | None = None,
        *,
        progress: Progress | None = None,
    ) -> offline.WriteResult:
        """Stage rows in a source's table on ``branch``; checked before anything is written.

        ``progress`` hears ``(f"ingest {table}", rows done, rows given)``.
        """
        from featurestore import source_tables

        return source_tables.ingest(self, source, data, branch, mode, keys, progress)

    def commit(
        self,
        message: str,
        branch: str | None = None,
        metadata: Mapping[str, str] | None = None,
        allow_empty: bool = False,
    ) -> repos.Commit:
        """Commit everything staged on ``branch``: data and definitions together.

        When the commit removes a view (or re-creates it with other keys or feature
        types), its online values and materialization record are cleared if that record
        names ``branch``, as Feast's apply removes the online tables of removed views; if
        the online store cannot be reached, the commit stands and a warning says what to do.
        """
        from featurestore import serving

        name = self._branch_name(branch)
        with translated():
            c = self.repository.branch(name).commit(
                message, metadata=metadata, allow_empty=allow_empty
            )
        dropped = serving.clear_dropped_views(self, name, next(iter(c.parents), None), c.id)
        if dropped.unreachable is not None:
            warnings.warn(dropped.unreachable, RuntimeWarning, stacklevel=2)
        return c

    def compact(self, source: str, branch: str | None = None) -> repos.Commit | None:
        """Rewrite a table's small objects into large ones sorted by (keys, event time).

        The rewrite is its own commit, which changes no row; None when there was nothing
        to compact. The branch must have no uncommitted changes, so that the commit holds
        the compaction alone.
        """
        name = self._branch_name(branch)
        registry = self.registry(name)
        table = table_of(registry, source)
        sort = list(natural_keys(registry, table))
        with translated():
            b = self.repository.branch(name)
            if next(iter(b.uncommitted()), None) is not None:
                raise ConflictError(
                    f"branch {name!r} has uncommitted changes; commit or reset them before "
                    "compacting, so the compaction commit changes no row"
                )
            if not self.tables.compact(name, table, sort_by=sort or None, engine=self.engine):
                return None
            try:
                return b.commit(f"compact {table}", metadata={"compaction": table})
            except Exception:
                b.reset()
                raise

    def diff(self, left: str, right: str, table: str | None = None) -> StoreDiff:
        """What changes from ``left``'s commit to ``right``'s: each table's rows by
        natural key (counts first, rows on request), definitions by field, on-demand code
        as source diffs."""
        from featurestore import table_diff

        return table_diff.diff(self, left, right, table)

    def merge(
        self,
        source: str,
        into: str | None = None,
        strategy: Literal["source-wins", "dest-wins"] | None = None,
        message: str | None = None,
        *,
        metadata: Mapping[str, str] | None = None,
        allow_empty: bool = False,
    ) -> repos.Commit:
        """Merge branch ``source`` into ``into`` (default: the default branch) as one
        commit: tables three-way by natural key, definitions by object.

        The same key (or definition) changed differently on both sides raises
        ``MergeConflictError`` listing them, and nothing changes; ``strategy``
        ``source-wins`` / ``dest-wins`` takes that side's version of each.
        """
        from featurestore import merging

        return merging.merge(
            self, source, into, strategy, message, metadata=metadata, allow_empty=allow_empty
        )

    def sql(self, query: str, ref: str | None = None) -> pa.Table:
        """Read-only SQL over every table at ``ref``, each under its own name.

        A table with no rows (none ingested yet, or none left) reads as empty with its
        columns. Like every read of a branch, it sees the branch's uncommitted writes
        too; pass a tag or commit id to read committed data only.
        """
        with translated():
            at = self.repository.ref(ref or self.config.default_branch)
            files = {n: self.tables.files(at, n) for n in self.tables.tables(at)}
            empty = {n: self.tables.schema(at, n) for n, f in files.items() if not f}
            return self.engine.sql(query, files, empty)

    # -- training sets --------------------------------------------------------------------

    def get_historical_features(
        self,
        entity_df: DataLike | None = None,
        features: Sequence[str] | FeatureService = (),
        full_feature_names: bool = False,
        ref: str | None = None,
        *,
        start_date: datetime | None = None,
        end_date: datetime | None = None,
        exclude_created_after: bool = False,
        filter_by_created_timestamp: bool = False,
    ) -> RetrievalJob:
        """A point-in-time correct training set of what ``ref`` holds now.

        A branch (default: the default branch) is read with its uncommitted writes, as
        every read of a branch is; the job's ``commit_id`` is then the branch's head and
        ``uncommitted`` is true (commit first to save it as a dataset). A tag or commit
        id reads committed data only. With no ``entity_df``, every entity's rows in
        ``[start_date, end_date]`` are used. ``exclude_created_after`` (Feast's
        ``filter_by_created_timestamp``) drops rows created after each entity row's time
        and rows with no created time.
        """
        from featurestore import retrieval

        return retrieval.historical_job(
            self,
            entity_df,
            features,
            full_feature_names,
            ref,
            start_date=start_date,
            end_date=end_date,
            exclude_created_after=exclude_created_after or filter_by_created_timestamp,
        )

    def create_saved_dataset(self, job: RetrievalJob, name: str) -> SavedDataset:
        """Keep a training set in the repository with its commit, refs and definitions hash."""
        from featurestore import datasets

        with translated():
            return datasets.save(self.repository, job, name)

    def get_saved_dataset(self, name: str) -> SavedDataset:
        from featurestore import datasets

        with translated():
            return datasets.load(self.repository, name)

    def training_loader(
        self, dataset_or_job: SavedDataset | RetrievalJob | str, batch_size: int, **options: Any
    ) -> TrainingLoader:
        """Seeded, sharded batches of a saved dataset or job (``featurestore.training``)."""
        from featurestore.training import training_loader

        return training_loader(self, dataset_or_job, batch_size, **options)

    def saved_datasets(self, containing: Mapping[str, Any] | None = None) -> list[SavedDataset]:
        """Saved datasets, or only those whose rows include the given entity key values."""
        from featurestore import datasets

        with translated():
            return datasets.list_saved(self.repository, containing)

    # -- online ---------------------------------------------------------------------------

    def materialize(
        self,
        start_date: datetime | None,
        end_date: datetime,
        feature_views: Sequence[str | FeatureView] | None = None,
        ref: str | None = None,
        *,
        on_rows: Callable[[int], None] | None = None,
        progress: Progress | None = None,
    ) -> list[MaterializeResult]:
        """Write each view's latest row per entity in ``[start_date, end_date]`` online.

        A branch ``ref`` is written to that branch's namespace, read by lookups with
        ``ref=`` it; a tag or commit id is served by the default branch (a rollback);
        internal branches are refused (RefusedError).

        ``progress`` is called per view with the rows written so far and their total.
        """
        from featurestore import serving

        return serving.materialize(
            self, start_date, end_date, feature_views, ref, False, on_rows, progress
        )

    def materialize_incremental(
        self,
        end_date: datetime,
        feature_views: Sequence[str | FeatureView] | None = None,
        ref: str | None = None,
        *,
        on_rows: Callable[[int], None] | None = None,
        progress: Progress | None = None,
    ) -> list[MaterializeResult]:
        """Materialize what is new since each view's last run, up to ``end_date``."""
        from featurestore import serving

        return serving.materialize(
            self, None, end_date, feature_views, ref, True, on_rows, progress
        )

    def teardown(self) -> int:
        """Remove the project's online data: every view's values and materialization records.

        Every key under the project's prefix goes, of views defined on any branch or on
        none (removed ones too), in every branch's namespace. The versioned offline data,
        commits and definitions stay; materialize again to serve. Feast's ``teardown``
        removes its online tables the same way. Returns the number of online keys removed.
        """
        from featurestore import namespaces

        return namespaces.teardown(self)

    def online_status(self) -> list[ViewStatus]:
        """For every online view: the branch and commit it serves, and how far it lags;
        the default branch's namespace first, then each branch namespace written."""
        from featurestore import serving

        return serving.online_status(self)

    def get_online_features(
        self,
        features: Sequence[str] | FeatureService,
        entity_rows: Sequence[Mapping[str, Any]] | Mapping[str, Sequence[Any]],
        full_feature_names: bool = False,
        include_feature_view_version_metadata: bool = False,
        *,
        now: datetime | None = None,
        ref: str | None = None,
    ) -> OnlineResponse:
        """Features of many entities from the online store in one round trip.

        Entity rows hold the join keys and any request data on-demand views need.
        Missing values are null (``NOT_FOUND``), and so are values older than their
        view's ttl (``OUTSIDE_MAX_AGE``); ``now`` is the time ttl is measured against
        (default: the current time). ``include_feature_view_version_metadata`` is
        accepted for Feast's callers: the response's ``commits`` name the data each
        value came from (the HTTP service adds Feast's version metadata). ``ref`` names
        the branch whose online namespace and committed definitions are read (default:
        the default branch); a tag or commit is refused (NotFoundError).
        """
        from featurestore.lookup import read_online

        if ref is None or ref == self.config.default_branch:
            registry, plans, target = self._serving_registry(), self._plans, None
        else:
            from featurestore.namespaces import serving_for

            branch = serving_for(self, ref)
            registry, plans, target = branch.registry, branch.plans, branch.online
        key = (
            tuple(features) if not isinstance(features, FeatureService) else features.name,
            isinstance(features, FeatureService),
            full_feature_names,
        )
        fplan = plans.get(key)
        if fplan is None:
            fplan = plan_features(features, registry, full_feature_names=full_feature_names)
            plans[key] = fplan
        columns = rows_to_columns(entity_rows)
        # rows without columns ({}) are rows too when only views without entities are read
        keyless = 0 if isinstance(entity_rows, Mapping) or fplan.join_keys else len(entity_rows)
        if not keyless and (not columns or not any(len(v) for v in columns.values())):
            raise ValidationError("no entity rows given; pass at least one row of join keys")
        with translated():
            source = self.online_store if target is None else target
            response = read_online(fplan, columns, source, now, rows=keyless or None)
        if isinstance(features, FeatureService):
            from featurestore.serving_log import log_lookup

            service = registry.feature_services_by_name.get(features.name, features)
            cached = self._registry_cache
            commit = cached[0] if cached is not None and cached[1] is registry else None
            if target is not None:
                commit = branch.head
            response = log_lookup(self, service, fplan, response, columns, now, ref, commit)
        return response

    def score(
        self,
        model: Callable[[Any], Any],
        entities: Any,
        service: str | FeatureService,
        *,
        device: str = "cpu",
        ref: str | None = None,
        now: datetime | None = None,
    ) -> ScoreResult:
        """Features of ``service`` for ``entities`` as one tensor on ``device`` (declared
        order, nulls NaN), through ``model``; predictions with the commit behind each row.

        A frame with event times is scored offline at ``ref`` (point-in-time); entity rows
        (dicts) live from the online store as of ``now``. See ``featurestore.scoring``.
        """
        from featurestore import scoring

        return scoring.score(self, model, entities, service, device=device, ref=ref, now=now)

    @property
    def serving_log(self) -> ServingLog:
        """The queue of logged lookups (``flush()``, ``dropped``; see ``serving_log``)."""
        from featurestore.serving_log import ServingLog

        with self._lock:
            if self._serving_log is None:
                self._serving_log = ServingLog(self, self.config.serving_log)
            return self._serving_log

    def explain(self, request_id: str) -> Explanation:
        """What a logged lookup served, and the same features recomputed point-in-time at
        its time on the commits it was served from, with the differences marked."""
        from featurestore.explain import explain

        return explain(self, request_id)

    def lineage(self, dataset: str | SavedDataset) -> Lineage:
        """The commit, definitions, tables and exact objects a saved dataset was built from."""
        from featurestore.lineage import lineage

        return lineage(self, dataset)

    def erase(
        self,
        entity: Mapping[str, Any],
        reason: str,
        by: str | None = None,
        collect: bool = False,
    ) -> ErasureRecord:
        """Forget an entity: its rows leave every table, saved dataset and serving log in
        the whole history (commits get new ids; old ids resolve to them), its online keys
        every namespace, and an audit record says when, why and by whom. ``collect``: run
        GC so no object on disk holds the rows any more. See ``featurestore.erasure``."""
        from featurestore.erasure import erase

        return erase(self, entity, reason, by=by, collect=collect)

    def erasures(self, entity: Mapping[str, Any] | None = None) -> list[ErasureRecord]:
        """The erasure audit, oldest first; with ``entity``, only the erasures of it."""
        from featurestore.erasure import erasures

        return erasures(self, entity)

    def push(
        self,
        push_source_name: str,
        df: DataLike,
        allow_registry_cache: bool = True,
        to: PushTarget | Any = "online",
        transform_on_write: bool = True,
        *,
        branch: str | None = None,
    ) -> int:
        """Take fresh observations for the views whose source is ``push_source_name``.

        Feast's positional order. ``to``: ``"online"`` (monotonic writes), ``"offline"``
        (appended once to the push source's batch table on ``branch``, staged: every read
        of that branch sees them before a commit) or ``"online_and_offline"``;
        ``PushMode`` members work too. ``allow_registry_cache`` and
        ``transform_on_write`` are accepted for Feast's callers and change nothing
        (definitions are read per call; on-demand views are computed at read). Online
        rows go to ``branch``'s namespace (default: the default branch's); a tag or
        commit is refused (NotFoundError), as for lookups. Returns the number of rows
        taken.
        """
        from featurestore import writes

        for flag, value in (
            ("allow_registry_cache", allow_registry_cache),
            ("transform_on_write", transform_on_write),
        ):
            if not isinstance(value, bool):
                raise ValidationError(
                    f"push: {flag} must be True or False, not {value!r}; pass the target "
                    "by keyword, to=..., as Feast's signature has allow_registry_cache third"
                )
        return writes.push(self, push_source_name, df, to, branch)

    def write_to_online_store(
        self,
        feature_view_name: str,
        df: DataLike | None = None,
        inputs: DataLike | None = None,
        allow_registry_cache: bool = True,
        *,
        transform_on_write: bool = True,
        branch: str | None = None,
    ) -> None:
        """Write rows (join keys, event time, features) of one view to the online store.

        Feast's method: ``inputs`` is the same as ``df`` (a dict of columns works for
        both); writes are monotonic like a push's. ``allow_registry_cache`` and
        ``transform_on_write`` change nothing here. ``branch``: whose online namespace
        (and definitions) to write (default: the default branch's); a tag or commit is
        refused (NotFoundError).
        """
        from featurestore import writes

        data = df if df is not None else inputs
        if data is None:
            raise ValidationError("write_to_online_store: pass the rows as df=")
        writes.write_online(self, feature_view_name, data, branch)

    def write_to_offline_store(
        self,
        feature_view_name: str,
        df: DataLike,
        allow_registry_cache: bool = True,
        *,
        reorder_columns: bool = True,
        branch: str | None = None,
    ) -> None:
        """Append rows of one view to its source table on ``branch`` (staged, uncommitted).

        Columns are matched by name, so ``reorder_columns`` changes nothing; columns of
        the table the view does not read (other views' features) are stored as null.
        """
        from featurestore import writes

        writes.write_offline(self, feature_view_name, df, branch)

    def health(self) -> dict[str, bool]:
        """Whether the metadata database and the online store answer."""
        out = {}
        try:
            self.resolve()
            out["metadata"] = True
        except Exception:
            out["metadata"] = False
        try:
            out["online_store"] = bool(self.online_store.ping())
        except Exception:
            out["online_store"] = False
        return out
