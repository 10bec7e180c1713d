"""Progress that tells the truth at scale: a sync done in checkpoints reports one `indexing`
phase for the whole run, in documents, whose total is estimated from the input read so far
(shown `~`), so that the bar's rate (docs/s) and ETA hold for the run, not for one round."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from helpers import write_articles

from searchkit import Index
from searchkit.output import ProgressLine
from searchkit.planning import CHECKPOINT_ENV


def test_the_bar_shows_the_estimated_total_the_rate_and_the_eta():
    now = [0.0]
    line = ProgressLine(io.StringIO(), width=120, clock=lambda: now[0])
    line.update("indexing", 0, 0)
    now[0] = 10.0
    line.update("indexing", 500, 2_000)
    text = line.render(now[0])
    assert "500/~2,000" in text
    assert " 25%" in text
    assert "50 docs/s" in text
    assert "ETA 0:30" in text  # 1,500 more at 50 a second
    now[0] = 40.0
    line.update("indexing", 2_000, 2_000)
    assert "in 40.0s" in line.render(now[0], final=True)


def test_a_checkpointed_sync_reports_one_phase_for_the_whole_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    corpus = tmp_path / "corpus"
    write_articles(corpus / "a", 120, words=200)
    write_articles(corpus / "b", 120, start=200, words=200)
    monkeypatch.setenv(CHECKPOINT_ENV, "30000")  # about 20 articles a checkpoint
    calls: list[tuple[str, int, int]] = []
    with Index(tmp_path / "idx") as ix:
        report = ix.update([corpus], workers=1, progress=lambda *a: calls.append(a))
        commits = ix.stats().documents
    assert report.added == commits == 240

    assert {phase for phase, _, _ in calls} == {"indexing"}
    done = [d for _, d, _ in calls]
    assert done == sorted(done), "the count of documents written never goes back"
    assert done[-1] == 240
    assert calls[-1][2] == 240, "at the end the estimate is the count"
    # The total was known long before the end, and close: the ETA meant something.
    early = [(d, t) for _, d, t in calls if t and d <= 80]
    assert early, "no estimate in the first third of the run"
    assert all(200 <= t <= 280 for _, t in early), early
