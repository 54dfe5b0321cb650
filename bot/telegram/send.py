"""Send a rendered `Reply`: as new messages, in place of a pressed message, or as venues."""

from __future__ import annotations

import logging

from telegram import CallbackQuery, InlineKeyboardMarkup, Message, ReplyKeyboardRemove
from telegram.error import BadRequest

from bot.conversation import Reply
from bot.telegram.render import render_reply, venues

log = logging.getLogger(__name__)


async def send_reply(message: Message, reply: Reply, *, remove_keyboard: bool = False) -> Message:
    """Answer `message` with `reply`, split into as many messages as needed.

    Args:
        message: The resident's message (in groups the answer quotes it).
        reply: What to show.
        remove_keyboard: Also hide a reply keyboard (the location request).

    Returns:
        The last message sent (the one carrying the buttons).
    """
    chunks = render_reply(reply)
    # A message has one markup: the keyboard removal rides on the first chunk without buttons.
    removal_at = next((i for i, c in enumerate(chunks) if c.markup is None), None)
    sent = message
    for i, chunk in enumerate(chunks):
        markup = chunk.markup
        if remove_keyboard and i == removal_at:
            markup = ReplyKeyboardRemove()
        sent = await message.reply_text(chunk.html, reply_markup=markup)
    return sent


async def send_venues(message: Message, reply: Reply) -> None:
    """One map pin per place of `reply` that has coordinates."""
    for venue in venues(reply.places, reply.lang):
        await message.reply_venue(
            latitude=venue.latitude,
            longitude=venue.longitude,
            title=venue.title,
            address=venue.address,
        )


async def show_in_place(query: CallbackQuery, reply: Reply) -> None:
    """Replace the pressed message with `reply`; send it anew when that cannot be done."""
    chunks = render_reply(reply)
    message = query.message
    can_edit = (
        isinstance(message, Message)
        and len(chunks) == 1
        and (chunks[0].markup is None or isinstance(chunks[0].markup, InlineKeyboardMarkup))
    )
    if can_edit and isinstance(message, Message):
        markup = chunks[0].markup
        try:
            await message.edit_text(
                chunks[0].html,
                reply_markup=markup if isinstance(markup, InlineKeyboardMarkup) else None,
            )
            return
        except BadRequest as exc:
            if "not modified" in exc.message.lower():
                return  # the same button pressed twice: nothing to change
            # Too old, deleted, or no longer text: fall back to a new message.
            log.info("could not edit message %s: %s", message.message_id, exc.message)
    await send_new(query, reply)


async def send_new(query: CallbackQuery, reply: Reply) -> None:
    """Send `reply` as new messages in the chat of the pressed button (if Telegram says which)."""
    message = query.message
    if message is None:
        return  # a button under an inline-mode message: there is no chat to write to
    chat_id = message.chat.id
    for chunk in render_reply(reply):
        await query.get_bot().send_message(chat_id, chunk.html, reply_markup=chunk.markup)
