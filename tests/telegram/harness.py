"""Run the real Application in-process against the fake Bot API, and wait for it to settle.

`settle()` is what makes the end-to-end tests deterministic without sleeps:
it returns when the bot has confirmed every pushed update (so each is in its
update queue) and the queue is fully processed (PTB marks each update done
after its handlers and the error handler ran).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.config import Settings
from bot.telegram.app import build_application, polling_options, webhook_options
from bot.telegram.context import BotApp
from bot.telegram.polling import polling_lifecycle
from tests.telegram.fake_api import TOKEN, ApiCall, FakeBotApi

#: The shipped knowledge, so tests exercise what residents will get.
KNOWLEDGE_DIR = Path(__file__).resolve().parents[2] / "knowledge"


def make_settings(api: FakeBotApi, tmp: Path, **overrides: Any) -> Settings:
    """Settings for a bot talking to `api`, with its database and caches under `tmp`.

    `_env_file=None`: a developer's .env must never leak into a test.
    """
    values: dict[str, Any] = {
        "telegram_bot_token": TOKEN,
        "telegram_bot_api_url": api.url,
        "knowledge_dir": KNOWLEDGE_DIR,
        "database_path": tmp / "helpdesk.sqlite3",
        "embedding_cache_dir": tmp / "cache",
        "semantic_enabled": False,
        "rate_limit": False,
        "user_hash_secret": "test-secret",
        **overrides,
    }
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@dataclass
class RunningBot:
    """A started Application and the fake API it talks to."""

    app: BotApp
    api: FakeBotApi

    async def send(self, update: dict[str, Any], *, timeout: float = 15.0) -> list[ApiCall]:
        """Push `update`, wait until the bot is done with it; the calls it made meanwhile."""
        return await self.send_all([update], timeout=timeout)

    async def send_all(
        self, updates: list[dict[str, Any]], *, timeout: float = 15.0
    ) -> list[ApiCall]:
        """Push several updates at once (one getUpdates batch), wait for all of them."""
        mark = self.api.mark()
        for update in updates:
            self.api.push(update)
        await self.settle(timeout=timeout)
        return self.replies(since=mark)

    def replies(self, *, since: int) -> list[ApiCall]:
        """The calls since `since`, polling (getUpdates) left out."""
        return [c for c in self.api.calls(since=since) if c.method != "getUpdates"]

    async def settle(self, *, timeout: float = 15.0) -> None:
        """Wait until every pushed update was fetched, confirmed and fully handled."""
        deadline = time.monotonic() + timeout
        while not self.api.all_confirmed():
            if time.monotonic() > deadline:
                raise AssertionError("the bot did not fetch the pushed updates in time")
            await asyncio.sleep(0.005)
        await asyncio.wait_for(self.app.update_queue.join(), max(0.1, deadline - time.monotonic()))


@contextlib.asynccontextmanager
async def running_bot(settings: Settings, api: FakeBotApi) -> AsyncIterator[RunningBot]:
    """Start the bot like `run()` does (post_init included), by polling or by webhook.

    One bot per fake at a time: two bots polling one fake would each take some
    of the updates, and `send` would wait on the wrong one.
    """
    if api.bot_running:
        raise AssertionError(
            "another bot is already running against this FakeBotApi; give this one its own"
        )
    api.bot_running = True
    try:
        async with _started(settings, api) as running:
            yield running
    finally:
        api.bot_running = False


@contextlib.asynccontextmanager
async def _started(settings: Settings, api: FakeBotApi) -> AsyncIterator[RunningBot]:
    app = build_application(settings)
    if settings.webhook_url:
        async with _webhook(app, settings):
            yield RunningBot(app, api)
    else:
        # The same start, at-least-once poller and stop as `run()`; `stop` is set on leaving.
        async with polling_lifecycle(app, asyncio.Event(), **polling_options(settings)):
            yield RunningBot(app, api)


@contextlib.asynccontextmanager
async def _webhook(app: BotApp, settings: Settings) -> AsyncIterator[None]:
    """What PTB's `run_webhook` (used by `run()`) does, without blocking."""
    await app.initialize()
    try:
        if app.post_init:
            await app.post_init(app)
        assert app.updater is not None
        await app.updater.start_webhook(**webhook_options(settings))
        await app.start()
        try:
            yield
        finally:
            await app.updater.stop()
            await app.stop()
    finally:
        await app.shutdown()
        if app.post_shutdown:
            await app.post_shutdown(app)
