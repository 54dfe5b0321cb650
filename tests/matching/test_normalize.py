"""Normalisation and language detection."""

from __future__ import annotations

from pathlib import Path

import opencc_purepy
import pytest
from opencc_purepy import OpenCC
from opencc_purepy.dictionary_lib import DictionaryMaxlength

from bot.matching import detect_language, normalize
from bot.matching.normalize import MAX_QUERY_CHARS, T2S_TABLES, _t2s


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("ＡＢＣ１２３", "abc123"),
        ("結婚登記在哪裡", "结婚登记在哪里"),
        ("低保😀怎么申请👍🏽", "低保怎么申请"),
        ("结\u200b婚\u200d登记", "结婚登记"),
        ("\u202e低保\u202c", "低保"),
        ("低保，怎么申请？！", "低保怎么申请"),
        ("结婚  登记", "结婚登记"),
        ("Where IS the   Office?", "where is the office"),
        ("line\nbreak\ttab", "line break tab"),
        ("  \t\n  ", ""),
        ("👍🏽✨🎉", ""),
        ("\x00\x07\x1b", ""),
    ],
    ids=[
        "full-width-to-half-width",
        "traditional-to-simplified",
        "emoji-removed",
        "zero-width-inside-a-word-does-not-split-it",
        "bidi-marks-removed",
        "chinese-punctuation-removed",
        "spaces-between-chinese-dropped",
        "english-lower-cased-spaces-collapsed",
        "control-whitespace-becomes-space",
        "only-whitespace-is-empty",
        "only-emoji-is-empty",
        "only-control-characters-is-empty",
    ],
)
def test_normalize(raw: str, expected: str) -> None:
    assert normalize(raw) == expected


def test_traditional_tables_are_the_packaged_ones() -> None:
    # normalize loads two of opencc's text files instead of its full JSON of
    # every variant: the tables, and so every conversion, must be the same.
    packaged = DictionaryMaxlength.from_json()
    for slot in T2S_TABLES:
        assert getattr(_t2s().dictionary, slot) == getattr(packaged, slot)
    folder = Path(opencc_purepy.__file__).parent / "dicts"
    every_entry = " ".join(
        line.split()[0]
        for name in T2S_TABLES.values()
        for line in (folder / name).read_text(encoding="utf-8").splitlines()
        if line.strip()
    )
    assert _t2s().convert(every_entry) == OpenCC("t2s").convert(every_entry)


def test_long_text_is_truncated_not_rejected() -> None:
    text = "低保怎么申请" * 500
    assert len(normalize(text)) == MAX_QUERY_CHARS
    assert normalize(text).startswith("低保怎么申请")


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("低保怎么申请", "zh"),
        ("How do I apply for dibao?", "en"),
        ("结婚登记 marriage", "zh"),
        ("where is the 浑南 office", "en"),
        ("12345", "zh"),
    ],
    ids=["chinese", "english", "mostly-chinese", "mostly-english", "digits-default-chinese"],
)
def test_detect_language(text: str, lang: str) -> None:
    assert detect_language(text) == lang
