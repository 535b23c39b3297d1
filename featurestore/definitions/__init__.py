"""Feature definitions with Feast's names: entities, sources, views, services."""

from featurestore.definitions.aggregation import AGGREGATION_FUNCTIONS, Aggregation
from featurestore.definitions.durations import format_duration, parse_duration
from featurestore.definitions.entity import Entity
from featurestore.definitions.feature_service import FeatureService
from featurestore.definitions.feature_view import FeatureView, FeatureViewProjection
from featurestore.definitions.field import Field
from featurestore.definitions.on_demand import OnDemandFeatureView, on_demand_feature_view
from featurestore.definitions.refs import parse_feature_refs
from featurestore.definitions.sources import DataSource, PushSource, RequestSource, TableSource

__all__ = [
    "AGGREGATION_FUNCTIONS",
    "Aggregation",
    "DataSource",
    "Entity",
    "FeatureService",
    "FeatureView",
    "FeatureViewProjection",
    "Field",
    "OnDemandFeatureView",
    "PushSource",
    "RequestSource",
    "TableSource",
    "format_duration",
    "on_demand_feature_view",
    "parse_duration",
    "parse_feature_refs",
]
