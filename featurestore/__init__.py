"""featurestore: a feature store with data versioning built in.

Define entities and feature views in Python, keep offline data as Parquet in a
lakeFS-style repository, build point-in-time correct training sets pinned to a
commit, and serve the same features online from Redis.
"""

from featurestore.config import StoreConfig, load_config
from featurestore.datasets import SavedDataset
from featurestore.definition_merge import DefinitionConflict
from featurestore.definitions import (
    Aggregation,
    ConflictPolicy,
    Entity,
    FeatureService,
    FeatureView,
    FeatureViewProjection,
    Field,
    FileLoggingDestination,
    FileSource,
    LabelView,
    LoggingConfig,
    OnDemandFeatureView,
    Project,
    PushMode,
    PushSource,
    RepositoryLoggingDestination,
    RequestSource,
    TableSource,
    on_demand_feature_view,
)
from featurestore.erasure import ErasureRecord
from featurestore.errors import (
    BackendError,
    ConfigError,
    ConflictError,
    CorruptDataError,
    DefinitionError,
    FeatureStoreError,
    MergeConflictError,
    NotFoundError,
    RefusedError,
    SchemaError,
    UntrustedCodeError,
    ValidationError,
)
from featurestore.explain import Explanation
from featurestore.lineage import Lineage
from featurestore.lookup import OnlineResponse
from featurestore.materialization import MaterializeResult
from featurestore.merging import TableConflict
from featurestore.progress import Progress
from featurestore.registry import Plan, Registry
from featurestore.retrieval import RetrievalJob
from featurestore.store import FeatureStore, ViewStatus
from featurestore.table_diff import StoreDiff, TableDiff
from featurestore.types import (
    Array,
    Bool,
    Bytes,
    Float32,
    Float64,
    Int32,
    Int64,
    Json,
    Map,
    String,
    Struct,
    UnixTimestamp,
    ValueType,
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
    "ConflictPolicy",
    "CorruptDataError",
    "DefinitionConflict",
    "DefinitionError",
    "Entity",
    "ErasureRecord",
    "Explanation",
    "FeatureService",
    "FeatureStore",
    "FeatureStoreError",
    "FeatureView",
    "FeatureViewProjection",
    "Field",
    "FileLoggingDestination",
    "FileSource",
    "Float32",
    "Float64",
    "Int32",
    "Int64",
    "Json",
    "LabelView",
    "Lineage",
    "LoggingConfig",
    "Map",
    "MaterializeResult",
    "MergeConflictError",
    "NotFoundError",
    "OnDemandFeatureView",
    "OnlineResponse",
    "Plan",
    "Progress",
    "Project",
    "PushMode",
    "PushSource",
    "RefusedError",
    "Registry",
    "RepositoryLoggingDestination",
    "RequestSource",
    "RetrievalJob",
    "SavedDataset",
    "SchemaError",
    "StoreConfig",
    "StoreDiff",
    "String",
    "Struct",
    "TableConflict",
    "TableDiff",
    "TableSource",
    "UnixTimestamp",
    "UntrustedCodeError",
    "ValidationError",
    "ValueType",
    "ViewStatus",
    "__version__",
    "load_config",
    "on_demand_feature_view",
]
