"""Per-user settings: built-in defaults, the configuration file, environment variables and
command-line options, each setting remembering where its value came from.

The file is TOML, at `$SEARCHKIT_CONFIG`, else `$XDG_CONFIG_HOME/searchkit/config.toml`, else
`~/.config/searchkit/config.toml`; a missing file is no error unless `$SEARCHKIT_CONFIG` names
it. Relative paths in the file are relative to the file's folder, so it works from anywhere:

    index = "~/news/index"
    corpus = ["~/news/articles", "~/news/feeds"]
    format = "text"        # text | json | jsonl
    color = "auto"         # auto | always | never
    pager = "less -FRX"    # false: never page
    limit = 20
    sort = "relevance"     # relevance | date | -date
    fragments = 1

Precedence, highest first: an option, a searchkit environment variable (`$SEARCHKIT_INDEX`,
`$SEARCHKIT_PAGER`), the file, then the general conventions the file overrides as git and
no-color.org have it (`$PAGER`, `$FORCE_COLOR`, `$NO_COLOR`), then the defaults.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from .errors import UsageError

CONFIG_ENV = "SEARCHKIT_CONFIG"
#: Also read by `searchkit.index` (`default_index_path`): the two must agree.
INDEX_ENV = "SEARCHKIT_INDEX"
PAGER_ENV = "SEARCHKIT_PAGER"
DEFAULT_INDEX = "index"
#: As git: -F quits when the text fits one screen, -R passes colours, -X leaves it on screen.
DEFAULT_PAGER = "less -FRX"
FORMATS = ("text", "json", "jsonl")
COLORS = ("auto", "always", "never")
SORTS = ("relevance", "date", "-date")

DEFAULT = "default"
FILE = "file"
ENV = "env"
OPTION = "option"


class ConfigError(UsageError):
    """A configuration file that cannot be used: names the file and, when known, the line."""

    def __init__(self, path: str, reason: str, line: int | None = None) -> None:
        self.path = path
        self.line = line
        self.reason = reason
        where = f"{path}:{line}" if line else path
        super().__init__(f"configuration file {where}: {reason}")


@dataclass(frozen=True)
class Setting:
    """One effective setting: its value, its source (default, file, env, option) and where
    exactly (`config.toml:3`, `$SEARCHKIT_INDEX`, `--index`)."""

    name: str
    value: object
    source: str = DEFAULT
    origin: str = ""


# -- checking values from the file ------------------------------------------------------------


def _text(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"must be a non-empty string, not {value!r}")
    return value


def _paths(value: object) -> tuple[str, ...]:
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not values:
        raise ValueError(f"must be a path or a list of paths, not {value!r}")
    return tuple(_text(v) for v in values)


def _choice(*choices: str) -> Callable[[object], str]:
    def check(value: object) -> str:
        if value not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}, not {value!r}")
        return value  # type: ignore[return-value]

    return check


def _count(minimum: int) -> Callable[[object], int]:
    def check(value: object) -> int:
        # bool is an int in Python; `limit = true` is a mistake, not 1.
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            raise ValueError(f"must be a whole number of {minimum} or more, not {value!r}")
        return value

    return check


def _pager(value: object) -> str:
    if value is False:
        return ""
    if isinstance(value, str):
        return value.strip()
    raise ValueError(f"must be a command or false, not {value!r}")


#: name -> (check and convert the file's value, built-in default).
KEYS: Mapping[str, tuple[Callable[[object], object], object]] = {
    "index": (_text, DEFAULT_INDEX),
    # Empty: the library's choice, the index's recorded roots, else ./corpus.
    "corpus": (_paths, ()),
    "format": (_choice(*FORMATS), "text"),
    "color": (_choice(*COLORS), "auto"),
    # Empty (or `false` in the file): no pager.
    "pager": (_pager, DEFAULT_PAGER),
    "limit": (_count(1), 10),
    "sort": (_choice(*SORTS), "relevance"),
    "fragments": (_count(0), 1),
    # An OpenSearch cluster (URL) that `search` and `serve` use instead of the local index,
    # and its index name (README "Past one machine"); unset: the local index.
    "opensearch": (_text, None),
    "index_name": (_text, None),
}
_PATH_KEYS = ("index", "corpus")


# -- finding and reading the file -------------------------------------------------------------


def config_path(environ: Mapping[str, str] | None = None) -> tuple[str, bool]:
    """(the configuration file's path, whether `$SEARCHKIT_CONFIG` named it)."""
    env = os.environ if environ is None else environ
    named = env.get(CONFIG_ENV)
    if named:
        return os.path.abspath(os.path.expanduser(named)), True
    base = env.get("XDG_CONFIG_HOME", "")
    # The XDG specification: a relative $XDG_CONFIG_HOME is invalid and must be ignored.
    if not os.path.isabs(base):
        base = os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(base, "searchkit", "config.toml"), False


def _toml():
    if sys.version_info >= (3, 11):
        import tomllib

        return tomllib
    import tomli  # the same parser, for Python 3.10

    return tomli


def _line_of(text: str, key: str) -> int | None:
    """The line that sets `key` at the top of the file (TOML parsers give values, not places)."""
    pattern = re.compile(rf"""^\s*(?:{re.escape(key)}|"{re.escape(key)}"|'{re.escape(key)}')\s*=""")
    for number, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith("["):
            return None  # past the top-level keys
        if pattern.match(line):
            return number
    return None


def _first_table_line(text: str, key: str) -> int | None:
    for number, line in enumerate(text.splitlines(), 1):
        if re.match(rf"^\s*\[+\s*{re.escape(key)}\s*[\].]", line):
            return number
    return _line_of(text, key)


def read_config_file(path: str) -> dict[str, tuple[object, int | None]]:
    """The file's settings, checked: name -> (value, line). `ConfigError` on any problem."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as exc:
        raise ConfigError(path, exc.strerror or str(exc)) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad_line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(path, "not UTF-8 text", bad_line) from None
    toml = _toml()
    try:
        data = toml.loads(text)
    except toml.TOMLDecodeError as exc:
        message = str(exc)
        found = re.search(r"\(at line (\d+), column \d+\)$", message)
        error_line = int(found.group(1)) if found else None
        reason = message[: found.start()].strip() if found else message
        raise ConfigError(path, f"not valid TOML: {reason}", error_line) from None
    settings: dict[str, tuple[object, int | None]] = {}
    folder = os.path.dirname(path)
    for key, value in data.items():
        line = _first_table_line(text, key) if isinstance(value, dict) else _line_of(text, key)
        if key not in KEYS:
            known = ", ".join(KEYS)
            raise ConfigError(path, f"unknown setting {key!r} (settings: {known})", line)
        check = KEYS[key][0]
        try:
            value = check(value)
        except ValueError as exc:
            raise ConfigError(path, f"{key} {exc}", line) from None
        if key in _PATH_KEYS:
            value = _resolve(value, folder)
        settings[key] = (value, line)
    return settings


def _resolve(value, folder: str):
    if isinstance(value, tuple):
        return tuple(_resolve(v, folder) for v in value)
    return os.path.normpath(os.path.join(folder, os.path.expanduser(value)))


# -- the effective settings -------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    """Every setting's effective value and source; `path` is the configuration file read (or
    looked for: `loaded` says whether it existed)."""

    path: str
    loaded: bool
    values: Mapping[str, Setting]

    def __getitem__(self, name: str):
        return self.values[name].value

    def with_option(self, name: str, value, option: str) -> Settings:
        """These settings with an option's value, when the option was given (not None)."""
        if value is None:
            return self
        values = dict(self.values)
        values[name] = Setting(name, value, OPTION, option)
        return Settings(self.path, self.loaded, values)


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Defaults, then the file, then the environment (see the module docstring)."""
    env = os.environ if environ is None else environ
    path, named = config_path(env)
    loaded = named or os.path.isfile(path)
    from_file = read_config_file(path) if loaded else {}
    shown = _display_home(path)
    values: dict[str, Setting] = {}
    for name, (_, default) in KEYS.items():
        values[name] = Setting(name, default)
        if name in from_file:
            value, line = from_file[name]
            values[name] = Setting(name, value, FILE, f"{shown}:{line}" if line else shown)
    # Conventions the file overrides: $PAGER below a configured pager, as git; $NO_COLOR below
    # configured colour, as no-color.org asks; $FORCE_COLOR (force-color.org) beside it.
    if values["pager"].source == DEFAULT and env.get("PAGER") is not None:
        values["pager"] = Setting("pager", env["PAGER"].strip(), ENV, "$PAGER")
    if values["color"].source == DEFAULT:
        if env.get("FORCE_COLOR"):
            values["color"] = Setting("color", "always", ENV, "$FORCE_COLOR")
        elif env.get("NO_COLOR"):
            values["color"] = Setting("color", "never", ENV, "$NO_COLOR")
    # searchkit's own variables override the file.
    if env.get(INDEX_ENV):
        values["index"] = Setting("index", env[INDEX_ENV], ENV, f"${INDEX_ENV}")
    if env.get(PAGER_ENV) is not None:
        values["pager"] = Setting("pager", env[PAGER_ENV].strip(), ENV, f"${PAGER_ENV}")
    return Settings(path, loaded, values)


def _display_home(path: str) -> str:
    home = os.path.expanduser("~")
    if home not in ("", "/") and path.startswith(home + os.sep):
        return "~" + path[len(home) :]
    return path
