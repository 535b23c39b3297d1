"""The registry is stored in a real repository and read back at any ref."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest
from definitions_sample import ALL, stats
from pandas.testing import assert_frame_equal

import repos
from featurestore.definitions import FeatureView
from featurestore.errors import NotFoundError
from featurestore.registry import REGISTRY_PATH, Registry, load_registry, plan, stage_registry


def test_store_commit_and_time_travel(tmp_path: Path) -> None:
    repo = repos.Repository.create(tmp_path / "data")
    try:
        main = repo.branch("main")
        assert load_registry(main).is_empty
        v1 = Registry(ALL)
        assert stage_registry(main, v1)
        assert [c.path for c in main.uncommitted()] == [REGISTRY_PATH]
        main.object("tables/driver_stats/part-0.parquet").upload(b"data v1")
        first = main.commit("definitions and data v1")
        repo.tag("v1").create(first.id)
        assert not stage_registry(main, v1)
        assert list(main.uncommitted()) == []

        longer = FeatureView(
            name=stats.name,
            entities=stats.entities,
            schema=stats.schema,
            source=stats.source,
            ttl=timedelta(days=7),
            tags=stats.tags,
        )
        v2 = plan(load_registry(main), [longer if o is stats else o for o in ALL]).registry
        stage_registry(main, v2)
        main.commit("longer ttl")

        assert load_registry(main) == v2
        assert load_registry(main).get_feature_view(stats.name).ttl == timedelta(days=7)
        at_tag = load_registry(repo.tag("v1"))
        assert at_tag == v1 and at_tag.hash == v1.hash
        assert load_registry(repo.ref(first.id)) == v1
        assert load_registry(repo.ref("main~1")).get_feature_view(stats.name).ttl == timedelta(
            days=1
        )
        odfv = at_tag.get_on_demand_feature_view("conv_plus_val")
        frame = pd.DataFrame({"conv_rate": [0.5], "val_to_add": [2]})
        assert_frame_equal(
            odfv.transform(frame), v1.get_on_demand_feature_view("conv_plus_val").transform(frame)
        )
    finally:
        repo.close()


def test_branches_carry_their_own_definitions(tmp_path: Path) -> None:
    repo = repos.Repository.create(tmp_path / "data")
    try:
        main = repo.branch("main")
        stage_registry(main, Registry(ALL))
        main.commit("v1")
        dev = repo.branch("dev").create("main")
        stage_registry(dev, Registry([stats]))
        assert len(load_registry(dev).feature_views) == 1
        assert len(load_registry(main).feature_views) == 2
    finally:
        repo.close()


def test_unknown_ref_is_not_found(tmp_path: Path) -> None:
    repo = repos.Repository.create(tmp_path / "data")
    try:
        with pytest.raises(NotFoundError, match="cannot read definitions at ref 'nope'"):
            load_registry(repo.ref("nope"))
    finally:
        repo.close()
