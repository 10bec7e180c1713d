"""`Index.stats()`: the date span of the live documents, from the date columns (issue 12
found the sorted search it replaced took seconds on Reuters)."""

from __future__ import annotations

import random

from searchkit import Document, PartialDate


def test_the_date_span_is_the_live_documents_first_and_last_dates(build_index):
    rng = random.Random(7)
    dates = ["2019", "2019-06", "2020-03-14", "2021-01", "2018-12-31", "2022", None]
    docs = [
        Document(
            id=f"d{i}",
            title="news",
            body="word",
            date=PartialDate.parse(d) if (d := rng.choice(dates)) else None,
        )
        for i in range(40)
    ]
    ix = build_index(docs, segments=3)

    def expected(live):
        dated = [d for d in live if d.date is not None]
        first = min(dated, key=lambda d: d.date.start)
        last = max(dated, key=lambda d: d.date.start)
        return first.date.isoformat(), last.date.isoformat()

    stats = ix.stats()
    assert (stats.earliest, stats.latest) == expected(docs)
    # Deleting the first and the last dated documents moves the span inward.
    dated = sorted((d for d in docs if d.date), key=lambda d: d.date.start)
    gone = {d.id for d in dated if d.date.start in (dated[0].date.start, dated[-1].date.start)}
    ix.delete(sorted(gone))
    live = [d for d in docs if d.id not in gone]
    stats = ix.stats()
    assert (stats.earliest, stats.latest) == expected(live)
    assert expected(live) != expected(docs)  # the control: the span did move


def test_an_index_without_dates_has_no_span(build_index):
    ix = build_index([Document(id="a", title="t", body="b")])
    stats = ix.stats()
    assert (stats.earliest, stats.latest) == (None, None)
