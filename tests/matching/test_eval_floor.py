"""The shipped knowledge answers our evaluation set: a regression here fails CI.

The floors sit a little under what the matcher measures today (see the
report of `python -m bot eval`), so tuning noise passes and real regressions do not.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.answering import AnswerEngine, build_engine
from bot.config import Settings
from bot.evaluation import InternalReport, evaluate_internal
from bot.knowledge.loader import load_knowledge
from bot.matching import MatcherSettings, MatchOutcome, load_embedder
from bot.runtime import matcher_settings
from tests.conftest import SHIPPED

EVAL_FILE = Path(__file__).resolve().parents[1] / "data" / "eval.yaml"


def test_the_floors_use_the_thresholds_the_bot_runs_with() -> None:
    # The matcher's defaults and the settings' defaults are written in two places.
    assert matcher_settings(Settings(_env_file=None)) == MatcherSettings()  # type: ignore[call-arg]


@pytest.fixture(scope="session")
def shipped_engine(embedding_cache: Path) -> AnswerEngine:
    """The real knowledge with the real sentence model (loads in ~0.2 s)."""
    return build_engine(
        load_knowledge(SHIPPED),
        settings=MatcherSettings(),
        embedder=load_embedder("e5"),
        cache_dir=embedding_cache,
    )


@pytest.fixture(scope="session")
def shipped_report(shipped_engine: AnswerEngine) -> InternalReport:
    return evaluate_internal(shipped_engine, EVAL_FILE)


def test_in_scope_answered_right(shipped_report: InternalReport) -> None:
    assert shipped_report.answered_right_rate >= 0.94, shipped_report.format_text()


def test_out_of_scope_declined(shipped_report: InternalReport) -> None:
    assert shipped_report.out_of_scope_declined_rate >= 0.95, shipped_report.format_text()


def test_wrong_answers_are_rare(shipped_report: InternalReport) -> None:
    # A wrong answer given with confidence is worse than "did you mean".
    assert shipped_report.answered_wrong <= 0.02 * shipped_report.in_scope


@pytest.mark.parametrize(
    ("question", "entry_id"),
    [
        ("我爸走丢了怎么办", "assistance-family-search"),
        ("How can I find my lost relatives?", "assistance-family-search"),
        ("我想问一下，六十多岁坐车能打折不", "elderly-travel-medical-benefits"),
        ("麻烦您，地保怎么申请", "assistance-dibao"),
        ("excuse me, shehui zuzhi fuhua", "social-org-incubation"),
    ],
    ids=[
        # 走丢 went to the lost-property desk (丢) before synonyms.yaml named it.
        "wandered-off",
        # Clarified at 81 before "lost relatives" joined "lost relative".
        "english-plural",
        # Evaluation questions with an opener, which was read as part of the question.
        "may-i-ask",
        "trouble-you",
        "excuse-me-pinyin",
    ],
)
def test_questions_once_missed_are_answered(
    shipped_engine: AnswerEngine, question: str, entry_id: str
) -> None:
    result = shipped_engine.answer(question)
    assert result.outcome is MatchOutcome.ANSWERED
    assert result.top is not None and result.top.doc_id == entry_id
