"""Persistent request cache: one SQLite file shared by every process of a machine.

Key: sha256 of (model id, revision, rendered prompt, sampling params minus n, sample index).
Value: generated text (UTF-8 bytes, so it comes back byte-identical), token counts, finish
reason and a sha256 checksum over all of them. A row that cannot be parsed or whose checksum
does not match is a miss: it is logged, deleted and regenerated.

A damaged file (not a database, or a database with corrupt pages: ``PRAGMA quick_check`` on open, or
"database disk image is malformed" on any read or write) is never left in place to make every request
a miss forever: it is moved aside (``<name>.corrupt-<time>-<pid>``), the rows that can still be read and
whose checksums hold are copied into a fresh file, and the repair is logged and kept in ``repairs``
(LLMClient.stats reports ``cache_repairs``; assets put it in their metadata).

WAL journal + busy_timeout make several writer processes safe; writes are short transactions.
``put_many`` writes at once (one transaction). ``put_later`` only queues: one writer thread per cache
writes everything queued in one transaction when ``FLUSH_ROWS`` rows wait or ``FLUSH_S`` seconds have
passed since the first of them (so many rows per transaction, none of it on the caller's event loop);
``flush()`` waits until everything queued before it is written. Reads (``get_many``, ``len``) flush first,
so a cache always reads its own writes; an exiting process flushes every cache it opened.
"""

from __future__ import annotations

import atexit
import hashlib
import logging
import os
import sqlite3
import threading
import time
import weakref
from pathlib import Path

from resources.canonical import canonical_json
from resources.llm.types import Generation, SamplingParams

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS generations (
    key TEXT PRIMARY KEY,
    text BLOB NOT NULL,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    finish_reason TEXT NOT NULL,
    checksum TEXT NOT NULL,
    model_id TEXT NOT NULL,
    created_at REAL NOT NULL
)
"""
# The rendered prompt of each entry, so that a retraction can find and delete the entries derived from
# retracted text (``delete_matching``). Entries written before this table existed have no row here.
_PROMPTS_SCHEMA = """
CREATE TABLE IF NOT EXISTS generation_prompts (
    key TEXT PRIMARY KEY,
    prompt BLOB NOT NULL
)
"""
_BUSY_TIMEOUT_MS = 60_000
_PENDING_REPAIRS: list[dict] = []  # repairs of this process not yet reported in an asset's metadata
_PENDING_LOCK = threading.Lock()
FLUSH_ROWS = 1024  # queued rows that make the writer thread write at once
FLUSH_S = 0.1  # the longest a queued row waits for its transaction (a killed run loses at most this much)
_IDLE_EXIT_S = 5.0  # an idle writer thread ends; the next put_later starts another
_OPEN_CACHES: weakref.WeakSet[GenerationCache] = weakref.WeakSet()
# Where this process's cache writes spend their time (all caches together; ``io_stats``): write transactions and
# rows, seconds waiting in ``BEGIN IMMEDIATE`` for another writer's lock (another process sharing the file),
# seconds holding it (insert + commit), and seconds callers waited in ``flush`` for the writer thread.
_IO = {"transactions": 0, "rows": 0, "lock_wait_s": 0.0, "write_s": 0.0, "flush_wait_s": 0.0}
_IO_LOCK = threading.Lock()


def io_stats() -> dict[str, float]:
    """This process's cache-write totals so far (see ``_IO``): benchmarks read them to find lock contention."""
    with _IO_LOCK:
        return dict(_IO)


def _count(**inc: float) -> None:
    with _IO_LOCK:
        for k, v in inc.items():
            _IO[k] += v


@atexit.register
def _flush_all() -> None:
    for cache in list(_OPEN_CACHES):
        try:
            cache.flush()
        except Exception as e:  # noqa: BLE001 - exiting: log and go on with the other caches
            log.warning("LLM cache %s: could not flush at exit (%s)", cache.path, e)


def take_repairs() -> list[dict]:
    """The cache repairs of this process since the last call (``common.metadata.output`` reports them)."""
    with _PENDING_LOCK:
        out = list(_PENDING_REPAIRS)
        _PENDING_REPAIRS.clear()
    return out


def cache_key(model_id: str, revision: str, rendered: str, params: SamplingParams, sample_index: int) -> str:
    payload = canonical_json([model_id, revision, rendered, params.cache_key_part(), int(sample_index)], strict=True)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def _encode(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


def _checksum(key: str, text: bytes, prompt_tokens: int, completion_tokens: int, finish_reason: str) -> str:
    h = hashlib.sha256()
    for part in (
        key.encode(),
        text,
        str(prompt_tokens).encode(),
        str(completion_tokens).encode(),
        finish_reason.encode(),
    ):
        h.update(len(part).to_bytes(8, "big"))
        h.update(part)
    return h.hexdigest()


def _quick_check(conn: sqlite3.Connection) -> str | None:
    """None when SQLite finds the file sound, else what it found (the first few problems)."""
    try:
        rows = [r[0] for r in conn.execute("PRAGMA quick_check(5)").fetchall()]
        conn.execute("SELECT COUNT(*) FROM generations").fetchone()
    except sqlite3.OperationalError:
        raise
    except sqlite3.DatabaseError as e:
        return f"{type(e).__name__}: {e}"
    return None if rows == ["ok"] else "quick_check: " + "; ".join(map(str, rows))


def _salvage(path: Path, window: int = 64) -> list[tuple]:
    """The rows of a damaged cache file that can still be read and whose checksums hold (rowid windows,
    so one bad page loses only its own rows)."""
    rows: list[tuple] = []
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1)
    except sqlite3.Error:
        return rows
    try:
        try:
            top = conn.execute("SELECT MAX(rowid) FROM generations").fetchone()[0] or 0
        except sqlite3.Error:
            top = 1 << 20  # the b-tree's right edge is damaged: probe a bounded range
        empty_run = 0
        for lo in range(0, int(top) + 1, window):
            try:
                chunk = conn.execute(
                    "SELECT key, text, prompt_tokens, completion_tokens, finish_reason, checksum, model_id, created_at"
                    " FROM generations WHERE rowid >= ? AND rowid < ?",
                    (lo, lo + window),
                ).fetchall()
            except sqlite3.Error:
                continue
            empty_run = empty_run + 1 if not chunk else 0
            if empty_run > 4096:
                break
            for r in chunk:
                if GenerationCache._parse(r[:6]) is not None:
                    rows.append(r)
    finally:
        conn.close()
    return rows


class GenerationCache:
    """Thread-safe, multi-process-safe SQLite cache of generations (see module docstring)."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.hits = 0
        self.misses = 0
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        self._pid = -1
        self.repairs: list[dict] = []  # {"path", "moved_to", "reason", "salvaged"} per repair of this process
        self._init_writer()

    def _init_writer(self) -> None:
        self._cv = threading.Condition()
        self._queue: list[tuple[list[tuple[str, Generation]], str, dict[str, str]]] = []
        self._queued_rows = 0
        self._queued = 0  # put_later calls queued so far
        self._written = 0  # ... and written (or given up on) so far
        self._flush_now = False
        self._writer: threading.Thread | None = None
        self._writer_pid = os.getpid()
        _OPEN_CACHES.add(self)

    # -- connection -------------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        if self._conn is not None and self._pid == os.getpid():
            return self._conn
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = self._open()
            problem = _quick_check(conn)
        except sqlite3.OperationalError:  # locked, permissions, ...: never throw a good file away
            raise
        except sqlite3.DatabaseError as e:  # not a database at all
            problem = f"{type(e).__name__}: {e}"
        else:
            if problem is not None:
                conn.close()
        if problem is not None:
            self._repair(problem)
            conn = self._open()
        self._conn, self._pid = conn, os.getpid()
        return conn

    def _repair(self, reason: str) -> None:
        """Move the damaged file (and its -wal/-shm) aside, then copy every row that still reads and
        verifies into a fresh file. The caller reopens ``self.path``."""
        if self._conn is not None and self._pid == os.getpid():
            try:
                self._conn.close()
            except sqlite3.Error:
                pass
        self._conn = None
        aside = self.path.with_name(f"{self.path.name}.corrupt-{int(time.time())}-{os.getpid()}")
        for suffix in ("", "-wal", "-shm"):
            p = Path(str(self.path) + suffix)
            if p.exists():
                os.replace(p, Path(str(aside) + suffix))
        salvaged = 0
        try:
            rows = _salvage(aside)
            if rows:
                fresh = self._open()
                try:
                    fresh.execute("BEGIN IMMEDIATE")
                    fresh.executemany("INSERT OR REPLACE INTO generations VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
                    fresh.execute("COMMIT")
                    salvaged = len(rows)
                finally:
                    fresh.close()
        except sqlite3.Error as e:  # salvage is best effort; the fresh file is what matters
            log.warning("LLM cache %s: could not salvage rows from %s (%s)", self.path, aside, e)
        repair = {"path": str(self.path), "moved_to": str(aside), "reason": reason, "salvaged": salvaged}
        self.repairs.append(repair)
        with _PENDING_LOCK:
            _PENDING_REPAIRS.append(repair)
        log.warning(
            "LLM cache %s is unreadable or damaged (%s); moved to %s and rebuilt with the %d entries that still verify",
            self.path,
            reason,
            aside,
            salvaged,
        )

    def _recovering(self, e: sqlite3.Error) -> bool:
        """True when ``e`` means the file is damaged: it has then been repaired and the caller may retry."""
        if type(e) is not sqlite3.DatabaseError:  # "malformed" / "not a database"; not locks or constraints
            return False
        try:
            self._repair(f"{type(e).__name__}: {e}")
            self._connect()
        except sqlite3.Error as again:
            log.warning("LLM cache %s: repair failed (%s)", self.path, again)
            return False
        return True

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path, timeout=_BUSY_TIMEOUT_MS / 1000, check_same_thread=False, isolation_level=None
        )
        try:
            conn.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(_SCHEMA)
            conn.execute(_PROMPTS_SCHEMA)
        except sqlite3.DatabaseError:
            conn.close()
            raise
        return conn

    def close(self) -> None:
        self.flush()
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            self._conn = None

    def __getstate__(self):  # picklable (Dagster may ship resources to step processes)
        return {"path": self.path, "hits": self.hits, "misses": self.misses}

    def __setstate__(self, state):
        GenerationCache.__init__(self, state["path"])
        self.hits, self.misses = state["hits"], state["misses"]

    # -- reads ------------------------------------------------------------------------------
    def get_many(self, keys: list[str]) -> dict[str, Generation]:
        """Look keys up; returns the valid hits (cached=True, sample_index 0: the caller sets it)."""
        uniq = list(dict.fromkeys(keys))
        self.flush()
        with self._lock:
            for attempt in (0, 1):
                try:
                    found = self._get(uniq)
                    break
                except sqlite3.Error as e:  # a cache that cannot be read is empty, never fatal
                    if attempt == 0 and self._recovering(e):
                        continue
                    log.warning(
                        "LLM cache %s could not be read (%s); treating %d lookups as misses", self.path, e, len(uniq)
                    )
                    found = {}
                    break
            self.hits += sum(1 for k in keys if k in found)
            self.misses += sum(1 for k in keys if k not in found)
        return found

    def _get(self, uniq: list[str]) -> dict[str, Generation]:
        found: dict[str, Generation] = {}
        bad: list[str] = []
        conn = self._connect()
        for start in range(0, len(uniq), 500):
            chunk = uniq[start : start + 500]
            rows = conn.execute(
                "SELECT key, text, prompt_tokens, completion_tokens, finish_reason, checksum FROM generations"
                f" WHERE key IN ({','.join('?' * len(chunk))})",
                chunk,
            ).fetchall()
            for row in rows:
                gen = self._parse(row)
                if gen is None:
                    bad.append(row[0])
                else:
                    found[row[0]] = gen
        if bad:
            conn.executemany("DELETE FROM generations WHERE key = ?", [(k,) for k in bad])
        return found

    @staticmethod
    def _parse(row) -> Generation | None:
        key, text, pt, ct, fr, checksum = row
        try:
            if isinstance(text, str):  # written by something else; be lenient but verify
                text = _encode(text)
            if (
                not isinstance(text, bytes)
                or not isinstance(pt, int)
                or not isinstance(ct, int)
                or not isinstance(fr, str)
            ):
                raise ValueError("wrong column types")
            if _checksum(key, text, pt, ct, fr) != checksum:
                raise ValueError("checksum mismatch")
            return Generation(text.decode("utf-8", "surrogatepass"), pt, ct, fr, cached=True)
        except Exception as e:  # noqa: BLE001 - any bad row is a miss
            log.warning("LLM cache entry %s is corrupt (%s); it will be regenerated", key[:16], e)
            return None

    # -- writes -----------------------------------------------------------------------------
    def put_many(
        self, items: list[tuple[str, Generation]], model_id: str = "", prompts: dict[str, str] | None = None
    ) -> None:
        """Store generations now (one transaction); ``prompts`` (key -> rendered prompt) lets a retraction
        find them later."""
        if items:
            rows, prompt_rows = self._rows([(items, model_id, prompts or {})])
            self._write(rows, prompt_rows)

    def put_later(
        self, items: list[tuple[str, Generation]], model_id: str = "", prompts: dict[str, str] | None = None
    ) -> None:
        """Queue generations for the writer thread (module docstring); returns at once."""
        if not items:
            return
        with self._cv:
            if self._writer_pid != os.getpid():  # a forked child: the parent's queue and thread are not ours
                self._init_writer()
                return self.put_later(items, model_id, prompts)
            self._queue.append((items, model_id, prompts or {}))
            self._queued += 1
            self._queued_rows += len(items)
            if self._writer is None:
                self._writer = threading.Thread(target=self._write_loop, name="citrus-llm-cache-writer", daemon=True)
                self._writer.start()
            elif self._queued_rows >= FLUSH_ROWS:
                self._cv.notify_all()

    def flush(self) -> None:
        """Wait until everything queued by ``put_later`` before this call is written."""
        with self._cv:
            if self._writer_pid != os.getpid():
                self._init_writer()
                return
            target = self._queued
            if self._written >= target:
                return
            self._flush_now = True
            self._cv.notify_all()
            t0 = time.perf_counter()
            while self._written < target:
                if self._writer is None or not self._writer.is_alive():  # never wait on a dead writer
                    log.warning(
                        "LLM cache %s: the writer thread is gone; %d queued entries not written",
                        self.path,
                        self._queued_rows,
                    )
                    break
                self._cv.wait(1.0)
            _count(flush_wait_s=time.perf_counter() - t0)

    def _write_loop(self) -> None:
        while True:
            with self._cv:
                idle_until = time.monotonic() + _IDLE_EXIT_S
                while not self._queue:
                    left = idle_until - time.monotonic()
                    if left <= 0:
                        self._writer = None
                        return
                    self._cv.wait(left)
                due = time.monotonic() + FLUSH_S
                while self._queued_rows < FLUSH_ROWS and not self._flush_now and (left := due - time.monotonic()) > 0:
                    self._cv.wait(left)
                batch, self._queue, self._queued_rows = self._queue, [], 0
                upto, self._flush_now = self._queued, False
            try:
                rows, prompt_rows = self._rows(batch)
                self._write(rows, prompt_rows)
            except Exception as e:  # noqa: BLE001 - the writer must live on; losing entries never loses results
                log.warning(
                    "LLM cache %s: could not store %d queued entries (%s: %s)",
                    self.path,
                    sum(len(b[0]) for b in batch),
                    type(e).__name__,
                    e,
                )
            with self._cv:
                self._written = upto
                self._cv.notify_all()

    @staticmethod
    def _rows(batch) -> tuple[list[tuple], list[tuple[str, bytes]]]:
        rows, prompt_rows, now = [], [], time.time()
        for items, model_id, prompts in batch:
            for key, g in items:
                text = _encode(g.text)
                pt, ct, fr = int(g.prompt_tokens), int(g.completion_tokens), str(g.finish_reason)
                rows.append((key, text, pt, ct, fr, _checksum(key, text, pt, ct, fr), model_id, now))
                if key in prompts:
                    prompt_rows.append((key, _encode(prompts[key])))
        return rows, prompt_rows

    def _write(self, rows: list[tuple], prompt_rows: list[tuple[str, bytes]]) -> None:
        with self._lock:
            for attempt in (0, 1):
                try:
                    conn = self._connect()
                    t0 = time.perf_counter()
                    conn.execute("BEGIN IMMEDIATE")
                    t1 = time.perf_counter()
                    try:
                        conn.executemany("INSERT OR REPLACE INTO generations VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
                        if prompt_rows:
                            conn.executemany("INSERT OR REPLACE INTO generation_prompts VALUES (?, ?)", prompt_rows)
                        conn.execute("COMMIT")
                        _count(transactions=1, rows=len(rows), lock_wait_s=t1 - t0, write_s=time.perf_counter() - t1)
                    except BaseException:
                        try:
                            conn.execute("ROLLBACK")
                        except sqlite3.Error:
                            pass
                        raise
                    return
                except sqlite3.Error as e:  # losing cache entries must not lose the generations themselves
                    if attempt == 0 and self._recovering(e):
                        continue
                    log.warning("LLM cache %s: could not store %d entries (%s)", self.path, len(rows), e)
                    return

    # -- retraction ---------------------------------------------------------------------------
    def delete_matching(self, texts, min_chars: int = 16) -> dict[str, int]:
        """Delete every entry whose rendered prompt or generated text contains one of ``texts`` (the text
        of retracted records; strings shorter than ``min_chars`` are ignored, they would match too much).
        Returns ``{"deleted", "left", "without_prompt"}``: entries written before prompts were kept are
        matched by their generated text only."""
        needles = sorted({t for t in texts if isinstance(t, str) and len(t.strip()) >= min_chars}, key=len)
        self.flush()
        with self._lock:
            conn = self._connect()
            rows = conn.execute(
                "SELECT g.key, g.text, p.prompt FROM generations g LEFT JOIN generation_prompts p USING (key)"
            ).fetchall()
            doomed, without_prompt = [], 0
            for key, text, prompt in rows:
                gen = bytes(text).decode("utf-8", "surrogatepass")
                pr = bytes(prompt).decode("utf-8", "surrogatepass") if prompt is not None else ""
                without_prompt += prompt is None
                if needles and any(n in pr or n in gen for n in needles):
                    doomed.append((key,))
            if doomed:
                conn.execute("BEGIN IMMEDIATE")
                conn.executemany("DELETE FROM generations WHERE key = ?", doomed)
                conn.executemany("DELETE FROM generation_prompts WHERE key = ?", doomed)
                conn.execute("COMMIT")
            return {"deleted": len(doomed), "left": len(rows) - len(doomed), "without_prompt": without_prompt}

    def __len__(self) -> int:
        self.flush()
        with self._lock:
            return self._connect().execute("SELECT COUNT(*) FROM generations").fetchone()[0]
