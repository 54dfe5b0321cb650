"""Residents are served concurrently; each resident's own messages are handled in order.

PTB processes updates one at a time by default, so one slow call (a Telegram
retry, a knowledge reload) would hold up every resident. Fully concurrent
processing would let a resident's second question overtake the first. This
processor does both: a lock per sender, concurrency across senders.

The lock is taken before one of the `max_concurrent_updates` slots, so an update
waiting for its sender's earlier ones holds no slot: a resident who sends 32
messages while their first answer is slow cannot stall everybody else.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable
from typing import Any

from telegram import Update
from telegram.ext import SimpleUpdateProcessor


class PerSenderUpdateProcessor(SimpleUpdateProcessor):
    """Runs updates of different senders concurrently and those of one sender in order.

    At most `max_concurrent_updates` handlers run at once, and at most one per sender.
    """

    def __init__(self, max_concurrent_updates: int) -> None:
        super().__init__(max_concurrent_updates)
        # Weak values: a sender's lock disappears once no update of theirs is in flight.
        self._locks: weakref.WeakValueDictionary[int, asyncio.Lock] = weakref.WeakValueDictionary()

    # PTB marks process_update final: its version takes a slot and then calls
    # do_process_update, which is too late to wait for the sender (waiters would hold
    # the slots). PTB's version still does the slot and the awaiting, inside the lock.
    async def process_update(  # type: ignore[misc]
        self, update: object, coroutine: Awaitable[Any]
    ) -> None:
        """Await `coroutine` once the sender's earlier updates are done and a slot is free."""
        key = sender_key(update)
        if key is None:
            await super().process_update(update, coroutine)
            return
        lock = self._locks.get(key)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[key] = lock
        async with lock:  # asyncio locks wake waiters first come, first served
            await super().process_update(update, coroutine)


def sender_key(update: object) -> int | None:
    """Whose turn an update waits for: the user, else the chat (channel posts), else nobody."""
    if not isinstance(update, Update):
        return None
    if update.effective_user is not None:
        return update.effective_user.id
    if update.effective_chat is not None:
        return update.effective_chat.id
    return None
