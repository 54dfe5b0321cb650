"""Build the Telegram Application and run it (long polling, or a webhook when configured).

Like rules-bot, the services (knowledge engine, database, conversation) are
opened in `post_init` and closed in `post_shutdown`, so they live exactly as
long as the Application and on its event loop.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import sys
from typing import Any
from urllib.parse import urlparse

from telegram import BotCommand, BotCommandScope, BotCommandScopeChat, LinkPreviewOptions, Update
from telegram.constants import ParseMode
from telegram.error import InvalidToken, TelegramError
from telegram.ext import AIORateLimiter, ApplicationBuilder, ContextTypes, Defaults

from bot.admin import AdminService
from bot.config import Settings
from bot.conversation import MATCH_THREADS
from bot.handlers import ADMIN_COMMANDS, COMMANDS, register_all
from bot.knowledge.loader import KnowledgeError
from bot.knowledge.models import Lang
from bot.services import Services
from bot.telegram.concurrency import PerSenderUpdateProcessor
from bot.telegram.context import BotApp, BotContext, BotData
from bot.telegram.polling import serve_polling
from bot.telegram.request import polling_request, sending_request

log = logging.getLogger(__name__)

#: Update kinds the bot handles; Telegram sends nothing else.
ALLOWED_UPDATES: tuple[str, ...] = (
    Update.MESSAGE,
    Update.EDITED_MESSAGE,
    Update.CALLBACK_QUERY,
    Update.INLINE_QUERY,
)
#: Long-poll duration of one getUpdates call (seconds); Telegram answers at once when busy.
POLL_TIMEOUT = 10
#: How often old records are deleted (RETENTION_DAYS decides which).
PURGE_INTERVAL = dt.timedelta(days=1)
#: First purge shortly after start, so a bot restarted daily still purges.
PURGE_FIRST = dt.timedelta(minutes=5)
#: Updates handled at once (of different residents; one resident's run in order)
#: with lexical matching only: more in flight only queue behind one another on the
#: event loop (`bench_e2e`: paced latency p50 5-6 ms with 32, 11-16 ms with 64 at
#: c0b0be7, where lexical matching had 64 too).
CONCURRENT_UPDATES = 32
#: The same with the sentence model on: a question waiting for the model holds its
#: slot in a thread of its own, and more waiting at once make fuller batches.
SEMANTIC_CONCURRENT_UPDATES = MATCH_THREADS


def concurrent_updates(settings: Settings) -> int:
    """Updates handled at once, and HTTP connections for the replies, under `settings`."""
    return SEMANTIC_CONCURRENT_UPDATES if settings.semantic_enabled else CONCURRENT_UPDATES


#: A 429 is retried this many times (after the wait Telegram asks for) before giving up.
RATE_LIMIT_RETRIES = 3


def build_application(settings: Settings) -> BotApp:
    """The Application with every handler registered; nothing is opened or contacted yet.

    Raises:
        ValueError: `settings` has no bot token.
    """
    if not settings.token:
        raise ValueError("TELEGRAM_BOT_TOKEN is not set")
    in_flight = concurrent_updates(settings)
    builder: ApplicationBuilder[Any, Any, Any, Any, Any, Any] = (
        ApplicationBuilder()
        .token(settings.token)
        .base_url(settings.bot_api_base_url)
        .base_file_url(settings.bot_api_file_url)
        # One connection per update in flight, so none waits for a free one. A 429 is left
        # to the rate limiter when there is one: it then pauses every send, not just one.
        .request(
            sending_request(
                in_flight,
                proxy=settings.telegram_proxy,
                retry_429=not settings.rate_limit,
            )
        )
        .get_updates_request(polling_request(settings.telegram_proxy))
        .concurrent_updates(PerSenderUpdateProcessor(in_flight))
        .context_types(ContextTypes(context=BotContext, bot_data=BotData))
        .defaults(
            Defaults(
                parse_mode=ParseMode.HTML, link_preview_options=LinkPreviewOptions(is_disabled=True)
            )
        )
        .post_init(_open_services)
        .post_shutdown(_close_services)
    )
    if settings.rate_limit:
        builder = builder.rate_limiter(AIORateLimiter(max_retries=RATE_LIMIT_RETRIES))
    app: BotApp = builder.build()
    app.bot_data.settings = settings
    register_all(app)
    return app


def webhook_options(settings: Settings) -> dict[str, Any]:
    """Arguments of `run_webhook` / `Updater.start_webhook` for WEBHOOK_URL.

    The bot listens on the path of the public URL, so a reverse proxy can pass
    requests through unchanged.
    """
    if not settings.webhook_url:
        raise ValueError("WEBHOOK_URL is not set")
    secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else None
    return {
        "listen": settings.webhook_listen,
        "port": settings.webhook_port,
        "url_path": urlparse(settings.webhook_url).path.lstrip("/"),
        "webhook_url": settings.webhook_url,
        "secret_token": secret,
        "allowed_updates": list(ALLOWED_UPDATES),
    }


def polling_options(settings: Settings) -> dict[str, Any]:
    """Arguments of `serve_polling` / `polling_lifecycle`: the long poll, the update kinds,
    and the answered-updates journal (beside the database: `DATABASE_PATH` with its suffix replaced by `.answered`)."""
    return {
        "timeout": POLL_TIMEOUT,
        "allowed_updates": list(ALLOWED_UPDATES),
        "journal": settings.database_path.with_suffix(".answered"),
    }


def run(settings: Settings) -> int:
    """Run the bot until SIGINT or SIGTERM.

    Returns:
        0 after a clean stop; 1 when the knowledge does not validate or the token is refused.
    """
    app = build_application(settings)
    # The job queue's scheduler logs every start and stop at INFO: noise next to the bot's log.
    logging.getLogger("apscheduler").setLevel(max(logging.WARNING, log.getEffectiveLevel()))
    try:
        if settings.webhook_url:
            log.info(
                "starting the webhook on %s:%s", settings.webhook_listen, settings.webhook_port
            )
            app.run_webhook(**webhook_options(settings))
        else:
            log.info("starting long polling at %s", settings.telegram_bot_api_url)
            # Not app.run_polling: PTB's Updater confirms updates before they are answered.
            asyncio.run(serve_polling(app, **polling_options(settings)))
    except KnowledgeError as exc:
        print(
            f"The knowledge in {settings.knowledge_dir} does not validate:\n{exc}", file=sys.stderr
        )
        return 1
    except InvalidToken:
        print("Telegram refused TELEGRAM_BOT_TOKEN: check it with @BotFather.", file=sys.stderr)
        return 1
    return 0


async def _open_services(app: BotApp) -> None:
    """post_init: open the services, publish the command menu, schedule the purge."""
    settings = app.bot_data.settings
    assert settings is not None  # build_application sets it
    services = await Services.open(settings)
    app.bot_data.services = services
    if services.storage is not None:  # admin work needs the database
        app.bot_data.admin = AdminService(settings, services.engines, services.storage)
    await _publish_commands(app, admin_ids=settings.admin_ids)
    if services.storage is not None and app.job_queue is not None:
        app.job_queue.run_repeating(
            _purge_expired, interval=PURGE_INTERVAL, first=PURGE_FIRST, name="retention-purge"
        )
    log.info(
        "ready: %d entries, bot @%s", len(services.engines.knowledge.entries), app.bot.username
    )


async def _publish_commands(app: BotApp, *, admin_ids: frozenset[int]) -> None:
    """The command menu for everyone, and with the admin commands in each admin's chat."""
    menus: list[tuple[BotCommandScope | None, dict[Lang, tuple[tuple[str, str], ...]]]] = [
        (None, COMMANDS)
    ]
    menus += [
        (
            BotCommandScopeChat(admin_id),
            {lang: COMMANDS[lang] + ADMIN_COMMANDS[lang] for lang in COMMANDS},
        )
        for admin_id in sorted(admin_ids)
    ]
    for scope, menu in menus:
        for lang, commands in menu.items():
            try:
                await app.bot.set_my_commands(
                    [BotCommand(name, description) for name, description in commands],
                    scope=scope,
                    # English is also the menu of every client language without its own list.
                    language_code=None if lang == "en" else lang,
                )
            except TelegramError as exc:  # a missing menu is no reason not to answer
                # (an admin who never opened a chat with the bot gives "chat not found")
                log.warning("could not set the command menu (%s, %s): %s", scope, lang, exc)


async def _close_services(app: BotApp) -> None:
    """post_shutdown: close the database."""
    app.bot_data.admin = None
    services, app.bot_data.services = app.bot_data.services, None
    if services is not None:
        await services.close()


async def _purge_expired(context: BotContext) -> None:
    """Delete records older than RETENTION_DAYS (daily job)."""
    storage = context.services.storage
    if storage is not None:
        removed = await storage.purge_expired()
        log.info("retention purge removed %d row(s)", removed)
