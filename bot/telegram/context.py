"""What every Telegram handler gets: the bot's shared state and a typed context.

Following PTB's `contexttypesbot` example, `bot_data` is a small class instead of
a dict, and `BotContext` adds shortcuts so a handler reads
`context.conversation`, never a string key.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeAlias

from telegram import Update
from telegram import User as TelegramUser
from telegram.ext import Application, CallbackContext, ExtBot, JobQueue

from bot.admin import AdminService
from bot.config import Settings
from bot.conversation import ConversationService, User
from bot.services import Services

if TYPE_CHECKING:
    from bot.handlers.flood import FloodGuard


class BotData:
    """The application-wide state; PTB creates it empty, `build_application` fills it."""

    def __init__(self) -> None:
        self.settings: Settings | None = None
        #: Opened in `post_init`, closed in `post_shutdown`.
        self.services: Services | None = None
        #: Over the services' engine and database; opened and closed with them. It holds
        #: the suggestion tokens of /unanswered, so there is one per running bot.
        self.admin: AdminService | None = None
        #: Set by the flood-control handler when it is registered.
        self.flood: FloodGuard | None = None


class BotContext(CallbackContext[ExtBot[Any], dict[Any, Any], dict[Any, Any], BotData]):
    """The callback context of every handler, with typed shortcuts."""

    @property
    def settings(self) -> Settings:
        """The bot's settings."""
        settings = self.bot_data.settings
        if settings is None:  # build_application always sets it
            raise RuntimeError("settings are not set on the application")
        return settings

    @property
    def services(self) -> Services:
        """The opened services (knowledge engine, storage, conversation)."""
        services = self.bot_data.services
        if services is None:
            raise RuntimeError("services are not open yet (post_init has not run)")
        return services

    @property
    def admin(self) -> AdminService:
        """The admin service (reports, reloads, knowledge edits)."""
        admin = self.bot_data.admin
        if admin is None:
            raise RuntimeError("the admin service is not open (post_init has not run)")
        return admin

    @property
    def conversation(self) -> ConversationService:
        """The channel-agnostic conversation service."""
        return self.services.conversation

    def resident(self, update: Update) -> User:
        """The sender of an update as the conversation service sees them."""
        return resident_of(update.effective_user, admin_ids=self.settings.admin_ids)


def resident_of(user: TelegramUser | None, *, admin_ids: frozenset[int]) -> User:
    """A conversation `User` from a Telegram user (id 0 when Telegram gives none)."""
    if user is None:
        return User(id=0)
    return User(id=user.id, client_lang=user.language_code, is_admin=user.id in admin_ids)


#: The concrete Application type of this bot, for type hints in `register(app)`.
#: (`ExtBot[Any]`: the rate limiter's type depends on RATE_LIMIT.)
BotApp: TypeAlias = Application[
    ExtBot[Any], BotContext, dict[Any, Any], dict[Any, Any], BotData, JobQueue[Any]
]
