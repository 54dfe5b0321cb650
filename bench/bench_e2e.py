"""End-to-end load: the bot process against a fake Bot API, compared with a bare PTB echo bot.

    python -m bench.bench_e2e                      # full size (~9 minutes on 2 cores)
    python -m bench.bench_e2e --questions 2000 --users 200 --rl-questions 300
    python -m bench.bench_e2e --api-latency-ms 50 --sequential-echo   # a distant Bot API

What runs, each as its own `python -m ...` process against `bench._fake.FastBotApi`
on 127.0.0.1, with long polling (getUpdates), as in production:

1. `bench.echo_bot`, the baseline: a bare PTB bot on PTB's own HTTP request (the
   app's concurrency and pool size), escaping and echoing text; run again after
   (2) as the machine may be shared, and the baseline is the mean of the two.
   Also once on the bot's own transport (aiohttp): the help-desk bot against
   that run is the cost of our own code alone, with the HTTP layer equal.
2. `bot run` with RATE_LIMIT=false, lexical matching (SEMANTIC_ENABLED=false).
3. `bot run` with semantic matching on (the shipped default; e5 embeddings are
   built into a temporary cache first, which is not timed). The matcher caches
   the vector of each text the model has read, and drops endings and polite
   openers before it reads one, so these questions vary by what the resident says
   about themselves ("我家在和平区，", "asking for my mother, ", ...:
   `resident_questions`): each is new to the bot. The model reads those the words
   do not decide (about half); the run prints how many texts it reads, and how
   many differ.
   Then the echo bot once more: the two echo runs around the semantic run are its
   baseline.
4. `bot run` as shipped, RATE_LIMIT=true and semantic matching on: a burst of
   questions (varied as in 3); replies must all arrive, at about
   Telegram's 30 messages/second.

The echo and lexical runs push the questions (tests/data/eval.yaml's `q` values,
cycling with other trailing punctuation each round, so no text repeats and nothing is answered
from the bot's caches; `--cycle` repeats them word for word instead) from
`--users` residents round-robin, all at once ("backlog": measures throughput),
then a paced phase at half the measured throughput ("paced": measures latency
when the bot keeps up). Latency is from the moment an update is available to
getUpdates to the moment its sendMessage reaches the fake (a chat's k-th reply
answers its k-th question). Flood control is set out of the way
(FLOOD_MESSAGES=1000000): it is exercised by the tests, not measured here.

Figures only; nothing is asserted. The machine may be shared: the 1-minute
load average is printed with the results, and ratios within one run are the
figures to compare.
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench._fake import FastBotApi
from bot.evaluation import load_eval_questions, percentile
from tests.reliability.processes import (
    REPO,
    BotProcess,
    bot_environment,
    start_process,
    wait_until,
)
from tests.telegram import factories as f
from tests.telegram.factories import Resident

EVAL_FILE = REPO / "tests" / "data" / "eval.yaml"
#: Questions answered before timing starts (imports, jieba dictionary, first connections).
WARMUP = 100
#: The paced phase lasts about this long.
PACED_SECONDS = 8.0
#: New questions set aside for the paced phase (half of 400 updates/s for 8 s;
#: a faster run repeats some, and says how many).
PACED_QUESTIONS = 1600


def load_questions(path: Path = EVAL_FILE) -> list[str]:
    """The `q` values of the evaluation set, in file order."""
    return [item.q for item in load_eval_questions(path) if item.q.strip()]


#: Endings residents type differently and normalisation removes: with `--distinct`
#: the k-th round through the questions gets the k-th, so no text repeats exactly.
_ENDINGS = ("", "?", "？", "。", "!", "！", " ?", "...", "？？", "~",
            "…", "!!", "。。", " !", "?!", "？！", "!?", "～", ",", "，")  # fmt: skip


def distinct_questions(questions: list[str], count: int) -> list[str]:
    """`count` questions, each text different, cycling `questions` with other endings.

    Repeated texts are answered from the bot's caches of recent verdicts and
    replies; this measures the work of a question seen for the first time.
    """
    rounds = -(-count // len(questions))
    if rounds > len(_ENDINGS):
        raise ValueError(f"at most {len(_ENDINGS) * len(questions)} distinct questions")
    return [q + _ENDINGS[k] for k in range(rounds) for q in questions][:count]


#: What residents say about themselves before the question; with `resident_questions`
#: the k-th round through the questions gets the k-th. The matcher drops polite
#: openers ("我想问一下", "excuse me": `strip_greeting`) before the model reads a
#: text, so those would make no new text; these are words of the question, which
#: the model reads (`model_texts`).
_CONTEXTS_ZH = ("", "我家在和平区，", "我住皇姑区，", "帮我妈问的，", "我爸让我问，", "替家里老人问，",
                "我是外地户口，", "我刚搬来沈阳，", "我在铁西区，", "我们小区的，", "我今年六十五了，",
                "孩子让我问，", "我住大东区，", "我在浑南，", "我家在沈河区，", "朋友托我问，",
                "我是退休职工，", "邻居让我问，", "我住于洪区，", "我在苏家屯，")  # fmt: skip
_CONTEXTS_EN = ("", "i live in heping district, ", "asking for my mother, ",
                "my father wants to know, ", "for an elderly relative, ", "i am not from here, ",
                "i just moved to the city, ", "i live downtown, ", "in our neighbourhood, ",
                "i am 65, ", "my child asked me, ", "i live near the station, ",
                "i live in the south, ", "i live in the north, ", "a friend asked me, ",
                "i am retired, ", "my neighbour asked, ", "i rent a flat here, ",
                "i work in the city, ", "for my grandmother, ")  # fmt: skip


def resident_questions(questions: list[str], count: int) -> list[str]:
    """`count` questions whose texts all differ after the matcher's normalisation and
    opener stripping: each round another thing residents say about themselves.

    The matcher caches the vector of each text the model has read, so the semantic
    run needs texts that differ in their words for the model to read them anew, as
    it does new residents' questions (`model_texts`).
    """
    rounds = -(-count // len(questions))
    if rounds > len(_CONTEXTS_ZH):
        raise ValueError(f"at most {len(_CONTEXTS_ZH) * len(questions)} distinct questions")
    return [
        (_CONTEXTS_EN if q.isascii() else _CONTEXTS_ZH)[k] + q
        for k in range(rounds)
        for q in questions
    ][:count]


@dataclass
class RunResult:
    """The figures of one process under load."""

    name: str
    questions: int
    replies: int
    seconds: float
    backlog_p50: float
    backlog_p99: float
    paced_rate: float
    paced_p50: float
    paced_p99: float
    paced_lost: int
    #: Paced updates beyond the questions set aside for that phase (so repeated).
    paced_repeated: int
    peak_rss_mib: float | None
    worker_rss_mib: float
    cpu_ms_per_update: float | None
    #: The part of it spent in child processes (the e5 worker).
    worker_cpu_ms_per_update: float
    rejected: int
    max_per_second: int
    #: getUpdates calls per update during the backlog phase (1/100 is the least possible).
    polls_per_update: float = 0.0

    @property
    def throughput(self) -> float:
        """Replies per second during the backlog phase."""
        return self.replies / self.seconds if self.seconds > 0 else 0.0

    @property
    def lost(self) -> int:
        """Questions of the backlog phase that got no reply."""
        return self.questions - self.replies


def _updates(questions: list[str], count: int, users: list[Resident]) -> list[dict[str, Any]]:
    return [f.message(users[i % len(users)], questions[i % len(questions)]) for i in range(count)]


def _latencies(
    api: FastBotApi, pushed: dict[int, list[float]], since: dict[int, int]
) -> tuple[list[float], int]:
    """Seconds from availability to reply, pairing each chat's replies with its questions in order."""
    latencies: list[float] = []
    lost = 0
    for chat_id, times in pushed.items():
        replies = api.replies.get(chat_id, [])[since.get(chat_id, 0) :]
        latencies += [r.at - t for r, t in zip(replies, times, strict=False)]
        lost += max(0, len(times) - len(replies))
    return latencies, lost


def _max_per_second(api: FastBotApi, start: float) -> int:
    """The most replies in any one-second window after `start`."""
    times = sorted(r.at for replies in api.replies.values() for r in replies if r.at >= start)
    best, lo = 0, 0
    for hi, t in enumerate(times):
        while t - times[lo] >= 1.0:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def run_load(
    name: str,
    module_args: list[str],
    env_overrides: dict[str, str],
    questions: list[str],
    *,
    count: int,
    user_count: int,
    workdir: Path,
    paced: bool = True,
    latency: float = 0.0,
    start_timeout: float = 300.0,
) -> RunResult:
    """Start one process, warm it up, load it, and measure it."""
    workdir.mkdir(parents=True, exist_ok=True)
    with FastBotApi(send_latency=latency) as api:
        env = bot_environment(api.url, workdir, **env_overrides)
        process = start_process(module_args, env, workdir, name=name)
        try:
            if (
                not wait_until(
                    lambda: api.get_updates_calls > 0 or process.process.poll() is not None,
                    timeout=start_timeout,
                )
                or process.process.poll() is not None
            ):
                raise RuntimeError(f"{name} did not start polling:\n{process.log_tail()}")
            warm = [Resident.new() for _ in range(20)]
            # From the end of the list: no measured question repeats them.
            api.push_many(_updates(questions[-WARMUP:], WARMUP, warm))
            api.wait_replies(WARMUP, timeout=120, idle=30)
            return _measure(name, api, process, questions, count, user_count, paced)
        finally:
            process.stop()


def _measure(
    name: str,
    api: FastBotApi,
    process: BotProcess,
    questions: list[str],
    count: int,
    user_count: int,
    paced: bool,
) -> RunResult:
    users = [Resident.new() for _ in range(user_count)]
    cpu_before = process.cpu_seconds()
    worker_cpu_before = process.children_cpu_seconds()
    polls_before = api.get_updates_calls
    base = api.reply_count
    since = {u.id: len(api.replies.get(u.id, [])) for u in users}
    updates = _updates(questions, count, users)
    ids = api.push_many(updates)
    start = api.available_at[ids[0]]
    # A run that stalls for a minute has lost the rest: stop waiting and count.
    api.wait_replies(base + count, timeout=max(120.0, count / 5), idle=60)
    cpu_after = process.cpu_seconds()
    worker_cpu_after = process.children_cpu_seconds()
    polls = api.get_updates_calls - polls_before
    got = api.reply_count - base
    last = max((r.at for u in users for r in api.replies.get(u.id, [])), default=start)
    pushed: dict[int, list[float]] = defaultdict(list)
    for update, update_id in zip(updates, ids, strict=True):
        pushed[update["message"]["chat"]["id"]].append(api.available_at[update_id])
    backlog, _ = _latencies(api, pushed, since)
    max_rate = _max_per_second(api, start)
    seconds = last - start

    paced_rate, paced_lost, paced_repeated = 0.0, 0, 0
    paced_lat: list[float] = []
    if paced and got:
        paced_rate = max(1.0, 0.5 * got / max(seconds, 1e-6))
        # Questions the backlog did not ask (and not the warm-up's, at the end), so
        # the paced figures are new questions too; with none left (`--cycle`, or a
        # backlog of nearly all) it repeats the backlog's, and says how many.
        new = questions[count : len(questions) - WARMUP]
        paced_lat, paced_lost = _paced(api, new or questions[:count], users, paced_rate)
        paced_repeated = max(0, _paced_total(paced_rate) - len(new))
    cpu = (
        (cpu_after - cpu_before) * 1000 / got
        if cpu_before is not None and cpu_after is not None and got
        else None
    )
    rss = process.peak_rss_kib()
    worker_rss = process.children_peak_rss_kib()
    return RunResult(
        name=name,
        questions=count,
        replies=got,
        seconds=seconds,
        backlog_p50=_latency(backlog, 0.5),
        backlog_p99=_latency(backlog, 0.99),
        paced_rate=paced_rate,
        paced_p50=_latency(paced_lat, 0.5),
        paced_p99=_latency(paced_lat, 0.99),
        paced_lost=paced_lost,
        paced_repeated=paced_repeated,
        peak_rss_mib=rss / 1024 if rss is not None else None,
        worker_rss_mib=worker_rss / 1024,
        cpu_ms_per_update=cpu,
        worker_cpu_ms_per_update=(worker_cpu_after - worker_cpu_before) * 1000 / max(got, 1),
        rejected=len(api.rejected),
        max_per_second=max_rate,
        polls_per_update=polls / got if got else 0.0,
    )


def _paced_total(rate: float) -> int:
    return max(20, int(rate * PACED_SECONDS))


def _paced(
    api: FastBotApi, questions: list[str], users: list[Resident], rate: float
) -> tuple[list[float], int]:
    """Push at `rate` updates/second for PACED_SECONDS; latencies and losses."""
    total = _paced_total(rate)
    since = {u.id: len(api.replies.get(u.id, [])) for u in users}
    base = api.reply_count
    updates = _updates(questions, total, users)
    pushed: dict[int, list[float]] = defaultdict(list)
    tick = 0.01
    per_tick = rate * tick
    credit = 0.0
    i = 0
    next_at = time.perf_counter()
    while i < total:
        credit += per_tick
        batch = updates[i : i + int(credit)]
        credit -= len(batch)
        if batch:
            for update, update_id in zip(batch, api.push_many(batch), strict=True):
                pushed[update["message"]["chat"]["id"]].append(api.available_at[update_id])
            i += len(batch)
        next_at += tick
        time.sleep(max(0.0, next_at - time.perf_counter()))
    api.wait_replies(base + total, timeout=120, idle=30)
    return _latencies(api, pushed, since)


# ----- report ------------------------------------------------------------------------------


def _latency(seconds: list[float], share: float) -> float:
    """A percentile of latencies; NaN (printed "-") when there are none."""
    return percentile(seconds, share) if seconds else math.nan


def _ms(seconds: float) -> str:
    return "-" if seconds != seconds else f"{seconds * 1000:.0f} ms"


def _print_result(r: RunResult) -> None:
    print(f"\n[{r.name}]")
    print(
        f"  backlog: {r.replies}/{r.questions} replies in {r.seconds:.1f} s"
        f" = {r.throughput:.0f} updates/s (lost {r.lost}, refused by Telegram's checks {r.rejected})"
    )
    print(
        f"           latency p50 {_ms(r.backlog_p50)}, p99 {_ms(r.backlog_p99)} (queueing included)"
    )
    if r.paced_rate:
        print(
            f"  paced at {r.paced_rate:.0f}/s: latency p50 {_ms(r.paced_p50)},"
            f" p99 {_ms(r.paced_p99)}, lost {r.paced_lost}"
            + (f" ({r.paced_repeated} asked questions seen before)" if r.paced_repeated else "")
        )
    print(
        f"  busiest second: {r.max_per_second} replies;"
        f" getUpdates calls per update {r.polls_per_update:.2f}"
    )
    rss = f"{r.peak_rss_mib:.0f} MiB" if r.peak_rss_mib is not None else "?"
    cpu = f"{r.cpu_ms_per_update:.2f} ms" if r.cpu_ms_per_update is not None else "?"
    if r.worker_rss_mib:
        rss += f" + {r.worker_rss_mib:.0f} MiB in the e5 worker process"
    if r.worker_cpu_ms_per_update:
        cpu += f", {r.worker_cpu_ms_per_update:.2f} ms of it in the e5 worker"
    print(f"  peak RSS (VmHWM) {rss}; CPU per update {cpu} (child processes included)")


def app_concurrency() -> tuple[int, int]:
    """PTB's concurrent updates (and HTTP pool size) the app configures: lexical, semantic."""
    from bot.config import Settings
    from bot.telegram.app import concurrent_updates

    def under(semantic: bool) -> int:
        return concurrent_updates(Settings(_env_file=None, semantic_enabled=semantic))  # type: ignore[call-arg]

    return under(False), under(True)


def breakdown(questions: list[str], *, count: int = 2000) -> dict[str, float]:
    """Milliseconds per question of each step of the bot's own work, in this process.

    No network and no PTB: the matcher alone, `ConversationService.ask` (matcher, language
    lookup and the background record in a real SQLite file) and rendering for Telegram.
    """
    import asyncio

    from bot.config import Settings
    from bot.conversation import User
    from bot.services import Services
    from bot.telegram.render import render_reply

    async def measure(tmp: Path) -> dict[str, float]:
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            knowledge_dir=REPO / "knowledge",
            database_path=tmp / "helpdesk.sqlite3",
            embedding_cache_dir=tmp / "cache",
            semantic_enabled=False,
        )
        services = await Services.open(settings)
        try:
            sample = [questions[i % len(questions)] for i in range(count)]
            engine = services.engines.current
            started = time.perf_counter()
            for question in sample:
                engine.answer(question)
            matcher = time.perf_counter() - started
            started = time.perf_counter()
            replies = [
                await services.conversation.ask(User(1_000 + i % 100, "zh-hans"), q)
                for i, q in enumerate(sample)
            ]
            await services.conversation.drain()
            ask = time.perf_counter() - started
            started = time.perf_counter()
            for reply in replies:
                for chunk in render_reply(reply):
                    if chunk.markup is not None:
                        chunk.markup.to_json()
            render = time.perf_counter() - started
        finally:
            await services.close()
        return {
            "matcher": matcher * 1000 / count,
            "ask (matcher + language lookup + record)": ask * 1000 / count,
            "render + keyboard JSON": render * 1000 / count,
        }

    with tempfile.TemporaryDirectory(prefix="bench-breakdown-") as tmp:
        return asyncio.run(measure(Path(tmp)))


def main(argv: list[str] | None = None) -> int:
    """Run the end-to-end benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--questions", type=int, default=10_000, help="backlog size (10000)")
    parser.add_argument("--users", type=int, default=1_000, help="residents asking (1000)")
    parser.add_argument("--semantic-questions", type=int, default=10_000,
                        help="backlog of the semantic run; 0 skips it (10000)")  # fmt: skip
    parser.add_argument("--rl-questions", type=int, default=1_500,
                        help="burst of the rate-limited run; 0 skips it (1500)")  # fmt: skip
    parser.add_argument("--rl-users", type=int, default=300, help="residents of that burst (300)")
    parser.add_argument("--api-latency-ms", type=float, default=0.0,
                        help="the fake answers sendMessage this late, like a distant API (0)")  # fmt: skip
    parser.add_argument("--cycle", action="store_true",
                        help="repeat the questions word for word (cache hits) instead of varying them")  # fmt: skip
    parser.add_argument("--sequential-echo", action="store_true",
                        help="also run the echo bot one update at a time (PTB's default)")  # fmt: skip
    args = parser.parse_args(argv)

    base = questions = load_questions()
    if not args.cycle and args.rl_questions + WARMUP > len(_CONTEXTS_ZH) * len(base):
        parser.error(f"--rl-questions: at most {len(_CONTEXTS_ZH) * len(base) - WARMUP}")
    print(f"bench_e2e: {len(questions)} distinct questions from {EVAL_FILE.relative_to(REPO)}")
    if args.cycle:
        print("--cycle: the questions repeat word for word, so most replies come from caches")
    else:
        # The measured questions first, then those of the paced phase, then the
        # warm-up's (taken from the end): none repeats another.
        most = len(_ENDINGS) * len(questions)
        questions = distinct_questions(
            questions, min(most, WARMUP + args.questions + PACED_QUESTIONS)
        )
        print("every question text differs (endings vary): no cache hits")
    concurrent, semantic_concurrent = app_concurrency()
    print(
        f"the app: concurrent_updates={concurrent}, {semantic_concurrent} with the sentence model"
        " (1: one update at a time), HTTP pool the same; the echo bot gets the first"
    )
    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    fast = {"FLOOD_MESSAGES": "1000000"}
    results: list[RunResult] = []
    with tempfile.TemporaryDirectory(prefix="bench-e2e-") as tmp:
        root = Path(tmp)
        load = {
            "questions": questions,
            "count": args.questions,
            "user_count": args.users,
            "latency": args.api_latency_ms / 1000,
        }
        echo_args = ["bench.echo_bot", "--concurrent", str(concurrent), "--pool", str(concurrent)]
        echo = run_load("echo bot (bare PTB)", echo_args, {}, **load, workdir=root / "echo")
        results.append(echo)
        _print_result(echo)
        if args.sequential_echo:
            sequential = run_load(
                "echo bot, one update at a time", ["bench.echo_bot"], {}, **load,
                workdir=root / "echo-sequential",
            )  # fmt: skip
            results.append(sequential)
            _print_result(sequential)
        ours = run_load(
            "help-desk bot, RATE_LIMIT=false, lexical",
            ["bot", "run"],
            {**fast, "RATE_LIMIT": "false", "SEMANTIC_ENABLED": "false"},
            **load,
            workdir=root / "lexical",
        )
        results.append(ours)
        _print_result(ours)
        same_transport = run_load(
            "echo bot on the bot's transport (aiohttp)", [*echo_args, "--transport", "aiohttp"],
            {}, **load, workdir=root / "echo-aiohttp", paced=False,
        )  # fmt: skip
        results.append(same_transport)
        _print_result(same_transport)
        # The machine may be shared: a second echo run brackets ours in time.
        again = run_load(
            "echo bot (bare PTB), again", echo_args, {}, **load, workdir=root / "echo2",
            paced=False,
        )  # fmt: skip
        results.append(again)
        _print_result(again)
        semantic = after = None
        if args.semantic_questions:
            semantic = _semantic_run(root / "semantic", args, fast)
            results.append(semantic)
            _print_result(semantic)
            # Its own bracket: the echo bot again, right after it.
            after = run_load(
                "echo bot (bare PTB), after the semantic run", echo_args, {}, **load,
                workdir=root / "echo3", paced=False,
            )  # fmt: skip
            results.append(after)
            _print_result(after)
        if args.rl_questions:
            # As shipped: rate limiting and the sentence model on, with the semantic
            # run's embedding cache when there was one.
            cache = root / "semantic" / "cache"
            if not args.semantic_questions:
                cache = root / "limited" / "cache"
                _build_semantic_cache(root / "limited")
            limited = run_load(
                "help-desk bot, RATE_LIMIT=true, semantic (burst)",
                ["bot", "run"],
                {
                    **fast,
                    "RATE_LIMIT": "true",
                    "SEMANTIC_ENABLED": "true",
                    "EMBEDDING_CACHE_DIR": str(cache),
                },
                questions if args.cycle else resident_questions(base, args.rl_questions + WARMUP),
                count=args.rl_questions,
                user_count=args.rl_users,
                workdir=root / "limited",
                paced=False,
                latency=args.api_latency_ms / 1000,
            )
            results.append(limited)
            _print_result(limited)
            print(
                f"  rate-limited: {limited.throughput:.1f} msgs/s sustained,"
                f" lost {limited.lost} of {limited.questions}"
            )

    print(f"\nload average after: {os.getloadavg()[0]:.2f}")
    baseline = (echo.throughput + again.throughput) / 2
    print(f"\nsummary (baseline: the mean of the two echo runs, {baseline:.0f} upd/s)")
    for r in results:
        ratio = r.throughput / baseline if baseline else 0.0
        print(f"  {r.name:<52} {r.throughput:7.0f} upd/s  {ratio:5.2f} x echo")
    target = ours.throughput / baseline if baseline else 0.0
    print(f"  target >= 0.80 x echo (rate limiting off): lexical {target:.2f}", end="")
    if semantic is not None and after is not None:
        # The echo runs just before and just after it, as the lexical run's bracket.
        bracket = (again.throughput + after.throughput) / 2
        ratio = semantic.throughput / bracket if bracket else 0.0
        print(f", semantic {ratio:.2f} (against the echo runs around it, {bracket:.0f} upd/s)")
    else:
        print()
    if same_transport.throughput:
        print(
            "  our own code's cost, the HTTP layer equal:"
            f" {ours.throughput / same_transport.throughput:.2f} x the echo bot on aiohttp"
        )
    print("\nwhere the bot's own time goes (in-process, lexical, per question):")
    for step, ms in breakdown(questions).items():
        print(f"  {step:<44} {ms:6.2f} ms")
    if echo.cpu_ms_per_update and ours.cpu_ms_per_update:
        print(
            f"  CPU per update in the processes: echo {echo.cpu_ms_per_update:.2f} ms,"
            f" ours {ours.cpu_ms_per_update:.2f} ms"
        )
    return 0


def _semantic_run(workdir: Path, args: argparse.Namespace, fast: dict[str, str]) -> RunResult:
    """Semantic matching on; the embedding cache is built first (untimed, can take a minute).

    The matcher caches the vector of each text the model has read, after endings and
    polite openers are dropped, so the questions vary by their words
    (`resident_questions`), the paced phase's and the warm-up's included. `--cycle` repeats the evaluation
    set's texts instead (vector cache hits).
    """
    base = load_questions()
    count = args.semantic_questions
    if args.cycle:
        questions = base
    else:
        most = len(_CONTEXTS_ZH) * len(base)
        questions = resident_questions(base, min(most, count + PACED_QUESTIONS + WARMUP))
        count = min(count, len(questions) - WARMUP)
    _build_semantic_cache(workdir)
    if not args.cycle:
        texts = model_texts(questions[:count], cache_dir=workdir / "cache")
        read = [t for t in texts if t is not None]
        print(
            f"(semantic run: {count} questions, words vary; the model reads {len(read)} of"
            f" them, {len(set(read))} different texts: the words decide the rest)"
        )
    return run_load(
        "help-desk bot, RATE_LIMIT=false, semantic (e5)",
        ["bot", "run"],
        {**fast, "RATE_LIMIT": "false", "SEMANTIC_ENABLED": "true"},
        questions,
        count=count,
        user_count=min(args.users, count),
        workdir=workdir,
        latency=args.api_latency_ms / 1000,
    )


def model_texts(questions: Sequence[str], *, cache_dir: Path) -> list[str | None]:
    """The text the sentence model reads for each question, None where the words
    decide: the shipped knowledge's matcher, run up to the model's step.

    Whether the words decide depends on how close the knowledge's entries are to
    one another in the model's eyes (`Weights.skip_semantic_alone_cosine`), so the
    knowledge is embedded by the real model (from `cache_dir` when it is there
    already); no question is. The model's worker process is ended before this
    returns, so it does not sit beside the runs that follow.
    """
    from bot.config import Settings
    from bot.e5.worker import shared_process
    from bot.runtime import open_engine

    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        semantic_enabled=True,
        # As the timed bot runs (`bot_environment` passes none of the caller's settings).
        embedding_model="e5",
        knowledge_dir=REPO / "knowledge",
        embedding_cache_dir=cache_dir,
    )
    try:
        matcher = open_engine(settings).current.matcher
    finally:
        shared_process().close()
    texts: list[str | None] = []
    for question in questions:
        try:
            texts.append(next(matcher.matching(question)))
        except StopIteration:
            texts.append(None)
    return texts


def _build_semantic_cache(workdir: Path) -> None:
    """Embed the knowledge into `workdir`'s cache, which the bot run there then loads
    (not timed: one `ask`, a few seconds with the model's worker)."""
    workdir.mkdir(parents=True, exist_ok=True)
    env = bot_environment("http://127.0.0.1:9", workdir, SEMANTIC_ENABLED="true")
    started = time.perf_counter()
    builder = start_process(["bot", "ask", "我想领证去哪"], env, workdir, name="cache")
    builder.process.wait()
    print(f"\n(semantic index built into a fresh cache in {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    raise SystemExit(main())
