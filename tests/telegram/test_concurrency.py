"""The per-resident update processor: fair across residents, in order for each, bounded.

The processor is driven the way PTB's Application drives it (one task per update,
in arrival order, each calling `process_update`), with handler stand-ins that
record when they run and can be held at a gate. No timing: the handlers block on
events; `HANG_GUARD` only bounds a wait that would otherwise hang the run.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Iterable

from telegram import Update

from bot.telegram.concurrency import PerSenderUpdateProcessor, sender_key
from tests.telegram import factories as f
from tests.telegram.factories import Resident

#: Small, so a backlog of one resident is larger than the limit (the app uses 32).
LIMIT = 4
#: Seconds; a bound on waits that should finish at once, so a regression fails instead of hanging.
HANG_GUARD = 10.0

_update_ids = itertools.count(1)


def update_from(resident: Resident) -> Update:
    """A real Update: a private text message from `resident`."""
    data = {"update_id": next(_update_ids), **f.message(resident, "结婚登记")}
    update = Update.de_json(data, None)
    assert sender_key(update) == resident.id
    return update


async def yield_times(count: int) -> None:
    """Let other tasks run `count` times (no clock involved)."""
    for _ in range(count):
        await asyncio.sleep(0)


class Handlers:
    """Handler stand-ins: each logs its start and end; `gate` holds them until it is set."""

    def __init__(self, *, gated: bool) -> None:
        self.gate = asyncio.Event()
        if not gated:
            self.gate.set()
        self.log: list[tuple[str, int, int]] = []  # (event, sender, n-th update of the sender)
        self.running: set[tuple[int, int]] = set()
        self.peak = 0
        self.limit_reached = asyncio.Event()

    async def handle(self, sender: int, n: int, *, yields: int = 0) -> None:
        """One update's handler; `yields` lets others run in between (to invite overtaking)."""
        self.running.add((sender, n))
        self.peak = max(self.peak, len(self.running))
        if len(self.running) == LIMIT:
            self.limit_reached.set()
        self.log.append(("start", sender, n))
        try:
            await self.gate.wait()
            await yield_times(yields)
        finally:
            self.running.discard((sender, n))
        self.log.append(("end", sender, n))

    def of(self, sender: int) -> list[tuple[str, int]]:
        """What happened to `sender`'s updates, in order."""
        return [(event, n) for event, who, n in self.log if who == sender]


def submit(
    processor: PerSenderUpdateProcessor, jobs: Iterable[tuple[Update, Awaitable[None]]]
) -> list[asyncio.Task[None]]:
    """One task per update, created in order, as PTB's Application does."""
    return [asyncio.create_task(processor.process_update(u, c)) for u, c in jobs]


async def test_a_residents_backlog_does_not_hold_up_the_others() -> None:
    processor = PerSenderUpdateProcessor(LIMIT)
    busy, other = Resident.new(), Resident.new()
    handlers = Handlers(gated=True)
    # The busy resident's first answer is slow (held at the gate) and 10 more messages queue up.
    backlog = submit(
        processor, [(update_from(busy), handlers.handle(busy.id, n)) for n in range(10)]
    )
    [answer] = submit(processor, [(update_from(other), yield_times(0))])
    try:
        done, _ = await asyncio.wait({answer}, timeout=HANG_GUARD)
        assert answer in done, "the other resident waited for the busy one's backlog"
        assert not any(task.done() for task in backlog)
        assert handlers.running == {(busy.id, 0)}  # the backlog waits without running
    finally:
        handlers.gate.set()
        await asyncio.wait_for(asyncio.gather(*backlog, answer), HANG_GUARD)
    assert handlers.of(busy.id) == [(e, n) for n in range(10) for e in ("start", "end")]


async def test_each_residents_updates_run_in_order_and_one_at_a_time() -> None:
    processor = PerSenderUpdateProcessor(LIMIT)
    residents = [Resident.new() for _ in range(3)]
    handlers = Handlers(gated=False)
    count = 6
    # Interleaved arrivals; earlier updates take longer, so any overtaking would show.
    jobs = [
        (update_from(r), handlers.handle(r.id, n, yields=2 * (count - n)))
        for n in range(count)
        for r in residents
    ]
    await asyncio.wait_for(asyncio.gather(*submit(processor, jobs)), HANG_GUARD)
    for r in residents:
        assert handlers.of(r.id) == [(e, n) for n in range(count) for e in ("start", "end")]
    assert handlers.peak > 1  # different residents did overlap
    assert not processor._locks  # no lock outlives its sender's last update


async def test_never_more_than_the_limit_run_at_once() -> None:
    processor = PerSenderUpdateProcessor(LIMIT)
    residents = [Resident.new() for _ in range(2 * LIMIT)]
    handlers = Handlers(gated=True)
    jobs: list[tuple[Update, Awaitable[None]]] = [
        (update_from(r), handlers.handle(r.id, n)) for n in range(3) for r in residents
    ]
    # Updates with no sender (no user, no chat) take part in the limit too.
    jobs += [(Update(next(_update_ids)), handlers.handle(0, n)) for n in range(LIMIT)]
    tasks = submit(processor, jobs)
    try:
        await asyncio.wait_for(handlers.limit_reached.wait(), HANG_GUARD)
        await yield_times(10 * len(jobs))  # every task that could start has had its turn
        assert len(handlers.running) == LIMIT
        assert processor.current_concurrent_updates == LIMIT
    finally:
        handlers.gate.set()
        await asyncio.wait_for(asyncio.gather(*tasks), HANG_GUARD)
    assert handlers.peak == LIMIT
    assert len(handlers.log) == 2 * len(jobs)
    assert processor.current_concurrent_updates == 0
    assert not processor._locks  # no lock outlives its sender's last update
