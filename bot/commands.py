"""What each command-line subcommand does; `cli.py` only parses arguments."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from bot.config import Settings
from bot.knowledge.loader import KnowledgeError, validate_knowledge


def start(settings: Settings) -> int:
    """`make run`: the Telegram bot with a token, else the console chat."""
    if settings.token:
        return run_telegram(settings)
    print(
        "No TELEGRAM_BOT_TOKEN set: starting the console chat.\n"
        "To run on Telegram, get a token from @BotFather and run:\n"
        "  TELEGRAM_BOT_TOKEN=... make run      (or put it in .env)\n",
        file=sys.stderr,
    )
    return chat(settings)


def run_telegram(settings: Settings) -> int:
    """Run the Telegram bot until SIGINT/SIGTERM."""
    if not settings.token:
        print("TELEGRAM_BOT_TOKEN is not set: get one from @BotFather.", file=sys.stderr)
        return 2
    from bot.telegram.app import run

    return run(settings)


def chat(settings: Settings) -> int:
    """The console conversation."""
    from bot.console import chat as console_chat

    # Log lines would interleave with the conversation: only problems are shown.
    logging.getLogger().setLevel(max(logging.WARNING, logging.getLogger().level))

    async def _main() -> int:
        services = await _open(settings)
        if services is None:
            return 1
        try:
            await console_chat(services.conversation)
        finally:
            await services.close()
        return 0

    try:
        return asyncio.run(_main())
    except KeyboardInterrupt:
        return 0


def ask(settings: Settings, words: Sequence[str], *, as_json: bool) -> int:
    """Answer one question, or one per stdin line (batch)."""
    from bot.console import ask as console_ask

    questions: list[str] | None = [" ".join(words)] if words else None

    async def _main() -> int:
        # `ask` is a tool for scripts and evaluation: it does not record questions.
        services = await _open(settings, with_storage=False)
        if services is None:
            return 1
        lines = questions if questions is not None else _stdin_lines()
        return await console_ask(services.conversation, lines, as_json=as_json)

    return asyncio.run(_main())


def _stdin_lines() -> list[str]:
    # Decode leniently: a bad byte in one line must not end the batch.
    data = sys.stdin.buffer.read().decode("utf-8", errors="replace")
    return data.splitlines()


def validate(directory: Path) -> int:
    """Check the knowledge files; errors exit 1, warnings are printed."""
    report = validate_knowledge(directory)
    for problem in report.errors:
        print(f"error: {problem}")
    for problem in report.warnings:
        print(f"warning: {problem}")
    if report.errors:
        print(f"{len(report.errors)} error(s), {len(report.warnings)} warning(s)", file=sys.stderr)
        return 1
    kb = report.knowledge
    n = len(kb.entries) if kb else 0
    print(f"ok: {n} entries, {len(report.warnings)} warning(s) in {directory}")
    return 0


async def _open(settings: Settings, *, with_storage: bool = True):  # type: ignore[no-untyped-def]
    from bot.services import Services

    try:
        return await Services.open(settings, with_storage=with_storage)
    except KnowledgeError as exc:
        print(
            f"The knowledge in {settings.knowledge_dir} does not validate:\n{exc}", file=sys.stderr
        )
        return None


async def stats(settings: Settings, *, days: int, lang: str) -> int:
    """Print question statistics."""
    from bot.admin import AdminService

    async with AdminService.for_cli(settings) as admin:
        text, _ = await admin.stats_report(days=days, lang="en" if lang == "en" else "zh")
        print(text)
    return 0


async def unanswered(settings: Settings, *, days: int, limit: int, as_csv: bool, lang: str) -> int:
    """Print the most frequent unanswered questions."""
    from bot.admin import AdminService

    async with AdminService.for_cli(settings) as admin:
        if as_csv:
            print(await admin.unanswered_csv(days=days, limit=limit), end="")
        else:
            text = await admin.unanswered_text(
                days=days, limit=limit, lang="en" if lang == "en" else "zh"
            )
            print(text)
    return 0


async def forget(settings: Settings, user_id: int) -> int:
    """Delete one user's records."""
    from bot.admin import AdminService

    async with AdminService.for_cli(settings) as admin:
        removed = await admin.forget(user_id)
    print(f"deleted {removed} row(s) for user {user_id}")
    return 0
