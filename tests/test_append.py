"""A JSON Lines file that only grew: a sync reads just its new lines, and nothing else shows it.

Every answer here is computed independently: `parse_file` on the whole file for the reader,
a fresh index of the same corpus for the indexer (same documents, same stored fields, same
manifest entries, same problems), and the ids before and after for the report's counts.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from helpers import stored_documents
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from searchkit import Document, Index
from searchkit import readers as readers_module
from searchkit import reading as reading_module
from searchkit.documents import ParseResult, Problem
from searchkit.manifest import MANIFEST_VERSION, Manifest
from searchkit.readers import parse_appended_lines, parse_file
from searchkit.store import IndexDirectory

#: Below this old size a sync always reads the whole file (the reader's binary-check sample).
APPEND_MINIMUM = 8192
_BOM = b"\xef\xbb\xbf"

# -- the reader: parse_appended_lines against parse_file --------------------------------------

ID_BASE = "feeds/wire.jsonl"
SHOWN = "corpus/feeds/wire.jsonl"


def whole(data: bytes, path: str = SHOWN) -> ParseResult:
    return parse_file(data, path=path, id_base=ID_BASE, folder="feeds")


def appended(data: bytes, old_size: int, path: str = SHOWN) -> ParseResult | None:
    return parse_appended_lines(data, old_size, path=path, id_base=ID_BASE, folder="feeds")


def filler(size: int, newline: str = "\n") -> str:
    """JSON Lines of exactly `size` characters (ASCII), ending with `newline`."""
    lines = []
    total = 0
    i = 0
    while size - total > 300:
        line = json.dumps({"id": f"fill-{i}", "title": f"Filler {i}", "body": "pad " * 40})
        lines.append(line + newline)
        total += len(lines[-1])
        i += 1
    last = json.dumps({"id": f"fill-{i}", "title": "Last filler", "body": ""})
    pad = size - total - len(last) - len(newline)
    assert pad >= 0
    last = json.dumps({"id": f"fill-{i}", "title": "Last filler", "body": "x" * pad})
    lines.append(last + newline)
    text = "".join(lines)
    assert len(text) == size
    return text


TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30) | st.sampled_from(
    [
        "",
        "   ",
        "Café crème à Zürich",
        "東京の株価が上昇",
        "emoji 🎉 and ß",
        "line\u2028separator and \x85 next-line",
        "controls \x00\x01\x1f\x7f escaped by json.dumps",
        "cr\rand\r\nlf\ninside a string",
    ]
)
IDS = st.sampled_from(["a", "b", " c ", "7", "x\x01y", f"{ID_BASE}#3", f"{ID_BASE}#40"]) | (
    st.integers(0, 3)
)
DATES = st.sampled_from(["2020-03-14", "1987-02", "not a date", 1584144000, "", None])
RECORDS = st.fixed_dictionaries(
    {},
    optional={
        "id": IDS,
        "title": TEXT,
        "body": TEXT,
        "date": DATES,
        "topics": st.lists(TEXT, max_size=3),
    },
)
ODD_LINES = st.sampled_from(
    [
        "",
        "   ",
        "\t",
        "{broken json",
        '{"id": "a", "title": ',
        "[1, 2]",
        '"just a string"',
        "42",
        "null",
        '{"title": "raw \x01 control and \x0b tab"}',  # _clean drops them: valid JSON after
        '{"title": {"nested": "dict"}, "body": ["para one", "para two"]}',
    ]
)
LINES = st.one_of(
    st.tuples(RECORDS, st.booleans()).map(lambda r: json.dumps(r[0], ensure_ascii=r[1])),
    ODD_LINES,
)
# Mostly LF; CRLF and a lone CR (which the reader also counts as a line break) now and then.
ENDINGS = st.sampled_from(["\n", "\n", "\n", "\r\n", "\r"])
NUMBERED_LINES = st.lists(st.tuples(LINES, ENDINGS), max_size=12)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    old_lines=NUMBERED_LINES,
    new_lines=NUMBERED_LINES.filter(bool),
    padding=st.integers(0, 600),
    bom=st.booleans(),
    filler_newline=st.sampled_from(["\n", "\r\n"]),
)
def test_appended_lines_read_as_the_whole_file_reads_them(
    old_lines, new_lines, padding, bom, filler_newline
):
    old = "".join(text + end for text, end in old_lines)
    if not old.endswith("\n"):
        old += "\n"  # the old part ends a line (after a lone CR this makes a CRLF)
    old_bytes = old.encode("utf-8")
    # Filler first, so the old part is just over the minimum, by `padding` bytes.
    size = max(APPEND_MINIMUM - len(old_bytes), 400) + padding
    prefix = (_BOM if bom else b"") + filler(size, filler_newline).encode("ascii") + old_bytes
    assert len(prefix) >= APPEND_MINIMUM
    data = prefix + "".join(text + end for text, end in new_lines).encode("utf-8")

    before, after = whole(prefix), whole(data)
    n_docs, n_problems = len(before.documents), len(before.problems)
    # The whole read is the old part's read followed by the new lines': split it there.
    assert after.documents[:n_docs] == before.documents
    assert after.problems[:n_problems] == before.problems
    expected = ParseResult(after.documents[n_docs:], after.problems[n_problems:])

    got = appended(data, len(prefix))
    assert got is not None, "valid new lines after a complete old part must not need a whole read"
    if got == expected:
        event("same as the whole read")
        return
    # The reader sees only the new lines, so it cannot name a duplicate of an old id the way a
    # whole read does; the indexer falls back to a whole read when a new line names an old id
    # (`claimed_ids`, documents or not). That fallback must be triggered whenever they differ.
    old_ids = {doc.id for doc in before.documents}
    assert got.claimed_ids & old_ids, (got, expected)
    event("differs, an old id makes the indexer read the whole file")


def _accepted_file(newline: str = "\n") -> tuple[bytes, bytes]:
    """(old part, new lines) that parse_appended_lines does read: the base of the refusals."""
    old = filler(APPEND_MINIMUM + 100, newline).encode()
    new = (json.dumps({"title": "Appended", "body": "new words"}) + newline).encode()
    return old, new


def test_the_accepted_base_case_gives_the_whole_reads_new_lines():
    old, new = _accepted_file()
    got = appended(old + new, len(old))
    after = whole(old + new)
    assert got is not None and got.documents == after.documents[-1:]
    # Its default id counts the lines before it, as the whole read does.
    line = old.count(b"\n") + 1
    assert got.documents[0].id == f"{ID_BASE}#{line}"


@pytest.mark.parametrize(
    "name, reads_tail",
    [
        ("wire.jsonl", True),
        ("wire.ndjson", True),
        ("WIRE.JSONL", True),
        ("wire.json", False),  # one JSON value, or JSON Lines: only the whole file tells
        ("wire.txt", False),
        ("wire.jsonl.bak", False),
        ("wire", False),
    ],
)
def test_only_json_lines_extensions_are_read_by_their_tail(name, reads_tail):
    old, new = _accepted_file()
    got = appended(old + new, len(old), path=f"corpus/{name}")
    assert (got is not None) == reads_tail


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_an_old_part_below_the_binary_sample_is_read_whole(newline):
    new = (json.dumps({"title": "Appended", "body": "new words"}) + newline).encode()
    short = filler(APPEND_MINIMUM - 1, newline).encode()
    long = filler(APPEND_MINIMUM, newline).encode()
    assert appended(short + new, len(short)) is None
    got = appended(long + new, len(long))
    assert got is not None and got.documents == whole(long + new).documents[-1:]


def test_an_old_end_that_is_not_a_line_end_is_read_whole():
    old, new = _accepted_file()
    # The old end one byte before its newline: the "new" bytes start with that newline.
    assert appended(old + new, len(old) - 1) is None
    # The old end after a lone CR: a line break for the reader, but a CRLF may be completing.
    cr = old[:-1] + b"\r"
    assert appended(cr + new, len(cr)) is None
    assert appended(cr + b"\n" + new, len(cr)) is None


def test_new_bytes_that_are_not_utf8_are_read_whole():
    old, _ = _accepted_file()
    latin1 = json.dumps({"title": "Café"}, ensure_ascii=False).encode("latin-1") + b"\n"
    utf8 = json.dumps({"title": "Café"}, ensure_ascii=False).encode("utf-8") + b"\n"
    assert appended(old + latin1, len(old)) is None
    assert whole(old + latin1).problems[0].reason.startswith("not valid UTF-8")
    got = appended(old + utf8, len(old))
    assert got is not None and got.documents[0].title == "Café"


def test_nothing_appended_is_read_whole():
    old, _ = _accepted_file()
    assert appended(old, len(old)) is None


# -- the indexer: a sync after an append equals a rebuild --------------------------------------


def story(i: int, **changes) -> dict:
    """Record `i` of the test feed; every 17th has no id (its id is `feed.jsonl#<line>`)."""
    record = {
        "title": f"Story {i:03d}",
        "body": f"harbour crane report {i}: " + "cargo ships wait offshore. " * 5,
        "date": f"2020-03-{i % 28 + 1:02d}",
        "topics": ["ships", f"t{i % 5}"],
    }
    if i % 17:
        record = {"id": f"s{i:03d}", **record}
    record.update(changes)
    return record


def lines(records, newline: str = "\n") -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + newline for r in records)


def feed(count: int, newline: str = "\n") -> str:
    """`count` stories with a malformed line, a duplicate id and a bad date among them."""
    text = lines((story(i) for i in range(10)), newline)
    text += "{broken json" + newline
    text += lines([story(3, title="A second story 003")], newline)  # duplicate id s003
    text += lines([story(10, date="the day after")], newline)  # unparseable date: a warning
    text += lines((story(i) for i in range(11, count)), newline)
    return text


def manifest_location(index_path: Path) -> tuple[str, int]:
    _, ix = IndexDirectory(index_path).open_current()
    return ix.storage.folder, ix.latest_generation()


def manifest(index_path: Path) -> Manifest:
    loaded = Manifest.load(*manifest_location(index_path))
    assert loaded is not None
    return loaded


def problem_list(problems) -> list[tuple[str, str, bool]]:
    return sorted((p.path, p.reason, p.skipped) for p in problems)


class JsonReads:
    """Counts the JSON objects the readers turn into documents, in every process."""

    def __init__(self, log: Path) -> None:
        self.log = log

    def reset(self) -> None:
        self.log.unlink(missing_ok=True)

    def pids(self) -> list[int]:
        return [int(x) for x in self.log.read_text().split()] if self.log.exists() else []

    def count(self) -> int:
        return len(self.pids())


@pytest.fixture
def json_reads(tmp_path, monkeypatch) -> JsonReads:
    reads = JsonReads(tmp_path / "json-reads.log")
    real = readers_module._Reader.json_document

    def counting(self, *args, **kwargs):
        # A file, not a counter: forked readers of a parallel sync count too.
        with open(reads.log, "a") as f:
            f.write(f"{os.getpid()}\n")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(readers_module._Reader, "json_document", counting)
    return reads


def object_lines(data: bytes) -> int:
    """How many lines of `data` are JSON objects (each costs one `json_document` call)."""
    text = data.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")
    count = 0
    for line in text.split("\n"):
        try:
            count += isinstance(json.loads(line), dict)
        except ValueError:
            pass
    return count


class Rebuilds:
    """Fresh indexes of a corpus, to compare a synced index with."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.built = 0

    def check(self, index_path: Path, corpus: Path, report, before: dict[str, dict]) -> None:
        """The index, its manifest and the sync's report are what a fresh build gives."""
        self.built += 1
        fresh_path = self.root / f"fresh-{self.built}"
        with Index(fresh_path) as fresh:
            fresh_report = fresh.update([corpus], workers=1)
        now, want = stored_documents(index_path), stored_documents(fresh_path)
        assert now == want
        assert manifest(index_path).files == manifest(fresh_path).files
        # The report, against the index before the sync and the rebuild after it.
        assert set(report.added_ids) == set(want) - set(before)
        assert set(report.deleted_ids) == set(before) - set(want)
        assert set(report.updated_ids) == {
            i for i in set(want) & set(before) if want[i] != before[i]
        }
        assert report.added == len(report.added_ids) and report.updated == len(report.updated_ids)
        assert report.deleted == len(report.deleted_ids)
        assert report.unchanged == len(want) - report.added - report.updated
        assert report.documents == fresh_report.documents == len(want)
        # Every file that changed reports its problems in full, as a rebuild reports them; the
        # other files of these corpora have none.
        assert problem_list(report.problems) == problem_list(fresh_report.problems)
        assert (report.skipped, report.warnings) == (fresh_report.skipped, fresh_report.warnings)


@pytest.fixture
def rebuilds(tmp_path) -> Rebuilds:
    return Rebuilds(tmp_path / "rebuilds")


def append(path: Path, data: str | bytes) -> bytes:
    data = data.encode("utf-8") if isinstance(data, str) else data
    with open(path, "ab") as f:
        f.write(data)
    return data


@pytest.mark.parametrize("workers", [1, 2])
def test_a_sync_after_appends_reads_only_new_lines_and_equals_a_rebuild(
    tmp_path, monkeypatch, json_reads, rebuilds, workers
):
    if workers > 1:
        # Read in a worker pool even though the corpus is small (the parent still decides).
        monkeypatch.setattr(reading_module, "PARALLEL_PARSE_THRESHOLD", 0)
    corpus = tmp_path / "corpus"
    (corpus / "notes").mkdir(parents=True)
    (corpus / "wires").mkdir()
    wire = corpus / "wires" / "feed.jsonl"  # in a folder: ids `wires/feed.jsonl#<line>`
    wire.write_text(feed(200), encoding="utf-8")
    other = corpus / "notes" / "other.txt"
    other.write_text("Harbour notes\nThe cranes were idle today.\n", encoding="utf-8")
    assert wire.stat().st_size >= APPEND_MINIMUM
    index_path = tmp_path / "index"

    with Index(index_path) as ix:
        first = ix.update([corpus], workers=workers)
        assert first.added == 201  # 202 lines: one malformed, one duplicate, plus other.txt
        assert {p.reason.split(" (")[0] for p in first.problems} == {
            "bad JSON",
            "duplicate id 's003'",
            "unparseable date 'the day after'",
        }

        # 20 records appended; other.txt touched, so that two files are read (in a pool).
        before = stored_documents(index_path)
        append(wire, lines(story(i) for i in range(200, 220)))
        os.utime(other, ns=(other.stat().st_atime_ns, other.stat().st_mtime_ns + 10**9))
        json_reads.reset()
        report = ix.update(workers=workers)
        assert (report.added, report.updated, report.deleted) == (20, 0, 0)
        assert report.changed_files == (str(wire),)
        assert json_reads.count() == 20, "the old 202 lines were parsed again"
        if workers > 1:
            assert set(json_reads.pids()) != {os.getpid()}, "the files were not read in a pool"
        json_reads.reset()
        rebuilds.check(index_path, corpus, report, before)

        # Appending again continues from the hash the append wrote: more odd lines this time.
        before = stored_documents(index_path)
        tail = append(
            wire,
            lines([story(220), story(223, date="soon")])
            + "\n   \n{still broken\n[1, 2]\n"
            + lines([story(223, title="Again 223"), story(222, title="", body="")])
            + lines([story(238)], "\r\n")  # no id: its default id counts the lines
            + "\r"
            + lines([story(255)]),
        )
        json_reads.reset()
        report = ix.update(workers=workers)
        assert json_reads.count() == object_lines(tail) == 6
        json_reads.reset()
        rebuilds.check(index_path, corpus, report, before)
        assert any(p.reason.startswith("duplicate id 's223'") for p in report.problems)

        # Nothing changed: nothing read, nothing written.
        json_reads.reset()
        report = ix.update(workers=workers)
        assert (report.added, report.updated, report.deleted) == (0, 0, 0)
        assert json_reads.count() == 0


BASE = feed(50)


def _replace(old: str, new: str):
    def change(path: Path) -> None:
        text = path.read_text(encoding="utf-8")
        assert text.count(old) == 1
        path.write_text(text.replace(old, new), encoding="utf-8")

    return change


def _appending(data: str | bytes):
    return lambda path: append(path, data)


def _rewriting(data: str):
    return lambda path: path.write_text(data, encoding="utf-8")


def _replacing(data: str):
    """The file replaced by a new one (a new inode), as an editor saves it."""

    def change(path: Path) -> None:
        new = path.with_name(".new-feed.jsonl")
        new.write_text(data, encoding="utf-8")
        os.replace(new, path)

    return change


def _crlf_feed() -> str:
    # Records without ids: every id is `feed.jsonl#<line>`, so line counting shows in the ids.
    text = lines(({k: v for k, v in story(i).items() if k != "id"} for i in range(20)), "\r\n")
    text += lines([{"title": "After a lone CR", "body": "cr"}], "\r")  # a lone CR ends a line
    text += "\r\n"  # and a blank line
    text += lines(({k: v for k, v in story(i).items() if k != "id"} for i in range(20, 40)), "\r\n")
    return text


def _crlf_tail() -> str:
    text = lines([{"title": "Appended one", "body": "x"}], "\r\n")
    text += lines([{"title": "Appended after CR", "body": "y"}], "\r")
    text += "\r\n\r\n"
    text += lines([{"title": "Appended last", "body": "z"}, story(700)], "\r\n")
    return text


#: name -> (the file at the first sync, how it changes, whether only its new lines are read)
SCENARIOS = {
    # A new record follows each reused id: with no document to write, the manifest is not
    # rewritten at all (test_a_file_that_changed_without_new_documents_is_not_read_again).
    "new line reuses an old id": (
        BASE,
        _appending(lines([story(7, title="Late copy"), story(906)])),
        False,
    ),
    "new line reuses an old default id": (
        BASE,
        _appending(lines([story(1001, id="feed.jsonl#1", title="Claims line 1"), story(907)])),
        False,
    ),
    "new bytes are not UTF-8": (
        BASE,
        _appending(json.dumps({"id": "n1", "title": "Café"}, ensure_ascii=False).encode("latin-1")),
        False,
    ),
    "old read decoded with a fallback": (
        BASE.encode() + lines([{"id": "old-latin", "title": "Gr\xfc\xdfe"}]).encode("latin-1"),
        _appending(lines([{"id": "n1", "title": "Café crème"}])),
        False,
    ),
    "old end inside a line": (
        BASE + '{"id": "cut", "title": "Half a',
        _appending(' record", "body": "completed later"}\n' + lines([story(900)])),
        False,
    ),
    "old end after a line without newline": (
        BASE.rstrip("\n"),
        _appending("\n" + lines([story(901)])),
        False,
    ),
    "a byte changed in the middle and the file grew": (
        BASE,
        lambda path: (_replace("Story 030", "Stery 030")(path), append(path, lines([story(902)]))),
        False,
    ),
    "CRLF lines and lone CRs": (_crlf_feed(), _appending(_crlf_tail()), True),
    "only blank and malformed lines appended": (BASE, _appending("\n  \n{bad\n[1]\n"), True),
    "shrunk": (BASE, _rewriting(feed(40)), False),
    "truncated and regrown": (
        BASE,
        _rewriting(feed(30) + lines(story(i) for i in range(500, 540))),
        False,
    ),
    "replaced by a new file with lines added": (
        BASE,
        _replacing(BASE + lines([story(903)])),
        True,
    ),
    "short file grows with a NUL byte": (
        lines(story(i) for i in range(3)),
        _appending("\0\n" + lines([story(904)])),
        False,
    ),
}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_a_sync_after_any_change_equals_a_rebuild(tmp_path, json_reads, rebuilds, scenario):
    initial, change, reads_tail = SCENARIOS[scenario]
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    wire = corpus / "feed.jsonl"
    wire.write_bytes(initial if isinstance(initial, bytes) else initial.encode("utf-8"))
    (corpus / "other.txt").write_text("Harbour notes\nThe cranes were idle.\n", encoding="utf-8")
    index_path = tmp_path / "index"
    with Index(index_path) as ix:
        ix.update([corpus], workers=1)
        before = stored_documents(index_path)
        old = wire.read_bytes()
        change(wire)
        json_reads.reset()
        report = ix.update(workers=1)
        read_by_sync = json_reads.count()
    rebuilds.check(index_path, corpus, report, before)
    data = wire.read_bytes()
    if reads_tail:
        assert len(old) >= APPEND_MINIMUM and data.startswith(old)
        assert read_by_sync == object_lines(data[len(old) :])
    else:
        json_reads.reset()
        whole(data)
        assert read_by_sync >= json_reads.count()  # at least a whole read


# -- known bugs: each test states the behaviour a rebuild has ---------------------------------


def _synced_then_changed(tmp_path, files: dict[str, str | bytes], changes) -> tuple:
    """A corpus of `files`, synced; `changes` applied; synced again: (index, corpus, report,
    stored documents before the second sync)."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name, data in files.items():
        (corpus / name).write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    index_path = tmp_path / "index"
    with Index(index_path) as ix:
        ix.update([corpus], workers=1)
        before = stored_documents(index_path)
        changes(corpus)
        report = ix.update(workers=1)
    return index_path, corpus, report, before


def test_an_empty_record_reusing_an_old_id_is_named_as_a_duplicate(tmp_path, rebuilds):
    def change(corpus):
        append(corpus / "feed.jsonl", lines([{"id": "s005", "title": ""}, story(908)]))

    index_path, corpus, report, before = _synced_then_changed(
        tmp_path, {"feed.jsonl": BASE}, change
    )
    rebuilds.check(index_path, corpus, report, before)


def test_a_bom_file_whose_new_bytes_fall_in_the_binary_sample_is_read_whole(tmp_path, rebuilds):
    old = _BOM + filler(APPEND_MINIMUM - len(_BOM)).encode()
    assert len(old) == APPEND_MINIMUM

    def change(corpus):
        append(corpus / "feed.jsonl", b"\0\n" + lines([story(909)]).encode())

    index_path, corpus, report, before = _synced_then_changed(tmp_path, {"feed.jsonl": old}, change)
    rebuilds.check(index_path, corpus, report, before)


def test_an_id_claimed_by_an_earlier_changed_file_goes_to_it_as_in_a_rebuild(tmp_path, rebuilds):
    def change(corpus):
        append(corpus / "a.jsonl", lines([story(7, title="Story 007 from a.jsonl")]))
        append(corpus / "feed.jsonl", lines([story(910)]))

    files = {
        "a.jsonl": lines([{"id": "a1", "title": "A one", "body": "first"}]),
        "feed.jsonl": BASE,
    }
    index_path, corpus, report, before = _synced_then_changed(tmp_path, files, change)
    rebuilds.check(index_path, corpus, report, before)


def test_a_file_that_changed_without_new_documents_is_not_read_again(tmp_path, json_reads):
    def change(corpus):
        append(corpus / "feed.jsonl", lines([story(7, title="Late copy")]))

    index_path, corpus, report, _ = _synced_then_changed(tmp_path, {"feed.jsonl": BASE}, change)
    assert report.changed_files == (str(corpus / "feed.jsonl"),)
    json_reads.reset()
    with Index(index_path) as ix:
        again = ix.update(workers=1)
    assert again.changed_files == ()
    assert json_reads.count() == 0


# -- the manifest format ----------------------------------------------------------------------


def test_a_version_1_manifest_loads_the_same_and_a_sync_converges(tmp_path, json_reads):
    corpus = tmp_path / "corpus"
    (corpus / "notes").mkdir(parents=True)
    wire = corpus / "feed.jsonl"
    wire.write_text(BASE, encoding="utf-8")
    (corpus / "notes" / "a.txt").write_text("Alpha\nfirst note\n", encoding="utf-8")
    (corpus / "b.txt").write_text("Bravo\nsecond note\n", encoding="utf-8")
    index_path = tmp_path / "index"
    with Index(index_path) as ix:
        ix.update([corpus], workers=1)
        ix.add([Document(id="api-1", title="From the API", body="typed in")])

    folder, generation = manifest_location(index_path)
    path = Path(folder, Manifest.filename(generation))
    assert json.loads(path.read_text())["version"] == MANIFEST_VERSION == 2
    current = Manifest.load(folder, generation)
    assert set(current.files) == {str(wire), str(corpus / "notes/a.txt"), str(corpus / "b.txt"), ""}
    assert current.files[str(wire)].problems  # the shape with problems is covered too
    # The shape version 1 wrote: one object per file, docs as [id, hash] pairs.
    v1 = {
        "version": 1,
        "files": {
            src: {
                "sig": e.signature,
                "docs": [[doc_id, h] for doc_id, h in e.docs.items()],
                "problems": [[p.path, p.reason, p.skipped] for p in e.problems],
            }
            for src, e in current.files.items()
        },
    }
    path.write_text(json.dumps(v1), encoding="utf-8")
    loaded = Manifest.load(folder, generation)
    assert loaded.files == current.files
    assert all(isinstance(p, Problem) for e in loaded.files.values() for p in e.problems)

    before = stored_documents(index_path)
    new = corpus / "notes" / "c.txt"
    new.write_text("Charlie\nthird note\n", encoding="utf-8")
    json_reads.reset()
    with Index(index_path) as ix:
        report = ix.update(workers=1)
    assert json_reads.count() == 0  # the feed was known from the version 1 manifest: not read
    assert report.added_ids == ("notes/c.txt",)
    assert (report.updated, report.deleted) == (0, 0)
    assert report.unchanged == len(before)
    assert report.changed_files == (str(new),)

    # Converged: what a fresh index of the corpus holds, plus the API document.
    with Index(tmp_path / "fresh") as fresh:
        fresh_report = fresh.update([corpus], workers=1)
    now = stored_documents(index_path)
    assert now.pop("api-1")["title"] == "From the API"
    assert now == stored_documents(tmp_path / "fresh")
    files = manifest(index_path).files
    assert files.pop("") == current.files[""]
    assert files == manifest(tmp_path / "fresh").files
    # An unchanged file repeats only its skipped problems; a rebuild reports them all.
    assert problem_list(report.problems) == problem_list(
        p for p in fresh_report.problems if p.skipped
    )
    folder, generation = manifest_location(index_path)
    raw = json.loads(Path(folder, Manifest.filename(generation)).read_text())
    assert raw["version"] == MANIFEST_VERSION
