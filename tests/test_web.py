"""`searchkit serve`'s page and JSON API over real HTTP: an in-process server on a free port,
requests through urllib, pages parsed with html.parser, and every expected count computed from
the test's own documents."""

from __future__ import annotations

import http.client
import json
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import date
from html.parser import HTMLParser
from urllib.parse import parse_qs, quote, urlsplit

import pytest
from helpers import run_cli
from hypothesis import given
from hypothesis import strategies as st

from searchkit import Document, Index
from searchkit.web import SearchRequest, SearchServer
from searchkit.web.server import CSP

HOSTILE_TITLE = '<script>alert("t")</script> cocoa "quoted\' title'
HOSTILE_BODY = 'cocoa "><img src=x onerror=alert(1)> <a href="javascript:alert(2)">x</a>'
HOSTILE_PLACE = "javascript:alert(3)"
HOSTILE_ID = 'evil"><script>alert(4)</script>'

# (id, title, body, date, places, topics): "cocoa" is a whole word in exactly the documents
# whose title or body says it, so the matches below are computed by reading these rows.
ROWS = [
    (
        "c01",
        "Cocoa prices rise",
        "Cocoa futures rose in London.",
        date(2019, 5, 2),
        ("brazil",),
        ("cocoa",),
    ),
    (
        "c02",
        "Cocoa harvest late",
        "Rain delayed the cocoa harvest.",
        date(2020, 3, 14),
        ("brazil", "ghana"),
        ("cocoa", "weather"),
    ),
    (
        "c03",
        "Chocolate makers",
        "Grinders bought cocoa beans.",
        date(2020, 3, 20),
        ("usa",),
        ("cocoa",),
    ),
    (
        "c04",
        "Cocoa exports",
        "Exports of cocoa fell sharply.",
        date(2020, 7, 1),
        ("ghana",),
        ("trade",),
    ),
    (
        "c05",
        "Port strike",
        "Dockers stopped cocoa shipments.",
        date(2021, 1, 9),
        ("brazil",),
        ("labour",),
    ),
    (
        "c06",
        "Cocoa outlook",
        "Analysts expect cocoa demand.",
        date(2021, 11, 30),
        ("usa", "brazil"),
        ("cocoa",),
    ),
    (
        "c07",
        "Cocoa and sugar",
        "Sugar and cocoa both climbed.",
        date(2020, 3, 3),
        ("japan",),
        ("sugar", "cocoa"),
    ),
    ("o01", "Coffee prices", "Coffee rose in Brazil.", date(2020, 3, 15), ("brazil",), ("coffee",)),
    ("o02", "Rates unchanged", "The bank held rates.", date(2021, 2, 2), ("usa",), ("money",)),
]


#: id -> date of every document (Document.date holds a PartialDate).
DATES = {row[0]: row[3] for row in ROWS} | {HOSTILE_ID: date(2019, 8, 8)}


def documents() -> list[Document]:
    docs = [
        Document(id=i, title=t, body=b, date=d, fields={"places": p, "topics": tp})
        for i, t, b, d, p, tp in ROWS
    ]
    docs.append(
        Document(
            id=HOSTILE_ID,
            title=HOSTILE_TITLE,
            body=HOSTILE_BODY,
            date=DATES[HOSTILE_ID],
            fields={"places": (HOSTILE_PLACE, '"><b>x'), "topics": ("cocoa",)},
        )
    )
    return docs


def matching(word: str = "cocoa") -> list[Document]:
    """The documents holding `word` as a word of the title or body (our rows only)."""

    def words(text: str) -> set[str]:
        return {w.strip(".,<>\"'()=:;/").lower() for w in text.split()}

    return [d for d in documents() if word in words(d.title) | words(d.body)]


# -- the server -------------------------------------------------------------------------------


class Served:
    """A running server and a small HTTP client for it."""

    def __init__(self, server: SearchServer) -> None:
        self.server = server
        self.port = server.port

    def get(
        self, path: str, *, host: str | None = None, method: str = "GET"
    ) -> tuple[int, dict[str, str], str]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            headers = {"Host": host if host is not None else f"127.0.0.1:{self.port}"}
            conn.request(method, path, headers=headers)
            response = conn.getresponse()
            body = response.read().decode("utf-8")
            return response.status, {k.lower(): v for k, v in response.getheaders()}, body
        finally:
            conn.close()

    def json(self, path: str) -> tuple[int, dict]:
        status, _, body = self.get(path)
        return status, json.loads(body)

    def page(self, path: str) -> Page:
        status, headers, body = self.get(path)
        assert status == 200, (path, status, body[:300])
        assert headers["content-type"].startswith("text/html")
        return Page(body)


@pytest.fixture
def serve() -> Iterator:
    """`serve(index)` starts a server for the index on a free port; all are shut down after."""
    running: list[tuple[SearchServer, threading.Thread]] = []

    def start(index: Index) -> Served:
        server = SearchServer(index, ("127.0.0.1", 0))
        thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        thread.start()
        running.append((server, thread))
        return Served(server)

    yield start
    for server, thread in running:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture(params=[1, 3], ids=["1-segment", "3-segments"])
def site(request, build_index, serve) -> Served:
    return serve(build_index(documents(), segments=request.param))


# -- reading a page ---------------------------------------------------------------------------

VOID = {"input", "meta", "link", "br", "img", "hr"}


class Node:
    def __init__(self, tag: str, attrs: dict[str, str | None]) -> None:
        self.tag, self.attrs, self.children = tag, attrs, []
        self.parts: list[str] = []

    @property
    def classes(self) -> list[str]:
        return (self.attrs.get("class") or "").split()

    def text(self) -> str:
        return "".join(p if isinstance(p, str) else p.text() for p in self.parts)

    def walk(self) -> Iterator[Node]:
        yield self
        for child in self.children:
            yield from child.walk()

    def find_all(self, tag: str | None = None, cls: str | None = None) -> list[Node]:
        return [
            n
            for n in self.walk()
            if (tag is None or n.tag == tag) and (cls is None or cls in n.classes)
        ]

    def find(self, tag: str | None = None, cls: str | None = None) -> Node:
        found = self.find_all(tag, cls)
        assert found, f"no <{tag} class={cls}>"
        return found[0]


class Page(HTMLParser):
    """The page as a tree of nodes (html.parser unescapes text and attribute values)."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.html = html
        self.root = Node("#root", {})
        self.stack = [self.root]
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs) -> None:
        node = Node(tag, dict(attrs))
        self.stack[-1].children.append(node)
        self.stack[-1].parts.append(node)  # type: ignore[arg-type]
        if tag not in VOID:
            self.stack.append(node)

    def handle_startendtag(self, tag, attrs) -> None:
        node = Node(tag, dict(attrs))
        self.stack[-1].children.append(node)

    def handle_endtag(self, tag) -> None:
        if tag in VOID:
            return
        assert self.stack[-1].tag == tag, f"</{tag}> closes <{self.stack[-1].tag}>"
        self.stack.pop()

    def handle_data(self, data) -> None:
        self.stack[-1].parts.append(data)

    def find_all(self, tag=None, cls=None) -> list[Node]:
        return self.root.find_all(tag, cls)

    def find(self, tag=None, cls=None) -> Node:
        return self.root.find(tag, cls)

    # What the page shows.

    def hit_ids(self) -> list[str]:
        return [n.attrs["data-id"] or "" for n in self.find_all("li", "hit")]

    def facet(self, field: str) -> dict[str, tuple[int, str]]:
        """value -> (count, link) of one facet section."""
        sections = [n for n in self.find_all("section", "facet") if n.attrs["data-field"] == field]
        assert sections, f"no facet {field}"
        out = {}
        for li in sections[0].find_all("li"):
            link = li.find("a")
            count = int(li.find("span", "count").text().replace(",", ""))
            out[link.text()] = (count, link.attrs["href"] or "")
        return out

    def all_bars(self) -> dict[str, int]:
        """value -> count of every date bar, the empty ones included."""
        out = {}
        for a in self.find_all("a", "bar"):
            count = int(a.attrs["data-count"] or 0)
            assert ("empty" in a.classes) == (count == 0)
            out[a.attrs["data-value"] or ""] = count
        return out

    def bars(self) -> dict[str, tuple[int, str]]:
        """value -> (count, link) of the date bars that have matches."""
        return {
            a.attrs["data-value"] or "": (int(a.attrs["data-count"] or 0), a.attrs["href"] or "")
            for a in self.find_all("a", "bar")
            if "empty" not in a.classes
        }

    def chips(self) -> dict[str, str]:
        """chip text (without the ×) -> link."""
        return {
            c.text().replace("×", "").strip(): c.attrs["href"] or ""
            for c in self.find_all("a", "chip")
        }

    def total(self) -> int:
        return int(self.find("span", "total").attrs["data-total"] or -1)


def params(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


# -- the search page --------------------------------------------------------------------------


def test_a_search_page_lists_every_match_with_facets_and_year_bars(site):
    page = site.page("/?q=cocoa&facet=places&facet=topics")
    expected = matching()
    assert page.total() == len(expected)
    assert sorted(page.hit_ids()) == sorted(d.id for d in expected)
    places = Counter(v for d in expected for v in d.fields["places"])
    topics = Counter(v for d in expected for v in d.fields["topics"])
    assert {v: c for v, (c, _) in page.facet("places").items()} == dict(places.most_common(10))
    assert {v: c for v, (c, _) in page.facet("topics").items()} == dict(topics.most_common(10))
    years = Counter(str(DATES[d.id].year) for d in expected)
    assert {v: c for v, (c, _) in page.bars().items()} == dict(years)
    # Years without a match are empty bars: the gaps are time's.
    first, last = min(years), max(years)
    every_year = {str(y): years.get(str(y), 0) for y in range(int(first), int(last) + 1)}
    assert page.all_bars() == every_year
    assert page.find("section", "histogram").attrs["data-level"] == "year"
    # Each hit: its title links to its own page; date shown.
    for li in page.find_all("li", "hit"):
        doc_id = li.attrs["data-id"] or ""
        assert li.find("h2").find("a").attrs["href"] == "/doc/" + quote(doc_id, safe="")
        assert li.find("time").text() == DATES[doc_id].isoformat()


def test_without_facet_in_the_url_the_indexs_fields_are_shown(site):
    page = site.page("/?q=cocoa")
    shown = [n.attrs["data-field"] for n in page.find_all("section", "facet")]
    assert shown == ["places", "topics"]  # every metadata field of these documents
    assert "facet" not in params(page.facet("places")["brazil"][1])  # links stay as short


def test_a_facet_click_adds_a_filter_and_values_of_one_field_are_ored(site):
    first = site.page("/?q=cocoa&facet=places&facet=topics")
    count, link = first.facet("places")["brazil"]
    assert params(link)["where"] == ["places=brazil"]
    page = site.page(link)
    brazil = [d for d in matching() if "brazil" in d.fields["places"]]
    assert count == len(brazil) == page.total()
    assert sorted(page.hit_ids()) == sorted(d.id for d in brazil)
    assert list(page.chips()) == ["places: brazil"]
    assert page.facet("places")["brazil"][0] == count
    # The field's own counts ignore its filter (so other values can be added); other fields'
    # counts are those of the filtered matches.
    all_places = Counter(v for d in matching() for v in d.fields["places"])
    assert {v: c for v, (c, _) in page.facet("places").items()} == dict(all_places.most_common(10))
    topics = Counter(v for d in brazil for v in d.fields["topics"])
    assert {v: c for v, (c, _) in page.facet("topics").items()} == dict(topics)
    # A second value of the same field is OR'ed.
    either = site.page(page.facet("places")["usa"][1])
    assert params(page.facet("places")["usa"][1])["where"] == ["places=brazil", "places=usa"]
    wanted = [d for d in matching() if {"brazil", "usa"} & set(d.fields["places"])]
    assert sorted(either.hit_ids()) == sorted(d.id for d in wanted)
    # Another field is AND'ed.
    both = site.page(either.facet("topics")["cocoa"][1])
    wanted = [d for d in wanted if "cocoa" in d.fields["topics"]]
    assert sorted(both.hit_ids()) == sorted(d.id for d in wanted)
    assert set(both.chips()) == {"places: brazil", "places: usa", "topics: cocoa"}
    # A chip's link removes that filter only, and the page is the one before.
    back = site.page(both.chips()["topics: cocoa"])
    assert back.hit_ids() == either.hit_ids()
    unfiltered = site.page(site.page(back.chips()["places: usa"]).chips()["places: brazil"])
    assert sorted(unfiltered.hit_ids()) == sorted(d.id for d in matching())


def test_year_bars_drill_into_months_and_days(site):
    years = site.page("/?q=cocoa").bars()
    count, link = years["2020"]
    assert params(link)["since"] == ["2020"] and params(link)["until"] == ["2020"]
    in_2020 = [d for d in matching() if DATES[d.id].year == 2020]
    months_page = site.page(link)
    assert months_page.total() == count == len(in_2020)
    assert months_page.find("section", "histogram").attrs["data-level"] == "month"
    months = Counter(DATES[d.id].strftime("%Y-%m") for d in in_2020)
    assert {v: c for v, (c, _) in months_page.bars().items()} == dict(months)
    assert months_page.all_bars() == {
        f"2020-{m:02d}": months.get(f"2020-{m:02d}", 0) for m in range(3, 8)
    }
    assert set(months_page.chips()) == {"since 2020", "until 2020"}
    days_page = site.page(months_page.bars()["2020-03"][1])
    assert days_page.find("section", "histogram").attrs["data-level"] == "day"
    days = Counter(DATES[d.id].isoformat() for d in in_2020 if DATES[d.id].month == 3)
    assert {v: c for v, (c, _) in days_page.bars().items()} == dict(days)
    assert list(days_page.all_bars()) == [f"2020-03-{d:02d}" for d in range(3, 21)]
    assert days_page.total() == sum(days.values())


def test_pages_and_sorting_live_in_the_url(site):
    expected = matching()
    seen: list[str] = []
    url = "/?q=cocoa&sort=-date&limit=3"
    while url:
        page = site.page(url)
        seen += page.hit_ids()
        following = [a for a in page.find_all("a") if a.attrs.get("rel") == "next"]
        url = following[0].attrs["href"] if following else ""
    assert len(seen) == len(expected) and set(seen) == {d.id for d in expected}
    newest_first = sorted(expected, key=lambda d: DATES[d.id], reverse=True)
    assert seen == [d.id for d in newest_first]
    # The same URL gives the same page: nothing is kept between requests.
    assert site.page("/?q=cocoa&sort=-date&limit=3&page=2").hit_ids() == seen[3:6]
    oldest = site.page("/?q=cocoa&sort=date&limit=3").hit_ids()
    assert oldest == [d.id for d in sorted(expected, key=lambda d: DATES[d.id])][:3]


def test_a_suggestion_is_a_link_to_the_corrected_query(site):
    page = site.page("/?q=cocao")
    link = page.find("p", "suggestion").find("a")
    assert params(link.attrs["href"])["q"] == [link.text()]
    assert site.page(link.attrs["href"]).total() > 0


def test_the_front_page_has_the_box_and_the_query_syntax(site):
    page = site.page("/")
    box = page.find("input")
    assert box.attrs["name"] == "q" and box.attrs["id"] == "q"
    assert "title:vaccine" in page.find("details", "syntax").text()
    assert f"{len(documents())} documents" in page.find("p", "intro").text()


@given(
    st.builds(
        SearchRequest,
        q=st.text(max_size=20).map(str.strip),
        where=st.lists(
            st.tuples(
                st.from_regex(r"[a-z]{1,5}", fullmatch=True), st.text(min_size=1, max_size=8)
            ).map(lambda fv: f"{fv[0]}={fv[1].strip() or 'x'}"),
            max_size=3,
            unique=True,
        ).map(tuple),
        facets=st.lists(st.sampled_from(["places", "topics", "year"]), unique=True).map(tuple),
        since=st.none() | st.sampled_from(["2020", "2020-03", "7d"]),
        until=st.none() | st.sampled_from(["2021", "march 2020"]),
        sort=st.sampled_from(["relevance", "date", "-date"]),
        page=st.integers(1, 50),
        limit=st.integers(1, 100),
    )
)
def test_a_request_survives_its_url(request):
    assert SearchRequest.from_query_string(urlsplit(request.url()).query) == request


# -- hostile documents ------------------------------------------------------------------------


def assert_safe(page: Page) -> None:
    """Only the app's script; no handler attributes; no link leaves the app's paths."""
    scripts = page.find_all("script")
    assert [s.attrs.get("src") for s in scripts] == ["/static/app.js"]
    assert all(not s.text() for s in scripts)
    for node in page.root.walk():
        assert not [a for a in node.attrs if a.startswith("on")], node.attrs
        for name in ("href", "src", "action"):
            value = node.attrs.get(name)
            if value is not None:
                assert value.startswith("/"), (node.tag, value)
    assert page.find_all("img") == [] and page.find_all("b") == []


def test_hostile_text_is_text_in_every_context(site):
    page = site.page("/?q=cocoa&facet=places&facet=topics")
    assert_safe(page)
    hit = next(li for li in page.find_all("li", "hit") if li.attrs["data-id"] == HOSTILE_ID)
    assert hit.find("h2").text() == HOSTILE_TITLE
    assert "onerror=alert(1)" in hit.find("p", "snippet").text()
    assert [m.text().lower() for m in hit.find_all("mark")] == ["cocoa"] * len(hit.find_all("mark"))
    count, link = page.facet("places")[HOSTILE_PLACE]
    assert count == 1 and link.startswith("/?")
    filtered = site.page(link)
    assert_safe(filtered)
    assert filtered.hit_ids() == [HOSTILE_ID]
    assert f"places: {HOSTILE_PLACE}" in filtered.chips()
    doc = site.page(hit.find("h2").find("a").attrs["href"])
    assert_safe(doc)
    # Its metadata values link to the documents that share them, quotes and all.
    rows = {tr.find("th").text(): tr.find("td") for tr in doc.find("table", "meta").find_all("tr")}
    links = rows["places"].find_all("a")
    assert [a.text() for a in links] == [HOSTILE_PLACE, '"><b>x']
    for link in links:  # values only this document has
        assert site.page(link.attrs["href"]).hit_ids() == [HOSTILE_ID], link.text()
    assert doc.find("h1").text() == HOSTILE_TITLE
    assert HOSTILE_BODY in doc.find("div", "body").text()
    # A query that is itself hostile comes back as the box's value, and as text.
    evil = site.page("/?q=" + quote('"><script>alert(5)</script>'))
    assert_safe(evil)
    assert evil.find("input").attrs["value"] == '"><script>alert(5)</script>'


def test_every_answer_carries_the_security_headers(site):
    for path in (
        "/",
        "/?q=cocoa",
        "/doc/c01",
        "/api/search?q=cocoa",
        "/static/app.js",
        "/nowhere",
        "/api/doc/nosuch",
    ):
        _, headers, _ = site.get(path)
        assert headers["content-security-policy"] == CSP
        assert headers["x-content-type-options"] == "nosniff"
    assert "'unsafe-inline'" not in CSP and "script-src 'self'" in CSP


# -- safe by default --------------------------------------------------------------------------


def test_requests_for_another_host_are_refused(site):
    port = site.port
    assert site.get("/api/stats", host=f"127.0.0.1:{port}")[0] == 200
    assert site.get("/api/stats", host=f"localhost:{port}")[0] == 200
    for host in (
        f"attacker.example:{port}",
        "attacker.example",
        f"127.0.0.1:{port + 1}",
        f"localhost.attacker.example:{port}",
        "",
    ):
        status, _, body = site.get("/?q=cocoa", host=host)
        assert status == 403, host
        assert "cocoa" not in body


def test_ids_in_urls_never_reach_files(site):
    for path in (
        "/doc/..%2F..%2F..%2Fetc%2Fpasswd",
        "/doc/../../etc/passwd",
        "/api/doc/%2Fetc%2Fpasswd",
        "/static/..%2Fserver.py",
        "/static/../server.py",
        "/static/%2e%2e/server.py",
        "/doc/%ff%fe",
    ):
        status, _, body = site.get(path)
        assert status == 404, path
        assert "root:" not in body and "import" not in body


def test_nothing_can_be_written(site):
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        assert site.get("/api/search?q=cocoa", method=method)[0] == 405


def test_binding_elsewhere_warns_and_loopback_is_the_default():
    from searchkit.cli import serve_command

    host = next(p for p in serve_command.params if p.name == "host")
    assert host.default == "127.0.0.1"


# -- the document page ------------------------------------------------------------------------


def test_a_document_page_shows_it_in_full_with_similar_articles(site):
    index = site.server.index
    page = site.page("/doc/c02")
    assert page.find("h1").text() == "Cocoa harvest late"
    assert "Rain delayed the cocoa harvest." in page.find("div", "body").text()
    rows = {tr.find("th").text(): tr.find("td") for tr in page.find("table", "meta").find_all("tr")}
    assert rows["date"].text() == "2020-03-14"
    assert [a.text() for a in rows["places"].find_all("a")] == ["brazil", "ghana"]
    brazil = site.page(rows["places"].find_all("a")[0].attrs["href"])
    assert sorted(brazil.hit_ids()) == sorted(
        d.id for d in documents() if "brazil" in d.fields["places"]
    )
    similar = [a.attrs["href"] for a in page.find("section", "similar").find_all("a")]
    expected = [h.id for h in index.similar("c02", limit=8, fragments=0).hits]
    assert similar == ["/doc/" + quote(i, safe="") for i in expected] and expected


# -- the JSON API -----------------------------------------------------------------------------


def without_time(data: dict) -> dict:
    return {k: v for k, v in data.items() if k != "seconds"}


@pytest.mark.parametrize(
    ("query", "args"),
    [
        ("q=cocoa", ["cocoa"]),
        (
            "q=cocoa&facet=places&facet=year&where=places%3Dbrazil&where=places%3Dusa",
            [
                "cocoa",
                "--facet",
                "places",
                "--facet",
                "year",
                "--where",
                "places=brazil",
                "--where",
                "places=usa",
            ],
        ),
        (
            "q=cocoa&since=2020&until=2020-03&sort=-date&limit=2&page=2",
            [
                "cocoa",
                "--since",
                "2020",
                "--until",
                "2020-03",
                "--sort",
                "-date",
                "-n",
                "2",
                "--page",
                "2",
            ],
        ),
        ("q=cocao", ["cocao"]),
        ("q=cocoa+%28sugar", ["cocoa (sugar"]),
        ("q=nothingmatches", ["nothingmatches"]),
    ],
)
def test_api_search_is_what_search_format_json_prints(site, query, args):
    status, api = site.json(f"/api/search?{query}")
    assert status == 200
    result = run_cli("search", *args, "--format", "json", "--index", site.server.index.path)
    assert result.exit_code in (0, 1), result.output
    assert without_time(api) == without_time(json.loads(result.stdout))


def test_api_doc_similar_and_stats_are_what_the_cli_prints(site):
    path = site.server.index.path
    for api, args in (
        (f"/api/doc/{quote(HOSTILE_ID, safe='')}", ["show", HOSTILE_ID, "--format", "json"]),
        ("/api/similar/c02", ["similar", "c02", "--format", "json"]),
        ("/api/stats", ["stats", "--format", "json"]),
    ):
        status, data = site.json(api)
        cli = run_cli(*args, "--index", path)
        assert status == 200 and cli.exit_code == 0, cli.output
        assert without_time(data) == without_time(json.loads(cli.stdout))


@pytest.mark.parametrize(
    ("path", "status", "args"),
    [
        ("/api/search?q=cocoa&since=notadate", 400, ["search", "cocoa", "--since", "notadate"]),
        ("/api/search?q=title%3A&strict=1", 400, ["search", "title:", "--strict"]),
        ("/api/search?q=cocoa&where=nofield", 400, None),
        ("/api/search?q=cocoa&sort=sideways", 400, None),
        ("/api/search?q=cocoa&page=0", 400, None),
        ("/api/search?q=cocoa&limit=many", 400, None),
        ("/api/doc/nosuch", 404, None),
        ("/api/similar/nosuch", 404, ["similar", "nosuch"]),
        ("/api/nothing", 404, None),
    ],
)
def test_api_errors_are_json_with_the_cli_message_and_a_status(site, path, status, args):
    got, data = site.json(path)
    assert got == status
    assert data["error"]
    if args is not None:
        cli = run_cli(*args, "--index", site.server.index.path)
        assert cli.exit_code == 2
        assert cli.stderr == f"Error: {data['error']}\n"


def test_an_unexpected_failure_is_a_500_and_the_server_goes_on(site, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    with monkeypatch.context() as m:
        m.setattr(site.server.index, "search", broken)
        status, data = site.json("/api/search?q=cocoa")
        assert status == 500 and "a bug" not in data["error"]
    assert site.json("/api/search?q=cocoa")[0] == 200


def test_a_missing_index_is_503_and_the_page_says_why(tmp_path, serve):
    site = serve(Index(tmp_path / "absent"))
    status, data = site.json("/api/search?q=cocoa")
    assert status == 503 and "no index at" in data["error"]
    status, _, body = site.get("/?q=cocoa")
    assert status == 503 and "no index at" in Page(body).find("p", "error").text()
    assert site.get("/api/stats")[0] == 503
    assert site.get("/")[0] == 503


def test_a_bad_date_on_the_page_is_a_400_that_keeps_the_box(site):
    status, _, body = site.get("/?q=cocoa&since=notadate")
    page = Page(body)
    assert status == 400
    assert "cannot parse date 'notadate'" in page.find("p", "error").text()
    assert page.find("input").attrs["value"] == "cocoa"


# -- a live index -----------------------------------------------------------------------------


def test_new_commits_and_rebuilds_are_seen_without_a_restart(tmp_path, serve):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text("Cocoa one\nFirst cocoa story.\n", encoding="utf-8")
    writer = Index(tmp_path / "live")
    writer.update([corpus])
    site = serve(Index(tmp_path / "live"))
    assert site.page("/?q=cocoa").total() == 1
    (corpus / "b.txt").write_text("Cocoa two\nSecond cocoa story.\n", encoding="utf-8")
    writer.update([corpus])
    assert site.page("/?q=cocoa").total() == 2
    assert site.json("/api/search?q=cocoa")[1]["total"] == 2
    (corpus / "a.txt").unlink()
    writer.update([corpus], rebuild=True)
    assert site.page("/?q=cocoa").hit_ids() == ["b.txt"]
    assert site.get("/doc/a.txt")[0] == 404
    writer.close()
