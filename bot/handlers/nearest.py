"""/nearest and shared locations: the nearest service point of each kind, as map pins."""

from __future__ import annotations

from telegram import Update
from telegram.constants import ChatType
from telegram.ext import CommandHandler, MessageHandler, filters

from bot.telegram.context import BotApp, BotContext
from bot.telegram.filters import ADDRESSED_TO_BOT
from bot.telegram.send import send_reply, send_venues


async def ask_for_location(update: Update, context: BotContext) -> None:
    """The resident sees a "share my location" keyboard button."""
    message = update.effective_message
    if message is None:
        return
    # Telegram offers the location button only in private chats.
    private = message.chat.type == ChatType.PRIVATE
    reply = await context.conversation.nearest_prompt(context.resident(update), can_request=private)
    await send_reply(message, reply)


async def nearest_places(update: Update, context: BotContext) -> None:
    """The resident sees the list with distances, then one map pin per place; the keyboard goes."""
    message = update.effective_message
    if message is None:
        return
    location = message.venue.location if message.venue else message.location
    if location is None:
        return
    user = context.resident(update)
    reply = await context.conversation.nearest(user, location.latitude, location.longitude)
    await send_reply(message, reply, remove_keyboard=True)
    await send_venues(message, reply)


def register(app: BotApp) -> None:
    """Add /nearest and the location handler."""
    app.add_handler(CommandHandler("nearest", ask_for_location))
    # New messages only: a live location sends an edit every few seconds.
    shared = filters.UpdateType.MESSAGE & (filters.LOCATION | filters.VENUE) & ADDRESSED_TO_BOT
    app.add_handler(MessageHandler(shared, nearest_places))
