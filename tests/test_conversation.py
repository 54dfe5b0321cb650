"""ConversationService: repeated questions reuse their reply, and a reload is never hidden by it.

Real services (lexical matcher, SQLite file in tmp_path) over a copy of the shipped
knowledge, so a test may edit it and reload.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio
from pydantic import SecretStr

from bot.config import Settings
from bot.conversation import ReplyKind, User
from bot.services import Services

SHIPPED = Path(__file__).resolve().parents[1] / "knowledge"
QUESTION = "沈阳喜事是什么"
#: A sentence of that entry's answer, and the file it is in.
ANSWER_LINE = "2024年沈阳市将在全市推广“沈阳喜事”婚姻服务品牌，并优化婚姻登记服务流程。"
ENTRY_FILE = "marriage.yaml"


@pytest_asyncio.fixture
async def services(tmp_path: Path) -> AsyncIterator[Services]:
    knowledge = tmp_path / "knowledge"
    shutil.copytree(SHIPPED, knowledge, ignore=shutil.ignore_patterns(".*"))
    opened = await Services.open(
        Settings(
            _env_file=None,  # type: ignore[call-arg]
            knowledge_dir=knowledge,
            database_path=tmp_path / "helpdesk.sqlite3",
            embedding_cache_dir=tmp_path / "cache",
            semantic_enabled=False,
            user_hash_secret=SecretStr("test-secret"),
        )
    )
    try:
        yield opened
    finally:
        await opened.close()


async def test_a_repeated_question_gets_the_same_reply(services: Services) -> None:
    conversation = services.conversation
    first = await conversation.ask(User(1, "zh-hans"), QUESTION)
    again = await conversation.ask(User(2, "zh-hans"), QUESTION)
    assert first.kind is ReplyKind.ANSWERED
    # The same object: renderers keep their rendering of it.
    assert again is first
    # A resident who chose English gets the English reply, not the one kept for Chinese.
    await conversation.set_language(User(3), "en")
    english = await conversation.ask(User(3), QUESTION)
    assert english.lang == "en"
    assert english.title != first.title


async def test_after_a_reload_the_new_knowledge_answers(services: Services) -> None:
    conversation = services.conversation
    before = await conversation.ask(User(1, "zh-hans"), QUESTION)
    assert ANSWER_LINE in before.text
    file = services.settings.knowledge_dir / ENTRY_FILE
    file.write_text(
        file.read_text(encoding="utf-8").replace(ANSWER_LINE, "答复已更新。"), encoding="utf-8"
    )
    assert (await services.engines.reload()).ok
    after = await conversation.ask(User(1, "zh-hans"), QUESTION)
    assert ANSWER_LINE not in after.text
    assert "答复已更新。" in after.text
