"""Hostile documents: whatever lands in the corpus, a run never crashes and loses nothing else.

Hypothesis writes files of every kind a feed or a careless user can drop into a corpus - random
bytes, huge lines and giant words, deeply nested JSON, headers without bodies, every date
string we could think of, NUL bytes, mixed encodings, odd file and folder names - beside a few
known-good articles, and runs `Index.update`. It must not raise at all; every hostile file is
either indexed (exactly the documents `parse_file`, the readers' contract, makes of it) or
named in `report.problems`; and every good article is there, unchanged.

`SEARCHKIT_FUZZ_EXAMPLES=N` sets the number of examples (default 30).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from helpers import run_cli, stored_documents
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from searchkit import Index, SearchkitError
from searchkit.readers import parse_file

FUZZ_EXAMPLES = int(os.environ.get("SEARCHKIT_FUZZ_EXAMPLES", "30"))
settings.register_profile(
    "searchkit-hostile",
    deadline=None,  # one example indexes a corpus: seconds, not milliseconds
    max_examples=FUZZ_EXAMPLES,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)
HOSTILE = settings.get_profile("searchkit-hostile")

GOOD = {
    "known-good/rome.txt": ("Rome sings from its balconies", "Neighbours sang together at six."),
    "known-good/cocoa.txt": ("Cocoa prices rise again", "Traders in Brazil watch the rain."),
    "known-good/deep/milan.txt": ("Milan nurses work nights", "Hospitals are full in Lombardy."),
}

DATES = [
    "",
    " ",
    "2020",
    "2020-03",
    "2020-03-14",
    "2020-3-4",
    "2020-02-29",
    "2019-02-29",
    "2020-02-30",
    "2020-13",
    "2020-00-00",
    "0000",
    "0000-00-00",
    "0001-01-01",
    "9999-12-31",
    "10000-01-01",
    "99999999",
    "-2020",
    "1e10",
    "NaN",
    "inf",
    "2020-03-14T12:00:00Z",
    "2020-03-14T12:00:00+25:00",
    "2020-03-14T25:61:61",
    "2020-03-14 12:00:00 +0100",
    "1970-01-01T00:00:00Z",
    "1969-12-31T23:59:59-12:00",
    "Tue, 1 Jan 1980 25:61:61 +9999",
    "Mon, 06 Apr 1993 14:28:11 GMT",
    "6 Apr 93 14:28:11 EST",
    "Wednesday, March 14, 2020",
    "14/03/2020",
    "03/14/2020",
    "31/31/31",
    "yesterday",
    "next tuesday",
    "14 mars 2020",
    "２０２０－０３－１４",
    "٢٠٢٠-٠٣-١٤",
    "2020-03-14\x00",
    "2020\n03\n14",
    "'; DROP TABLE articles; --",
    "{{date}}",
    "9" * 400,
    "2020-03-14" * 50,
    "1584144000",
    "1584144000000",
    "-62135596800",
    "253402300800",
]

HEADER_KEYS = ["Subject", "From", "Date", "Newsgroups", "Organization", "Keywords", "Summary"]
HEADER_KEYS += ["Distribution", "Path", "Message-ID", "Lines", "X-Weird", "Article-I.D."]
ENCODINGS = ["utf-8", "latin-1", "cp1252", "utf-16", "utf-8-sig", "koi8-r", "shift_jis"]
SUFFIXES = ["", ".txt", ".md", ".eml", ".json", ".jsonl", ".ndjson", ".markdown", ".TXT"]

texts = st.text(max_size=200)
dates = st.one_of(
    st.sampled_from(DATES),
    st.from_regex(r"\d{1,5}(-\d{1,3}){0,2}", fullmatch=True),
    st.datetimes().map(str),
    st.text(max_size=30),
)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | texts
    | dates,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4),
    max_leaves=12,
)
record_keys = st.sampled_from(
    ["id", "title", "body", "text", "date", "published", "topics", "folder", "Title", "year"]
)
records = st.dictionaries(st.one_of(record_keys, texts), json_values, max_size=8)


def encode(text: str, encoding: str) -> bytes:
    return text.encode(encoding, errors="replace")


@st.composite
def seed_files(draw):
    lead = draw(st.sampled_from(["", " ", "\n\n  ", "\t"]))
    return f"{lead}date {draw(dates)} {draw(texts)}\n{draw(texts)}"


@st.composite
def header_files(draw):
    lines = [
        f"{draw(st.sampled_from(HEADER_KEYS) | texts)}:{draw(st.sampled_from(['', ' ']))}"
        f"{draw(dates) if draw(st.booleans()) else draw(texts)}"
        for _ in range(draw(st.integers(1, 8)))
    ]
    body = draw(st.sampled_from(["", "\n", "\n\n"]) | texts.map(lambda t: "\n\n" + t))
    return "\n".join(lines) + body


@st.composite
def front_matter_files(draw):
    lines = [f"{draw(st.sampled_from(['date', 'title', 'tags', 'x']) | texts)}: {draw(dates)}"]
    lines += [f"{draw(texts)}: {draw(texts)}" for _ in range(draw(st.integers(0, 3)))]
    close = draw(st.sampled_from(["---\n", "...\n", ""]))
    return "---\n" + "\n".join(lines) + "\n" + close + draw(texts)


@st.composite
def json_files(draw):
    kind = draw(st.sampled_from(["object", "array", "lines", "value"]))
    if kind == "object":
        return json.dumps(draw(records))
    if kind == "array":
        return json.dumps(draw(st.lists(records | json_values, max_size=5)))
    if kind == "value":
        return json.dumps(draw(json_values))
    lines = draw(st.lists(records.map(json.dumps) | texts, max_size=6))
    return "\n".join(lines)


@st.composite
def deep_json(draw):
    depth = draw(st.integers(100, 100_000))
    if draw(st.booleans()):
        nested = "[" * depth + "]" * depth
    else:
        nested = '{"a":' * depth + "1" + "}" * depth
    if draw(st.booleans()):
        return nested
    return '{"title": "deep", "body": "nested below", "meta": ' + nested + "}\n"


@st.composite
def huge_lines(draw):
    size = draw(st.integers(10_000, 400_000))
    word = draw(st.sampled_from(["a", "word ", "città ", "\u00e9", "-", " ", "\t", "x\r"]))
    title = draw(st.sampled_from(["", "Title\n", "Subject: long\n\n", "---\ntitle: t\n---\n"]))
    return title + word * (size // len(word))


#: The suffix each kind of content usually comes with; any other suffix half the time.
USUAL_SUFFIX = {"front": [".md"], "json": [".json", ".jsonl"], "deep": [".json", ".jsonl"]}
USUAL_SUFFIX["headers"] = [".eml", ""]


@st.composite
def hostile_content(draw) -> tuple[str, bytes]:
    """(file name suffix, content)."""
    kind = draw(
        st.sampled_from(
            ["bytes", "seed", "headers", "front", "json", "deep", "huge", "text", "nul", "mixed"]
        )
    )
    suffixes = USUAL_SUFFIX.get(kind, [".txt"]) if draw(st.booleans()) else SUFFIXES
    return draw(st.sampled_from(suffixes)), draw(content_of(kind))


@st.composite
def content_of(draw, kind: str) -> bytes:
    if kind == "bytes":
        return draw(st.binary(max_size=3000))
    if kind == "deep":
        return draw(deep_json()).encode()
    if kind == "huge":
        return draw(huge_lines()).encode()
    maker = {
        "seed": seed_files(),
        "headers": header_files(),
        "front": front_matter_files(),
        "json": json_files(),
        "text": texts,
        "nul": texts,
        "mixed": texts,
    }[kind]
    text = draw(maker)
    data = encode(text, draw(st.sampled_from(ENCODINGS)))
    if kind == "nul":
        # NUL bytes inside the first 8 KiB, or only after a long text start.
        pad = draw(st.sampled_from([b"", b"plain article text. " * 500]))
        at = draw(st.integers(0, len(data)))
        data = pad + data[:at] + b"\x00" * draw(st.integers(1, 3)) + data[at:]
    elif kind == "mixed":
        data += encode(draw(texts), draw(st.sampled_from(ENCODINGS))) + draw(st.binary(max_size=50))
    return data


name_bytes = st.one_of(
    st.text(
        st.characters(blacklist_characters="/\x00", blacklist_categories=("Cs",)),
        min_size=1,
        max_size=40,
    ).map(lambda s: s.encode("utf-8")),
    st.binary(min_size=1, max_size=60).map(lambda b: b.replace(b"/", b"_").replace(b"\0", b"_")),
    st.sampled_from(
        [
            b"-rf",
            b"--rebuild",
            b"-",
            b" leading space",
            b"trailing space ",
            b"new\nline",
            b"tab\tname",
            b"caf\xe9",
            b"\xff\xfe",
            b"*",
            b"?[a]",
            b"\\back\\slash",
            b"a:1",
            b"x#2",
            "日本語の記事".encode(),
            "e\u0301te\u0301".encode(),
            "\u202eevil".encode(),
            b"CON",
            b"...",
            b"a" * 240,
        ]
    ),
)


def safe_name(base: bytes, suffix: str) -> bytes | None:
    name = base[: 250 - len(suffix)] + suffix.encode()
    if name in (b".", b"..") or b"/" in name or b"\0" in name:
        return None
    return name


@st.composite
def hostile_files(draw) -> list[tuple[bytes, bytes]]:
    """[(relative path as bytes, content)], distinct paths, maybe inside an odd folder."""
    files: dict[bytes, bytes] = {}
    for _ in range(draw(st.integers(1, 5))):
        suffix, content = draw(hostile_content())
        name = safe_name(draw(name_bytes), suffix)
        if name is None:
            continue
        folder = draw(st.sampled_from([None, None, b"odd dir", b"-x", b"new\nfolder"]) | name_bytes)
        if folder is not None:
            folder = safe_name(folder, "")
        rel = name if folder is None else folder + b"/" + name
        if rel.split(b"/")[0] == b"known-good":
            continue
        files[rel] = content
    return sorted(files.items())


def ignored_by_design(rel: str) -> bool:
    """Dot files, editor backups and swap files are never articles (corpus.py)."""
    return any(
        part.startswith(".") or part.endswith(("~", ".swp", ".tmp")) for part in rel.split("/")
    )


def named_in(problems, path: str) -> bool:
    """True if a problem names the file (or a line of it), raw or as printable text."""
    printable = path.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    names = {path, printable}
    marks = tuple(n + sep for n in names for sep in (":", "#"))
    return any(p.path in names or p.path.startswith(marks) for p in problems)


def check_hostile_corpus(files: list[tuple[bytes, bytes]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "corpus"
        for rel, (title, body) in GOOD.items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f"{title}\n{body}\n", encoding="utf-8")
        hostile: list[tuple[str, str]] = []
        for rel_bytes, data in files:
            path_bytes = os.fsencode(root) + b"/" + rel_bytes
            folder = os.path.dirname(path_bytes)
            if os.path.isfile(folder):
                continue  # a file of the same name as this folder came first
            os.makedirs(folder, exist_ok=True)
            if os.path.isdir(path_bytes):
                continue
            with open(path_bytes, "wb") as f:
                f.write(data)
            hostile.append((os.fsdecode(rel_bytes), os.fsdecode(path_bytes)))

        index = Index(Path(tmp) / "index")
        try:
            report = index.update([root])
        except SearchkitError as exc:
            raise AssertionError(f"update raised {type(exc).__name__}: {exc}") from exc
        stored = stored_documents(index.path)
        docs = {i: (d.get("title", ""), d.get("body", "")) for i, d in stored.items()}

        for rel, (title, body) in GOOD.items():
            assert docs.get(rel) == (title, body), f"good article {rel} lost or changed"
        claimed = set(GOOD)
        for rel, path in hostile:
            if ignored_by_design(rel):
                continue
            data = Path(path).read_bytes()
            parsed = parse_file(data, path=path, id_base=rel, folder=os.path.dirname(rel)).documents
            reported = named_in(report.problems, path)
            assert parsed or reported, f"{rel!r} was neither indexed nor reported"
            for doc in parsed:
                if doc.id in claimed:
                    assert reported, f"{rel!r}: id {doc.id!r} taken by another file, not reported"
                    continue
                claimed.add(doc.id)
                assert docs.get(doc.id) == (doc.title, doc.body), (
                    f"{rel!r}: document {doc.id!r} missing or not as parse_file reads it"
                )
        assert set(docs) <= claimed, f"documents from nowhere: {sorted(set(docs) - claimed)}"


@HOSTILE
@given(files=hostile_files())
def test_hostile_files_are_indexed_or_reported_and_lose_nothing_else(files):
    check_hostile_corpus(files)


def test_an_empty_json_array_is_reported_not_silently_dropped():
    """Found by the fuzzer: `[]` makes no document and no problem; the file vanishes."""
    check_hostile_corpus([(b"feed.json", b"[]")])


def test_hostile_files_survive_the_command_line(tmp_path):
    """The same kinds of input through `searchkit index`: exit 0, one line per problem, and
    odd names (newlines, invalid UTF-8) printed without breaking the terminal or the run."""
    root = tmp_path / "corpus"
    root.mkdir()
    (root / "good.txt").write_text("Good article\nIt is fine.\n", encoding="utf-8")
    odd = {
        b"new\nline.txt": b"Newline in the name\nbody\n",
        b"caf\xe9.txt": b"Latin-1 name\nbody\n",
        b"--rebuild": b"Dash name\nbody\n",
        b"nul.bin": b"\x00\x01\x02" * 100,
        b"deep.json": b"[" * 100_000 + b"]" * 100_000,
        b"empty.txt": b"",
    }
    for name, data in odd.items():
        with open(os.fsencode(root) + b"/" + name, "wb") as f:
            f.write(data)
    env = dict(os.environ, SEARCHKIT_INDEX=str(tmp_path / "index"))
    for args in ([str(root)], ["--dry-run"], [], ["--format", "json"]):
        result = subprocess.run(
            [sys.executable, "-m", "searchkit", "index", *args], env=env, capture_output=True
        )
        assert result.returncode == 0, result.stderr
        assert b"Traceback" not in result.stderr
    data = json.loads(result.stdout)
    assert data["documents"] == 4
    for message in (b"binary file", b"nested too deeply", b"empty file"):
        assert (
            message
            in subprocess.run(
                [sys.executable, "-m", "searchkit", "index", "--rebuild"],
                env=env,
                capture_output=True,
            ).stderr
        )


BILLION_LAUGHS = """
import sys, time
from searchkit.readers import parse_file
levels = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
for prev, name in zip("abcdefgh", "bcdefghi"):
    levels.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
for key in ("date", "title", "tags", "body", "id"):
    text = "---\\n" + "\\n".join(levels) + f"\\n{key}: *i\\n---\\nThe body.\\n"
    started = time.monotonic()
    result = parse_file(text.encode(), path="laughs.md", id_base="laughs.md", folder="")
    print(key, round(time.monotonic() - started, 2), [p.reason for p in result.problems])
"""


def test_yaml_alias_bomb_in_front_matter_costs_neither_time_nor_memory():
    """A "billion laughs" YAML block: nine levels of aliases, 9**9 strings if expanded.
    PyYAML's safe loader shares the aliased lists; anything that walks or prints the value
    whole (a repr in a warning, a str() of a title) expands it. Run in a child process with a
    1 GiB memory cap so that a failure here cannot take the test machine down with it."""

    def cap_memory():
        resource.setrlimit(resource.RLIMIT_AS, (1024**3, 1024**3))

    started = time.monotonic()
    try:
        result = subprocess.run(
            [sys.executable, "-c", BILLION_LAUGHS],
            capture_output=True,
            text=True,
            timeout=60,
            preexec_fn=cap_memory,
        )
    except subprocess.TimeoutExpired:
        raise AssertionError("parse_file ran for over a minute on a YAML alias bomb") from None
    seconds = time.monotonic() - started
    assert result.returncode == 0, result.stderr[-2000:]
    assert "MemoryError" not in result.stdout, result.stdout
    assert seconds < 10, f"{seconds:.1f}s:\n{result.stdout}"


# -- hostile options at the command line ------------------------------------------------------

PROJECT_CORPUS = Path(__file__).resolve().parents[1] / "corpus"
RELATIVE_DATES = ["7d", "0d", "-3d", "99999999999d", "1w", "yesterday", "today", "last month"]
RELATIVE_DATES += ["last year", "tomorrow", "now", "next week", "3 days ago", "1e9d", "NaNd"]
NUMBERS = ["0", "-1", "1", "2", "-0", "+3", "1.5", "1e3", "", " ", "x", "0x10", "٣", "½"]
NUMBERS += [str(2**31), str(2**63), str(10**100), str(-(10**100)), "9" * 5000]
FIELDS = ["topics", "places", "folder", "author", "year", "month", "day", "tags", "id", "body"]
FIELDS += ["title", "date", "nope", "", " ", "Topics", "meta_title", "spell_body", "*", "a=b"]


@st.composite
def where_values(draw) -> str:
    field = draw(st.sampled_from(FIELDS) | texts)
    value = draw(st.sampled_from(["brazil", "usa", "", "*", "a,b", "=", "x=y"]) | texts)
    return draw(st.sampled_from([f"{field}={value}", f"{field}:{value}", field, f"={value}"]))


@st.composite
def search_arguments(draw) -> list[str]:
    words = ["harbour", "cocoa", "rome", "the", '"a phrase"', "title:rome", "date:2020"]
    words += ["AND", "OR", "NOT", "(", ")", "*", "wild*", "word~", "places:brazil", "-x", "--"]
    query = draw(st.lists(st.sampled_from(words) | texts, min_size=1, max_size=4))
    if draw(st.booleans()):
        query = ["--", *query]
    options: list[str] = []
    for _ in range(draw(st.integers(0, 6))):
        option = draw(
            st.sampled_from(
                ["--since", "--until", "--where", "--page", "--limit", "-n", "--facet"]
                + ["--facet-limit", "--sort", "--fragments", "--format"]
            )
        )
        if option in ("--since", "--until"):
            value = draw(st.sampled_from(DATES + RELATIVE_DATES) | dates)
        elif option == "--where":
            value = draw(where_values())
        elif option == "--facet":
            value = draw(st.sampled_from(FIELDS) | texts)
        elif option == "--sort":
            value = draw(st.sampled_from(["relevance", "date", "-date"] * 3 + ["DATE", ""]))
        elif option == "--format":
            value = draw(st.sampled_from(["text", "json", "jsonl"] * 3 + ["xml"]))
        else:
            small = st.integers(1, 30).map(str)
            value = draw(st.sampled_from(NUMBERS) | st.integers().map(str) | small | small)
        options += [option, value]
    if draw(st.booleans()):
        options.append(draw(st.sampled_from(["--strict", "--explain"])))
    # Options after `--` would be words of the query: the query comes last.
    return [*options, *query]


@pytest.fixture(scope="module")
def project_index(tmp_path_factory) -> Path:
    """The project's own sample corpus, indexed once: dates, facets, every format."""
    if not PROJECT_CORPUS.is_dir():
        pytest.skip(f"{PROJECT_CORPUS} is not present")
    path = tmp_path_factory.mktemp("hostile-cli") / "index"
    Index(path).update([PROJECT_CORPUS])
    return path


def assert_clean_exit(result, args) -> None:
    """Exit 0, 1 or 2 and never a traceback; JSON output that parses when there is some."""
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"{args!r} raised {result.exception!r}"
    )
    assert result.exit_code in (0, 1, 2), (args, result.exit_code, result.output)
    assert "Traceback" not in result.output
    if result.exit_code == 2:
        assert result.stderr.strip(), f"{args!r}: exit 2 without a message"
    elif "--format" in args and result.stdout.strip():
        options = args[: args.index("--")] if "--" in args else args
        at = len(options) - 1 - options[::-1].index("--format")  # the last one counts
        fmt = options[at + 1]
        if fmt == "json":
            json.loads(result.stdout)
        elif fmt == "jsonl":
            for line in result.stdout.splitlines():
                json.loads(line)


@settings(HOSTILE, max_examples=FUZZ_EXAMPLES * 4)
@given(args=search_arguments())
def test_hostile_search_options_give_a_result_or_a_clear_error(project_index, args):
    args = ["search", "--index", str(project_index), *args]
    assert_clean_exit(run_cli(*args), args)


@pytest.mark.parametrize(
    "options",
    [
        ["--limit", "0"],
        ["--limit", "-1"],
        ["--limit", str(10**100)],
        ["--limit", str(2**63)],
        ["--page", "0"],
        ["--page", "-5"],
        ["--page", str(10**100)],
        ["--page", str(2**31), "--limit", str(2**31)],
        ["--since", "99999999999d"],
        ["--since", "2020-02-30"],
        ["--since", "2021", "--until", "2019"],
        ["--until", "0000"],
        ["--where", "="],
        ["--where", "nope=x"],
        ["--where", "topics"],
        ["--facet", "nope"],
        ["--facet-limit", "-1"],
        ["--fragments", str(10**9)],
    ],
)
def test_edge_values_of_search_options(project_index, options):
    args = ["search", "--index", str(project_index), *options, "cocoa"]
    assert_clean_exit(run_cli(*args), args)


@settings(HOSTILE, max_examples=FUZZ_EXAMPLES * 2)
@given(
    command=st.sampled_from(["show", "similar"]),
    doc_id=st.sampled_from(["../../etc/passwd", "/etc/passwd", "", "-", "-x", "a" * 10_000])
    | texts,
    fmt=st.sampled_from(["text", "json"]),
)
def test_hostile_document_ids_give_a_result_or_a_clear_error(project_index, command, doc_id, fmt):
    args = [command, "--index", str(project_index), "--format", fmt, "--", doc_id]
    result = run_cli(*args)
    assert_clean_exit(result, args)
    assert "root:x:0:0" not in result.output
