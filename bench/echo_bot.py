"""A bare python-telegram-bot echo bot: the baseline of `bench_e2e`.

It uses the same PTB stack as the help-desk bot (HTTPXRequest with the same
timeouts, a separate getUpdates connection, HTML parse mode, long polling;
`bench_e2e` passes the app's concurrency and pool size) and does nothing but
escape the text and send it back, so the ratio of the two throughputs is the
cost of our own code. Its concurrency is PTB's plain `concurrent_updates(N)`.

    TELEGRAM_BOT_TOKEN=... TELEGRAM_BOT_API_URL=http://127.0.0.1:PORT \\
        python -m bench.echo_bot [--concurrent N] [--pool N]
"""

from __future__ import annotations

import argparse
import html
import os
from typing import Any

from telegram import Update
from telegram.constants import ParseMode
from telegram.ext import ApplicationBuilder, ContextTypes, Defaults, MessageHandler, filters

# Only the HTTP settings module: the echo bot must not load the help-desk stack.
from bot.telegram.request import plain_request, polling_request


async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The resident sees their own text back."""
    message = update.effective_message
    if message is not None and message.text:
        await message.reply_text(html.escape(message.text))


def main(argv: list[str] | None = None) -> int:
    """Run the echo bot until SIGINT/SIGTERM."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--concurrent",
        type=int,
        default=0,
        help="concurrent_updates (0: sequential, PTB's default)",
    )
    parser.add_argument("--pool", type=int, default=8, help="HTTP connection pool size (8)")
    parser.add_argument(
        "--transport",
        choices=("httpx", "aiohttp"),
        default="httpx",
        help="httpx: PTB's own request (default); aiohttp: the help-desk bot's transport",
    )
    args = parser.parse_args(argv)
    base = os.environ["TELEGRAM_BOT_API_URL"].rstrip("/")
    builder: ApplicationBuilder[Any, Any, Any, Any, Any, Any] = (
        ApplicationBuilder()
        .token(os.environ["TELEGRAM_BOT_TOKEN"])
        .base_url(f"{base}/bot")
        .base_file_url(f"{base}/file/bot")
        # The app's own HTTP settings, so the comparison is about the work, not the network.
        .request(plain_request(args.pool, args.transport))
        .get_updates_request(polling_request())
        .defaults(Defaults(parse_mode=ParseMode.HTML))
        .concurrent_updates(args.concurrent if args.concurrent > 1 else False)
    )
    app = builder.build()
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, echo))
    app.run_polling(timeout=10, allowed_updates=[Update.MESSAGE])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
