"""``featurestore demo``: the whole product on embedded defaults, one short step at a time.

A project from the ``driver_stats`` example (shipped in the package) in a work folder: data generated up to now,
committed and tagged, a training set pinned to the tag, a branch that adds a feature
view and fresh data, its diff and plan, a merge, materialization, lookups over HTTP
from a real server, and which commit the online store serves. Local storage, SQLite
metadata and the embedded Redis-protocol server only (``REDIS_URL`` is ignored), and
nothing is left running afterwards.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pyarrow as pa
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from featurestore.config import CONFIG_FILE, load_config
from featurestore.errors import BackendError, ConfigError
from featurestore.project import load_definitions
from featurestore.store import FeatureStore
from featurestore.templates import examples_dir

if TYPE_CHECKING:
    import uvicorn

    from repos import Change

__all__ = ["DemoResult", "examples_dir", "run"]

PROJECT = "driver_stats"
BRANCH = "driver-trends"
TAG = "v1"
FEATURES_V1 = "driver_activity"
FEATURES_V2 = "driver_activity_v2"
# Settings the environment could point elsewhere; the demo runs on embedded defaults.
_IGNORED_ENV = ("REDIS_URL", "FEATURESTORE_STORAGE", "FEATURESTORE_METADATA_URL",
                "FEATURESTORE_API_KEYS")  # fmt: skip

TRENDS_DEFINITIONS = '''"""Daily trends per driver: windowed aggregates over the hourly stats."""

from datetime import timedelta

from definitions import conv_rate_plus_val, driver, driver_hourly_stats, driver_stats_source

from featurestore import Aggregation, FeatureService, FeatureView, Field, Float32, Int64

driver_trends = FeatureView(
    name="driver_trends",
    entities=[driver],
    source=driver_stats_source,
    schema=[Field(name="conv_rate", dtype=Float32), Field(name="avg_daily_trips", dtype=Int64)],
    aggregations=[
        Aggregation(column="conv_rate", function="mean", time_window=timedelta(days=1)),
        Aggregation(column="avg_daily_trips", function="max", time_window=timedelta(days=1)),
    ],
    ttl=timedelta(days=1),
)

driver_activity_v2 = FeatureService(
    name="driver_activity_v2",
    features=[driver_hourly_stats, conv_rate_plus_val, driver_trends],
)
'''


@dataclass(frozen=True)
class DemoResult:
    """What the demo built: its project, the tagged and merged commits, what it served."""

    project_dir: Path
    tag_commit: str
    merge_commit: str
    served_commits: Mapping[str, str | None]
    lookups: Mapping[str, list[Any]]
    seconds: float


def _load_generator(example: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "_featurestore_demo_generate", example / "generate.py"
    )
    if spec is None or spec.loader is None:
        raise ConfigError(f"cannot import {example / 'generate.py'}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def valkey_children() -> list[int]:
    """Process ids of valkey-server processes that are children of this one (Linux)."""
    me = os.getpid()
    out = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        name = stat[stat.find("(") + 1 : stat.rfind(")")]
        fields = stat[stat.rfind(")") + 2 :].split()
        if fields and fields[0] != "Z" and int(fields[1]) == me and "valkey" in name:
            out.append(int(entry.name))
    return out


class _Story:
    """Numbered steps, each with a one-line account of what it shows."""

    def __init__(self, console: Console, total: int) -> None:
        self.console = console
        self.total = total
        self.step = 0

    def begin(self, title: str, account: str) -> None:
        self.step += 1
        self.console.print()
        self.console.rule(
            f"[bold cyan]Step {self.step}/{self.total}: {escape(title)}", align="left"
        )
        self.console.print(escape(account), highlight=False)

    def say(self, message: str) -> None:
        self.console.print(f"  [green]✓[/] {escape(message)}", highlight=False)


def _cell(value: Any) -> str:
    if value is None:
        return "[dim]null[/]"
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, float):
        return f"{value:.4f}"
    return escape(str(value))


def _rows_table(title: str, table: pa.Table, max_rows: int = 5) -> Table:
    out = Table(title=title, title_justify="left")
    for name in table.column_names:
        out.add_column(name)
    for row in table.slice(0, max_rows).to_pylist():
        out.add_row(*(_cell(v) for v in row.values()))
    out.caption = f"{min(max_rows, table.num_rows)} of {table.num_rows} rows"
    return out


def _changes_table(title: str, changes: list[Change]) -> Table:
    out = Table(title=title, title_justify="left")
    for column in ("change", "path", "bytes"):
        out.add_column(column)
    styles = {"added": "green", "removed": "red", "changed": "yellow"}
    for c in changes:
        out.add_row(f"[{styles.get(c.type, 'white')}]{c.type}[/]", c.path, str(c.size or ""))
    return out


@contextmanager
def _http_server(store: FeatureStore) -> Iterator[str]:
    """The lookup service over ``store`` on a free loopback port, in a thread; its URL."""
    import uvicorn

    from featurestore.server import create_app

    sock = _free_socket()
    port = sock.getsockname()[1]
    config = uvicorn.Config(create_app(store), log_level="warning", access_log=False, lifespan="on")
    server: uvicorn.Server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="featurestore-demo-http", daemon=True
    )
    thread.start()
    try:
        deadline = time.monotonic() + 15
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise BackendError("the demo's HTTP server did not start; see the log above")
            time.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()
        if thread.is_alive():
            raise BackendError("the demo's HTTP server did not stop within 15 s")


def _project(workdir: Path, example: Path) -> Path:
    project_dir = workdir / PROJECT
    if project_dir.exists() and any(project_dir.iterdir()):
        raise ConfigError(
            f"{project_dir} already exists and is not empty; pass an empty --workdir or remove it"
        )
    project_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy2(example / "definitions.py", project_dir / "definitions.py")
    shutil.copy2(example / CONFIG_FILE, project_dir / CONFIG_FILE)
    return project_dir


def run(
    workdir: str | Path | None = None, *, console: Console | None = None, serve: bool = False
) -> DemoResult:
    """Run the demo in ``workdir`` (kept), or in a temporary folder removed afterwards;
    ``serve``: then serve the project's web UI (read-only) until interrupted."""
    console = console or Console()
    if workdir is not None:
        folder = Path(workdir).resolve()
        folder.mkdir(parents=True, exist_ok=True)
        return _run(folder, console, serve, kept=True)
    with tempfile.TemporaryDirectory(prefix="featurestore-demo-") as tmp:
        return _run(Path(tmp), console, serve, kept=False)


def _ui(project_dir: Path, workdir: Path, console: Console, serve: bool, kept: bool) -> None:
    """Serve the web UI and print its URL (``serve``), else say how to open it."""
    if serve:
        from featurestore.server.ui._local import serve_local

        serve_local(
            project_dir,
            announce=lambda url: console.print(
                f"\nThe web UI of this project (read-only): {url}  (Ctrl-C stops it)"
            ),
        )
    elif kept:
        console.print(f"Open its web UI: featurestore ui --workdir {escape(str(workdir))}")
    else:
        console.print("See it in the web UI: featurestore demo --serve")


def _run(workdir: Path, console: Console, serve: bool = False, kept: bool = True) -> DemoResult:
    started = time.monotonic()
    example = examples_dir() / PROJECT
    project_dir = _project(workdir, example)
    story = _Story(console, total=11)
    console.print(
        f"[bold]featurestore demo[/]: Feast's driver example, versioned like a lakeFS "
        f"repository, in {escape(str(workdir))}"
    )

    story.begin(
        "create a project",
        f"Copy examples/{PROJECT} (definitions.py, {CONFIG_FILE}) and create its repository: "
        "local Parquet storage, SQLite metadata, an embedded Redis-protocol server.",
    )
    env = {k: v for k, v in os.environ.items() if k not in _IGNORED_ENV}
    config = load_config(project_dir, env=env)
    import repos

    repos.Repository.create(
        config.storage_location,
        config.metadata_url,
        default_branch=config.default_branch,
        exist_ok=True,
    ).close()
    story.say(f"project {config.project!r} in {project_dir}")
    store = FeatureStore(project_dir, config=config)
    try:
        result = _walk(store, story, example, project_dir)
    finally:
        store.close()
    left = valkey_children()
    if left:
        raise BackendError(f"the embedded Redis server is still running (pid {left}); stop it")
    story.say("HTTP server stopped, store closed, embedded Redis stopped: nothing left running")
    seconds = time.monotonic() - started
    console.print(f"\n[bold green]Demo finished in {seconds:.1f} s.[/]")
    _ui(project_dir, workdir, console, serve, kept)
    return DemoResult(
        project_dir, result.tag_commit, result.merge_commit, result.served_commits,
        result.lookups, seconds,
    )  # fmt: skip


def _walk(store: FeatureStore, story: _Story, example: Path, project_dir: Path) -> DemoResult:
    console = story.console
    generate = _load_generator(example)
    now = datetime.now(UTC).replace(microsecond=0)
    main = store.config.default_branch

    story.begin(
        "generate data",
        "Hourly driver statistics for 20 drivers over the last 7 days, ending now; 1% of "
        "rows repeat an event time with a later `created` time (corrections).",
    )
    data: pa.Table = generate.generate(seed=0, drivers=20, days=7, rows_per_driver=48, end=now)
    first = data.column("event_timestamp").to_pylist()
    story.say(f"{data.num_rows} rows from {_cell(min(first))} to {_cell(max(first))} UTC")

    story.begin(
        "apply, ingest, commit and tag",
        "Definitions and data are committed together, so a commit names both; the tag "
        f"{TAG!r} pins this exact state for good.",
    )
    plan = store.apply(load_definitions(project_dir), partial=False)
    console.print(plan.to_rich())
    store.ingest("driver_stats", data)
    first_commit = store.commit("driver stats: definitions and 7 days of data")
    store.repository.tag(TAG).create(main)
    story.say(f"committed {first_commit.id[:12]} on {main} and tagged it {TAG}")

    story.begin(
        f"training set at {TAG}",
        "A point-in-time correct join: each entity row sees only feature rows known at its "
        "timestamp (within the view's ttl), read from the tagged commit.",
    )
    entities = generate.entity_rows(data, fraction=0.05)
    entities = entities.append_column("val_to_add", pa.array(range(entities.num_rows), pa.int64()))
    service = store.get_feature_service(FEATURES_V1, TAG)
    job = store.get_historical_features(entities, service, ref=TAG)
    training = job.to_arrow()
    console.print(_rows_table(f"Training set at {TAG} ({job.commit_id[:12]})", training))
    story.say(
        f"{training.num_rows} rows x {training.num_columns} columns from commit "
        f"{job.commit_id[:12]}, definitions {job.definitions_hash[:12]}"
    )

    story.begin(
        f"change features on branch {BRANCH!r}",
        "A branch costs O(1): no data is copied. On it we add a feature view of daily "
        "trends (windowed aggregates) and the last hours of fresh data, then commit.",
    )
    store.repository.branch(BRANCH).create(main)
    (project_dir / "driver_trends.py").write_text(TRENDS_DEFINITIONS)
    definitions = load_definitions(project_dir)
    change = store.plan(definitions, branch=BRANCH, partial=False)
    console.print(change.to_rich())
    store.apply(definitions, branch=BRANCH, partial=False)
    fresh: pa.Table = generate.generate(seed=1, drivers=20, days=1, rows_per_driver=4, end=now)
    store.ingest("driver_stats", fresh, branch=BRANCH)
    branch_commit = store.commit("add driver_trends and the last day of data", branch=BRANCH)
    trends = store.registry(BRANCH).get_feature_view("driver_trends")
    story.say(f"new features on {BRANCH}: {', '.join(trends.feature_names)}")
    story.say(f"committed {branch_commit.id[:12]} on {BRANCH}: {fresh.num_rows} new rows")

    story.begin(
        f"diff {main} -> {BRANCH}",
        "What the branch changed, path by path: the definitions object and the new Parquet "
        f"files. {main} itself is untouched.",
    )
    changes = list(store.repository.ref(main).diff(BRANCH))
    console.print(_changes_table(f"{main} -> {BRANCH}", changes))
    story.say(f"{len(changes)} changed path(s)")

    story.begin(
        f"merge {BRANCH} into {main}",
        "A three-way merge from the merge base; the tag still names the old state, so the "
        f"training set at {TAG} rebuilds exactly.",
    )
    merge_commit = store.merge(BRANCH, main)
    story.say(f"merge commit {merge_commit.id[:12]} on {main}")
    again = store.get_historical_features(entities, service, ref=TAG).to_arrow()
    if not again.equals(training):
        raise BackendError(f"the training set at {TAG} changed after the merge")
    story.say(f"training set at {TAG} rebuilt after the merge: identical, row for row")
    views = [v.name for v in store.registry(main).feature_views]
    story.say(f"feature views on {main} now: {', '.join(views)}")

    story.begin(
        "materialize",
        f"Write each view's latest row per driver from {main}'s head commit to the online "
        "store, recording that commit and the watermark.",
    )
    from featurestore.cli.render import materialize_table

    results = store.materialize(now - timedelta(days=7), now)
    console.print(materialize_table(results))
    story.say(f"{sum(r.rows_written for r in results)} rows written online")

    story.begin(
        "serve lookups over HTTP",
        "The lookup service (uvicorn) on a free port; a client posts Feast's request shape "
        f"with the {FEATURES_V2!r} feature service and request data.",
    )
    import httpx

    drivers = [1001, 1002, 1003, 9999]
    body = {
        "feature_service": FEATURES_V2,
        "entities": {"driver_id": drivers},
        "request_context": {"val_to_add": [10, 20, 30, 40]},
    }
    with _http_server(store) as url, httpx.Client(base_url=url, timeout=10) as client:
        health = client.get("/health").json()
        story.say(f"GET {url}/health -> {health['status']}")
        ui_page = client.get("/ui/catalog")
        story.say(f"the web UI is at {url}/ui (GET /ui/catalog -> {ui_page.status_code})")
        answer = client.post("/get-online-features", json=body)
        answer.raise_for_status()
        payload = answer.json()
        names: list[str] = payload["metadata"]["feature_names"]
        lookups = {n: r["values"] for n, r in zip(names, payload["results"], strict=True)}
        shown = Table(title=f"POST {url}/get-online-features", title_justify="left")
        for n in names:
            shown.add_column(n)
        for i in range(len(drivers)):
            statuses = [r["statuses"][i] for r in payload["results"]]
            shown.add_row(
                *(
                    _cell(lookups[n][i]) if s == "PRESENT" else f"[dim]{s}[/]"
                    for n, s in zip(names, statuses, strict=True)
                )
            )
        console.print(shown)
        story.say(f"{len(drivers)} drivers looked up; 9999 is unknown, so NOT_FOUND")
        served = client.get("/online-status").json()

    story.begin(
        "online status",
        "Which commit each view serves online: the model serving these features can name "
        "the exact data behind them.",
    )
    from featurestore.cli.render import status_table

    statuses = store.online_status()
    console.print(status_table(statuses))
    served_commits = {s.view: s.commit_id for s in statuses}
    head = store.resolve(main)
    if any(c != head for c in served_commits.values()):
        raise BackendError(f"a view does not serve {main}'s head {head[:12]}: {served_commits}")
    story.say(f"every view serves {main} at {head[:12]}, the merge commit")
    over_http = {v["view"]: v["commit_id"] for v in served["views"]}
    if over_http != served_commits:
        raise BackendError(f"GET /online-status disagrees with the store: {over_http}")
    story.say("GET /online-status over HTTP reports the same commits")

    story.begin("clean up", "Stop the HTTP server and the embedded Redis server.")
    return DemoResult(project_dir, first_commit.id, merge_commit.id, served_commits, lookups, 0.0)
