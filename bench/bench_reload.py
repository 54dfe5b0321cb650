"""Reloading a 10,000-entry knowledge base while questions keep being answered.

    python -m bench.bench_reload                     # 10,000 entries, 3 reloads
    python -m bench.bench_reload --entries 2000 --reloads 2 --semantic-entries 0

A knowledge base is generated into a temporary folder (20 YAML files; the shipped
categories, texts and synonyms; every shipped entry cloned with a distinct street
name in its questions), in two versions whose entry ids differ (`a…` and `b…`).
Then, with the real loader and `EngineHolder`:

* load and index are timed apart, lexical (SEMANTIC_ENABLED=false);
* one asyncio task answers questions without pause, reading `EngineHolder.current`
  once per question as `ConversationService.ask` does, while the holder reloads
  alternately version b and version a several times. Every answer is checked:
  each candidate id must exist in the knowledge of the engine that answered (a
  half-built or mixed engine would name an id of the other version), and every
  question asked must come back with a result (none dropped);
* semantic matching (e5) on a smaller generated base (`--semantic-entries`):
  the first build (every phrasing embedded) and a reload from the warm cache,
  plus the embedding rate, from which the 10,000-entry figure is extrapolated.

Figures only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.answering import AnswerEngine, build_engine
from bot.config import Settings
from bot.evaluation import percentile
from bot.knowledge.loader import load_knowledge
from bot.knowledge.models import Entry
from bot.runtime import EngineHolder, matcher_settings
from tests.reliability.processes import REPO

SHIPPED = REPO / "knowledge"
#: Files copied as they are: the generated entries need their categories and texts.
COPIED = ("categories.yaml", "texts.yaml", "synonyms.yaml")
FILES = 20
#: Two characters from here name a street: 80 x 80 = 6,400 names, then a number is added.
_STREET_CHARS = (
    "东南西北中和平安康宁泰兴华新光明长青松柏桃李春秋朝阳沈河皇姑铁西浑于洪苏家屯大东"
    "辽中法库新民康平望花滨江临湖沿河金银玉珠彩云山水林田丰乐文武仁义礼智信德福寿"
)


def street(i: int) -> str:
    """A distinct made-up street name for clone number `i` (benchmark data, never shipped)."""
    n = len(_STREET_CHARS)
    name = _STREET_CHARS[i % n] + _STREET_CHARS[(i // n) % n] + "街"
    return name if i < n * n else f"{name}{i // (n * n)}号"


def _entry_dict(template: Entry, new_id: str, i: int) -> dict[str, Any]:
    where = street(i)
    return {
        "id": new_id,
        "category": template.category,
        "title": {"zh": f"{where}：{template.title.zh}", "en": f"{template.title.en} ({i})"},
        "questions": {
            "zh": [f"{where}{q}" for q in template.questions.zh],
            "en": [f"{q} ({where})" for q in template.questions.en],
        },
        "keywords": [*template.keywords, where],
        "answer": {"zh": template.answer.zh, "en": template.answer.en},
        "source": {
            "document": template.source.document,
            "date": template.source.date,
            "section": template.source.section,
        },
        "updated": template.updated,
    }


def _yaml_entry(item: dict[str, Any]) -> str:
    """One entry as block YAML; strings double-quoted (JSON escapes are valid YAML)."""

    def q(text: str) -> str:
        return json.dumps(text, ensure_ascii=False)

    def pair(key: str, value: dict[str, str], indent: str) -> str:
        return f"{indent}{key}:\n{indent}  zh: {q(value['zh'])}\n{indent}  en: {q(value['en'])}\n"

    lines = [f"  - id: {item['id']}\n", f"    category: {item['category']}\n"]
    lines.append(pair("title", item["title"], "    "))
    lines.append("    questions:\n")
    for lang in ("zh", "en"):
        lines.append(f"      {lang}:\n")
        lines += [f"        - {q(text)}\n" for text in item["questions"][lang]]
    lines.append("    keywords: [" + ", ".join(q(k) for k in item["keywords"]) + "]\n")
    lines.append(pair("answer", item["answer"], "    "))
    source = item["source"]
    lines.append(
        f"    source:\n      document: {q(source['document'])}\n"
        f"      date: {source['date'].isoformat()}\n      section: {q(source['section'])}\n"
    )
    lines.append(f"    updated: {item['updated'].isoformat()}\n")
    return "".join(lines)


def generate(directory: Path, *, entries: int, prefix: str) -> list[tuple[str, str]]:
    """Write a knowledge base of `entries` entries into `directory`.

    Returns:
        (question, entry id) pairs: one question of each entry, to ask during the run.
    """
    directory.mkdir(parents=True, exist_ok=True)
    for name in COPIED:
        shutil.copy(SHIPPED / name, directory / name)
    templates = list(load_knowledge(SHIPPED).entries.values())
    per_file = -(-entries // FILES)
    asked: list[tuple[str, str]] = []
    for start in range(0, entries, per_file):
        parts = ["# Generated by bench/bench_reload.py: benchmark data, never shipped.\nentries:\n"]
        for i in range(start, min(entries, start + per_file)):
            template = templates[i % len(templates)]
            new_id = f"{prefix}{i:05d}-{template.id}"[:40].rstrip("-")
            item = _entry_dict(template, new_id, i)
            parts.append(_yaml_entry(item))
            asked.append((item["questions"]["zh"][i % len(item["questions"]["zh"])], new_id))
        path = directory / f"generated-{start // per_file:02d}.yaml"
        path.write_text("".join(parts), encoding="utf-8")
    return asked


def settings_for(directory: Path, cache: Path, *, semantic: bool) -> Settings:
    """Settings of a bot reading `directory` (nothing from the environment or `.env`)."""
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        knowledge_dir=directory,
        embedding_cache_dir=cache,
        semantic_enabled=semantic,
    )


@dataclass
class Timing:
    """Seconds of one full (re)build: reading and validating, then indexing."""

    load: float
    index: float

    @property
    def total(self) -> float:
        """Load plus index."""
        return self.load + self.index


def timed_build(settings: Settings, embedder: Any) -> tuple[AnswerEngine, Timing]:
    """Load and index `settings.knowledge_dir`, timing each step."""
    started = time.perf_counter()
    kb = load_knowledge(settings.knowledge_dir)
    loaded = time.perf_counter()
    engine = build_engine(
        kb,
        settings=matcher_settings(settings),
        embedder=embedder,
        cache_dir=settings.embedding_cache_dir,
    )
    return engine, Timing(loaded - started, time.perf_counter() - loaded)


@dataclass
class Answering:
    """What the answering task saw."""

    asked: int = 0
    answered: int = 0
    during_reload: int = 0
    #: Answers naming an id the answering engine's knowledge does not have.
    inconsistent: int = 0
    errors: list[str] = field(default_factory=list)
    #: Seconds between two answers, while a reload runs and while none does.
    gaps: list[float] = field(default_factory=list)
    idle_gaps: list[float] = field(default_factory=list)
    versions: set[str] = field(default_factory=set)


async def answer_continuously(
    holder: EngineHolder,
    questions: list[tuple[str, str]],
    stop: asyncio.Event,
    state: Answering,
    reloading: list[bool],
) -> None:
    """Ask questions back to back until `stop`, checking each answer against its engine."""
    cycle: Iterator[tuple[str, str]] = iter(())
    last = time.perf_counter()
    while not stop.is_set():
        try:
            question, _ = next(cycle)
        except StopIteration:
            cycle = iter(questions)
            continue
        engine = holder.current  # once per question, as ConversationService.ask does
        state.asked += 1
        try:
            result = engine.answer(question)
        except Exception as exc:  # counted, not raised: the benchmark reports it
            state.errors.append(f"{type(exc).__name__}: {exc}")
            continue
        state.answered += 1
        state.during_reload += reloading[0]
        entries = engine.knowledge.entries
        if any(c.doc_id not in entries for c in result.candidates):
            state.inconsistent += 1
        if result.top is not None:
            state.versions.add(result.top.doc_id[:1])
        now = time.perf_counter()
        (state.gaps if reloading[0] else state.idle_gaps).append(now - last)
        last = now
        # Let the event loop run the reload's completion between two questions.
        await asyncio.sleep(0)


async def reload_while_answering(
    holder: EngineHolder, directories: list[Path], questions: list[tuple[str, str]], reloads: int
) -> tuple[list[float], Answering]:
    """Reload `reloads` times (alternating `directories`) while a task answers."""
    state = Answering()
    stop = asyncio.Event()
    reloading = [False]
    task = asyncio.create_task(answer_continuously(holder, questions, stop, state, reloading))
    await asyncio.sleep(0.5)  # answering at full speed before the first reload
    times: list[float] = []
    for n in range(reloads):
        reloading[0] = True
        started = time.perf_counter()
        result = await holder.reload(directories[n % len(directories)])
        times.append(time.perf_counter() - started)
        reloading[0] = False
        if not result.ok:
            state.errors.append("reload failed: " + "; ".join(result.errors[:3]))
        await asyncio.sleep(0.3)
    stop.set()
    await task
    return times, state


def main(argv: list[str] | None = None) -> int:
    """Run the reload benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=10_000, help="generated entries (10000)")
    parser.add_argument("--reloads", type=int, default=3, help="reloads while answering (3)")
    parser.add_argument("--semantic-entries", type=int, default=150,
                        help="entries of the semantic (e5) run; 0 skips it (150)")  # fmt: skip
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="bench-reload-") as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        asked_a = generate(root / "a", entries=args.entries, prefix="a")
        generate(root / "b", entries=args.entries, prefix="b")
        size = sum(p.stat().st_size for p in (root / "a").iterdir()) / 1e6
        print(
            f"bench_reload: generated 2 x {args.entries} entries ({size:.1f} MB of YAML each)"
            f" in {time.perf_counter() - started:.1f} s"
        )
        settings = settings_for(root / "a", root / "cache", semantic=False)
        engine, first = timed_build(settings, None)
        print("\nlexical (SEMANTIC_ENABLED=false)")
        print(f"  build alone: load + validate {first.load:.2f} s, index {first.index:.2f} s")
        holder = EngineHolder(engine, settings=settings, embedder=None)
        times, state = asyncio.run(
            reload_while_answering(holder, [root / "b", root / "a"], asked_a, args.reloads)
        )
        _report_concurrent(times, state)
        if args.semantic_entries:
            _semantic(root, args.semantic_entries, args.entries)
    return 0


def _report_concurrent(times: list[float], state: Answering) -> None:
    print(f"  {len(times)} reloads while answering: " + ", ".join(f"{t:.2f} s" for t in times))
    print(
        f"  questions: asked {state.asked}, answered {state.answered}"
        f" (dropped {state.asked - state.answered}), {state.during_reload} during reloads"
    )
    print(
        f"  answers naming an id missing from their own engine: {state.inconsistent};"
        f" versions answered from: {sorted(state.versions)}"
    )
    for label, gaps in (("no reload running", state.idle_gaps), ("during reloads", state.gaps)):
        if gaps:
            print(
                f"  time between two answers, {label}: p50 {percentile(gaps, 0.5) * 1000:.1f} ms,"
                f" p99 {percentile(gaps, 0.99) * 1000:.1f} ms, max {max(gaps) * 1000:.0f} ms"
            )
    print("  (the reload builds in a thread; it shares the GIL with the answering task)")
    for error in state.errors[:5]:
        print(f"  ERROR {error}")


def _semantic(root: Path, entries: int, full: int) -> None:
    from bot.admin.editing import add_alternate_question
    from bot.matching import load_embedder

    directory = root / "semantic"
    generate(directory, entries=entries, prefix="s")
    settings = settings_for(directory, root / "semantic-cache", semantic=True)
    started = time.perf_counter()
    embedder = load_embedder(settings.embedding_model)
    model_load = time.perf_counter() - started
    engine, cold = timed_build(settings, embedder)
    _, warm = timed_build(settings, embedder)
    # Questions and the title in each language are embedded (keywords are not).
    texts = sum(len(e.questions.all()) + 2 for e in engine.knowledge.entries.values())
    rate = texts / cold.index if cold.index else 0.0
    print(f"\nsemantic (e5), {entries} entries, ~{texts} phrasings embedded")
    print(f"  model load {model_load:.1f} s")
    print(
        f"  first build: load {cold.load:.2f} s, index {cold.index:.1f} s ({rate:.0f} phrasings/s)"
    )
    print(f"  reload, cache warm: load {warm.load:.2f} s, index {warm.index:.2f} s")
    # What an admin's "add this question" costs: only the new phrasing is embedded.
    first_id = next(iter(engine.knowledge.entries))
    add_alternate_question(directory, first_id, "管理员新加的一个问题", lang="zh")
    _, edited = timed_build(settings, embedder)
    print(
        f"  reload after adding one question: load {edited.load:.2f} s, index {edited.index:.2f} s"
    )
    if rate:
        estimate = texts / entries * full / rate
        print(
            f"  extrapolated first build of {full} entries: ~{estimate / 60:.0f} min of embedding;"
            " later edits embed only new phrasings"
        )


if __name__ == "__main__":
    raise SystemExit(main())
