"""/privacy and /forget: what is stored about a resident, and deleting it."""

from __future__ import annotations

from telegram import Update
from telegram.ext import CommandHandler

from bot.telegram.context import BotApp, BotContext
from bot.telegram.send import send_reply


async def show_privacy(update: Update, context: BotContext) -> None:
    """The resident sees what is stored about them and for how long."""
    message = update.effective_message
    if message is None:
        return
    reply = await context.conversation.privacy(context.resident(update))
    await send_reply(message, reply)


async def forget_me(update: Update, context: BotContext) -> None:
    """The resident's records are deleted and they see how many."""
    message = update.effective_message
    if message is None:
        return
    reply = await context.conversation.forget(context.resident(update))
    await send_reply(message, reply)


def register(app: BotApp) -> None:
    """Add /privacy and /forget."""
    app.add_handler(CommandHandler("privacy", show_privacy))
    app.add_handler(CommandHandler("forget", forget_me))
