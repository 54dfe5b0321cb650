"""AdminService without any channel: reports, suggestions, reloads, uploads, deletion, audit.

Each test gets a copy of the shipped knowledge and a fresh SQLite file in tmp_path,
with lexical matching only (no embedding model) for speed.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from bot.admin import CLI_ADMIN_ID, MAX_PENDING_SUGGESTIONS, AdminService
from bot.config import Settings
from bot.privacy import hash_user_id
from tests.conftest import SHIPPED as SHIPPED_DIR
from tests.conftest import lexical_settings

SECRET = "test-secret"
ADMIN_ID = 777
ENTRY = "marriage-registration-points"
#: A phrasing no entry has (checked in `test_new_question_is_new`).
NEW_QUESTION = "婚礼可以在公园办吗"
#: The first line of marriage.yaml: edits keep comments.
COMMENT = "# Answer entries: one question-and-answer topic each."


@pytest.fixture
def settings(tmp_path: Path, shipped_copy: Path) -> Settings:
    return lexical_settings(shipped_copy, tmp_path).model_copy(
        update={"admin_ids": frozenset({ADMIN_ID})}
    )


@pytest_asyncio.fixture
async def admin(settings: Settings) -> AsyncIterator[AdminService]:
    async with AdminService.for_cli(settings) as service:
        yield service


def audit(settings: Settings) -> list[tuple[str, str, str]]:
    """(admin hash, action, detail) rows, oldest first."""
    with contextlib.closing(sqlite3.connect(settings.database_path)) as db:
        return list(db.execute("SELECT admin_hash, action, detail FROM audit_log ORDER BY id"))


async def record(
    admin: AdminService, user_id: int, text: str, status: str, entry: str | None
) -> None:
    await admin.storage.record_question(
        user_id, lang="zh", text=text, status=status, entry_id=entry, score=None
    )


# ----- who is an admin ------------------------------------------------------------------


@pytest.mark.parametrize(("user_id", "expected"), [(ADMIN_ID, True), (778, False), (0, False)])
async def test_is_admin(admin: AdminService, user_id: int, expected: bool) -> None:
    assert admin.is_admin(user_id) is expected


# ----- reports ----------------------------------------------------------------------------


async def test_stats_text_counts_and_names_entries(admin: AdminService) -> None:
    await record(admin, 1, "我想领证去哪", "answered", ENTRY)
    await record(admin, 2, "我想领证去哪", "answered", ENTRY)
    await record(admin, 2, "沈阳哪里可以办理狗证", "fallback", None)
    await admin.storage.record_feedback(1, entry_id=ENTRY, helpful=False, question="我想领证去哪")
    en, no_chart = await admin.stats_report(days=7, lang="en")
    assert no_chart is None
    assert "(7 days, UTC+8)" in en
    assert "Questions: 3 — answered 67%, clarify 0%, fallback 33%" in en
    assert "Users: 2." in en
    title = admin.engines.knowledge.entries[ENTRY].title
    assert f"1. {title.en} [{ENTRY}] — 2" in en
    assert "Most 👎:" in en
    zh, _ = await admin.stats_report(days=30, lang="zh")
    assert "30 天" in zh and f"{title.zh} [{ENTRY}]" in zh


async def test_stats_chart_is_a_png(admin: AdminService) -> None:
    await record(admin, 1, "我想领证去哪", "answered", ENTRY)
    _, chart = await admin.stats_report(days=7, lang="en", with_chart=True)
    assert chart is not None and chart.startswith(b"\x89PNG\r\n\x1a\n")


async def test_unanswered_groups_near_duplicates_with_the_closest_entry(
    admin: AdminService,
) -> None:
    for user in (1, 2, 3):
        await record(admin, user, "养狗要办证吗", "fallback", None)
    await record(admin, 4, "养狗需要办证吗", "clarify", None)
    await record(admin, 5, "我想领证去哪", "answered", ENTRY)  # answered: not in the report
    groups = await admin.unanswered_groups(days=30, limit=10)
    assert [(g.text, g.texts, g.count) for g in groups] == [
        ("养狗要办证吗", ("养狗要办证吗", "养狗需要办证吗"), 4)
    ]
    assert groups[0].kinds == {"fallback", "clarify"}
    # The closest entry the report offers to add the question to is a real one.
    assert groups[0].entry_id in admin.engines.knowledge.entries
    csv = await admin.unanswered_csv(days=30, limit=10)
    assert csv.splitlines()[0].startswith("count,question,similar_questions")
    assert "4,养狗要办证吗,养狗需要办证吗" in csv


# ----- suggestions ----------------------------------------------------------------------


async def test_new_question_is_new(admin: AdminService) -> None:
    assert NEW_QUESTION not in admin.engines.knowledge.entries[ENTRY].questions.zh


async def test_accepted_suggestion_is_written_validated_reloaded_and_audited(
    admin: AdminService, settings: Settings
) -> None:
    suggestion = admin.suggest(NEW_QUESTION, ENTRY, lang="zh")
    before = admin.engines.current

    result = await admin.accept_suggestion(ADMIN_ID, suggestion.token)

    assert result.ok, result.message
    assert result.message == f"Added “{NEW_QUESTION}” to {ENTRY} (marriage.yaml); reloaded."
    text = (settings.knowledge_dir / "marriage.yaml").read_text(encoding="utf-8")
    assert text.startswith(COMMENT + "\n")
    original = (SHIPPED_DIR / "marriage.yaml").read_text(encoding="utf-8")
    assert text.count("#") == original.count("#")  # every comment kept
    assert len(text.splitlines()) == len(original.splitlines()) + 1  # one line added
    assert admin.engines.current is not before
    assert NEW_QUESTION in admin.engines.knowledge.entries[ENTRY].questions.zh
    admin_hash = hash_user_id(ADMIN_ID, SECRET)
    assert [(h, a) for h, a, _ in audit(settings)] == [
        (admin_hash, "reload"),
        (admin_hash, "add_question"),
    ]

    again = await admin.accept_suggestion(ADMIN_ID, suggestion.token)  # tokens are single use
    assert not again.ok and "expired" in again.message


async def test_question_written_but_not_reloaded_is_still_audited(
    admin: AdminService, settings: Settings
) -> None:
    # Breaking a file beforehand would make the edit refuse (it validates the whole
    # folder), so the break lands between the write and the reload: while another
    # reload holds the engines, as /reload or the auto-reload job can.
    suggestion = admin.suggest(NEW_QUESTION, ENTRY, lang="zh")
    marriage, funeral = (
        settings.knowledge_dir / "marriage.yaml",
        settings.knowledge_dir / "funeral.yaml",
    )
    async with admin.engines._lock:
        accepting = asyncio.create_task(admin.accept_suggestion(ADMIN_ID, suggestion.token))
        while NEW_QUESTION not in marriage.read_text(encoding="utf-8"):
            assert not accepting.done(), (await accepting).message
            await asyncio.sleep(0.01)
        broken = funeral.read_text(encoding="utf-8").replace(
            "category: funeral\n", "category: x\n", 1
        )
        funeral.write_text(broken, encoding="utf-8")
    result = await accepting

    assert not result.ok
    assert result.message.startswith("Added, but the reload failed:")
    assert "funeral.yaml:" in result.message and "unknown category 'x'" in result.message
    assert NEW_QUESTION not in admin.engines.knowledge.entries[ENTRY].questions.zh  # old kept
    assert [(a, d) for _, a, d in audit(settings)] == [
        ("reload", f"added question to {ENTRY}: failed"),
        ("add_question", f"{ENTRY} <- {NEW_QUESTION} (marriage.yaml); reload failed"),
    ]


async def test_results_speak_the_admins_language(admin: AdminService) -> None:
    suggestion = admin.suggest(NEW_QUESTION, ENTRY, lang="zh")
    result = await admin.accept_suggestion(ADMIN_ID, suggestion.token, lang="zh")
    assert result.message == f"已把“{NEW_QUESTION}”加入 {ENTRY}（marriage.yaml），并已重新加载。"
    again = await admin.accept_suggestion(ADMIN_ID, suggestion.token, lang="zh")
    assert "已失效" in again.message


@pytest.mark.parametrize("token", ["deadbeef", "", "../../x"], ids=["unknown", "empty", "garbage"])
async def test_unknown_token_is_expired(
    admin: AdminService, settings: Settings, token: str
) -> None:
    result = await admin.accept_suggestion(ADMIN_ID, token)
    assert not result.ok and "expired" in result.message
    assert audit(settings) == []


async def test_existing_question_is_not_added_twice(
    admin: AdminService, settings: Settings
) -> None:
    existing = admin.engines.knowledge.entries[ENTRY].questions.zh[0]
    suggestion = admin.suggest(existing, ENTRY, lang="zh")
    result = await admin.accept_suggestion(ADMIN_ID, suggestion.token)
    assert not result.ok and result.message.startswith("Not added:")
    assert (settings.knowledge_dir / "marriage.yaml").read_bytes() == (
        SHIPPED_DIR / "marriage.yaml"
    ).read_bytes()


async def test_suggestions_for_a_removed_entry_are_refused(admin: AdminService) -> None:
    suggestion = admin.suggest(NEW_QUESTION, "no-such-entry", lang="zh")
    result = await admin.accept_suggestion(ADMIN_ID, suggestion.token)
    assert not result.ok and "no entry 'no-such-entry'" in result.message


async def test_oldest_suggestion_expires_when_too_many_are_open(admin: AdminService) -> None:
    first = admin.suggest(NEW_QUESTION, ENTRY, lang="zh")
    for _ in range(MAX_PENDING_SUGGESTIONS):
        admin.suggest("养狗要办证吗", ENTRY, lang="zh")
    result = await admin.accept_suggestion(ADMIN_ID, first.token)
    assert not result.ok and "expired" in result.message


# ----- reload ---------------------------------------------------------------------------


async def test_reload_of_a_broken_directory_keeps_the_knowledge(
    admin: AdminService, settings: Settings
) -> None:
    path = settings.knowledge_dir / "marriage.yaml"
    path.write_text(
        path.read_text(encoding="utf-8").replace(
            "    category: marriage\n", "    category: x\n", 1
        ),
        encoding="utf-8",
    )
    before = admin.engines.current
    result = await admin.reload(ADMIN_ID)
    assert not result.ok
    assert any("marriage.yaml:" in e and "unknown category 'x'" in e for e in result.errors)
    assert admin.engines.current is before
    assert [(a, d) for _, a, d in audit(settings)] == [("reload", "reload: failed")]


async def test_reload_reports_the_entry_count(admin: AdminService, settings: Settings) -> None:
    result = await admin.reload(ADMIN_ID)
    assert result.ok and not result.changed
    assert result.entries == len(admin.engines.knowledge.entries) > 0
    assert audit(settings)[-1][2] == f"reload: ok, {result.entries} entries"


# ----- upload ---------------------------------------------------------------------------


async def test_valid_upload_replaces_the_file_with_a_backup(
    admin: AdminService, settings: Settings
) -> None:
    path = settings.knowledge_dir / "marriage.yaml"
    original = path.read_text(encoding="utf-8")
    edited = original.replace(
        "        - 我想领证去哪\n", f"        - 我想领证去哪\n        - {NEW_QUESTION}\n", 1
    )
    result = await admin.upload(ADMIN_ID, "marriage.yaml", edited.encode())
    assert result.ok, result.message
    assert result.message.startswith("marriage.yaml replaced and reloaded.\n")
    assert f"edited 1 entry: {ENTRY}" in result.message
    (backup,) = (settings.knowledge_dir / ".backups").iterdir()
    assert backup.read_text(encoding="utf-8") == original
    assert path.read_text(encoding="utf-8") == edited
    assert NEW_QUESTION in admin.engines.knowledge.entries[ENTRY].questions.zh
    assert [a for _, a, _ in audit(settings)] == ["reload", "upload"]


@pytest.mark.parametrize(
    ("filename", "data", "expected"),
    [
        ("marriage.yaml", b"entries: [\n", "YAML syntax error"),
        ("marriage.yaml", b"entries: []\n", "does not exist"),  # entries others point at are gone
        ("../marriage.yaml", b"entries: []\n", "not a plain knowledge file name"),
        ("notes.txt", b"hello", "not a plain knowledge file name"),
    ],
    ids=["syntax", "dangling-references", "path", "not-yaml"],
)
async def test_bad_upload_changes_nothing(
    admin: AdminService, settings: Settings, filename: str, data: bytes, expected: str
) -> None:
    before = {p.name: p.read_bytes() for p in settings.knowledge_dir.iterdir() if p.is_file()}
    engine = admin.engines.current
    result = await admin.upload(ADMIN_ID, filename, data)
    assert not result.ok
    assert result.message.startswith("The file was not accepted:")
    assert expected in result.message
    after = {p.name: p.read_bytes() for p in settings.knowledge_dir.iterdir() if p.is_file()}
    assert after == before
    assert not (settings.knowledge_dir / ".backups").exists()
    assert admin.engines.current is engine
    assert [a for _, a, _ in audit(settings)] == ["upload"]


# ----- forget ---------------------------------------------------------------------------


async def test_forget_deletes_one_user_and_audits_without_their_id(
    admin: AdminService, settings: Settings
) -> None:
    await record(admin, 1, "我想领证去哪", "answered", ENTRY)
    await record(admin, 1, "沈阳哪里可以办理狗证", "fallback", None)
    await admin.storage.set_language(1, "en")
    await record(admin, 2, "我想领证去哪", "answered", ENTRY)
    assert await admin.forget(1) == 3
    assert await admin.forget(1) == 0
    stats = await admin.storage.stats(days=1)
    assert stats.users == 1 and stats.totals.answered == 1
    rows = audit(settings)
    assert [(h, a) for h, a, _ in rows] == [(hash_user_id(CLI_ADMIN_ID, SECRET), "forget")] * 2
    assert all(hash_user_id(1, SECRET) not in d for _, _, d in rows)
