"""featurestore: a feature store with data versioning built in.

Define entities and feature views in Python, keep offline data as Parquet in a
lakeFS-style repository, build point-in-time correct training sets pinned to a
commit, and serve the same features online from Redis.
"""

from featurestore.config import StoreConfig, load_config
from featurestore.datasets import SavedDataset
from featurestore.definitions import (
    Aggregation,
    Entity,
    FeatureService,
    FeatureView,
    FeatureViewProjection,
    Field,
    OnDemandFeatureView,
    PushSource,
    RequestSource,
    TableSource,
    on_demand_feature_view,
)
from featurestore.errors import (
    BackendError,
    ConfigError,
    ConflictError,
    CorruptDataError,
    DefinitionError,
    FeatureStoreError,
    NotFoundError,
    RefusedError,
    SchemaError,
    UntrustedCodeError,
    ValidationError,
)
from featurestore.lookup import OnlineResponse
from featurestore.materialization import MaterializeResult
from featurestore.registry import Plan, Registry
from featurestore.retrieval import RetrievalJob
from featurestore.store import FeatureStore, ViewStatus
from featurestore.types import (
    Array,
    Bool,
    Bytes,
    Float32,
    Float64,
    Int32,
    Int64,
    String,
    UnixTimestamp,
)

__version__ = "0.1.0"

__all__ = [
    "Aggregation",
    "Array",
    "BackendError",
    "Bool",
    "Bytes",
    "ConfigError",
    "ConflictError",
    "CorruptDataError",
    "DefinitionError",
    "Entity",
    "FeatureService",
    "FeatureStore",
    "FeatureStoreError",
    "FeatureView",
    "FeatureViewProjection",
    "Field",
    "Float32",
    "Float64",
    "Int32",
    "Int64",
    "MaterializeResult",
    "NotFoundError",
    "OnDemandFeatureView",
    "OnlineResponse",
    "Plan",
    "PushSource",
    "RefusedError",
    "Registry",
    "RequestSource",
    "RetrievalJob",
    "SavedDataset",
    "SchemaError",
    "StoreConfig",
    "String",
    "TableSource",
    "UnixTimestamp",
    "UntrustedCodeError",
    "ValidationError",
    "ViewStatus",
    "__version__",
    "load_config",
    "on_demand_feature_view",
]
