"""Telegram misbehaving during a run: every question still gets exactly one reply, in order.

The real Application (rate limiter on, as in production) polls the fake Bot API.
Half of the questions are answered, then the fault is armed and the other half
arrives; afterwards each chat must hold one answer per question, in the order
asked. "Exactly one" matters both ways: a lost answer leaves a resident waiting,
a duplicate means the bot re-sent something Telegram had already delivered.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.telegram.app import build_application, polling_options
from bot.telegram.polling import polling_lifecycle
from tests.reliability.faulty_api import DROPPED, STALL_SECONDS, STALLED, FaultyBotApi
from tests.reliability.scenario import Scenario
from tests.telegram.harness import make_settings, running_bot

Fault = Callable[[FaultyBotApi], None]


async def _run(api: FaultyBotApi, tmp_path: Path, arm: Fault, *, timeout: float = 60) -> Scenario:
    scenario = Scenario.make(residents=5, questions_each=6)
    settings = make_settings(api, tmp_path, rate_limit=True, flood_messages=100)
    async with running_bot(settings, api) as bot:
        await bot.send_all(scenario.updates(range(3)), timeout=timeout)
        arm(api)
        await bot.send_all(scenario.updates(range(3, 6)), timeout=timeout)
    return scenario


def _attempts(api: FaultyBotApi, method: str, error: int) -> int:
    return sum(1 for c in api.calls(method) if c.error == error)


async def test_429_with_retry_after(api: FaultyBotApi, tmp_path: Path) -> None:
    # Who retries (rate limiter or request object) is told apart in
    # tests/telegram/test_resilience.py; here only the replies matter.
    scenario = await _run(api, tmp_path, lambda a: a.fail_next("sendMessage", 3, retry_after=1))
    assert _attempts(api, "sendMessage", 429) == 3
    assert scenario.problems(api.calls()) == []


async def test_get_updates_failing_every_way(api: FaultyBotApi, tmp_path: Path) -> None:
    """Polling errors: PTB's updater backs off and polls again; nothing is skipped."""

    def arm(a: FaultyBotApi) -> None:
        a.fail_next("getUpdates", 1, code=500)
        a.fail_next("getUpdates", 1, code=429, retry_after=1)
        a.drop_next("getUpdates", 2)

    scenario = await _run(api, tmp_path, arm)
    assert _attempts(api, "getUpdates", 500) == 1
    assert _attempts(api, "getUpdates", DROPPED) == 2
    assert scenario.problems(api.calls()) == []


async def test_500_on_send(api: FaultyBotApi, tmp_path: Path) -> None:
    scenario = await _run(api, tmp_path, lambda a: a.fail_next("sendMessage", 2, code=500))
    assert _attempts(api, "sendMessage", 500) == 2
    assert scenario.problems(api.calls()) == []


async def test_dropped_connection_on_send(api: FaultyBotApi, tmp_path: Path) -> None:
    scenario = await _run(api, tmp_path, lambda a: a.drop_next("sendMessage", 2))
    assert _attempts(api, "sendMessage", DROPPED) == 2
    assert scenario.problems(api.calls()) == []


@pytest.mark.slow
async def test_send_timing_out(api: FaultyBotApi, tmp_path: Path) -> None:
    scenario = await _run(api, tmp_path, lambda a: a.stall_next("sendMessage", STALL_SECONDS))
    assert _attempts(api, "sendMessage", STALLED) == 1
    assert scenario.problems(api.calls()) == []


async def test_poller_failing_before_the_block_fails_leaves_no_stray_error(
    api: FaultyBotApi, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Both failed: the block's error propagates, and the poller's is not left unseen.

    asyncio logs (it does not warn) "Task exception was never retrieved" when a failed
    task is collected unseen, so this reads the log rather than relying on filterwarnings.
    """
    api.fail_next("getUpdates", 1, code=401)  # a refused token: the poller raises
    settings = make_settings(api, tmp_path)
    app = build_application(settings)
    with pytest.raises(RuntimeError, match="the block failed"):
        async with polling_lifecycle(app, asyncio.Event(), **polling_options(settings)) as poller:
            await asyncio.wait([poller])  # failed: its exception is not looked at here
            del poller  # the last reference must go for the task to be collected
            raise RuntimeError("the block failed")
    assert _attempts(api, "getUpdates", 401) == 1
    gc.collect()  # the unseen-exception message is logged when the task is collected
    assert "never retrieved" not in caplog.text
