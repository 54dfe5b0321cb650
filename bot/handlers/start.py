"""/start: the greeting and topic menu; `/start <entry-id>` deep links open an answer."""

from __future__ import annotations

from telegram import Update
from telegram.ext import CommandHandler

from bot.telegram.context import BotApp, BotContext
from bot.telegram.send import send_reply


async def start(update: Update, context: BotContext) -> None:
    """The resident sees a greeting in their language and the topic buttons (or the linked answer)."""
    message = update.effective_message
    if message is None:
        return
    payload = context.args[0] if context.args else None
    reply = await context.conversation.start(context.resident(update), payload)
    await send_reply(message, reply)


def register(app: BotApp) -> None:
    """Add the /start command."""
    app.add_handler(CommandHandler("start", start))
