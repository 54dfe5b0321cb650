"""Stickers, photos, voice, video, audio, contacts and documents: a polite "text only"."""

from __future__ import annotations

from telegram import Update
from telegram.ext import MessageHandler, filters

from bot.telegram.context import BotApp, BotContext
from bot.telegram.filters import ADDRESSED_TO_BOT
from bot.telegram.send import send_reply

_MEDIA = (
    filters.Sticker.ALL
    | filters.PHOTO
    | filters.VOICE
    | filters.VIDEO
    | filters.VIDEO_NOTE
    | filters.AUDIO
    | filters.ANIMATION
    | filters.CONTACT
)


async def explain_unsupported(update: Update, context: BotContext) -> None:
    """The resident is told the bot reads typed questions and shared locations only."""
    message = update.effective_message
    if message is None:
        return
    reply = await context.conversation.unsupported(context.resident(update))
    await send_reply(message, reply)


def register(app: BotApp, *, admin_ids: frozenset[int]) -> None:
    """Add the media handler; admins' documents are left to the admin handlers."""
    from_resident = ~filters.User(user_id=admin_ids)
    media = _MEDIA | (filters.Document.ALL & from_resident)
    # Only new messages: editing a photo's caption should not bring a second notice.
    app.add_handler(
        MessageHandler(filters.UpdateType.MESSAGE & media & ADDRESSED_TO_BOT, explain_unsupported)
    )
