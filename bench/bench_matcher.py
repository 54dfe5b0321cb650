"""Our matcher against two simple baselines, on our data and on external FAQ data.

    python -m bench.bench_matcher                        # everything
    python -m bench.bench_matcher --external ../shared/faq-external --no-bq
    python -m bench.bench_matcher --quick                # skip external sets and scale

Methods, all run in this process on the same questions:

* ``ours``: `bot.matching.Matcher` (semantic on: e5; and semantic off);
* ``wratio``: `rapidfuzz.process.extractOne(scorer=WRatio)` over every stored
  phrasing, answering when the score reaches 80 (a common cut-off);
* ``bm25``: BM25 (k1 1.5, b 0.75) over jieba words of every phrasing,
  answering when the best score reaches half of the query's own IDF mass.

Our set is tests/data/eval.yaml with the shipped knowledge/; external sets are
read from the folder given (never copied into the repository) and skipped with
a message when it is absent. Then: a generated 10,000-entry knowledge base
(lexical; build time, latency, RSS, in a child process), and start-up to the
first answer with a cold and a warm embedding cache (child processes).

Figures only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_EXTERNAL = ROOT.parent / "shared" / "faq-external"
CACHE_DIR = ROOT / "data" / "cache"


@dataclass(frozen=True)
class Question:
    text: str
    expect: str | None  # None: must not be answered


@dataclass(frozen=True)
class Row:
    method: str
    dataset: str
    top1: float
    answered_right: float
    declined: float | None
    qps: float
    p50_ms: float
    p99_ms: float


# A method answers one question: (best doc id or None, answered?).
Answer = tuple[str | None, bool]


def run_method(
    name: str, dataset: str, answer: Callable[[str], Answer], questions: Sequence[Question]
) -> Row:
    from bot.evaluation import percentile  # not at the top: child_startup times bot's imports

    timings: list[float] = []
    top1 = right = declined = in_scope = out_scope = 0
    for question in questions:
        start = time.perf_counter()
        best, answered = answer(question.text)
        timings.append(time.perf_counter() - start)
        if question.expect is None:
            out_scope += 1
            declined += not answered
        else:
            in_scope += 1
            top1 += best == question.expect
            right += answered and best == question.expect
    total = sum(timings)
    return Row(
        method=name,
        dataset=dataset,
        top1=top1 / max(in_scope, 1),
        answered_right=right / max(in_scope, 1),
        declined=declined / out_scope if out_scope else None,
        qps=len(questions) / total if total else 0.0,
        p50_ms=statistics.median(timings) * 1000 if timings else 0.0,
        p99_ms=percentile(timings, 0.99) * 1000,
    )


# --- baselines ---------------------------------------------------------------


def wratio_method(phrasings: Sequence[tuple[str, str]]) -> Callable[[str], Answer]:
    from rapidfuzz import fuzz, process, utils

    choices = [text for text, _ in phrasings]
    owners = [doc for _, doc in phrasings]

    def answer(text: str) -> Answer:
        hit = process.extractOne(text, choices, scorer=fuzz.WRatio, processor=utils.default_process)
        if hit is None:
            return None, False
        return owners[hit[2]], hit[1] >= 80

    return answer


def bm25_method(phrasings: Sequence[tuple[str, str]]) -> Callable[[str], Answer]:
    import rjieba

    def tokens(text: str) -> list[str]:
        return [t for t in rjieba.cut(text.lower()) if t.strip() and any(c.isalnum() for c in t)]

    docs = [tokens(text) for text, _ in phrasings]
    owners = [doc for _, doc in phrasings]
    n = len(docs)
    avgdl = sum(len(d) for d in docs) / max(n, 1)
    df: Counter[str] = Counter()
    postings: dict[str, list[tuple[int, int]]] = {}
    for index, words in enumerate(docs):
        for word, count in Counter(words).items():
            df[word] += 1
            postings.setdefault(word, []).append((index, count))
    idf = {w: math.log1p((n - f + 0.5) / (f + 0.5)) for w, f in df.items()}
    k1, b = 1.5, 0.75

    def answer(text: str) -> Answer:
        query = set(tokens(text))
        scores: dict[int, float] = defaultdict(float)
        for word in query:
            weight = idf.get(word)
            if weight is None:
                continue
            for index, count in postings[word]:
                length = len(docs[index])
                scores[index] += (
                    weight * count * (k1 + 1) / (count + k1 * (1 - b + b * length / avgdl))
                )
        if not scores:
            return None, False
        index, best = max(scores.items(), key=lambda item: item[1])
        own_mass = sum(idf.get(w, max(idf.values(), default=1.0)) for w in query)
        return owners[index], best >= 0.5 * own_mass

    return answer


def ours_method(matcher: Any) -> Callable[[str], Answer]:
    from bot.matching import MatchOutcome

    def answer(text: str) -> Answer:
        result = matcher.match(text)
        return (
            result.top.doc_id if result.top else None,
            result.outcome is MatchOutcome.ANSWERED,
        )

    return answer


# --- data ------------------------------------------------------------------------


def our_data() -> tuple[list[Any], list[list[str]], list[list[str]], list[Question]]:
    """Our knowledge as matcher documents, its synonym and look-alike groups, our eval set."""
    from bot.answering import documents_from_knowledge
    from bot.evaluation import load_eval_questions
    from bot.knowledge.loader import load_knowledge

    kb = load_knowledge(ROOT / "knowledge")
    questions = [
        Question(q.q, q.expect) for q in load_eval_questions(ROOT / "tests" / "data" / "eval.yaml")
    ]
    synonyms = [g.terms for g in kb.synonyms]
    return documents_from_knowledge(kb), synonyms, [g.terms for g in kb.contrasts], questions


def external_data(folder: Path, name: str) -> tuple[list[Any], list[Question]] | None:
    from bot.evaluation import faq_documents

    kb = folder / f"{name}_kb.jsonl"
    queries = folder / (
        f"{name}_dev_queries.jsonl" if name == "tianchi" else f"{name}_queries.jsonl"
    )
    if not kb.exists() or not queries.exists():
        return None
    rows = [json.loads(line) for line in queries.read_text(encoding="utf-8").splitlines() if line]
    return faq_documents(kb), [Question(r["query"], r["faq_id"]) for r in rows]


def phrasings_of(documents: Sequence[Any]) -> list[tuple[str, str]]:
    """Every stored phrasing (questions, title, keywords), as the baselines see them."""
    out: list[tuple[str, str]] = []
    for document in documents:
        texts = [*document.questions, document.title, *document.keywords]
        out.extend((text, document.doc_id) for text in texts if text)
    return out


# --- child processes: scale and start-up --------------------------------------


def peak_rss_mb() -> float:
    """Peak resident memory of this process in MB.

    /proc's VmHWM first: ru_maxrss survives exec on Linux, so a child started
    by a big parent would report the parent's peak.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_scale(entries: int) -> dict[str, float]:
    from bot.evaluation import percentile
    from bot.matching import MatchDocument, Matcher, MatcherSettings

    documents, synonyms, contrasts, questions = our_data()
    rng = random.Random(7)
    pool = "东南西北中和平安长青华新民兴光明泰康宁云山河湖江海林松柏桥"
    generated = []
    for index in range(entries):
        base = documents[index % len(documents)]
        street = rng.choice(pool) + rng.choice(pool) + "路"
        generated.append(
            MatchDocument(
                doc_id=f"e{index}",
                questions=tuple(f"{street}{q}" for q in base.questions),
                title=f"{street}{base.title}",
                keywords=base.keywords,
            )
        )
    start = time.perf_counter()
    matcher = Matcher.build(
        generated, synonyms=synonyms, contrasts=contrasts, settings=MatcherSettings(semantic=False)
    )
    build_s = time.perf_counter() - start
    timings = []
    for question in questions:
        t0 = time.perf_counter()
        matcher.match(question.text)
        timings.append(time.perf_counter() - t0)
    return {
        "entries": entries,
        "phrasings": sum(len(d.questions) for d in generated),
        "build_s": build_s,
        "p50_ms": statistics.median(timings) * 1000,
        "p99_ms": percentile(timings, 0.99) * 1000,
        "rss_mb": peak_rss_mb(),
    }


def child_startup(cache_dir: Path, semantic: bool) -> dict[str, float]:
    start = time.perf_counter()
    if semantic:  # as `bot.cli` does: the worker builds its model meanwhile
        from bot.e5.worker import shared_process

        shared_process()
    from bot.answering import build_engine
    from bot.knowledge.loader import load_knowledge
    from bot.matching import MatcherSettings, load_embedder

    imported = time.perf_counter()
    kb = load_knowledge(ROOT / "knowledge")
    loaded = time.perf_counter()
    embedder = load_embedder("e5") if semantic else None
    engine = build_engine(
        kb, settings=MatcherSettings(semantic=semantic), embedder=embedder, cache_dir=cache_dir
    )
    built = time.perf_counter()
    engine.answer("结婚登记在哪里办")
    answered = time.perf_counter()
    rss_mb = peak_rss_mb()  # before the probe's imports below
    worker_mb = probe_s = 0.0
    if semantic:
        # Not start-up: one call to the e5 worker process, so its model is loaded,
        # then the memory of every child process is counted too: they are part of
        # the bot's footprint. Its time is reported, and taken off the wall time.
        from tests.reliability.processes import children_peak_rss_kib

        probe = time.perf_counter()
        shared_process().encode(["结婚登记在哪里办"])
        probe_s = time.perf_counter() - probe
        worker_mb = children_peak_rss_kib(os.getpid()) / 1024
    return {
        "import_s": imported - start,
        "knowledge_s": loaded - imported,
        "build_s": built - loaded,
        "first_answer_s": answered - built,
        "in_process_s": answered - start,
        "rss_mb": rss_mb,
        "worker_rss_mb": worker_mb,
        "probe_s": probe_s,
    }


def run_child(*args: str) -> dict[str, float]:
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "bench.bench_matcher", "--child", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    figures: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    figures["wall_s"] = time.perf_counter() - start - figures.get("probe_s", 0.0)
    return figures


# --- report ------------------------------------------------------------------------


def print_rows(rows: Sequence[Row]) -> None:
    header = (
        f"{'dataset':10} {'method':14} {'top-1':>6} {'ans.right':>9} {'oos.decl':>8}"
        f" {'q/s':>8} {'p50 ms':>7} {'p99 ms':>7}   vs wratio / bm25 (answered right)"
    )
    print(header)
    print("-" * len(header))
    by_key = {(r.dataset, r.method): r for r in rows}
    for row in rows:
        ratios = ""
        if row.method.startswith("ours"):
            parts = []
            for base in ("wratio", "bm25"):
                other = by_key.get((row.dataset, base))
                if other and other.answered_right:
                    parts.append(f"x{row.answered_right / other.answered_right:.2f}")
            ratios = " / ".join(parts)
        declined = f"{row.declined:.3f}" if row.declined is not None else "-"
        print(
            f"{row.dataset:10} {row.method:14} {row.top1:6.3f} {row.answered_right:9.3f}"
            f" {declined:>8} {row.qps:8.0f} {row.p50_ms:7.2f} {row.p99_ms:7.2f}   {ratios}"
        )


def compare(
    dataset: str,
    documents: Sequence[Any],
    synonyms: Sequence[Sequence[str]],
    questions: Sequence[Question],
    *,
    semantic: bool,
    contrasts: Sequence[Sequence[str]] = (),
) -> list[Row]:
    from bot.matching import Matcher, MatcherSettings, load_embedder

    phrasings = phrasings_of(documents)
    rows = [
        run_method("wratio", dataset, wratio_method(phrasings), questions),
        run_method("bm25", dataset, bm25_method(phrasings), questions),
    ]
    lexical = Matcher.build(
        documents, synonyms=synonyms, contrasts=contrasts, settings=MatcherSettings(semantic=False)
    )
    rows.append(run_method("ours-lexical", dataset, ours_method(lexical), questions))
    if semantic:
        embedder = _CountingEmbedder(load_embedder("e5"))
        matcher = Matcher.build(
            documents,
            synonyms=synonyms,
            contrasts=contrasts,
            embedder=embedder,
            cache_dir=CACHE_DIR,
            progress=sys.stderr.isatty(),
        )
        embedder.messages = 0  # the knowledge's own phrasings were encoded at build time
        rows.append(run_method("ours-semantic", dataset, ours_method(matcher), questions))
        print(
            f"{dataset}: the sentence model ran for {embedder.messages} of {len(questions)}"
            " messages (the words alone decided the rest)"
        )
    return rows


class _CountingEmbedder:
    """An embedder that counts the messages it encodes one at a time (queries, not builds)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.name, self.dim = inner.name, inner.dim
        self.messages = 0

    def encode(self, texts: Sequence[str]) -> Any:
        self.messages += len(texts) == 1
        return self._inner.encode(texts)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the comparison and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--external", type=Path, default=DEFAULT_EXTERNAL, help="FAQ data folder")
    parser.add_argument("--no-bq", action="store_true", help="skip the BQ set (slowest)")
    parser.add_argument("--no-semantic", action="store_true", help="lexical matcher only")
    parser.add_argument("--quick", action="store_true", help="our set only, no scale/start-up")
    parser.add_argument("--entries", type=int, default=10_000, help="generated base size")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        kind = args.child[0]
        if kind == "scale":
            figures = child_scale(int(args.child[1]))
        else:
            figures = child_startup(Path(args.child[1]), args.child[2] == "on")
        print(json.dumps(figures))
        return 0

    semantic = not args.no_semantic
    documents, synonyms, contrasts, questions = our_data()
    rows = compare("ours", documents, synonyms, questions, semantic=semantic, contrasts=contrasts)
    if not args.quick:
        if args.external.is_dir():
            for name in ("tianchi", "bq"):
                if name == "bq" and args.no_bq:
                    continue
                data = external_data(args.external, name)
                if data is None:
                    print(f"{name}: not found in {args.external}, skipped")
                    continue
                rows += compare(name, data[0], (), data[1], semantic=semantic)
        else:
            print(f"external data folder {args.external} not found: external sets skipped")
    print()
    print("answered right = answered with the expected entry; oos.decl = out-of-scope not answered")
    print_rows(rows)
    if args.quick:
        return 0

    print()
    scale = run_child("scale", str(args.entries))
    print(
        f"scale: {scale['entries']:.0f} generated entries ({scale['phrasings']:.0f} phrasings),"
        f" lexical: build {scale['build_s']:.1f} s, p50 {scale['p50_ms']:.2f} ms,"
        f" p99 {scale['p99_ms']:.2f} ms, peak RSS {scale['rss_mb']:.0f} MB"
    )
    cache = Path(tempfile.mkdtemp(prefix="bench-startup-"))
    try:
        for label, mode in (("cold cache", "on"), ("warm cache", "on"), ("semantic off", "off")):
            figures = run_child("startup", str(cache), mode)
            print(
                f"start-up to first answer, {label:12}: {figures['wall_s']:.2f} s wall"
                f" (imports {figures['import_s']:.2f}, knowledge {figures['knowledge_s']:.2f},"
                f" index {figures['build_s']:.2f}, first answer {figures['first_answer_s']:.3f}),"
                f" peak RSS {figures['rss_mb']:.0f} MB"
                + (
                    f" + {figures['worker_rss_mb']:.0f} MB in the e5 worker process"
                    if figures["worker_rss_mb"]
                    else ""
                )
            )
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
