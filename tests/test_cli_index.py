"""`searchkit index` and `searchkit stats` through click's CliRunner: output, errors, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import write_lock_held_elsewhere

from searchkit.cli import EXIT_ERROR, EXIT_LOCKED, cli, parse_size

ARTICLES = {
    "world/rome.txt": " date 2020-03-14 Rome sings from balconies. Neighbours sang together.\n",
    "world/milan.txt": " date 2020-04 Milan nurses work nights. Hospitals are full.\n",
    "business/cocoa.txt": " date 2019 Cocoa prices rise. Traders in Brazil watch the rain.\n",
}


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    root = tmp_path / "corpus"
    for rel, text in ARTICLES.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def run(runner: CliRunner, *args: str):
    return runner.invoke(cli, list(args), catch_exceptions=False)


def test_index_prints_a_summary_and_a_rerun_touches_nothing(runner, corpus, tmp_path):
    index = str(tmp_path / "idx")
    first = run(runner, "index", str(corpus), "--index", index)
    assert first.exit_code == 0, first.output
    assert "3 added, 0 updated, 0 deleted, 0 unchanged" in first.stderr
    again = run(runner, "index", "--index", index)
    assert again.exit_code == 0
    assert "0 added, 0 updated, 0 deleted, 3 unchanged" in again.stderr
    assert again.stdout == ""  # the summary is for people: stderr


def test_index_json_report_counts_and_names_problems(runner, corpus, tmp_path):
    (corpus / "broken.bin").write_bytes(b"\x00\x01\x02binary")
    result = run(runner, "index", str(corpus), "--index", str(tmp_path / "idx"), "--format", "json")
    assert result.exit_code == 0
    report = json.loads(result.stdout)
    assert report["added"] == 3
    assert report["skipped"] == 1
    assert [p["path"] for p in report["problems"]] == [str(corpus / "broken.bin")]
    assert "binary" in report["problems"][0]["reason"]
    assert f"skipped: {corpus / 'broken.bin'}: " in result.stderr


def test_dry_run_lists_changes_on_stdout(runner, corpus, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run(runner, "index", "corpus", "--index", "idx")
    (corpus / "world/rome.txt").unlink()
    (corpus / "world/paris.txt").write_text(" date 2021-01-02 Paris news.\n", encoding="utf-8")
    result = run(runner, "index", "--dry-run", "--index", "idx")
    assert result.exit_code == 0
    assert result.stdout.splitlines() == [
        "changed  corpus/world/paris.txt",
        "deleted  corpus/world/rome.txt",
    ]
    assert "would be 1 added, 0 updated, 1 deleted, 2 unchanged" in result.stderr


def test_quiet_prints_nothing(runner, corpus, tmp_path):
    result = run(runner, "index", str(corpus), "--index", str(tmp_path / "idx"), "--quiet")
    assert result.exit_code == 0
    assert result.output == ""


def test_missing_corpus_is_one_line_and_exit_2(runner, tmp_path):
    result = run(runner, "index", str(tmp_path / "nowhere"), "--index", str(tmp_path / "idx"))
    assert result.exit_code == EXIT_ERROR
    assert result.stderr == f"Error: corpus path not found: {tmp_path / 'nowhere'}\n"


def test_foreign_index_folder_is_one_line_and_exit_2(runner, corpus, tmp_path):
    foreign = tmp_path / "notes"
    foreign.mkdir()
    (foreign / "todo.txt").write_text("x")
    result = run(runner, "index", str(corpus), "--index", str(foreign))
    assert result.exit_code == EXIT_ERROR
    assert result.stderr.startswith(f"Error: {foreign} is not a searchkit index")
    assert len(result.stderr.splitlines()) == 1


def test_bad_option_values_are_usage_errors(runner, corpus, tmp_path):
    result = run(runner, "index", str(corpus), "--max-size", "lots")
    assert result.exit_code == 2
    assert "not a size: 'lots'" in result.stderr
    result = run(runner, "index", str(corpus), "--lock-timeout", "-1")
    assert result.exit_code == 2


def test_locked_index_has_its_own_exit_code(runner, corpus, tmp_path):
    index = tmp_path / "idx"
    run(runner, "index", str(corpus), "--index", str(index))
    with write_lock_held_elsewhere(index):
        result = run(runner, "index", "--index", str(index), "--lock-timeout", "0.2")
    assert result.exit_code == EXIT_LOCKED
    assert result.stderr.startswith(f"Error: index at {index} is locked by another writer")


def test_stats_text_and_json_agree_with_the_corpus(runner, corpus, tmp_path):
    index = str(tmp_path / "idx")
    run(runner, "index", str(corpus), "--index", index)
    result = run(runner, "stats", "--index", index, "--format", "json")
    assert result.exit_code == 0
    stats = json.loads(result.stdout)
    assert stats["documents"] == len(ARTICLES)
    # Dates keep their precision: from the year-only 2019 to the month-only April 2020.
    assert (stats["earliest"], stats["latest"]) == ("2019", "2020-04")
    folders = {rel.split("/")[0] for rel in ARTICLES}
    assert stats["fields"]["folder"] == len(folders)
    assert stats["fields"]["year"] == 2
    assert stats["roots"] == [str(corpus)]
    text = run(runner, "stats", "--index", index).stdout
    assert "documents   3" in text
    assert f"folder ({len(folders)})" in text


def test_stats_without_index_is_an_error(runner, tmp_path):
    result = run(runner, "stats", "--index", str(tmp_path / "none"))
    assert result.exit_code == EXIT_ERROR
    assert result.stderr.startswith(f"Error: no index at {tmp_path / 'none'}")


def test_stats_and_index_json_carry_the_version(runner, corpus, tmp_path):
    import importlib.metadata

    version = importlib.metadata.version("searchkit")
    index = str(tmp_path / "idx")
    report = json.loads(
        run(runner, "index", str(corpus), "--index", index, "--format", "json").stdout
    )
    assert report["version"] == version and report["added"] == 3
    assert (
        json.loads(run(runner, "stats", "--index", index, "--format", "json").stdout)["version"]
        == version
    )


def test_help_defaults_written_out_in_the_cli_are_the_librarys():
    from searchkit import cli as cli_module
    from searchkit.corpus import DEFAULT_MAX_FILE_SIZE
    from searchkit.schema import DATE_FACETS

    assert parse_size(cli_module.DEFAULT_MAX_SIZE) == DEFAULT_MAX_FILE_SIZE
    assert cli_module.DATE_FACETS == DATE_FACETS


def test_index_with_a_configured_corpus_needs_no_paths(runner, corpus, tmp_path, monkeypatch):
    config = tmp_path / "config.toml"
    config.write_text(f'corpus = ["{corpus / "world"}"]\n', encoding="utf-8")
    monkeypatch.setenv("SEARCHKIT_CONFIG", str(config))
    index = str(tmp_path / "idx")
    result = run(runner, "index", "--index", index, "--format", "json")
    assert json.loads(result.stdout)["added"] == 2  # world/ only
    stats = json.loads(run(runner, "stats", "--index", index, "--format", "json").stdout)
    assert stats["roots"] == [str(corpus / "world")]
