"""The bot's database: questions, feedback, language preferences and the admin audit log.

The only module that imports aiosqlite. One long-lived connection per process, WAL mode,
schema versioned with ``PRAGMA user_version`` and migrated on open. Every method returns
frozen dataclasses, never rows or cursors.

Privacy: user ids are stored only as HMAC hashes (`bot.privacy.hash_user_id`), and every
text is passed through `bot.privacy.mask_personal_data` before it is written.

Resilience: the bot must keep answering when the disk is full, the file is locked or the
directory vanished. The resident-facing methods (``record_*``, ``get_language``,
``set_language``) therefore never raise on a database failure: they log it once, mark the
storage unhealthy and try to reconnect at most every ``retry_seconds``. The admin methods
(``stats``, ``unanswered``, ``forget_*``, ``purge_expired``) raise `StorageUnavailable`,
because an admin should see that a report or a deletion did not happen.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, TypeVar

import aiosqlite

from bot.privacy import hash_user_id, mask_personal_data

__all__ = [
    "MIGRATIONS",
    "QUESTION_STATUSES",
    "SCHEMA_VERSION",
    "STATUSES",
    "DayStats",
    "EntryCount",
    "Stats",
    "StatusCounts",
    "Storage",
    "StorageUnavailable",
    "UnansweredQuestion",
]

log = logging.getLogger(__name__)

T = TypeVar("T")

#: What the bot did with a message (the values of `bot.matching.MatchOutcome`).
STATUSES: Final = ("answered", "clarify", "fallback", "smalltalk", "invalid")
#: Statuses that count as a real question when computing rates.
QUESTION_STATUSES: Final = ("answered", "clarify", "fallback")

#: Stored texts are cut here; a help-desk question is short and the report shows one line.
MAX_STORED_TEXT = 500
#: Question rows written by one INSERT statement: 7 parameters each keeps a statement
#: under 999, the smallest limit SQLite builds have had.
QUESTIONS_PER_INSERT = 100
#: How many entries `Stats.top_entries` lists.
TOP_ENTRIES = 10

# Fixed width, UTC, so that text comparison is time comparison and the first ten
# characters are the UTC day.
_TS_FORMAT = "%Y-%m-%d %H:%M:%S.%f"

#: The schema, one tuple of statements per version; version N is ``MIGRATIONS[N - 1]``.
#: Never edit a released migration: append a new one.
MIGRATIONS: Final[tuple[tuple[str, ...], ...]] = (
    # 1: the first schema.
    (
        """CREATE TABLE questions (
            id INTEGER PRIMARY KEY,
            created_at TEXT NOT NULL,
            user_hash TEXT NOT NULL,
            lang TEXT NOT NULL,
            text TEXT NOT NULL,
            status TEXT NOT NULL,
            entry_id TEXT,
            score REAL
        )""",
        """CREATE TABLE feedback (
            id INTEGER PRIMARY KEY,
            created_at TEXT NOT NULL,
            user_hash TEXT NOT NULL,
            entry_id TEXT NOT NULL,
            helpful INTEGER NOT NULL
        )""",
        """CREATE TABLE preferences (
            user_hash TEXT PRIMARY KEY,
            lang TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )""",
        """CREATE TABLE audit_log (
            id INTEGER PRIMARY KEY,
            created_at TEXT NOT NULL,
            admin_hash TEXT NOT NULL,
            action TEXT NOT NULL,
            detail TEXT NOT NULL
        )""",
    ),
    # 2: feedback remembers the question it rated, so 👎-ed questions reach the
    # unanswered report; indexes for the retention purge, reports and per-user deletion.
    (
        "ALTER TABLE feedback ADD COLUMN question TEXT",
        "CREATE INDEX questions_created_at ON questions (created_at)",
        "CREATE INDEX questions_user_hash ON questions (user_hash)",
        "CREATE INDEX feedback_created_at ON feedback (created_at)",
        "CREATE INDEX feedback_user_hash ON feedback (user_hash)",
        "CREATE INDEX audit_log_created_at ON audit_log (created_at)",
    ),
)
SCHEMA_VERSION: Final = len(MIGRATIONS)


class StorageUnavailable(RuntimeError):
    """The database cannot be used right now (admin methods raise it; others swallow it)."""


# ----- returned models ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StatusCounts:
    """How many messages ended in each status."""

    answered: int = 0
    clarify: int = 0
    fallback: int = 0
    smalltalk: int = 0
    invalid: int = 0

    def count(self, status: str) -> int:
        """The count of one status from `STATUSES`."""
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}")
        return int(getattr(self, status))

    @property
    def total(self) -> int:
        """Every message, small talk and invalid input included."""
        return sum(self.count(s) for s in STATUSES)

    @property
    def questions(self) -> int:
        """Real questions: answered + clarify + fallback (the denominator of rates)."""
        return sum(self.count(s) for s in QUESTION_STATUSES)

    def rate(self, status: str) -> float:
        """Share of real questions with this status (answered, clarify or fallback), 0..1."""
        if status not in QUESTION_STATUSES:
            raise ValueError(f"rates are defined for {QUESTION_STATUSES}, not {status!r}")
        return self.count(status) / self.questions if self.questions else 0.0


@dataclass(frozen=True, slots=True)
class DayStats:
    """The counts of one day."""

    day: dt.date
    counts: StatusCounts


@dataclass(frozen=True, slots=True)
class EntryCount:
    """How often an entry was the answer (or got a 👎)."""

    entry_id: str
    count: int


@dataclass(frozen=True, slots=True)
class Stats:
    """Usage over a window of whole days (UTC unless another offset was asked for)."""

    start: dt.date
    end: dt.date
    #: Every day of the window, oldest first, days without traffic included.
    days: tuple[DayStats, ...]
    totals: StatusCounts
    #: Every entry given as an answer in the window, most frequent first.
    entries: tuple[EntryCount, ...]
    helpful: int
    unhelpful: int
    #: Entries that got 👎, most 👎 first.
    unhelpful_entries: tuple[EntryCount, ...]
    #: Distinct (hashed) users who sent a message.
    users: int

    @property
    def top_entries(self) -> tuple[EntryCount, ...]:
        """The `TOP_ENTRIES` most frequent answers."""
        return self.entries[:TOP_ENTRIES]

    @property
    def answered_rate(self) -> float:
        """Share of real questions answered directly."""
        return self.totals.rate("answered")

    @property
    def clarify_rate(self) -> float:
        """Share of real questions answered with "did you mean ...?"."""
        return self.totals.rate("clarify")

    @property
    def fallback_rate(self) -> float:
        """Share of real questions the bot could not answer."""
        return self.totals.rate("fallback")


@dataclass(frozen=True, slots=True)
class UnansweredQuestion:
    """A question text the bot did not answer well, with how often and how it went."""

    text: str
    count: int
    #: Any of "fallback", "clarify", "unhelpful" (a 👎 on the answer).
    kinds: frozenset[str]
    last_seen: dt.datetime


# ----- helpers --------------------------------------------------------------------------


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _ts(moment: dt.datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("naive datetime: pass an aware one (UTC)")
    return moment.astimezone(dt.UTC).strftime(_TS_FORMAT)


def _parse_ts(value: str) -> dt.datetime:
    return dt.datetime.strptime(value, _TS_FORMAT).replace(tzinfo=dt.UTC)


def _clean(text: str) -> str:
    return mask_personal_data(text.strip())[:MAX_STORED_TEXT]


async def _fetchall(db: aiosqlite.Connection, sql: str, params: Sequence[Any] = ()) -> list[Any]:
    # One trip to the database thread (execute, fetch and close a cursor: three).
    return list(await db.execute_fetchall(sql, params))


async def _change(db: aiosqlite.Connection, sql: str, params: Sequence[Any] = ()) -> int:
    async with db.execute(sql, params) as cursor:
        return max(cursor.rowcount, 0)


@functools.cache
def _insert_questions_sql(rows: int) -> str:
    """An INSERT of `rows` question rows: placeholders only, the values are parameters."""
    return (
        "INSERT INTO questions (created_at, user_hash, lang, text, status, entry_id, score)"
        " VALUES " + ", ".join(["(?, ?, ?, ?, ?, ?, ?)"] * rows)
    )


async def _insert_questions(db: aiosqlite.Connection, rows: Sequence[Sequence[Any]]) -> None:
    # One statement, so one trip to the database thread, per QUESTIONS_PER_INSERT rows;
    # executemany inside BEGIN ... COMMIT took four (and the thread hands the GIL back
    # and forth on each).
    for start in range(0, len(rows), QUESTIONS_PER_INSERT):
        chunk = rows[start : start + QUESTIONS_PER_INSERT]
        await db.execute_fetchall(
            _insert_questions_sql(len(chunk)), [value for row in chunk for value in row]
        )


async def _migrate(db: aiosqlite.Connection) -> None:
    """Bring the schema to `SCHEMA_VERSION`; a no-op when it is current."""
    ((version,),) = await _fetchall(db, "PRAGMA user_version")
    if version == SCHEMA_VERSION:
        return
    # IMMEDIATE takes the write lock first, so two processes opening a new file at once
    # migrate it once: the second re-reads the version under the lock.
    await db.execute("BEGIN IMMEDIATE")
    try:
        ((version,),) = await _fetchall(db, "PRAGMA user_version")
        if version > SCHEMA_VERSION:
            raise sqlite3.DatabaseError(
                f"database schema version {version} is newer than this bot's {SCHEMA_VERSION}"
            )
        for number in range(version + 1, SCHEMA_VERSION + 1):
            for statement in MIGRATIONS[number - 1]:
                await db.execute(statement)
            log.info("database migrated to schema version %d", number)
        # PRAGMA takes no parameters; the value is an int from this module, never input.
        await db.execute(f"PRAGMA user_version = {SCHEMA_VERSION:d}")
        await db.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            await db.execute("ROLLBACK")
        raise


# ----- the repository -------------------------------------------------------------------


@dataclass(eq=False)
class _QuestionBatch:
    """Question rows written in one transaction; `done` resolves when they are."""

    done: asyncio.Future[None]
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    writer: asyncio.Future[None] | None = None


@dataclass(eq=False)
class Storage:
    """The repository over one SQLite file. Create it with `Storage.open`."""

    path: Path
    secret: str = field(repr=False)
    retention_days: int = 90
    busy_timeout_ms: int = 5000
    retry_seconds: float = 5.0
    #: Open the file read-only (reports from a second process without any risk of writing).
    read_only: bool = False
    _db: aiosqlite.Connection | None = field(default=None, init=False, repr=False)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock, init=False, repr=False)
    _healthy: bool = field(default=True, init=False)
    _closed: bool = field(default=False, init=False)
    _next_attempt: float = field(default=0.0, init=False, repr=False)
    _last_error: str = field(default="", init=False, repr=False)
    #: Questions waiting to be written together (see `record_question`).
    _batch: _QuestionBatch | None = field(default=None, init=False, repr=False)
    _flush_lock: asyncio.Lock = field(default_factory=asyncio.Lock, init=False, repr=False)

    @classmethod
    async def open(
        cls,
        path: Path,
        *,
        secret: str,
        retention_days: int = 90,
        busy_timeout_ms: int = 5000,
        retry_seconds: float = 5.0,
        read_only: bool = False,
    ) -> Storage:
        """Open (creating the directory, file and schema as needed) the database at `path`.

        Never raises on a database failure: the storage starts unhealthy, logs the reason
        once, and keeps trying to open the file on later calls.

        Args:
            path: The SQLite file.
            secret: The key for hashing user ids; must not be empty.
            retention_days: How long questions, feedback and audit entries are kept.
            busy_timeout_ms: How long a statement waits for another writer's lock.
            retry_seconds: The least time between two reconnection attempts after a failure.
            read_only: Open with ``mode=ro``; writes then fail like on a read-only disk.

        Raises:
            ValueError: `secret` is empty or `retention_days` is not positive.
        """
        if not secret:
            raise ValueError("secret must not be empty: it keeps user hashes irreversible")
        if retention_days < 1:
            raise ValueError("retention_days must be at least 1")
        storage = cls(
            Path(path),
            secret,
            retention_days=retention_days,
            busy_timeout_ms=busy_timeout_ms,
            retry_seconds=retry_seconds,
            read_only=read_only,
        )
        with contextlib.suppress(StorageUnavailable):
            async with storage._lock:
                await storage._connection(write=False)
        return storage

    async def close(self) -> None:
        """Close the connection; later calls do nothing (admin methods raise)."""
        async with self._lock:
            self._closed = True
            await self._disconnect()

    @property
    def healthy(self) -> bool:
        """False from a database failure until the next successful write."""
        return self._healthy and not self._closed

    # ----- resident-facing: never raise on database failure ------------------------------

    async def record_question(
        self,
        user_id: int,
        *,
        lang: str,
        text: str,
        status: str,
        entry_id: str | None,
        score: float | None,
    ) -> None:
        """Store one incoming message and what the bot did with it.

        Raises:
            ValueError: `status` is not one of `STATUSES` (a programming error).
        """
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}; expected one of {STATUSES}")
        params = (
            _ts(_utcnow()),
            self._hash(user_id),
            lang,
            _clean(text),
            status,
            entry_id,
            score,
        )
        # Questions arriving while a write is under way are written together, in one
        # transaction: under load that is one commit per batch instead of per question.
        batch = self._batch
        if batch is None:
            batch = self._batch = _QuestionBatch(asyncio.get_running_loop().create_future())
            batch.writer = asyncio.ensure_future(self._write_questions(batch))
        batch.rows.append(params)
        await asyncio.shield(batch.done)

    async def _write_questions(self, batch: _QuestionBatch) -> None:
        try:
            async with self._flush_lock:  # while waiting here the batch keeps filling
                if self._batch is batch:
                    self._batch = None
                # A failure is logged once by _strictly; residents' answers go on.
                with contextlib.suppress(StorageUnavailable):
                    await self._strictly(
                        lambda db: _insert_questions(db, batch.rows),
                        write=True,
                        # One statement is atomic by itself; more need a transaction.
                        transaction=len(batch.rows) > QUESTIONS_PER_INSERT,
                    )
        finally:
            if not batch.done.done():
                batch.done.set_result(None)

    async def record_feedback(
        self, user_id: int, *, entry_id: str, helpful: bool, question: str | None = None
    ) -> None:
        """Store a 👍 (`helpful`) or 👎 on an answer, with the question if known."""
        params = (
            _ts(_utcnow()),
            self._hash(user_id),
            entry_id,
            int(helpful),
            _clean(question) if question else None,
        )
        await self._quietly(
            lambda db: _change(
                db,
                "INSERT INTO feedback (created_at, user_hash, entry_id, helpful, question)"
                " VALUES (?, ?, ?, ?, ?)",
                params,
            ),
            None,
            write=True,
        )

    async def get_language(self, user_id: int) -> str | None:
        """The language the user chose, or None (also when the database is unavailable)."""

        async def work(db: aiosqlite.Connection) -> str | None:
            rows = await _fetchall(
                db, "SELECT lang FROM preferences WHERE user_hash = ?", (self._hash(user_id),)
            )
            return str(rows[0][0]) if rows else None

        return await self._quietly(work, None, write=False)

    async def set_language(self, user_id: int, lang: str) -> None:
        """Remember the user's language."""
        params = (self._hash(user_id), lang, _ts(_utcnow()))
        await self._quietly(
            lambda db: _change(
                db,
                "INSERT INTO preferences (user_hash, lang, updated_at) VALUES (?, ?, ?)"
                " ON CONFLICT (user_hash) DO UPDATE"
                " SET lang = excluded.lang, updated_at = excluded.updated_at",
                params,
            ),
            None,
            write=True,
        )

    async def record_audit(self, admin_id: int, *, action: str, detail: str) -> None:
        """Append to the admin audit log (never raises on database failure)."""
        params = (_ts(_utcnow()), self._hash(admin_id), action, _clean(detail))
        await self._quietly(
            lambda db: _change(
                db,
                "INSERT INTO audit_log (created_at, admin_hash, action, detail)"
                " VALUES (?, ?, ?, ?)",
                params,
            ),
            None,
            write=True,
        )

    # ----- admin: raise StorageUnavailable -----------------------------------------------

    async def forget_user(self, user_id: int) -> int:
        """Delete the user's questions, feedback and preferences.

        Returns:
            The number of rows deleted.

        Raises:
            StorageUnavailable: the database cannot be written now.
        """
        return await self.forget_user_hash(self._hash(user_id))

    async def forget_user_hash(self, user_hash: str) -> int:
        """Like `forget_user`, for a hash shown in a report or export."""

        async def work(db: aiosqlite.Connection) -> int:
            deleted = 0
            for table in ("questions", "feedback", "preferences"):
                # The table name comes from the literal tuple above, never from input.
                deleted += await _change(
                    db, f"DELETE FROM {table} WHERE user_hash = ?", (user_hash,)
                )
            return deleted

        return await self._strictly(work, write=True, transaction=True)

    async def purge_expired(self, *, now: dt.datetime | None = None) -> int:
        """Delete questions, feedback and audit entries older than `retention_days`.

        Language preferences are kept: they are needed to serve the user, and `forget_user`
        removes them.

        Returns:
            The number of rows deleted.

        Raises:
            StorageUnavailable: the database cannot be written now.
        """
        cutoff = _ts((now or _utcnow()) - dt.timedelta(days=self.retention_days))

        async def work(db: aiosqlite.Connection) -> int:
            deleted = 0
            for table in ("questions", "feedback", "audit_log"):
                # The table name comes from the literal tuple above, never from input.
                deleted += await _change(db, f"DELETE FROM {table} WHERE created_at < ?", (cutoff,))
            return deleted

        deleted = await self._strictly(work, write=True, transaction=True)
        if deleted:
            log.info("retention: deleted %d rows older than %d days", deleted, self.retention_days)
        return deleted

    async def stats(
        self,
        *,
        days: int = 7,
        now: dt.datetime | None = None,
        utc_offset: dt.timedelta = dt.timedelta(0),
    ) -> Stats:
        """Usage over the last `days` whole days, today included.

        Args:
            days: The window length in days (at least 1).
            now: The end of the window (default: now).
            utc_offset: Where days begin, e.g. ``timedelta(hours=8)`` for Shenyang time.

        Raises:
            StorageUnavailable: the database cannot be read now.
        """
        if days < 1:
            raise ValueError("days must be at least 1")
        local_now = (now or _utcnow()).astimezone(dt.UTC) + utc_offset
        end = local_now.date()
        start = end - dt.timedelta(days=days - 1)
        since = _ts(
            dt.datetime.combine(start, dt.time(), tzinfo=dt.UTC) - utc_offset,
        )
        # SQLite date modifier, e.g. "+28800 seconds"; a parameter, not SQL text.
        shift = f"{int(utc_offset.total_seconds()):+d} seconds"

        async def work(db: aiosqlite.Connection) -> Stats:
            per_day = await _fetchall(
                db,
                "SELECT date(created_at, ?) AS day, status, COUNT(*) FROM questions"
                " WHERE created_at >= ? GROUP BY day, status",
                (shift, since),
            )
            entries = await _fetchall(
                db,
                "SELECT entry_id, COUNT(*) AS n FROM questions"
                " WHERE created_at >= ? AND status = 'answered' AND entry_id IS NOT NULL"
                " GROUP BY entry_id ORDER BY n DESC, entry_id",
                (since,),
            )
            feedback = await _fetchall(
                db,
                "SELECT helpful, COUNT(*) FROM feedback WHERE created_at >= ? GROUP BY helpful",
                (since,),
            )
            unhelpful_entries = await _fetchall(
                db,
                "SELECT entry_id, COUNT(*) AS n FROM feedback"
                " WHERE created_at >= ? AND helpful = 0 GROUP BY entry_id"
                " ORDER BY n DESC, entry_id",
                (since,),
            )
            ((users,),) = await _fetchall(
                db,
                "SELECT COUNT(DISTINCT user_hash) FROM questions WHERE created_at >= ?",
                (since,),
            )
            return _build_stats(
                start, end, per_day, entries, feedback, unhelpful_entries, int(users)
            )

        return await self._strictly(work, write=False)

    async def unanswered(
        self, *, days: int = 30, limit: int = 20, now: dt.datetime | None = None
    ) -> list[UnansweredQuestion]:
        """Fallback, clarify and 👎-ed questions of the last `days`, most frequent first.

        The same text asked many times is one item with its count.

        Raises:
            StorageUnavailable: the database cannot be read now.
        """
        since = _ts((now or _utcnow()) - dt.timedelta(days=days))

        async def work(db: aiosqlite.Connection) -> list[UnansweredQuestion]:
            rows = await _fetchall(
                db,
                "SELECT text, COUNT(*) AS n, group_concat(DISTINCT kind), MAX(created_at) AS last"
                " FROM ("
                "   SELECT text, status AS kind, created_at FROM questions"
                "   WHERE created_at >= ? AND status IN ('fallback', 'clarify')"
                "   UNION ALL"
                "   SELECT question, 'unhelpful', created_at FROM feedback"
                "   WHERE created_at >= ? AND helpful = 0 AND question IS NOT NULL"
                "   AND question != ''"
                " ) GROUP BY text ORDER BY n DESC, last DESC, text LIMIT ?",
                (since, since, limit),
            )
            return [
                UnansweredQuestion(
                    text=str(text),
                    count=int(count),
                    kinds=frozenset(str(kinds).split(",")),
                    last_seen=_parse_ts(str(last)),
                )
                for text, count, kinds, last in rows
            ]

        return await self._strictly(work, write=False)

    # ----- connection management ---------------------------------------------------------

    def _hash(self, user_id: int) -> str:
        return hash_user_id(user_id, self.secret)

    async def _quietly(
        self, work: Callable[[aiosqlite.Connection], Awaitable[T]], default: T, *, write: bool
    ) -> T:
        """Run `work`; on database failure return `default` (already logged)."""
        try:
            return await self._strictly(work, write=write)
        except StorageUnavailable:
            return default

    async def _strictly(
        self,
        work: Callable[[aiosqlite.Connection], Awaitable[T]],
        *,
        write: bool,
        transaction: bool = False,
    ) -> T:
        """Run `work` on a live connection; raise StorageUnavailable on database failure.

        Only a successful write ends an outage: under a writer's lock WAL still serves
        reads, and counting those as recovery would log the outage again on every write.
        """
        # One operation at a time on the shared connection: a transaction must not
        # interleave with another coroutine's statements.
        async with self._lock:
            db = await self._connection(write=write)
            try:
                if not transaction:
                    result = await work(db)
                else:
                    await db.execute("BEGIN IMMEDIATE")
                    try:
                        result = await work(db)
                        await db.execute("COMMIT")
                    except BaseException:
                        with contextlib.suppress(sqlite3.Error):
                            await db.execute("ROLLBACK")
                        raise
            except (sqlite3.Error, OSError) as exc:
                await self._failed(exc)
                raise StorageUnavailable(self._last_error) from exc
            if write and not self._healthy:
                self._healthy = True
                log.warning("database %s is available again", self.path)
            return result

    async def _connection(self, *, write: bool) -> aiosqlite.Connection:
        """The live connection, (re)opening it if needed; call with the lock held."""
        if self._closed:
            raise StorageUnavailable("storage is closed")
        if self._db is not None and write and not self._healthy:
            # Reads may have reopened the file during the outage, and SQLite silently
            # opens a file it cannot write read-only: a write retry needs a fresh open.
            if time.monotonic() < self._next_attempt:
                raise StorageUnavailable(self._last_error)
            await self._disconnect()
        if self._db is not None:
            # Deleting the directory under a running bot leaves the open file unlinked:
            # writes would "succeed" into nothing. Reopen, recreating the file.
            if self.path.exists():
                return self._db
            await self._disconnect()
            await self._failed(FileNotFoundError(f"{self.path} was deleted"), retry_now=True)
        if time.monotonic() < self._next_attempt:
            raise StorageUnavailable(self._last_error)
        try:
            self._db = await self._connect()
        except (sqlite3.Error, OSError) as exc:
            await self._failed(exc)
            raise StorageUnavailable(self._last_error) from exc
        return self._db

    async def _connect(self) -> aiosqlite.Connection:
        if self.read_only:
            target, uri = f"{self.path.resolve().as_uri()}?mode=ro", True
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            target, uri = str(self.path), False
        # isolation_level=None: autocommit, with explicit BEGIN where a transaction matters.
        db = await aiosqlite.connect(
            target, uri=uri, timeout=self.busy_timeout_ms / 1000, isolation_level=None
        )
        try:
            if not self.read_only:
                # WAL lets reports read while the bot writes; NORMAL sync is safe with WAL.
                await _fetchall(db, "PRAGMA journal_mode = WAL")
                await db.execute("PRAGMA synchronous = NORMAL")
                await _migrate(db)
            # A database that cannot be read at all fails here, not on the first query.
            await _fetchall(db, "SELECT COUNT(*) FROM sqlite_schema")
        except BaseException:
            await db.close()
            raise
        return db

    async def _disconnect(self) -> None:
        db, self._db = self._db, None
        if db is not None:
            try:
                await db.close()
            except sqlite3.Error as exc:
                log.debug("closing the database failed: %s", exc)

    async def _failed(self, exc: BaseException, *, retry_now: bool = False) -> None:
        """Note a failure: log it once per outage, drop the connection, schedule a retry."""
        self._last_error = f"database {self.path} unavailable: {exc}"
        if self._healthy:
            log.error("%s; the bot keeps answering without storing, retrying", self._last_error)
        else:
            log.debug("%s (still)", self._last_error)
        self._healthy = False
        # Reopening is what recovers from a deleted directory or a remounted disk, and a
        # fresh connection never inherits a half-finished transaction.
        await self._disconnect()
        self._next_attempt = 0.0 if retry_now else time.monotonic() + self.retry_seconds


def _build_stats(
    start: dt.date,
    end: dt.date,
    per_day: list[Any],
    entries: list[Any],
    feedback: list[Any],
    unhelpful_entries: list[Any],
    users: int,
) -> Stats:
    counts: dict[dt.date, dict[str, int]] = {}
    for day, status, count in per_day:
        if status in STATUSES:
            counts.setdefault(dt.date.fromisoformat(day), {})[status] = int(count)
    day_stats = tuple(
        DayStats(day, StatusCounts(**counts.get(day, {})))
        for day in (start + dt.timedelta(days=i) for i in range((end - start).days + 1))
    )
    totals = StatusCounts(
        **{s: sum(d.counts.count(s) for d in day_stats) for s in STATUSES},
    )
    by_helpful = {bool(helpful): int(count) for helpful, count in feedback}
    return Stats(
        start=start,
        end=end,
        days=day_stats,
        totals=totals,
        entries=tuple(EntryCount(str(e), int(n)) for e, n in entries),
        helpful=by_helpful.get(True, 0),
        unhelpful=by_helpful.get(False, 0),
        unhelpful_entries=tuple(EntryCount(str(e), int(n)) for e, n in unhelpful_entries),
        users=users,
    )
