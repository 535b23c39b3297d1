"""What people read: tables at 80 columns (short ids, no word split), progress bars with
totals, what an interrupted materialization kept, and notebook reprs of commits, logs,
diffs and plans."""

from __future__ import annotations

import dataclasses
import io
import re
from datetime import timedelta

from rich.console import Console

from featurestore import FeatureStore, FeatureView
from featurestore.cli.interrupts import kept_online
from featurestore.cli.render import RowBars
from featurestore.project import load_definitions
from featurestore.registry import plan
from repos import ChangeList, CommitLog
from tests.cli.conftest import Run

NAMES = ("driver_hourly_stats", "conv_rate_plus_val", "driver_stats_push_source", "avg_daily_trips")


def _fits(out: str, *words: str) -> None:
    """Every line fits 80 columns and every word shows whole on one line (code, as in a
    source diff, prints as written)."""
    assert out.strip()
    tables = out.split("\nCode of ")[0]
    assert max(len(line) for line in tables.splitlines()) <= 80, out
    for word in words:
        assert re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", out), (word, out)


def test_tables_fit_80_columns_without_splitting_words(fs: Run, applied: FeatureStore) -> None:
    main = applied.repository.branch("main")
    main.upload_many({"notes/a-rather-long-file-name-for-a-note.txt": b"1"})
    main.commit("a commit message long enough to need wrapping at eighty columns wide")
    head, first = main.resolve(), applied.repository.ref("main~2").resolve()

    log = fs("log").stdout
    _fits(log, head[:12], first[:12], "wrapping")
    assert head not in log  # short ids only
    _fits(fs("branch", "list").stdout, "main", head[:12])
    _fits(fs("list", "views").stdout, *NAMES[:2], "avg_daily_trips")
    _fits(fs("list", "sources").stdout, "driver_stats_push_source", "driver_stats")
    _fits(fs("list", "services").stdout, "driver_activity", "conv_rate_plus_val")
    diff = fs("diff", first, "main").stdout
    _fits(diff, "tables/driver_stats/_schema", "notes/a-rather-long-file-name-for-a-note.txt")
    _fits(
        fs("show", "commit", "main").stdout,
        head,  # in full: this is where to copy it from
        "notes/a-rather-long-file-name-for-a-note.txt",
    )
    _fits(fs("ls", "main").stdout, "_featurestore/registry.json")

    definitions = fs.project / "definitions.py"
    definitions.write_text(
        definitions.read_text().replace("ttl=timedelta(days=1)", "ttl=timedelta(days=3)")
    )
    _fits(fs("plan").stdout, "driver_hourly_stats", "ttl:", "1d", "3d")


def test_row_bars_show_each_step_with_its_total() -> None:
    buffer = io.StringIO()
    output = Console(file=buffer, force_terminal=True, width=100, color_system=None)
    bars = RowBars("reading the rows", output=output)
    with bars:
        bars("materialize a", 0, 1200)
        bars("materialize a", 1200, 1200)
        bars("materialize b", 0, None)
        bars("materialize b", 40, 300)
    shown = buffer.getvalue()
    assert "materialize a" in shown and "1200/1200" in shown and "rows" in shown
    assert "40/300" in shown
    assert bars.started == ["materialize a", "materialize b"]
    assert bars.finished == ["materialize a"]
    said = kept_online(bars)
    assert "views materialized: a;" in said and "b was stopped part way" in said
    assert "run the same command again" in said
    nothing = RowBars(output=output)
    assert "no view finished" in kept_online(nothing)


def test_commit_log_and_changes_show_themselves(store: FeatureStore) -> None:
    main = store.repository.branch("main")
    main.upload_many({"a.txt": b"12", "b.txt": b"3"})
    staged = main.uncommitted()
    assert isinstance(staged, ChangeList)
    assert repr(staged) == "<ChangeList:\n  added    a.txt (2)\n  added    b.txt (1)\n>"
    assert [c.path for c in staged] == ["a.txt", "b.txt"]  # the repr used nothing up
    c = main.commit("two files", metadata={"k": "v"})
    assert repr(c) == (
        f"<Commit {c.id[:12]} 'two files' by {c.author} at "
        f"{c.creation_date.strftime('%Y-%m-%d %H:%M:%S UTC')}>"
    )
    html = c._repr_html_()
    assert c.id in html and "two files" in html and "meta k" in html
    log = main.log()
    assert isinstance(log, CommitLog)
    text = repr(log)
    assert text.splitlines()[1].startswith(f"  {c.id[:12]} ") and "two files" in text
    assert "Repository created" in text and c.id not in text
    assert "<code>" in log._repr_html_()
    assert [x.id for x in log] == [x.id for x in main.log()]
    assert repr(log) == "<CommitLog: no commits>"  # iterated to the end
    diff = store.repository.ref("main~1").diff("main")
    assert "a.txt" in repr(diff) and "<td>added</td>" in diff._repr_html_()
    assert next(main.log(max_amount=1)).id == c.id  # still an iterator


def test_plans_show_old_and_new_values(store: FeatureStore) -> None:
    objects = load_definitions(store.config.project_dir)
    before = plan(None, objects)
    view = next(o for o in objects if getattr(o, "name", "") == "driver_hourly_stats")
    assert isinstance(view, FeatureView)
    new_view = dataclasses.replace(view, ttl=timedelta(hours=6), description="six hours")
    after = plan(before.new, [new_view if o is view else o for o in objects])
    [entry] = after.changed
    assert [str(f) for f in entry.fields] == ['description: "" -> six hours', "ttl: 1d -> 6h"]
    assert repr(after).startswith("<Plan: 0 to add, 1 to change, 0 to remove>")
    assert "ttl: 1d -> 6h" in repr(after) and "ttl: 1d -&gt; 6h" in after._repr_html_()
    assert "ttl: 1d -> 6h" in repr(entry)
    assert repr(plan(before.new, objects)) == "<Plan: 0 to add, 0 to change, 0 to remove>"
    assert "No changes" in plan(before.new, objects)._repr_html_()
    assert "fields" not in after.to_json(values=False)["entries"][0]  # what a server sends
    assert after.to_json()["entries"][0]["fields"][-1] == {
        "path": "ttl", "kind": "changed", "old": "1d", "new": "6h",
    }  # fmt: skip


def test_changed_values_read_plainly() -> None:
    from featurestore.plans import FieldChange

    assert str(FieldChange("description", "", "new")) == 'description: "" -> new'
    assert str(FieldChange("owner", None, "me", "added")) == "owner: (none) -> me"
    assert FieldChange("owner", None, "me", "added").label == "+owner"
    long = str(FieldChange("tags", {"k": "v" * 100}, {}))
    assert long.endswith("... -> {}") and len(long) < 90
    assert str(FieldChange("udf_source", "a", "b")) == "udf_source: code changed (see its diff)"
