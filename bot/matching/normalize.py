"""Text normalisation and language detection, shared by indexing and matching.

Documents and questions go through exactly the same `normalize`, so any
difference the matcher sees is a difference in wording, never in encoding.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from typing import Literal

from opencc_purepy import OpenCC

#: Longer messages are cut, not refused: the question is usually at the start.
MAX_QUERY_CHARS = 1000

# Punctuation (P*), symbols including emoji (S*), separators (Z*) and control
# characters (Cc, e.g. newlines) separate words: they become a space.
_SEPARATOR_PREFIXES = ("P", "S", "Z")
# Invisible characters inside a word must not split it ("结\u200b婚"): format
# characters (Cf: zero-width, bidi marks), non-spacing marks such as the emoji
# variation selector U+FE0F (Mn), private use, surrogates, unassigned.
_INVISIBLE = frozenset({"Cf", "Mn", "Co", "Cs", "Cn"})
_CJK_GAP = re.compile(
    r"(?<=[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]) (?=[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff])"
)
_SPACES = re.compile(r"\s+")
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN_WORD = re.compile(r"[a-z]+")


@functools.cache
def _t2s() -> OpenCC:
    # Loading the conversion tables costs ~0.2 s: do it once per process.
    return OpenCC("t2s")


def _clean_char(ch: str) -> str:
    category = unicodedata.category(ch)
    if category in _INVISIBLE:
        return ""
    if category[0] in _SEPARATOR_PREFIXES or category == "Cc":
        return " "
    return ch


def normalize(text: str) -> str:
    """Bring a text to the canonical form the matcher compares.

    NFKC (full-width letters and digits become half-width), traditional
    characters become simplified, lower case; punctuation, symbols, emoji and
    invisible characters (zero-width, bidi marks, control characters) are
    removed; runs of whitespace become one space and spaces between Chinese
    characters are dropped. The result is at most
    `MAX_QUERY_CHARS` characters long.

    Args:
        text: Any text.

    Returns:
        The normalised text, possibly empty.
    """
    text = unicodedata.normalize("NFKC", text)
    # Cut early so a huge message costs nothing, but leave room for the
    # characters the cleaning below removes.
    text = text[: MAX_QUERY_CHARS * 4]
    text = "".join(_clean_char(ch) for ch in text)
    text = _SPACES.sub(" ", text).strip()
    # Chinese is written without spaces; "结婚 登记" is the phrase "结婚登记".
    text = _CJK_GAP.sub("", text)
    if _CJK.search(text):
        text = _t2s().convert(text)
    text = text.lower()
    return text[:MAX_QUERY_CHARS].strip()


def cjk_count(text: str) -> int:
    """Number of CJK ideographs in `text`."""
    return len(_CJK.findall(text))


def detect_language(text: str) -> Literal["zh", "en"]:
    """Guess whether a message is Chinese or English.

    A message is Chinese when it holds at least as many Chinese characters as
    Latin words: "结婚登记 marriage" is Chinese, "where is 浑南区 office" is
    English. Text with neither counts as Chinese, the residents' language.

    Args:
        text: Raw or normalised text.

    Returns:
        "zh" or "en".
    """
    lowered = text.lower()
    latin_words = len(_LATIN_WORD.findall(lowered))
    chinese = cjk_count(lowered)
    if latin_words == 0:
        return "zh"
    return "zh" if chinese >= latin_words else "en"


def is_cjk(char: str) -> bool:
    """True for a Chinese character."""
    return bool(_CJK.match(char))
