"""/lang: choose Chinese or English (the choice itself arrives as an `l:` button press)."""

from __future__ import annotations

from telegram import Update
from telegram.ext import CommandHandler

from bot.telegram.context import BotApp, BotContext
from bot.telegram.send import send_reply


async def choose_language(update: Update, context: BotContext) -> None:
    """The resident sees two buttons: 中文 and English."""
    message = update.effective_message
    if message is None:
        return
    reply = await context.conversation.choose_language(context.resident(update))
    await send_reply(message, reply)


def register(app: BotApp) -> None:
    """Add /lang."""
    app.add_handler(CommandHandler("lang", choose_language))
