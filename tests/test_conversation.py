"""ConversationService: repeated questions reuse their reply, a reload is never hidden by it,
and the sentence model never blocks the event loop.

Real services (lexical matcher, SQLite file in tmp_path) over a copy of the shipped
knowledge, so a test may edit it and reload.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest_asyncio
from pydantic import SecretStr

from bot.answering import build_engine
from bot.config import Settings
from bot.conversation import ConversationService, ReplyKind, User
from bot.knowledge import load_knowledge
from bot.matching import MatcherSettings
from bot.runtime import EngineHolder
from bot.services import Services
from tests.conftest import SHIPPED, lexical_settings

QUESTION = "沈阳喜事是什么"
#: A sentence of that entry's answer, and the file it is in.
ANSWER_LINE = "2024年沈阳市将在全市推广“沈阳喜事”婚姻服务品牌，并优化婚姻登记服务流程。"
ENTRY_FILE = "marriage.yaml"


@pytest_asyncio.fixture
async def services(tmp_path: Path, shipped_copy: Path) -> AsyncIterator[Services]:
    opened = await Services.open(lexical_settings(shipped_copy, tmp_path))
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


class _ThreadNotingEmbedder:
    """A fake sentence model (hashed character vectors) that notes which thread runs it."""

    name = "thread-noting-fake"
    dim = 32

    def __init__(self) -> None:
        self.threads: list[int] = []

    def encode(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        self.threads.append(threading.get_ident())
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for ch in text:
                out[row, ord(ch) % self.dim] += 1.0
            out[row] /= max(float(np.linalg.norm(out[row])), 1.0)
        return out


async def test_the_sentence_model_runs_off_the_event_loop(tmp_path: Path) -> None:
    # A new question's embedding (tens of ms with the real model) must not stall the
    # loop that serves every other resident; a repeat needs no model at all.
    embedder = _ThreadNotingEmbedder()
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        knowledge_dir=SHIPPED,
        semantic_enabled=True,
        user_hash_secret=SecretStr("test-secret"),
    )
    engine = build_engine(
        load_knowledge(SHIPPED),
        settings=MatcherSettings(semantic=True),
        embedder=embedder,
        cache_dir=None,
    )
    conversation = ConversationService(EngineHolder(engine, settings=settings, embedder=embedder))
    loop_thread = threading.get_ident()
    embedder.threads.clear()  # the knowledge's own phrasings were embedded at build time
    # Ambiguous for the words alone, so the model is consulted.
    reply = await conversation.ask(User(1, "zh-hans"), "家里没收入 日子过不下去")
    assert reply.kind in (ReplyKind.ANSWERED, ReplyKind.CLARIFY, ReplyKind.FALLBACK)
    assert embedder.threads, "the question was decided by words alone; pick a vaguer one"
    assert loop_thread not in embedder.threads
    calls = len(embedder.threads)
    await conversation.ask(User(2, "zh-hans"), "家里没收入 日子过不下去")
    assert len(embedder.threads) == calls
