"""Fixtures for the Telegram end-to-end tests.

* `fake_api`: a FakeBotApi on 127.0.0.1, one per test module (a thread; cheap).
* `bot`: the real Application polling it, one per test module, with a fresh
  database; tests that use it need `pytest.mark.asyncio(loop_scope="module")`
  and fresh `Resident.new()` users (no shared flood window or language).

A test that needs other settings starts its own bot on a fake of its own (one
bot per fake: two pollers would split the updates):

    with FakeBotApi() as api:
        async with running_bot(make_settings(api, tmp_path, admin_ids=...), api) as bot:
            calls = await bot.send(factories.message(resident, "结婚登记"))

`bot.send` / `send_all` push updates and return the calls the bot made for
them (polling left out) once it is done: see `harness.RunningBot.settle`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio

from tests.telegram.fake_api import FakeBotApi
from tests.telegram.harness import RunningBot, make_settings, running_bot


@pytest.fixture(scope="module")
def fake_api() -> Iterator[FakeBotApi]:
    """The fake Bot API server, shared by the tests of one module."""
    with FakeBotApi() as api:
        yield api


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def bot(
    fake_api: FakeBotApi, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[RunningBot]:
    """The bot, polling the fake server, with a fresh database; shared by one module."""
    settings = make_settings(fake_api, tmp_path_factory.mktemp("bot"))
    async with running_bot(settings, fake_api) as running:
        yield running
