"""Feature definitions with Feast's names: entities, sources, views, services."""

from featurestore.definitions.aggregation import AGGREGATION_FUNCTIONS, Aggregation
from featurestore.definitions.durations import format_duration, parse_duration
from featurestore.definitions.entity import Entity
from featurestore.definitions.feature_logging import (
    FileLoggingDestination,
    LoggingConfig,
    RepositoryLoggingDestination,
)
from featurestore.definitions.feature_service import FeatureService
from featurestore.definitions.feature_view import FeatureView, FeatureViewProjection
from featurestore.definitions.field import Field
from featurestore.definitions.label_view import ConflictPolicy, LabelView
from featurestore.definitions.on_demand import OnDemandFeatureView, on_demand_feature_view
from featurestore.definitions.project import Project
from featurestore.definitions.refs import parse_feature_refs
from featurestore.definitions.sources import (
    DataSource,
    FileSource,
    PushMode,
    PushSource,
    RequestSource,
    TableSource,
    apply_field_mapping,
)

__all__ = [
    "AGGREGATION_FUNCTIONS",
    "Aggregation",
    "ConflictPolicy",
    "DataSource",
    "Entity",
    "FeatureService",
    "FeatureView",
    "FeatureViewProjection",
    "Field",
    "FileLoggingDestination",
    "FileSource",
    "LabelView",
    "LoggingConfig",
    "OnDemandFeatureView",
    "Project",
    "PushMode",
    "PushSource",
    "RepositoryLoggingDestination",
    "RequestSource",
    "TableSource",
    "apply_field_mapping",
    "format_duration",
    "on_demand_feature_view",
    "parse_duration",
    "parse_feature_refs",
]
