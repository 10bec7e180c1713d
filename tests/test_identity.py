"""Identity (issue 8, class 2): which source a document id belongs to, across runs.

- Two sources claim one id: the first in corpus order wins, the other is reported. When the
  winner gives the id up (deleted, or rewritten without it), the other claim becomes the live
  document on the next run, as a rebuild would have it, and the warning stops naming the winner.
- Documents added through `Index.add()` are the index's own: `--rebuild` (also the rebuild a
  corrupt index's hint recommends) keeps them, and `Index.delete()` removes them for good.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from click.testing import CliRunner

from searchkit import Document, Index
from searchkit.cli import cli


def write_records(path: Path, *records: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")


def stored(index: Path) -> dict[str, tuple[str, str]]:
    """id -> (title, path) of every stored document."""
    with Index(index) as ix:
        return {d.id: (d.title, d.path) for d in ix.documents()}


def rebuilt(corpus: Path, tmp_path: Path) -> dict[str, tuple[str, str]]:
    """What a fresh index of the corpus holds: the reference every incremental run must equal."""
    fresh = tmp_path / "fresh-index"
    with Index(fresh) as ix:
        ix.update([corpus])
    return stored(fresh)


def test_the_losing_claim_takes_over_when_the_winner_disappears(tmp_path: Path) -> None:
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    write_records(corpus / "a.jsonl", {"id": "story-1", "title": "First telling"})
    write_records(
        corpus / "b.jsonl",
        {"id": "story-1", "title": "Second telling"},
        {"id": "story-2", "title": "Other story"},
    )
    runner = CliRunner()
    first = runner.invoke(cli, ["index", str(corpus), "--index", str(index)])
    assert first.exit_code == 0, first.output
    assert stored(index)["story-1"][0] == "First telling"
    assert "duplicate id 'story-1'" in first.stderr

    (corpus / "a.jsonl").unlink()
    second = runner.invoke(cli, ["index", "--index", str(index)])
    assert second.exit_code == 0, second.output
    docs = stored(index)
    assert docs["story-1"] == ("Second telling", str(corpus / "b.jsonl"))
    assert docs == rebuilt(corpus, tmp_path)
    # No warning keeps naming the deleted file.
    third = runner.invoke(cli, ["index", "--index", str(index)])
    assert "a.jsonl" not in third.stderr
    assert "duplicate" not in third.stderr


def test_the_losing_claim_takes_over_when_the_winner_drops_the_id(tmp_path: Path) -> None:
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    write_records(corpus / "a.jsonl", {"id": "story-1", "title": "First telling"})
    write_records(corpus / "b.jsonl", {"id": "story-1", "title": "Second telling"})
    with Index(index) as ix:
        ix.update([corpus])
        assert ix.get("story-1").title == "First telling"
        write_records(corpus / "a.jsonl", {"id": "story-9", "title": "Renamed"})
        ix.update()
    docs = stored(index)
    assert docs["story-1"][0] == "Second telling"
    assert docs == rebuilt(corpus, tmp_path)


def test_a_chain_of_claims_settles_as_a_rebuild_would(tmp_path: Path) -> None:
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    for name in "abcd":
        write_records(corpus / f"{name}.jsonl", {"id": "shared", "title": f"From {name}"})
    with Index(index) as ix:
        ix.update([corpus])
        for gone in "abc":
            (corpus / f"{gone}.jsonl").unlink()
            ix.update()
            assert stored(index) == rebuilt(corpus, tmp_path / gone)


def test_documents_added_through_the_api_survive_a_rebuild(tmp_path: Path) -> None:
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    write_records(corpus / "wire.jsonl", {"id": "wire-1", "title": "From the wire"})
    note = Document(id="note-1", title="A note", body="Added by hand.", fields={"tags": ("x",)})
    gone = Document(id="note-2", title="Deleted note", body="Soon gone.")
    with Index(index) as ix:
        ix.update([corpus])
        ix.add([note, gone])
        ix.delete(["note-2"])
    run = CliRunner().invoke(cli, ["index", "--rebuild", "--index", str(index)])
    assert run.exit_code == 0, run.output
    with Index(index) as ix:
        assert {d.id for d in ix.documents()} == {"wire-1", "note-1"}
        kept = ix.get("note-1")
        assert (kept.title, kept.body, kept.fields.get("tags")) == (
            "A note",
            "Added by hand.",
            ("x",),
        )
        assert ix.search("hand").total == 1


def test_documents_added_through_the_api_survive_the_repair_of_a_corrupt_index(
    tmp_path: Path,
) -> None:
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    write_records(corpus / "wire.jsonl", {"id": "wire-1", "title": "From the wire"})
    with Index(index) as ix:
        ix.update([corpus])
        ix.add([Document(id="note-1", title="A note", body="Added by hand.")])
    # Damage the live generation's table of contents, as test_boundaries does.
    generation = max(p for p in index.iterdir() if p.name.startswith("gen-"))
    toc = next(p for p in generation.iterdir() if p.name.endswith(".toc"))
    toc.write_bytes(toc.read_bytes()[:10])
    broken = CliRunner().invoke(cli, ["search", "note", "--index", str(index)])
    assert broken.exit_code == 2 and "--rebuild" in broken.stderr, broken.output
    repair = CliRunner().invoke(cli, ["index", "--rebuild", "--index", str(index)])
    assert repair.exit_code == 0, repair.output
    assert set(stored(index)) == {"wire-1", "note-1"}


def test_an_api_document_replacing_a_file_document_keeps_replacing_it(tmp_path: Path) -> None:
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    write_records(corpus / "wire.jsonl", {"id": "wire-1", "title": "From the wire"})
    with Index(index) as ix:
        ix.update([corpus])
        ix.add([Document(id="wire-1", title="Corrected by hand")])
        ix.update(rebuild=True)
        assert ix.get("wire-1").title == "Corrected by hand"
        os.utime(corpus / "wire.jsonl", ns=(1, 1))  # touched: re-read, still loses
        ix.update()
        assert ix.get("wire-1").title == "Corrected by hand"


def test_a_touched_losing_file_keeps_its_claim(tmp_path: Path) -> None:
    """A stat change without new bytes (a touch) must not make a file forget an id it lost."""
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    write_records(corpus / "a.jsonl", {"id": "X", "title": "From a"})
    write_records(corpus / "b.jsonl", {"id": "X", "title": "From b"})
    with Index(index) as ix:
        ix.update([corpus])
        os.utime(corpus / "b.jsonl", ns=(10**18, 10**18))
        assert ix.update().unchanged == 1
        (corpus / "a.jsonl").unlink()
        ix.update()
    assert stored(index) == rebuilt(corpus, tmp_path) == {"X": ("From b", str(corpus / "b.jsonl"))}


def test_a_rebuild_with_paths_keeps_the_other_recorded_roots(tmp_path: Path) -> None:
    news, wire, index = tmp_path / "news", tmp_path / "wire", tmp_path / "index"
    write_records(news / "n.jsonl", {"id": "n1", "title": "News"})
    write_records(wire / "w.jsonl", {"id": "w1", "title": "Wire"})
    with Index(index) as ix:
        ix.update([news, wire])
        ix.update([news], rebuild=True)
        assert {d.id for d in ix.documents()} == {"n1", "w1"}
        assert set(ix.stats().roots) == {str(news), str(wire)}


def test_a_journal_line_cut_short_does_not_swallow_the_next_add(
    tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)  # a rebuild without roots reads ./corpus: there is none here
    (tmp_path / "corpus").mkdir()
    index = tmp_path / "index"
    with Index(index) as ix:
        ix.add([Document(id="a", title="First")])
        with open(index / "api-documents.jsonl", "a", encoding="utf-8") as f:
            f.write('{"op": "add", "id": "zz", "tit')  # a crash in the middle of an append
        ix.add([Document(id="b", title="Second")])
        report = ix.update(rebuild=True)
        assert not report.problems, report.problems
        assert {d.id for d in ix.documents()} == {"a", "b"}


def test_forget_on_a_missing_index_creates_nothing(tmp_path: Path) -> None:
    run = CliRunner().invoke(cli, ["forget", str(tmp_path), "--index", str(tmp_path / "none")])
    assert run.exit_code == 2 and "no index" in run.stderr, run.output
    assert not (tmp_path / "none").exists()
