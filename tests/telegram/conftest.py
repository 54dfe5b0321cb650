"""Fixtures for the Telegram end-to-end tests.

* `fake_api`: a FakeBotApi on 127.0.0.1, one per test module (a thread; cheap).
* `bot`: the real Application started against it, one per test module; tests
  use fresh `Resident.new()` users so they never share a flood window or a
  language choice. Tests that need other settings start their own bot with
  `running_bot(make_settings(fake_api, tmp_path, ...), fake_api)`.
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
