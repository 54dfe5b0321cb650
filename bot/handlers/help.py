"""/help, and unknown commands in a private chat (they get the same help)."""

from __future__ import annotations

from telegram import Update
from telegram.ext import CommandHandler, MessageHandler, filters

from bot.telegram.context import BotApp, BotContext
from bot.telegram.send import send_reply


async def show_help(update: Update, context: BotContext) -> None:
    """The resident sees what the bot can answer, how to ask, and the topic buttons."""
    message = update.effective_message
    if message is None:
        return
    reply = await context.conversation.help(context.resident(update))
    await send_reply(message, reply)


def register(app: BotApp) -> None:
    """Add /help."""
    app.add_handler(CommandHandler("help", show_help))


def register_unknown_commands(app: BotApp) -> None:
    """Answer any other command with the help; register after every real command."""
    unknown = filters.UpdateType.MESSAGES & filters.COMMAND & filters.ChatType.PRIVATE
    app.add_handler(MessageHandler(unknown, show_help))
