"""The online store: latest feature rows per entity key in Redis, and an embedded server.

Speaks tables, keys, timestamps and Arrow; knows nothing of feature views.
"""

from online.cluster_store import RedisClusterOnlineStore
from online.embedded import EmbeddedRedis
from online.errors import (
    CommandError,
    ConnectionFailedError,
    DecodeError,
    EmbeddedServerError,
    InvalidInputError,
    OnlineError,
    UnsupportedTypeError,
)
from online.keys import encode_entity_key, encode_entity_keys
from online.redis_store import PreparedRead, RedisOnlineStore
from online.store import (
    COMMIT_COLUMN,
    EVENT_TS_COLUMN,
    ColumnReader,
    OnlineStore,
    ReadRequest,
    WriteResult,
)
from online.tiles import AggSpec, PendingRead, SeriesSpec, TileStore, column_kind, tile_size

__all__ = [
    "COMMIT_COLUMN",
    "EVENT_TS_COLUMN",
    "AggSpec",
    "ColumnReader",
    "CommandError",
    "ConnectionFailedError",
    "DecodeError",
    "EmbeddedRedis",
    "EmbeddedServerError",
    "InvalidInputError",
    "OnlineError",
    "OnlineStore",
    "PendingRead",
    "PreparedRead",
    "ReadRequest",
    "RedisClusterOnlineStore",
    "RedisOnlineStore",
    "SeriesSpec",
    "TileStore",
    "UnsupportedTypeError",
    "WriteResult",
    "column_kind",
    "encode_entity_key",
    "encode_entity_keys",
    "tile_size",
]
