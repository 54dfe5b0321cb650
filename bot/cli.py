"""Command line: subcommands only; the work happens in the modules they call."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from bot.config import Settings, SettingsError, load_settings

PROG = "shenyang-helpdesk"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    from bot.evaluation import configure_eval_parser

    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Shenyang resident help-desk bot (Telegram, console and admin tools).",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser(
        "start", help="the Telegram bot when TELEGRAM_BOT_TOKEN is set, else the console chat"
    )
    sub.add_parser(
        "run", help="run the Telegram bot (long polling, or a webhook when WEBHOOK_URL is set)"
    )
    sub.add_parser("chat", help="chat with the bot in this terminal")
    p = sub.add_parser("ask", help="answer questions; with no QUESTION, one per line from stdin")
    p.add_argument("question", nargs="*", help="the question (words are joined with spaces)")
    p.add_argument("--json", action="store_true", help="print one JSON object per question")
    configure_eval_parser(
        sub.add_parser("eval", help="measure answer quality on an evaluation set")
    )
    p = sub.add_parser("validate", help="check the knowledge files; exit 1 on errors")
    p.add_argument(
        "directory", nargs="?", type=Path, help="knowledge folder (default KNOWLEDGE_DIR)"
    )
    p = sub.add_parser("stats", help="question statistics from the database")
    p.add_argument("--days", type=int, default=7)
    p.add_argument("--lang", choices=("zh", "en"), default="zh")
    p = sub.add_parser("unanswered", help="frequent questions the bot could not answer well")
    p.add_argument("--days", type=int, default=30)
    p.add_argument("--limit", type=int, default=20)
    p.add_argument("--csv", action="store_true", help="print CSV instead of text")
    p.add_argument("--lang", choices=("zh", "en"), default="zh")
    p = sub.add_parser("forget", help="delete everything stored about one Telegram user")
    p.add_argument("user_id", type=int)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `python -m bot` and the `shenyang-helpdesk` script."""
    try:
        status = _run(argv)
        # Output still buffered is written here, where a closed pipe is handled,
        # not at exit, where Python would print its own traceback.
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader stopped early (`python -m bot ask ... | head -1`): stop quietly,
        # as `yes | head -1` does. Python flushes stdout again at exit: point it at
        # /dev/null so that fails no more (the Python docs' "Note on SIGPIPE").
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return 128 + signal.SIGPIPE
    return status


def _run(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # httpx logs every request at INFO; that is noise for a bot that polls.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    return _dispatch(args, settings)


#: Commands that answer questions, and so need the sentence model.
_ANSWERING = frozenset({"start", "run", "chat", "ask", "eval"})


def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    command: str = args.command
    semantic = getattr(args, "semantic", None)  # eval --semantic / --no-semantic
    if semantic is not None:
        settings = settings.model_copy(update={"semantic_enabled": semantic})
    if command in _ANSWERING and settings.semantic_enabled and settings.embedding_model == "e5":
        # Start the model's worker process before this one imports the matcher and
        # loads the knowledge: they take about as long as the worker takes to build
        # its model, so the first question seldom waits for it.
        from bot.e5.worker import shared_process

        shared_process()
    from bot import commands

    if command == "start":
        return commands.start(settings)
    if command == "run":
        return commands.run_telegram(settings)
    if command == "chat":
        return commands.chat(settings)
    if command == "ask":
        return commands.ask(settings, args.question, as_json=args.json)
    if command == "eval":
        from bot.evaluation import run_eval_command

        return run_eval_command(args, settings)
    if command == "validate":
        return commands.validate(args.directory or settings.knowledge_dir)
    if command == "stats":
        return asyncio.run(commands.stats(settings, days=args.days, lang=args.lang))
    if command == "unanswered":
        return asyncio.run(
            commands.unanswered(
                settings, days=args.days, limit=args.limit, as_csv=args.csv, lang=args.lang
            )
        )
    if command == "forget":
        return asyncio.run(commands.forget(settings, args.user_id))
    raise AssertionError(f"unhandled command {command}")
