"""`Document` checks what a caller gives it: a wrong value raises `InvalidValue` naming the field,
and nothing reaches the index (issue 8, class 3)."""

from __future__ import annotations

from datetime import date, datetime, timezone
from types import MappingProxyType

import pytest

from searchkit import Document, Index
from searchkit.dates import PartialDate
from searchkit.documents import ENGINE_FIELD_LIMIT
from searchkit.errors import InvalidValue, SearchkitError


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"id": None}, "id"),
        ({"id": ""}, "id"),
        ({"id": 7}, "id"),
        ({"id": b"x1"}, "id"),
        ({"id": "x\ud800"}, "id"),
        ({"id": "x", "title": None}, "title"),
        ({"id": "x", "body": ["para"]}, "body"),
        ({"id": "x", "path": 3}, "path"),
        ({"id": "x", "date": "2020-03-14"}, "date"),
        ({"id": "x", "date": 2020}, "date"),
        ({"id": "x", "fields": "cocoa"}, "fields"),
        ({"id": "x", "fields": [("topics", ("cocoa",))]}, "fields"),
        ({"id": "x", "fields": {"topics": "cocoa"}}, "fields['topics']"),
        ({"id": "x", "fields": {"topics": b"cocoa"}}, "fields['topics']"),
        ({"id": "x", "fields": {"topics": {"cocoa"}}}, "fields['topics']"),
        ({"id": "x", "fields": {"topics": None}}, "fields['topics']"),
        ({"id": "x", "fields": {"topics": ("cocoa", 3)}}, "fields['topics']"),
        ({"id": "x", "fields": {"topics": ("a\udc80",)}}, "fields['topics']"),
        ({"id": "x", "fields": {None: ("cocoa",)}}, "fields"),
        ({"id": "x", "fields": {"": ("cocoa",)}}, "fields"),
        ({"id": "x", "fields": {5: ("cocoa",)}}, "fields"),
    ],
)
def test_a_wrong_value_raises_invalid_value_naming_the_field(arguments, field):
    with pytest.raises(InvalidValue) as caught:
        Document(**arguments)
    assert caught.value.name == field
    assert isinstance(caught.value, SearchkitError)
    assert str(caught.value).startswith(f"{field}: ")


def test_a_bare_string_of_values_is_refused_with_a_hint_not_split_into_letters():
    with pytest.raises(InvalidValue, match=r"\('cocoa',\)"):
        Document(id="x", fields={"topics": "cocoa"})


def test_any_sequence_of_strings_is_kept_as_a_tuple():
    doc = Document(id="x", fields={"topics": ["cocoa", "coffee"], "places": ("brazil",)})
    assert doc.fields == {"topics": ("cocoa", "coffee"), "places": ("brazil",)}
    assert all(type(v) is tuple for v in doc.fields.values())
    # A mapping that is already well formed is kept as given, not copied.
    fields = MappingProxyType({"topics": ("cocoa",)})
    assert Document(id="x", fields=fields).fields is fields


def test_a_date_or_datetime_becomes_a_partial_date():
    assert Document(id="x", date=date(2020, 3, 14)).date == PartialDate.parse("2020-03-14")
    moment = datetime(2020, 3, 14, 9, 30, tzinfo=timezone.utc)
    assert Document(id="x", date=moment).date == PartialDate.from_datetime(moment)


def test_more_fields_than_an_index_can_hold_are_refused():
    fields = {f"k{i}": ("v",) for i in range(ENGINE_FIELD_LIMIT + 1)}
    with pytest.raises(InvalidValue) as caught:
        Document(id="x", fields=fields)
    assert caught.value.name == "fields"


def _all_ids(index: Index) -> list[str]:
    return sorted(hit.id for hit in index.search("*", limit=100, fragments=0).hits)


def test_an_invalid_document_given_to_add_writes_nothing(tmp_path):
    index = Index(tmp_path / "ix")
    index.add([Document(id="kept", title="Cocoa harvest", body="Rain in Bahia")])
    before = index.stats()

    def documents():
        yield Document(id="new", title="Cocoa prices", body="Cocoa rose")
        yield Document(id=None, title="Cocoa broken", body="Cocoa without an id")

    with pytest.raises(InvalidValue, match="^id: "):
        index.add(documents())
    after = index.stats()
    assert (after.documents, after.generation) == (before.documents, before.generation)
    assert _all_ids(index) == ["kept"]
    # Every search that hits the index still works (an id of None broke them all).
    assert [hit.id for hit in index.search("cocoa").hits] == ["kept"]
    index.close()


def test_fields_given_as_a_bare_string_never_reach_the_index_as_letters(tmp_path):
    index = Index(tmp_path / "ix")
    with pytest.raises(InvalidValue):
        index.add([Document(id="x", title="Cocoa", body="b", fields={"topics": "cocoa"})])
    assert not index.exists() or index.search("topics:c").total == 0
    index.close()


@pytest.fixture
def two_documents(tmp_path):
    index = Index(tmp_path / "ix")
    index.add(
        [
            Document(id="a", title="Cocoa", body="cocoa", fields={"topics": ("cocoa",)}),
            Document(id="b", title="Coffee", body="cocoa and coffee"),
        ]
    )
    yield index
    index.close()


def test_delete_given_one_string_raises_instead_of_deleting_its_letters(two_documents):
    # Today delete("ab") deletes the documents "a" and "b".
    with pytest.raises(InvalidValue):
        two_documents.delete("ab")
    assert _all_ids(two_documents) == ["a", "b"]


@pytest.mark.parametrize("ids", [[None], [3], [""]])
def test_delete_given_an_id_that_is_not_a_string_raises(two_documents, ids):
    with pytest.raises(InvalidValue):
        two_documents.delete(ids)


def test_add_given_one_document_raises_invalid_value(two_documents):
    with pytest.raises(InvalidValue):
        two_documents.add(Document(id="c", body="x"))


@pytest.mark.parametrize("method", ["get", "similar"])
def test_get_and_similar_given_none_raise_invalid_value(two_documents, method):
    with pytest.raises(InvalidValue):
        getattr(two_documents, method)(None)


@pytest.mark.parametrize("where", [{"topics": None}, {"topics": [None]}, {None: ["cocoa"]}])
def test_a_where_value_of_none_raises_invalid_value(two_documents, where):
    with pytest.raises(InvalidValue):
        two_documents.search("cocoa", where=where)
