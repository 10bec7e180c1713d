"""Reading corpus files: each file read, hashed and (unless unchanged) parsed, in a pool of
processes when there is enough to read."""

from __future__ import annotations

import dataclasses
import multiprocessing
import multiprocessing.connection
import os
import signal
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO, cast

from .corpus import (
    DEFAULT_MAX_FILE_SIZE,
    CorpusFile,
    OutsideRoot,
    content_hash,
    content_hasher,
    is_json_lines,
    is_transient,
    open_checked,
    printable_path,
    read_bytes,
    size_of,
    split_signature,
)
from .documents import Document, Problem
from .manifest import FileEntry
from .readers import parse_appended_lines, parse_file

#: `progress(phase, done, total)`: called while files are read and documents written.
ProgressCallback = Callable[[str, int, int], None]
#: Below this many bytes to parse, reading in this process beats a pool.
PARALLEL_PARSE_THRESHOLD = 4 * 1024 * 1024
#: Files a reading process is given at a time.
READ_BATCH = 16
#: A reading process that sends nothing for this many seconds is taken as stuck and killed
#: (a batch holds at most 16 files of at most the size limit: far less work than this).
STALL_SECONDS = 600.0
#: JSON Lines files larger than this (or than the record limit) are read record by record in
#: chunks, never whole: a 2 GB dump must not need 2 GB of memory.
STREAM_ABOVE = 32 * 1024 * 1024
#: Bytes of whole lines parsed at a time when a file is streamed.
STREAM_CHUNK = 4 * 1024 * 1024
#: Bytes read from the file at a time when streaming.
_BLOCK = 1024 * 1024
#: The readers' binary check samples this much of a file (plus a byte order mark): the part
#: of a file read before must be at least this long for its new lines to be read on their own.
_SAMPLED = 8192 + 3


@dataclass(frozen=True)
class ReadTask:
    """A file to read, with what the manifest knew of it."""

    file: CorpusFile
    old_hash: str | None = None  # content hash when last read
    appended_after: int = 0  # if > 0: its old size, when the file may have only grown since
    #: For a streamed JSON Lines file: read about this many bytes of lines and stop at the end
    #: of a line (a checkpoint's share of the file); None reads to the end.
    budget: int | None = None
    #: The size limit of one file, and of one record in a streamed JSON Lines file.
    record_limit: int = DEFAULT_MAX_FILE_SIZE


@dataclass(frozen=True)
class FileOutcome:
    """What reading one corpus file gave: its documents, or that it had not changed."""

    file: CorpusFile
    content_hash: str | None  # None when the file could not be read
    unchanged: bool = False
    documents: tuple[Document, ...] = ()
    problems: tuple[Problem, ...] = ()
    appended: bool = False  # documents and problems are of the new lines only
    claimed_ids: frozenset[str] = frozenset()  # when appended: the ids the new lines name
    #: Read record by record (`streams`): the file may be given in parts, each outcome one
    #: part; `file` is then the file as far as it was read (its size, where the part ends).
    streamed: bool = False
    #: For streamed new lines: where they are (`path:first-last`), to name in messages.
    lines: str = ""
    whole_size: int = 0  # for a streamed file: its size when scanned

    @property
    def partial(self) -> bool:
        """True if only a first part of the file was read (a checkpoint's share)."""
        return self.streamed and self.file.size < self.whole_size


def streams(cf: CorpusFile, record_limit: int = DEFAULT_MAX_FILE_SIZE) -> bool:
    """True if the file is read record by record, in chunks (a large JSON Lines file)."""
    return cf.size > min(record_limit, STREAM_ABOVE) and is_json_lines(cf.path)


def reread_task(
    cf: CorpusFile, entry: FileEntry, record_limit: int = DEFAULT_MAX_FILE_SIZE
) -> ReadTask:
    """The task for a file the manifest knows whose stat changed: its old content hash, and
    its old size if it may only have grown since it was read.

    Only a file read without a warning about the whole of it (a decoding fallback, say)
    qualifies for reading its new lines alone: they could be read differently on their own.
    A streamed file is decoded line by line, so that no warning is about the whole of it and
    any part read before qualifies, also one without documents: otherwise a checkpointed
    build could read a part again from the start at every checkpoint, and never end.
    """
    old_stat_key, digest = split_signature(entry.signature)
    old_size = size_of(old_stat_key)
    if old_size >= cf.size:
        old_size = 0
    elif not streams(cf, record_limit):
        shown = printable_path(cf.path)
        if not entry.docs or any(p.path == shown for p in entry.problems):
            old_size = 0
    return ReadTask(cf, digest, old_size, record_limit=record_limit)


def read_corpus_file(task: ReadTask) -> FileOutcome:
    """Read, hash and (unless its content is as before) parse one file. Never raises.

    A JSON Lines file that only grew (its old bytes hash as before) has only its new lines
    parsed: appending 1% to Reuters' one 26 MB file re-parsed and re-hashed 21,578 records.
    """
    cf = task.file
    shown = printable_path(cf.path)
    if task.budget is not None or streams(cf, task.record_limit):
        return _read_streamed(task)
    try:
        data = read_bytes(cf)
    except OSError as exc:
        return _unreadable(cf, exc)
    folder = printable_path(cf.folder)
    old_size = task.appended_after
    digest = None
    if 0 < old_size < len(data):
        hasher = content_hasher(memoryview(data)[:old_size])  # type: ignore[arg-type]  # any buffer
        if hasher.hexdigest() == task.old_hash:
            hasher.update(memoryview(data)[old_size:])
            digest = hasher.hexdigest()
            new = parse_appended_lines(
                data, old_size, path=shown, id_base=cf.id_base, folder=folder
            )
            if new is not None:
                return FileOutcome(
                    cf,
                    digest,
                    documents=new.documents,
                    problems=new.problems,
                    appended=True,
                    claimed_ids=new.claimed_ids,
                )
    if digest is None:
        digest = content_hash(data)
    if digest == task.old_hash:
        return FileOutcome(cf, digest, unchanged=True)
    # The same limit bounds what a compressed file may inflate to (readers_gzip).
    result = parse_file(
        data, path=shown, id_base=cf.id_base, folder=folder, max_size=task.record_limit
    )
    return FileOutcome(cf, digest, documents=result.documents, problems=result.problems)


def _read_streamed(task: ReadTask) -> FileOutcome:
    """`read_corpus_file` for a JSON Lines file read record by record (`streams`)."""
    cf = task.file
    try:
        with open_checked(cf) as f:
            return _JsonLinesStream(task, f).read()
    except OSError as exc:
        return _unreadable(cf, exc)


def _unreadable(cf: CorpusFile, exc: OSError) -> FileOutcome:
    """A file that could not be read: said, and (permissions, a disk gone, a file swapped
    for a FIFO: "not now") its documents stay."""
    shown = printable_path(cf.path)
    if isinstance(exc, OutsideRoot):
        return FileOutcome(cf, None, problems=(Problem(shown, exc.strerror or str(exc)),))
    reason = f"cannot read: {exc.strerror or exc}"
    problem = Problem(shown, reason, unavailable=is_transient(exc))
    return FileOutcome(cf, None, problems=(problem,))


#: (path, size, hash) of the part of a streamed file this process read last -> the hash state
#: and line breaks at its end, and the file's identity then (`_identity`).
_READ_PARTS: dict[tuple[str, int, str | None], tuple[Any, int, tuple[int, ...]]] = {}


def _identity(f: BinaryIO) -> tuple[int, ...]:
    """What changes when a file is written to: size, mtime, ctime, inode."""
    st = os.fstat(f.fileno())
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


def _line_breaks(data: bytes | bytearray) -> int:
    """Line breaks as the readers count them: `\n`, `\r\n` and a lone `\r`."""
    return data.count(b"\n") + data.count(b"\r") - data.count(b"\r\n")


class _JsonLinesStream:
    """Reading one JSON Lines file in chunks of whole lines, with memory bounded by the chunk
    (and the record limit), not the file.

    Each chunk is parsed by the readers' own functions: the first by `parse_file`, the next
    ones by `parse_appended_lines` (the path a file that grew takes), given in place of the
    bytes before the chunk a stand-in with as many line breaks, which is all that function
    reads of them: ids and line numbers come out as a whole read gives them. A line that is
    not UTF-8 is decoded alone (cp1252, else latin-1) with a warning naming it, so that a
    chunk never changes how another is read; a line over the record limit is skipped with a
    message, and so is a later line reusing an id of the file.
    """

    def __init__(self, task: ReadTask, f: BinaryIO) -> None:
        self.task = task
        self.cf = task.file
        self.f = f
        self.shown = printable_path(self.cf.path)
        self.folder = printable_path(self.cf.folder)
        self.hasher = content_hasher()
        self.pos = 0  # bytes taken (hashed): always the end of a line, or of the file
        self.breaks = 0  # line breaks before `pos`
        self.chunk = bytearray()
        self.chunk_start = 0  # offset of the chunk's first byte
        self.chunk_breaks = 0  # line breaks before the chunk
        self.documents: list[Document] = []
        self.problems: list[Problem] = []
        self.ids: set[str] = set()
        self.dead = False  # the whole file was found binary or empty: hash the rest only

    def read(self) -> FileOutcome:
        task, cf = self.task, self.cf
        start = self._skip_read_part() if task.appended_after else 0
        if not start and task.old_hash is not None and task.budget is None:
            # The stat changed; the bytes may not have (a copy, a touch): hashing first is
            # much cheaper than parsing a large file for nothing.
            if self._hash_to_end() == task.old_hash:
                return FileOutcome(cf, task.old_hash, unchanged=True)
            self.f.seek(0)
            self.hasher = content_hasher()
        first_line = self.breaks + 1
        self._read_lines(start)
        self._parse_chunk()
        read_as = cf
        _READ_PARTS.clear()
        _READ_PARTS[(cf.path, self.pos, self.hasher.hexdigest())] = (
            self.hasher.copy(),
            self.breaks,
            _identity(self.f),
        )
        if self.pos != cf.size:
            # As far as it was read: its size is where this part ends, so the next read of
            # the file (a checkpoint later, or the next run) starts there.
            rest = cf.stat_key.partition(":")[2]
            read_as = dataclasses.replace(cf, size=self.pos, stat_key=f"{self.pos}:{rest}")
        return FileOutcome(
            read_as,
            self.hasher.hexdigest(),
            documents=tuple(self.documents),
            problems=tuple(self.problems),
            appended=bool(start),
            claimed_ids=frozenset(self.ids),
            streamed=True,
            lines=f"{self.shown}:{first_line}-{max(first_line, self.breaks)}",
            whole_size=cf.size,
        )

    def _hash_to_end(self) -> str:
        hasher = content_hasher()
        while block := self.f.read(_BLOCK):
            hasher.update(block)
        return hasher.hexdigest()

    def _skip_read_part(self) -> int:
        """Hash and count the part read before; its size if it is as it was, else 0 (and the
        file is read from its start)."""
        old_size = self.task.appended_after
        known = _READ_PARTS.get((self.cf.path, old_size, self.task.old_hash))
        if known is not None and known[2] == _identity(self.f):
            # This process read that part a checkpoint ago, and the file is as it was then:
            # hashing it again at every checkpoint would cost time quadratic in the file.
            self.hasher, self.breaks = known[0].copy(), known[1]
            self.pos = self.chunk_start = self.f.seek(old_size)
            self.chunk_breaks = self.breaks
            return old_size
        last = b""
        split_pairs = 0  # `\r\n` pairs cut by a block boundary
        while self.pos < old_size:
            block = self.f.read(min(_BLOCK, old_size - self.pos))
            if not block:
                break
            if last == b"\r" and block[:1] == b"\n":
                split_pairs += 1
            self.hasher.update(block)
            self.breaks += _line_breaks(block)
            self.pos += len(block)
            last = block[-1:]
        self.breaks -= split_pairs
        if (
            self.pos == old_size >= _SAMPLED
            and last == b"\n"
            and self.hasher.hexdigest() == self.task.old_hash
        ):
            self.chunk_start, self.chunk_breaks = self.pos, self.breaks
            return old_size
        self.f.seek(0)
        self.hasher = content_hasher()
        self.pos = self.breaks = 0
        return 0

    def _read_lines(self, start: int) -> None:
        """Take the file's lines from `start` to the end, or until the budget is spent."""
        budget = self.task.budget
        limit = self.task.record_limit
        parts: list[bytes] = []  # a line not yet ended, in blocks
        waiting = 0
        while True:
            if budget is not None and self.pos - start >= budget and not self.dead:
                return
            block = self.f.read(_BLOCK)
            if not block:
                if parts:
                    self._take(b"".join(parts))  # the last line, without a line break
                return
            cut = block.rfind(b"\n") + 1
            if not cut:
                parts.append(block)
                waiting += len(block)
                if waiting > limit:
                    self._skip_long_line(b"".join(parts))
                    parts, waiting = [], 0
                continue
            lines = b"".join([*parts, block[:cut]])
            parts = [block[cut:]] if cut < len(block) else []
            if budget is not None and not self.dead and len(lines) > start + budget - self.pos:
                # The share ends with the line that crosses it.
                end = lines.find(b"\n", max(0, start + budget - self.pos - 1)) + 1
                self._take(lines[:end])
                if not self.dead:
                    return
                lines = lines[end:]  # found binary or empty on the way: hashed to the end
            self._take(lines)
            waiting = len(block) - cut

    def _take(self, lines: bytes) -> None:
        """Take whole lines (or the file's last line): hashed, counted, and chunked to parse."""
        self.hasher.update(lines)
        size, breaks = len(lines), _line_breaks(lines)
        if not self.dead:
            if size > self.task.record_limit:
                lines = self._blank_long_lines(lines)
            self.chunk += lines
        self.pos += size
        self.breaks += breaks
        at_start = self.chunk_start == 0
        if len(self.chunk) >= STREAM_CHUNK and (not at_start or self.chunk.strip()):
            self._parse_chunk()

    def _blank_long_lines(self, lines: bytes) -> bytes:
        """The lines with each one over the record limit replaced by as many line breaks
        (hashed as they were; skipped, with a message, but still counted)."""
        limit = self.task.record_limit
        out = []
        number = self.breaks + 1
        for line in lines.splitlines(keepends=True):
            if len(line) > limit:
                self._long_line_problem(number, len(line.rstrip(b"\r\n")))
                line = b"\n" * _line_breaks(line)
            out.append(line)
            number += _line_breaks(line)
        return b"".join(out)

    def _skip_long_line(self, head: bytes) -> None:
        """Pass over a line longer than the record limit without holding it: hashed and
        counted, reported, not parsed."""
        number = self.breaks + 1
        size = len(head)
        self.hasher.update(head)
        crs = head.count(b"\r")
        last = head[-1:]
        tail: bytes = b""
        rest: bytes = b""
        while True:
            block = self.f.read(_BLOCK)
            if not block:
                break
            cut = block.find(b"\n") + 1
            if cut:
                tail, rest = block[:cut], block[cut:]
                break
            self.hasher.update(block)
            size += len(block)
            crs += block.count(b"\r")
            last = block[-1:]
        self.hasher.update(tail)
        size += len(tail)
        crs += tail.count(b"\r")
        if len(tail) > 1:
            last = tail[-2:-1]
        ends = bool(tail)
        pair = ends and last == b"\r"
        breaks = crs + ends - pair
        self._long_line_problem(number, size - ends - pair)  # the record, not its line break
        if not self.dead:
            self.chunk += b"\n" * breaks
        self.pos += size
        self.breaks += breaks
        if rest:
            # The rest of the block: whole lines, then the start of the next one.
            cut = rest.rfind(b"\n") + 1
            if cut:
                self._take(rest[:cut])
            if cut < len(rest):
                self.f.seek(cut - len(rest), 1)

    def _long_line_problem(self, number: int, size: int) -> None:
        limit = self.task.record_limit
        reason = f"record is {size:,} bytes, over the {limit:,}-byte limit"
        self.problems.append(Problem(f"{self.shown}:{number}", reason))

    def _parse_chunk(self) -> None:
        """Parse the lines gathered so far (ids and line numbers as a whole read gives)."""
        chunk, self.chunk = bytes(self.chunk), bytearray()
        start, breaks = self.chunk_start, self.chunk_breaks
        self.chunk_start, self.chunk_breaks = self.pos, self.breaks
        if self.dead or not chunk:
            return
        chunk = self._utf8(chunk, breaks + 1)
        cf = self.cf
        if start == 0:
            result = parse_file(chunk, path=self.shown, id_base=cf.id_base, folder=self.folder)
            if any(p.path == self.shown and p.skipped for p in result.problems):
                self.dead = True  # binary, or empty: said of the whole file
        else:
            # Blank lines, then a line break each: the readers count and number lines only.
            stand_in = b" " * max(0, _SAMPLED - breaks) + b"\n" * breaks
            parsed = parse_appended_lines(
                stand_in + chunk,
                len(stand_in),
                path=self.shown,
                id_base=cf.id_base,
                folder=self.folder,
            )
            if parsed is None:
                where = f"{self.shown}:{breaks + 1}-{breaks + _line_breaks(chunk)}"
                self.problems.append(Problem(where, "cannot read these lines, skipped"))
                return
            result = parsed
        self.problems.extend(result.problems)
        for doc in result.documents:
            if doc.id in self.ids:
                where = f"{self.shown}:{breaks + 1}-{breaks + _line_breaks(chunk)}"
                reason = f"duplicate id {doc.id!r} (first at an earlier line), skipped"
                self.problems.append(Problem(where, reason))
                continue
            self.ids.add(doc.id)
            self.documents.append(doc)

    def _utf8(self, chunk: bytes, first_line: int) -> bytes:
        """The chunk with each line that is not UTF-8 decoded alone, with a warning."""
        try:
            chunk.decode("utf-8")
            return chunk
        except UnicodeDecodeError:
            pass
        out = []
        number = first_line
        for line in chunk.splitlines(keepends=True):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as exc:
                try:
                    text, encoding = line.decode("cp1252"), "cp1252"
                except UnicodeDecodeError:
                    text, encoding = line.decode("latin-1"), "latin-1"
                reason = (
                    f"not valid UTF-8 (byte 0x{line[exc.start]:02x} at offset {exc.start} "
                    f"of the line), decoded as {encoding}"
                )
                self.problems.append(Problem(f"{self.shown}:{number}", reason, skipped=False))
                line = text.encode("utf-8")
            out.append(line)
            number += _line_breaks(line)
        return b"".join(out)


def read_all(
    tasks: list[ReadTask],
    *,
    workers: int,
    progress: ProgressCallback | None,
) -> Iterable[FileOutcome]:
    """The outcome of each task, in the order given; in `workers` processes if worth it."""
    total = len(tasks)
    size = sum(t.file.size - t.appended_after for t in tasks)
    if workers <= 1 or total < 2 or size < PARALLEL_PARSE_THRESHOLD:
        for i, task in enumerate(tasks, 1):
            yield read_corpus_file(task)
            if progress:
                progress("reading", i, total)
        return
    # Big files first, so one large JSON Lines file does not start last and run alone.
    order = sorted(range(total), key=lambda i: -tasks[i].file.size)
    outcomes: list[FileOutcome | None] = [None] * total
    done = 0
    for i, outcome in _read_in_processes(tasks, order, workers=workers):
        outcomes[i] = outcome
        done += 1
        if progress:
            progress("reading", done, total)
    # Results in corpus order, so duplicate ids resolve the same way on every run.
    yield from outcomes  # type: ignore[misc]


class ReaderFailed(Exception):
    """A reading process ended without its files' outcomes: killed, crashed or stuck."""


def _read_in_processes(
    tasks: list[ReadTask], order: list[int], *, workers: int
) -> Iterator[tuple[int, FileOutcome]]:
    """(index, outcome) of every task, read by `workers` processes, each given batches of
    `READ_BATCH` tasks (in `order`), a new one for each batch it sends back.

    Not `multiprocessing.Pool`: a pool waits for good on the result of a worker that was
    killed (the OOM killer, say), and its `terminate` can block on its task queue. Here a
    reading process that dies, or is silent for `STALL_SECONDS`, fails the read with
    `ReaderFailed`; however the call ends, every reading process has ended with it.
    """
    batches = [order[i : i + READ_BATCH] for i in range(0, len(order), READ_BATCH)]
    batches.reverse()  # popped from the end: biggest files first
    ctx = multiprocessing.get_context()
    readers: list[_ReaderProcess] = []
    try:
        for _ in range(min(workers, len(batches))):
            reader = _ReaderProcess.start(ctx)
            readers.append(reader)
        # Two batches in flight per process, so that none waits for the next one.
        for _ in range(2):
            for reader in readers:
                if batches:
                    reader.give(batches.pop(), tasks)
        busy = {r.conn: r for r in readers}
        while busy:
            ready = multiprocessing.connection.wait(list(busy), timeout=STALL_SECONDS)
            if not ready:
                raise ReaderFailed(f"a reading process made no progress for {STALL_SECONDS:g} s")
            for ready_one in ready:
                # `wait` is given only the receiving ends of pipes, so it returns only those.
                conn = cast(multiprocessing.connection.Connection, ready_one)
                reader = busy[conn]
                try:
                    results = conn.recv()
                except (EOFError, OSError):
                    raise reader.death() from None
                yield from results
                reader.in_flight -= 1
                if batches:
                    reader.give(batches.pop(), tasks)
                elif not reader.in_flight:
                    del busy[conn]
    finally:
        for reader in readers:
            reader.stop()


class _ReaderProcess:
    """One reading process and its two-way pipe: batches of tasks in, their outcomes out."""

    def __init__(self, process, conn) -> None:
        self.process = process
        self.conn = conn
        self.in_flight = 0  # batches sent, outcomes not yet received

    @classmethod
    def start(cls, ctx) -> _ReaderProcess:
        conn, child_conn = ctx.Pipe()
        process = ctx.Process(
            target=_reader_main, args=(child_conn,), name="searchkit-reader", daemon=True
        )
        try:
            process.start()
        finally:
            child_conn.close()  # the child's copy is the only other end: EOF when it dies
        return cls(process, conn)

    def give(self, batch: list[int], tasks: list[ReadTask]) -> None:
        """Send the next batch of tasks (with their indexes)."""
        try:
            self.conn.send([(i, tasks[i]) for i in batch])
        except OSError:
            raise self.death() from None
        self.in_flight += 1

    def stop(self) -> None:
        """End the process (killing it if it still runs) and reap it."""
        if self.process.is_alive():
            self.process.kill()
        self.process.join(10)  # bounded; a daemon that outlives it dies with its parent
        self.conn.close()

    def death(self) -> ReaderFailed:
        """The error for a process that ended before sending its outcomes."""
        self.process.join(5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5)
        code = self.process.exitcode
        if code is not None and code < 0:
            name = signal.Signals(-code).name if -code in signal.valid_signals() else -code
            return ReaderFailed(f"a reading process was killed by signal {name}")
        return ReaderFailed(f"a reading process exited with status {code} before it was done")


def _reader_main(conn) -> None:
    """The body of a reading process: read each batch it is sent until the pipe closes."""
    # Ctrl-C and a SIGTERM to the group reach every process: the parent alone handles them
    # (and kills us), so that it reports the interrupt, not a worker that died of it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    while True:
        try:
            batch = conn.recv()
        except (EOFError, OSError):
            return  # the parent is done with us (or gone)
        # read_corpus_file never raises: a file it cannot read is an outcome, not an error.
        conn.send([(i, read_corpus_file(task)) for i, task in batch])
