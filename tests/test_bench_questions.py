"""The end-to-end benchmark's questions are what its figures say they are."""

from __future__ import annotations

import pytest

from bench.bench_e2e import _OPENERS_ZH, load_questions, resident_questions
from bot.matching.normalize import normalize
from bot.matching.smalltalk import strip_greeting


def test_every_semantic_question_is_new_to_the_model() -> None:
    # The matcher keeps vectors by the text it embeds: the normalised message
    # without a leading greeting. Every question must give another one, or the
    # semantic run would measure the cache, not the model.
    base = load_questions()
    questions = resident_questions(base, len(_OPENERS_ZH) * len(base))
    assert len({strip_greeting(normalize(q)) for q in questions}) == len(questions)
    assert questions[: len(base)] == base  # the first round is the set as written


def test_more_questions_than_openers_allow_are_refused() -> None:
    base = load_questions()
    with pytest.raises(ValueError, match="distinct questions"):
        resident_questions(base, len(_OPENERS_ZH) * len(base) + 1)
