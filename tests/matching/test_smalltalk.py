"""What comes before a question (greetings, "may I ask") is not the question."""

from __future__ import annotations

import pytest

from bot.matching import Matcher, normalize
from bot.matching.smalltalk import strip_greeting

from .conftest import FIXTURE_DOCUMENTS, FIXTURE_SYNONYMS, CountingEmbedder


@pytest.mark.parametrize(
    ("message", "question"),
    [
        ("你好，结婚登记在哪", "结婚登记在哪"),
        ("我想问一下，结婚登记在哪？", "结婚登记在哪"),
        ("打扰一下，请问一下，低保标准是多少", "低保标准是多少"),
        ("麻烦您，低保怎么申请", "低保怎么申请"),
        ("想了解下适老化改造", "适老化改造"),
        ("我想问问寻亲", "寻亲"),
        ("同志，婚姻登记要带什么", "婚姻登记要带什么"),
        ("请帮我查一下婚姻登记处", "婚姻登记处"),
        ("Excuse me, where do I register a marriage?", "where do i register a marriage"),
        ("Could you tell me: how to apply for dibao", "how to apply for dibao"),
        ("quick question: dibao", "dibao"),
        ("问下低保怎么申请", "低保怎么申请"),
        ("问个事儿，低保怎么申请", "低保怎么申请"),
        ("同志们好，低保怎么申请", "低保怎么申请"),
        ("打扰你们一下，低保怎么申请", "低保怎么申请"),
        ("请问下午几点上班", "下午几点上班"),
        ("请问下葬要办什么手续", "下葬要办什么手续"),
        ("我想问个事儿，低保怎么申请", "低保怎么申请"),
        ("想问个问题，低保怎么申请", "低保怎么申请"),
        ("请问下一步怎么办", "下一步怎么办"),
        ("我想问问题，低保怎么申请", "低保怎么申请"),
        ("请问吗丁啉怎么吃", "吗丁啉怎么吃"),
    ],
    ids=[
        "hello",
        "may-i-ask",
        "two-openers",
        "trouble-you",
        "want-to-know",
        "ask-ask",
        "comrade",
        "look-it-up",
        "excuse-me",
        "could-you-tell-me",
        "quick-question",
        "ask-a-moment",
        "a-matter",
        "comrades-hello",
        "bother-you-all",
        # A 下 that starts the question's first word stays with it.
        "afternoon",
        "burial",
        "want-to-ask-a-matter",
        "want-to-ask-a-question",
        "next-step",
        "want-to-ask-questions",
        # A 吗 after an opener starts a word (吗丁啉, 吗啡); it is no separator.
        "drug-name",
    ],
)
def test_the_opener_is_dropped(message: str, question: str) -> None:
    assert strip_greeting(normalize(message)) == question


@pytest.mark.parametrize(
    "message",
    [
        "咨询电话是多少",
        "问题出在哪",
        "了解",
        "问一下",
        "questions about marriage",
        "help for the elderly",
        "咨询下岗女职工培训",
        "打听下落不明的亲人",
        "帮我查询低保进度",
        "帮忙看护老人",
        "要咨询费吗",
        "我想问问题",
    ],
    ids=[
        # A bare 咨询 with nothing around it is the content: the advice line's number.
        "advice-line",
        "the-word-problem",
        # Nothing would be left: the message stays as it is.
        "bare-verb",
        "only-an-opener",
        "plural-is-a-word",
        "help-is-a-topic",
        "laid-off",
        "whereabouts",
        "look-up-is-a-word",
        "look-after",
        "consultation-fee",
        # Only an opener: nothing would be left, so nothing is dropped.
        "only-want-to-ask-a-question",
    ],
)
def test_content_is_kept(message: str) -> None:
    assert strip_greeting(normalize(message)) == normalize(message)


def test_the_model_reads_the_question_not_the_opener() -> None:
    matcher = Matcher.build(
        FIXTURE_DOCUMENTS, synonyms=FIXTURE_SYNONYMS, embedder=CountingEmbedder()
    )
    plain = next(matcher.matching("家里没收入 日子过不下去"))
    assert next(matcher.matching("我想咨询一下，家里没收入 日子过不下去")) == plain
    assert next(matcher.matching("麻烦您，家里没收入，日子过不下去？")) == plain
