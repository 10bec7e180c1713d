"""The page in a real browser: Playwright for Python driving Debian's chromium. Skipped, with
the reason, where either is missing (`pip install playwright` and `apt-get install chromium`;
never `playwright install`, which downloads a browser of its own)."""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from datetime import date
from urllib.parse import parse_qs, urlsplit

import pytest

from searchkit import Document, Index
from searchkit.web import SearchServer

CHROMIUM = os.environ.get("SEARCHKIT_CHROMIUM", "/usr/bin/chromium")
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
if not shutil.which(CHROMIUM):
    pytest.skip(f"no chromium at {CHROMIUM}", allow_module_level=True)

HOSTILE_TITLE = '<script>alert("t")</script> cocoa <img src=x onerror=alert(1)>'
HOSTILE_PLACE = "javascript:alert(3)"

ROWS = [
    ("c1", "Cocoa prices rise", "Cocoa futures rose.", date(2019, 5, 2), ("brazil",)),
    ("c2", "Cocoa harvest late", "Rain delayed the cocoa harvest.", date(2020, 3, 14), ("ghana",)),
    ("c3", "Chocolate makers buy", "Grinders bought cocoa.", date(2020, 3, 20), ("brazil",)),
    ("c4", "Cocoa exports fall", "Exports of cocoa fell.", date(2020, 7, 1), ("ghana",)),
    ("c5", "Cocoa outlook", "Analysts expect cocoa demand.", date(2021, 11, 30), ("usa",)),
    ("h1", HOSTILE_TITLE, 'cocoa "><script>alert(2)</script>', date(2021, 1, 1), (HOSTILE_PLACE,)),
]


@pytest.fixture
def site(tmp_path) -> Iterator[str]:
    index = Index(tmp_path / "idx")
    index.add(
        [Document(id=i, title=t, body=b, date=d, fields={"places": p}) for i, t, b, d, p in ROWS]
    )
    server = SearchServer(index, ("127.0.0.1", 0))
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server.url
    server.shutdown()
    server.server_close()
    thread.join(5)
    index.close()


@pytest.fixture
def page(site) -> Iterator:
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            tab = browser.new_page()
            tab.set_default_timeout(15_000)
            dialogs: list[str] = []
            tab.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            tab.dialogs = dialogs  # type: ignore[attr-defined]
            tab.goto(site)
            yield tab
        finally:
            browser.close()


def query_of(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


def total(tab) -> int:
    return int(tab.locator("span.total").get_attribute("data-total"))


def test_type_a_query_click_a_facet_and_a_bar_go_back_open_a_document(page):
    page.evaluate("document.activeElement.blur()")  # the box has autofocus
    page.keyboard.press("/")  # the script focuses the box (it runs under the CSP)
    assert page.evaluate("document.activeElement.id") == "q"
    page.keyboard.type("cocoa")
    page.keyboard.press("Enter")
    page.wait_for_url("**/?q=cocoa")
    assert total(page) == 6 and page.locator("li.hit").count() == 6

    page.locator('section.facet[data-field="places"] a', has_text="brazil").click()
    page.wait_for_url("**where=places%3Dbrazil**")
    assert query_of(page.url)["where"] == ["places=brazil"]
    assert page.locator("a.chip").all_inner_texts()[0].startswith("places: brazil")
    assert total(page) == 2

    page.locator('a.bar[data-value="2020"]').click()
    page.wait_for_url("**since=2020**")
    assert query_of(page.url)["since"] == ["2020"] == query_of(page.url)["until"]
    assert total(page) == 1
    assert page.locator("section.histogram").get_attribute("data-level") == "month"

    page.go_back()
    assert "since" not in query_of(page.url) and total(page) == 2
    page.go_back()
    assert total(page) == 6 and page.locator("a.chip").count() == 0

    page.locator("li.hit h2 a", has_text="Cocoa harvest late").click()
    page.wait_for_url("**/doc/c2")
    assert page.locator("h1").inner_text() == "Cocoa harvest late"
    assert page.dialogs == []


def test_brushing_across_bars_sets_since_and_until(page, site):
    page.goto(site + "?q=cocoa")
    bars = page.locator("a.bar")
    assert bars.count() == 3  # 2019, 2020, 2021
    first, last = bars.nth(0).bounding_box(), bars.nth(2).bounding_box()
    page.mouse.move(first["x"] + first["width"] / 2, first["y"] + first["height"] - 2)
    page.mouse.down()
    page.mouse.move(last["x"] + last["width"] / 2, last["y"] + last["height"] - 2, steps=5)
    page.mouse.up()
    page.wait_for_url("**until=2021**")
    assert query_of(page.url)["since"] == ["2019"] and query_of(page.url)["until"] == ["2021"]


def test_hostile_documents_render_as_text(page, site):
    page.goto(site + "?q=cocoa")
    assert page.locator("li.hit h2 a", has_text="<script>").inner_text() == HOSTILE_TITLE
    assert page.locator("img").count() == 0
    page.locator('section.facet[data-field="places"] a', has_text=HOSTILE_PLACE).click()
    page.wait_for_url("**where=places%3Djavascript**")
    assert total(page) == 1
    page.locator("li.hit h2 a").click()
    page.wait_for_url("**/doc/h1")
    assert page.locator("h1").inner_text() == HOSTILE_TITLE
    assert page.dialogs == []
