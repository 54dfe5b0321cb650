"""Typed questions (new or edited): the answer, "did you mean", or what the bot covers."""

from __future__ import annotations

from telegram import Update
from telegram.ext import MessageHandler, filters

from bot.telegram.context import BotApp, BotContext
from bot.telegram.filters import ADDRESSED_TO_BOT, question_text
from bot.telegram.send import send_reply


async def answer_question(update: Update, context: BotContext) -> None:
    """The resident sees the answer with its link, related-question and 👍/👎 buttons."""
    message = update.effective_message
    if message is None:
        return
    user = context.resident(update)
    text = question_text(message, context.bot.username)
    # "@bot" alone in a group is a call for attention: show the menu.
    conversation = context.conversation
    reply = await (conversation.ask(user, text) if text else conversation.start(user))
    await send_reply(message, reply)


def register(app: BotApp) -> None:
    """Add the free-text handler; it must come after the commands."""
    # UpdateType.MESSAGES: an edited question is answered again; channel posts are not ours.
    questions = filters.UpdateType.MESSAGES & filters.TEXT & ~filters.COMMAND & ADDRESSED_TO_BOT
    app.add_handler(MessageHandler(questions, answer_question))
