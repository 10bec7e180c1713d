"""The project's own corpus/ holds a sample of every format, and each reads without a problem."""

from __future__ import annotations

import shutil
from pathlib import Path

from helpers import stored_documents

from searchkit import Index

CORPUS = Path(__file__).resolve().parents[1] / "corpus"

# id -> title, written from the samples by hand.
SAMPLES = {
    "world/lisbon-tram-strike.html": "Lisbon trams halted as drivers strike over night shifts",
    "culture/venice-biennale-lagoon-pavilion.html.gz": (
        "Venice Biennale opens with a pavilion built from lagoon mud"
    ),
    "sport/giro-stage-report": "Giro d'Italia: late attack wins the Blockhaus stage",
    "https://harbourdesk.example.org/2024/03/rotterdam-volumes": (
        "Rotterdam container volumes recover after winter slump"
    ),
    "https://harbourdesk.example.org/2024/03/lisbon-ferry-strike-ends": (
        "Ferry strike ends as Lisbon crews accept new rota"
    ),
    "harbourdesk-2024-0311-cod": "Cod quotas cut again in the Barents Sea",
    "tag:sciencedesk.example.org,2024:aletsch-retreat": (
        "Aletsch glacier retreat measured from space"
    ),
    "tag:sciencedesk.example.org,2024:ebro-flamingos": (
        "Flamingos nest in record numbers in the Ebro delta"
    ),
    "cafe-prices-2024-03-18@lisbonwire.example.org": (
        "Café prices rise in Lisbon for the first time in a decade"
    ),
    "tromso-ice-2024-03-20@nordwire.example.org": "Tromso harbour ice breaks up early",
    "feeds/newsroom.mbox#3": "Correction: Tromso harbour ice",
    "science/comet-observation-report.pdf": "Comet C/2025 K1 observation report",
}


def test_every_sample_of_the_corpus_reads_cleanly(tmp_path: Path):
    corpus = tmp_path / "corpus"
    shutil.copytree(CORPUS, corpus)
    with Index(tmp_path / "index") as index:
        report = index.update([corpus])
    assert report.problems == ()
    stored = stored_documents(tmp_path / "index")
    assert {doc_id: stored[doc_id]["title"] for doc_id in SAMPLES if doc_id in stored} == SAMPLES
    for doc_id, fields in stored.items():
        body = fields["body"]
        for markup in ("<p>", "</", "**", "](", "%PDF", "=?utf-8?", "Content-Type:"):
            assert markup not in body, (doc_id, markup)
