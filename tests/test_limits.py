"""Engine limits cost one file, not the run (issue 8, class 4): a document with too many
metadata fields, too many values, an absurd field name, an immense word or a huge stored value
is indexed within the limits, or reported, beside good files that index normally."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from searchkit import Document, Index
from searchkit.documents import (
    MAX_DOCUMENT_FIELDS,
    MAX_FIELD_NAME_LENGTH,
    MAX_FIELD_VALUES,
    MAX_FIELDS_ENV,
    MAX_INDEX_FIELDS,
    MAX_INDEX_FIELDS_ENV,
    limit_index_fields,
    max_document_fields,
    max_index_fields,
)
from searchkit.errors import InvalidValue
from searchkit.readers import parse_file

GOOD = [
    {"id": "good-1", "title": "Cocoa harvest", "body": "Rain in Bahia helped the cocoa crop."},
    {"id": "good-2", "title": "Coffee prices", "body": "Coffee rose in Sao Paulo trading."},
]


def corpus_with(tmp_path: Path, bad: dict) -> Path:
    folder = tmp_path / "corpus"
    folder.mkdir()
    for record in GOOD:
        (folder / f"{record['id']}.json").write_text(json.dumps(record))
    (folder / "bad.json").write_text(json.dumps(bad))
    return folder


def update(tmp_path: Path, folder: Path):
    index = Index(tmp_path / "ix")
    report = index.update([folder])
    return index, report


def problems_of(report, name: str) -> list[str]:
    return [p.reason for p in report.problems if Path(p.path.partition(":")[0]).name == name]


def assert_good_ones_indexed(index: Index) -> None:
    assert [h.id for h in index.search("cocoa").hits] == ["good-1"]
    assert [h.id for h in index.search("coffee").hits] == ["good-2"]


def test_a_document_with_66000_keys_keeps_the_first_fields_and_is_reported(tmp_path):
    keys = {f"k{i}": f"v{i}" for i in range(66_000)}
    folder = corpus_with(tmp_path, {"id": "bad", "title": "Many keys", "body": "wide"} | keys)
    index, report = update(tmp_path, folder)
    assert_good_ones_indexed(index)
    dropped = 66_000 - MAX_DOCUMENT_FIELDS
    assert problems_of(report, "bad.json") == [
        f"{dropped:,} of 66,000 metadata fields dropped: more than {MAX_DOCUMENT_FIELDS:,} "
        f"per document (${MAX_FIELDS_ENV} sets the limit)"
    ]
    kept = index.get("bad").fields
    expected = {f"k{i}": (f"v{i}",) for i in range(MAX_DOCUMENT_FIELDS)}
    assert {k: v for k, v in kept.items() if k != "folder"} == expected
    # The next run is not a crash either, and finds nothing to do.
    assert index.update([folder]).changed is False
    index.close()


def test_the_field_limit_can_be_set_by_environment_and_by_argument(monkeypatch):
    record = json.dumps({"id": "x", "title": "t"} | {f"k{i}": "v" for i in range(10)}).encode()

    def kept(**kwargs) -> int:
        (doc,) = parse_file(record, path="x.json", id_base="x.json", folder="", **kwargs).documents
        return len(doc.fields)

    assert kept() == 10
    assert kept(max_fields=4) == 4
    monkeypatch.setenv(MAX_FIELDS_ENV, "3")
    assert max_document_fields() == 3
    assert kept() == 3
    assert kept(max_fields=6) == 6
    monkeypatch.setenv(MAX_FIELDS_ENV, "lots")
    with pytest.raises(InvalidValue) as caught:
        max_document_fields()
    assert caught.value.name == MAX_FIELDS_ENV


def test_a_field_with_too_many_values_keeps_the_first_ones_and_is_reported(tmp_path):
    count = 20_000
    values = [f"tag{i}" for i in range(count)]
    folder = corpus_with(tmp_path, {"id": "bad", "title": "Many tags", "body": "x", "tags": values})
    index, report = update(tmp_path, folder)
    assert_good_ones_indexed(index)
    assert problems_of(report, "bad.json") == [
        f"{count - MAX_FIELD_VALUES:,} values of metadata field 'tags' dropped: "
        f"more than {MAX_FIELD_VALUES:,} per field"
    ]
    assert index.get("bad").fields["tags"] == tuple(values[:MAX_FIELD_VALUES])
    index.close()


def test_a_field_name_of_70000_characters_is_dropped_and_reported(tmp_path):
    name = "z" * 70_000
    bad = {"id": "bad", "title": "Long name", "body": "x", name: "v", "topic": "kept"}
    folder = corpus_with(tmp_path, bad)
    index, report = update(tmp_path, folder)
    assert_good_ones_indexed(index)
    (reason,) = problems_of(report, "bad.json")
    assert reason.startswith(
        f"1 metadata field(s) dropped: name longer than {MAX_FIELD_NAME_LENGTH} characters ('zzz"
    )
    assert len(reason) < 200
    assert dict(index.get("bad").fields) == {"topic": ("kept",)}
    index.close()


@pytest.mark.parametrize("where", ["body", "title", "field value", "id"])
def test_a_word_of_70000_characters_costs_nothing_else(tmp_path, where):
    # A guard, measured before writing it: Whoosh's term keys carry no 16-bit length, so an
    # immense word indexes; this keeps it so across Whoosh versions and schema changes.
    word = "\u00e9" * 70_000  # 140,000 bytes of UTF-8
    bad = {"id": "bad", "title": "Immense word", "body": "x"}
    if where == "field value":
        bad["tag"] = word
    elif where == "id":
        bad["id"] = word
    else:
        bad[where] = f"cocoa {word}" if where == "body" else word
    folder = corpus_with(tmp_path, bad)
    index, report = update(tmp_path, folder)
    assert report.added == 3
    assert problems_of(report, "bad.json") == []
    assert index.search("coffee").total == 1
    doc = index.get(bad["id"])
    if where == "field value":
        assert doc.fields["tag"] == (word[:200],)  # metadata values are cut at 200 characters
    elif where in ("body", "title"):
        assert getattr(doc, where) == bad[where]
    index.optimize()  # a merge reads every term again
    assert index.search("coffee").total == 1
    index.close()


def test_a_huge_stored_body_costs_nothing_else(tmp_path):
    # A guard: stored fields are pickled with 32-bit lengths; 10 MB is well inside them and
    # under the default 100 MB file limit.
    body = "cocoa " + "x" * 10_000_000
    folder = corpus_with(tmp_path, {"id": "bad", "title": "Huge", "body": body})
    index, report = update(tmp_path, folder)
    assert report.added == 3
    assert len(index.get("bad").body) == len(body)
    assert sorted(h.id for h in index.search("cocoa", fragments=0).hits) == ["bad", "good-1"]
    index.close()


def test_an_index_takes_new_fields_until_its_limit_then_drops_them_with_a_warning():
    known = {"topics", "places"}
    first = Document(id="a", path="a.json", fields={"topics": ("x",), "people": ("y",)})
    kept, problem = limit_index_fields(first, known, 4)
    assert (kept, problem, known) == (first, None, {"topics", "places", "people"})
    fields = {"places": ("p",), "orgs": ("o",), "title": ("t",), "exchanges": ("e",), "x": ()}
    second = Document(id="b", path="b.json", fields=fields)
    kept, problem = limit_index_fields(second, known, 4)
    # `places` is known, `orgs` fills the last place, `title` is reserved (never its own
    # field): `exchanges` and `x` have no room.
    assert dict(kept.fields) == {"places": ("p",), "orgs": ("o",), "title": ("t",)}
    assert (kept.id, kept.path) == ("b", "b.json")
    assert known == {"topics", "places", "people", "orgs"}
    assert problem.path == "b.json" and problem.skipped is False
    assert problem.reason == (
        "2 metadata field(s) dropped (['exchanges', 'x']): the index already holds 4 fields "
        f"(${MAX_INDEX_FIELDS_ENV} sets the limit)"
    )


def test_the_index_field_limit_can_be_set_by_environment(monkeypatch):
    assert max_index_fields() == MAX_INDEX_FIELDS
    monkeypatch.setenv(MAX_INDEX_FIELDS_ENV, "12")
    assert max_index_fields() == 12
    monkeypatch.setenv(MAX_INDEX_FIELDS_ENV, "0")
    with pytest.raises(InvalidValue):
        max_index_fields()


def test_fields_past_the_index_limit_cost_those_fields_not_the_run(tmp_path, monkeypatch):
    monkeypatch.setenv(MAX_INDEX_FIELDS_ENV, "5")
    folder = tmp_path / "corpus"
    folder.mkdir()
    for n in range(3):
        record = {"id": f"d{n}", "title": "Cocoa", "body": "cocoa"}
        record |= {f"f{n}{k}": "v" for k in range(3)}
        (folder / f"d{n}.json").write_text(json.dumps(record))
    index, report = update(tmp_path, folder)
    # `folder` is not set at the root; d0 brings 3 fields, d1 the 2 left, d2 none.
    assert index.search("cocoa").total == 3
    assert dict(index.get("d1").fields) == {"f10": ("v",), "f11": ("v",)}
    assert dict(index.get("d2").fields) == {}
    assert [p.reason.partition(" (")[0] for p in report.problems] == [
        "1 metadata field(s) dropped",
        "3 metadata field(s) dropped",
    ]
    index.close()


def test_a_text_whose_only_word_folds_to_a_stop_word_costs_nothing_else(tmp_path):
    # Found by the hostile-files fuzz: "ÌN" folds to the stop word "in", so the body has no
    # index terms but one spelling word, which Whoosh's add_document does not survive
    # (its spelling loop reads `vbytes`, set only by the term loop): the whole run fails.
    folder = corpus_with(tmp_path, {"id": "bad", "title": "\u00ccN", "body": "\u00ccN"})
    index, report = update(tmp_path, folder)
    assert_good_ones_indexed(index)
    index.close()
