"""Walking the corpus roots: which files exist, their stat signatures and content hashes."""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import re
import stat as stat_module
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from .documents import Problem, printable_path  # noqa: F401  (printable_path: re-exported)
from .errors import CorpusNotFound, UsageError

#: Files larger than this are skipped unless the caller sets another limit; in a JSON Lines
#: file (read line by line, never whole) it is the limit of one record.
DEFAULT_MAX_FILE_SIZE = 100 * 1024 * 1024


def is_json_lines(path: str) -> bool:
    """True for a JSON Lines file (by extension): it can be read record by record."""
    # Imported here: the readers (and what they import) are not needed to search.
    from .readers import JSON_LINES_EXTENSIONS

    return os.path.splitext(path)[1].lower() in JSON_LINES_EXTENSIONS


@dataclass(frozen=True)
class CorpusFile:
    """One file to index: where it is, what it is called in the index, and its stat."""

    path: str  # absolute, normalised; the file's key in the index
    root: str  # the corpus root it was found under
    id_base: str  # path relative to the root, `/`-separated (the basename for a file root)
    folder: str  # folder relative to the root, `""` at the root
    size: int
    stat_key: str  # size, mtime, ctime and inode: equal keys mean an untouched file

    def signature(self, content_hash: str) -> str:
        """The signature stored with the file's documents."""
        return f"{self.stat_key}:{content_hash}"


def content_hash(data: bytes) -> str:
    """A short content hash: a rewrite with the same size and mtime is still seen."""
    return content_hasher(data).hexdigest()


def content_hasher(data: bytes = b""):
    """The hash object behind `content_hash`, to hash a file in parts."""
    return hashlib.blake2b(data, digest_size=16)


def split_signature(signature: str) -> tuple[str, str]:
    """(stat key, content hash) of a stored signature."""
    stat_key, _, digest = signature.rpartition(":")
    return stat_key, digest


def size_of(stat_key: str) -> int:
    """The file size a stat key records (0 for an empty or unknown key)."""
    size = stat_key.partition(":")[0]
    return int(size) if size.isdigit() else 0


def _stat_key(st: os.stat_result) -> str:
    # ctime cannot be set back by a program, so a rewrite that restores mtime still differs here.
    return f"{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}:{st.st_ino}"


def resolve_roots(
    paths: Iterable[str | os.PathLike], *, known: Iterable[str] = ()
) -> tuple[list[str], list[str]]:
    """(present roots, missing roots): absolute and de-duplicated.

    A missing path that is one of the `known` roots (recorded by earlier runs) is returned as
    missing: an unmounted disk or a moved folder is transient, and must not stop the other
    roots from syncing. Any other missing path is a mistake and raises `CorpusNotFound`.
    """
    recorded = {os.path.abspath(r) for r in known}
    roots: list[str] = []
    missing: list[str] = []
    for p in paths:
        absolute = os.path.abspath(os.fspath(p))
        if absolute in roots or absolute in missing:
            continue
        if os.path.exists(absolute):
            roots.append(absolute)
        elif absolute in recorded:
            missing.append(absolute)
        else:
            raise CorpusNotFound(os.fspath(p))
    return roots, missing


def check_outside_index(roots: Iterable[str], index_path: str) -> None:
    """Refuse a corpus root that is the index folder or lies inside it (by any path)."""
    real_index = os.path.realpath(index_path)
    for root in roots:
        if is_under(os.path.realpath(root), real_index):
            raise UsageError(
                f"corpus root {root} is inside the index folder {index_path}: "
                "an index never indexes itself"
            )


def is_under(path: str, root: str) -> bool:
    """True if `path` is the root itself or lies below it."""
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


_DOC_FILE = re.compile(r"^(?:[\w-]*[-_])?(?:readme|licen[cs]e|copying)(?:\.\w+)?$", re.IGNORECASE)


def is_corpus_documentation(name: str) -> bool:
    """README, LICENSE, COPYING (any case or extension): about the corpus, not an article."""
    return bool(_DOC_FILE.match(name))


def _hidden(name: str) -> bool:
    # Dot files, editor backups and swap files are never articles.
    return name.startswith(".") or name.endswith("~") or name.endswith((".swp", ".tmp"))


def scan(
    roots: list[str],
    *,
    max_file_size: int = DEFAULT_MAX_FILE_SIZE,
    exclude: Iterable[str] = (),
) -> tuple[list[CorpusFile], list[Problem]]:
    """Every indexable file under the roots, sorted by path, and the problems met on the way.

    Folders in `exclude` (the index itself, when it lives inside a corpus root) are not read.
    """
    files: dict[str, CorpusFile] = {}
    problems: list[Problem] = []
    # By device and inode, not by name: the index may be reached through a symlink to a
    # folder above it, or the root named through one, and a name would not match.
    excluded = frozenset(filter(None, (_identity(p) for p in exclude)))
    for root in roots:
        for item in _walk_root(root, max_file_size, problems, excluded):
            files.setdefault(item.path, item)
    return [files[k] for k in sorted(files)], problems


#: Errors that say a place cannot be read *now* (permissions, a disk or share gone, a device
#: error): what it held stays indexed and the run is partial. Others (a symlink loop, a name
#: too long) are lasting and mean the file is skipped.
TRANSIENT_ERRNOS = frozenset(
    {
        errno.EACCES,
        errno.EPERM,
        errno.EIO,
        errno.ENXIO,
        errno.ENODEV,
        errno.ESTALE,
        errno.ETIMEDOUT,
        errno.ENOTCONN,
        errno.EHOSTDOWN,
        errno.EAGAIN,
        errno.ENOMEDIUM,
    }
)


def is_transient(exc: OSError) -> bool:
    """True for an error that says the place cannot be read now, not that it is bad."""
    return exc.errno in TRANSIENT_ERRNOS


def _identity(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _walk_root(
    root: str,
    max_file_size: int,
    problems: list[Problem],
    excluded: frozenset[tuple[int, int]],
) -> Iterator[CorpusFile]:
    real_root = os.path.realpath(root)
    if not os.path.isdir(root):
        # A file root, or a FIFO, socket or device given as one: `_corpus_file` reports those.
        try:
            st = os.stat(root)
        except OSError as exc:
            problems.append(Problem(root, f"cannot read: {exc.strerror or exc}", unavailable=True))
            return
        item = _corpus_file(root, root, os.path.basename(root), "", st, max_file_size, problems)
        if item is not None:
            yield item
        return
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as exc:
            transient = is_transient(exc)
            reason = f"cannot list folder: {exc.strerror or exc}"
            if transient:
                reason += " (what was indexed under it is kept)"
            problems.append(Problem(folder, reason, unavailable=transient))
            continue
        # `path` is `root` + separator + the rest (scandir joins them): cheaper than relpath.
        cut = len(root.rstrip(os.sep)) + 1
        for entry in entries:
            name = entry.name
            if _hidden(name):
                continue
            path = entry.path
            if entry.is_symlink():
                target = os.path.realpath(path)
                if not is_under(target, real_root):
                    problems.append(
                        Problem(path, "symlink leads outside the corpus root, not followed")
                    )
                    continue
                if os.path.isdir(target):
                    continue  # its target is indexed under its own name; following could loop
            try:
                is_dir = entry.is_dir()
            except OSError:
                is_dir = False
            if is_dir:
                try:
                    folder_st: os.stat_result | None = entry.stat()
                except OSError:
                    folder_st = None
                if folder_st is None or (folder_st.st_dev, folder_st.st_ino) not in excluded:
                    stack.append(path)
                continue
            if is_corpus_documentation(name):
                problems.append(Problem(path, "corpus documentation (README/LICENSE), not read"))
                continue
            rel = path[cut:]
            if os.sep != "/":
                rel = rel.replace(os.sep, "/")
            try:
                st = entry.stat()  # one stat call, as os.stat, without re-parsing the path
            except OSError as exc:
                problems.append(
                    Problem(
                        path, f"cannot read: {exc.strerror or exc}", unavailable=is_transient(exc)
                    )
                )
                continue
            folder_rel = rel.rpartition("/")[0]
            item = _corpus_file(path, root, rel, folder_rel, st, max_file_size, problems)
            if item is not None:
                yield item


def _corpus_file(
    path: str,
    root: str,
    id_base: str,
    folder: str,
    st: os.stat_result,
    max_file_size: int,
    problems: list[Problem],
) -> CorpusFile | None:
    if not stat_module.S_ISREG(st.st_mode):
        # Reading a FIFO, socket or device could block or never end.
        problems.append(Problem(path, f"{file_kind(st.st_mode)}, not a regular file: not read"))
        return None
    if st.st_size > max_file_size and not is_json_lines(path):
        # A collection of records is not an article: only its records have a size limit.
        problems.append(
            Problem(path, f"file is {st.st_size:,} bytes, over the {max_file_size:,}-byte limit")
        )
        return None
    return CorpusFile(path, root, id_base, folder, st.st_size, _stat_key(st))


def file_kind(mode: int) -> str:
    """What a stat mode says the file is, for messages: `a FIFO`, `a socket`, ..."""
    if stat_module.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat_module.S_ISSOCK(mode):
        return "a socket"
    if stat_module.S_ISCHR(mode):
        return "a character device"
    if stat_module.S_ISBLK(mode):
        return "a block device"
    if stat_module.S_ISDIR(mode):
        return "a folder"
    return "not a regular file"


class OutsideRoot(OSError):
    """The file, opened, turned out to lie outside its corpus root (swapped for a symlink)."""


class NotRegularFile(OSError):
    """The file, opened, turned out to be a FIFO, socket or device (swapped since the scan)."""


def _open_without_blocking(path: str, flags: int) -> int:
    # O_NONBLOCK: opening a FIFO without a writer, or some devices, would wait forever.
    # O_NOCTTY: a terminal device must not become the controlling terminal. Symlinks are
    # followed (links inside the root are indexed under their own name); where they lead is
    # checked once opened.
    return os.open(path, flags | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))


def read_bytes(cf: CorpusFile) -> bytes:
    """The file's bytes, refusing one that now leads outside its root or that is no longer a
    regular file (raises OSError); never blocks.

    The scan already refused symlinks that lead out and special files, but a file (or a folder
    above it) can be replaced between the scan and the read: what was opened is checked.
    """
    with open_checked(cf) as f:
        return f.read()


def open_checked(cf: CorpusFile) -> BinaryIO:
    """The file opened for reading, with the checks of `read_bytes` (raises OSError)."""
    f = open(cf.path, "rb", opener=_open_without_blocking)  # noqa: SIM115 - returned open
    try:
        fd = f.fileno()
        mode = os.fstat(fd).st_mode
        if not stat_module.S_ISREG(mode):
            raise NotRegularFile(errno.EINVAL, f"{file_kind(mode)}, not a regular file: not read")
        # Back to blocking reads: O_NONBLOCK was only for the open.
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
        opened = _opened_path(fd, cf.path)
        real_root = os.path.realpath(cf.root)
        if not is_under(opened, real_root):
            raise OutsideRoot(errno.EXDEV, "symlink leads outside the corpus root, not followed")
    except BaseException:
        f.close()
        raise
    return f


def _opened_path(fd: int, path: str) -> str:
    # /proc names the file the descriptor really refers to, whatever links led to it.
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return os.path.realpath(path)
