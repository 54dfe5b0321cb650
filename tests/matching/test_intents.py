"""What kind of question a text asks, and the matcher declining entries that ask another."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bot.matching import MatchDocument, Matcher, MatcherSettings, MatchOutcome, normalize
from bot.matching.intents import conflict, intents
from bot.matching.matcher import LEXICAL_WEIGHTS


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("过敏性哮喘的症状有哪些", {"symptom"}),
        ("过敏性哮喘怎么治疗", {"treatment"}),
        ("過敏性哮喘怎麼辦", {"treatment"}),
        ("过敏性哮喘能治好吗", {"treatment", "whether"}),
        ("为什么会得过敏性哮喘", {"cause"}),
        ("过敏性哮喘是什么", {"definition"}),
        ("过敏性哮喘的原因是什么", {"cause"}),
        ("低保是什么吗", {"definition"}),
        ("怎么预防过敏性哮喘", {"prevention"}),
        ("过敏性哮喘严不严重", {"harm", "whether"}),
        ("哪种药效果更好", {"compare", "effect"}),
        ("低保标准", set()),
        ("老人洗澡危险 能给改改不", set()),
        ("Why is the desk called Meili?", {"cause"}),
        ("How can I find a relative who may be homeless?", set()),
        ("Can I bring my dog?", {"whether"}),
        ("住房补贴管理办法", set()),
        ("感冒了有什么好办法", {"treatment"}),
        ("社会组织年度检查", set()),
        ("肺气肿要做哪些检查", {"diagnosis"}),
        ("不同年龄段的老人", set()),
        ("两种药有什么不同", {"compare"}),
        ("个人数据加密处理", set()),
        ("发烧怎样处理", {"treatment"}),
        ("居住证怎么办理", set()),
        ("低保咋办理", set()),
        ("怎么办证", set()),
        ("布洛芬有什么副作用", {"harm"}),
        ("罗红霉素的作用和副作用", {"effect", "harm"}),
        ("百令胶囊一天吃几次", {"usage"}),
        ("去了几次都没办成", set()),
        ("适合什么样的人群服用", {"people"}),
        ("适用人群有哪些", {"people"}),
        ("老年人群补贴", set()),
        ("路牌坏了谁管", {"people"}),
        ("谁都可以申请吗", {"whether"}),
        ("跑完步咳嗽是怎么了", {"cause"}),
        ("淋巴结肿大挂什么科", {"place"}),
        ("感冒分为哪几种类型", {"kinds"}),
        ("哮喘如何食疗", {"treatment"}),
        ("怎么了解社保政策", set()),
        ("垃圾分类怎么投放", set()),
        ("易感人群补贴", set()),
    ],
    ids=[
        "symptom",
        "treatment",
        "traditional-what-to-do",
        "curable-is-treatment-asked-yes-or-no",
        "why",
        "what-is",
        # "是什么" after a more specific question word asks that, not a definition.
        "definition-yields-to-cause",
        # Asked as yes-or-no, a definition is still a definition.
        "definition-asked-yes-or-no",
        "prevention",
        "a-not-a-question",
        "which-is-better",
        "a-topic-asks-nothing",
        # An adjective that describes is not asked.
        "describing-danger-is-not-asking",
        "english-why-first",
        # "who" inside a sentence is a relative pronoun.
        "english-relative-who",
        "english-yes-no",
        # Broad words count only as asked: a rule's name, a procedure, a description.
        "regulation-name",
        "way-asked-for",
        "inspection-named",
        "test-asked-about",
        "different-describes",
        "difference-asked",
        "processing-named",
        "handling-asked",
        # "怎么办理" asks how to apply, not what to do about an illness.
        "how-to-apply",
        "how-to-apply-colloquial",
        "how-to-get-a-certificate",
        # "作用" inside "副作用" is harm, not what the medicine does.
        "side-effect-is-harm-only",
        "effect-and-side-effect",
        "how-many-times-asked",
        # Told, not asked.
        "how-many-times-told",
        "which-people-asked",
        "people-listed-asked",
        # A group named, not asked for.
        "people-group-named",
        "who-asked",
        # "谁都" is anyone.
        "anyone-is-not-who",
        "what-is-wrong",
        # Which hospital department: where to go.
        "which-department",
        "which-kinds",
        "diet-therapy",
        # "怎么了解" is how to learn about, not what is wrong.
        "learn-about-is-not-what-is-wrong",
        # Kinds named as a topic, not asked for.
        "kinds-named",
        "people-group-named-2",
    ],
)
def test_intents(text: str, expected: set[str]) -> None:
    assert intents(normalize(text)) == expected


@pytest.mark.parametrize(
    ("asked", "offered", "expected"),
    [
        ({"treatment"}, {"symptom"}, True),
        ({"treatment", "whether"}, {"treatment"}, False),
        ({"cause"}, {"definition"}, False),
        ({"effect"}, {"treatment"}, False),
        (set(), {"symptom"}, False),
        ({"symptom"}, set(), False),
    ],
    ids=[
        "other-kind",
        "shared-kind",
        # "是什么病" and "怎么回事" both ask what is going on.
        "related-kinds",
        # "能治X吗" and "对X有用吗" both ask whether it helps.
        "helps-and-treats",
        "message-asks-nothing-in-particular",
        "entry-held-to-nothing",
    ],
)
def test_conflict(asked: set[str], offered: set[str], expected: bool) -> None:
    assert conflict(frozenset(asked), frozenset(offered)) is expected


#: One FAQ question: it answers what the symptoms are, nothing else.
SYMPTOMS = MatchDocument(doc_id="asthma-symptoms", questions=("过敏性哮喘的症状有哪些",))
#: A topic whose phrasings ask many things: its answer covers the topic.
ALLOWANCE = MatchDocument(
    doc_id="allowance",
    questions=("低保标准是多少", "低保怎么申请", "低保是什么"),
)


def test_entry_asking_another_kind_of_question_is_not_answered() -> None:
    matcher = Matcher.build([SYMPTOMS, ALLOWANCE], settings=MatcherSettings(semantic=False))
    assert matcher.match("过敏性哮喘有什么症状").outcome is MatchOutcome.ANSWERED
    # Same topic, another question: at best "did you mean".
    assert matcher.match("过敏性哮喘怎么治疗").outcome is not MatchOutcome.ANSWERED


def test_topic_entry_is_held_to_no_kind_of_question() -> None:
    documents = [SYMPTOMS, ALLOWANCE]
    lexical = MatcherSettings(semantic=False)
    matcher = Matcher.build(documents, settings=lexical)
    unheld = Matcher.build(
        documents, settings=lexical, weights=replace(LEXICAL_WEIGHTS, intent_factor=1.0)
    )
    # None of its phrasings asks where, yet the topic entry loses nothing.
    assert matcher.match("低保去哪里申请").candidates == unheld.match("低保去哪里申请").candidates
    # The one-question entry does.
    assert matcher.match("过敏性哮喘怎么治疗").top != unheld.match("过敏性哮喘怎么治疗").top


def test_entry_asked_only_yes_or_no_is_held_to_that() -> None:
    # One yes-or-no FAQ question answers that question, not "how long" about its topic
    # (measured on Tianchi: dropping "whether" from entries answers more near misses wrongly).
    online = MatchDocument(
        doc_id="allowance-online", questions=("低保能网上申请吗", "可以在网上申请低保吗")
    )
    lexical = MatcherSettings(semantic=False)
    matcher = Matcher.build([online, SYMPTOMS], settings=lexical)
    unheld = Matcher.build(
        [online, SYMPTOMS], settings=lexical, weights=replace(LEXICAL_WEIGHTS, intent_factor=1.0)
    )
    message = "网上申请低保要多久"
    assert intents(normalize(message)) == {"time"}
    assert matcher.match(message).top != unheld.match(message).top
    # Asked yes-or-no too, it is the entry's question.
    asked = "网上能申请低保吗"
    assert matcher.match(asked).candidates == unheld.match(asked).candidates
