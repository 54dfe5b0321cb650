"""Text normalisation and language detection, shared by indexing and matching.

Documents and questions go through exactly the same `normalize`, so any
difference the matcher sees is a difference in wording, never in encoding.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from pathlib import Path
from typing import Literal

import opencc_purepy
from opencc_purepy import OpenCC
from opencc_purepy.dictionary_lib import DictionaryMaxlength

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


#: The only opencc tables traditional-to-simplified conversion reads.
T2S_TABLES = {"ts_phrases": "TSPhrases.txt", "ts_characters": "TSCharacters.txt"}


@functools.cache
def _t2s() -> OpenCC:
    # `OpenCC("t2s")` loads every variant's tables (Taiwan, Hong Kong, Japanese,
    # ...) from one JSON: ~0.25 s and ~40 MB for a conversion that reads two
    # small ones. Load just those two, from the package's own text files (a
    # test checks they equal the JSON's).
    tables = DictionaryMaxlength()
    folder = Path(opencc_purepy.__file__).parent / "dicts"
    for slot, name in T2S_TABLES.items():
        content = (folder / name).read_text(encoding="utf-8")
        setattr(tables, slot, DictionaryMaxlength.load_dictionary_maxlength(content))
    return OpenCC("t2s", dictionary=tables)


def _clean_char(ch: str) -> str:
    category = unicodedata.category(ch)
    if category in _INVISIBLE:
        return ""
    if category[0] in _SEPARATOR_PREFIXES or category == "Cc":
        return " "
    return ch


class _CleanTable(dict[int, str | None]):
    """`_clean_char` as a `str.translate` table, each character looked up once.

    Calling `_clean_char` per character was a third of the time to index a
    large knowledge base. Only the Basic Multilingual Plane is kept, so odd
    messages cannot grow the table past 65,536 entries.
    """

    def __missing__(self, code: int) -> str | None:
        cleaned = _clean_char(chr(code)) or None  # None: translate deletes it
        if code <= 0xFFFF:
            self[code] = cleaned
        return cleaned


_CLEAN = _CleanTable()


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
    text = text.translate(_CLEAN)
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
