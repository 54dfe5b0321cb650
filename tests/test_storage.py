"""The SQLite repository, on real files: schema, records, reports, retention, failures."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import shutil
import sqlite3
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bot.privacy import hash_user_id
from bot.storage import (
    MIGRATIONS,
    QUESTIONS_PER_INSERT,
    SCHEMA_VERSION,
    STATUSES,
    Storage,
    StorageUnavailable,
)

SECRET = "test-secret"
NOW = dt.datetime(2026, 3, 6, 12, 0, tzinfo=dt.UTC)


@contextlib.contextmanager
def raw(path: Path) -> Iterator[sqlite3.Connection]:
    """A plain sqlite3 connection to inspect or prepare a file, always closed."""
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as conn:
        yield conn


def insert_question(
    path: Path,
    at: dt.datetime,
    *,
    status: str = "answered",
    entry_id: str | None = "marriage-points",
    text: str = "结婚登记在哪里",
    user: int = 1,
) -> None:
    """Put a question at a chosen time (the API always stamps "now")."""
    with raw(path) as conn:
        conn.execute(
            "INSERT INTO questions (created_at, user_hash, lang, text, status, entry_id, score)"
            " VALUES (?, ?, 'zh', ?, ?, ?, 0.9)",
            (
                at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f"),
                hash_user_id(user, SECRET),
                text,
                status,
                entry_id,
            ),
        )


def count(path: Path, table: str) -> int:
    with raw(path) as conn:
        return int(conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "bot.sqlite3"


@pytest.fixture
async def storage(db_path: Path) -> AsyncIterator[Storage]:
    store = await Storage.open(db_path, secret=SECRET)
    yield store
    await store.close()


async def ask(store: Storage, user: int = 1, **kwargs: object) -> None:
    fields: dict[str, object] = {
        "lang": "zh",
        "text": "结婚登记在哪里",
        "status": "answered",
        "entry_id": "marriage-points",
        "score": 0.91,
    }
    fields.update(kwargs)
    await store.record_question(user, **fields)  # type: ignore[arg-type]


# ----- schema ---------------------------------------------------------------------------


async def test_open_creates_directory_wal_and_schema(db_path: Path) -> None:
    store = await Storage.open(db_path, secret=SECRET)
    try:
        assert store.healthy
        with raw(db_path) as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    finally:
        await store.close()


async def test_reopening_is_idempotent_and_keeps_data(db_path: Path) -> None:
    for _ in range(3):
        store = await Storage.open(db_path, secret=SECRET)
        await ask(store)
        await store.close()
    assert count(db_path, "questions") == 3


async def test_migrates_an_empty_file(db_path: Path) -> None:
    db_path.parent.mkdir()
    db_path.touch()
    store = await Storage.open(db_path, secret=SECRET)
    try:
        await ask(store)
        assert store.healthy
    finally:
        await store.close()
    assert count(db_path, "questions") == 1


async def test_migrates_version_1_keeping_data(db_path: Path) -> None:
    db_path.parent.mkdir()
    with raw(db_path) as conn:
        for statement in MIGRATIONS[0]:
            conn.execute(statement)
        conn.execute("PRAGMA user_version = 1")
        conn.execute(
            "INSERT INTO feedback (created_at, user_hash, entry_id, helpful)"
            " VALUES (?, ?, 'marriage-points', 0)",
            (NOW.strftime("%Y-%m-%d %H:%M:%S.%f"), hash_user_id(7, SECRET)),
        )
        conn.execute(
            "INSERT INTO preferences VALUES (?, 'en', '2026-03-01')", (hash_user_id(7, SECRET),)
        )
    insert_question(db_path, NOW, user=7)

    store = await Storage.open(db_path, secret=SECRET)
    try:
        with raw(db_path) as conn:
            assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        # Old rows are all there and readable through the new schema.
        assert await store.get_language(7) == "en"
        stats = await store.stats(days=1, now=NOW)
        assert stats.totals.answered == 1
        assert stats.unhelpful == 1
        # The column added by version 2 works.
        await store.record_feedback(7, entry_id="marriage-points", helpful=False, question="q")
        assert count(db_path, "feedback") == 2
        assert await store.forget_user(7) == 4
    finally:
        await store.close()


async def test_newer_schema_is_refused_without_raising(
    db_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db_path.parent.mkdir()
    with raw(db_path) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    store = await Storage.open(db_path, secret=SECRET)
    try:
        assert not store.healthy
        await ask(store)  # does not raise
        with pytest.raises(StorageUnavailable, match="newer"):
            await store.stats()
    finally:
        await store.close()
    assert "newer" in caplog.text


@pytest.mark.parametrize(
    ("secret", "retention_days"),
    [("", 90), ("s", 0)],
    ids=["empty-secret", "zero-retention"],
)
async def test_bad_settings_raise(db_path: Path, secret: str, retention_days: int) -> None:
    with pytest.raises(ValueError):
        await Storage.open(db_path, secret=secret, retention_days=retention_days)


# ----- records and privacy --------------------------------------------------------------


async def test_raw_ids_and_personal_data_never_reach_the_file(
    storage: Storage, db_path: Path
) -> None:
    user, admin = 424242421, 9988776655
    await ask(storage, user, text="我的电话13812345678,身份证11010119900101123X")
    await storage.record_feedback(user, entry_id="x", helpful=False, question="邮箱 a@b.cn")
    await storage.set_language(user, "en")
    await storage.record_audit(admin, action="forget", detail="user 13912345678")
    with raw(db_path) as conn:
        dump = "\n".join(conn.iterdump())
    for secret in ("424242421", "9988776655", "13812345678", "11010119900101123X", "a@b.cn"):
        assert secret not in dump
    assert "[phone]" in dump
    assert hash_user_id(user, SECRET) in dump


async def test_unknown_status_is_a_programming_error(storage: Storage) -> None:
    with pytest.raises(ValueError, match="status"):
        await ask(storage, status="answerd")


async def test_language_preference(storage: Storage) -> None:
    assert await storage.get_language(1) is None
    await storage.set_language(1, "en")
    await storage.set_language(1, "zh")
    await storage.set_language(2, "en")
    assert await storage.get_language(1) == "zh"
    assert await storage.get_language(2) == "en"


async def test_concurrent_records_all_land(storage: Storage, db_path: Path) -> None:
    # More than one INSERT statement's worth, so a batch is split and written in one transaction.
    many = 2 * QUESTIONS_PER_INSERT + 1
    await asyncio.gather(*(ask(storage, user=i) for i in range(many)))
    assert count(db_path, "questions") == many


async def test_forget_user_deletes_only_that_user(storage: Storage, db_path: Path) -> None:
    for user in (1, 1, 2):
        await ask(storage, user)
        await storage.record_feedback(user, entry_id="marriage-points", helpful=True)
        await storage.set_language(user, "zh")
    await storage.record_audit(1, action="reload", detail="ok")
    assert await storage.forget_user(1) == 5  # 2 questions, 2 feedback, 1 preference
    assert await storage.forget_user(1) == 0
    assert await storage.get_language(2) == "zh"
    assert count(db_path, "questions") == 1
    # The audit log is about admin actions, not a resident's data.
    assert count(db_path, "audit_log") == 1
    assert await storage.forget_user_hash(hash_user_id(2, SECRET)) == 3


@pytest.mark.parametrize(
    ("age_days", "deleted"),
    [(0, 0), (89, 0), (91, 3)],
    ids=["fresh", "just-inside", "expired"],
)
async def test_purge_expired(storage: Storage, age_days: int, deleted: int) -> None:
    await ask(storage)
    await storage.record_feedback(1, entry_id="marriage-points", helpful=True)
    await storage.record_audit(1, action="reload", detail="ok")
    await storage.set_language(1, "en")
    now = dt.datetime.now(dt.UTC) + dt.timedelta(days=age_days)
    assert await storage.purge_expired(now=now) == deleted
    # Preferences are not time-series data: kept until the user asks to forget.
    assert await storage.get_language(1) == "en"


# ----- reports --------------------------------------------------------------------------


async def test_stats(storage: Storage, db_path: Path) -> None:
    yesterday = NOW - dt.timedelta(days=1)
    for status, entry_id, at, user in [
        ("answered", "marriage-points", NOW, 1),
        ("answered", "marriage-points", NOW, 2),
        ("answered", "elderly-canteen", NOW, 3),
        ("clarify", None, NOW, 1),
        ("fallback", None, yesterday, 1),
        ("smalltalk", None, yesterday, 1),
        ("invalid", None, yesterday, 4),
        # Outside a 7-day window.
        ("answered", "old-entry", NOW - dt.timedelta(days=7), 5),
    ]:
        insert_question(db_path, at, status=status, entry_id=entry_id, user=user)

    stats = await storage.stats(days=7, now=NOW)

    assert (stats.start, stats.end) == (dt.date(2026, 2, 28), dt.date(2026, 3, 6))
    assert len(stats.days) == 7
    assert [d.counts.total for d in stats.days] == [0, 0, 0, 0, 0, 3, 4]
    assert stats.days[-1].counts.answered == 3
    assert stats.totals.total == 7
    assert stats.totals.questions == 5
    assert stats.answered_rate == pytest.approx(3 / 5)
    assert stats.clarify_rate == pytest.approx(1 / 5)
    assert stats.fallback_rate == pytest.approx(1 / 5)
    assert [(e.entry_id, e.count) for e in stats.top_entries] == [
        ("marriage-points", 2),
        ("elderly-canteen", 1),
    ]
    assert stats.users == 4


async def test_stats_feedback_counts(storage: Storage) -> None:
    for helpful, entry in [(True, "a"), (False, "a"), (False, "b"), (False, "b")]:
        await storage.record_feedback(1, entry_id=entry, helpful=helpful)
    stats = await storage.stats(days=1)
    assert (stats.helpful, stats.unhelpful) == (1, 3)
    assert [(e.entry_id, e.count) for e in stats.unhelpful_entries] == [("b", 2), ("a", 1)]


@pytest.mark.parametrize(
    ("offset_hours", "today"),
    [(0, 0), (8, 1)],
    ids=["utc", "shenyang-time"],
)
async def test_stats_day_boundary(
    storage: Storage, db_path: Path, offset_hours: int, today: int
) -> None:
    # 20:00 UTC is 04:00 the next day in Shenyang.
    late = dt.datetime(2026, 3, 5, 20, 0, tzinfo=dt.UTC)
    insert_question(db_path, late)
    now = dt.datetime(2026, 3, 5, 23, 0, tzinfo=dt.UTC)
    stats = await storage.stats(days=2, now=now, utc_offset=dt.timedelta(hours=offset_hours))
    assert stats.days[-1].counts.answered == 1
    assert stats.end == dt.date(2026, 3, 5) + dt.timedelta(days=today)


async def test_stats_of_an_empty_database(storage: Storage) -> None:
    stats = await storage.stats(days=3)
    assert len(stats.days) == 3
    assert stats.totals.total == 0
    assert stats.answered_rate == 0.0
    assert stats.top_entries == ()


async def test_unanswered(storage: Storage, db_path: Path) -> None:
    for _ in range(3):
        await ask(storage, status="fallback", entry_id=None, text="养狗要办证吗")
    await ask(storage, status="clarify", entry_id=None, text="登记")
    await ask(storage, status="fallback", entry_id=None, text="登记")
    # Answered and 👍 questions are not "unanswered".
    await ask(storage, status="answered", text="结婚登记在哪里")
    await storage.record_feedback(1, entry_id="m", helpful=True, question="结婚登记在哪里")
    await storage.record_feedback(1, entry_id="m", helpful=False, question="离婚登记在哪里")
    await storage.record_feedback(1, entry_id="m", helpful=False)  # question unknown
    insert_question(db_path, NOW - dt.timedelta(days=400), status="fallback", text="很久以前")

    items = await storage.unanswered(days=30)

    assert [(q.text, q.count) for q in items] == [
        ("养狗要办证吗", 3),
        ("登记", 2),
        ("离婚登记在哪里", 1),
    ]
    assert items[1].kinds == {"clarify", "fallback"}
    assert items[2].kinds == {"unhelpful"}
    assert items[0].last_seen.tzinfo is not None
    assert await storage.unanswered(days=30, limit=1) == items[:1]


# ----- failures: the bot keeps answering, the outage is logged once, writes resume -------


def storage_errors(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "bot.storage" and r.levelno >= logging.ERROR]


async def resilient(path: Path) -> Storage:
    """A storage that gives up on a lock quickly and retries at once (for tests)."""
    return await Storage.open(path, secret=SECRET, busy_timeout_ms=50, retry_seconds=0)


async def exercise_while_down(store: Storage) -> None:
    """Every resident-facing call returns normally while the database is down."""
    for _ in range(3):
        await ask(store)
        await store.record_feedback(1, entry_id="x", helpful=False, question="q")
        await store.set_language(1, "en")
        await store.record_audit(1, action="reload", detail="ok")
        assert await store.get_language(1) is None


async def test_locked_database(db_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = await resilient(db_path)
    try:
        with raw(db_path) as other:
            other.execute("BEGIN EXCLUSIVE")
            for _ in range(3):
                await ask(store)
            await store.record_audit(1, action="reload", detail="ok")
            assert not store.healthy
            other.execute("ROLLBACK")
        await ask(store)
        assert store.healthy
    finally:
        await store.close()
    assert count(db_path, "questions") == 1
    assert len(storage_errors(caplog)) == 1
    assert "available again" in caplog.text


async def test_path_is_a_directory(db_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    db_path.mkdir(parents=True)  # fails for root too, unlike chmod
    store = await resilient(db_path)
    try:
        assert not store.healthy
        await exercise_while_down(store)
        with pytest.raises(StorageUnavailable):
            await store.stats()
        with pytest.raises(StorageUnavailable):
            await store.forget_user(1)
        db_path.rmdir()
        await ask(store)
        assert store.healthy
        assert (await store.stats(days=1)).totals.answered == 1
    finally:
        await store.close()
    assert len(storage_errors(caplog)) == 1


async def test_missing_directory_appears_later(tmp_path: Path) -> None:
    # A file where the directory should be: the directory cannot be created, even by root.
    blocker = tmp_path / "data"
    blocker.write_text("not a directory")
    store = await resilient(blocker / "bot.sqlite3")
    try:
        assert not store.healthy
        await exercise_while_down(store)
        blocker.unlink()
        await ask(store)
        assert store.healthy
    finally:
        await store.close()
    assert count(blocker / "bot.sqlite3", "questions") == 1


async def test_directory_deleted_while_running(db_path: Path) -> None:
    store = await resilient(db_path)
    try:
        await ask(store)
        shutil.rmtree(db_path.parent)
        # Without a check this would "succeed" into the unlinked file and be lost.
        await ask(store)
        assert store.healthy
    finally:
        await store.close()
    assert count(db_path, "questions") == 1


async def test_read_only_mode(db_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    writer = await Storage.open(db_path, secret=SECRET)
    await ask(writer)
    await writer.set_language(1, "en")
    await writer.close()
    reader = await Storage.open(db_path, secret=SECRET, read_only=True, retry_seconds=0)
    try:
        await ask(reader)  # "attempt to write a readonly database", swallowed
        assert not reader.healthy
        assert (await reader.stats(days=1)).totals.answered == 1
    finally:
        await reader.close()
    assert len(storage_errors(caplog)) == 1
    assert "readonly" in caplog.text


def _chattr(flag: str, path: Path) -> bool:
    try:
        result = subprocess.run(["chattr", flag, str(path)], capture_output=True, check=False)
    except FileNotFoundError:
        return False
    return result.returncode == 0


async def test_immutable_file_then_writable_again(
    db_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # chmod does not stop root; the immutable attribute does.
    writer = await Storage.open(db_path, secret=SECRET)
    await writer.close()
    if not _chattr("+i", db_path):
        pytest.skip("chattr +i is not available here")
    try:
        store = await resilient(db_path)
        try:
            await exercise_while_down(store)
            assert not store.healthy
            assert _chattr("-i", db_path)
            await ask(store)
            assert store.healthy
        finally:
            await store.close()
    finally:
        _chattr("-i", db_path)
    assert count(db_path, "questions") == 1
    assert len(storage_errors(caplog)) == 1


async def test_retries_at_most_every_retry_seconds(db_path: Path) -> None:
    db_path.mkdir(parents=True)
    store = await Storage.open(db_path, secret=SECRET, retry_seconds=0.3)
    try:
        db_path.rmdir()
        await ask(store)  # too soon after the failed open: not even tried
        assert not store.healthy
        await asyncio.sleep(0.35)
        await ask(store)
        assert store.healthy
    finally:
        await store.close()
    assert count(db_path, "questions") == 1


async def test_closed_storage(db_path: Path) -> None:
    store = await Storage.open(db_path, secret=SECRET)
    await store.close()
    await store.close()
    await ask(store)  # after shutdown: silently dropped
    assert await store.get_language(1) is None
    assert not store.healthy
    with pytest.raises(StorageUnavailable, match="closed"):
        await store.unanswered()


def test_statuses_match_the_matcher() -> None:
    from bot.matching import MatchOutcome

    assert set(STATUSES) == {str(o) for o in MatchOutcome}
