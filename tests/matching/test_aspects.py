"""What a message asks for, and the matcher declining entries that never speak of it."""

from __future__ import annotations

import pytest

from bot.matching import MatchDocument, Matcher, MatcherSettings, MatchOutcome, normalize
from bot.matching.aspects import aspects

#: An entry about funeral facilities that gives no phone number.
FUNERAL_FACILITIES = MatchDocument(
    doc_id="funeral-facilities",
    questions=("殡仪馆建设规划", "殡仪馆要新建吗"),
    keywords=("殡仪馆",),
    answer="全市将规划建设殡葬设施。",
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("殡仪馆电话多少", {"phone"}),
        ("海葬免费吗", {"price"}),
        ("每人补助3000元", {"price"}),
        ("地铁几点停运", {"hours"}),
        ("三八节放假吗", {"holiday"}),
        ("What is the hotline number?", {"phone"}),
        ("I left my phone at the station", set()),
        ("家里看病花钱太多", set()),
        ("低保怎么申请", set()),
    ],
    ids=[
        "phone",
        "free-is-about-price",
        "an-amount-answers-how-much",
        "opening-hours",
        "holiday",
        "english-hotline",
        # "phone" alone is the device, not a phone number.
        "phone-the-device",
        # Spending money describes the situation; it does not ask for a price.
        "spending-is-not-asking-price",
        "plain-question",
    ],
)
def test_aspects(text: str, expected: set[str]) -> None:
    assert aspects(normalize(text)) == expected


def test_entry_that_never_mentions_what_is_asked_is_not_answered() -> None:
    matcher = Matcher.build([FUNERAL_FACILITIES], settings=MatcherSettings(semantic=False))
    assert matcher.match("殡仪馆要新建吗").outcome is MatchOutcome.ANSWERED
    # Same topic, but the entry has no phone number to give.
    assert matcher.match("殡仪馆电话多少").outcome is not MatchOutcome.ANSWERED


def test_result_names_what_no_offered_entry_speaks_of() -> None:
    documents = [
        FUNERAL_FACILITIES,
        MatchDocument(
            doc_id="sea-burial",
            questions=("海葬怎么报名", "海葬要钱吗"),
            keywords=("海葬",),
            answer="符合条件的海葬费用全免；报名电话此公告未公布。",
        ),
    ]
    matcher = Matcher.build(documents, settings=MatcherSettings(semantic=False))
    assert matcher.match("殡仪馆电话多少").missing == {"phone"}
    # The sea-burial entry speaks of phone numbers (to say none is announced),
    # so the reply must not claim the sources never mention one.
    assert matcher.match("海葬电话多少").missing == set()
    assert matcher.match("殡仪馆要新建吗").missing == set()
