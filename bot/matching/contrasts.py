"""Look-alike topics: words that name a different thing from the covered one.

"离婚登记" differs from "结婚登记" by one character and "沈阳北站" from "沈阳站" by
one, so every kind of evidence (words, bigrams, sounds, sentence embeddings)
puts the divorce question right next to the marriage entries. The knowledge
says which words look like what it covers but name something else
(`contrasts` in synonyms.yaml: the covered word first, then its look-alikes);
an entry that speaks of the covered word but never of the look-alike a message
names is about the wrong thing, and can at best be offered as "did you mean".
A message that names the covered word changes nothing: an entry on marriage
counselling that mentions 离婚 still answers a question about 结婚.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from bot.matching.lexical import char_pinyin, split_pinyin
from bot.matching.normalize import is_cjk, normalize


def _pattern(term: str) -> re.Pattern[str]:
    # English terms match as whole words: "station" is not in "stationery".
    if term.isascii():
        return re.compile(rf"(?<![a-z]){re.escape(term)}(?![a-z])")
    return re.compile(re.escape(term))


def _typed_patterns(sounds: list[str]) -> tuple[re.Pattern[str], re.Pattern[str]]:
    """A look-alike typed as pinyin: (in the normalised text, in `_typed_syllables`).

    The first finds whole typed words, spaced or not ("li hun", "lihun", "xian"),
    never a word's tail joined to the next word's head ("zhe li hunyin" is
    这里婚姻). The second finds the syllables at the start or the end of a longer
    typed word ("lihundengji", "woxianglihun"), where the word's split into
    syllables says where the look-alike starts and ends; not in its middle, where
    they may be two words' tail and head ("banlihunyin" is 办理婚姻).
    """
    words = " ?".join(map(re.escape, sounds))
    inside = "-".join(map(re.escape, sounds))
    at_an_end = rf"(?<![a-z-]){inside}(?![a-z])|(?<![a-z]){inside}(?![a-z-])"
    return re.compile(rf"(?<![a-z]){words}(?![a-z])"), re.compile(at_an_end)


def _typed_syllables(normalized: str) -> str:
    """The syllables of each typed Latin word, joined by "-", the words by " ". Only
    Latin words: the sounds of Chinese text are not typed (这里婚姻 sounds "zhe li hun
    yin"); a word that is not pinyin gives nothing."""
    return " ".join("-".join(split_pinyin(word) or ()) for word in re.findall("[a-z]+", normalized))


class Contrasts:
    """Covered words and their look-alikes; `Contrasts()` names nothing."""

    def __init__(self, groups: Sequence[Sequence[str]] = ()) -> None:
        """Normalise the groups; groups with fewer than two terms are ignored.

        Args:
            groups: Each a covered word first, then words that look like it but
                name different things (any language).
        """
        self._patterns: dict[str, re.Pattern[str]] = {}
        #: A Chinese look-alike typed as pinyin ("li hun", "lihundengji"): never in
        #: the sounds of Chinese text (`_typed_patterns`).
        self._typed: dict[str, tuple[re.Pattern[str], re.Pattern[str]]] = {}
        #: Each look-alike's covered words; each word's group (for longest matches).
        self._covered: dict[str, frozenset[str]] = {}
        self._group_of: dict[str, frozenset[str]] = {}
        for group in groups:
            terms = tuple(dict.fromkeys(t for t in map(normalize, group) if t))
            if len(terms) < 2:
                continue
            covered, *look_alikes = terms
            for term in terms:
                self._patterns[term] = _pattern(term)
                self._group_of[term] = self._group_of.get(term, frozenset()) | set(terms)
            for term in look_alikes:
                self._covered[term] = self._covered.get(term, frozenset()) | {covered}
                sounds = [char_pinyin(c) for c in term] if all(map(is_cjk, term)) else []
                if sounds and all(sounds):
                    self._typed[term] = _typed_patterns([s for s in sounds if s])

    def __bool__(self) -> bool:
        return bool(self._covered)

    def mentioned(self, normalized: str) -> frozenset[str]:
        """The words of every group a normalised text contains, as written."""
        return frozenset(t for t, pattern in self._patterns.items() if pattern.search(normalized))

    def named(self, normalized: str) -> frozenset[str]:
        """The look-alikes a normalised message names: written, or typed as pinyin.

        A word inside a longer word of its group that the message also contains
        is not named: "涉外婚姻登记" names itself, not "婚姻登记".
        """
        found = set(self.mentioned(normalized))
        syllables = _typed_syllables(normalized) if self._typed else ""
        if syllables:
            found.update(
                t
                for t, (words, inside) in self._typed.items()
                if words.search(normalized) or inside.search(syllables)
            )
        return frozenset(
            t
            for t in found
            if t in self._covered
            and not any(t != other and t in other for other in found & self._group_of[t])
        )

    def conflicts(self, named: frozenset[str], mentioned: frozenset[str]) -> bool:
        """True when an entry whose texts mention `mentioned` speaks of a word a named
        look-alike is mistaken for, and never of the look-alike itself."""
        return any(
            term not in mentioned and not mentioned.isdisjoint(self._covered[term])
            for term in named
        )
