"""A tiny torch MLP that scores fraud_service's features, trained for a few steps on
the project's sample transactions and saved as an exported program (``fraud_mlp.pt2``).

Needs PyTorch (``pip install 'featurestore[gpu]'``). The name starts with ``_`` so that
loading the project's definitions never imports it (nor torch). Train, save and register
it as the model ``fraud`` of POST /score/fraud_service:

    python _mlp.py PROJECT            # e.g. cards, a project from the fraud template

It reads the training set of ``PROJECT/entities.parquet`` (fraud_service's features and
the label ``transaction_labels:is_fraud``) at the project's default branch.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import torch

SERVICE = "fraud_service"
FILE = "fraud_mlp.pt2"


class FraudMLP(torch.nn.Module):
    """features -> 16 -> 1, a fraud probability per row; nulls (NaN) count as 0 and
    large counts and sums are log-scaled first."""

    def __init__(self, features: int = 8) -> None:
        super().__init__()
        self.layers = torch.nn.Sequential(
            torch.nn.Linear(features, 16), torch.nn.ReLU(), torch.nn.Linear(16, 1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.log1p(torch.clamp(torch.nan_to_num(x), min=0.0))
        return torch.sigmoid(self.layers(x)).squeeze(-1)


def training_set(store: Any, entities: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """fraud_service's features and the is_fraud labels of ``entities``, as tensors."""
    features = store.score(lambda x: x[:, 0], entities, SERVICE).features
    labels = store.get_historical_features(entities, ["transaction_labels:is_fraud"]).to_arrow()
    y = torch.tensor(labels.column("is_fraud").to_pylist(), dtype=torch.float32)
    return features, y


def train(features: torch.Tensor, labels: torch.Tensor, steps: int = 200) -> FraudMLP:
    """A few steps of Adam on binary cross-entropy (seeded: the same data, the same model)."""
    torch.manual_seed(0)
    model = FraudMLP(features.shape[1])
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(steps):
        optimizer.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy(model(features), labels)
        torch.autograd.backward(loss)  # Tensor.backward has no type hints
        optimizer.step()
    return model.eval()


def save(model: FraudMLP, path: Path, features: int = 8) -> Path:
    """``model`` as an exported program, for any number of rows."""
    rows = torch.export.Dim("rows", min=1)
    program = torch.export.export(
        model, (torch.zeros(2, features),), dynamic_shapes={"x": {0: rows}}
    )
    torch.export.save(program, str(path))
    return path


def register(project: Path) -> None:
    """Add the model ``fraud`` (``fraud_mlp.pt2``) to the project's featurestore.yaml."""
    import yaml

    config_file = project / "featurestore.yaml"
    config = yaml.safe_load(config_file.read_text()) or {}
    config.setdefault("models", {})["fraud"] = {"path": FILE, "service": SERVICE}
    config_file.write_text(yaml.safe_dump(config, sort_keys=False))


def main(project: Path) -> None:
    import pandas as pd

    from featurestore import FeatureStore

    with FeatureStore(project) as store:
        features, labels = training_set(store, pd.read_parquet(project / "entities.parquet"))
    model = train(features, labels)
    save(model, project / FILE, features.shape[1])
    register(project)
    with torch.no_grad():
        fraud = model(features)[labels == 1].mean().item()
        ok = model(features)[labels == 0].mean().item()
    print(f"saved {project / FILE}: mean score {fraud:.2f} on fraud, {ok:.2f} on the rest")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "."))
