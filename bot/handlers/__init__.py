"""Every Telegram handler, registered in one place: the order below is the routing table.

Within a group PTB runs the first handler whose filter matches, so specific
handlers come before catch-alls.
"""

from __future__ import annotations

from bot.handlers import (
    admin,
    admin_autoreload,
    buttons,
    errors,
    flood,
    help,
    inline,
    language,
    media,
    nearest,
    privacy,
    questions,
    start,
)
from bot.knowledge.models import Lang
from bot.telegram.context import BotApp

#: The command menu Telegram shows, per language ("en" is also the default for others).
COMMANDS: dict[Lang, tuple[tuple[str, str], ...]] = {
    "zh": (
        ("start", "开始：问候和类别菜单"),
        ("nearest", "离我最近的服务点"),
        ("lang", "切换语言 / Language"),
        ("help", "怎么提问"),
        ("privacy", "隐私说明"),
        ("forget", "删除我的记录"),
    ),
    "en": (
        ("start", "Start: greeting and topics"),
        ("nearest", "Nearest service points"),
        ("lang", "Language / 切换语言"),
        ("help", "How to ask"),
        ("privacy", "What is stored about me"),
        ("forget", "Delete my records"),
    ),
}

#: Added to the menu of each admin's own chat (ADMIN_IDS), per language.
ADMIN_COMMANDS: dict[Lang, tuple[tuple[str, str], ...]] = {
    "zh": (
        ("stats", "提问统计（管理员）"),
        ("unanswered", "没答好的问题（管理员）"),
        ("reload", "重新加载知识库（管理员）"),
    ),
    "en": (
        ("stats", "Question statistics (admin)"),
        ("unanswered", "Questions not answered well (admin)"),
        ("reload", "Reload the knowledge files (admin)"),
    ),
}


def register_all(app: BotApp) -> None:
    """Add every handler to `app`, in routing order."""
    settings = app.bot_data.settings
    if settings is None:
        raise RuntimeError("set app.bot_data.settings before registering handlers")

    # Group -1 runs first for every update: a flooding resident stops here.
    flood.register(app)

    # Group 0, commands: before the text handler, which would otherwise see "/help" as text.
    start.register(app)
    help.register(app)
    privacy.register(app)
    language.register(app)
    nearest.register(app)  # also the location handler (locations are not text)

    buttons.register_presses_without_data(app)  # before the first pattern button handler

    # Admin commands, their `ua:` buttons and admins' uploads: after the resident commands,
    # before the catch-alls below (which would take /stats, `ua:` presses and documents).
    admin.register(app)

    # Catch-alls: any button press (forged data included), any inline query.
    buttons.register(app)
    inline.register(app)

    # Typed questions, then commands nobody registered (they get the help).
    questions.register(app)
    help.register_unknown_commands(app)

    # Last: anything that is not text or a location.
    media.register(app, admin_ids=settings.admin_ids)

    errors.register(app)

    # Not a handler: a job that reloads edited knowledge files (when AUTO_RELOAD is on).
    admin_autoreload.register(app)
