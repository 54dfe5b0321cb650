"""Inline mode: `@bot 结婚登记` in any chat offers matching answers to send there."""

from __future__ import annotations

from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InlineQueryResultArticle,
    InputTextMessageContent,
    Update,
)
from telegram.ext import InlineQueryHandler
from telegram.helpers import create_deep_linked_url

from bot.conversation import ConversationService
from bot.knowledge.models import Entry, Lang
from bot.telegram.context import BotApp, BotContext
from bot.telegram.render import link_keyboard, render_reply

#: Answers offered for an empty query: the first topic of the first few categories.
EMPTY_QUERY_RESULTS = 5
#: The grey line under a result's title.
DESCRIPTION_CHARS = 120
#: Telegram may cache our results this long (seconds); answers change only on reload.
CACHE_SECONDS = 60


async def offer_answers(update: Update, context: BotContext) -> None:
    """The resident sees a list of matching answers; picking one posts it with its links."""
    query = update.inline_query
    if query is None:
        return
    conversation = context.conversation
    text = query.query.strip()
    if text:
        lang, entries = await conversation.search(text)
    else:
        lang = "zh" if (query.from_user.language_code or "zh").startswith("zh") else "en"
        entries = _menu_sample(conversation)
    results = [_article(conversation, e, lang, context.bot.username) for e in entries]
    await query.answer(results, cache_time=CACHE_SECONDS, is_personal=True)


def _menu_sample(conversation: ConversationService) -> list[Entry]:
    kb = conversation.engines.knowledge
    firsts = [kb.entries_in(c.id)[:1] for c in kb.sorted_categories()]
    return [e for first in firsts for e in first][:EMPTY_QUERY_RESULTS]


def _article(
    conversation: ConversationService, entry: Entry, lang: Lang, bot_username: str
) -> InlineQueryResultArticle:
    reply = conversation.entry_reply(conversation.engines.knowledge, entry, lang)
    text = render_reply(reply)[0].html
    # Only links travel with the posted answer: other buttons would act for whoever presses.
    links = link_keyboard(reply.buttons)
    rows = [*(links.inline_keyboard if links else ())]
    rows.append(
        (
            InlineKeyboardButton(
                f"🤖 @{bot_username}", url=create_deep_linked_url(bot_username, entry.id)
            ),
        )
    )
    description = entry.answer.get(lang).strip().replace("\n", " ")
    return InlineQueryResultArticle(
        id=entry.id,
        title=entry.title.get(lang),
        description=description[:DESCRIPTION_CHARS],
        input_message_content=InputTextMessageContent(text),
        reply_markup=InlineKeyboardMarkup(rows),
    )


def register(app: BotApp) -> None:
    """Add the inline-query handler."""
    app.add_handler(InlineQueryHandler(offer_answers))
