"""The matcher: one message in, one outcome and a ranked list of entries out.

Evidence per entry, each in 0..1:

* lexical: IDF-weighted Dice overlap of content words and Chinese character
  bigrams between the message and the entry's best phrasing (rare words count
  more), plus how much of the message the entry covers as a whole;
* pinyin: the same overlap on tone-less pinyin syllable pairs, so a typo with
  the right sound (结婚等级, 地保) or typed pinyin (jiehun dengji) still finds it;
* fuzzy: rapidfuzz `ratio` of the content words to the best phrasing;
* semantic: cosine similarity of sentence embeddings (optional), and how close
  an entry comes to the message's best cosine (the model's own ranking).

A weighted sum of the evidence, and how far an entry is ahead of the best
other one, are mapped through a logistic calibration to 0..100: the fitted
probability that the entry is the right answer (fitted on tests/data/eval.yaml,
so that set's figures are in-sample; the Tianchi figures are not). Two entries
that fit equally well are both uncertain. The outcome then follows from the
thresholds in `MatcherSettings`. An entry with a rival that the sentence model
reads as the same question (`Weights.rival_share`) is at best a "did you mean".
"""

from __future__ import annotations

import functools
import io
import re
from array import array
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from rapidfuzz import fuzz, process

from bot.matching.aspects import aspects
from bot.matching.contrasts import Contrasts
from bot.matching.embedding import Embedder, Vectors, encode_cached
from bot.matching.intents import conflict, intents
from bot.matching.lexical import Lexicon, Terms
from bot.matching.normalize import cjk_count, detect_language, normalize
from bot.matching.smalltalk import detect_smalltalk, strip_greeting
from bot.matching.types import Candidate, MatchDocument, MatchOutcome, MatchResult

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Int32Array = npt.NDArray[np.int32]

_QUESTION, _TITLE, _KEYWORD = 0, 1, 2
_LATIN_WORDS = re.compile(r"[a-z0-9]+(?: [a-z0-9]+)*")


@dataclass(frozen=True)
class MatcherSettings:
    """Decision thresholds on the calibrated 0..100 score.

    Attributes:
        answer_threshold: The best entry is answered directly at or above this...
        clarify_threshold: ...and offered in "did you mean" at or above this.
        margin: ...and only answered when this far ahead of the runner-up.
        semantic: Use sentence embeddings (off: lexical and pinyin only).
        max_clarify: At most this many entries in "did you mean".
    """

    answer_threshold: float = 85.0
    clarify_threshold: float = 25.0
    margin: float = 10.0
    semantic: bool = True
    max_clarify: int = 4


@dataclass(frozen=True)
class Weights:
    """How the evidence is combined and calibrated.

    Evidence weights were chosen by grid search on tests/data/eval.yaml and
    the external Tianchi dev set, the calibration by logistic regression on
    eval.yaml; one set per mode, because without embeddings the same raw sum
    means more. The lexical-mode intercept is shifted so that the same
    `MatcherSettings` thresholds suit both modes.
    """

    bigram: float = 0.5
    #: Titles and keywords are fragments; a full match of one counts this much.
    keyword: float = 0.85
    lexical: float = 1.0
    coverage: float = 0.4
    pinyin: float = 1.2
    fuzzy: float = 0.3
    semantic: float = 2.0
    #: Cosine below this carries no evidence (e5 puts unrelated sentences near 0.8).
    semantic_floor: float = 0.88
    #: The same for English messages: their best match is often a Chinese
    #: phrasing, and e5's cross-language cosines run lower.
    semantic_floor_en: float = 0.80
    #: The sentence model ranks paraphrases by small differences near the top (0.985
    #: against 0.975) that the floor-scaled term above barely separates, while words
    #: differ a lot between two wordings of one question: an entry loses up to this
    #: much by how far its cosine is below the message's best (none at the best, all
    #: of it `semantic_rank_span` below or more). It lifts top-1 on Tianchi and
    #: answers more there at lower precision, which `rival_share` pays back.
    semantic_rank: float = 0.5
    semantic_rank_span: float = 0.01
    #: Logistic calibration: score = 100 / (1 + exp(-(slope * raw + lead * gap + intercept))),
    #: where gap is how far an entry is ahead of (or behind) the best other entry,
    #: clipped to +-lead_clip: two entries that fit equally well are both uncertain.
    slope: float = 2.502
    lead: float = 5.39
    lead_clip: float = 0.5
    intercept: float = -4.539
    #: A rival: another entry the sentence model reads nearly the same way as this
    #: one (its cosine within `rival_span` below this entry's, or above it) and that
    #: itself fits well (cosine above `rival_floor`; fully a rival at 1.0). Two
    #: entries that ask the same question in other words are where the words pick
    #: one with confidence and the model says both fit: the entry is at best a "did
    #: you mean" (score times 1 - rival_share at the most), and the resident chooses.
    #: Both rules' effect: commit 69c6791's message (the README's Tianchi command,
    #: `python -m bot eval --faq ...`, at 69c6791 and at 69c6791~1).
    rival_share: float = 0.5
    rival_span: float = 0.02
    rival_floor: float = 0.93
    #: An entry that never speaks of what the message asks for (a phone number,
    #: a price, ...; see `bot.matching.aspects`) is at best a "did you mean":
    #: its score is multiplied by this.
    aspect_factor: float = 0.5
    #: An entry about a look-alike of what the message names (结婚 for 离婚, see
    #: `bot.matching.contrasts`) is at best a "did you mean": its score times this.
    contrast_factor: float = 0.5
    #: An entry whose phrasings only ask other kinds of question than the
    #: message ("症状" for "怎么治疗", see `bot.matching.intents`) is at best a
    #: "did you mean": its score times this.
    intent_factor: float = 0.5
    #: Entries kept after the cheap lexical pass and from the semantic pass.
    lexical_pool: int = 30
    semantic_pool: int = 20
    #: With embeddings on, the sentence model is skipped when the words alone
    #: decide (best entry at or above this score on the lexical calibration and
    #: this far ahead of the runner-up): its cost grows with the message's length
    #: (tens of ms), the rest is about a millisecond. Measured on eval.yaml and
    #: Tianchi dev: every figure the same (`bench_matcher` prints how often it runs).
    skip_semantic_score: float = 99.0
    skip_semantic_margin: float = 50.0
    #: A longer message gives the words more to go on, and costs the model
    #: most: it is skipped at a lower bar (eval.yaml: +3 answered right, half
    #: of the long messages skip it; Tianchi dev, short messages: unchanged).
    skip_semantic_long_chars: int = 20
    skip_semantic_long_score: float = 90.0
    skip_semantic_long_margin: float = 30.0
    #: And at a lower bar still when the entry the words favour has no close
    #: neighbour in the knowledge base (no phrasing of another entry within this
    #: cosine of one of its own; `NEIGHBOURS_MAX_PHRASINGS`): the model earns its
    #: cost telling apart entries that say nearly the same thing ("百令胶囊需要注意
    #: 什么" and "...能长期服用吗"), and there are none to tell apart. At a27cfe2
    #: against its parent: eval.yaml +2 answered right (`bot eval`), the model run
    #: for 214 of its 587 questions instead of 258 (`bench_matcher --quick`) and for
    #: 4,447 of bench_e2e's 10,000 instead of 6,130 (as bench_e2e counts from
    #: 6b81e8a on; it printed 6,130 at a27cfe2); Tianchi dev (its entries are
    #: close neighbours): top-1 -0.001, precision 0.975 -> 0.973, near misses
    #: 0.145 -> 0.147.
    skip_semantic_alone_score: float = 90.0
    skip_semantic_alone_margin: float = 10.0
    skip_semantic_alone_cosine: float = 0.94
    #: Query embeddings kept by normalised text (residents repeat questions).
    query_cache: int = 1024


#: Lexical, pinyin and sentence-embedding evidence together.
SEMANTIC_WEIGHTS = Weights()
#: Documents whose phrasings are kept as strings for fuzzy matching (the recently matched).
PHRASINGS_CACHED = 4096

#: `Weights.skip_semantic_alone_cosine` needs each document's nearest other document,
#: worked out at build from every pair of phrasings: ~5 ms for the shipped base's
#: ~680, 0.7 s for 10,000 (it grows with the square). Above this the rule is off,
#: and the model runs as it would without it.
NEIGHBOURS_MAX_PHRASINGS = 10_000
#: Rows of phrasings compared at once (this many times all of them, in float32).
_NEIGHBOURS_BLOCK = 256

#: "Did you mean" offers an entry only when it scores at least this, and at
#: least this share of the best entry's score.
CHOICE_MIN_SCORE = 5.0
CHOICE_MIN_SHARE = 0.1

#: Lexical and pinyin evidence only (semantic off).
LEXICAL_WEIGHTS = Weights(
    fuzzy=0.6,
    semantic=0.0,
    semantic_rank=0.0,
    rival_share=0.0,
    slope=4.27,
    lead=3.323,
    intercept=-3.094,
)


@dataclass
class _Channel:
    """An inverted index of one kind of term over texts and documents.

    Postings are CSR arrays (term t's texts are
    `text_index[text_start[t]:text_start[t + 1]]`): a 10,000-entry base holds
    millions of postings, far too many for Python lists; int32 halves them.
    """

    vocabulary: dict[str, int]
    idf: FloatArray
    text_start: IntArray
    text_index: Int32Array
    doc_start: IntArray
    doc_index: Int32Array
    text_mass: FloatArray

    def query(self, terms: Sequence[str], unknown_idf: float) -> tuple[list[int], float]:
        """Known term ids of a message and its IDF mass (unknown terms count as rare)."""
        ids: list[int] = []
        mass = 0.0
        for term in set(terms):
            index = self.vocabulary.get(term)
            if index is None:
                mass += unknown_idf
            else:
                ids.append(index)
                mass += float(self.idf[index])
        return ids, mass

    def overlap(
        self, ids: Sequence[int], n_texts: int, n_docs: int
    ) -> tuple[FloatArray, FloatArray]:
        """IDF mass shared with the message, per text and per document."""
        return (
            _weighted_counts(self.text_start, self.text_index, self.idf, ids, n_texts),
            _weighted_counts(self.doc_start, self.doc_index, self.idf, ids, n_docs),
        )


def _weighted_counts(
    start: IntArray,
    index: Int32Array,
    idf: FloatArray,
    ids: Sequence[int],
    size: int,
) -> FloatArray:
    """Sum of `idf[t]` over the terms `ids`, per posting item: one bincount, not a
    numpy call per term (a term's postings hold each item once)."""
    if not ids:
        return np.zeros(size)
    spans = [index[start[t] : start[t + 1]] for t in ids]
    counts = [len(span) for span in spans]
    return np.bincount(
        np.concatenate(spans), weights=np.repeat(idf[list(ids)], counts), minlength=size
    ).astype(np.float64, copy=False)


class _ChannelBuilder:
    """Collects (term, text) pairs text by text, in compact arrays.

    A 10,000-entry base has millions of pairs: as Python ints in lists they
    took gigabytes at build time; `array("i")` keeps 4 bytes a pair, and the
    texts are kept as how many terms each has.
    """

    def __init__(self) -> None:
        self.vocabulary: dict[str, int] = {}
        self.pair_terms = array("i")
        self.text_sizes = array("i")

    def add(self, terms: Sequence[str]) -> None:
        """Add the next text's terms."""
        vocabulary = self.vocabulary
        ids = [vocabulary.setdefault(term, len(vocabulary)) for term in set(terms)]
        self.pair_terms.extend(ids)
        self.text_sizes.append(len(ids))

    def build(self, text_doc: Int32Array, n_docs: int) -> _Channel:
        """The channel; the pairs are freed (the next channel's build is the peak)."""
        sizes = np.frombuffer(self.text_sizes, dtype=np.int32)
        channel = _build_channel(
            self.vocabulary,
            np.frombuffer(self.pair_terms, dtype=np.int32),
            np.repeat(np.arange(len(sizes), dtype=np.int32), sizes),
            text_doc,
            n_docs,
        )
        del sizes
        self.pair_terms, self.text_sizes = array("i"), array("i")
        return channel


def _build_channel(
    vocabulary: dict[str, int],
    terms_arr: Int32Array,
    texts_arr: Int32Array,
    text_doc: Int32Array,
    n_docs: int,
) -> _Channel:
    """Postings of (term, text) pairs given text by text, texts grouped by document."""
    n_terms = len(vocabulary)
    # Pairs arrive in text order, so a stable sort by term keeps each term's
    # texts, and so its documents, in ascending order: no second sort key and
    # no (term, document) product to sort.
    order = np.argsort(terms_arr, kind="stable")
    text_index = texts_arr[order]
    sorted_terms = terms_arr[order]
    del order
    sorted_docs = text_doc[text_index]
    # One (term, document) pair per document, however many phrasings repeat the term.
    first = np.ones(len(sorted_terms), dtype=bool)
    first[1:] = (sorted_terms[1:] != sorted_terms[:-1]) | (sorted_docs[1:] != sorted_docs[:-1])
    doc_terms = sorted_terms[first]
    doc_index = sorted_docs[first]
    del first, sorted_docs, sorted_terms
    df = np.bincount(doc_terms, minlength=n_terms).astype(np.float64)
    # BM25's IDF, always positive: a word in every entry still counts a little.
    idf = np.log1p((n_docs - df + 0.5) / (df + 0.5))
    # In the pairs' own order, so each text's sum adds its terms as it always did.
    text_mass = np.bincount(texts_arr, weights=idf[terms_arr], minlength=len(text_doc))
    return _Channel(
        vocabulary=vocabulary,
        idf=idf,
        text_start=_starts(terms_arr, n_terms),
        text_index=text_index,
        doc_start=_starts(doc_terms, n_terms),
        doc_index=doc_index,
        text_mass=text_mass.astype(np.float64),
    )


def _starts(term_ids: Int32Array, n_terms: int) -> IntArray:
    start = np.zeros(n_terms + 1, dtype=np.int64)
    np.cumsum(np.bincount(term_ids, minlength=n_terms), out=start[1:])
    return start


class _Strings:
    """Many short strings stored end to end in one: a str object of its own
    costs ~60 bytes more than its text, and 100,000 of them fragment the heap."""

    def __init__(self) -> None:
        self._buffer: io.StringIO | None = io.StringIO()
        self._text = ""
        self._ends = array("q", [0])

    def append(self, text: str) -> None:
        """Add a string (before `close`)."""
        if self._buffer is None:
            raise RuntimeError("closed")
        self._buffer.write(text)
        self._ends.append(self._ends[-1] + len(text))

    def close(self) -> _Strings:
        """Finish appending; returns self."""
        if self._buffer is not None:
            self._text = self._buffer.getvalue()
            self._buffer = None
        return self

    def __getitem__(self, index: int) -> str:
        return self._text[self._ends[index] : self._ends[index + 1]]

    def __len__(self) -> int:
        return len(self._ends) - 1

    def __iter__(self) -> Iterator[str]:
        return (self[index] for index in range(len(self)))


def _split_languages(text: str) -> list[str]:
    """Split "结婚登记 marriage registration" into its Chinese and English parts."""
    if not cjk_count(text) or not _LATIN_WORDS.search(text):
        return [text]
    english = " ".join(w for w in _LATIN_WORDS.findall(text) if not w.isdigit())
    chinese = _LATIN_WORDS.sub("", text).strip()
    return [part for part in (chinese, english) if part]


@dataclass(frozen=True)
class _Lexical:
    """Word, bigram and pinyin evidence of one message for every document (arrays by document)."""

    lexical: FloatArray
    coverage: FloatArray
    pinyin: FloatArray
    #: The cheap ranking that picks the lexical pool, and that pool.
    prelim: FloatArray
    pool: IntArray


@dataclass(frozen=True)
class _Features:
    """Evidence for the candidate documents of one message (arrays aligned)."""

    #: The normalised message.
    text: str
    docs: IntArray
    lexical: FloatArray
    coverage: FloatArray
    pinyin: FloatArray
    fuzzy: FloatArray
    semantic: FloatArray
    #: Typed pinyin: embeddings cannot read it, the pinyin evidence stands in.
    pinyin_query: bool = False
    #: An English message (see `Weights.semantic_floor_en`).
    english: bool = False
    #: The look-alike terms the message names (`Contrasts.named`).
    named: frozenset[str] = frozenset()
    #: The kinds of question the message asks (`intents`), when any entry is held to one.
    kinds: frozenset[str] = frozenset()
    #: What the message asks for beyond its topic (`aspects`): a phone number, a price...
    asked: frozenset[str] = frozenset()


class Matcher:
    """Finds the knowledge entry a resident's message is about.

    Build once per knowledge base with `Matcher.build`; `match` is pure and
    thread-safe (it only reads the index).
    """

    def __init__(
        self,
        *,
        doc_ids: list[str],
        lexicon: Lexicon,
        text_doc: Int32Array,
        text_kind: npt.NDArray[np.int8],
        question_core: _Strings,
        question_sound: _Strings,
        words: _Channel,
        bigrams: _Channel,
        pinyin: _Channel,
        embeddings: Vectors | None,
        embedded_texts: IntArray,
        embedder: Embedder | None,
        neighbour_cosine: FloatArray | None,
        doc_aspects: list[frozenset[str]],
        contrasts: Contrasts,
        doc_contrasts: list[frozenset[str]],
        doc_told: list[frozenset[str]],
        doc_intents: list[frozenset[str]],
        settings: MatcherSettings,
        weights: Weights,
    ) -> None:
        """Use `Matcher.build`; this only stores the prepared index."""
        self.doc_ids = doc_ids
        self.settings = settings
        self.weights = weights
        self._lexicon = lexicon
        self._text_doc = text_doc
        self._is_fragment = text_kind != _QUESTION
        # Fuzzy ratios compare against questions only: their content words and
        # sounds, numbered in text order, so each document's are consecutive.
        self._question_core = question_core
        self._question_sound = question_sound
        per_doc = np.bincount(text_doc[text_kind == _QUESTION], minlength=len(doc_ids))
        self._doc_question_start: list[int] = [0, *np.cumsum(per_doc).tolist()]
        # The phrasings of the documents matched lately, as strings (the packed store
        # slices them anew on every access); lru_cache is thread-safe.
        self._phrasings = functools.lru_cache(maxsize=PHRASINGS_CACHED)(self._doc_phrasings)
        self._words = words
        self._bigrams = bigrams
        self._pinyin = pinyin
        self._embeddings = embeddings
        self._embedded_texts = embedded_texts
        self._neighbour_cosine = neighbour_cosine
        self._embedder = embedder
        # lru_cache is thread-safe, so `match` stays safe to call from threads.
        self._encode_query = functools.lru_cache(maxsize=weights.query_cache)(self._encode)
        self._doc_aspects = doc_aspects
        self._contrasts = contrasts
        self._doc_contrasts = doc_contrasts
        self._doc_told = doc_told
        self._doc_intents = doc_intents
        # Most bases have no entry held to a kind of question (topics, not single FAQ
        # questions): then what a message asks need not be worked out at all.
        self._any_intents = any(doc_intents)
        self._doc_position = {doc_id: index for index, doc_id in enumerate(doc_ids)}
        self._unknown_words = float(words.idf.max()) if len(words.idf) else 1.0
        self._unknown_bigrams = _max_or_one(bigrams.idf)
        self._unknown_pinyin = float(pinyin.idf.max()) if len(pinyin.idf) else 1.0

    @property
    def semantic(self) -> bool:
        """True when sentence embeddings take part in matching."""
        return self._embeddings is not None

    @classmethod
    def build(
        cls,
        documents: Sequence[MatchDocument],
        *,
        synonyms: Sequence[Sequence[str]] = (),
        contrasts: Sequence[Sequence[str]] = (),
        settings: MatcherSettings | None = None,
        embedder: Embedder | None = None,
        cache_dir: Path | None = None,
        weights: Weights | None = None,
        progress: bool | None = None,
    ) -> Matcher:
        """Index documents for matching.

        Args:
            documents: The answerable topics; ids must be unique.
            synonyms: Groups of terms, the first of each group canonical.
            contrasts: Groups of look-alike terms that name different topics
                (`bot.matching.contrasts`).
            settings: Thresholds; defaults to the tuned `MatcherSettings()`.
            embedder: Sentence model; None (or `settings.semantic` off) matches
                on words and pinyin only.
            cache_dir: Where document embeddings are cached; None: no cache.
            weights: Evidence weights and calibration (tuning only); by default
                the set fitted for the mode (with or without embeddings).
            progress: Progress bar while embedding; None: when stderr is a terminal.

        Returns:
            The matcher.

        Raises:
            ValueError: On duplicate document ids.
        """
        settings = settings or MatcherSettings()
        doc_ids = [d.doc_id for d in documents]
        if len(set(doc_ids)) != len(doc_ids):
            raise ValueError("document ids must be unique")
        # Texts are stored document by document (the postings rely on it).
        texts = _Strings()
        text_doc = array("i")
        text_kind = array("b")
        keywords: list[str] = []
        doc_aspects: list[frozenset[str]] = []
        look_alikes = Contrasts(contrasts)
        doc_contrasts: list[frozenset[str]] = []
        doc_told: list[frozenset[str]] = []
        doc_intents: list[frozenset[str]] = []
        # Most entries share their aspects (and look-alike terms): one set object
        # each, not one per entry.
        interned: dict[frozenset[str], frozenset[str]] = {}
        for index, document in enumerate(documents):
            questions = [normalize(q) for q in document.questions]
            title = normalize(document.title)
            doc_keywords = [normalize(k) for k in document.keywords]
            for kind, parts in (
                (_QUESTION, questions),
                (_TITLE, _split_languages(title)),
                (_KEYWORD, doc_keywords),
            ):
                for text in parts:
                    if text:
                        texts.append(text)
                        text_doc.append(index)
                        text_kind.append(kind)
            keywords.extend(doc_keywords)
            answer = [normalize(line) for line in document.answer.splitlines()]
            phrasings = (*questions, title, *doc_keywords)
            found = frozenset().union(*(aspects(piece) for piece in (*phrasings, *answer)))
            doc_aspects.append(interned.setdefault(found, found))
            # What the answer itself speaks of: an alternate question that names a
            # look-alike (想离婚 …) does not make the source say anything about it.
            told = frozenset().union(*(look_alikes.mentioned(line) for line in answer))
            doc_told.append(interned.setdefault(told, told))
            # What all its texts speak of: the answer's (scanned once), and what the
            # questions, title and keywords add.
            said = told.union(*(look_alikes.mentioned(piece) for piece in phrasings))
            doc_contrasts.append(interned.setdefault(said, said))
            # An entry is held to a kind of question only when every phrasing
            # asks it: one FAQ question ("…的症状有哪些"), not a topic whose
            # phrasings ask many things ("低保标准", "低保怎么申请") and whose
            # answer covers them. Yes-or-no counts as a kind here: an entry asked
            # only "百令胶囊能长期服用吗" does not tell what to watch out for
            # (without it, Tianchi near misses answered wrongly 0.181 -> 0.207).
            kinds = frozenset.intersection(*map(intents, questions)) if questions else frozenset()
            doc_intents.append(interned.setdefault(kinds, kinds))
        texts.close()
        english: set[str] = set()
        for text in texts:
            if not cjk_count(text):
                english.update(text.split())
        lexicon = Lexicon(synonyms, english_vocabulary=english)
        lexicon.add_words(keywords)
        del keywords
        channels = (_ChannelBuilder(), _ChannelBuilder(), _ChannelBuilder())
        question_core, question_sound = _Strings(), _Strings()
        for position, text in enumerate(texts):
            terms = lexicon.terms(text)
            for builder, values in zip(
                channels, (terms.words, terms.bigrams, terms.pinyin), strict=True
            ):
                builder.add(values)
            if text_kind[position] == _QUESTION:
                question_core.append(terms.core)
                question_sound.append(terms.sound)
        doc_array = np.frombuffer(text_doc, dtype=np.int32).copy()
        kind_array = np.frombuffer(text_kind, dtype=np.int8).copy()
        use_semantic = settings.semantic and embedder is not None
        embedded = np.flatnonzero(kind_array != _KEYWORD)
        # Only the sentence model needs the texts again: free them before the
        # postings are sorted, the peak of a build.
        to_embed = [texts[i] for i in embedded.tolist()] if use_semantic else []
        del texts
        n_docs = len(documents)
        words, bigrams, pinyin = (c.build(doc_array, n_docs) for c in channels)
        vectors: Vectors | None = None
        if use_semantic and embedder is not None:
            vectors = encode_cached(embedder, to_embed, cache_dir=cache_dir, progress=progress)
        if weights is None:
            weights = SEMANTIC_WEIGHTS if vectors is not None else LEXICAL_WEIGHTS
        neighbours = None
        if vectors is not None and len(vectors) <= NEIGHBOURS_MAX_PHRASINGS:
            neighbours = _neighbour_cosines(vectors, doc_array[embedded], n_docs)
        return cls(
            doc_ids=doc_ids,
            lexicon=lexicon,
            text_doc=doc_array,
            text_kind=kind_array,
            question_core=question_core.close(),
            question_sound=question_sound.close(),
            words=words,
            bigrams=bigrams,
            pinyin=pinyin,
            embeddings=vectors,
            embedded_texts=embedded,
            embedder=embedder if use_semantic else None,
            neighbour_cosine=neighbours,
            doc_aspects=doc_aspects,
            contrasts=look_alikes,
            doc_contrasts=doc_contrasts,
            doc_told=doc_told,
            doc_intents=doc_intents,
            settings=settings,
            weights=weights,
        )

    def match(self, query: str, *, limit: int = 10) -> MatchResult:
        """Decide what a message is about.

        Args:
            query: The resident's message, as typed.
            limit: Return at most this many candidates.

        Returns:
            The outcome, the language and the ranked candidates.
        """
        return run_steps(self.matching(query, limit=limit), self.semantic_evidence)

    def matching(self, query: str, *, limit: int = 10) -> Generator[str, FloatArray, MatchResult]:
        """`match` in steps: yields the text to embed when the words do not decide,
        takes its `semantic_evidence` back, and returns the verdict.

        The caller chooses where the model's wait happens: the bot matches on its
        event loop and runs `semantic_evidence` in a thread (`bot.conversation`), so
        only the questions that need the model leave the loop, and only for the model
        and the cosines against every phrasing (which grow with the knowledge base).
        """
        normalized = normalize(query)
        lang = detect_language(normalized)
        if not any(ch.isalnum() for ch in normalized):
            return MatchResult(MatchOutcome.INVALID, lang, (), normalized)
        kind = detect_smalltalk(normalized)
        if kind is not None:
            return MatchResult(MatchOutcome.SMALLTALK, lang, (), normalized, smalltalk=kind)
        text = strip_greeting(normalized)
        terms = self._lexicon.terms(text)
        # All the Latin words, stop words included: "how to apply for dibao" is English.
        if lang == "en" and self._lexicon.typed_in_pinyin(re.findall(r"[a-z]+", text)):
            lang = "zh"
        # Once per message: the ranking needs them twice when the sentence model runs.
        named = self._named(text)
        kinds = self._kinds(text)
        asked = aspects(text)
        candidates = yield from self._rank(text, terms, named=named, kinds=kinds, asked=asked)
        outcome = self._decide(candidates)
        choices = self._choices(candidates) if outcome is MatchOutcome.CLARIFY else ()
        # Said only when no entry the reply offers speaks of it (an entry that
        # says "the phone number is not announced" does speak of it).
        missing = asked if candidates else frozenset()
        uncovered = named
        for candidate in choices or candidates[:1]:
            position = self._doc_position[candidate.doc_id]
            missing -= self._doc_aspects[position]
            uncovered -= self._doc_told[position]
        return MatchResult(
            outcome,
            lang,
            tuple(candidates[: max(limit, 0)]),
            normalized,
            choices=choices,
            missing=missing,
            uncovered=uncovered,
        )

    def _choices(self, candidates: Sequence[Candidate]) -> tuple[Candidate, ...]:
        """The entries "did you mean" offers: the plausible ones among the best few.

        An entry at 0.1 beside one at 40 is noise, not a choice; but the
        resident always gets at least two to pick from (when there are two).
        """
        limit = self.settings.max_clarify
        floor = max(CHOICE_MIN_SCORE, CHOICE_MIN_SHARE * candidates[0].score)
        plausible = sum(c.score >= floor for c in candidates[:limit])
        return tuple(candidates[: max(plausible, min(2, limit))])

    def _decide(self, candidates: Sequence[Candidate]) -> MatchOutcome:
        settings = self.settings
        if not candidates or candidates[0].score < settings.clarify_threshold:
            return MatchOutcome.FALLBACK
        runner_up = candidates[1].score if len(candidates) > 1 else 0.0
        top = candidates[0].score
        if top >= settings.answer_threshold and top - runner_up >= settings.margin:
            return MatchOutcome.ANSWERED
        return MatchOutcome.CLARIFY

    def _named(self, text: str) -> frozenset[str]:
        """The look-alike terms a normalised message names (`Contrasts.named`)."""
        return self._contrasts.named(text) if self._contrasts else frozenset()

    def _kinds(self, text: str) -> frozenset[str]:
        """The kinds of question a normalised message asks, when any entry is held to one."""
        return intents(text) if self._any_intents else frozenset()

    def _rank(
        self,
        text: str,
        terms: Terms,
        *,
        named: frozenset[str],
        kinds: frozenset[str],
        asked: frozenset[str],
    ) -> Generator[str, FloatArray, list[Candidate]]:
        evidence = self._lexical_evidence(terms)
        if self._embeddings is None:
            return self._score(
                self._features(text, terms, evidence, named=named, kinds=kinds, asked=asked),
                self.weights,
            )
        # The words alone may already decide; then the sentence model, most of
        # the cost of a match, is not run.
        words = self._features(text, terms, evidence, named=named, kinds=kinds, asked=asked)
        candidates = self._score(words, LEXICAL_WEIGHTS)
        if candidates and self._words_decide(text, candidates):
            return candidates
        semantic = yield _embedding_text(text, terms)
        return self._score(
            self._features(
                text, terms, evidence, semantic, named=named, kinds=kinds, asked=asked, known=words
            ),
            self.weights,
        )

    def _words_decide(self, text: str, candidates: Sequence[Candidate]) -> bool:
        w = self.weights
        top = candidates[0].score
        lead = top - (candidates[1].score if len(candidates) > 1 else 0.0)
        if top >= w.skip_semantic_score and lead >= w.skip_semantic_margin:
            return True
        if (
            len(text) > w.skip_semantic_long_chars
            and top >= w.skip_semantic_long_score
            and lead >= w.skip_semantic_long_margin
        ):
            return True
        return (
            self._neighbour_cosine is not None
            and top >= w.skip_semantic_alone_score
            and lead >= w.skip_semantic_alone_margin
            and self._neighbour_cosine[self._doc_position[candidates[0].doc_id]]
            < w.skip_semantic_alone_cosine
        )

    def _score(self, features: _Features, weights: Weights) -> list[Candidate]:
        if not len(features.docs):
            return []
        raw = self.combine(features, weights=weights)
        scores = self.calibrate(raw, weights=weights)
        no = np.zeros(len(features.docs), dtype=bool)
        # Entries about a look-alike the message does not name, or answering another
        # kind of question: demoted below, and so nobody's rival.
        sibling = no
        if features.named:
            sibling = np.array(
                [
                    self._contrasts.conflicts(features.named, self._doc_contrasts[int(d)])
                    for d in features.docs
                ]
            )
        other = no
        if features.kinds:
            other = np.array(
                [conflict(features.kinds, self._doc_intents[int(d)]) for d in features.docs]
            )
        # Typed pinyin: the model cannot read it, so its cosines name no rivals.
        if weights.rival_share and not features.pinyin_query and len(features.docs) > 1:
            cosines = np.where(sibling | other, -1.0, features.semantic)
            scores = scores * (1.0 - weights.rival_share * _rivalry(cosines, weights))
        if features.asked:
            lacking = np.array(
                [not features.asked <= self._doc_aspects[int(d)] for d in features.docs]
            )
            scores = np.where(lacking, scores * weights.aspect_factor, scores)
        scores = np.where(sibling, scores * weights.contrast_factor, scores)
        scores = np.where(other, scores * weights.intent_factor, scores)
        order = np.argsort(-scores, kind="stable")
        return [
            Candidate(self.doc_ids[int(features.docs[i])], round(float(scores[i]), 2))
            for i in order[:10]
        ]

    def calibrate(self, raw: FloatArray, *, weights: Weights | None = None) -> FloatArray:
        """Calibrated 0..100 scores of the candidates of one message."""
        w = weights or self.weights
        if len(raw) > 1:
            gap = np.clip(raw - _others_best(raw), -w.lead_clip, w.lead_clip)
        else:
            gap = np.full(len(raw), w.lead_clip)
        z = w.slope * raw + w.lead * gap + w.intercept
        return np.asarray(100.0 / (1.0 + np.exp(-z)), dtype=np.float64)

    def combine(self, features: _Features, *, weights: Weights | None = None) -> FloatArray:
        """Weighted sum of the evidence (before calibration)."""
        w = weights or self.weights
        lexical = np.maximum(features.lexical, w.pinyin * features.pinyin)
        floor = w.semantic_floor_en if features.english else w.semantic_floor
        semantic = np.clip((features.semantic - floor) / (1.0 - floor), 0.0, 1.0)
        # 0 at the message's best cosine, down to -1 a span below: the best entry,
        # and every entry when the model has nothing to say, keep their scores.
        below_best = np.zeros_like(semantic)
        if w.semantic_rank and len(features.semantic):
            best = features.semantic.max()
            below_best = np.clip((features.semantic - best) / w.semantic_rank_span, -1.0, 0.0)
        if features.pinyin_query and w.semantic > 0:
            semantic = w.pinyin * features.pinyin
            below_best = np.zeros_like(semantic)
        return (
            w.lexical * lexical
            + w.coverage * features.coverage
            + w.fuzzy * features.fuzzy
            + w.semantic * semantic
            + w.semantic_rank * below_best
        )

    def _lexical_evidence(self, terms: Terms) -> _Lexical:
        """Per-document word, bigram and pinyin evidence of a message (all documents)."""
        w = self.weights
        n_texts = len(self._text_doc)
        n_docs = len(self.doc_ids)
        word_ids, word_mass = self._words.query(terms.words, self._unknown_words)
        bigram_ids, bigram_mass = self._bigrams.query(terms.bigrams, self._unknown_bigrams)
        pin_ids, pin_mass = self._pinyin.query(terms.pinyin, self._unknown_pinyin)

        word_text, word_doc = self._words.overlap(word_ids, n_texts, n_docs)
        bi_text, bi_doc = self._bigrams.overlap(bigram_ids, n_texts, n_docs)
        pin_text, pin_doc = self._pinyin.overlap(pin_ids, n_texts, n_docs)
        query_mass = word_mass + w.bigram * bigram_mass
        lexical_text = self._similarity(
            word_text + w.bigram * bi_text,
            query_mass,
            self._words.text_mass + w.bigram * self._bigrams.text_mass,
        )
        pinyin_text = self._similarity(pin_text, pin_mass, self._pinyin.text_mass)
        lexical_doc = _max_per_doc(lexical_text, self._text_doc, n_docs)
        pinyin_doc = _max_per_doc(pinyin_text, self._text_doc, n_docs)
        coverage_doc = np.zeros(n_docs)
        if query_mass > 0:
            coverage_doc = (word_doc + w.bigram * bi_doc) / query_mass
        if pin_mass > 0:
            # Sounds cover typos: "地保 标准" is covered by an entry saying 低保.
            coverage_doc = np.maximum(coverage_doc, w.pinyin * pin_doc / pin_mass)
        prelim = lexical_doc + 0.5 * coverage_doc + 0.8 * pinyin_doc
        return _Lexical(lexical_doc, coverage_doc, pinyin_doc, prelim, _top(prelim, w.lexical_pool))

    def semantic_evidence(self, text: str) -> FloatArray:
        """Best cosine of a text `matching` yielded to each document's phrasings.

        Raises:
            RuntimeError: If the matcher has no sentence model.
        """
        if self._embeddings is None:
            raise RuntimeError("no sentence model")
        vector = self._encode_query(text)  # recent texts' vectors are cached
        # einsum, not BLAS: OpenBLAS worker threads spinning next to the
        # embedding model's thread made this 20x slower on two cores.
        cosine = np.einsum("ij,j->i", self._embeddings, vector)
        per_text = np.full(len(self._text_doc), -1.0)
        per_text[self._embedded_texts] = cosine
        return _max_per_doc(per_text, self._text_doc, len(self.doc_ids))

    def _features(
        self,
        text: str,
        terms: Terms,
        lexical: _Lexical,
        semantic: FloatArray | None = None,
        *,
        named: frozenset[str],
        kinds: frozenset[str],
        asked: frozenset[str],
        known: _Features | None = None,
    ) -> _Features:
        """The evidence of the candidate documents: the lexical pool, and the semantic
        one when there are cosines. `named`, `kinds` and `asked`: what the message names,
        what kind of question it asks and what it asks for (`_named`, `_kinds`, `aspects`),
        worked out once per message. `known`: features of the same message whose fuzzy
        ratios can be reused (they do not depend on the other candidates)."""
        empty = np.zeros(0)
        pool = set(lexical.pool.tolist())
        semantic_doc = np.zeros(len(self.doc_ids))
        if semantic is not None:
            semantic_doc = semantic
            pool.update(_top(semantic, self.weights.semantic_pool).tolist())
        docs = np.array(
            sorted(d for d in pool if lexical.prelim[d] > 0 or semantic_doc[d] > 0),
            dtype=np.int64,
        )
        if not len(docs):
            return _Features(text, docs, empty, empty, empty, empty, empty)
        if known is not None and len(known.docs):
            at = np.minimum(np.searchsorted(known.docs, docs), len(known.docs) - 1)
            found = known.docs[at] == docs
            fuzzy = np.zeros(len(docs))
            fuzzy[found] = known.fuzzy[at[found]]
            if not found.all():
                fuzzy[~found] = self._fuzzy(terms, docs[~found])
        else:
            fuzzy = self._fuzzy(terms, docs)
        pinyin_query = self._lexicon.is_pinyin_query(terms.words)
        return _Features(
            text=text,
            docs=docs,
            lexical=lexical.lexical[docs],
            coverage=np.minimum(lexical.coverage[docs], 1.0),
            pinyin=lexical.pinyin[docs],
            fuzzy=fuzzy,
            semantic=semantic_doc[docs],
            pinyin_query=pinyin_query,
            english=not pinyin_query and detect_language(text) == "en",
            named=named,
            kinds=kinds,
            asked=asked,
        )

    def _encode(self, text: str) -> npt.NDArray[np.float32]:
        if self._embedder is None:
            raise RuntimeError("no sentence model")
        return self._embedder.encode([text])[0]

    def _similarity(
        self, shared: FloatArray, query_mass: float, text_mass: FloatArray
    ) -> FloatArray:
        """IDF-weighted Dice per text; fragments (titles, keywords) by the geometric mean
        of how much of the fragment and how much of the message the overlap covers."""
        # A text sharing nothing scores 0: compute only the few that share a
        # term (a 10,000-entry base has ~180,000 texts).
        similarity = np.zeros_like(shared)
        touched = np.flatnonzero(shared)
        shared = shared[touched]
        text_mass = text_mass[touched]
        denominator = query_mass + text_mass
        dice = np.divide(
            2.0 * shared, denominator, out=np.zeros_like(shared), where=denominator > 0
        )
        contained = np.divide(shared, text_mass, out=np.zeros_like(shared), where=text_mass > 0)
        covered = shared / query_mass if query_mass > 0 else np.zeros_like(shared)
        fragment = self.weights.keyword * np.sqrt(contained * covered)
        is_fragment = self._is_fragment[touched]
        similarity[touched] = np.minimum(
            np.where(is_fragment, np.maximum(dice, fragment), dice), 1.0
        )
        return similarity

    def _doc_phrasings(self, doc: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """A document's questions: content words and sounds."""
        span = range(self._doc_question_start[doc], self._doc_question_start[doc + 1])
        return (
            tuple(self._question_core[i] for i in span),
            tuple(self._question_sound[i] for i in span),
        )

    def _fuzzy(self, terms: Terms, docs: IntArray) -> FloatArray:
        """rapidfuzz `ratio` of the message to each document's closest question (0..1):
        content words, or their sound at 0.9; one C call per kind for all documents."""
        cores: list[str] = []
        sounds: list[str] = []
        starts = np.zeros(len(docs), dtype=np.int64)
        for position, doc in enumerate(docs.tolist()):
            starts[position] = len(cores)
            core, sound = self._phrasings(doc)
            cores.extend(core)
            sounds.extend(sound)
        ratios = np.zeros(len(cores))
        if terms.core and cores:
            ratios = process.cdist([terms.core], cores, scorer=fuzz.ratio, dtype=np.float64)[0]
        if terms.sound and sounds:
            heard = process.cdist([terms.sound], sounds, scorer=fuzz.ratio, dtype=np.float64)[0]
            ratios = np.maximum(ratios, 0.9 * heard)
        best = np.zeros(len(docs))
        if len(cores):
            # Documents without questions keep 0 (reduceat would lend them a neighbour's).
            has = np.diff(np.r_[starts, len(cores)]) > 0
            best[has] = np.maximum.reduceat(ratios, starts[has])
        return best / 100.0


def _rivalry(cosines: FloatArray, weights: Weights) -> FloatArray:
    """How much each candidate has a rival (`Weights.rival_share`), 0..1, from the
    candidates' cosines (at least two)."""
    other = _others_best(cosines)
    close = np.clip(1.0 - (cosines - other) / weights.rival_span, 0.0, 1.0)
    fits = np.clip((other - weights.rival_floor) / (1.0 - weights.rival_floor), 0.0, 1.0)
    return np.asarray(close * fits, dtype=np.float64)


def _others_best(values: FloatArray) -> FloatArray:
    """For each item, the best value among the other items (at least two items)."""
    order = np.argsort(-values)
    best, second = values[order[0]], values[order[1]]
    return np.where(np.arange(len(values)) == order[0], second, best)


def _max_or_one(values: FloatArray) -> float:
    return float(values.max()) if len(values) else 1.0


def _max_per_doc(values: FloatArray, text_doc: Int32Array, n_docs: int) -> FloatArray:
    """Best value of each document's texts (texts are stored grouped by document)."""
    out = np.zeros(n_docs)
    if not len(values):
        return out
    starts = np.flatnonzero(np.r_[True, text_doc[1:] != text_doc[:-1]])
    out[text_doc[starts]] = np.maximum.reduceat(values, starts)
    return out


def _top(values: FloatArray, count: int) -> IntArray:
    if len(values) <= count:
        return np.flatnonzero(values > 0) if len(values) else np.zeros(0, dtype=np.int64)
    index = np.argpartition(-values, count)[:count]
    return index[values[index] > 0]


#: Messages longer than this are embedded by their content words only (at most
#: twice this many characters): the model's cost grows with every token (a
#: 1,000-character paste would take half a second), and a backstory adds
#: tokens, not topic. Measured on eval.yaml: same accuracy, lower p99.
EMBED_MAX_CHARS = 40


def _neighbour_cosines(vectors: Vectors, vector_doc: Int32Array, n_docs: int) -> FloatArray:
    """For each document, the highest cosine between one of its phrasings and one of
    any other document's (-1 when either side has none)."""
    best = np.full(n_docs, -1.0)
    for start in range(0, len(vectors), _NEIGHBOURS_BLOCK):
        cosines = vectors[start : start + _NEIGHBOURS_BLOCK] @ vectors.T
        docs = vector_doc[start : start + _NEIGHBOURS_BLOCK]
        cosines[docs[:, None] == vector_doc[None, :]] = -1.0
        np.maximum.at(best, docs, cosines.max(axis=1))
    return best


def _embedding_text(text: str, terms: Terms) -> str:
    if len(text) <= EMBED_MAX_CHARS or not terms.core:
        return text
    return terms.core[: EMBED_MAX_CHARS * 2]


def run_steps(
    steps: Generator[str, FloatArray, MatchResult], evidence: Callable[[str], FloatArray]
) -> MatchResult:
    """Drive `Matcher.matching` (or anything built on it) to its verdict, calling
    `evidence` (`Matcher.semantic_evidence`) for each text it yields."""
    try:
        text = next(steps)
        while True:
            text = steps.send(evidence(text))
    except StopIteration as done:
        result: MatchResult = done.value
        return result
