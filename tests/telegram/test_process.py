"""The bot process (`python -m bot run`) against the fake Bot API: answers, survives, stops cleanly."""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

from tests.reliability.processes import bot_environment, start_process
from tests.telegram import factories as f
from tests.telegram.factories import Resident
from tests.telegram.fake_api import ApiCall, FakeBotApi
from tests.telegram.harness import KNOWLEDGE_DIR

REPO = Path(__file__).resolve().parents[2]


def start_bot(api: FakeBotApi, tmp_path: Path, **env: str) -> subprocess.Popen[bytes]:
    """`python -m bot run` in `tmp_path` (so no developer .env is read), logging to bot.log."""
    # The embedding index takes half a minute to build from scratch; lexical is enough here.
    environment = bot_environment(
        api.url, tmp_path, LOG_LEVEL="INFO", SEMANTIC_ENABLED="false", **env
    )
    return start_process(["bot", "run"], environment, tmp_path, name="bot").process


def stop(process: subprocess.Popen[bytes], sig: signal.Signals = signal.SIGTERM) -> int:
    process.send_signal(sig)
    try:
        return process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise


def exchange(api: FakeBotApi, update: dict[str, Any], method: str, chat_id: int | None) -> ApiCall:
    """Push `update` and wait for the bot's `method` call (to `chat_id`)."""
    mark = api.mark()
    api.push(update)
    found = api.wait_for_blocking(
        method,
        since=mark,
        where=lambda c: chat_id is None or c.params.get("chat_id") == chat_id,
    )
    return found[0]


def test_bot_process_answers_everything_and_stops_on_sigterm(
    api: FakeBotApi, tmp_path: Path
) -> None:
    process = start_bot(api, tmp_path)
    try:
        api.wait_for_blocking("getUpdates", timeout=60)  # post_init done: polling
        zh, en = Resident.new("zh-hans"), Resident.new("en")

        menu = exchange(api, f.command(zh, "start"), "sendMessage", zh.id)
        assert "您好" in menu.text and "c:marriage" in menu.callback_data()

        answer = exchange(api, f.message(zh, "我想领证去哪"), "sendMessage", zh.id)
        assert "f:marriage-registration-points:+" in answer.callback_data()

        answer = exchange(api, f.message(en, "What does the Shenyang Station service desk do?"),
                          "sendMessage", en.id)  # fmt: skip
        assert "f:station-desk-services:+" in answer.callback_data()

        pressed = exchange(api, f.callback(zh, "c:marriage", message=menu.result),
                           "editMessageText", zh.id)  # fmt: skip
        assert "e:marriage-registration-points" in pressed.callback_data()

        venue = exchange(api, f.location(zh, 41.80, 123.40), "sendVenue", zh.id)
        assert venue.params["latitude"] == 41.7942

        sticker = exchange(api, f.sticker(zh), "sendMessage", zh.id)
        assert sticker.text

        mark = api.mark()
        api.push(f.callback(zh, "e:" + "x" * 80, message=menu.result))
        toast = api.wait_for_blocking("answerCallbackQuery", since=mark)[0]
        assert "失效" in toast.params["text"]

        inline = exchange(
            api, f.inline_query(en, "marriage registration"), "answerInlineQuery", None
        )
        assert inline.params["results"]

        long_answer = exchange(api, f.message(en, "a" * 5000), "sendMessage", en.id)
        assert long_answer.text

        assert process.poll() is None, "the bot stopped"
    finally:
        code = stop(process)
    log = (tmp_path / "bot.log").read_text(errors="replace")
    assert code == 0, log
    assert "Traceback" not in log, log
    # On the way out the bot confirmed what it fetched: nothing would be answered twice.
    assert api.all_confirmed()


def test_sigint_also_stops_cleanly(api: FakeBotApi, tmp_path: Path) -> None:
    process = start_bot(api, tmp_path)
    api.wait_for_blocking("getUpdates", timeout=60)
    assert stop(process, signal.SIGINT) == 0


def test_invalid_knowledge_exits_1_with_the_errors(api: FakeBotApi, tmp_path: Path) -> None:
    broken = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE_DIR, broken)
    categories = broken / "categories.yaml"
    categories.write_text(categories.read_text(encoding="utf-8") + "  - id: Not Kebab\n", "utf-8")
    process = start_bot(api, tmp_path, KNOWLEDGE_DIR=str(broken))
    assert process.wait(timeout=60) == 1
    log = (tmp_path / "bot.log").read_text(errors="replace")
    assert "does not validate" in log and "categories.yaml" in log


def test_refused_token_exits_1(api: FakeBotApi, tmp_path: Path) -> None:
    process = start_bot(api, tmp_path, TELEGRAM_BOT_TOKEN="999:not-the-token")
    assert process.wait(timeout=60) == 1
    assert "TELEGRAM_BOT_TOKEN" in (tmp_path / "bot.log").read_text(errors="replace")


def test_webhook_process_answers_and_stops_on_sigterm(api: FakeBotApi, tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    process = start_bot(
        api,
        tmp_path,
        WEBHOOK_URL=f"http://127.0.0.1:{port}/hook",
        WEBHOOK_LISTEN="127.0.0.1",
        WEBHOOK_PORT=str(port),
        WEBHOOK_SECRET="s3cret",
    )
    try:
        api.wait_for_blocking("setWebhook", timeout=60)
        resident = Resident.new()
        deadline = time.monotonic() + 30
        status = 0
        while status != 200 and time.monotonic() < deadline:  # the listener starts just after
            with contextlib.suppress(OSError):
                status = api.deliver_webhook(f.message(resident, "我想领证去哪"), secret="s3cret")
            time.sleep(0.05)
        assert status == 200
        answer = api.wait_for_blocking(
            "sendMessage", where=lambda c: c.params["chat_id"] == resident.id
        )
        assert "f:marriage-registration-points:+" in answer[0].callback_data()
        assert api.deliver_webhook(f.message(resident, "hi"), secret="nope") == 403
    finally:
        code = stop(process)
    assert code == 0, (tmp_path / "bot.log").read_text(errors="replace")
