"""Look-alike topics: a message naming 离婚 is not answered with an entry on 结婚."""

from __future__ import annotations

import pytest

from bot.matching import MatchDocument, Matcher, MatcherSettings, MatchOutcome, normalize
from bot.matching.contrasts import Contrasts

GROUPS = (
    ("结婚", "离婚"),
    ("婚姻登记", "涉外婚姻登记"),
    ("沈阳站", "沈阳北站", "沈阳南站"),
    ("marriage", "divorce"),
    # A look-alike whose syllables split two ways ("xian" is one syllable or xi-an).
    ("沈阳", "西安"),
)


@pytest.fixture(scope="module")
def contrasts() -> Contrasts:
    return Contrasts(GROUPS)


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("离婚登记要带什么", {"离婚"}),
        ("结婚登记要带什么", set()),
        ("涉外婚姻登记需要什么", {"涉外婚姻登记"}),
        ("沈阳北站几点开门", {"沈阳北站"}),
        ("沈阳站几点开门", set()),
        ("How do I get a divorce?", {"divorce"}),
        ("lihun dengji", {"离婚"}),
        ("li hun", {"离婚"}),
        ("shenyangbeizhan", {"沈阳北站"}),
        ("lihundengji", {"离婚"}),
        ("lihunle zenme ban", {"离婚"}),
        ("woxianglihun", {"离婚"}),
        ("banlihunyindengji", set()),
        ("wo xiang lihun 要带什么", {"离婚"}),
        ("divorced", set()),
        ("这里婚姻登记处在哪", set()),
        ("心里混乱怎么办", set()),
        ("zhe li hunyin dengji", set()),
        ("这里婚姻 dengji", set()),
        ("xian zai na", {"西安"}),
        ("xi an zai na", {"西安"}),
    ],
    ids=[
        "look-alike-written",
        # The covered word names nothing: the entries on it may answer.
        "covered-word",
        # The longest word of the group that the message contains.
        "longer-look-alike-wins",
        "other-station",
        "the-station-itself",
        "english",
        "typed-pinyin-sound",
        "typed-pinyin-spaced",
        "typed-pinyin-one-word",
        # A look-alike inside a longer typed word: the words are split into syllables.
        "typed-pinyin-run-with-the-next-word",
        "typed-pinyin-run-with-a-particle",
        "typed-pinyin-run-ending-with-it",
        # Not in a run's middle: ban-li-hun-yin is 办理婚姻, two words' tail and head.
        "typed-pinyin-run-middle",
        "typed-pinyin-beside-chinese",
        # English words are whole words ("divorced" is not "divorce").
        "english-whole-words",
        # Sounds are typed words only: 这里婚姻 sounds "zhe li hun yin", and names nothing.
        "chinese-text-sounding-alike",
        "chinese-text-sounding-alike-2",
        "typed-pinyin-across-words",
        # Chinese text is not typed pinyin, even beside typed words.
        "chinese-beside-typed-pinyin",
        # A whole typed word is found however it splits into syllables.
        "typed-pinyin-ambiguous-split",
        "typed-pinyin-ambiguous-split-spaced",
    ],
)
def test_named(contrasts: Contrasts, text: str, named: set[str]) -> None:
    assert contrasts.named(normalize(text)) == named


@pytest.mark.parametrize(
    ("message", "entry_text", "conflict"),
    [
        ("离婚登记要带什么", "结婚登记要带什么材料", True),
        ("离婚登记要带什么", "想离婚 有没有人给做做工作 婚姻家庭辅导", False),
        ("离婚登记要带什么", "低保怎么申请", False),
        ("沈阳北站几点开门", "沈阳站美丽服务台几点开门", True),
        ("涉外婚姻登记需要什么", "婚姻登记流程优化", True),
    ],
    ids=[
        "entry-on-the-covered-word",
        # An entry that speaks of the look-alike itself may answer.
        "entry-mentions-the-look-alike",
        # Entries on other topics are left to the other evidence.
        "unrelated-entry",
        "other-station",
        "narrower-topic",
    ],
)
def test_conflicts(contrasts: Contrasts, message: str, entry_text: str, conflict: bool) -> None:
    named = contrasts.named(normalize(message))
    assert contrasts.conflicts(named, contrasts.mentioned(normalize(entry_text))) is conflict


def test_groups_of_one_term_are_ignored() -> None:
    assert not Contrasts([("离婚",), ()])


MARRIAGE = MatchDocument(
    doc_id="marriage-registration",
    questions=("结婚登记在哪里办", "结婚登记要带什么材料"),
    keywords=("结婚登记",),
)
COUNSELLING = MatchDocument(
    doc_id="marriage-counselling",
    questions=("婚姻家庭辅导在哪", "想离婚 有没有人给调解"),
    keywords=("婚姻家庭辅导",),
)


def test_entry_on_the_covered_word_does_not_answer_the_look_alike() -> None:
    matcher = Matcher.build(
        [MARRIAGE, COUNSELLING], contrasts=GROUPS, settings=MatcherSettings(semantic=False)
    )
    assert matcher.match("结婚登记要带什么材料").outcome is MatchOutcome.ANSWERED
    divorce = matcher.match("离婚登记要带什么材料")
    assert divorce.outcome is not MatchOutcome.ANSWERED
    # Still offered as "did you mean" when it is the closest: the penalty halves, not hides.
    assert divorce.top is not None and divorce.top.doc_id == "marriage-registration"
    # ... and the reply can say the sources do not cover divorce.
    assert divorce.uncovered == {"离婚"}


def test_a_look_alike_is_covered_only_by_what_an_answer_says() -> None:
    told = MatchDocument(
        doc_id="marriage-counselling",
        questions=COUNSELLING.questions,
        keywords=COUNSELLING.keywords,
        answer="想离婚的夫妻可以先做婚姻家庭辅导",
    )
    question = "想离婚 有没有人调解 要带什么材料"
    for counselling, uncovered in ((COUNSELLING, {"离婚"}), (told, set())):
        matcher = Matcher.build(
            [MARRIAGE, counselling], contrasts=GROUPS, settings=MatcherSettings(semantic=False)
        )
        # An alternate question naming 离婚 does not make the source say anything on it.
        assert matcher.match(question).uncovered == uncovered
    assert matcher.match("结婚登记要带什么材料").uncovered == set()


def test_without_contrasts_the_look_alike_is_answered() -> None:
    # The reason for contrasts: one character apart, every kind of evidence agrees.
    matcher = Matcher.build([MARRIAGE, COUNSELLING], settings=MatcherSettings(semantic=False))
    assert matcher.match("离婚登记要带什么材料").outcome is MatchOutcome.ANSWERED
