"""Segmentation, filler removal, synonyms and pinyin."""

from __future__ import annotations

import pytest

from bot.matching import normalize
from bot.matching.lexical import Lexicon, split_pinyin

from .conftest import FIXTURE_SYNONYMS


@pytest.fixture(scope="module")
def lexicon() -> Lexicon:
    return Lexicon(FIXTURE_SYNONYMS, english_vocabulary=["change", "marriage"])


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("请问我想申请低保怎么办理", ("低保",)),
        ("结婚登记在哪里", ("结婚登记",)),
        ("How do I apply for marriage registration?", ("marriage", "registration")),
        ("怎么办", ("怎么办",)),
    ],
    ids=[
        "filler-words-dropped",
        "where-is-filler",
        "english-stop-words-dropped",
        # Nothing but filler: keep it rather than match on nothing.
        "only-filler-kept",
    ],
)
def test_filler_removal(lexicon: Lexicon, text: str, words: tuple[str, ...]) -> None:
    assert lexicon.terms(normalize(text)).words == words


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("领证去哪", "结婚登记"),
        ("扯证", "结婚登记"),
        ("最低生活保障", "低保"),
        ("适老化改造", "适老化"),
        ("找家人", "寻亲"),
    ],
    ids=["colloquial-lingzheng", "slang-chezheng", "official-name", "longer-form", "phrase"],
)
def test_synonyms_map_to_canonical(lexicon: Lexicon, text: str, canonical: str) -> None:
    assert canonical in lexicon.terms(normalize(text)).words


def test_multi_character_synonym_stays_one_word(lexicon: Lexicon) -> None:
    # Without add_word jieba cuts 适老化 into 适 / 老化, and 老化 (ageing) matches nothing.
    assert "适老化" in lexicon.segment("适老化")


@pytest.mark.parametrize(
    ("typo", "right"),
    [("结婚等级", "结婚登记"), ("适老话", "适老化"), ("地保", "低保")],
    ids=["dengji-homophone", "shilaohua-homophone", "dibao-homophone"],
)
def test_homophone_typos_share_pinyin(lexicon: Lexicon, typo: str, right: str) -> None:
    assert set(lexicon.terms(typo).pinyin) == set(Lexicon().terms(right).pinyin)


@pytest.mark.parametrize(
    ("typed", "syllables"),
    [
        ("jiehundengji", ["jie", "hun", "deng", "ji"]),
        ("dibao", ["di", "bao"]),
        ("xian", ["xian"]),
        ("marriage", None),
        ("xyz", None),
    ],
    ids=[
        "no-spaces",
        "two-syllables",
        "fewest-syllables-wins",
        # English words that are not pinyin must not be read as sounds.
        "english-word-is-not-pinyin",
        "consonants-only-is-not-pinyin",
    ],
)
def test_split_pinyin(typed: str, syllables: list[str] | None) -> None:
    assert split_pinyin(typed) == syllables


def test_known_english_word_is_not_pinyin(lexicon: Lexicon) -> None:
    # "change" splits into chang+e, but it is an English word of the knowledge base.
    assert not lexicon.is_pinyin_query(["change"])
    assert lexicon.is_pinyin_query(["jiehun", "dengji"])


def test_sounds_are_of_the_words_as_written_and_their_canonical_term() -> None:
    # 海葬's canonical term is 骨灰撒海: typed "haizang" must still sound like 海葬.
    lexicon = Lexicon([("骨灰撒海", "海葬")])
    written = set(lexicon.terms(normalize("海葬")).pinyin)
    assert "hai_zang" in written
    assert {"gu_hui", "sa_hai"} <= written
    assert "hai_zang" in lexicon.terms(normalize("haizang")).pinyin


@pytest.mark.parametrize(
    "text",
    ["an NGO", "a non-profit", "a social organisation"],
    ids=["single-word-synonym", "hyphenated", "canonical"],
)
def test_english_synonyms_of_a_several_word_term_give_its_words(text: str) -> None:
    lexicon = Lexicon([("social organisation", "NGO", "non-profit")])
    assert lexicon.terms(normalize(text)).words == ("social", "organisation")
