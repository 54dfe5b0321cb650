"""The bot process is SIGKILLed mid-run and started again: no question is lost.

Telegram keeps an update until a getUpdates call with a later offset confirms it,
so whatever the killed process had not confirmed is delivered again after the
restart. What it had answered is in the answered-updates journal and is not
answered again; a question caught between its reply and its journal line may
be answered twice, but never zero times.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from bot.telegram.app import CONCURRENT_UPDATES  # semantic matching is off here
from tests.reliability.faulty_api import FaultyBotApi
from tests.reliability.processes import bot_environment, start_process, wait_until
from tests.reliability.scenario import Scenario


def _answered(api: FaultyBotApi) -> int:
    return len([c for c in api.calls("sendMessage") if c.error is None])


def _quiet_for(api: FaultyBotApi, seconds: float) -> bool:
    """No sendMessage in the last `seconds` (the fake stamps no times: sample twice)."""
    before = _answered(api)
    time.sleep(seconds)
    return _answered(api) == before


@pytest.mark.slow
def test_sigkill_then_restart_loses_nothing(api: FaultyBotApi, tmp_path: Path) -> None:
    scenario = Scenario.make(residents=20, questions_each=10)
    env = bot_environment(
        api.url, tmp_path, SEMANTIC_ENABLED="false", RATE_LIMIT="false", FLOOD_MESSAGES="1000"
    )
    first = start_process(["bot", "run"], env, tmp_path, name="first")
    try:
        api.wait_for_blocking("getUpdates", timeout=60)
        for update in scenario.updates():
            api.push(update)
        assert wait_until(lambda: _answered(api) >= 40, timeout=60), first.log_tail()
        first.kill()
    finally:
        first.kill()
    killed_at = _answered(api)
    # Killed mid-run, or the restart would have nothing left to prove.
    assert killed_at < scenario.total, "every question was answered before the kill"

    mark = api.mark()
    second = start_process(["bot", "run"], env, tmp_path, name="second")
    try:
        api.wait_for_blocking("getUpdates", since=mark, timeout=60)
        # Everything confirmed and a quiet second: the second process is done.
        wait_until(api.all_confirmed, timeout=60)
        wait_until(lambda: _quiet_for(api, 1.0), timeout=30, interval=0.2)
    finally:
        code = second.stop()
    assert code == 0, second.log_tail()
    answered = scenario.distinct_answered(api.calls())
    missing = {
        chat: sorted({e for _, e in scenario.plan[chat]} - got)
        for chat, got in answered.items()
        if len(got) < len(scenario.plan[chat])
    }
    lost = sum(len(m) for m in missing.values())
    sample = dict(list(missing.items())[:2])
    assert not missing, (
        f"{lost} of {scenario.total} questions never answered"
        f" ({killed_at} answers before the kill); e.g. {sample}"
    )
    # Without the journal every answered but unconfirmed update came again (43-45 in
    # this scenario); with it, only the sends in flight at the kill: their reply reached
    # Telegram before the bot saw it acknowledged and journaled it (6-8 here), never
    # more than the updates handled at once.
    repeated = _answered(api) - scenario.total
    assert repeated <= CONCURRENT_UPDATES, f"{repeated} questions answered twice"
