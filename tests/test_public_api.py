"""Each package's public names are exactly its ``__all__``, and every name resolves."""

from __future__ import annotations

import importlib

import pytest

PACKAGES = ["featurestore", "repos", "offline", "online"]


@pytest.mark.parametrize("name", PACKAGES)
def test_all_is_sorted_unique_and_resolves(name: str) -> None:
    module = importlib.import_module(name)
    exported = list(module.__all__)
    assert len(exported) == len(set(exported)), "duplicate names in __all__"
    missing = [n for n in exported if not hasattr(module, n)]
    assert missing == []


@pytest.mark.parametrize("name", PACKAGES)
def test_no_public_name_outside_all(name: str) -> None:
    module = importlib.import_module(name)
    public = {
        n
        for n, v in vars(module).items()
        if not n.startswith("_") and not isinstance(v, type(importlib)) and n != "annotations"
    }
    assert public - set(module.__all__) == set()


def test_featurestore_errors_form_one_tree() -> None:
    import featurestore

    errors = [getattr(featurestore, n) for n in featurestore.__all__ if n.endswith("Error")]
    assert errors, "no errors exported"
    for err in errors:
        assert issubclass(err, featurestore.FeatureStoreError)
    assert issubclass(featurestore.NotFoundError, LookupError)
    assert issubclass(featurestore.ValidationError, ValueError)
