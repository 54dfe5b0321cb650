"""Properties that hold for any input at all."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.matching import Matcher, MatchOutcome, MatchResult, detect_language, normalize
from bot.matching.matcher import CHOICE_MIN_SCORE, CHOICE_MIN_SHARE
from bot.matching.normalize import MAX_QUERY_CHARS
from tests.matching.conftest import FIXTURE_DOCUMENTS


@given(st.text(max_size=300))
@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_any_text_gives_a_valid_result(lexical_matcher: Matcher, text: str) -> None:
    result = lexical_matcher.match(text)
    assert isinstance(result, MatchResult)
    assert result.outcome in set(MatchOutcome)
    assert result.lang in ("zh", "en")
    assert len(result.candidates) <= 10
    assert all(0.0 <= c.score <= 100.0 for c in result.candidates)
    assert [c.score for c in result.candidates] == sorted(
        (c.score for c in result.candidates), reverse=True
    )
    if result.outcome is MatchOutcome.ANSWERED:
        assert result.top is not None
    if result.outcome in (MatchOutcome.INVALID, MatchOutcome.SMALLTALK):
        assert result.candidates == ()
    assert (result.smalltalk is not None) == (result.outcome is MatchOutcome.SMALLTALK)


@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=3000))
@settings(max_examples=200, deadline=None)
def test_normalize_is_idempotent_and_bounded(text: str) -> None:
    once = normalize(text)
    assert len(once) <= MAX_QUERY_CHARS
    assert normalize(once) == once
    assert detect_language(once) in ("zh", "en")


_FRAGMENTS = sorted(
    {q[i : i + 4] for d in FIXTURE_DOCUMENTS for q in d.questions for i in range(0, len(q), 3)}
)


@given(st.lists(st.sampled_from(_FRAGMENTS), min_size=1, max_size=3).map(" ".join))
@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_did_you_mean_offers_two_to_four_plausible_entries(
    lexical_matcher: Matcher, text: str
) -> None:
    # Pieces of real phrasings: half-sentences that often leave the matcher unsure.
    result = lexical_matcher.match(text)
    choices = result.choices
    if result.outcome is not MatchOutcome.CLARIFY:
        assert choices == ()
        return
    assert choices == result.candidates[: len(choices)]  # the best ones, in order
    assert min(2, len(result.candidates)) <= len(choices) <= lexical_matcher.settings.max_clarify
    # Beyond the two always offered, only entries that could be meant.
    floor = max(CHOICE_MIN_SCORE, CHOICE_MIN_SHARE * choices[0].score)
    assert all(c.score >= floor for c in choices[2:])
