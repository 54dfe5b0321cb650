"""Matcher outcomes on a small fixture knowledge base."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from bot.matching import (
    MatchDocument,
    Matcher,
    MatcherSettings,
    MatchOutcome,
    load_embedder,
    normalize,
)
from bot.matching import matcher as matcher_module
from bot.matching.embedding import Vectors
from bot.matching.matcher import SEMANTIC_WEIGHTS

from .conftest import FIXTURE_DOCUMENTS, FIXTURE_SYNONYMS, CountingEmbedder


@pytest.mark.parametrize(
    ("question", "doc_id"),
    [
        ("结婚登记在哪里办", "marriage-registration-points"),
        ("我想问一下领证去哪", "marriage-registration-points"),
        ("最低生活保障标准", "assistance-dibao"),
        ("結婚登記在哪裡", "marriage-registration-points"),
        ("结婚等级在哪", "marriage-registration-points"),
        ("适老话改造", "elderly-age-friendly-renovation"),
        ("地保怎么申请", "assistance-dibao"),
        ("jiehun dengji", "marriage-registration-points"),
        ("jiehundengji", "marriage-registration-points"),
        ("dibao", "assistance-dibao"),
        ("Where can we register marriage", "marriage-registration-points"),
        ("你好，低保怎么申请", "assistance-dibao"),
        ("找家人", "assistance-family-search"),
    ],
    ids=[
        "own-phrasing",
        "filler-and-synonym",
        "official-synonym",
        "traditional-characters",
        "typo-dengji",
        "typo-shilaohua",
        "typo-dibao",
        "pinyin-with-space",
        "pinyin-without-space",
        "pinyin-dibao",
        "english",
        # A greeting followed by a question is a question, not small talk.
        "greeting-then-question",
        "synonym-phrase",
    ],
)
def test_answers(lexical_matcher: Matcher, question: str, doc_id: str) -> None:
    result = lexical_matcher.match(question)
    assert result.outcome is MatchOutcome.ANSWERED
    assert result.top is not None
    assert result.top.doc_id == doc_id


@pytest.mark.parametrize(
    "question",
    ["沈阳今天天气怎么样", "股票怎么买", "养老金什么时候涨", "How do I renew my passport?"],
    ids=[
        # None of these share a content word with any entry: no candidate may be answered.
        "weather",
        "stocks",
        "pension-is-not-dibao",
        "passport-english",
    ],
)
def test_out_of_scope_falls_back(lexical_matcher: Matcher, question: str) -> None:
    result = lexical_matcher.match(question)
    assert result.outcome is MatchOutcome.FALLBACK


@pytest.mark.parametrize(
    ("message", "kind", "lang"),
    [
        ("你好", "hello", "zh"),
        ("您好！", "hello", "zh"),
        ("Hi there", "hello", "en"),
        ("谢谢你啊", "thanks", "zh"),
        ("Thank you so much!", "thanks", "en"),
        ("你是谁", "who", "zh"),
        ("What can you do?", "who", "en"),
        ("拜拜", "bye", "zh"),
        ("goodbye", "bye", "en"),
    ],
    ids=[
        "ni-hao",
        "nin-hao-punctuation",
        "hi-there",
        "thanks-zh",
        "thanks-en",
        "who-zh",
        "what-can-you-do",
        "bye-zh",
        "bye-en",
    ],
)
def test_smalltalk(lexical_matcher: Matcher, message: str, kind: str, lang: str) -> None:
    result = lexical_matcher.match(message)
    assert result.outcome is MatchOutcome.SMALLTALK
    assert result.smalltalk == kind
    assert result.lang == lang
    assert result.candidates == ()


@pytest.mark.parametrize(
    "message",
    ["你好，结婚登记在哪", "谢谢，低保标准是多少", "hi, how do I apply for dibao"],
    ids=[
        # Politeness around a real question must not hide the question.
        "hello-then-question",
        "thanks-then-question",
        "hi-then-english-question",
    ],
)
def test_smalltalk_prefix_is_still_a_question(lexical_matcher: Matcher, message: str) -> None:
    result = lexical_matcher.match(message)
    assert result.outcome is not MatchOutcome.SMALLTALK
    assert result.top is not None


@pytest.mark.parametrize(
    "message",
    ["", "   \n\t", "😀😀👍🏽", "？？！！。。", "\u200b\u200d\u202e", "\x00\x1b"],
    ids=["empty", "whitespace", "only-emoji", "only-punctuation", "only-invisible", "control"],
)
def test_invalid_input(lexical_matcher: Matcher, message: str) -> None:
    result = lexical_matcher.match(message)
    assert result.outcome is MatchOutcome.INVALID
    assert result.candidates == ()


def test_very_long_message_is_truncated_and_matched(lexical_matcher: Matcher) -> None:
    result = lexical_matcher.match("低保怎么申请" + "。" * 5000 + "x" * 5000)
    assert result.outcome is not MatchOutcome.INVALID
    assert len(result.normalized) <= 1000


def test_candidates_are_sorted_bounded_and_limited(lexical_matcher: Matcher) -> None:
    result = lexical_matcher.match("老人 补贴 改造 食堂 低保", limit=3)
    scores = [c.score for c in result.candidates]
    assert scores == sorted(scores, reverse=True)
    assert all(0 <= s <= 100 for s in scores)
    assert len(result.candidates) <= 3


def test_thresholds_are_settings() -> None:
    strict = Matcher.build(
        FIXTURE_DOCUMENTS,
        synonyms=FIXTURE_SYNONYMS,
        settings=MatcherSettings(
            answer_threshold=100.1, clarify_threshold=0.0, margin=0.0, semantic=False
        ),
    )
    # Nothing can reach 100.1, so a clear match becomes "did you mean".
    assert strict.match("低保怎么申请").outcome is MatchOutcome.CLARIFY


def test_duplicate_ids_are_refused() -> None:
    document = MatchDocument(doc_id="same", questions=("低保",))
    with pytest.raises(ValueError, match="unique"):
        Matcher.build([document, document])


def test_empty_knowledge_base_falls_back() -> None:
    matcher = Matcher.build([], settings=MatcherSettings(semantic=False))
    assert matcher.match("低保怎么申请").outcome is MatchOutcome.FALLBACK


def test_semantic_off_ignores_the_embedder() -> None:
    embedder = CountingEmbedder()
    matcher = Matcher.build(
        FIXTURE_DOCUMENTS,
        synonyms=FIXTURE_SYNONYMS,
        settings=MatcherSettings(semantic=False),
        embedder=embedder,
    )
    assert not matcher.semantic
    assert matcher.match("低保怎么申请").top is not None
    assert embedder.calls == 0


def test_embedding_cache_is_reused(tmp_path: Path) -> None:
    first = CountingEmbedder()
    Matcher.build(FIXTURE_DOCUMENTS, embedder=first, cache_dir=tmp_path)
    assert first.texts > 0
    assert list(tmp_path.glob("**/*.npy"))

    second = CountingEmbedder()
    matcher = Matcher.build(FIXTURE_DOCUMENTS, embedder=second, cache_dir=tmp_path)
    assert second.calls == 0  # documents came from the cache
    matcher.match("家里没收入 日子过不下去")
    assert second.calls == 1  # only the question itself


def test_decisive_words_skip_the_sentence_model() -> None:
    embedder = CountingEmbedder()
    matcher = Matcher.build(FIXTURE_DOCUMENTS, synonyms=FIXTURE_SYNONYMS, embedder=embedder)
    before = embedder.calls
    # A stored phrasing word for word: the words decide, the model is not run.
    result = matcher.match("低保怎么申请")
    assert embedder.calls == before
    assert result.outcome is MatchOutcome.ANSWERED
    assert result.candidates[0].doc_id == "assistance-dibao"
    # Words that fit nothing well: the model is asked.
    matcher.match("家里没收入 日子过不下去")
    assert embedder.calls == before + 1


class TopicEmbedder:
    """A fake sentence model that puts every text on one topic's axis: the phrasings
    of one entry coincide, and two entries are as far apart as can be, unless a
    text is listed as another entry's topic."""

    name = "topic-fake"
    dim = 8
    TOPICS = (
        ("低保", "最低生活保障", "subsistence"),
        ("婚", "marriage"),
        ("适老化", "改造", "modified"),
        ("寻亲", "流浪", "relative"),
        ("食堂", "吃饭", "助餐", "eat"),
    )

    def __init__(self, same_topic: dict[str, str]) -> None:
        self.same_topic = same_topic
        self.calls = 0

    def encode(self, texts: Sequence[str]) -> Vectors:
        self.calls += 1
        rows = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in zip(rows, texts, strict=True):
            text = self.same_topic.get(text, text)
            found = [i for i, words in enumerate(self.TOPICS) if any(w in text for w in words)]
            row[found[0] if found else self.dim - 1] = 1.0
        return rows


def test_words_decide_alone_when_no_other_entry_is_close(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The bars that hold whatever the neighbours are set out of reach, so only the
    # entry's nearest neighbour decides whether the model runs.
    weights = replace(SEMANTIC_WEIGHTS, skip_semantic_score=101.0, skip_semantic_long_score=101.0)
    # Lexically far from "低保怎么申请" (only 怎么 in common), but the same to the model.
    close = MatchDocument(doc_id="hardship-grant", questions=("生活困难补助怎么领",))
    for documents, model_runs in ((FIXTURE_DOCUMENTS, 0), ((*FIXTURE_DOCUMENTS, close), 1)):
        embedder = TopicEmbedder({"生活困难补助怎么领": "低保"})
        matcher = Matcher.build(
            documents, synonyms=FIXTURE_SYNONYMS, embedder=embedder, weights=weights
        )
        before = embedder.calls
        result = matcher.match("低保怎么申请")
        assert embedder.calls == before + model_runs
        assert result.top is not None
        assert result.top.doc_id == "assistance-dibao"
    # A base too large to compare every pair of phrasings at build: the rule is off.
    monkeypatch.setattr(matcher_module, "NEIGHBOURS_MAX_PHRASINGS", 1)
    embedder = TopicEmbedder({})
    matcher = Matcher.build(
        FIXTURE_DOCUMENTS, synonyms=FIXTURE_SYNONYMS, embedder=embedder, weights=weights
    )
    before = embedder.calls
    matcher.match("低保怎么申请")
    assert embedder.calls == before + 1


def test_query_embeddings_are_cached() -> None:
    embedder = CountingEmbedder()
    matcher = Matcher.build(FIXTURE_DOCUMENTS, synonyms=FIXTURE_SYNONYMS, embedder=embedder)
    first = matcher.match("家里没收入 日子过不下去")
    calls = embedder.calls
    # The same text again, and the same after normalisation: no new call.
    assert matcher.match("家里没收入 日子过不下去") == first
    assert matcher.match("家里没收入，日子过不下去！").candidates == first.candidates
    assert embedder.calls == calls


@pytest.fixture(scope="module")
def semantic_matcher() -> Matcher:
    """The fixture knowledge base with the real sentence model (bundled, ~0.2 s to load)."""
    return Matcher.build(FIXTURE_DOCUMENTS, synonyms=FIXTURE_SYNONYMS, embedder=load_embedder("e5"))


@pytest.mark.parametrize(
    ("question", "doc_id"),
    [
        ("找不到家人了", "assistance-family-search"),
        ("Is there cheap food for old people in my neighbourhood?", "elderly-meal-assistance"),
        (
            "I lost contact with my brother, can someone help me find him?",
            "assistance-family-search",
        ),
    ],
    ids=["paraphrase-without-shared-words", "english-paraphrase", "english-no-keyword"],
)
def test_semantic_finds_paraphrases(semantic_matcher: Matcher, question: str, doc_id: str) -> None:
    result = semantic_matcher.match(question)
    assert result.top is not None
    assert result.top.doc_id == doc_id
    assert result.outcome in (MatchOutcome.ANSWERED, MatchOutcome.CLARIFY)


def test_semantic_does_not_answer_unrelated(semantic_matcher: Matcher) -> None:
    # Embeddings put any two sentences somewhat close; that must not become an answer.
    assert semantic_matcher.match("明天沈阳会下雪吗").outcome is not MatchOutcome.ANSWERED


class TableEmbedder:
    """A fake sentence model with chosen cosines: each known text gets its vector,
    any other text one orthogonal to them all."""

    name = "table-fake"
    dim = 8

    def __init__(self, table: dict[str, tuple[float, ...]]) -> None:
        self._table = {normalize(text): vector for text, vector in table.items()}

    def encode(self, texts: Sequence[str]) -> Vectors:
        rows = [self._table.get(text, (0.0,) * (self.dim - 1) + (1.0,)) for text in texts]
        array = np.array([[*row, *(0.0,) * (self.dim - len(row))] for row in rows])
        return (array / np.linalg.norm(array, axis=1, keepdims=True)).astype(np.float32)


def _at_cosine(cosine: float, axis: int) -> tuple[float, ...]:
    """A unit vector at `cosine` to the first axis, leaning towards `axis`."""
    vector = [cosine] + [0.0] * 6
    vector[axis] = math.sqrt(1.0 - cosine**2)
    return tuple(vector)


def _table(question: str, *phrasings: tuple[str, float, int]) -> TableEmbedder:
    """The question on the first axis; each phrasing at its cosine, leaning to its axis."""
    return TableEmbedder(
        {question: _at_cosine(1.0, 1)}
        | {text: _at_cosine(cosine, axis) for text, cosine, axis in phrasings}
    )


CANTEEN = MatchDocument(doc_id="canteen", questions=("社区老年食堂在哪里吃饭",))
MEALS = MatchDocument(doc_id="meal-help", questions=("老人助餐点怎么找",))
QUESTION = "社区食堂老人去哪吃饭"


@pytest.mark.parametrize(
    ("meals_cosine", "outcome"),
    [(0.2, MatchOutcome.ANSWERED), (0.99, MatchOutcome.CLARIFY)],
    ids=[
        "the-model-agrees-with-the-words",
        # The model reads the other entry as the same question: the words alone
        # do not make the first one clearly ahead, so the resident chooses.
        "the-model-reads-both-the-same",
    ],
)
def test_an_entry_the_model_reads_the_same_is_a_rival(
    meals_cosine: float, outcome: MatchOutcome
) -> None:
    embedder = _table(
        QUESTION, (CANTEEN.questions[0], 0.995, 1), (MEALS.questions[0], meals_cosine, 2)
    )
    # The model must run, even where MEALS is no neighbour of CANTEEN (0.2).
    model_runs = replace(SEMANTIC_WEIGHTS, skip_semantic_alone_score=101.0)
    matcher = Matcher.build([CANTEEN, MEALS], embedder=embedder, weights=model_runs)
    assert next(matcher.matching(QUESTION))
    result = matcher.match(QUESTION)
    assert result.top is not None and result.top.doc_id == "canteen"
    assert result.outcome is outcome
    if outcome is MatchOutcome.CLARIFY:
        assert {c.doc_id for c in result.choices} == {"canteen", "meal-help"}


def test_an_entry_that_answers_another_kind_of_question_is_nobodys_rival() -> None:
    # The model reads "what does it do" as nearly "what are its side effects"; but that
    # entry answers another kind of question (intents), so it does not make the
    # side-effects entry a "did you mean". Both lean to the same axis: to the model
    # the two entries are neighbours, so the words alone do not decide.
    harm = MatchDocument(doc_id="harm", questions=("布洛芬的副作用有哪些",))
    effect = MatchDocument(doc_id="effect", questions=("布洛芬有什么作用",))
    question = "吃布洛芬副作用大不大"
    embedder = _table(question, (harm.questions[0], 0.97, 1), (effect.questions[0], 0.965, 1))
    matcher = Matcher.build([harm, effect], embedder=embedder)
    assert next(matcher.matching(question))
    result = matcher.match(question)
    assert result.top is not None and result.top.doc_id == "harm"
    assert result.outcome is MatchOutcome.ANSWERED


def test_the_models_best_entry_gains_over_close_words() -> None:
    # The words favour the first entry a little; the model prefers the second by
    # 0.01, which is how it ranks paraphrases. Both lean to the same axis: to the
    # model the two entries say nearly the same, so the words alone do not decide.
    first = MatchDocument(doc_id="first", questions=("老人吃饭有补助吗",))
    second = MatchDocument(doc_id="second", questions=("老年人助餐有补贴吗",))
    question = "老人在社区吃饭有补贴吗"
    embedder = _table(question, (first.questions[0], 0.91, 2), (second.questions[0], 0.92, 2))
    unranked = replace(SEMANTIC_WEIGHTS, semantic_rank=0.0)
    without = Matcher.build([first, second], embedder=embedder, weights=unranked)
    ranked = Matcher.build([first, second], embedder=embedder)
    assert [c.doc_id for c in without.match(question).candidates] == ["first", "second"]
    assert [c.doc_id for c in ranked.match(question).candidates] == ["second", "first"]


def test_typed_pinyin_is_not_ranked_or_rivalled_by_the_model() -> None:
    # The model cannot read typed pinyin: its cosines neither rank the entries nor
    # name rivals, so the scores are those of the words and sounds alone.
    hours = MatchDocument(doc_id="canteen-hours", questions=("社区老年食堂几点开门",))
    question = "laonian shitang"  # the words alone do not decide: the model runs
    embedder = _table(question, (CANTEEN.questions[0], 0.99, 1), (hours.questions[0], 0.995, 2))
    plain = replace(SEMANTIC_WEIGHTS, semantic_rank=0.0, rival_share=0.0)
    both = Matcher.build([CANTEEN, hours], embedder=embedder).match(question)
    without = Matcher.build([CANTEEN, hours], embedder=embedder, weights=plain).match(question)
    assert next(Matcher.build([CANTEEN, hours], embedder=embedder).matching(question))
    assert {c.doc_id for c in both.candidates} == {"canteen", "canteen-hours"}
    assert [c.score for c in both.candidates] == [c.score for c in without.candidates]
    assert both.outcome is without.outcome


def test_matching_in_steps_asks_for_the_model_only_when_the_words_do_not_decide() -> None:
    embedder = _table(QUESTION, (CANTEEN.questions[0], 0.995, 1), (MEALS.questions[0], 0.99, 2))
    matcher = Matcher.build([CANTEEN, MEALS], embedder=embedder)
    # The words decide: no step asks for the model.
    decided = matcher.matching(CANTEEN.questions[0])
    with pytest.raises(StopIteration) as done:
        next(decided)
    assert done.value.value.outcome is MatchOutcome.ANSWERED
    # They do not: one step asks for the text to read, and its evidence finishes it
    # (here, the model reads the other entry as the same question: "did you mean").
    steps = matcher.matching(QUESTION)
    text = next(steps)
    with pytest.raises(StopIteration) as done:
        steps.send(matcher.semantic_evidence(text))
    assert done.value.value.outcome is MatchOutcome.CLARIFY
    assert {c.doc_id for c in done.value.value.choices} == {"canteen", "meal-help"}
