"""The database fails mid-run: residents keep getting answers, records resume afterwards.

The real Application answers identifiable questions in rounds: before the
outage, during it, and after it has ended. Answers must never stop; rows must
be there for the rounds before and after (the rounds during the outage may be
lost: the bot logs that once, it does not queue records in memory).
"""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from pathlib import Path

from bot.storage import Storage
from tests.reliability.faulty_api import FaultyBotApi
from tests.reliability.scenario import Scenario
from tests.telegram.harness import RunningBot, make_settings, running_bot

#: Storage.retry_seconds as `Services.open` leaves it: how soon a failed database is retried.
RETRY_SECONDS = 5.0


def _rows(path: Path) -> int:
    with sqlite3.connect(path) as db:
        ((count,),) = db.execute("SELECT count(*) FROM questions")
    return int(count)


async def _round(bot: RunningBot, scenario: Scenario, rounds: range) -> None:
    """Ask the questions of `rounds`, wait for the answers and for their records to be written."""
    await bot.send_all(scenario.updates(rounds), timeout=60)
    services = bot.app.bot_data.services
    assert services is not None
    await services.conversation.drain()


async def test_locked_database(api: FaultyBotApi, tmp_path: Path) -> None:
    scenario = Scenario.make(residents=4, questions_each=6)
    settings = make_settings(api, tmp_path, flood_messages=100)
    db_path = settings.database_path
    per_round = len(scenario.residents)
    async with running_bot(settings, api) as bot:
        await _round(bot, scenario, range(2))
        assert _rows(db_path) == 2 * per_round

        locker = sqlite3.connect(db_path, isolation_level=None)
        try:
            locker.execute("BEGIN EXCLUSIVE")  # another process holds the write lock
            await _round(bot, scenario, range(2, 4))
            # The lock did bite: the bot noticed and kept answering without records.
            assert not _storage(bot).healthy
        finally:
            locker.execute("ROLLBACK")
            locker.close()
        during = _rows(db_path) - 2 * per_round

        await asyncio.sleep(RETRY_SECONDS + 0.2)
        await _round(bot, scenario, range(4, 6))
        assert _storage(bot).healthy
    assert scenario.problems(api.calls()) == []  # every question answered, once, in order
    assert _rows(db_path) == (4 * per_round) + during
    assert 0 <= during <= 2 * per_round


async def test_database_directory_unusable(api: FaultyBotApi, tmp_path: Path) -> None:
    """The data directory disappears and a file blocks its re-creation (fails for root too)."""
    scenario = Scenario.make(residents=4, questions_each=6)
    data = tmp_path / "data"
    settings = make_settings(
        api, tmp_path, flood_messages=100, database_path=data / "helpdesk.sqlite3"
    )
    per_round = len(scenario.residents)
    async with running_bot(settings, api) as bot:
        await _round(bot, scenario, range(2))
        data.rename(tmp_path / "data-before")
        data.write_text("not a directory")
        await _round(bot, scenario, range(2, 4))
        storage = bot.app.bot_data.services.storage  # type: ignore[union-attr]
        assert storage is not None and not storage.healthy

        data.unlink()  # the disk is back
        await asyncio.sleep(RETRY_SECONDS + 0.2)
        await _round(bot, scenario, range(4, 6))
        assert storage.healthy
    assert scenario.problems(api.calls()) == []
    assert _rows(tmp_path / "data-before" / "helpdesk.sqlite3") == 2 * per_round
    assert _rows(data / "helpdesk.sqlite3") == 2 * per_round
    shutil.rmtree(tmp_path / "data-before")


def _storage(bot: RunningBot) -> Storage:
    services = bot.app.bot_data.services
    assert services is not None and services.storage is not None
    return services.storage
