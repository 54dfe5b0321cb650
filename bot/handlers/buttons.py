"""Button presses: menu -> topic -> answer and back, feedback, language, in place."""

from __future__ import annotations

from telegram import InlineKeyboardMarkup, Message, Update
from telegram.ext import CallbackQueryHandler

from bot.conversation import ReplyKind
from bot.telegram.context import BotApp, BotContext
from bot.telegram.render import without_actions
from bot.telegram.send import send_new, show_in_place

#: Replies that replace the pressed message; browsing should not pile up messages.
_IN_PLACE = frozenset({ReplyKind.MENU, ReplyKind.CATEGORY, ReplyKind.ANSWERED, ReplyKind.CLARIFY})


async def press_button(update: Update, context: BotContext) -> None:
    """The pressed message turns into the chosen menu or answer; feedback shows a thank-you toast."""
    query = update.callback_query
    if query is None:
        return
    # Forged or stale data is the conversation service's job: it answers politely.
    reply = await context.conversation.press(context.resident(update), query.data or "")
    await query.answer(reply.toast)
    if reply.kind is ReplyKind.INFO and reply.entry_id:  # feedback: the 👍/👎 row goes away
        await _drop_feedback_buttons(query.message)
    elif reply.kind in _IN_PLACE:
        await show_in_place(query, reply)
    else:
        await send_new(query, reply)


async def _drop_feedback_buttons(message: object) -> None:
    if not isinstance(message, Message) or message.reply_markup is None:
        return
    markup: InlineKeyboardMarkup = message.reply_markup
    trimmed = without_actions(markup, "f:")
    if trimmed != markup:
        await message.edit_reply_markup(trimmed)


def register(app: BotApp) -> None:
    """Add the catch-all button handler; more specific button handlers must come before it."""
    app.add_handler(CallbackQueryHandler(press_button))


def register_presses_without_data(app: BotApp) -> None:
    """Add a handler for presses with empty data; register before any pattern button handler.

    PTB hands a press without data to the first CallbackQueryHandler that has a
    pattern, whatever the pattern; this one (pattern "^$") takes them instead, so
    a forged empty press gets the resident's "no longer valid" reply.
    """
    app.add_handler(CallbackQueryHandler(press_button, pattern="^$"))
