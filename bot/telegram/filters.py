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
    encoded = _utf16(message.text or message.caption or "")
    # Cut from the end so earlier offsets stay valid.
    for entity in sorted(_bot_mentions(message, bot_username), key=lambda e: -e.offset):
        start, end = entity.offset * 2, (entity.offset + entity.length) * 2
        encoded = encoded[:start] + _utf16(" ") + encoded[end:]
    return encoded.decode("utf-16-le", "surrogatepass").strip()


def _bot_mentions(message: Message, bot_username: str) -> list[MessageEntity]:
    """This bot's @mentions in the text or caption.

    Sliced by hand: Telegram counts offsets in UTF-16 units, and PTB's
    `parse_entities` raises on a lone surrogate, which Telegram's JSON can carry.
    """
    wanted = "@" + bot_username.lower()
    encoded = _utf16(message.text or message.caption or "")
    entities = message.entities if message.text else message.caption_entities
    return [
        e
        for e in entities
        if e.type == MessageEntity.MENTION
        and encoded[e.offset * 2 : (e.offset + e.length) * 2]
        .decode("utf-16-le", "surrogatepass")
        .lower()
        == wanted
    ]


def _utf16(text: str) -> bytes:
    return text.encode("utf-16-le", "surrogatepass")
