"""A broken knowledge file is reloaded mid-run: the bot keeps answering from the previous knowledge.

The reload runs while questions are arriving, on a copy of knowledge/ in which
one file was just broken the ways an admin's edit can break it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.reliability.faulty_api import FaultyBotApi
from tests.reliability.scenario import Scenario
from tests.telegram.harness import make_settings, running_bot


def _append(name: str, text: str) -> Callable[[Path], None]:
    def breaks(directory: Path) -> None:
        path = directory / name
        path.write_text(path.read_text(encoding="utf-8") + text, encoding="utf-8")

    return breaks


def _truncate(name: str) -> Callable[[Path], None]:
    def breaks(directory: Path) -> None:
        path = directory / name
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])  # an upload cut off half-way

    return breaks


def _delete(name: str) -> Callable[[Path], None]:
    def breaks(directory: Path) -> None:
        (directory / name).unlink()  # entries elsewhere point at its categories

    return breaks


BREAKAGES = [
    pytest.param(_append("marriage.yaml", "  - id: [unclosed\n"), id="yaml-syntax"),
    pytest.param(_append("categories.yaml", "  - id: Not Kebab\n"), id="invalid-id"),
    pytest.param(_truncate("elderly-care.yaml"), id="truncated-file"),
    pytest.param(_delete("categories.yaml"), id="missing-categories"),
    pytest.param(_append("marriage.yaml", "\x00\xff"), id="binary-garbage"),
]


@pytest.mark.parametrize("break_knowledge", BREAKAGES)
async def test_broken_reload_keeps_the_previous_knowledge(
    api: FaultyBotApi,
    tmp_path: Path,
    shipped_copy: Path,
    break_knowledge: Callable[[Path], None],
) -> None:
    knowledge = shipped_copy
    scenario = Scenario.make(residents=4, questions_each=6)
    settings = make_settings(api, tmp_path, knowledge_dir=knowledge, flood_messages=100)
    async with running_bot(settings, api) as bot:
        services = bot.app.bot_data.services
        assert services is not None
        before = services.engines.knowledge
        await bot.send_all(scenario.updates(range(3)), timeout=60)

        break_knowledge(knowledge)
        asking = asyncio.create_task(bot.send_all(scenario.updates(range(3, 6)), timeout=60))
        result = await services.engines.reload()
        await asking

        assert not result.ok and result.errors
        assert services.engines.knowledge is before
    assert scenario.problems(api.calls()) == []
