"""Soak: the bot process under steady traffic while everything around it fails, for minutes.

    python -m bench.soak                      # 10 minutes, 10 questions/s (`make soak`)
    python -m bench.soak --minutes 2 --faults 429,drop-poll,db-lock,bad-knowledge

The long version of tests/reliability. `python -m bot run` (RATE_LIMIT=true as in
production, AUTO_RELOAD=true on a copy of knowledge/, lexical matching) polls
`tests.reliability.faulty_api.FaultyBotApi` while residents ask identifiable
questions (each answer names its entry, see tests/reliability/scenario.py) at
`--rate` per second, and the soak keeps injecting, at random moments:

    429        sendMessage answered 429 retry_after=1
    500        sendMessage answered 500
    drop       sendMessage connection closed without a response
    stall      sendMessage held past the bot's 15 s read timeout
    429-poll, 500-poll, drop-poll   the same on getUpdates
    db-lock    another connection holds BEGIN EXCLUSIVE for 3 s
    bad-knowledge  a knowledge file broken for 6 s (auto-reload must keep the old one)
    kill       SIGKILL, then a restart of the process

At the end: questions asked, answered at least once, lost (with the fault each
loss follows from), duplicated and out-of-order answers, database rows, and the
memory of each process over time (a leak shows as a climbing VmRSS).
Exit status 1 when a question was never answered, else 0. No timing is judged.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sqlite3
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tests.reliability.faulty_api import STALL_SECONDS, FaultyBotApi
from tests.reliability.processes import (
    REPO,
    BotProcess,
    bot_environment,
    start_process,
    wait_until,
)
from tests.reliability.scenario import answered_entry, identifiable_questions
from tests.telegram import factories as f
from tests.telegram.factories import Resident
from tests.telegram.fake_api import ApiCall

ALL_FAULTS = (
    "429", "500", "drop", "stall", "429-poll", "500-poll", "drop-poll",
    "db-lock", "bad-knowledge", "kill",
)  # fmt: skip
#: Seconds between two faults of the Telegram kind (chosen at random among those enabled).
FAULT_EVERY = 2.0
#: Seconds between two of each of the slower faults.
EVERY = {"stall": 90.0, "db-lock": 60.0, "bad-knowledge": 45.0, "kill": 150.0}
#: Residents active at once; each asks this many different questions, then a new one comes.
ACTIVE_RESIDENTS = 100
QUESTIONS_EACH = 10


@dataclass
class Soak:
    """The state of one soak run."""

    api: FaultyBotApi
    workdir: Path
    knowledge: Path
    env: dict[str, str]
    rng: random.Random
    process: BotProcess | None = None
    processes: list[BotProcess] = field(default_factory=list)
    residents: list[Resident] = field(default_factory=list)
    plan: dict[int, list[str]] = field(default_factory=lambda: defaultdict(list))
    injected: Counter[str] = field(default_factory=Counter)
    rss: list[tuple[float, int, int]] = field(default_factory=list)
    asked: int = 0

    # ----- the bot process ------------------------------------------------------------

    def start(self) -> None:
        """Start a bot process and wait until it polls."""
        mark = self.api.mark()
        name = f"bot-{len(self.processes) + 1}"
        self.process = start_process(["bot", "run"], self.env, self.workdir, name=name)
        self.processes.append(self.process)
        self.api.wait_for_blocking("getUpdates", since=mark, timeout=120)

    def kill_and_restart(self) -> None:
        """SIGKILL the bot and start it again."""
        assert self.process is not None
        self.process.kill()
        self.start()

    # ----- traffic ----------------------------------------------------------------------

    def ask_next(self) -> None:
        """One more question, from the pool of active residents."""
        pairs = identifiable_questions()
        block, slot = divmod(self.asked, ACTIVE_RESIDENTS * QUESTIONS_EACH)
        index = block * ACTIVE_RESIDENTS + slot % ACTIVE_RESIDENTS
        while len(self.residents) <= index:
            self.residents.append(Resident.new())
        resident = self.residents[index]
        k = len(self.plan[resident.id])
        question, entry = pairs[(index * 7 + k) % len(pairs)]
        self.plan[resident.id].append(entry)
        self.api.push(f.message(resident, question))
        self.asked += 1

    # ----- faults ---------------------------------------------------------------------------

    def telegram_fault(self, kind: str) -> None:
        """Arm one Telegram fault of `kind`."""
        method = "getUpdates" if kind.endswith("-poll") else "sendMessage"
        base = kind.removesuffix("-poll")
        if base == "429":
            self.api.fail_next(method, code=429, retry_after=1)
        elif base == "500":
            self.api.fail_next(method, code=500)
        elif base == "drop":
            self.api.drop_next(method)
        elif base == "stall":
            self.api.stall_next(method, STALL_SECONDS)
        self.injected[kind] += 1

    def sample_memory(self, started: float) -> None:
        """Note the current and peak resident memory of the running process."""
        if self.process is None:
            return
        rss = self.process.rss_kib()
        if rss is not None:
            self.rss.append((time.monotonic() - started, rss, len(self.processes)))


class _Timed:
    """Runs an action every `interval` seconds (with jitter), and an undo `hold` seconds later."""

    def __init__(
        self,
        interval: float,
        action: Callable[[], None],
        rng: random.Random,
        *,
        undo: Callable[[], None] | None = None,
        hold: float = 0.0,
    ) -> None:
        self.interval, self.action, self.undo, self.hold, self.rng = (
            interval,
            action,
            undo,
            hold,
            rng,
        )
        self.next_at = time.monotonic() + interval * rng.uniform(0.3, 1.0)
        self.undo_at: float | None = None

    def tick(self, now: float) -> None:
        if self.undo_at is not None and now >= self.undo_at:
            assert self.undo is not None
            self.undo()
            self.undo_at = None
        if now >= self.next_at and self.undo_at is None:
            self.action()
            if self.undo is not None:
                self.undo_at = now + self.hold
            self.next_at = now + self.interval * self.rng.uniform(0.7, 1.3)

    def finish(self) -> None:
        if self.undo_at is not None and self.undo is not None:
            self.undo()
            self.undo_at = None


def run(minutes: float, rate: float, faults: set[str], seed: int) -> int:
    """The soak; returns the exit status."""
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp, FaultyBotApi() as api:
        workdir = Path(tmp)
        knowledge = workdir / "knowledge"
        shutil.copytree(REPO / "knowledge", knowledge)
        env = bot_environment(
            api.url,
            workdir,
            KNOWLEDGE_DIR=str(knowledge),
            SEMANTIC_ENABLED="false",
            RATE_LIMIT="true",
            AUTO_RELOAD="true",
            FLOOD_MESSAGES="1000",
            LOG_LEVEL="WARNING",
        )
        soak = Soak(api, workdir, knowledge, env, rng)
        print(f"soak: {minutes:g} min at {rate:g} questions/s; faults: {', '.join(sorted(faults))}")
        soak.start()
        timers = _timers(soak, faults, rng)
        started = time.monotonic()
        credit = 0.0
        next_sample = started
        next_print = started + 30
        while time.monotonic() - started < minutes * 60:
            now = time.monotonic()
            credit += rate * 0.05
            while credit >= 1:
                soak.ask_next()
                credit -= 1
            for timer in timers:
                timer.tick(now)
            if now >= next_sample:
                soak.sample_memory(started)
                next_sample = now + 10
            if now >= next_print:
                answered = len([c for c in api.calls("sendMessage") if c.error is None])
                print(
                    f"  {now - started:5.0f} s: asked {soak.asked}, answers sent {answered},"
                    f" faults {sum(soak.injected.values())}"
                )
                next_print = now + 30
            time.sleep(0.05)
        for timer in timers:
            timer.finish()
        print("soak: traffic stopped; waiting for the bot to catch up")
        wait_until(api.all_confirmed, timeout=120)
        _wait_quiet(api, seconds=3.0, timeout=120)
        soak.sample_memory(started)
        assert soak.process is not None
        code = soak.process.stop()
        return _report(soak, code)


def _timers(soak: Soak, faults: set[str], rng: random.Random) -> list[_Timed]:
    timers: list[_Timed] = []
    quick = sorted(faults & {"429", "500", "drop", "429-poll", "500-poll", "drop-poll"})
    if quick:
        timers.append(_Timed(FAULT_EVERY, lambda: soak.telegram_fault(rng.choice(quick)), rng))
    if "stall" in faults:
        timers.append(_Timed(EVERY["stall"], lambda: soak.telegram_fault("stall"), rng))
    if "db-lock" in faults:
        holder: list[sqlite3.Connection] = []

        def lock() -> None:
            db = sqlite3.connect(soak.workdir / "helpdesk.sqlite3", isolation_level=None)
            try:
                db.execute("BEGIN EXCLUSIVE")
            except sqlite3.Error:
                db.close()
                return
            holder.append(db)
            soak.injected["db-lock"] += 1

        def unlock() -> None:
            while holder:
                db = holder.pop()
                db.execute("ROLLBACK")
                db.close()

        timers.append(_Timed(EVERY["db-lock"], lock, rng, undo=unlock, hold=3.0))
    if "bad-knowledge" in faults:
        target = soak.knowledge / "marriage.yaml"
        original = target.read_bytes()

        def spoil() -> None:
            target.write_bytes(original + b"\n  - id: [unclosed\n")
            soak.injected["bad-knowledge"] += 1

        def restore() -> None:
            target.write_bytes(original)

        timers.append(
            _Timed(
                EVERY["bad-knowledge"],
                spoil,
                rng,
                undo=restore,
                hold=6.0,
            )
        )
    if "kill" in faults:

        def kill() -> None:
            soak.kill_and_restart()
            soak.injected["kill"] += 1

        timers.append(_Timed(EVERY["kill"], kill, rng))
    return timers


def _wait_quiet(api: FaultyBotApi, *, seconds: float, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last = -1
    while time.monotonic() < deadline:
        count = len(api.calls())
        if count == last:
            return
        last = count
        time.sleep(seconds)


def _report(soak: Soak, exit_code: int) -> int:
    calls = soak.api.calls()
    sends = [c for c in calls if c.method == "sendMessage"]
    by_chat: dict[int, list[ApiCall]] = defaultdict(list)
    for call in sends:
        chat = call.params.get("chat_id")
        if isinstance(chat, int):
            by_chat[chat].append(call)
    lost = duplicates = disordered = 0
    lost_after: Counter[str] = Counter()
    examples: list[str] = []
    for resident in soak.residents:
        expected = soak.plan.get(resident.id, [])
        if not expected:
            continue
        chat_calls = by_chat.get(resident.id, [])
        got = [answered_entry(c) for c in chat_calls if c.error is None]
        firsts = list(dict.fromkeys(e for e in got if e))
        duplicates += len([e for e in got if e]) - len(firsts)
        if [e for e in firsts if e in expected] != [e for e in expected if e in firsts]:
            disordered += 1
        for entry in expected:
            if entry in firsts:
                continue
            lost += 1
            failed = [c for c in chat_calls if c.error is not None and answered_entry(c) == entry]
            lost_after[_fault_name(failed[-1].error) if failed else "kill or other"] += 1
            if len(examples) < 5:
                attempts = [_fault_name(c.error) for c in failed] or ["none sent"]
                examples.append(f"chat {resident.id}, {entry}: attempts {attempts}")
    rows = _rows(soak.workdir / "helpdesk.sqlite3")
    print("\nsoak results")
    print(f"  questions asked {soak.asked}, residents {len(soak.residents)}")
    print(f"  faults injected: {dict(sorted(soak.injected.items()))}")
    failed_sends = Counter(_fault_name(c.error) for c in sends if c.error is not None)
    print(f"  failed sendMessage attempts: {dict(sorted(failed_sends.items()))}")
    print(f"  answered at least once {soak.asked - lost}; LOST {lost} {dict(lost_after)}")
    for example in examples:
        print(f"    lost: {example}")
    print(f"  duplicated answers {duplicates}; chats with answers out of order {disordered}")
    print(f"  database rows (questions) {rows}")
    for n in range(1, len(soak.processes) + 1):
        samples = [kib for _, kib, p in soak.rss if p == n]
        if samples:
            print(
                f"  process {n}: VmRSS first {samples[0] / 1024:.0f} MiB,"
                f" last {samples[-1] / 1024:.0f} MiB, max {max(samples) / 1024:.0f} MiB"
                f" ({len(samples)} samples)"
            )
    print(f"  last process exit code {exit_code}")
    return 1 if lost or exit_code != 0 else 0


def _fault_name(error: int | None) -> str:
    return {-1: "drop", -2: "stall", 429: "429", 500: "500"}.get(error or 0, str(error))


def _rows(path: Path) -> int | None:
    try:
        with sqlite3.connect(path) as db:
            ((count,),) = db.execute("SELECT count(*) FROM questions")
        return int(count)
    except sqlite3.Error:
        return None


def main(argv: list[str] | None = None) -> int:
    """Run the soak and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="duration (10)")
    parser.add_argument("--rate", type=float, default=10.0, help="questions per second (10)")
    parser.add_argument("--faults", default=",".join(ALL_FAULTS),
                        help=f"comma-separated, of: {', '.join(ALL_FAULTS)} (all)")  # fmt: skip
    parser.add_argument("--seed", type=int, default=1, help="random seed (1)")
    args = parser.parse_args(argv)
    faults = {name.strip() for name in args.faults.split(",") if name.strip()}
    unknown = faults - set(ALL_FAULTS)
    if unknown:
        parser.error(f"unknown faults: {', '.join(sorted(unknown))}")
    return run(args.minutes, args.rate, faults, args.seed)


if __name__ == "__main__":
    raise SystemExit(main())
