"""Which messages the bot answers, and the question text inside them.

In a private chat every message is for the bot. In a group the bot speaks
only when spoken to: a message that @mentions it or replies to one of its
messages (commands are matched by their own handlers).
"""

from __future__ import annotations

from telegram import Message, MessageEntity
from telegram.ext import filters


class _MentionsOrRepliesToBot(filters.MessageFilter):
    """A message that @mentions this bot or replies to one of its messages."""

    __slots__ = ()

    def filter(self, message: Message) -> bool:
        bot = message.get_bot()
        replied = message.reply_to_message
        if replied is not None and replied.from_user is not None and replied.from_user.id == bot.id:
            return True
        return bool(_bot_mentions(message, bot.username))


#: Messages meant for the bot: everything in private, mentions and replies in groups.
ADDRESSED_TO_BOT = filters.ChatType.PRIVATE | _MentionsOrRepliesToBot(name="AddressedToBot")


def question_text(message: Message, bot_username: str) -> str:
    """The message text without @mentions of this bot, trimmed."""
    text = message.text or message.caption or ""
    # Cut from the end so earlier offsets stay valid; offsets are in UTF-16 units.
    encoded = text.encode("utf-16-le")
    for entity in sorted(_bot_mentions(message, bot_username), key=lambda e: -e.offset):
        start, end = entity.offset * 2, (entity.offset + entity.length) * 2
        encoded = encoded[:start] + " ".encode("utf-16-le") + encoded[end:]
    return encoded.decode("utf-16-le").strip()


def _bot_mentions(message: Message, bot_username: str) -> list[MessageEntity]:
    wanted = "@" + bot_username.lower()
    entities = message.parse_entities([MessageEntity.MENTION]) or message.parse_caption_entities(
        [MessageEntity.MENTION]
    )
    return [e for e, text in entities.items() if text.lower() == wanted]
