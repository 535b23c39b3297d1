"""One typed, immutable configuration, read from ``featurestore.yaml``.

A folder with Feast's ``feature_store.yaml`` and no ``featurestore.yaml`` is read
through ``featurestore.feast_config`` (which says how each Feast setting maps).

Environment overrides (applied after the file): ``FEATURESTORE_STORAGE``,
``FEATURESTORE_METADATA_URL``, ``REDIS_URL`` (the online store's URL) and
``FEATURESTORE_API_KEYS`` (``key:role,key:role``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

CONFIG_FILE = "featurestore.yaml"

__all__ = [
    "CONFIG_FILE",
    "ApiKey",
    "DuckDBOfflineConfig",
    "GpuOfflineConfig",
    "ModelConfig",
    "OfflineConfig",
    "RedisClusterOnlineConfig",
    "RedisOnlineConfig",
    "ServerConfig",
    "ServingLogConfig",
    "SparkOfflineConfig",
    "StorageOptions",
    "StoreConfig",
    "load_config",
]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _usable_prefix(value: str | None) -> str | None:
    """A prefix without '@', which starts a branch's namespace (``{prefix}@{branch}``)."""
    if value is not None and "@" in value:
        raise ValueError(
            "key_prefix may not hold '@': it separates a branch's online namespace "
            "({key_prefix}@{branch}); choose a prefix without it"
        )
    return value


class RedisOnlineConfig(_Frozen):
    """The Redis online store; with no ``url`` an embedded server is started."""

    type: Literal["redis"] = "redis"
    url: str | None = None
    key_prefix: str | None = None
    socket_timeout_s: float = 5.0
    max_connections: int = 64

    _usable_prefix = field_validator("key_prefix")(_usable_prefix)


class RedisClusterOnlineConfig(_Frozen):
    """The Redis / Valkey Cluster online store: ``url`` names any node (``startup_nodes``:
    more of them, ``redis://host:port``, tried in turn); the cluster tells the rest.

    A write returns once ``replica_acks`` live replicas of each primary it touched hold
    it (``WAIT``; 0: the primary alone); commands are retried for up to
    ``failover_timeout_s`` while the cluster fails a primary over.
    """

    type: Literal["redis_cluster"]
    url: str
    startup_nodes: tuple[str, ...] = ()
    key_prefix: str | None = None
    socket_timeout_s: float = 5.0
    max_connections: int = 64
    replica_acks: int = Field(default=1, ge=0)
    replica_ack_timeout_s: float = Field(default=2.0, gt=0)
    failover_timeout_s: float = Field(default=20.0, ge=0)

    @field_validator("url", "startup_nodes")
    @classmethod
    def _cluster_urls(cls, value: str | tuple[str, ...]) -> str | tuple[str, ...]:
        """Cluster nodes are TCP addresses: a unix socket cannot be a cluster node."""
        for url in (value,) if isinstance(value, str) else value:
            if not url.startswith(("redis://", "rediss://")):
                raise ValueError(
                    f"{url!r} is not a redis:// or rediss:// address; a Redis Cluster's nodes "
                    "are reached over TCP (host:port). For one server on a unix socket use "
                    "type: redis"
                )
        return value

    @field_validator("key_prefix")
    @classmethod
    def _cluster_prefix(cls, value: str | None) -> str | None:
        """A prefix without '@' (see `RedisOnlineConfig`) and without braces, which mark a
        cluster key's hash tag."""
        if value is not None and ("{" in value or "}" in value):
            raise ValueError(
                "key_prefix may not hold '{' or '}' on Redis Cluster: the braces of a key "
                "are its entity's hash tag; choose a prefix without them"
            )
        return _usable_prefix(value)


def _online_kind(value: Any) -> str:
    """Which online store a setting describes: its ``type``, ``redis`` by default."""
    if isinstance(value, Mapping):
        return str(value.get("type", "redis"))
    return str(getattr(value, "type", "redis"))


OnlineConfig = Annotated[
    Annotated[RedisOnlineConfig, Tag("redis")]
    | Annotated[RedisClusterOnlineConfig, Tag("redis_cluster")],
    Discriminator(_online_kind),
]
"""``online_store``: ``type: redis`` (the default) or ``type: redis_cluster``."""


class DuckDBOfflineConfig(_Frozen):
    """The DuckDB engine that reads offline tables at any ref."""

    type: Literal["duckdb"] = "duckdb"
    threads: int | None = None
    memory_limit: str | None = None


class SparkOfflineConfig(_Frozen):
    """The Spark engine (``pip install 'featurestore[spark]'``, Java 17): retrieval,
    materialization's scans and compaction run on the cluster at ``master``."""

    type: Literal["spark"]
    master: str = "local[*]"
    app_name: str = "featurestore"
    shuffle_partitions: int | None = Field(default=None, ge=1)
    join: Literal["bucketed", "range"] = "bucketed"
    conf: dict[str, str] = Field(default_factory=dict)
    """Extra Spark settings (``spark.executor.memory: 4g``), passed to the session."""


class GpuOfflineConfig(_Frozen):
    """The array engine: point-in-time joins and windowed aggregates on CuPy
    (``device: cuda``, needs ``pip install cupy-cuda12x`` and an NVIDIA GPU) or on NumPy
    (``device: cpu``, the same code); its other reads run on DuckDB."""

    type: Literal["gpu"]
    device: Literal["cuda", "cpu"] = "cuda"
    fallback: Literal["cpu", "error"] = "error"
    """What ``device: cuda`` does without CuPy or a GPU: ``error`` refuses, ``cpu`` runs on NumPy."""
    threads: int | None = None
    memory_limit: str | None = None


def _offline_type(value: Any) -> str:
    """The offline store's type; a mapping without one is DuckDB (the default)."""
    if isinstance(value, Mapping):
        return str(value.get("type", "duckdb"))
    return str(getattr(value, "type", "duckdb"))


OfflineConfig = Annotated[
    Annotated[DuckDBOfflineConfig, Tag("duckdb")]
    | Annotated[SparkOfflineConfig, Tag("spark")]
    | Annotated[GpuOfflineConfig, Tag("gpu")],
    Discriminator(_offline_type),
]


class ApiKey(_Frozen):
    key: str = Field(min_length=8)
    role: Literal["reader", "writer", "admin"]


class ServerConfig(_Frozen):
    """The HTTP lookup service."""

    host: str = "127.0.0.1"
    port: int = 6566
    api_keys: tuple[ApiKey, ...] = ()
    max_entities_per_request: int = 1000
    max_body_bytes: int = 1_000_000
    request_timeout_s: float = 5.0
    body_timeout_s: float = Field(default=10.0, gt=0)
    header_timeout_s: float = Field(default=10.0, gt=0)
    allowed_origins: tuple[str, ...] = ()
    """Browser origins (``https://app.example``, or ``*``) allowed to send requests
    other than GET; every other request that carries an ``Origin`` is refused."""
    lookups_on_event_loop: bool = False
    """Answer ``/get-online-features`` on the event loop instead of in a worker thread:
    about half the CPU per lookup, but a Redis that stalls then stalls every request of
    that worker, ``/health`` included, for up to the online store's socket (or failover)
    timeout, and ``request_timeout_s`` no longer bounds lookups."""


class ModelConfig(_Frozen):
    """A model that ``POST /score/{service}`` runs (see ``featurestore.scoring``): a
    TorchScript file (``path``, relative to the project folder) or a Python object
    (``entry_point: "pkg.mod:name"``, a ``torch.nn.Module`` or a function of tensors).
    The operator who writes this file trusts the code it names: it runs unreviewed.

    Concurrent requests are batched into one call of at most ``max_batch`` rows, waiting
    at most ``max_wait_ms`` for more; a request the model has not answered within
    ``deadline_ms`` is answered by the model named ``fallback`` instead.
    """

    path: str | None = None
    entry_point: str | None = Field(default=None, pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
    service: str
    device: str = "cpu"
    max_batch: int = Field(default=64, ge=1)
    max_wait_ms: float = Field(default=2.0, ge=0)
    deadline_ms: float | None = Field(default=None, gt=0)
    fallback: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> ModelConfig:
        if (self.path is None) == (self.entry_point is None):
            raise ValueError(
                "give a model either `path` (a TorchScript file) or `entry_point` "
                "(\"pkg.module:name\"), not both or neither"
            )
        return self


class ServingLogConfig(_Frozen):
    """The serving log of feature services with a ``logging_config``.

    Lookups put their records on a queue of at most ``max_queue_rows`` rows (one row
    per entity and feature, plus 32 per lookup for its bookkeeping: about 100 bytes a
    row; a lookup that does not fit is dropped and counted, never waited for); a
    background thread commits the queue every ``flush_interval_s`` seconds or
    ``flush_rows`` rows, whichever comes first.
    """

    enabled: bool = True
    max_queue_rows: int = Field(default=100_000, ge=1)
    flush_interval_s: float = Field(default=10.0, gt=0)
    flush_rows: int = Field(default=10_000, ge=1)


class StorageOptions(_Frozen):
    """Credentials and endpoint of remote storage (``storage: s3://bucket/prefix``, any
    S3-compatible server); what is unset comes from the standard AWS variables
    (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_ENDPOINT_URL``, ...)."""

    endpoint_url: str | None = None
    key: str | None = None
    secret: str | None = Field(default=None, repr=False)
    region: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    """Further fsspec storage options, passed as they are."""

    def fsspec(self) -> dict[str, Any]:
        """The options for ``repos.Repository.open`` (``storage_options``)."""
        given = {"endpoint_url": self.endpoint_url, "key": self.key, "secret": self.secret}
        given["region"] = self.region
        return {**self.options, **{k: v for k, v in given.items() if v is not None}}


class StoreConfig(_Frozen):
    """Everything a ``FeatureStore`` needs, resolved against the project folder."""

    project: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    project_dir: Path = Path(".")
    storage: str = "data"
    storage_options: StorageOptions = StorageOptions()
    metadata_url: str | None = None
    default_branch: str = "main"
    online_store: OnlineConfig = RedisOnlineConfig()
    offline_store: OfflineConfig = DuckDBOfflineConfig()
    server: ServerConfig = ServerConfig()
    serving_log: ServingLogConfig = ServingLogConfig()
    models: dict[str, ModelConfig] = Field(default_factory=dict)
    """Models served by ``POST /score/{service}``, by name."""
    create_repository: bool = False
    """Create the repository on first use (as Feast does; set for ``feature_store.yaml``)."""

    @field_validator("offline_store")
    @classmethod
    def _engine_reads_storage(cls, v: OfflineConfig, info: ValidationInfo) -> OfflineConfig:
        storage = str(info.data.get("storage", ""))
        if v.type == "spark" and storage.startswith("memory://"):
            raise ValueError(
                f"type spark cannot read storage {storage}: a memory:// filesystem lives in "
                "this process only, and Spark's executors are other processes; use a local "
                "or shared folder, or object storage such as s3://"
            )
        return v

    @property
    def storage_location(self) -> str:
        """The storage as an absolute local path or an fsspec URL."""
        if "://" in self.storage:
            return self.storage
        path = Path(self.storage)
        return str(path if path.is_absolute() else (self.project_dir / path).resolve())


def _env_overrides(env: Mapping[str, str]) -> dict[str, object]:
    out: dict[str, object] = {}
    if env.get("FEATURESTORE_STORAGE"):
        out["storage"] = env["FEATURESTORE_STORAGE"]
    if env.get("FEATURESTORE_METADATA_URL"):
        out["metadata_url"] = env["FEATURESTORE_METADATA_URL"]
    return out


# Settings the environment sets: the path of the setting, and the variable.
_ENV_SETTINGS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("storage",), "FEATURESTORE_STORAGE"),
    (("metadata_url",), "FEATURESTORE_METADATA_URL"),
    (("online_store", "url"), "REDIS_URL"),
    (("server", "api_keys"), "FEATURESTORE_API_KEYS"),
)


def _invalid_settings(
    path: Path, error: ValidationError, env: Mapping[str, str], raw: Mapping[str, Any]
) -> str:
    """One line naming each invalid setting and where it came from: the file, or the
    environment variable that set it."""
    said = []
    for err in error.errors():
        loc = tuple(str(part) for part in err["loc"])
        if loc[:1] == ("online_store",) and loc[1:2] in (("redis",), ("redis_cluster",)):
            loc = loc[:1] + loc[2:]  # the online store's kind, not a setting
        where = f"{path}: {'.'.join(loc)}"
        secret = "api_keys" in loc
        for prefix, var in _ENV_SETTINGS:
            value: Any = raw
            for part in prefix:
                value = value.get(part) if isinstance(value, Mapping) else None
            set_here = var != "REDIS_URL" or value == env.get(var)
            if loc[: len(prefix)] == prefix and env.get(var) and value is not None and set_here:
                where = f"the environment variable {var} ({'.'.join(loc)})"
        message = str(err["msg"])
        if err["type"] == "extra_forbidden":
            message = "unknown setting (remove it, or check its spelling)"
        elif not secret and "input" in err and not isinstance(err["input"], dict | list):
            message += f" (got {err['input']!r})"
        said.append(f"{where}: {message}")
    return "invalid settings: " + "; ".join(said)


def load_config(
    project_dir: str | Path = ".",
    env: Mapping[str, str] | None = None,
    config_file: str | Path | None = None,
) -> StoreConfig:
    """Read ``featurestore.yaml`` in ``project_dir`` and apply environment overrides.

    ``config_file`` (Feast's ``fs_yaml_file``) names the file to read instead: a file
    named ``featurestore.yaml`` is read as this project's settings, any other as
    Feast's ``feature_store.yaml``; ``project_dir`` stays the project folder.
    """
    from featurestore.errors import ConfigError
    from featurestore.feast_config import FEAST_CONFIG_FILE, from_feast_config

    env = os.environ if env is None else env
    root = Path(project_dir).resolve()
    if config_file is not None:
        path = Path(config_file).resolve()
        if not path.is_file():
            raise ConfigError(f"the configuration file {path} does not exist; check the path")
        feast = path.name != CONFIG_FILE
    else:
        path = root / CONFIG_FILE
        feast = not path.is_file() and (root / FEAST_CONFIG_FILE).is_file()
        if feast:
            path = root / FEAST_CONFIG_FILE
        elif not path.is_file():
            raise ConfigError(
                f"no {CONFIG_FILE} in {root}: run `featurestore init {root}` to create one"
            )
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{path} is not valid YAML: {e}") from e
    if not isinstance(raw, dict):
        raise ConfigError(f"{path} must hold a mapping of settings, not {type(raw).__name__}")
    if feast:
        raw = from_feast_config(raw, path)
    raw = {**raw, **_env_overrides(env), "project_dir": root}
    online = dict(raw.get("online_store") or {})
    if env.get("REDIS_URL") and not online.get("url"):
        online["url"] = env["REDIS_URL"]
    raw["online_store"] = online
    server = dict(raw.get("server") or {})
    if env.get("FEATURESTORE_API_KEYS"):
        keys = []
        for item in env["FEATURESTORE_API_KEYS"].split(","):
            key, _, role = item.strip().rpartition(":")
            keys.append({"key": key, "role": role})
        server["api_keys"] = keys
    raw["server"] = server
    try:
        return StoreConfig.model_validate(raw)
    except ValidationError as e:
        raise ConfigError(_invalid_settings(path, e, env, raw)) from e
