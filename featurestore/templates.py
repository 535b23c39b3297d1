"""Project templates: ``featurestore init --template driver_stats|fraud PATH``.

Like ``feast init``, a template is a working project: the example's definitions,
``featurestore.yaml`` and README, and sample data generated to end now, so lookups
find values inside each view's ttl. The examples ship inside the package
(``featurestore/examples``), so an installed featurestore has them too.
"""

from __future__ import annotations

import importlib.util
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

import pyarrow as pa

from featurestore.boundary import translated
from featurestore.config import CONFIG_FILE, load_config
from featurestore.errors import ConfigError

__all__ = ["TEMPLATES", "Template", "create_from_template", "examples_dir", "next_steps"]


@dataclass(frozen=True)
class Template:
    """An example project: the files copied as they are and the data files generated."""

    name: str
    copied: tuple[str, ...]
    data_file: str
    """The sample rows of ``source``, generated to end at ``init`` time."""
    source: str
    entities_file: str = "entities.parquet"
    """Entity rows (with request data) for a training set over the sample rows."""


TEMPLATES: dict[str, Template] = {
    "driver_stats": Template(
        name="driver_stats",
        copied=("definitions.py", "README.md"),
        data_file="driver_stats.parquet",
        source="driver_stats",
    ),
    "fraud": Template(
        name="fraud",
        copied=("definitions.py", "model.py", "_mlp.py", "README.md"),
        data_file="transactions.parquet",
        source="transactions",
    ),
}


def examples_dir() -> Path:
    """The example projects shipped with the package (``featurestore/examples``)."""
    path = Path(__file__).resolve().parent / "examples"
    if not path.is_dir():
        raise ConfigError(
            f"the example projects are missing from this installation (looked in {path}); "
            "reinstall featurestore"
        )
    return path


def _generator(example: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        f"_featurestore_template_{example.name}", example / "generate.py"
    )
    if spec is None or spec.loader is None:
        raise ConfigError(f"cannot import {example / 'generate.py'}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _sample(template: Template, generator: ModuleType, end: datetime) -> tuple[pa.Table, pa.Table]:
    """Sample rows ending at ``end`` and entity rows over them."""
    if template.name == "driver_stats":
        # 20 drivers, 48 rows each over 7 days: every driver has rows within the 1-day ttl
        data: pa.Table = generator.generate(seed=0, drivers=20, days=7, rows_per_driver=48, end=end)
        entities: pa.Table = generator.entity_rows(data, fraction=0.05)
        values = pa.array(range(entities.num_rows), pa.int64())
        return data, entities.append_column("val_to_add", values)
    data = generator.generate(seed=0, cards=200, days=30, end=end)
    return data, generator.entity_rows(data, fraction=0.05)


def create_from_template(
    template: str, path: str | Path, *, project: str, end: datetime | None = None
) -> list[Path]:
    """Write the ``template`` project into ``path`` and create its empty repository; the
    files written.

    ``featurestore.yaml`` names ``project`` with storage ``data``; the sample data
    ends at ``end`` (default: now). Refuses, writing nothing, when a file it would
    write already exists.
    """
    import pyarrow.parquet as pq

    import repos

    chosen = TEMPLATES.get(template)
    if chosen is None:
        raise ConfigError(
            f"unknown template {template!r}: use one of {', '.join(sorted(TEMPLATES))}"
        )
    example = examples_dir() / chosen.name
    root = Path(path)
    targets = [*chosen.copied, CONFIG_FILE, chosen.data_file, chosen.entities_file]
    existing = [name for name in targets if (root / name).exists()]
    if existing:
        raise ConfigError(
            f"{root} already holds {', '.join(existing)}; "
            "use an empty folder for a template project"
        )
    end = (end or datetime.now(UTC)).replace(microsecond=0)
    data, entities = _sample(chosen, _generator(example), end)
    root.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for name in chosen.copied:
        written.append(Path(shutil.copy2(example / name, root / name)))
    config = root / CONFIG_FILE
    config.write_text(f"project: {project}\nstorage: data\n")
    written.append(config)
    for name, table in ((chosen.data_file, data), (chosen.entities_file, entities)):
        pq.write_table(table, root / name)
        written.append(root / name)
    cfg = load_config(root)
    with translated():
        repos.Repository.create(
            cfg.storage_location, cfg.metadata_url, default_branch=cfg.default_branch, exist_ok=True
        ).close()
    return written


def next_steps(template: str, path: str | Path) -> str:
    """The commands that load a new ``template`` project at ``path`` (as typed)."""
    import shlex

    chosen = TEMPLATES[template]
    where, data = shlex.quote(str(path)), shlex.quote(str(Path(path) / chosen.data_file))
    return (
        f"featurestore apply -r {where} && featurestore ingest {chosen.source} {data} "
        f"--commit -m 'sample data' -r {where}"
    )
