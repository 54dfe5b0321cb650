"""Admin commands: /stats, /unanswered (with "add to entry" buttons), /reload, .yaml uploads.

Only ADMIN_IDS may use them, and only in a private chat with the bot, so reports
(which quote residents' questions) never reach a group. Anyone else gets a
polite refusal that shows nothing admin-only. The work is `AdminService`'s,
shared with the command line; these handlers check who asks, call it, reply.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from telegram import Message, Update
from telegram.constants import ChatType
from telegram.ext import CallbackQueryHandler, CommandHandler, MessageHandler, filters

from bot.admin import AdminService
from bot.admin.reports import UnansweredGroup
from bot.conversation import Button, Reply, ReplyKind
from bot.knowledge.loader import KNOWLEDGE_SUFFIXES
from bot.knowledge.models import Lang
from bot.matching import detect_language
from bot.storage import StorageUnavailable
from bot.telegram.context import BotApp, BotContext
from bot.telegram.render import without_actions
from bot.telegram.send import send_new, send_reply

log = logging.getLogger(__name__)

#: Callback data of an "add this question to the entry" button: `ua:<token>`.
SUGGESTION_PREFIX = "ua:"
#: Knowledge files are a few kB; anything bigger is a mistake, refused before download.
MAX_UPLOAD_BYTES = 1_000_000
DEFAULT_STATS_DAYS = 7
UNANSWERED_DAYS = 30
MAX_DAYS = 365
#: Groups /unanswered shows (each may get a button).
UNANSWERED_GROUPS = 10
#: Entry titles in button labels are cut here; the report above has them whole.
LABEL_TITLE_CHARS = 30

_TEXTS: dict[str, dict[Lang, str]] = {
    "refused": {
        "zh": "抱歉，这个命令只供服务台管理员使用。如有问题，请直接输入。",
        "en": "Sorry, this command is for the help-desk administrators only. "
        "Just type your question if you need help.",
    },
    "private_only": {
        "zh": "请在与我的私聊中使用管理命令，以免群里看到报告。",
        "en": "Please use admin commands in a private chat with me, so the group does not see reports.",
    },
    "stats_usage": {
        "zh": "用法：/stats [天数]，天数为 1 到 365，默认 7。",
        "en": "Usage: /stats [days], days from 1 to 365, default 7.",
    },
    "unanswered_usage": {
        "zh": "用法：/unanswered [天数]，天数为 1 到 365，默认 30。",
        "en": "Usage: /unanswered [days], days from 1 to 365, default 30.",
    },
    "chart_caption": {"zh": "每日消息数（{days} 天）", "en": "Messages per day ({days} days)"},
    "add_button": {"zh": "➕ {n}. 加入「{title}」", "en": "➕ {n}. add to “{title}”"},
    "db_down": {
        "zh": "数据库暂时不可用，无法生成报告，请稍后再试。",
        "en": "The database is unavailable right now, so there is no report. Please try again later.",
    },
    "reloaded": {
        "zh": "知识库已重新加载：{n} 个条目。",
        "en": "Knowledge reloaded: {n} entries.",
    },
    "reload_failed": {
        "zh": "重新加载失败，机器人继续使用之前的知识库。错误：",
        "en": "The reload failed; the bot keeps answering from the previous knowledge. Errors:",
    },
    "not_yaml": {
        "zh": "只接受知识库文件（.yaml），例如 marriage.yaml。",
        "en": "Only knowledge files (.yaml) are accepted, e.g. marriage.yaml.",
    },
    "too_big": {
        "zh": "文件太大（上限 1 MB），知识库文件通常只有几 KB，请检查是否发错了文件。",
        "en": "The file is too big (1 MB at most); knowledge files are a few kB. Is it the right file?",
    },
}


def _t(key: str, lang: Lang) -> str:
    return _TEXTS[key][lang]


# ----- handlers --------------------------------------------------------------------------


async def show_stats(update: Update, context: BotContext) -> None:
    """The admin sees the usage report of the last N days and a chart of it."""
    request = await _admin_request(update, context)
    if request is None:
        return
    message, admin, lang = request
    days = _days(context.args, default=DEFAULT_STATS_DAYS)
    if days is None:
        await _say(message, lang, _t("stats_usage", lang))
        return
    try:
        text, chart = await admin.stats_report(days=days, lang=lang, with_chart=True)
    except StorageUnavailable:
        await _say(message, lang, _t("db_down", lang))
        return
    await _say(message, lang, text)
    if chart is not None:
        await message.reply_photo(chart, caption=_t("chart_caption", lang).format(days=days))


async def show_unanswered(update: Update, context: BotContext) -> None:
    """The admin sees frequent unanswered questions, each with a button adding it to its closest entry."""
    request = await _admin_request(update, context)
    if request is None:
        return
    message, admin, lang = request
    days = _days(context.args, default=UNANSWERED_DAYS)
    if days is None:
        await _say(message, lang, _t("unanswered_usage", lang))
        return
    try:
        groups = await admin.unanswered_groups(days=days, limit=UNANSWERED_GROUPS)
    except StorageUnavailable:
        await _say(message, lang, _t("db_down", lang))
        return
    titles = admin.entry_titles(lang)  # the report and its buttons share one copy
    text = admin.unanswered_report(groups, lang=lang, titles=titles)
    buttons = _suggestion_buttons(admin, groups, titles=titles, lang=lang)
    await _say(message, lang, text, buttons=buttons)


async def accept_suggestion(update: Update, context: BotContext) -> None:
    """The pressed question is added to the entry's file and reloaded; the admin sees the result."""
    query = update.callback_query
    user = update.effective_user
    if query is None or user is None:
        return
    admin = context.admin
    lang = await context.conversation.reply_lang(context.resident(update))
    if not admin.is_admin(user.id):
        await query.answer(_t("refused", lang))
        return
    data = query.data or ""
    message = query.message
    if isinstance(message, Message):
        await query.answer()  # at once: the edit and the reload take a moment
    result = await admin.accept_suggestion(user.id, data.removeprefix(SUGGESTION_PREFIX), lang=lang)
    if not isinstance(message, Message):  # no chat to write to: the toast carries the result
        await query.answer(result.message[:200], show_alert=True)
        return
    if result.ok and message.reply_markup:
        # The token is used up: its button goes, the others stay usable.
        await message.edit_reply_markup(without_actions(message.reply_markup, data))
    await send_new(query, Reply(ReplyKind.INFO, lang, result.message))


async def reload_knowledge(update: Update, context: BotContext) -> None:
    """The knowledge files are read again; the admin sees the entry count or the file:line errors."""
    request = await _admin_request(update, context)
    if request is None:
        return
    message, admin, lang = request
    assert update.effective_user is not None  # _admin_request checked it
    result = await admin.reload(update.effective_user.id)
    if result.ok:
        text = _t("reloaded", lang).format(n=result.entries)
    else:
        text = "\n".join([_t("reload_failed", lang), *result.errors])
    await _say(message, lang, text)


async def upload_knowledge(update: Update, context: BotContext) -> None:
    """An admin's .yaml replaces that knowledge file if valid; they see what changed or the errors."""
    request = await _admin_request(update, context)
    if request is None:
        return
    message, admin, lang = request
    document = message.document
    assert document is not None and update.effective_user is not None  # the filter and guard
    name = document.file_name or ""
    if not name.endswith(KNOWLEDGE_SUFFIXES):
        await _say(message, lang, _t("not_yaml", lang))
        return
    if (document.file_size or 0) > MAX_UPLOAD_BYTES:
        await _say(message, lang, _t("too_big", lang))
        return
    data = bytes(await (await document.get_file()).download_as_bytearray())
    if len(data) > MAX_UPLOAD_BYTES:  # file_size is optional in the Bot API
        await _say(message, lang, _t("too_big", lang))
        return
    result = await admin.upload(update.effective_user.id, name, data, lang=lang)
    log.info("admin upload of %s: %s", name, "accepted" if result.ok else "refused")
    await _say(message, lang, result.message)


# ----- helpers ---------------------------------------------------------------------------


async def _admin_request(
    update: Update, context: BotContext
) -> tuple[Message, AdminService, Lang] | None:
    """The message, service and reply language of an admin in private; else refuse (None)."""
    message = update.effective_message
    user = update.effective_user
    if message is None or user is None:
        return None
    admin = context.admin
    lang = await context.conversation.reply_lang(context.resident(update))
    if not admin.is_admin(user.id):
        await _say(message, lang, _t("refused", lang))
        return None
    if message.chat.type != ChatType.PRIVATE:
        await _say(message, lang, _t("private_only", lang))
        return None
    return message, admin, lang


def _days(args: Sequence[str] | None, *, default: int) -> int | None:
    """The optional day-count argument, or None when it is not a number from 1 to MAX_DAYS."""
    if not args:
        return default
    if len(args) != 1 or not args[0].isascii() or not args[0].isdigit():
        return None
    days = int(args[0])
    return days if 1 <= days <= MAX_DAYS else None


def _suggestion_buttons(
    admin: AdminService,
    groups: Sequence[UnansweredGroup],
    *,
    titles: Mapping[str, str],
    lang: Lang,
) -> tuple[tuple[Button, ...], ...]:
    """One "add to <entry>" button per group that has a closest entry, numbered like the report.

    `titles` is `admin.entry_titles(lang)`.
    """
    rows = []
    for number, group in enumerate(groups, 1):
        if group.entry_id is None or group.entry_id not in titles:
            continue
        suggestion = admin.suggest(group.text, group.entry_id, lang=detect_language(group.text))
        title = titles[group.entry_id]
        if len(title) > LABEL_TITLE_CHARS:
            title = title[: LABEL_TITLE_CHARS - 1] + "…"
        label = _t("add_button", lang).format(n=number, title=title)
        rows.append((Button(label, action=SUGGESTION_PREFIX + suggestion.token),))
    return tuple(rows)


async def _say(
    message: Message, lang: Lang, text: str, *, buttons: tuple[tuple[Button, ...], ...] = ()
) -> None:
    """Reply with plain `text` (escaped and split by the renderer)."""
    await send_reply(message, Reply(ReplyKind.INFO, lang, text, buttons=buttons))


def register(app: BotApp) -> None:
    """Add the admin commands, the suggestion buttons and admins' knowledge uploads.

    Order matters: register after the resident commands and before the catch-all
    button handler (it would take `ua:` presses), the unknown-command help (it
    would take /stats) and the media handler.
    """
    settings = app.bot_data.settings
    if settings is None:
        raise RuntimeError("set app.bot_data.settings before registering handlers")
    # New messages only: editing "/reload" must not reload again.
    new = filters.UpdateType.MESSAGE
    app.add_handler(CommandHandler("stats", show_stats, filters=new))
    app.add_handler(CommandHandler("unanswered", show_unanswered, filters=new))
    app.add_handler(CommandHandler("reload", reload_knowledge, filters=new))
    app.add_handler(CallbackQueryHandler(accept_suggestion, pattern=f"^{SUGGESTION_PREFIX}"))
    # Only admins' documents in private; everyone else's get the media handler's notice.
    admins = filters.User(user_id=settings.admin_ids)
    uploads = new & filters.Document.ALL & admins & filters.ChatType.PRIVATE
    app.add_handler(MessageHandler(uploads, upload_knowledge))
