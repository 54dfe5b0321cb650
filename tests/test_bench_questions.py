"""The end-to-end benchmark's questions are what its figures say they are."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.bench_e2e import _CONTEXTS_ZH, load_questions, model_texts, resident_questions
from bot.matching.matcher import EMBED_MAX_CHARS
from bot.matching.normalize import normalize
from bot.matching.smalltalk import strip_greeting


def test_no_variation_is_lost_before_the_model() -> None:
    # The matcher strips a leading greeting or opener (你好, 我想问一下, excuse me) and
    # keeps vectors by the rest: every question must still differ after both, in
    # every round.
    base = load_questions()
    questions = resident_questions(base, len(_CONTEXTS_ZH) * len(base))
    assert len({strip_greeting(normalize(q)) for q in questions}) == len(questions)
    assert questions[: len(base)] == base  # the first round is the set as written


def test_the_model_reads_each_short_question_anew(embedding_cache: Path) -> None:
    # What the model reads, through the real matcher: a short message as written
    # (what the resident says about themselves included), so no two of them share a
    # vector. A long one is read by its content words (EMBED_MAX_CHARS), which may
    # repeat; the benchmark prints how many texts differ.
    base = load_questions()
    questions = resident_questions(base, 3 * len(base))
    short = [
        text
        for question, text in zip(
            questions, model_texts(questions, cache_dir=embedding_cache), strict=True
        )
        if text is not None and len(normalize(question)) <= EMBED_MAX_CHARS
    ]
    assert len(short) > len(questions) // 4  # the words do not decide them all
    assert len(set(short)) == len(short)


def test_more_questions_than_the_variations_allow_are_refused() -> None:
    base = load_questions()
    with pytest.raises(ValueError, match="distinct questions"):
        resident_questions(base, len(_CONTEXTS_ZH) * len(base) + 1)
