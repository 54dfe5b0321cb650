"""Words, character bigrams and pinyin of a normalised text.

A `Lexicon` turns a normalised text into `Terms`: the words that carry the
meaning (filler removed, synonyms mapped to their canonical term), Chinese
character bigrams (recall when jieba cuts a phrase differently) and pinyin
syllable bigrams (typos with the right sound: 结婚等级 -> jie hun deng ji).
"""

from __future__ import annotations

import functools
import importlib.machinery
import importlib.util
import itertools
import os
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    from rjieba import Jieba

# We read pypinyin's per-character table only (typos are per character anyway);
# its phrase table would add ~0.15 s to start-up and tens of MB. Nothing else in
# the bot uses pypinyin; setdefault leaves an explicit choice alone.
os.environ.setdefault("PYPINYIN_NO_PHRASES", "1")
os.environ.setdefault("PYPINYIN_NO_DICT_COPY", "1")
from pypinyin.pinyin_dict import pinyin_dict

from bot.matching.normalize import is_cjk, normalize


@functools.cache
def _jieba_class() -> type[Jieba]:
    """rjieba's `Jieba`, without building the package's default instance.

    `import rjieba` builds a module-level `Jieba` with the whole dictionary
    (~30 MB, ~0.15 s of start-up) that the bot never uses: every `Lexicon`
    owns its own. So the extension module is loaded alone, under its usual
    name, so that a later `import rjieba` (the benchmark's baseline) reuses it.
    """
    name = "rjieba.rjieba"
    package = importlib.util.find_spec("rjieba")
    folders = package.submodule_search_locations if package else None
    for folder in folders or ():
        for suffix in importlib.machinery.EXTENSION_SUFFIXES:
            path = Path(folder) / f"rjieba{suffix}"
            loader = importlib.machinery.ExtensionFileLoader(name, str(path))
            spec = importlib.util.spec_from_loader(name, loader, origin=str(path))
            if name in sys.modules or not path.is_file() or spec is None:
                continue
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            loader.exec_module(module)
            return cast("type[Jieba]", module.Jieba)
    # Already imported, or an unexpected layout: the ordinary import.
    import rjieba

    return rjieba.Jieba


# Words that say how a resident asks, not what about. Kept short on purpose:
# a word here is invisible to the matcher, so topic words never belong here.


def _word_set(text: str) -> frozenset[str]:
    return frozenset(text.split())


ZH_FILLER = _word_set(
    """
    怎么 怎么样 怎样 怎么办 咋 咋办 申请 哪里 哪儿 在哪 在哪儿 在哪里 请问 问一下 问问 我想 想 想要 要 一下
    吗 呢 啊 呀 吧 哦 嘛 么 什么 啥 如何 可以 能 能不能 可不可以 是不是 有没有 的 了 地 得 着
    我 我们 你 你们 您 他 她 它 他们 这 那 这个 那个 哪个 哪些 是 有 在 和 与 及 或 都 就 也 还 又
    给 把 被 让 对 从 到 去 来 个 些 吗 么 哈 嗯 呗 噢 请 谢谢 你好 您好 知道 告诉 一 下 需要 应该
    办 办理 弄 搞 多少 几 为什么 为啥 谁 时候 现在 怎么回事 问
    """
)
EN_STOP = _word_set(
    """
    a an the is are was were be been being am do does did doing have has had having i me my we our
    you your he she it its they them their this that these those what which who whom whose when
    where why how can could would should will shall may might must to of in on at by for with about
    from into over under up down out off again further then once here there all any both each few
    more most other some such no nor not only own same so than too very just s t don now please
    tell know want wanna need get got there's what's how's i'm id i'd like hi hello hey dear sir
    madam thanks thank if or and but as also want let lets let's apply
    """
)

_TOKEN = re.compile(r"[a-z0-9]+|[^\sa-z0-9]+")
_LATIN = re.compile(r"^[a-z]+$")


def _first_reading(readings: str) -> str:
    """Tone-less first (most common) of pypinyin's readings of a character."""
    return _strip_tone(readings.split(",")[0])


_TONED = str.maketrans(
    "āáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜüńňǹḿ",
    "aaaaeeeeiiiioooouuuuvvvvvnnnm",
)


def _strip_tone(syllable: str) -> str:
    return syllable.translate(_TONED)


@functools.cache
def _pinyin_filler() -> frozenset[str]:
    """Filler words as typed in pinyin ("zenme", "shenqing"): filler too."""
    return frozenset(
        "".join(char_pinyin(c) or c for c in word) for word in ZH_FILLER if len(word) >= 2
    )


@functools.cache
def _syllables() -> frozenset[str]:
    """Every tone-less pinyin syllable, for splitting typed pinyin."""
    # Distinct reading lists first: ~1,500 of them across 42,000 characters.
    return frozenset(_first_reading(readings) for readings in set(pinyin_dict.values()))


# Looked up per character as met (a few thousand): a table of all 42,000
# pypinyin knows was 6 MB beside pypinyin's own.
@functools.lru_cache(maxsize=1 << 16)
def char_pinyin(char: str) -> str | None:
    """Tone-less pinyin of one Chinese character, or None."""
    readings = pinyin_dict.get(ord(char)) if len(char) == 1 else None
    return None if readings is None else _first_reading(readings)


def split_pinyin(word: str) -> list[str] | None:
    """Split typed pinyin ("jiehundengji") into syllables, or None if it is not pinyin.

    Prefers the split with the fewest syllables, so "xian" stays one syllable.
    """
    if not _LATIN.match(word) or len(word) > 40:
        return None
    syllables = _syllables()
    # best[i]: fewest syllables covering word[:i]
    best: list[list[str] | None] = [None] * (len(word) + 1)
    best[0] = []
    for end in range(1, len(word) + 1):
        for start in range(max(0, end - 6), end):
            head = best[start]
            piece = word[start:end]
            if head is not None and piece in syllables:
                candidate = [*head, piece]
                current = best[end]
                if current is None or len(candidate) < len(current):
                    best[end] = candidate
    return best[len(word)]


@dataclass(frozen=True)
class Terms:
    """What the lexical scorers compare."""

    words: tuple[str, ...]
    bigrams: tuple[str, ...]
    pinyin: tuple[str, ...]
    #: The content words joined: the string fuzzy ratios compare.
    core: str
    #: The pinyin of the content, syllables joined: fuzzy ratios on sound.
    sound: str


class Lexicon:
    """Segmentation, filler removal and synonyms for one knowledge base.

    Each lexicon owns its jieba instance, so the synonyms of one knowledge
    base never leak into another (tests build several side by side).
    """

    def __init__(
        self, synonyms: Sequence[Sequence[str]] = (), *, english_vocabulary: Iterable[str] = ()
    ) -> None:
        """Build the lexicon.

        Args:
            synonyms: Groups of terms; the first term of a group is canonical.
            english_vocabulary: English words of the knowledge base; such a word is
                never read as typed pinyin ("change" is not chang e).
        """
        self._jieba = _jieba_class()()
        self._canonical: dict[str, str] = {}
        self._phrases: list[tuple[str, str]] = []
        for group in synonyms:
            terms = [normalize(t) for t in group]
            terms = [t for t in terms if t]
            if len(terms) < 2:
                continue
            canonical = terms[0]
            for term in terms:
                if " " in term or " " in canonical:
                    # Multi-word English terms, and words whose canonical term has
                    # several ("ngo" -> "social organisation"), are replaced in the
                    # text itself, so both end up as the same words.
                    self._phrases.append((term, canonical))
                else:
                    self._canonical[term] = canonical
                if any(is_cjk(c) for c in term) and " " not in term:
                    # Keep "适老化" one word, so it maps as a whole.
                    self._jieba.add_word(term, None, None)
        self._phrases.sort(key=lambda pair: -len(pair[0]))
        self._english = frozenset(english_vocabulary) | EN_STOP

    def add_words(self, words: Iterable[str]) -> None:
        """Teach jieba multi-character words (keywords) so they stay whole."""
        for word in words:
            if len(word) >= 2 and all(is_cjk(c) for c in word):
                self._jieba.add_word(word, None, None)

    def segment(self, text: str) -> list[str]:
        """Cut a normalised text into words, synonyms mapped, filler kept."""
        return [self._canonical.get(w, w) for w in self._cut(text)]

    def _cut(self, text: str) -> list[str]:
        """Cut a normalised text into words as written (multi-word English synonyms
        already replaced by their canonical term)."""
        for phrase, canonical in self._phrases:
            if phrase in text:
                text = re.sub(rf"(?<![a-z]){re.escape(phrase)}(?![a-z])", canonical, text)
        words: list[str] = []
        for chunk in _TOKEN.findall(text):
            if chunk[0].isascii() and chunk[0].isalnum():
                words.append(chunk)
            else:
                words.extend(w for w in self._jieba.cut(chunk) if w.strip())
        return words

    def terms(self, text: str) -> Terms:
        """The terms of a normalised text."""
        written = self._cut(text)
        pinyin_filler = _pinyin_filler()
        # (as written, canonical): words and bigrams compare meanings, so they use the
        # canonical term; sounds compare what was typed, so they use the written word
        # ("haizang" sounds like 海葬 as written, not like its canonical 骨灰撒海).
        pairs = [(w, self._canonical.get(w, w)) for w in written]
        content = [
            (w, c)
            for w, c in pairs
            if c not in ZH_FILLER and c not in EN_STOP and c not in pinyin_filler
        ]
        if not content:
            # "怎么办" alone still means something; keep what there is.
            content = pairs
        words = [c for _, c in content]
        bigrams: list[str] = []
        run: list[str] = []
        for word in words:
            if all(is_cjk(c) for c in word):
                run.extend(word)
            else:
                self._flush(run, bigrams)
                run = []
        self._flush(run, bigrams)
        syllables = self._syllables(w for w, _ in content)
        pinyin = _syllable_pairs(syllables)
        if any(w != c for w, c in content):
            # The canonical term's sounds too, so 养老院 still sounds like an entry
            # that says 养老机构 (as the words do).
            seen = set(pinyin)
            pinyin += [p for p in _syllable_pairs(self._syllables(words)) if p not in seen]
        return Terms(
            words=tuple(words),
            bigrams=tuple(bigrams),
            pinyin=tuple(pinyin),
            core="".join(words) if _mostly_cjk(words) else " ".join(words),
            sound="".join(s for s in syllables if s != "|"),
        )

    def _syllables(self, words: Iterable[str]) -> list[str]:
        """Pinyin syllables of words, "|" where a word is not Chinese or pinyin."""
        syllables: list[str] = []
        for word in words:
            if all(is_cjk(c) for c in word):
                syllables.extend(char_pinyin(c) or c for c in word)
                continue
            split = None if word in self._english else split_pinyin(word)
            # Not pinyin: break the syllable sequence here.
            syllables.extend(split or ["|"])
        return syllables

    def is_pinyin_query(self, words: Sequence[str]) -> bool:
        """True when every Latin word of a message is typed pinyin, not English."""
        latin = [w for w in words if _LATIN.match(w)]
        if not latin:
            return False
        return all(w not in self._english and split_pinyin(w) for w in latin)

    @staticmethod
    def typed_in_pinyin(words: Sequence[str]) -> bool:
        """True when a message is written in pinyin, so the reply should be Chinese.

        Looser than `is_pinyin_query`: a pinyin word that the English answers also use
        ("dibao") still makes the message Chinese; common English words do not.
        """
        latin = [w for w in words if _LATIN.match(w)]
        return bool(latin) and all(w not in EN_STOP and split_pinyin(w) for w in latin)

    @staticmethod
    def _flush(run: list[str], bigrams: list[str]) -> None:
        if len(run) >= 2:
            bigrams.extend(a + b for a, b in itertools.pairwise(run))


def _syllable_pairs(syllables: Sequence[str]) -> list[str]:
    """Adjacent syllable pairs ("jie_hun"); a lone syllable stands for itself."""
    if len(syllables) == 1 and syllables[0] != "|":
        return list(syllables)
    return [f"{a}_{b}" for a, b in itertools.pairwise(syllables) if "|" not in (a, b)]


def _mostly_cjk(words: Sequence[str]) -> bool:
    return sum(1 for w in words if is_cjk(w[0])) * 2 >= len(words)
