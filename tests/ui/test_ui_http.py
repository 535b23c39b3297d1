"""The web UI over HTTP (Starlette's TestClient on the real app and project): the
catalog, history, commit, diff and object pages at a branch, a tag and a commit; the
commit graph's merge edge; a changed on-demand function in a diff; login, CSRF and
clear error pages."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from featurestore import FeatureStore
from featurestore.server import create_app
from featurestore.server.ui import read_only
from featurestore.server.ui._graph import layout
from repos import Commit
from tests.ui.conftest import ADMIN, READER, UIProject, keyed_store

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@pytest.fixture(scope="module")
def open_client(ui_project: UIProject) -> Iterator[TestClient]:
    """A client of the project's app with no API keys (everything open)."""
    with FeatureStore(repo_path=ui_project.root) as store, TestClient(create_app(store)) as c:
        yield c


@pytest.fixture(scope="module")
def keyed_app(ui_project: UIProject) -> Iterator[object]:
    store = keyed_store(ui_project.root)
    try:
        yield create_app(store)
    finally:
        store.close()


def _login(client: TestClient, key: str) -> None:
    page = client.get("/ui/login")
    token = CSRF.search(page.text)
    assert token is not None
    answer = client.post(
        "/ui/login", data={"csrf": token.group(1), "key": key, "next": "/ui/catalog"}
    )
    assert answer.status_code == 200, answer.text


def _object_path(ui_project: UIProject, prefix: str, suffix: str = "") -> str:
    with FeatureStore(repo_path=ui_project.root) as store:
        objects = store.repository.ref("main").objects(prefix)
        return next(o.path for o in objects if o.path.endswith(suffix))


@pytest.mark.parametrize("ref", ["main", "dev", "v1", "commit"])
def test_every_page_answers_at_a_branch_a_tag_and_a_commit(
    open_client: TestClient, ui_project: UIProject, ref: str
) -> None:
    ref = ui_project.merge_commit if ref == "commit" else ref
    table_object = _object_path(ui_project, "tables/")
    pages = [
        f"/ui/catalog?ref={ref}",
        f"/ui/catalog?ref={ref}&q=driver&owner=&tag=",
        f"/ui/history?ref={ref}",
        f"/ui/diff?left=v1&right={ref}",
        f"/ui/objects?ref={ref}",
        f"/ui/objects?ref={ref}&prefix=tables/",
        f"/ui/object?ref={ref}&path={table_object}",
        f"/ui/object?ref={ref}&path=_featurestore/registry.json",
        f"/ui/commit/{ui_project.tag_commit}?ref={ref}",
    ]
    for path in pages:
        answer = open_client.get(path)
        assert answer.status_code == 200, (path, answer.text[-800:])
        assert "<main>" in answer.text
    catalog = open_client.get(f"/ui/catalog?ref={ref}").text
    assert "driver_hourly_stats" in catalog and "conv_rate_plus_val" in catalog
    assert f'value="{ref}"' in catalog  # the picker shows the ref


def test_root_redirects_to_the_ui(open_client: TestClient) -> None:
    answer = open_client.get("/", follow_redirects=False)
    assert answer.status_code == 307 and answer.headers["location"] == "/ui"
    assert open_client.get("/").url.path == "/ui/catalog"


def test_the_graph_draws_the_merge(open_client: TestClient, ui_project: UIProject) -> None:
    page = open_client.get("/ui/history?ref=main").text
    assert 'class="edge merge"' in page
    assert 'class="node merge"' in page
    assert ui_project.merge_commit[:12] in page and ui_project.dev_commit[:12] in page
    # dev's commit is off main's first-parent line: it sits in a second lane
    assert re.search(r'<circle class="node" cx="(\d+)"', page)


def test_layout_gives_a_merge_its_own_lane() -> None:
    from datetime import UTC, datetime

    def commit(cid: str, *parents: str) -> Commit:
        return Commit(cid, parents, cid, {}, "a", datetime.now(UTC), "m")

    commits = [commit("m", "a", "b"), commit("b", "base"), commit("a", "base"), commit("base")]
    graph = layout(commits)
    assert graph.lanes == (0, 1, 0, 0)
    merges = [e for e in graph.edges if e.merge]
    assert [(e.from_lane, e.to_lane, e.row) for e in merges] == [(0, 1, 0)]
    # both lanes end in the base commit's lane
    assert {(e.from_lane, e.to_lane) for e in graph.edges if e.row == 2} == {(0, 0), (1, 0)}
    assert "edge merge" in graph.svg(commits)


def test_history_pages_by_cursor(open_client: TestClient) -> None:
    first = open_client.get("/ui/history?ref=main&limit=2").text
    assert "next page" in first
    cursor = re.search(r'href="/ui/history\?[^"]*after=([0-9a-f]{64})', first)
    assert cursor is not None
    second = open_client.get(f"/ui/history?ref=main&limit=2&after={cursor.group(1)}").text
    ids = set(re.findall(r'href="/ui/commit/([0-9a-f]{64})"', first.split('class="graph"')[1]))
    later = set(re.findall(r'href="/ui/commit/([0-9a-f]{64})"', second.split('class="graph"')[1]))
    assert ids and later and not ids & later
    assert open_client.get("/ui/history?ref=main&after=abc").status_code == 400


def test_the_diff_shows_the_changed_on_demand_function(open_client: TestClient) -> None:
    page = open_client.get("/ui/diff?left=v1&right=main").text
    assert 'id="code-conv_rate_plus_val"' in page
    code = page.split('id="code-conv_rate_plus_val"')[1].split("</div>\n</div>")[0]

    def rows(kind: str) -> list[str]:
        return [re.sub(r"<[^>]+>", "", r.split("</tr>")[0]) for r in code.split(kind)[1:]]

    added, removed = rows('<tr class="add">'), rows('<tr class="del">')
    assert any("* 2" in row for row in added) and not any("* 2" in row for row in removed)
    added_rows = re.search(r"kind=added\">\+(\d+)</a>", page)
    assert added_rows is not None and int(added_rows.group(1)) > 0  # dev's fresh day
    listed = open_client.get("/ui/diff?left=v1&right=main&table=driver_stats&kind=added")
    assert listed.status_code == 200 and 'class="added"' in listed.text


def test_commit_details(open_client: TestClient, ui_project: UIProject) -> None:
    page = open_client.get(f"/ui/commit/{ui_project.merge_commit}").text
    assert "merge dev" in page
    assert page.count('href="/ui/commit/') >= 2  # both parents
    assert "driver_stats" in page  # the changed table


def test_the_object_preview_shows_the_first_rows(
    open_client: TestClient, ui_project: UIProject
) -> None:
    path = _object_path(ui_project, "tables/driver_stats/", ".parquet")
    page = open_client.get(f"/ui/object?path={path}").text
    assert "Parquet preview" in page and "driver_id" in page
    shown, total = map(int, re.findall(r"first (\d+) of (\d+) rows", page)[0])
    assert shown == min(20, total) and total > 0  # the first rows only
    assert page.split("Parquet preview")[1].count("<tr>") == shown + 1
    schema = open_client.get("/ui/object?path=tables/driver_stats/_schema").text
    assert "Arrow schema" in schema and "conv_rate" in schema
    assert "/" + str(ui_project.root).strip("/") not in page  # no local path reaches a client


def test_a_reader_without_a_key_gets_the_login_page(keyed_app: object) -> None:
    with TestClient(keyed_app, follow_redirects=False) as client:  # type: ignore[arg-type]
        answer = client.get("/ui/history?ref=main")
        assert answer.status_code == 303
        assert answer.headers["location"].startswith("/ui/login?next=")
        login = client.get(answer.headers["location"])
        assert login.status_code == 200 and 'name="key"' in login.text
        token = CSRF.search(login.text)
        assert token is not None
        wrong = client.post("/ui/login", data={"csrf": token.group(1), "key": "nope"})
        assert wrong.status_code == 401 and "not valid" in wrong.text
    with TestClient(keyed_app) as client:  # type: ignore[arg-type]
        _login(client, READER)
        page = client.get("/ui/history?ref=main")
        assert page.status_code == 200 and ">reader<" in page.text
        client.cookies.set("featurestore_ui", "forged.value", path="/ui")
        assert client.get("/ui/catalog").url.path == "/ui/login"


def test_a_post_without_its_csrf_token_is_refused(keyed_app: object) -> None:
    with TestClient(keyed_app) as client:  # type: ignore[arg-type]
        _login(client, ADMIN)
        missing = client.post("/ui/logout", data={})
        assert missing.status_code == 403 and "CSRF" in missing.text
        wrong = client.post("/ui/logout", data={"csrf": "not-the-token"})
        assert wrong.status_code == 403
        assert client.post("/ui/login", data={"key": ADMIN}).status_code == 403
        assert client.get("/ui/catalog").status_code == 200  # still logged in
        token = CSRF.search(client.get("/ui/catalog").text)
        assert token is not None
        client.post("/ui/logout", data={"csrf": token.group(1)})
        assert client.get("/ui/catalog").url.path == "/ui/login"


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/ui/catalog?ref=no-such-branch", 404),
        ("/ui/history?ref=no-such-branch", 404),
        ("/ui/objects?ref=main~99", 404),
        ("/ui/diff?left=no-such-branch&right=main", 404),
        ("/ui/commit/0123456789abcdef", 404),
        ("/ui/object?path=tables/nothing-here", 404),
        ("/ui/object", 400),
        ("/ui/objects?prefix=../etc", 400),
        ("/ui/history?limit=0", 400),
        ("/ui/no-such-page", 404),
    ],
)
def test_bad_input_is_a_clear_error_page(open_client: TestClient, path: str, status: int) -> None:
    answer = open_client.get(path)
    assert answer.status_code == status, answer.text[-600:]
    assert 'class="error"' in answer.text and "text/html" in answer.headers["content-type"]


def test_a_read_only_ui_still_shows_pages(ui_project: UIProject) -> None:
    with FeatureStore(repo_path=ui_project.root) as store:
        app = read_only(create_app(store))
        with TestClient(app) as client:
            page = client.get("/ui/catalog")
            assert page.status_code == 200 and "read-only" in page.text
            head = store.resolve("main")
            for path, body in (
                ("/materialize-incremental", {"end_ts": "2030-01-01T00:00:00"}),
                ("/push", {"push_source_name": "driver_stats_push_source", "df": {}}),
            ):
                refused = client.post(path, json=body)
                assert refused.status_code == 403, (path, refused.text)
                assert refused.json()["error"]["code"] == "read_only"
            lookup = client.post(
                "/get-online-features",
                json={
                    "features": ["driver_hourly_stats:conv_rate"],
                    "entities": {"driver_id": [1001]},
                },
            )
            assert lookup.status_code == 200, lookup.text  # a lookup reads
            assert store.resolve("main") == head
