"""The web UI in a real headless Chromium: every page at a branch, a tag and a commit,
the commit graph's merge, a diff of the on-demand function, the entity search, what a
reader may not do, an admin's merge; no console errors anywhere, and a screenshot of
each page (``FEATURESTORE_TEST_ARTIFACTS``/ui, else a temp folder).

The merge test changes ``main``, so it runs last (pytest keeps the file's order).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from tests.ui.conftest import ADMIN, DATASET, FIRST_DRIVER, ODFV_NEW, READER, UIServer

PAGES = {
    "catalog": "/ui/catalog",
    "history": "/ui/history",
    "diff": "/ui/diff?left=v1",
    "objects": "/ui/objects",
    "data": "/ui/data?table=driver_stats",
    "data-rows": "/ui/data/rows?table=driver_stats&offset=20",
    "serving": "/ui/serving",
    "governance": "/ui/governance",
    "dataset": f"/ui/governance/dataset/{DATASET}",
    "actions": "/ui/actions",
    "commit": "/ui/commit/{merge}",
    "object": "/ui/object?path=tables/driver_stats/_schema",
}


@dataclass
class Browsing:
    """A logged-in browser context and the console errors its pages reported."""

    context: Any
    base: str
    errors: list[str] = field(default_factory=list)

    def open(self, path: str) -> Any:
        """A new page at ``path``, answered 200, its console watched."""
        page = self.context.new_page()
        page.on(
            "console",
            lambda m: self.errors.append(f"{m.type}: {m.text}") if m.type == "error" else None,
        )
        page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))
        response = page.goto(self.base + path)
        assert response is not None and response.status == 200, (path, response and response.status)
        return page

    def check_console(self) -> None:
        assert self.errors == [], self.errors


def _login(browser: Any, server: UIServer, key: str) -> Browsing:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    browsing = Browsing(context, server.url)
    page = context.new_page()
    page.goto(server.url + "/ui/login")
    page.fill("input[name=key]", key)
    page.click("form[action='/ui/login'] button[type=submit]")
    page.wait_for_url(re.compile(r".*/ui/catalog.*"))
    page.close()
    return browsing


@pytest.fixture(scope="module")
def admin(browser: Any, ui_server: UIServer) -> Iterator[Browsing]:
    browsing = _login(browser, ui_server, ADMIN)
    yield browsing
    browsing.context.close()


@pytest.fixture(scope="module")
def reader(browser: Any, ui_server: UIServer) -> Iterator[Browsing]:
    browsing = _login(browser, ui_server, READER)
    yield browsing
    browsing.context.close()


@pytest.fixture(autouse=True)
def _no_console_errors(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every test's pages log no console error and throw no page error."""
    yield
    for name in ("admin", "reader"):
        if name in request.fixturenames:
            browsing: Browsing = request.getfixturevalue(name)
            errors, browsing.errors[:] = list(browsing.errors), []
            assert errors == [], errors


def _with_ref(path: str, ref: str) -> str:
    return path + ("&" if "?" in path else "?") + f"ref={quote(ref)}"


@pytest.mark.parametrize("name", list(PAGES))
def test_every_page_loads_at_a_branch_a_tag_and_a_commit(
    name: str, admin: Browsing, ui_server: UIServer, screenshots: Path
) -> None:
    refs = {"branch": "dev", "tag": "v1", "commit": ui_server.project.merge_commit}
    for kind, ref in refs.items():
        page = admin.open(_with_ref(PAGES[name].format(merge=ui_server.project.merge_commit), ref))
        assert page.locator("header.top nav a").count() >= 8
        assert page.locator("main h1").first.inner_text().strip()
        if kind == "branch":
            page.screenshot(path=str(screenshots / f"{name}.png"), full_page=True)
        page.close()


def test_the_login_page_and_an_error_page(
    browser: Any, admin: Browsing, ui_server: UIServer, screenshots: Path
) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(ui_server.url + "/ui/history")
    assert "/ui/login" in page.url  # no session: the login form, then back here
    assert page.locator("input[name=key]").count() == 1
    page.screenshot(path=str(screenshots / "login.png"), full_page=True)
    page.fill("input[name=key]", "not-a-key")
    page.click("form[action='/ui/login'] button[type=submit]")
    page.wait_for_selector("section.login p.bad")  # refused, with the reason
    assert page.locator("input[name=key]").count() == 1  # still the form
    context.close()
    page = admin.context.new_page()
    answer = page.goto(ui_server.url + "/ui/history?ref=no-such-branch")
    assert answer is not None and answer.status == 404
    assert "no-such-branch" in page.inner_text("main")
    page.screenshot(path=str(screenshots / "error.png"), full_page=True)
    page.close()


def test_a_parquet_object_is_previewed(admin: Browsing, screenshots: Path) -> None:
    page = admin.open("/ui/objects?prefix=tables/driver_stats/")
    page.locator("a:has-text('.parquet')").first.click()
    page.wait_for_url(re.compile(r".*/ui/object\?.*"))
    text = page.inner_text("main")
    assert "conv_rate" in text and str(FIRST_DRIVER) in text
    page.screenshot(path=str(screenshots / "object-parquet.png"), full_page=True)
    page.close()


def test_history_draws_the_merge(admin: Browsing, ui_server: UIServer) -> None:
    page = admin.open("/ui/history?ref=main")
    assert page.locator("svg circle.node.merge").count() >= 1
    assert page.locator("svg .edge.merge").count() >= 1
    assert ui_server.project.merge_commit[:12] in page.inner_text("main")
    page.close()


def test_diff_shows_the_changed_on_demand_function(admin: Browsing, screenshots: Path) -> None:
    page = admin.open("/ui/diff?left=v1&right=dev")
    text = page.inner_text("main")
    assert "conv_rate_plus_val" in text
    assert ODFV_NEW in text  # the new line of the source diff
    page.screenshot(path=str(screenshots / "diff-odfv.png"), full_page=True)
    page.locator("table.diffstat td.add a").first.click()  # the added rows, a page at a time
    page.wait_for_url(re.compile(r".*kind=added.*"))
    pager = page.inner_text("section .pager")
    total = int(pager.rsplit(" of ", 1)[1].split()[0])
    assert total > 50 and pager.startswith(f"rows 1 to 50 of {total}"), pager
    page.click("section .pager a.next")
    page.wait_for_url(re.compile(r".*offset=50.*"))
    assert f"rows 51 to {min(100, total)} of {total}" in page.inner_text("section .pager")
    assert page.locator("table.grid tr.added").count() == min(50, total - 50)
    page.screenshot(path=str(screenshots / "diff-rows.png"), full_page=True)
    page.close()


def test_data_compares_a_branch_with_main(admin: Browsing, screenshots: Path) -> None:
    page = admin.open("/ui/data?ref=dev&table=driver_stats")
    assert page.locator(".profile svg.chart").count() == 6  # one chart per column
    summary = page.inner_text("table.summary")
    assert "dev" in summary and "main" in summary
    assert page.locator(".profile .drift").count() == 6
    page.screenshot(path=str(screenshots / "data-drift.png"), full_page=True)
    page.close()


def test_the_entity_search_finds_the_dataset(admin: Browsing, screenshots: Path) -> None:
    page = admin.open("/ui/governance")
    page.fill("#entity", f"driver_id={FIRST_DRIVER}")
    page.click("form.entity-search button[type=submit]")
    page.wait_for_url(re.compile(r".*entity=.*"))
    assert page.locator(f"table.datasets a:text-is('{DATASET}')").count() == 1
    page.screenshot(path=str(screenshots / "governance-search.png"), full_page=True)
    page.fill("#entity", "driver_id=999999")
    page.click("form.entity-search button[type=submit]")
    page.wait_for_url(re.compile(r".*999999.*"))
    assert page.locator("table.datasets").count() == 0
    assert "No saved dataset holds that entity" in page.inner_text("main")
    page.close()


def test_serving_shows_lookup_traffic(
    admin: Browsing, ui_server: UIServer, screenshots: Path
) -> None:
    import httpx

    with httpx.Client(base_url=ui_server.url, headers={"X-API-Key": READER}) as client:
        for driver in range(FIRST_DRIVER, FIRST_DRIVER + 5):
            answer = client.post(
                "/get-online-features",
                json={
                    "features": ["driver_hourly_stats:conv_rate"],
                    "entities": {"driver_id": [driver]},
                },
            )
            assert answer.status_code == 200, answer.text
    from featurestore.server.ui._traffic import sampler_for

    service = ui_server.app.state.service
    sampler_for(service).sample()  # close an interval now rather than wait for the thread
    page = admin.open("/ui/serving")
    assert page.locator("section.namespace[data-namespace=main] tr.fresh").count() >= 1
    assert page.locator("svg.chart polyline, svg.chart circle").count() >= 1
    page.screenshot(path=str(screenshots / "serving-traffic.png"), full_page=True)
    page.close()


def test_a_reader_cannot_see_or_trigger_actions(reader: Browsing, ui_server: UIServer) -> None:
    page = reader.open("/ui/serving")
    assert page.locator("header.top nav a:text-is('Actions')").count() == 0
    assert page.locator("a:has-text('materialize')").count() == 0
    csrf = page.locator("input[name=csrf]").first.get_attribute("value")
    page.close()
    head = ui_server.store.resolve("main")
    page = reader.context.new_page()
    assert page.goto(ui_server.url + "/ui/actions").status == 403
    assert page.goto(ui_server.url + "/ui/actions/confirm?action=merge&source=trends").status == 403
    page.close()
    for action, form in (
        ("merge", {"source": "trends", "into": "main"}),
        ("branch", {"name": "reader-branch", "source": "main"}),
        ("materialize", {"ref": "main"}),
    ):
        answer = reader.context.request.post(
            f"{ui_server.url}/ui/actions/{action}", form={**form, "csrf": csrf}
        )
        assert answer.status == 403, (action, answer.status)
    assert ui_server.store.resolve("main") == head
    assert "reader-branch" not in [b.id for b in ui_server.store.branches()]


def test_an_admin_merges(admin: Browsing, ui_server: UIServer, screenshots: Path) -> None:
    before = ui_server.store.resolve("main")
    page = admin.open("/ui/actions")
    page.fill("#merge input[name=source]", "trends")
    page.fill("#merge input[name=into]", "main")
    page.click("#merge button[type=submit]")
    page.wait_for_url(re.compile(r".*/ui/actions/confirm.*"))
    assert "merge trends" in page.inner_text("main")
    assert ui_server.store.resolve("main") == before  # nothing happens before the confirmation
    page.screenshot(path=str(screenshots / "actions-confirm.png"), full_page=True)
    page.click("#confirm")
    page.wait_for_url(re.compile(r".*/ui/actions/merge"))
    assert "merged trends into main" in page.inner_text("main")
    page.screenshot(path=str(screenshots / "actions-merged.png"), full_page=True)
    page.close()
    after = ui_server.store.resolve("main")
    assert after != before
    commit = ui_server.store.repository.ref(after).get_commit()
    assert len(commit.parents) == 2 and before in commit.parents
