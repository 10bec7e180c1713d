"""Per-user settings (searchkit/config.py) and `searchkit config`: where the file is, what
overrides what, bad files as one line naming the file and line, and working from anywhere."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from searchkit import Document, Index
from searchkit.cli import EXIT_ERROR, cli
from searchkit.config import ConfigError, config_path, load_settings


@pytest.fixture(autouse=True)
def own_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The configuration file of these tests (not written yet), nothing from the person's.
    ($SEARCHKIT_INDEX stays pointed into the test's folder unless a test removes it.)"""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    for name in (
        "SEARCHKIT_CONFIG",
        "SEARCHKIT_PAGER",
        "PAGER",
        "NO_COLOR",
        "FORCE_COLOR",
    ):
        monkeypatch.delenv(name, raising=False)
    return tmp_path / "xdg" / "searchkit" / "config.toml"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def run(*args: str, env: dict | None = None):
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


# -- where the file is -----------------------------------------------------------------------


def test_the_file_follows_xdg_then_home(tmp_path, monkeypatch):
    assert config_path() == (str(tmp_path / "xdg" / "searchkit" / "config.toml"), False)
    # A relative $XDG_CONFIG_HOME is invalid (XDG specification): ignored.
    monkeypatch.setenv("XDG_CONFIG_HOME", "relative")
    home_file = tmp_path / "home" / ".config" / "searchkit" / "config.toml"
    assert config_path() == (str(home_file), False)
    monkeypatch.delenv("XDG_CONFIG_HOME")
    assert config_path() == (str(home_file), False)
    monkeypatch.setenv("SEARCHKIT_CONFIG", str(tmp_path / "other.toml"))
    assert config_path() == (str(tmp_path / "other.toml"), True)


def test_no_file_gives_the_defaults(monkeypatch):
    monkeypatch.delenv("SEARCHKIT_INDEX")
    settings = load_settings()
    assert not settings.loaded
    assert {name: (s.value, s.source) for name, s in settings.values.items()} == {
        "index": ("index", "default"),
        "corpus": ((), "default"),
        "format": ("text", "default"),
        "color": ("auto", "default"),
        "pager": ("less -FRX", "default"),
        "limit": (10, "default"),
        "sort": ("relevance", "default"),
        "fragments": (1, "default"),
        "opensearch": (None, "default"),
        "index_name": (None, "default"),
    }


# -- what overrides what ---------------------------------------------------------------------


def test_file_values_with_their_lines_and_paths_relative_to_the_file(
    own_settings, tmp_path, monkeypatch
):
    monkeypatch.delenv("SEARCHKIT_INDEX")
    write(
        own_settings,
        "# mine\n"
        'index = "news/index"\n'
        'corpus = ["~/articles", "/srv/feeds"]\n'
        "limit = 25\n"
        "pager = false\n"
        'sort = "-date"\n',
    )
    settings = load_settings()
    assert settings.loaded
    assert settings["index"] == str(own_settings.parent / "news" / "index")
    assert settings["corpus"] == (str(tmp_path / "home" / "articles"), "/srv/feeds")
    assert (settings["limit"], settings["pager"], settings["sort"]) == (25, "", "-date")
    assert settings.values["limit"].source == "file"
    assert settings.values["limit"].origin == f"{own_settings}:4"
    assert settings.values["format"].source == "default"


def test_environment_overrides_the_file_and_options_override_both(own_settings, monkeypatch):
    write(own_settings, 'index = "/from/file"\npager = "more"\n')
    monkeypatch.setenv("SEARCHKIT_INDEX", "/from/env")
    monkeypatch.setenv("SEARCHKIT_PAGER", "most")
    settings = load_settings()
    assert (settings["index"], settings.values["index"].origin) == ("/from/env", "$SEARCHKIT_INDEX")
    assert (settings["pager"], settings.values["pager"].origin) == ("most", "$SEARCHKIT_PAGER")
    given = settings.with_option("index", "/from/option", "--index")
    assert given.values["index"].source == "option" and given["index"] == "/from/option"
    assert settings.with_option("index", None, "--index") is settings


def test_general_conventions_sit_below_the_file(own_settings, monkeypatch):
    # $PAGER below a configured pager (git); $NO_COLOR below configured colour (no-color.org).
    monkeypatch.setenv("PAGER", "more")
    monkeypatch.setenv("NO_COLOR", "1")
    settings = load_settings()
    assert (settings["pager"], settings.values["pager"].origin) == ("more", "$PAGER")
    assert (settings["color"], settings.values["color"].origin) == ("never", "$NO_COLOR")
    monkeypatch.setenv("FORCE_COLOR", "1")
    assert load_settings()["color"] == "always"
    write(own_settings, 'pager = "less"\ncolor = "auto"\n')
    settings = load_settings()
    assert settings.values["pager"].source == settings.values["color"].source == "file"
    assert (settings["pager"], settings["color"]) == ("less", "auto")


# -- bad files -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, line, reason",
    [
        ('index = "a"\nlimit = \n', 2, "not valid TOML: Invalid value"),
        ('index = "a"\n\ncolour = "never"\n', 3, "unknown setting 'colour' (settings: index, "),
        ("limit = 0\n", 1, "limit must be a whole number of 1 or more, not 0"),
        ("fragments = true\n", 1, "fragments must be a whole number of 0 or more, not True"),
        ('format = "yaml"\n', 1, "format must be one of text, json, jsonl, not 'yaml'"),
        ("corpus = []\n", 1, "corpus must be a path or a list of paths, not []"),
        ('limit = 5\n[output]\ncolor = "never"\n', 2, "unknown setting 'output'"),
    ],
)
def test_a_bad_file_is_one_line_naming_file_and_line(own_settings, text, line, reason):
    write(own_settings, text)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert caught.value.line == line
    result = run("search", "x")
    assert result.exit_code == EXIT_ERROR
    [message] = result.stderr.splitlines()
    assert message.startswith(f"Error: configuration file {own_settings}:{line}: {reason}")


def test_a_named_file_must_exist_and_be_text(tmp_path, monkeypatch):
    monkeypatch.setenv("SEARCHKIT_CONFIG", str(tmp_path / "missing.toml"))
    result = run("config")
    assert result.exit_code == EXIT_ERROR
    assert result.stderr == (
        f"Error: configuration file {tmp_path / 'missing.toml'}: No such file or directory\n"
    )
    bad = tmp_path / "latin1.toml"
    bad.write_bytes(b'index = "a"\nsort = "d\xe9"\n')
    monkeypatch.setenv("SEARCHKIT_CONFIG", str(bad))
    assert run("config").stderr == f"Error: configuration file {bad}:2: not UTF-8 text\n"


def test_version_and_help_never_read_the_file(own_settings):
    write(own_settings, "limit = \n")
    assert run("--version").exit_code == 0
    assert run("--help").exit_code == 0
    assert run("search", "--help").exit_code == 0
    result = run("stats")
    assert result.exit_code == EXIT_ERROR
    assert result.stderr.startswith(f"Error: configuration file {own_settings}:1: not valid TOML")


# -- searchkit config ------------------------------------------------------------------------


def test_config_command_prints_values_and_sources(own_settings, monkeypatch):
    write(own_settings, "limit = 20\ncolor = 'never'\n")
    monkeypatch.setenv("SEARCHKIT_INDEX", "/env/index")
    result = run("config")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0] == f"# {own_settings}"
    rows = {line.split()[0]: line.split(None, 1)[1] for line in lines[1:]}
    assert rows["limit"].split() == ["20", "file", f"{own_settings}:1"]
    assert rows["color"].split() == ["never", "file", f"{own_settings}:2"]
    assert rows["index"].split() == ["/env/index", "env", "$SEARCHKIT_INDEX"]
    assert rows["sort"].split() == ["relevance", "default"]
    assert rows["corpus"].split()[-1] == "default"
    data = json.loads(run("config", "--index", "/opt/ix", "--format", "json").stdout)
    assert data["file"] == str(own_settings) and data["file_found"] is True
    assert data["settings"]["index"] == {"value": "/opt/ix", "source": "option --index"}
    assert data["settings"]["limit"] == {"value": 20, "source": f"file {own_settings}:1"}
    assert data["settings"]["corpus"] == {"value": [], "source": "default"}


def test_config_says_when_there_is_no_file(own_settings):
    result = run("config")
    assert result.stdout.splitlines()[0] == f"# {own_settings} (not found)"


# -- works from anywhere ---------------------------------------------------------------------


def test_the_configured_index_and_corpus_work_from_any_directory(
    own_settings, tmp_path, monkeypatch
):
    corpus = tmp_path / "home" / "news"
    write(corpus / "world" / "rome.txt", "Rome sings from balconies\n\nNeighbours sang together.\n")
    write(own_settings, 'index = "~/news-index"\ncorpus = "~/news"\nlimit = 1\n')
    monkeypatch.delenv("SEARCHKIT_INDEX")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    indexed = run("index")
    assert indexed.exit_code == 0, indexed.output
    assert (tmp_path / "home" / "news-index").is_dir() and not (elsewhere / "index").exists()
    result = run("search", "balconies", "--format", "jsonl")
    assert result.exit_code == 0
    assert [json.loads(line)["id"] for line in result.stdout.splitlines()] == ["world/rome.txt"]


def test_configured_output_defaults_apply_and_options_win(own_settings, index_location):
    with Index(index_location) as ix:
        ix.add(Document(id=f"d{i}", title=f"Storm {i}", body="storm " * (i + 1)) for i in range(5))
    write(own_settings, 'format = "jsonl"\nlimit = 2\nsort = "date"\nfragments = 0\n')
    lines = run("search", "storm").stdout.splitlines()
    assert len(lines) == 2 and all(json.loads(line)["snippet"]["text"] == "" for line in lines)
    assert len(run("search", "storm", "-n", "3").stdout.splitlines()) == 3
    assert run("search", "storm", "--format", "text").stdout.startswith("1. -")
    # show has no jsonl: the configured format falls back to text there.
    assert run("show", "d1").stdout.startswith("Storm 1\n")


def test_index_without_paths_or_corpus_says_how_to_give_them(own_settings, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run("index", "--index", str(tmp_path / "ix"))
    assert result.exit_code == EXIT_ERROR
    assert result.stderr.splitlines() == [
        "Error: corpus path not found: corpus (hint: pass the folders of articles to index "
        f"(`searchkit index FOLDER...`), or set `corpus` in {own_settings})"
    ]
    assert not os.path.exists(tmp_path / "ix" / "searchkit.json")


def test_a_configured_cluster_is_what_search_asks(own_settings, build_index):
    """`opensearch = URL` (and `index_name`) in the file: `searchkit search` asks that cluster
    (here a closed port: the error names it); `--opensearch-body` prints what it would send."""
    local = build_index([Document(id="a", title="cocoa", body="cocoa")])
    write(own_settings, 'opensearch = "http://127.0.0.1:9"\nindex_name = "news2"\n')
    done = CliRunner().invoke(cli, ["search", "cocoa"])
    assert done.exit_code == EXIT_ERROR
    assert "OpenSearch at http://127.0.0.1:9" in done.stderr
    # The field names come from the local index, so nothing is sent.
    body = CliRunner().invoke(
        cli, ["search", "cocoa", "--opensearch-body", "--index", str(local.path)]
    )
    assert body.exit_code == 0, body.output
    assert json.loads(body.stdout)["query"]["combined_fields"]["query"] == "cocoa"
    assert load_settings()["index_name"] == "news2"
