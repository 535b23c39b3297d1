"""``FeatureService``: a named set of features that a model uses."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from featurestore.definitions._checks import (
    FrozenDict,
    as_tuple,
    check_instances,
    check_name,
    check_tags,
    check_text,
)
from featurestore.definitions.feature_logging import LoggingConfig
from featurestore.definitions.feature_view import FeatureView, FeatureViewProjection
from featurestore.definitions.on_demand import OnDemandFeatureView
from featurestore.errors import DefinitionError

__all__ = ["FeatureService"]


@dataclass(frozen=True, init=False)
class FeatureService:
    """Features of views (whole views or ``view[[...]]`` projections) served together.

    That every referenced view and feature exists is checked when it is applied.
    With a ``logging_config``, a sample of its online lookups is logged into the
    repository's serving log (see ``featurestore.serving_log``) for ``store.explain``.
    ``precompute_online`` (Feast's) is kept too: lookups read each view's stored values
    in one round trip, so there is nothing to precompute.
    """

    name: str
    features: tuple[FeatureViewProjection, ...]
    description: str
    tags: FrozenDict[str, str]
    owner: str
    logging_config: LoggingConfig | None
    precompute_online: bool

    def __init__(
        self,
        *,
        name: str,
        features: Sequence[FeatureView | OnDemandFeatureView | FeatureViewProjection],
        description: str = "",
        tags: Mapping[str, str] | None = None,
        owner: str = "",
        logging_config: LoggingConfig | None = None,
        precompute_online: bool = False,
    ) -> None:
        check_name(name, "FeatureService name")
        what = f"FeatureService {name!r}"
        items = as_tuple(features, f"{what} features")
        if not items:
            raise DefinitionError(f"{what} has no features: list views or view[[...]] projections")
        check_instances(
            items, (FeatureView, OnDemandFeatureView, FeatureViewProjection), f"{what} features"
        )
        projections = tuple(
            i.projection if isinstance(i, FeatureView | OnDemandFeatureView) else i for i in items
        )
        refs = [r for p in projections for r in p.feature_refs]
        if len(set(refs)) != len(refs):
            dup = sorted({r for r in refs if refs.count(r) > 1})
            raise DefinitionError(f"{what} lists {', '.join(dup)} more than once; list each once")
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "features", projections)
        object.__setattr__(self, "description", check_text(description, f"{what} description"))
        object.__setattr__(self, "tags", check_tags(tags, f"{what} tags"))
        object.__setattr__(self, "owner", check_text(owner, f"{what} owner"))
        if logging_config is not None and not isinstance(logging_config, LoggingConfig):
            raise DefinitionError(
                f"{what}: logging_config must be a LoggingConfig, not {logging_config!r}"
            )
        object.__setattr__(self, "logging_config", logging_config)
        if not isinstance(precompute_online, bool):
            raise DefinitionError(
                f"{what}: precompute_online must be True or False, not {precompute_online!r}"
            )
        object.__setattr__(self, "precompute_online", precompute_online)

    @property
    def feature_refs(self) -> tuple[str, ...]:
        """``"view:feature"`` for every feature of the service, in order."""
        return tuple(r for p in self.features for r in p.feature_refs)
