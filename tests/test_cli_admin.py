"""The admin subcommands as an operator runs them: `python -m bot stats|unanswered|forget`.

Each runs as a subprocess on a database prepared here, with its settings in the
environment only (the working directory has no .env) and no embedding model.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import Settings
from bot.privacy import hash_user_id
from bot.storage import Storage

REPO = Path(__file__).resolve().parents[1]
SECRET = "cli-test-secret"
RESIDENT, NEIGHBOUR = 42, 43
ENTRY = "marriage-registration-points"
FALLBACK = "沈阳哪里可以办理狗证"


async def _prepare(path: Path) -> None:
    storage = await Storage.open(path, secret=SECRET)
    try:
        for user, text, status, entry in [
            (RESIDENT, "我想领证去哪", "answered", ENTRY),
            (RESIDENT, FALLBACK, "fallback", None),
            (NEIGHBOUR, FALLBACK, "fallback", None),
            (NEIGHBOUR, "=1+1 养狗要办证吗", "clarify", None),
        ]:
            await storage.record_question(
                user, lang="zh", text=text, status=status, entry_id=entry, score=None
            )
        await storage.record_feedback(RESIDENT, entry_id=ENTRY, helpful=True)
        await storage.set_language(RESIDENT, "en")
    finally:
        await storage.close()


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """The environment of one CLI run: a prepared database, a knowledge copy, fast matching."""
    knowledge = tmp_path / "knowledge"
    shutil.copytree(REPO / "knowledge", knowledge, ignore=shutil.ignore_patterns(".*"))
    database = tmp_path / "data" / "helpdesk.sqlite3"
    asyncio.run(_prepare(database))
    # No setting of the developer's shell may leak in: drop every variable Settings reads.
    settings_names = {name.upper() for name in Settings.model_fields}
    clean = {k: v for k, v in os.environ.items() if k.upper() not in settings_names}
    return {
        **clean,
        "PYTHONPATH": str(REPO),
        "DATABASE_PATH": str(database),
        "KNOWLEDGE_DIR": str(knowledge),
        "SEMANTIC_ENABLED": "false",
        "EMBEDDING_CACHE_DIR": str(tmp_path / "cache"),
        "USER_HASH_SECRET": SECRET,
        "LOG_LEVEL": "WARNING",
    }


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    # cwd: a folder without .env, so only `env` configures the run.
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=Path(env["DATABASE_PATH"]).parents[1],
        env=env,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
        check=False,
    )


def rows(database: str, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    with contextlib.closing(sqlite3.connect(database)) as db:
        return list(db.execute(sql, params))


def test_stats_prints_the_report(env: dict[str, str]) -> None:
    done = run(env, "stats", "--lang", "en")
    assert done.returncode == 0, done.stderr
    assert "(7 days, UTC+8)" in done.stdout
    assert "Questions: 4 — answered 25%, clarify 25%, fallback 50%" in done.stdout
    assert "Users: 2." in done.stdout
    assert f"[{ENTRY}] — 1" in done.stdout
    assert "Feedback: 👍 1 · 👎 0" in done.stdout


def test_stats_in_chinese_by_default(env: dict[str, str]) -> None:
    done = run(env, "stats", "--days", "30")
    assert done.returncode == 0, done.stderr
    assert "30 天" in done.stdout and "统计" in done.stdout


def test_unanswered_csv(env: dict[str, str]) -> None:
    done = run(env, "unanswered", "--csv")
    assert done.returncode == 0, done.stderr
    table = list(csv.DictReader(io.StringIO(done.stdout)))
    by_question = {row["question"]: row for row in table}
    assert by_question[FALLBACK]["count"] == "2"
    assert by_question[FALLBACK]["kinds"] == "fallback"
    # A resident's text that a spreadsheet would run as a formula is kept as text.
    assert "'=1+1 养狗要办证吗" in by_question
    assert "我想领证去哪" not in by_question  # answered questions are not listed


def test_unanswered_text(env: dict[str, str]) -> None:
    done = run(env, "unanswered", "--lang", "en")
    assert done.returncode == 0, done.stderr
    assert "Unanswered questions (2 groups)" in done.stdout
    assert f"×2 “{FALLBACK}” (fallback)" in done.stdout


def test_forget_deletes_one_users_rows(env: dict[str, str]) -> None:
    database = env["DATABASE_PATH"]
    done = run(env, "forget", str(RESIDENT))
    assert done.returncode == 0, done.stderr
    # Two questions, one feedback, one language choice.
    assert done.stdout.strip() == f"deleted 4 row(s) for user {RESIDENT}"
    resident = hash_user_id(RESIDENT, SECRET)
    for table in ("questions", "feedback", "preferences"):
        # The table name is one of the literals above; the hash is a parameter.
        assert rows(database, f"SELECT * FROM {table} WHERE user_hash = ?", (resident,)) == []
    assert len(rows(database, "SELECT * FROM questions")) == 2  # the neighbour's stay
    assert rows(database, "SELECT action, detail FROM audit_log") == [
        ("forget", "deleted 4 row(s) of one user")
    ]

    again = run(env, "forget", str(RESIDENT))
    assert again.stdout.strip() == f"deleted 0 row(s) for user {RESIDENT}"


def test_forget_needs_a_numeric_id(env: dict[str, str]) -> None:
    done = run(env, "forget", "someone")
    assert done.returncode == 2
    assert "invalid int value" in done.stderr
