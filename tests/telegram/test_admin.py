"""End to end: the admin commands, buttons and uploads, through PTB and the fake Bot API.

The bot runs on a copy of the shipped knowledge in tmp_path (tests edit it) and
a fresh SQLite file. Tests that change the knowledge restore it afterwards
(`restored_knowledge`), so the module's one bot stays on the shipped data.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
import re
import shutil
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from bot.admin.editing import add_alternate_question
from bot.config import Settings
from bot.handlers import admin_autoreload
from tests.telegram import factories as f
from tests.telegram.factories import GROUP_CHAT, Resident
from tests.telegram.fake_api import ApiCall, FakeBotApi
from tests.telegram.harness import KNOWLEDGE_DIR, RunningBot, make_settings, running_bot

pytestmark = pytest.mark.asyncio(loop_scope="module")

ADMIN = Resident.new("en", first_name="Admin")
#: Questions the shipped knowledge does not answer directly; the tests use the first one the
#: matcher (still being tuned) leaves unanswered, so they test the admin flow, not the scores.
UNANSWERED_CANDIDATES = ("沈阳哪里可以办理狗证", "婚礼可以在公园办吗", "公园里能办婚礼吗")
#: A question added by hand in the upload and auto-reload tests.
NEW_QUESTION = "婚礼可以在公园办吗"
ENTRY = "marriage-registration-points"
#: The first line of marriage.yaml; edits must keep comments like it.
COMMENT = "# Answer entries: one question-and-answer topic each."
REFUSAL = "administrators only"


@pytest.fixture(scope="module")
def knowledge_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A writable copy of the shipped knowledge, shared by the module's bot."""
    target = tmp_path_factory.mktemp("admin") / "knowledge"
    shutil.copytree(KNOWLEDGE_DIR, target, ignore=shutil.ignore_patterns(".*"))
    return target


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def admin_bot(
    fake_api: FakeBotApi,
    knowledge_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[RunningBot]:
    """The bot with ADMIN as its only admin, on the knowledge copy."""
    settings = make_settings(
        fake_api,
        tmp_path_factory.mktemp("admin-db"),
        knowledge_dir=knowledge_dir,
        admin_ids=frozenset({ADMIN.id}),
    )
    async with running_bot(settings, fake_api) as running:
        yield running


@pytest_asyncio.fixture(loop_scope="module")
async def restored_knowledge(admin_bot: RunningBot, knowledge_dir: Path) -> AsyncIterator[Path]:
    """The knowledge copy, put back (files and loaded engine) after the test."""
    saved = {p.name: p.read_bytes() for p in knowledge_dir.iterdir() if p.is_file()}
    yield knowledge_dir
    for path in knowledge_dir.iterdir():
        if path.is_file() and path.name not in saved:
            path.unlink()
    for name, data in saved.items():
        if (knowledge_dir / name).read_bytes() != data:
            (knowledge_dir / name).write_bytes(data)
    shutil.rmtree(knowledge_dir / ".backups", ignore_errors=True)
    assert (await services(admin_bot).engines.reload()).ok


def services(bot: RunningBot) -> Any:
    opened = bot.app.bot_data.services
    assert opened is not None
    return opened


def sent(calls: list[ApiCall], method: str = "sendMessage") -> list[ApiCall]:
    return [c for c in calls if c.method == method and c.error is None]


def only_text(calls: list[ApiCall]) -> str:
    """The visible text of the one message sent."""
    messages = sent(calls)
    assert len(messages) == 1, [(c.method, c.error, c.text[:60]) for c in calls]
    return html.unescape(re.sub(r"<[^>]+>", "", messages[0].text))


def answered_entry(calls: list[ApiCall]) -> str | None:
    """The entry a reply answers with (from its 👍 button), None when it is no answer."""
    for data in (d for c in sent(calls) for d in c.callback_data()):
        if match := re.fullmatch(r"f:([a-z0-9-]+):\+", data):
            return match.group(1)
    return None


async def unanswered_question(bot: RunningBot) -> str:
    """The first of UNANSWERED_CANDIDATES the bot does not answer (asked, so it is recorded)."""
    for question in UNANSWERED_CANDIDATES:
        if answered_entry(await ask(bot, question)) is None:
            return question
    raise AssertionError(f"the matcher answers every one of {UNANSWERED_CANDIDATES}")


async def ask(bot: RunningBot, text: str) -> list[ApiCall]:
    """A new resident asks `text`; the question is in the database when this returns."""
    calls = await bot.send(f.message(Resident.new(), text))
    await services(bot).conversation.drain()
    return calls


def audit_actions(bot: RunningBot) -> list[str]:
    """The actions in the audit log, oldest first (nothing in the bot reads it back)."""
    with contextlib.closing(sqlite3.connect(services(bot).storage.path)) as db:
        return [row[0] for row in db.execute("SELECT action FROM audit_log ORDER BY id")]


def yaml_document(admin_user: Resident, file_id: str, name: str, **extra: Any) -> dict[str, Any]:
    content = {"file_id": file_id, "file_unique_id": f"u-{file_id}", "file_name": name, **extra}
    return f.message(admin_user, document=content)


# ----- who may use admin commands ------------------------------------------------------


@pytest.mark.parametrize(
    "command", ["stats", "stats 30", "unanswered", "reload"], ids=lambda c: c.replace(" ", "-")
)
async def test_non_admin_is_refused(admin_bot: RunningBot, command: str) -> None:
    name, _, args = command.partition(" ")
    calls = await admin_bot.send(f.command(Resident.new("en"), name, args))
    assert REFUSAL in only_text(calls)
    assert not sent(calls, "sendPhoto")


async def test_non_admin_refusal_in_chinese(admin_bot: RunningBot) -> None:
    calls = await admin_bot.send(f.command(Resident.new("zh-hans"), "reload"))
    assert "管理员" in only_text(calls)


async def test_non_admin_cannot_press_an_add_button(
    admin_bot: RunningBot, knowledge_dir: Path
) -> None:
    before = (knowledge_dir / "marriage.yaml").read_bytes()
    calls = await admin_bot.send(f.callback(Resident.new("en"), "ua:0123abcd", message=None))
    (answer,) = sent(calls, "answerCallbackQuery")
    assert REFUSAL in answer.params["text"]
    assert not sent(calls)
    assert (knowledge_dir / "marriage.yaml").read_bytes() == before


async def test_non_admin_document_gets_the_media_notice(
    admin_bot: RunningBot, knowledge_dir: Path
) -> None:
    admin_bot.api.add_file("resident-yaml", b"entries: []\n")
    calls = await admin_bot.send(yaml_document(Resident.new(), "resident-yaml", "marriage.yaml"))
    kb = services(admin_bot).engines.knowledge
    assert only_text(calls) == kb.texts.unsupported_media.get("zh")
    assert not [c for c in calls if c.method == "getFile"]
    assert (knowledge_dir / "marriage.yaml").read_bytes() == (
        KNOWLEDGE_DIR / "marriage.yaml"
    ).read_bytes()


async def test_admin_in_a_group_is_sent_to_private(admin_bot: RunningBot) -> None:
    calls = await admin_bot.send(f.command(ADMIN, "stats", chat=GROUP_CHAT))
    assert "private chat" in only_text(calls)
    assert not sent(calls, "sendPhoto")


# ----- /stats ------------------------------------------------------------------------------


async def test_stats_sends_the_report_and_the_chart(admin_bot: RunningBot) -> None:
    await ask(admin_bot, "我想领证去哪")
    await ask(admin_bot, "火车站丢了钱包")
    calls = await admin_bot.send(f.command(ADMIN, "stats"))
    text = only_text(calls)
    assert "Statistics" in text and "(7 days, UTC+8)" in text
    assert re.search(r"Questions: ([2-9]|\d\d+) —", text), text
    (photo,) = sent(calls, "sendPhoto")
    (png,) = photo.files.values()
    assert png.startswith(b"\x89PNG")
    assert "7 days" in photo.text


async def test_stats_takes_a_day_count(admin_bot: RunningBot) -> None:
    calls = await admin_bot.send(f.command(ADMIN, "stats", "30"))
    assert "(30 days, UTC+8)" in only_text(calls)


@pytest.mark.parametrize(
    "args",
    ["0", "366", "week", "-3", "7 8", "٣"],
    ids=["zero", "too-many", "word", "neg", "two", "arabic-digit"],
)
async def test_stats_bad_argument_gets_the_usage(admin_bot: RunningBot, args: str) -> None:
    calls = await admin_bot.send(f.command(ADMIN, "stats", args))
    assert "Usage: /stats [days]" in only_text(calls)
    assert not sent(calls, "sendPhoto")


# ----- /unanswered and its buttons -------------------------------------------------------------


async def test_unanswered_question_is_added_with_its_button(
    admin_bot: RunningBot, restored_knowledge: Path
) -> None:
    question = await unanswered_question(admin_bot)

    report = sent(await admin_bot.send(f.command(ADMIN, "unanswered")))[-1]
    number = re.search(rf"(\d+)\. ×\d+ “{question}”", html.unescape(report.text))
    assert number, report.text
    (button,) = [b for b in report.buttons() if b["text"].startswith(f"➕ {number[1]}. add to")]
    assert re.fullmatch(r"ua:[0-9a-f]+", button["callback_data"])

    calls = await admin_bot.send(f.callback(ADMIN, button["callback_data"], message=report.result))
    result = only_text(calls)
    added = re.search(rf"Added “{question}” to ([a-z0-9-]+) \((\S+\.yaml)\); reloaded", result)
    assert added, result
    entry_id, file_name = added[1], added[2]
    edited = (restored_knowledge / file_name).read_text(encoding="utf-8")
    assert f"- {question}" in edited
    if file_name == "marriage.yaml":
        assert edited.startswith(COMMENT + "\n")
    assert edited.count("\n#") == (KNOWLEDGE_DIR / file_name).read_text().count("\n#")
    # The used button is gone from the report.
    (edit,) = sent(calls, "editMessageReplyMarkup")
    assert button["callback_data"] not in str(edit.params)

    assert answered_entry(await ask(admin_bot, question)) == entry_id
    assert audit_actions(admin_bot)[-2:] == ["reload", "add_question"]

    # Pressing it again: the token is used up.
    again = await admin_bot.send(f.callback(ADMIN, button["callback_data"], message=report.result))
    assert "expired" in only_text(again)


@pytest.mark.parametrize(
    "data", ["ua:deadbeef", "ua:", "ua:../../etc/passwd"], ids=["unknown", "empty", "garbage"]
)
async def test_forged_suggestion_is_politely_expired(
    admin_bot: RunningBot, knowledge_dir: Path, data: str
) -> None:
    before = {p.name: p.read_bytes() for p in knowledge_dir.glob("*.yaml")}
    pressed = f.message(ADMIN, "an old report")["message"]
    calls = await admin_bot.send(f.callback(ADMIN, data, message=pressed))
    assert "expired" in only_text(calls)
    assert {p.name: p.read_bytes() for p in knowledge_dir.glob("*.yaml")} == before


async def test_suggestion_without_a_chat_answers_in_the_toast(admin_bot: RunningBot) -> None:
    calls = await admin_bot.send(f.callback(ADMIN, "ua:deadbeef", message=None))
    (answer,) = sent(calls, "answerCallbackQuery")
    assert "expired" in answer.params["text"]
    assert not sent(calls)


# ----- /reload -------------------------------------------------------------------------------


async def test_reload_with_a_broken_file_keeps_the_knowledge(
    admin_bot: RunningBot, restored_knowledge: Path
) -> None:
    engine = services(admin_bot).engines.current
    reply = only_text(await ask(admin_bot, "我想领证去哪"))
    path = restored_knowledge / "marriage.yaml"
    original = path.read_text(encoding="utf-8")
    path.write_text(original.replace("    title:\n", "    title: [\n", 1), encoding="utf-8")

    text = only_text(await admin_bot.send(f.command(ADMIN, "reload")))
    assert "previous knowledge" in text
    assert re.search(r"marriage\.yaml:\d+: YAML syntax error", text), text
    assert services(admin_bot).engines.current is engine
    assert only_text(await ask(admin_bot, "我想领证去哪")) == reply

    path.write_text(original, encoding="utf-8")
    text = only_text(await admin_bot.send(f.command(ADMIN, "reload")))
    assert audit_actions(admin_bot)[-2:] == ["reload", "reload"]
    entries = len(services(admin_bot).engines.knowledge.entries)
    assert text == f"Knowledge reloaded: {entries} entries."


# ----- uploads ---------------------------------------------------------------------------


async def test_broken_upload_is_refused_and_the_file_kept(
    admin_bot: RunningBot, restored_knowledge: Path
) -> None:
    original = (restored_knowledge / "marriage.yaml").read_bytes()
    broken = original.replace(b"    category: marriage\n", b"    category: no-such-category\n", 1)
    admin_bot.api.add_file("broken-yaml", broken)

    text = only_text(await admin_bot.send(yaml_document(ADMIN, "broken-yaml", "marriage.yaml")))
    assert "not accepted" in text
    assert re.search(r"marriage\.yaml:\d+: .*unknown category 'no-such-category'", text), text
    assert (restored_knowledge / "marriage.yaml").read_bytes() == original
    assert not (restored_knowledge / ".backups").exists()
    assert audit_actions(admin_bot)[-1] == "upload"


async def test_valid_upload_is_summarised_and_backed_up(
    admin_bot: RunningBot, restored_knowledge: Path
) -> None:
    original = (restored_knowledge / "marriage.yaml").read_text(encoding="utf-8")
    edited = original.replace(
        "        - 我想领证去哪\n", f"        - 我想领证去哪\n        - {NEW_QUESTION}\n", 1
    )
    assert edited != original
    admin_bot.api.add_file("edited-yaml", edited.encode())

    calls = await admin_bot.send(yaml_document(ADMIN, "edited-yaml", "marriage.yaml"))
    text = only_text(calls)
    assert "marriage.yaml replaced and reloaded" in text
    assert f"edited 1 entry: {ENTRY}" in text
    assert [c.method for c in calls if c.method == "getFile"] == ["getFile"]
    (backup,) = (restored_knowledge / ".backups").iterdir()
    assert backup.read_text(encoding="utf-8") == original
    assert (restored_knowledge / "marriage.yaml").read_text(encoding="utf-8") == edited
    assert NEW_QUESTION in services(admin_bot).engines.knowledge.entries[ENTRY].questions.zh
    assert audit_actions(admin_bot)[-2:] == ["reload", "upload"]


@pytest.mark.parametrize(
    ("name", "extra", "expected"),
    [
        ("notes.pdf", {}, "Only knowledge files (.yaml)"),
        ("huge.yaml", {"file_size": 2_000_000}, "too big"),
    ],
    ids=["not-yaml", "too-big"],
)
async def test_upload_refused_before_download(
    admin_bot: RunningBot, name: str, extra: dict[str, Any], expected: str
) -> None:
    calls = await admin_bot.send(yaml_document(ADMIN, "never-fetched", name, **extra))
    assert expected in only_text(calls)
    assert not [c for c in calls if c.method == "getFile"]


async def test_upload_with_a_bad_file_name_is_refused(
    admin_bot: RunningBot, restored_knowledge: Path
) -> None:
    admin_bot.api.add_file("sneaky", b"entries: []\n")
    text = only_text(await admin_bot.send(yaml_document(ADMIN, "sneaky", "..yaml")))
    assert "not accepted" in text
    assert sorted(p.name for p in restored_knowledge.iterdir() if p.is_file()) == sorted(
        p.name for p in KNOWLEDGE_DIR.iterdir() if p.is_file() and not p.name.startswith(".")
    )


# ----- automatic reload --------------------------------------------------------------------


async def wait_until(condition: Any, *, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_auto_reload_follows_file_changes(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    knowledge = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE_DIR, knowledge, ignore=shutil.ignore_patterns(".*"))
    caplog.set_level(logging.INFO, logger=admin_autoreload.__name__)
    # A fake of its own: the module's fake already serves the admin bot.
    with FakeBotApi() as api:
        settings = make_settings(api, tmp_path, knowledge_dir=knowledge, auto_reload=True)
        await _auto_reload_scenario(settings, api, knowledge, caplog)


async def _auto_reload_scenario(
    settings: Settings, api: FakeBotApi, knowledge: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with running_bot(settings, api) as bot:
        engines = services(bot).engines
        start = engines.current
        add_alternate_question(knowledge, ENTRY, NEW_QUESTION, lang="zh")
        await wait_until(lambda: engines.current is not start)
        assert NEW_QUESTION in engines.knowledge.entries[ENTRY].questions.zh
        assert "knowledge reloaded" in caplog.text

        # A broken save is logged and the bot keeps the last good knowledge.
        reloaded = engines.current
        path = knowledge / "marriage.yaml"
        path.write_text(path.read_text(encoding="utf-8") + "  - [\n", encoding="utf-8")
        await wait_until(lambda: "still answering from the previous knowledge" in caplog.text)
        assert engines.current is reloaded
        calls = await bot.send(f.command(Resident.new(), "start", ENTRY))
        assert answered_entry(calls) == ENTRY


async def test_auto_reload_is_off_by_default(admin_bot: RunningBot) -> None:
    assert admin_bot.app.job_queue is not None
    assert not admin_bot.app.job_queue.get_jobs_by_name(admin_autoreload.JOB_NAME)


async def test_watcher_reports_each_change_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "knowledge"
    folder.mkdir()
    (folder / "a.yaml").write_text("entries: []\n")
    watcher = admin_autoreload.KnowledgeWatcher(folder)
    assert not watcher.changed()
    (folder / "a.yaml").write_text("entries: [] # edited\n")  # another size
    assert watcher.changed()
    assert not watcher.changed()
    (folder / "b.yml").write_text("")  # a new file
    (folder / ".b.yml.swp").write_text("")  # an editor's temporary file is not knowledge
    assert watcher.changed()
    (folder / ".c.yaml").write_text("")
    assert not watcher.changed()
    shutil.rmtree(folder)  # a vanished folder is logged, never raised
    assert not watcher.changed()
    assert "cannot read" in caplog.text
