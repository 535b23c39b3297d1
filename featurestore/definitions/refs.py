"""Feature references: ``"view:feature"`` strings or a ``FeatureService``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from featurestore.definitions._checks import close_matches
from featurestore.definitions.feature_service import FeatureService
from featurestore.errors import NotFoundError, ValidationError

if TYPE_CHECKING:
    from featurestore.registry import Registry

__all__ = ["parse_feature_refs"]


def parse_feature_refs(
    refs: Sequence[str] | FeatureService, registry: Registry
) -> list[tuple[str, str]]:
    """``(view_name, feature_name)`` for each ref, in order, checked against ``registry``.

    A ref is ``"view:feature"`` or ``"view:*"`` (every feature of the view). Unknown
    views or features raise NotFoundError naming close matches.
    """
    if isinstance(refs, FeatureService):
        service = registry.feature_services_by_name.get(refs.name)
        items: Sequence[str] = refs.feature_refs if service is None else service.feature_refs
    elif isinstance(refs, str):
        raise ValidationError(
            f"features must be a list of 'view:feature' refs or a FeatureService, not the "
            f"string {refs!r}; wrap it in a list"
        )
    else:
        items = refs
    views = registry.views_by_name
    out: list[tuple[str, str]] = []
    for ref in items:
        if not isinstance(ref, str) or ref.count(":") != 1:
            raise ValidationError(f"feature ref {ref!r} must look like 'view:feature'")
        view_name, feature = ref.split(":")
        view = views.get(view_name)
        if view is None:
            raise NotFoundError(
                f"feature ref {ref!r}: no feature view {view_name!r} is applied"
                f"{close_matches(view_name, views)}"
            )
        names = view.feature_names
        if feature == "*":
            out.extend((view_name, n) for n in names)
            continue
        if feature not in names:
            all_refs = [f"{v}:{n}" for v, obj in views.items() for n in obj.feature_names]
            hint = close_matches(feature, names) or close_matches(ref, all_refs)
            raise NotFoundError(
                f"feature ref {ref!r}: view {view_name!r} has no feature {feature!r}{hint}"
            )
        out.append((view_name, feature))
    return out
