"""Open and close everything a running bot needs, for any channel."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from bot.config import Settings
from bot.conversation import ConversationService
from bot.runtime import EngineHolder, open_engine
from bot.storage import Storage


@dataclass
class Services:
    """The knowledge engine, the database and the conversation service, opened together."""

    settings: Settings
    engines: EngineHolder
    storage: Storage | None
    conversation: ConversationService

    @classmethod
    async def open(cls, settings: Settings, *, with_storage: bool = True) -> Services:
        """Load the knowledge (in a thread) and open the database.

        Raises:
            KnowledgeError: the knowledge does not validate; nothing is started.
        """
        engines = await asyncio.to_thread(open_engine, settings)
        storage = None
        if with_storage:
            storage = await Storage.open(
                settings.database_path,
                secret=settings.user_hash_secret.get_secret_value(),
                retention_days=settings.retention_days,
            )
        conversation = ConversationService(
            engines, storage=storage, retention_days=settings.retention_days
        )
        return cls(settings, engines, storage, conversation)

    async def close(self) -> None:
        """Finish pending records, then close the database."""
        await self.conversation.drain()
        if self.storage is not None:
            await self.storage.close()
