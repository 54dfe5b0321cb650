"""The one error handler: log every failure with its update; apologise when it helps."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError

from bot.conversation import ui_text
from bot.telegram.context import BotApp, BotContext

log = logging.getLogger(__name__)


async def on_error(update: object, context: BotContext) -> None:
    """Logs the failure; a resident whose message could not be answered sees a short apology."""
    error = context.error
    where = describe(update)
    if _is_transient(error):
        log.warning("Telegram trouble while handling %s: %s", where, error)
        return
    if isinstance(error, BadRequest) and "not modified" in error.message.lower():
        return  # the same button pressed twice
    if isinstance(error, Forbidden):
        log.info("cannot write to the chat of %s: %s", where, error)  # the resident blocked us
        return
    log.error("failed to handle %s", where, exc_info=error)
    if isinstance(update, Update):
        await _apologise(update)


async def _apologise(update: Update) -> None:
    user = update.effective_user
    code = (user.language_code if user else None) or "zh"
    text = ui_text("error", "zh" if code.startswith("zh") else "en")
    try:
        if update.callback_query is not None:
            await update.callback_query.answer(text)
        elif update.effective_message is not None and update.inline_query is None:
            await update.effective_message.reply_text(text)
    except TelegramError as exc:  # the apology is best effort
        log.warning("could not apologise for %s: %s", describe(update), exc)


def _is_transient(error: BaseException | None) -> bool:
    """Network trouble and flood waits: nothing the resident can be told about."""
    if isinstance(error, RetryAfter):
        return True
    return isinstance(error, NetworkError) and not isinstance(error, BadRequest)


def describe(update: object) -> str:
    """Which update failed, without the resident's words (they stay out of the logs)."""
    if not isinstance(update, Update):
        return repr(update) if update is not None else "a job or the polling loop"
    kind = next(
        (
            name
            for name in ("message", "edited_message", "callback_query", "inline_query")
            if getattr(update, name) is not None
        ),
        "other",
    )
    chat = update.effective_chat
    return f"update {update.update_id} ({kind}, {chat.type if chat else 'no chat'})"


def register(app: BotApp) -> None:
    """Add the error handler."""
    app.add_error_handler(on_error)
