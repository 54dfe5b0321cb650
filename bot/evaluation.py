"""Answer-quality measurement: our own evaluation set and external FAQ data.

`python -m bot eval` runs `evaluate_internal` on tests/data/eval.yaml with the
shipped knowledge; `python -m bot eval --faq KB.jsonl --queries Q.jsonl`
builds a throw-away matcher over an external FAQ and reports retrieval
quality and latency. External data is read from where it lies, never copied.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ruamel.yaml import YAML

from bot.answering import AnswerEngine
from bot.matching import Embedder, MatchDocument, Matcher, MatcherSettings, MatchOutcome
from bot.matching.grouping import DEFAULT_THRESHOLD, similar_pairs
from bot.matching.normalize import normalize

if TYPE_CHECKING:
    from bot.config import Settings

DEFAULT_EVAL_FILE = Path("tests/data/eval.yaml")


@dataclass(frozen=True)
class EvalQuestion:
    """One labelled question: `expect` is an entry id, or None when the bot must decline."""

    q: str
    expect: str | None
    kind: str


@dataclass(frozen=True)
class Miss:
    """A question the engine got wrong, with what it did instead."""

    q: str
    expect: str | None
    kind: str
    outcome: str
    candidates: tuple[tuple[str, float], ...]


@dataclass(frozen=True)
class InternalReport:
    """How the engine does on our own evaluation set."""

    total: int
    in_scope: int
    out_of_scope: int
    answered_right: int
    answered_wrong: int
    clarified: int
    clarify_contains_right: int
    declined_out_of_scope: int
    by_kind: dict[str, tuple[int, int]]
    misses: tuple[Miss, ...] = field(default=())

    @property
    def answered_right_rate(self) -> float:
        """Share of in-scope questions answered with the right entry."""
        return self.answered_right / self.in_scope if self.in_scope else 0.0

    @property
    def out_of_scope_declined_rate(self) -> float:
        """Share of out-of-scope questions not answered (clarify or fallback)."""
        return self.declined_out_of_scope / self.out_of_scope if self.out_of_scope else 1.0

    @property
    def clarify_rate(self) -> float:
        """Share of in-scope questions answered with "did you mean"."""
        return self.clarified / self.in_scope if self.in_scope else 0.0

    @property
    def clarify_hit_rate(self) -> float:
        """Share of in-scope clarifications that offer the right entry."""
        return self.clarify_contains_right / self.clarified if self.clarified else 0.0

    def to_dict(self) -> dict[str, Any]:
        """Plain data for `--json`."""
        data = asdict(self)
        data["misses"] = [asdict(m) for m in self.misses]
        data.update(
            answered_right_rate=round(self.answered_right_rate, 4),
            out_of_scope_declined_rate=round(self.out_of_scope_declined_rate, 4),
            clarify_rate=round(self.clarify_rate, 4),
            clarify_hit_rate=round(self.clarify_hit_rate, 4),
        )
        return data

    def format_text(self) -> str:
        """A human-readable summary with every miss."""
        lines = [
            f"questions: {self.total} ({self.in_scope} in scope, {self.out_of_scope} out of scope)",
            f"answered with the right entry: {self.answered_right}/{self.in_scope}"
            f" = {self.answered_right_rate:.1%}",
            f"answered with a wrong entry:   {self.answered_wrong}",
            f"clarify: {self.clarified} ({self.clarify_rate:.1%});"
            f" right entry offered in {self.clarify_contains_right}",
            f"out of scope declined: {self.declined_out_of_scope}/{self.out_of_scope}"
            f" = {self.out_of_scope_declined_rate:.1%}",
            "by kind (right/total):",
        ]
        lines += [f"  {k:14} {r}/{n}" for k, (n, r) in sorted(self.by_kind.items())]
        if self.misses:
            lines.append(f"misses ({len(self.misses)}):")
            for miss in self.misses:
                top = ", ".join(f"{d} {s:.0f}" for d, s in miss.candidates[:3]) or "-"
                lines.append(
                    f"  [{miss.kind}] {miss.q!r} expect={miss.expect} -> {miss.outcome}: {top}"
                )
        return "\n".join(lines)


def load_eval_questions(path: Path) -> list[EvalQuestion]:
    """Read `questions: [{q, expect, kind}]` from a YAML file."""
    data = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    return [
        EvalQuestion(q=str(item["q"]), expect=item.get("expect"), kind=str(item.get("kind", "")))
        for item in data["questions"]
    ]


def evaluate_internal(engine: AnswerEngine, eval_file: Path) -> InternalReport:
    """Run every question of an evaluation file through the engine.

    Args:
        engine: The engine to measure.
        eval_file: YAML with `questions: [{q, expect, kind}]`.

    Returns:
        The report, including every miss.
    """
    questions = load_eval_questions(eval_file)
    counts: Counter[str] = Counter()
    by_kind_total: Counter[str] = Counter()
    by_kind_right: Counter[str] = Counter()
    misses: list[Miss] = []
    for item in questions:
        result = engine.answer(item.q)
        top = result.top.doc_id if result.top else None
        answered = result.outcome is MatchOutcome.ANSWERED
        by_kind_total[item.kind] += 1
        if item.expect is None:
            counts["oos"] += 1
            right = not answered
            counts["declined"] += right
        else:
            counts["in"] += 1
            right = answered and top == item.expect
            counts["right"] += right
            counts["wrong"] += answered and top != item.expect
            if result.outcome is MatchOutcome.CLARIFY:
                counts["clarify"] += 1
                counts["clarify_hit"] += item.expect in {c.doc_id for c in result.choices}
        by_kind_right[item.kind] += right
        if not right:
            misses.append(
                Miss(
                    q=item.q,
                    expect=item.expect,
                    kind=item.kind,
                    outcome=result.outcome.value,
                    candidates=tuple((c.doc_id, c.score) for c in result.candidates[:4]),
                )
            )
    return InternalReport(
        total=len(questions),
        in_scope=counts["in"],
        out_of_scope=counts["oos"],
        answered_right=counts["right"],
        answered_wrong=counts["wrong"],
        clarified=counts["clarify"],
        clarify_contains_right=counts["clarify_hit"],
        declined_out_of_scope=counts["declined"],
        by_kind={k: (by_kind_total[k], by_kind_right[k]) for k in by_kind_total},
        misses=tuple(misses),
    )


@dataclass(frozen=True)
class ExternalReport:
    """Retrieval quality and latency on an external FAQ set."""

    documents: int
    queries: int
    p_at_1: float
    mrr_at_10: float
    answered: float
    answered_precision: float
    near_misses: int
    near_miss_wrong_answer_rate: float
    #: Queries whose top entry is not the labelled one, and of them those whose top
    #: entry's standard question reads nearly the same as the labelled entry's: rapidfuzz
    #: ratio on the normalised texts at the threshold that groups the admin's repeated
    #: questions (`grouping.DEFAULT_THRESHOLD`;
    #: 请问肺气肿能办慢性病门诊治疗吗 / 肺气肿能办慢性病门诊治疗吗: 93): the data's own
    #: near-duplicate entries, the plainest of them.
    misses_at_1: int
    misses_near_identical: int
    p50_ms: float
    p99_ms: float
    build_s: float
    semantic: bool

    def to_dict(self) -> dict[str, Any]:
        """Plain data for `--json`."""
        return asdict(self)

    def format_text(self) -> str:
        """A human-readable summary."""
        near = (
            f"{self.near_miss_wrong_answer_rate:.3f} of {self.near_misses}"
            if self.near_misses
            else "n/a"
        )
        return "\n".join(
            [
                f"documents {self.documents}, queries {self.queries},"
                f" semantic {'on' if self.semantic else 'off'}, build {self.build_s:.1f} s",
                f"p@1 {self.p_at_1:.3f}   mrr@10 {self.mrr_at_10:.3f}",
                f"misses at rank 1: {self.misses_at_1}, of them {self.misses_near_identical}"
                " chose an entry whose question reads nearly the same as the labelled one's"
                f" (normalised texts, rapidfuzz ratio >= {DEFAULT_THRESHOLD:.0f})",
                f"answered {self.answered:.3f}   precision of answered {self.answered_precision:.3f}",
                f"near misses answered with the wrong entry: {near}",
                f"latency p50 {self.p50_ms:.1f} ms   p99 {self.p99_ms:.1f} ms",
            ]
        )


def _jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)


def faq_documents(faq: Path) -> list[MatchDocument]:
    """Documents from `{"faq_id", "question", "alt_questions"}` lines."""
    return [
        MatchDocument(
            doc_id=str(row["faq_id"]),
            questions=(str(row["question"]), *map(str, row.get("alt_questions") or ())),
        )
        for row in _jsonl(faq)
    ]


def percentile(values: Sequence[float], share: float) -> float:
    """The `share` (0..1) percentile of `values`, nearest rank; 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, math.ceil(share * len(ordered)) - 1))
    return ordered[index]


def evaluate_external(
    faq: Path,
    queries: Path,
    near_misses: Path | None,
    *,
    settings: MatcherSettings,
    embedder: Embedder | None,
    cache_dir: Path | None,
    progress: bool,
) -> ExternalReport:
    """Build a matcher over an external FAQ and measure it.

    Args:
        faq: JSONL of `{"faq_id", "question", "alt_questions"}`.
        queries: JSONL of `{"query", "faq_id"}` (the right entry).
        near_misses: JSONL of `{"query", "not_faq_id"}` (answering with that id is wrong).
        settings: Matcher thresholds.
        embedder: Sentence model or None.
        cache_dir: Embedding cache for the FAQ documents.
        progress: Show a progress bar while embedding the FAQ.

    Returns:
        The report.
    """
    start = time.perf_counter()
    documents = faq_documents(faq)
    matcher = Matcher.build(
        documents,
        settings=settings,
        embedder=embedder,
        cache_dir=cache_dir,
        progress=progress,
    )
    build_s = time.perf_counter() - start
    standard = [normalize(doc.questions[0]) for doc in documents]
    near_identical_pairs = {
        frozenset((documents[i].doc_id, documents[j].doc_id))
        for i, j in similar_pairs(standard, DEFAULT_THRESHOLD)
    }
    timings: list[float] = []
    hits = answered = answered_right = near_identical = 0
    reciprocal = 0.0
    rows = list(_jsonl(queries))
    for row in rows:
        t0 = time.perf_counter()
        result = matcher.match(str(row["query"]))
        timings.append((time.perf_counter() - t0) * 1000)
        ids = [c.doc_id for c in result.candidates[:10]]
        gold = str(row["faq_id"])
        hits += bool(ids) and ids[0] == gold
        near_identical += bool(ids) and frozenset((ids[0], gold)) in near_identical_pairs
        reciprocal += 1.0 / (ids.index(gold) + 1) if gold in ids else 0.0
        if result.outcome is MatchOutcome.ANSWERED:
            answered += 1
            answered_right += ids[0] == gold
    wrong_near = near_count = 0
    if near_misses is not None:
        for row in _jsonl(near_misses):
            near_count += 1
            t0 = time.perf_counter()
            result = matcher.match(str(row["query"]))
            timings.append((time.perf_counter() - t0) * 1000)
            top = result.top
            wrong_near += (
                result.outcome is MatchOutcome.ANSWERED
                and top is not None
                and top.doc_id == str(row["not_faq_id"])
            )
    count = len(rows) or 1
    return ExternalReport(
        documents=len(matcher.doc_ids),
        queries=len(rows),
        p_at_1=hits / count,
        mrr_at_10=reciprocal / count,
        answered=answered / count,
        answered_precision=answered_right / answered if answered else 0.0,
        near_misses=near_count,
        near_miss_wrong_answer_rate=wrong_near / near_count if near_count else 0.0,
        misses_at_1=len(rows) - hits,
        misses_near_identical=near_identical,
        p50_ms=statistics.median(timings) if timings else 0.0,
        p99_ms=percentile(timings, 0.99),
        build_s=build_s,
        semantic=matcher.semantic,
    )


def configure_eval_parser(parser: argparse.ArgumentParser) -> None:
    """Add the arguments of `python -m bot eval` to a (sub)parser."""
    parser.add_argument(
        "file",
        nargs="?",
        type=Path,
        default=DEFAULT_EVAL_FILE,
        help=f"evaluation set for the shipped knowledge (default {DEFAULT_EVAL_FILE})",
    )
    parser.add_argument("--faq", type=Path, help="external FAQ JSONL (faq_id, question, ...)")
    parser.add_argument("--queries", type=Path, help="external queries JSONL (query, faq_id)")
    parser.add_argument(
        "--near-misses", type=Path, help="external near misses JSONL (query, not_faq_id)"
    )
    parser.add_argument(
        "--semantic",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="use sentence embeddings (default: the SEMANTIC_ENABLED setting)",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")


def run_eval_command(args: argparse.Namespace, settings: Settings) -> int:
    """Run `python -m bot eval` as parsed by `configure_eval_parser`.

    `bot.cli` has already applied `--semantic` / `--no-semantic` to `settings`.

    Returns:
        The exit status: 0, or 2 on bad arguments.
    """
    from bot.matching import load_embedder
    from bot.runtime import matcher_settings, open_engine

    report: InternalReport | ExternalReport
    if args.faq is not None or args.queries is not None:
        if args.faq is None or args.queries is None:
            print("eval: --faq and --queries go together")
            return 2
        report = evaluate_external(
            args.faq,
            args.queries,
            args.near_misses,
            settings=matcher_settings(settings),
            embedder=load_embedder(settings.embedding_model) if settings.semantic_enabled else None,
            cache_dir=settings.embedding_cache_dir,
            progress=not args.json,
        )
    else:
        report = evaluate_internal(open_engine(settings).current, args.file)
    if args.json:
        print(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
    else:
        print(report.format_text())
    return 0
