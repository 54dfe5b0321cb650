"""Long polling that confirms an update only after it has been answered.

python-telegram-bot's Updater asks for the next batch (which confirms the
previous one to Telegram) as soon as a batch is queued, so a bot killed with
updates in flight loses them. A city service must not: here the offset sent to
Telegram only moves past an update once its handling has finished (a
watermark), so after a crash Telegram delivers the unfinished updates again.
Updates handled before the crash but not yet confirmed are skipped after the
restart when the answered-updates journal (`bot.telegram.journal`) lists them;
one caught between its reply and its journal line is answered twice, the price
of never answering zero times.

Updates still go through the Application's update processor, so residents are
served concurrently and each resident's messages stay in order.

Until an update is confirmed, Telegram repeats it in every getUpdates answer;
the polling request (`bot.telegram.request.PollingRequest`) drops those repeats
before PTB builds objects from them, told which through `KNOWN_UPDATES`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import math
import signal
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from telegram import Update
from telegram.error import InvalidToken, NetworkError, RetryAfter, TelegramError, TimedOut
from telegram.ext import Application

from bot.telegram.journal import AnsweredJournal
from bot.telegram.request import KNOWN_UPDATES

log = logging.getLogger(__name__)

#: Seconds to wait after a failed getUpdates, doubling up to the maximum.
BACKOFF_START = 0.5
BACKOFF_MAX = 15.0
#: Updates in flight at most; polling pauses while this many are unfinished.
MAX_IN_FLIGHT = 256
#: While updates are in flight Telegram cannot long-poll (it repeats them at once), so
#: new updates are looked for this often until one finishes.
REPOLL_SECONDS = 0.3
#: ...and as soon as this share of the updates in flight is done, so the handlers never
#: run dry while the next batch is on its way.
REPOLL_SHARE = 0.5
#: How long a stop waits for updates in flight before giving up on them (they will come again).
DRAIN_SECONDS = 20.0


class AtLeastOncePoller:
    """Fetches updates and confirms each only after its handler has finished."""

    def __init__(
        self,
        app: Application[Any, Any, Any, Any, Any, Any],
        *,
        timeout: int,
        allowed_updates: Sequence[str],
        journal: AnsweredJournal | None = None,
    ):
        self._app = app
        #: Updates answered (also by an earlier process) and maybe not yet confirmed.
        self._journal = journal if journal is not None else AnsweredJournal(None)
        #: The offset of the getUpdates call in progress.
        self._sent_offset: int | None = None
        self._timeout = timeout
        self._allowed = list(allowed_updates)
        #: update_id -> its task, for updates fetched and not yet finished.
        self._in_flight: dict[int, asyncio.Task[None]] = {}
        #: Highest update_id handed to a handler; Telegram repeats unconfirmed ones.
        self._highest_seen = -1
        self._changed = asyncio.Event()
        #: Updates finished so far (to poll again after enough progress).
        self._completed = 0

    @property
    def offset(self) -> int | None:
        """The offset to send: everything below it has been answered."""
        if self._highest_seen < 0:
            return None
        if self._in_flight:
            return min(self._in_flight)
        return self._highest_seen + 1

    async def run(self, stop: asyncio.Event) -> None:
        """Poll until `stop` is set, then finish the updates in flight and confirm them."""
        backoff = BACKOFF_START
        while not stop.is_set():
            if len(self._in_flight) >= MAX_IN_FLIGHT:
                await self._wait_for_change(stop, timeout=1.0)
                continue
            fetch = asyncio.ensure_future(self._fetch())
            stopping = asyncio.ensure_future(stop.wait())
            done, _ = await asyncio.wait({fetch, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if fetch not in done:
                fetch.cancel()
                with contextlib.suppress(asyncio.CancelledError, TelegramError):
                    await fetch
                break
            stopping.cancel()
            try:
                updates = fetch.result()
            except InvalidToken:
                raise
            except RetryAfter as exc:
                await self._sleep(stop, _seconds(exc.retry_after))
                continue
            except (TimedOut, NetworkError, TelegramError) as exc:
                log.warning("getUpdates failed (%s); retrying in %.1f s", exc, backoff)
                await self._sleep(stop, backoff)
                backoff = min(BACKOFF_MAX, backoff * 2)
                continue
            backoff = BACKOFF_START
            if self._sent_offset is not None:
                self._journal.confirmed_below(self._sent_offset)
            elif updates:
                # The first call (no offset) starts at the oldest unconfirmed update.
                self._journal.confirmed_below(min(u.update_id for u in updates))
            for update in updates:
                if update.update_id <= self._highest_seen:
                    continue
                if update.update_id in self._journal:
                    # Answered before a crash, not confirmed: the offset moves past it.
                    log.info("update %s was answered before the restart", update.update_id)
                    self._highest_seen = update.update_id
                    continue
                self._start(update)
            if self._in_flight:
                # Telegram cannot long-poll while updates are unconfirmed: each getUpdates
                # would return them all again. Ask again once a good share is answered (the
                # offset moves past them) or after a moment (for new updates), not after
                # every single answer: that re-fetch storm cost 4x the CPU of answering.
                await self._wait_for_progress(stop)
        await self._drain()

    async def _fetch(self) -> tuple[Update, ...]:
        # With updates unfinished Telegram answers at once anyway (it repeats them).
        timeout = 0 if self._in_flight else self._timeout
        # Runs as a task of its own: the value is seen by this call's request only.
        KNOWN_UPDATES.set(self._highest_seen)
        self._sent_offset = self.offset
        return await self._app.bot.get_updates(
            offset=self._sent_offset,
            timeout=timeout,
            allowed_updates=self._allowed,
        )

    def _start(self, update: Update) -> None:
        self._highest_seen = max(self._highest_seen, update.update_id)
        task = asyncio.ensure_future(self._handle(update))
        self._in_flight[update.update_id] = task
        task.add_done_callback(functools.partial(self._finished, update.update_id))

    async def _handle(self, update: Update) -> None:
        """Process one update; journal it the moment its handling ends, in this task (a
        done-callback would wait a turn of the busy event loop: more repeats after a crash)."""
        try:
            await self._app.update_processor.process_update(
                update, self._app.process_update(update)
            )
        finally:
            task = asyncio.current_task()
            if task is None or not task.cancelling():  # cancelled: not answered
                self._journal.add(update.update_id)

    def _finished(self, update_id: int, task: asyncio.Task[None]) -> None:
        self._in_flight.pop(update_id, None)
        self._completed += 1
        if not task.cancelled() and task.exception() is not None:
            # Handlers report through the error handler; this is a failure outside them.
            log.error("update %s failed", update_id, exc_info=task.exception())
        self._changed.set()

    async def _wait_for_progress(self, stop: asyncio.Event) -> None:
        """Wait until REPOLL_SHARE of the updates in flight are done, or REPOLL_SECONDS pass."""
        target = self._completed + max(1, math.ceil(len(self._in_flight) * REPOLL_SHARE))
        deadline = asyncio.get_running_loop().time() + REPOLL_SECONDS
        while self._in_flight and self._completed < target and not stop.is_set():
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                return
            await self._wait_for_change(stop, timeout=remaining)

    async def _wait_for_change(self, stop: asyncio.Event, *, timeout: float) -> None:
        self._changed.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), timeout)

    @staticmethod
    async def _sleep(stop: asyncio.Event, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), seconds)

    async def _drain(self) -> None:
        """Finish what is in flight, then confirm it so a restart does not answer it again."""
        if self._in_flight:
            await asyncio.wait(list(self._in_flight.values()), timeout=DRAIN_SECONDS)
        offset = self.offset
        if offset is None:
            return  # nothing seen: the journal may still list an earlier process's updates
        try:
            await self._app.bot.get_updates(offset=offset, timeout=0, limit=1)
        except TelegramError as exc:
            log.warning("could not confirm the last updates: %s", exc)
            return
        self._journal.confirmed_below(offset)
        if not self._in_flight and not self._journal:
            # All confirmed: nothing for the next process to skip. (Ids at or above the
            # offset are an earlier process's answers this one never fetched: kept.)
            self._journal.clear()


def _seconds(value: object) -> float:
    total = getattr(value, "total_seconds", None)
    return float(total()) if callable(total) else float(value)  # type: ignore[arg-type]


@contextlib.asynccontextmanager
async def polling_lifecycle(
    app: Application[Any, Any, Any, Any, Any, Any],
    stop: asyncio.Event,
    *,
    timeout: int,
    allowed_updates: Sequence[str],
    journal: Path | None = None,
) -> AsyncIterator[asyncio.Task[None]]:
    """Start `app` and poll in a task until `stop` is set; stop everything on leaving.

    The lifecycle mirrors `Application.run_polling`: initialize, post_init,
    start, poll, stop, post_stop, shutdown, post_shutdown. Leaving the block sets
    `stop` and waits for the poller to finish the updates in flight.

    Args:
        app: The application.
        stop: Set to stop.
        timeout: The long poll's timeout (seconds).
        allowed_updates: The update kinds to receive.
        journal: The answered-updates journal's file (`bot.telegram.journal`); None: none.

    Yields:
        The polling task; it ends once `stop` is set, or raises (a refused token).
    """
    await app.initialize()
    answered = AnsweredJournal(journal)
    try:
        if app.post_init:
            await app.post_init(app)
        # Long polling and a webhook exclude each other; keep pending updates.
        await app.bot.delete_webhook(drop_pending_updates=False)
        await app.start()
        poller = asyncio.ensure_future(
            AtLeastOncePoller(
                app, timeout=timeout, allowed_updates=allowed_updates, journal=answered
            ).run(stop)
        )
        try:
            yield poller
            stop.set()
            await poller
        finally:
            if not poller.done():  # the block failed: its error is the one to report
                stop.set()
                await asyncio.wait([poller])
            if not poller.cancelled():
                # Mark the poller's own failure as seen (else asyncio logs "Task exception
                # was never retrieved" when the block failed too): the block's error is
                # the one that propagates, and a poller failure during a normal exit was
                # already raised by `await poller` above.
                poller.exception()
            await app.stop()
            if app.post_stop:
                await app.post_stop(app)
    finally:
        answered.close()
        await app.shutdown()
        if app.post_shutdown:
            await app.post_shutdown(app)


async def serve_polling(
    app: Application[Any, Any, Any, Any, Any, Any],
    *,
    timeout: int,
    allowed_updates: Sequence[str],
    journal: Path | None = None,
) -> None:
    """Run `app` with at-least-once long polling (`polling_lifecycle`) until SIGINT or SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with polling_lifecycle(
            app, stop, timeout=timeout, allowed_updates=allowed_updates, journal=journal
        ) as poller:
            await poller
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
