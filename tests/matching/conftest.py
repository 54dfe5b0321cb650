"""Fixtures for the matcher tests: a small knowledge base and fake embedders."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
import pytest

from bot.matching import MatchDocument, Matcher, MatcherSettings
from bot.matching.embedding import Vectors

#: A few topics in the shape of the real knowledge base (questions zh+en,
#: bilingual title, keywords). Wording is ours, no facts beyond the topics.
FIXTURE_DOCUMENTS = (
    MatchDocument(
        doc_id="marriage-registration-points",
        questions=(
            "结婚登记在哪里办",
            "去哪领结婚证",
            "公园里能登记结婚吗",
            "Where can we register our marriage?",
        ),
        title="结婚登记点 Marriage registration points",
        keywords=("结婚登记", "婚姻登记处"),
    ),
    MatchDocument(
        doc_id="assistance-dibao",
        questions=(
            "低保怎么申请",
            "最低生活保障标准是多少",
            "家里困难能吃低保吗",
            "How do I apply for subsistence allowance?",
        ),
        title="城乡低保 Subsistence allowance (dibao)",
        keywords=("低保", "最低生活保障"),
    ),
    MatchDocument(
        doc_id="elderly-age-friendly-renovation",
        questions=(
            "适老化改造有补贴吗",
            "老人家里装扶手能申请改造吗",
            "Can I get my elderly parent's home modified?",
        ),
        title="适老化改造 Age-friendly home renovation",
        keywords=("适老化", "适老化改造"),
    ),
    MatchDocument(
        doc_id="assistance-family-search",
        questions=(
            "寻亲服务怎么找",
            "流浪人员怎么帮他回家",
            "How can I find a lost relative?",
        ),
        title="寻亲服务 Family search",
        keywords=("寻亲", "流浪乞讨人员"),
    ),
    MatchDocument(
        doc_id="elderly-meal-assistance",
        questions=(
            "社区老年食堂在哪",
            "老人吃饭有补助吗",
            "Where can elderly people eat cheaply?",
        ),
        title="老年助餐 Meal assistance for the elderly",
        keywords=("助餐", "老年食堂"),
    ),
)

FIXTURE_SYNONYMS = (
    ("结婚登记", "婚姻登记", "领证", "扯证"),
    ("低保", "最低生活保障"),
    ("适老化", "适老化改造"),
    ("寻亲", "找亲人", "找家人"),
)


class CountingEmbedder:
    """A fake sentence model (stands in for the external one): hashed vectors, counted calls."""

    name = "counting-fake"
    dim = 16

    def __init__(self) -> None:
        self.calls = 0
        self.texts = 0

    def encode(self, texts: Sequence[str]) -> Vectors:
        self.calls += 1
        self.texts += len(texts)
        rows = []
        for text in texts:
            digest = hashlib.sha256(text.encode()).digest()
            rows.append(np.frombuffer(digest[: self.dim], dtype=np.uint8).astype(np.float32) + 1)
        array = np.array(rows, dtype=np.float32).reshape(-1, self.dim)
        return array / np.linalg.norm(array, axis=1, keepdims=True)


@pytest.fixture(scope="session")
def lexical_matcher() -> Matcher:
    """The fixture knowledge base, matched on words and pinyin only."""
    return Matcher.build(
        FIXTURE_DOCUMENTS,
        synonyms=FIXTURE_SYNONYMS,
        settings=MatcherSettings(semantic=False),
    )
