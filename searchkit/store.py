"""The index directory on disk: generations of Whoosh indexes, a pointer, and the write lock.

Layout of an index directory:

    searchkit.json   {"format": ..., "schema_version": ..., "current": "gen-000002", "roots": [...]}
    write.lock       held (flock) by the one writer; released by the kernel if it dies
    gen-000002/      the live Whoosh index
    gen-000001/      the one it replaced, kept so that searchers that opened it keep working

Incremental updates commit into the live generation (Whoosh's commit is atomic: segment files
first, then the table of contents by rename). A rebuild writes a new generation beside the live
one and swaps the pointer with one atomic rename, so searchers never see a half-built index.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import shutil
import signal
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass

from ._whoosh.storage import create_index, open_index
from .errors import (
    IndexCorrupt,
    IndexLocked,
    IndexNotFound,
    IndexWriteError,
    NotAnIndex,
    WatcherRunning,
)
from .schema import SCHEMA_VERSION, build_schema

FORMAT = "searchkit-index"
META_FILE = "searchkit.json"
LOCK_FILE = "write.lock"
WATCH_LOCK_FILE = "watch.lock"
#: Documents added through the API (`journal.py`): beside the generations, never inside one.
JOURNAL_FILE = "api-documents.jsonl"
GEN_PREFIX = "gen-"
#: Names that may sit in an index directory that has never been written (a fresh checkout).
_IGNORABLE = {".gitignore", ".gitkeep", ".DS_Store"}

#: Lock files this process holds: descriptor -> ident of the thread that took the lock.
#: A child forked meanwhile (a reading pool worker, a Whoosh sub-writer) shares each flock
#: through its copy of the descriptor, and Whoosh's own MAIN_WRITELOCK the same way. Measured:
#: after a `kill -9` of the main process of `searchkit index`, its workers live on, orphaned
#: and blocked on their job queues for good, and every later run fails as "locked". So every
#: child closes its copies of our locks (closing does not release the parent's lock; unlocking
#: would), and a child forked by a thread that holds a lock - the writer's own workers - asks
#: the kernel (Linux) to kill it when that thread dies: the lock never outlives the writer.
_HELD_LOCKS: dict[int, int] = {}
_fork_parent = 0


def _before_fork() -> None:
    global _fork_parent
    _fork_parent = os.getpid()


def _after_fork_in_child() -> None:
    if not _HELD_LOCKS:
        return
    # The child's one thread is the copy of the thread that forked, with the same ident.
    forked_by_holder = threading.get_ident() in _HELD_LOCKS.values()
    for fd in _HELD_LOCKS:
        try:
            os.close(fd)
        except OSError:
            pass
    _HELD_LOCKS.clear()
    if forked_by_holder and _set_parent_death_signal(signal.SIGKILL):
        if os.getppid() != _fork_parent:
            os._exit(1)  # the parent died before the signal was armed


def _set_parent_death_signal(signum: int) -> bool:
    """Linux `prctl(PR_SET_PDEATHSIG)`; False where it is not available."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(1, signum, 0, 0, 0) == 0  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return False


os.register_at_fork(before=_before_fork, after_in_child=_after_fork_in_child)


@dataclass(frozen=True)
class IndexMeta:
    """What `searchkit.json` records: the live generation and the corpus roots."""

    current: str
    roots: tuple[str, ...]
    schema_version: int = SCHEMA_VERSION


class IndexDirectory:
    """An index directory: opens the live Whoosh index, writes generations, holds the lock."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = os.path.abspath(os.fspath(path))

    # -- reading -----------------------------------------------------------------------------

    def exists(self) -> bool:
        """True if the directory holds a searchkit index."""
        return os.path.isfile(os.path.join(self.path, META_FILE))

    def check_writable_location(self) -> None:
        """Refuse a path that is a file, or a non-empty folder that is not a searchkit index."""
        if os.path.exists(self.path) and not os.path.isdir(self.path):
            raise NotAnIndex(self.path, "it is a file")
        if os.path.isdir(self.path) and not self.exists():
            foreign = [n for n in os.listdir(self.path) if not _ours_or_ignorable(n)]
            if foreign:
                raise NotAnIndex(self.path, f"the folder holds other files ({foreign[0]}, ...)")

    def read_meta(self) -> IndexMeta:
        """The pointer file; raises `IndexNotFound`, `NotAnIndex` or `IndexCorrupt`."""
        meta_path = os.path.join(self.path, META_FILE)
        if not os.path.exists(meta_path):
            if not os.path.isdir(self.path):
                raise IndexNotFound(self.path)
            self.check_writable_location()
            raise IndexNotFound(self.path)
        try:
            with open(meta_path, encoding="utf-8") as f:
                raw = json.load(f)
        except (OSError, ValueError) as exc:
            raise IndexCorrupt(self.path, f"{META_FILE}: {exc}") from None
        if not isinstance(raw, dict) or raw.get("format") != FORMAT:
            raise NotAnIndex(self.path, f"{META_FILE} is not a searchkit index file")
        try:
            meta = IndexMeta(
                current=str(raw["current"]),
                roots=tuple(str(r) for r in raw.get("roots", ())),
                schema_version=int(raw.get("schema_version", 0)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise IndexCorrupt(self.path, f"{META_FILE}: {exc}") from None
        if meta.schema_version != SCHEMA_VERSION:
            err = IndexCorrupt(
                self.path,
                f"built with schema version {meta.schema_version}, "
                f"this searchkit reads version {SCHEMA_VERSION}",
            )
            raise err
        return meta

    def generation_path(self, name: str) -> str:
        """The folder of a generation."""
        return os.path.join(self.path, name)

    def open_generation(self, name: str):
        """The Whoosh index of a generation; raises `IndexCorrupt` if it cannot be opened.

        Whoosh reads segment files only when a reader, searcher or writer is opened; the index
        returned turns a damaged segment met then into `IndexCorrupt` as well.
        """
        folder = self.generation_path(name)
        try:
            ix = open_index(folder)
        except Exception as exc:  # Whoosh raises many kinds here: EmptyIndexError, IOError, ...
            raise IndexCorrupt(self.path, f"{name}: {type(exc).__name__}: {exc}") from None
        ix.index_path, ix.generation_name = self.path, name
        return ix

    def open_current(self):
        """(meta, the live Whoosh index).

        A rebuild that swaps the pointer may remove the generation it replaced just as it is
        being opened: then the pointer is read again and the new live generation opened.
        """
        meta = self.read_meta()
        for _ in range(5):
            try:
                return meta, self.open_generation(meta.current)
            except IndexCorrupt:
                again = self.read_meta()
                if again.current == meta.current:
                    raise
                meta = again
        return meta, self.open_generation(meta.current)

    # -- writing -----------------------------------------------------------------------------

    def write_meta(self, meta: IndexMeta) -> None:
        """Replace the pointer file atomically (write a temporary file, fsync, rename)."""
        data = {
            "format": FORMAT,
            "schema_version": meta.schema_version,
            "current": meta.current,
            "roots": list(meta.roots),
        }
        tmp = os.path.join(self.path, f".{META_FILE}.{os.getpid()}.tmp")
        try:
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump(data, f, indent=2)
                f.write("\n")
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, os.path.join(self.path, META_FILE))
            _fsync_dir(self.path)
        except OSError as exc:
            _remove_quietly(tmp)
            raise IndexWriteError(self.path, exc.strerror or str(exc)) from None

    def new_generation(self) -> tuple[str, object]:
        """Create an empty Whoosh index in a fresh generation folder: (name, index)."""
        existing = self.generations()
        number = 1 + max((int(g[len(GEN_PREFIX) :]) for g in existing), default=0)
        name = f"{GEN_PREFIX}{number:06d}"
        folder = self.generation_path(name)
        try:
            os.makedirs(folder)
            ix = create_index(folder, build_schema())
        except OSError as exc:
            raise IndexWriteError(self.path, exc.strerror or str(exc)) from None
        ix.index_path, ix.generation_name = self.path, name
        return name, ix

    def generations(self) -> list[str]:
        """Names of the generation folders present, oldest first."""
        if not os.path.isdir(self.path):
            return []
        names = [
            n
            for n in os.listdir(self.path)
            if n.startswith(GEN_PREFIX) and n[len(GEN_PREFIX) :].isdigit()
        ]
        return sorted(names)

    def remove_stale_generations(self, keep: set[str]) -> None:
        """Delete generation folders not in `keep` (half-built rebuilds, old replaced ones)."""
        for name in self.generations():
            if name not in keep:
                shutil.rmtree(self.generation_path(name), ignore_errors=True)

    def ensure_folder(self) -> None:
        """Create the index folder (refusing a location that is not ours)."""
        self.check_writable_location()
        try:
            os.makedirs(self.path, exist_ok=True)
        except OSError as exc:
            raise IndexWriteError(self.path, exc.strerror or str(exc)) from None

    @contextmanager
    def write_lock(self, timeout: float):
        """Hold the index's write lock, waiting up to `timeout` seconds for another writer."""
        with self._flock(LOCK_FILE, timeout):
            yield

    @contextmanager
    def watch_lock(self):
        """Held by `searchkit watch` for its lifetime: a second watcher is refused at once."""
        try:
            lock = self._flock(WATCH_LOCK_FILE, 0)
            lock.__enter__()
        except IndexLocked:
            raise WatcherRunning(self.path) from None
        try:
            yield
        finally:
            lock.__exit__(None, None, None)

    @contextmanager
    def _flock(self, filename: str, timeout: float):
        self.ensure_folder()
        lock_path = os.path.join(self.path, filename)
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise IndexWriteError(self.path, exc.strerror or str(exc)) from None
        locked = False
        try:
            deadline = time.monotonic() + max(0.0, timeout)
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except OSError as exc:
                    if exc.errno not in (errno.EAGAIN, errno.EACCES):
                        raise IndexWriteError(self.path, exc.strerror or str(exc)) from None
                    if time.monotonic() >= deadline:
                        raise IndexLocked(self.path, timeout) from None
                    time.sleep(0.05)
            locked = True
            _HELD_LOCKS[fd] = threading.get_ident()
            try:
                os.ftruncate(fd, 0)
                os.write(fd, f"{os.getpid()}\n".encode())
            except OSError:
                pass  # the pid is only informative; the flock is the lock
            yield
        finally:
            # In a child forked inside this block the descriptor is already closed (and its
            # number may be reused): only the process that took the lock closes it.
            if not locked or _HELD_LOCKS.pop(fd, None) is not None:
                os.close(fd)  # closing releases the flock


def _ours_or_ignorable(name: str) -> bool:
    # A first build that was interrupted leaves a generation and a lock but no pointer yet.
    return (
        name in _IGNORABLE
        or name in (LOCK_FILE, WATCH_LOCK_FILE, JOURNAL_FILE)
        or name.startswith(f"{JOURNAL_FILE}.")
        or name.startswith(GEN_PREFIX)
        or name.startswith(f".{META_FILE}.")
    )


def _fsync_dir(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _remove_quietly(path: str) -> None:
    try:
        os.remove(path)
    except OSError:
        pass
