"""Per-resident flood control: one polite notice, then silence until the window passes.

Runs in group -1, before every other handler, and stops the update there
(ApplicationHandlerStop) so a flooding resident costs no matching and no
database work; other residents are unaffected.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from enum import Enum

from telegram import Update
from telegram.constants import ChatType
from telegram.error import TelegramError
from telegram.ext import ApplicationHandlerStop, TypeHandler, filters

from bot.telegram.context import BotApp, BotContext
from bot.telegram.filters import ADDRESSED_TO_BOT
from bot.telegram.send import send_reply

log = logging.getLogger(__name__)

#: Forget idle residents after this many checks, so the table cannot grow without bound.
_PRUNE_EVERY = 1000


class Verdict(Enum):
    """What to do with one update of a resident."""

    ALLOW = "allow"
    NOTIFY = "notify"
    DROP = "drop"


class FloodGuard:
    """A sliding window of recent messages per resident."""

    def __init__(
        self, *, limit: int, window: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._recent: dict[int, deque[float]] = {}
        self._notified: set[int] = set()
        self._checks = 0

    def check(self, user_id: int) -> Verdict:
        """Count one message of `user_id`; dropped messages are not counted."""
        now = self._clock()
        self._checks += 1
        if self._checks % _PRUNE_EVERY == 0:
            self._prune(now)
        recent = self._recent.setdefault(user_id, deque())
        while recent and now - recent[0] >= self.window:
            recent.popleft()
        if len(recent) < self.limit:
            recent.append(now)
            self._notified.discard(user_id)
            return Verdict.ALLOW
        if user_id in self._notified:
            return Verdict.DROP
        self._notified.add(user_id)
        return Verdict.NOTIFY

    def _prune(self, now: float) -> None:
        idle = [u for u, q in self._recent.items() if not q or now - q[-1] >= self.window]
        for user_id in idle:
            del self._recent[user_id]
            self._notified.discard(user_id)


async def limit_flood(update: Update, context: BotContext) -> None:
    """A resident sending too fast sees one notice; their further messages are ignored a while."""
    guard = context.bot_data.flood
    user = update.effective_user
    if (
        guard is None
        or user is None
        or not _counts(update)
        or user.id in context.settings.admin_ids
    ):
        return
    verdict = guard.check(user.id)
    if verdict is Verdict.ALLOW:
        return
    if verdict is Verdict.NOTIFY:
        notice = await context.conversation.flood_notice(context.resident(update))
        try:
            if update.callback_query is not None:
                # A toast is plain text, at most 200 characters.
                await update.callback_query.answer(notice.text[:200], show_alert=True)
            elif update.effective_message is not None:
                await send_reply(update.effective_message, notice)
        except TelegramError as exc:  # the message must be dropped all the same
            log.warning("could not send the flood notice: %s", exc)
    raise ApplicationHandlerStop


def _counts(update: Update) -> bool:
    """Messages the bot would answer and button presses count; inline typing does not."""
    if update.callback_query is not None:
        return True
    message = update.message or update.edited_message
    if message is None:
        return False
    # Group chatter not meant for the bot is nobody's flood.
    return message.chat.type == ChatType.PRIVATE or bool(
        ADDRESSED_TO_BOT.check_update(update) or filters.COMMAND.check_update(update)
    )


def register(app: BotApp) -> None:
    """Add flood control in group -1 (before every other handler)."""
    settings = app.bot_data.settings
    if settings is None:
        raise RuntimeError("register flood control after the settings are set")
    app.bot_data.flood = FloodGuard(
        limit=settings.flood_messages, window=settings.flood_window_seconds
    )
    app.add_handler(TypeHandler(Update, limit_flood), group=-1)
