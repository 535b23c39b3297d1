"""An Arrow Flight offline server speaking Feast's remote offline store protocol.

Feast's SDK configured with ``offline_store: type: remote`` sends each read as one
``do_exchange`` stream: a JSON command (``{"api": "get_historical_features",
"feature_refs": [...], "full_feature_names": ..., "start_date"?, "end_date"?}``) as the
descriptor, the entity rows as the uploaded table, the training set as the answer.
Writes (``offline_write_batch``, a push with ``to=PushMode.OFFLINE``) arrive as
``do_put``. Here a read is a point-in-time join at the server's ref (by default the
default branch, its uncommitted writes included, as every branch read; a tag or commit
pins every training set); a write is staged on that branch.

Errors carry Feast's detail (``{"module", "class", "message"}``, see ``_errors``) in the
Flight error's message, which Feast's client raises as its own exception class. Keys are
checked as on the HTTP service (``Authorization: Bearer <key>`` or ``x-api-key``):
reads need ``reader``, writes ``writer``; a refusal is Feast's ``FeastPermissionError``.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.flight as fl

from featurestore.server._auth import Keyring, Role
from featurestore.server._calls import check_view
from featurestore.server._errors import HTTPError, from_exception

if TYPE_CHECKING:
    from featurestore import FeatureStore

__all__ = ["DEFAULT_OFFLINE_PORT", "OfflineServer", "serve_offline"]

log = logging.getLogger("featurestore.server.flight")

_PLACEHOLDER = "key"
"""The one column of the table Feast's client uploads when it has no entity rows."""
_READS = {
    "get_historical_features",
    "pull_latest_from_table_or_query",
    "pull_all_from_table_or_query",
    "get_table_column_names_and_types_from_data_source",
}
_NO_OPS = {"validate_data_source"}
"""Calls Feast's client makes at ``apply`` that need nothing here: sources are tables
this server already knows."""


class _Headers(fl.ServerMiddleware):  # type: ignore[misc]
    """The call's headers, for the key check inside the handler."""

    def __init__(self, headers: dict[str, list[str]]) -> None:
        self.headers = headers

    def value(self, name: str) -> str | None:
        values = self.headers.get(name) or []
        return values[0] if values else None


class _HeadersFactory(fl.ServerMiddlewareFactory):  # type: ignore[misc]
    def start_call(self, info: Any, headers: dict[str, list[str]]) -> _Headers:
        return _Headers(headers)


def _time(command: dict[str, Any], name: str) -> datetime | None:
    value = command.get(name)
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        raise HTTPError(
            400, "bad_request", f"`{name}` is not an ISO 8601 time: {value!r}"
        ) from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _entity_rows(table: pa.Table) -> pa.Table | None:
    """The uploaded entity rows, without pandas' index columns; None for the placeholder."""
    if table.schema.names == [_PLACEHOLDER]:
        return None
    keep = [n for n in table.schema.names if not n.startswith("__index_level_")]
    return table.select(keep).replace_schema_metadata(None)


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _names(command: dict[str, Any], field: str, schema: pa.Schema, one: bool = False) -> list[str]:
    """Column names the client sent in ``field``, each a column of the table."""
    value = command.get(field)
    names = [value] if one else value
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise HTTPError(400, "bad_request", f"`{field}` must name columns of the table")
    unknown = [n for n in names if n not in schema.names]
    if unknown:
        raise HTTPError(
            422,
            "validation_error",
            f"`{field}`: the table has no column(s) {unknown}; it has {schema.names}",
        )
    return list(names)


class OfflineServer(fl.FlightServerBase):  # type: ignore[misc]
    """Feast's remote offline store protocol over ``store`` at ``ref``."""

    def __init__(
        self,
        store: FeatureStore,
        location: str = "grpc+tcp://127.0.0.1:8815",
        ref: str | None = None,
    ) -> None:
        super().__init__(location, middleware={"headers": _HeadersFactory()})
        self.store = store
        self.ref = ref
        """What reads see (a branch, tag or commit; None: the default branch) and where
        writes are staged (a branch only)."""
        self.keyring = Keyring(store.config.server.api_keys)

    # -- helpers ---------------------------------------------------------------------

    def _check(self, context: fl.ServerCallContext, role: Role, reader: Any) -> None:
        """Refuse a call without a key of ``role``, after draining (not keeping) its
        upload: Feast's client reads the error only once its upload is sent."""
        if not self.keyring.enabled:
            return
        headers = context.get_middleware("headers")
        authorization = headers.value("authorization") if headers else None
        api_key = headers.value("x-api-key") if headers else None
        try:
            self.keyring.check(authorization, api_key, role)
        except HTTPError as e:
            while True:
                try:
                    reader.read_chunk()
                except StopIteration:
                    break
            raise fl.FlightError(e.feast_body()) from None

    @staticmethod
    def _command(descriptor: fl.FlightDescriptor) -> dict[str, Any]:
        try:
            command = json.loads(descriptor.command)
        except (TypeError, ValueError):
            command = None
        if not isinstance(command, dict) or not isinstance(command.get("api"), str):
            raise HTTPError(
                400, "bad_request", "the descriptor must be a JSON command naming `api`"
            )
        return command

    def _failed(self, exc: BaseException) -> fl.FlightError:
        """The error Feast's client raises as its own class (it reads the text after
        ``Flight error:``, which a plain ``FlightError`` carries)."""
        err = from_exception(exc)
        if err.status >= 500:
            log.error("offline call failed: %s", exc, exc_info=err.status == 500)
        return fl.FlightError(err.feast_body())

    # -- reads -----------------------------------------------------------------------

    def _historical(self, command: dict[str, Any], uploaded: pa.Table) -> pa.Table:
        refs = command.get("feature_refs")
        if not isinstance(refs, list) or not all(isinstance(r, str) for r in refs):
            raise HTTPError(400, "bad_request", "`feature_refs` must be a list of view:feature")
        if command.get("entity_df_sql") is not None:
            raise HTTPError(
                422,
                "validation_error",
                "entity rows as SQL are not taken here: send them as a DataFrame",
            )
        registry = self.store.registry(self.ref)
        for ref in refs:
            check_view(registry, ref.partition(":")[0])
        full = bool(command.get("full_feature_names", False))
        job = self.store.get_historical_features(
            _entity_rows(uploaded),
            refs,
            full_feature_names=full,
            ref=self.ref,
            start_date=_time(command, "start_date"),
            end_date=_time(command, "end_date"),
        )
        return job.to_arrow()

    def _table_of(self, name: object) -> str:
        """The table behind source ``name`` (a push source's batch table); 404 if none."""
        from featurestore.definitions import PushSource

        sources = self.store.registry(self.ref).data_sources_by_name
        source = sources.get(name) if isinstance(name, str) else None
        if isinstance(source, PushSource):
            source = source.batch_source
        table = getattr(source, "table", None)
        if not isinstance(table, str):
            raise HTTPError(
                404,
                "not_found",
                f"no table source {name!r} is applied; known: {', '.join(sorted(sources))}",
                "DataSourceObjectNotFoundException",
            )
        return table

    def _columns(self, command: dict[str, Any]) -> pa.Table:
        """The source's columns and their Arrow types (Feast checks a write's columns)."""
        try:  # the JSON form of Feast's DataSource proto
            proto = json.loads(str(command.get("data_source_proto")))
        except ValueError:
            proto = None
        table = self._table_of(proto.get("name") if isinstance(proto, dict) else None)
        schema = self.store.sql(f"SELECT * FROM {_quoted(table)} LIMIT 0", self.ref).schema
        return pa.table({"name": schema.names, "type": [str(t) for t in schema.types]})

    def _pull(self, command: dict[str, Any], latest: bool) -> pa.Table:
        """A source's rows in ``[start_date, end_date]`` (each key's latest with
        ``latest``), as Feast's materialization reads them."""
        table = self._table_of(command.get("data_source_name"))
        schema = self.store.sql(f"SELECT * FROM {_quoted(table)} LIMIT 0", self.ref).schema
        keys = _names(command, "join_key_columns", schema)
        features = _names(command, "feature_name_columns", schema)
        (ts,) = _names(command, "timestamp_field", schema, one=True)
        created = (
            _names(command, "created_timestamp_column", schema, one=True)
            if command.get("created_timestamp_column")
            else []
        )
        columns = ", ".join(_quoted(c) for c in dict.fromkeys([*keys, *features, ts, *created]))
        where = []
        for bound, op in (("start_date", ">="), ("end_date", "<=")):
            at = _time(command, bound)
            if at is not None:
                where.append(f"{_quoted(ts)} {op} TIMESTAMPTZ '{at.isoformat()}'")
        query = f"SELECT {columns} FROM {_quoted(table)}"
        if where:
            query += " WHERE " + " AND ".join(where)
        if latest:
            order = ", ".join(f"{_quoted(c)} DESC NULLS LAST" for c in [ts, *created])
            partition = ", ".join(_quoted(k) for k in keys) or "1"
            query = (
                f"SELECT {columns} FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY {partition} "
                f"ORDER BY {order}) AS _latest FROM ({query})) WHERE _latest = 1"
            )
        return self.store.sql(query, self.ref)

    def do_exchange(
        self,
        context: fl.ServerCallContext,
        descriptor: fl.FlightDescriptor,
        reader: fl.MetadataRecordBatchReader,
        writer: fl.MetadataRecordBatchWriter,
    ) -> None:
        """One read: the command, the uploaded entity rows, the answer on one stream."""
        self._check(context, "reader", reader)
        try:
            command = self._command(descriptor)
            uploaded = reader.read_all()
            api = command["api"]
            if api not in _READS:
                raise HTTPError(
                    422,
                    "validation_error",
                    f"`{api}` is not served here; this server answers "
                    f"{', '.join(sorted(_READS))} (materialize with featurestore itself)",
                )
            if api == "get_historical_features":
                table = self._historical(command, uploaded)
            elif api == "get_table_column_names_and_types_from_data_source":
                table = self._columns(command)
            else:
                table = self._pull(command, latest=api == "pull_latest_from_table_or_query")
        except Exception as e:
            raise self._failed(e) from None
        writer.begin(table.schema)
        for batch in table.to_batches(max_chunksize=64_000):
            writer.write_batch(batch)

    # -- writes ----------------------------------------------------------------------

    def do_put(
        self,
        context: fl.ServerCallContext,
        descriptor: fl.FlightDescriptor,
        reader: fl.MetadataRecordBatchReader,
        writer: fl.FlightMetadataWriter,
    ) -> None:
        """``offline_write_batch``: stage one view's rows on the default branch."""
        try:
            command = self._command(descriptor)
        except Exception as e:
            raise self._failed(e) from None
        api = command["api"]
        if api in _NO_OPS:
            self._check(context, "reader", reader)
            reader.read_all()
            return
        self._check(context, "writer", reader)
        try:
            table = reader.read_all()
            if api == "persist":
                raise HTTPError(
                    422,
                    "validation_error",
                    "saving a retrieval as a dataset is done with featurestore itself "
                    "(FeatureStore.create_saved_dataset), which records the commit it read",
                )
            if api != "offline_write_batch":
                raise HTTPError(422, "validation_error", f"`{api}` is not served here")
            views = command.get("feature_view_names")
            if not isinstance(views, list) or len(views) != 1 or not isinstance(views[0], str):
                raise HTTPError(400, "bad_request", "`feature_view_names` must name one view")
            rows = _entity_rows(table)
            if rows is None:
                raise HTTPError(400, "bad_request", "`offline_write_batch` needs rows")
            self.store.write_to_offline_store(views[0], rows, branch=self.ref)
        except Exception as e:
            raise self._failed(e) from None


DEFAULT_OFFLINE_PORT = 8815
"""Feast's offline server port (``feast serve_offline``)."""


def serve_offline(
    store_or_path: FeatureStore | str | Path,
    host: str = "127.0.0.1",
    port: int = DEFAULT_OFFLINE_PORT,
    *,
    ref: str | None = None,
    allow_public_without_keys: bool = False,
) -> None:
    """Serve Feast's remote offline store protocol until interrupted.

    Reads see ``ref`` (a tag or commit pins every training set to it; default: the
    default branch with its uncommitted writes); writes are staged on ``ref`` when it is
    a branch.

    Beyond loopback with no API keys it refuses (``ConfigError``) unless
    ``allow_public_without_keys``, as ``serve`` does.
    """
    from featurestore import FeatureStore
    from featurestore.config import load_config
    from featurestore.server._serve import check_exposure

    given = isinstance(store_or_path, FeatureStore)
    config = (
        store_or_path.config
        if isinstance(store_or_path, FeatureStore)
        else load_config(Path(store_or_path).resolve())
    )
    check_exposure(config, host, allow_public_without_keys)  # before anything starts
    store = (
        store_or_path if isinstance(store_or_path, FeatureStore) else FeatureStore(config=config)
    )
    server = OfflineServer(store, f"grpc+tcp://{host}:{port}", ref)
    log.info("serving Feast's remote offline store protocol on %s:%s", host, server.port)
    try:
        server.serve()
    finally:
        server.shutdown()
        if not given:
            store.close()
