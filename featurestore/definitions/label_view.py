"""``LabelView``: a feature view of labels (Feast's), and how conflicting labels resolve."""

from __future__ import annotations

import contextlib
import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta

from featurestore.definitions._checks import check_name
from featurestore.definitions.aggregation import Aggregation
from featurestore.definitions.entity import Entity
from featurestore.definitions.feature_view import FeatureView
from featurestore.definitions.field import Field
from featurestore.definitions.sources import PushSource, TableSource
from featurestore.errors import DefinitionError

__all__ = ["ConflictPolicy", "LabelView"]


class ConflictPolicy(enum.Enum):
    """How labels written for one entity by several labelers resolve (Feast's enum)."""

    LAST_WRITE_WINS = "last_write_wins"
    LABELER_PRIORITY = "labeler_priority"
    MAJORITY_VOTE = "majority_vote"


@dataclass(frozen=True, init=False)
class LabelView(FeatureView):
    """Labels of entities, written by labelers (a ``FeatureView`` with Feast's label fields).

    Labels are read like features: the latest write (by event time, then created time)
    wins, which is ``ConflictPolicy.LAST_WRITE_WINS``, the only policy supported.
    ``labeler_field`` names the column saying who wrote a label; ``reference_feature_view``
    is informational, as in Feast.
    """

    labeler_field: str
    conflict_policy: ConflictPolicy
    reference_feature_view: str | None

    def __init__(
        self,
        *,
        name: str,
        source: TableSource | PushSource,
        entities: Sequence[Entity] = (),
        schema: Sequence[Field] = (),
        ttl: timedelta | None = None,
        online: bool = True,
        aggregations: Sequence[Aggregation] = (),
        tags: Mapping[str, str] | None = None,
        description: str = "",
        owner: str = "",
        offline: bool = False,
        org: str = "",
        enable_validation: bool = False,
        version: str = "latest",
        labeler_field: str = "labeler",
        conflict_policy: ConflictPolicy = ConflictPolicy.LAST_WRITE_WINS,
        reference_feature_view: str | None = None,
        enabled: bool = True,
    ) -> None:
        super().__init__(
            name=name,
            source=source,
            entities=entities,
            schema=schema,
            ttl=ttl,
            online=online,
            aggregations=aggregations,
            tags=tags,
            description=description,
            owner=owner,
            offline=offline,
            org=org,
            enable_validation=enable_validation,
            version=version,
            enabled=enabled,
        )
        what = f"LabelView {name!r}"
        check_name(labeler_field, f"{what} labeler_field")
        if isinstance(conflict_policy, str):
            with contextlib.suppress(ValueError):
                conflict_policy = ConflictPolicy(conflict_policy)
        if conflict_policy is not ConflictPolicy.LAST_WRITE_WINS:
            raise DefinitionError(
                f"{what}: conflict_policy {conflict_policy!r} is not supported; labels resolve "
                "as ConflictPolicy.LAST_WRITE_WINS (the latest write wins), use that"
            )
        if reference_feature_view is not None:
            check_name(reference_feature_view, f"{what} reference_feature_view")
        object.__setattr__(self, "labeler_field", labeler_field)
        object.__setattr__(self, "conflict_policy", conflict_policy)
        object.__setattr__(self, "reference_feature_view", reference_feature_view)
