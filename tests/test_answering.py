"""The answer engine over a real (fixture) knowledge folder."""

from __future__ import annotations

import pytest

from bot.answering import AnswerEngine, build_engine, documents_from_knowledge
from bot.knowledge.loader import load_knowledge
from bot.matching import MatcherSettings, MatchOutcome
from tests.conftest import VALID

FIXTURE_KNOWLEDGE = VALID


@pytest.fixture(scope="module")
def engine() -> AnswerEngine:
    return build_engine(
        load_knowledge(FIXTURE_KNOWLEDGE),
        settings=MatcherSettings(semantic=False),
        embedder=None,
        cache_dir=None,
    )


def test_documents_carry_both_languages_and_keywords() -> None:
    kb = load_knowledge(FIXTURE_KNOWLEDGE)
    documents = {d.doc_id: d for d in documents_from_knowledge(kb)}
    assert documents.keys() == kb.entries.keys()
    entry = kb.entries["marriage-points"]
    document = documents["marriage-points"]
    assert document.questions == (*entry.questions.zh, *entry.questions.en)
    assert entry.title.zh in document.title
    assert entry.title.en in document.title
    assert document.keywords == tuple(entry.keywords)


@pytest.mark.parametrize(
    ("question", "entry_id"),
    [
        ("结婚登记点在哪", "marriage-points"),
        ("婚俗改革实验区有哪些", "marriage-custom-reform"),
    ],
    ids=["registration-points", "custom-reform"],
)
def test_answer_returns_entry_ids(engine: AnswerEngine, question: str, entry_id: str) -> None:
    result = engine.answer(question)
    assert result.top is not None
    assert result.top.doc_id == entry_id
    assert result.top.doc_id in engine.knowledge.entries


def test_unrelated_question_is_not_answered(engine: AnswerEngine) -> None:
    assert engine.answer("股票怎么买").outcome is not MatchOutcome.ANSWERED


def test_engine_is_frozen(engine: AnswerEngine) -> None:
    # Reloads swap a whole engine; nobody patches one in place.
    with pytest.raises(AttributeError):
        engine.matcher = engine.matcher  # type: ignore[misc]


def test_a_repeated_question_reuses_the_verdict_of_this_engine_only() -> None:
    kb = load_knowledge(FIXTURE_KNOWLEDGE)
    settings = MatcherSettings(semantic=False)
    first = build_engine(kb, settings=settings, embedder=None, cache_dir=None)
    verdict = first.answer("结婚登记在哪里办")
    assert first.answer("结婚登记在哪里办") is verdict  # the repeat is not matched again
    # A reload builds a new engine: it matches afresh, never serving the old verdict.
    second = build_engine(kb, settings=settings, embedder=None, cache_dir=None)
    again = second.answer("结婚登记在哪里办")
    assert again is not verdict
    assert again == verdict
