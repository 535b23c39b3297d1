"""Models in featurestore.yaml: a bad entry fails when the app is made, naming it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from featurestore import FeatureStore
from featurestore.errors import ConfigError
from featurestore.server import create_app

M = "tests.scoring.models"


def _store(root: Path, models: dict[str, Any]) -> FeatureStore:
    root.mkdir(exist_ok=True)
    config = {"project": "p", "storage": "data", "models": models}
    (root / "featurestore.yaml").write_text(yaml.safe_dump(config))
    return FeatureStore(root)


@pytest.mark.parametrize(
    ("models", "says"),
    [
        ({"a": {"path": "missing.pt", "service": "s"}}, "no model file"),
        ({"a": {"path": "junk.pt", "service": "s"}}, "is not a TorchScript file"),
        ({"a": {"entry_point": "no_such_module_x:f", "service": "s"}}, "cannot import"),
        ({"a": {"entry_point": f"{M}:nothing", "service": "s"}}, "has no 'nothing'"),
        ({"a": {"entry_point": f"{M}:WEIGHTS", "service": "s"}}, "not a torch.nn.Module"),
        ({"a": {"entry_point": f"{M}:linear", "service": "s", "fallback": "b"}}, "not another"),
        (
            {
                "a": {"entry_point": f"{M}:linear", "service": "s", "fallback": "b"},
                "b": {"entry_point": f"{M}:linear", "service": "t"},
            },
            "a fallback takes the same features",
        ),
    ],
)
def test_a_bad_model_fails_the_app(tmp_path: Path, models: dict[str, Any], says: str) -> None:
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "junk.pt").write_bytes(b"not a model")
    store = _store(tmp_path / "p", models)
    try:
        with pytest.raises(ConfigError, match=says):
            create_app(store)
    finally:
        store.close()


@pytest.mark.parametrize(
    "model",
    [{"service": "s"}, {"service": "s", "path": "a.pt", "entry_point": "m:f"},
     {"service": "s", "entry_point": "not an entry point"}],
)  # fmt: skip
def test_a_model_names_one_source(tmp_path: Path, model: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match=r"models\.a"):
        _store(tmp_path, {"a": model})
