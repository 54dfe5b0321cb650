"""Admin work, for any channel: reports, reloads, knowledge edits, deletion.

Telegram admin handlers and the command line both call `AdminService`; it
never imports telegram. Every change is written to the audit log.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from bot.admin.charts import daily_chart_png
from bot.admin.editing import add_alternate_question, replace_knowledge_file
from bot.admin.reports import (
    UnansweredGroup,
    format_stats,
    format_unanswered,
    group_unanswered,
    unanswered_csv,
)
from bot.bounded import BoundedMap
from bot.config import Settings
from bot.knowledge.models import Lang
from bot.matching import MatchOutcome
from bot.runtime import EngineHolder, ReloadResult, open_engine
from bot.storage import Storage

#: Shenyang's days run on China Standard Time; reports count days there.
SHENYANG_UTC_OFFSET = dt.timedelta(hours=8)
#: How many "add this question" suggestions an admin can have open at once.
MAX_PENDING_SUGGESTIONS = 200
#: The audit log's admin for actions run from the command line (no Telegram id).
CLI_ADMIN_ID = 0


@dataclass(frozen=True)
class Suggestion:
    """An unanswered question an admin may add to an entry (looked up by a short token)."""

    token: str
    question: str
    entry_id: str
    lang: Lang


@dataclass(frozen=True)
class EditResult:
    """The outcome of a knowledge change, as text for the admin."""

    ok: bool
    message: str


@dataclass
class AdminService:
    """Admin operations over the running engine and the database."""

    settings: Settings
    engines: EngineHolder
    storage: Storage
    _pending: BoundedMap[str, Suggestion] = field(
        default_factory=lambda: BoundedMap(MAX_PENDING_SUGGESTIONS), init=False, repr=False
    )

    @classmethod
    @asynccontextmanager
    async def for_cli(cls, settings: Settings) -> AsyncIterator[AdminService]:
        """An admin service for one command-line call (opens and closes the database)."""
        engines = await asyncio.to_thread(open_engine, settings)
        storage = await Storage.open(
            settings.database_path,
            secret=settings.user_hash_secret.get_secret_value(),
            retention_days=settings.retention_days,
        )
        try:
            yield cls(settings, engines, storage)
        finally:
            await storage.close()

    def is_admin(self, user_id: int) -> bool:
        """Whether this Telegram user may use admin commands."""
        return user_id in self.settings.admin_ids

    # ----- reports ------------------------------------------------------------------------

    def entry_titles(self, lang: Lang) -> dict[str, str]:
        """Entry id -> title in `lang`, of the knowledge in use."""
        return {e.id: e.title.get(lang) for e in self.engines.knowledge.entries.values()}

    async def stats_report(
        self, *, days: int, lang: Lang, with_chart: bool = False
    ) -> tuple[str, bytes | None]:
        """Questions per day, outcome rates, top entries and categories, 👎 count; and,
        with `with_chart`, a PNG of the daily volume and outcome mix (one query for both)."""
        stats = await self.storage.stats(days=days, utc_offset=SHENYANG_UTC_OFFSET)
        kb = self.engines.knowledge
        titles = self.entry_titles(lang)
        categories = {
            e.id: kb.categories[e.category].title.get(lang)
            for e in kb.entries.values()
            if e.category in kb.categories
        }
        text = format_stats(stats, lang=lang, titles=titles, categories=categories, zone="UTC+8")
        chart = await asyncio.to_thread(daily_chart_png, stats) if with_chart else None
        return text, chart

    async def unanswered_groups(self, *, days: int, limit: int) -> list[UnansweredGroup]:
        """Frequent fallback, clarify and 👎 questions, near-duplicates grouped, with the closest entry."""
        questions = await self.storage.unanswered(days=days, limit=limit * 5)
        engine = self.engines.current

        def closest(text: str) -> tuple[str, float] | None:
            result = engine.answer(text)
            if result.outcome in (MatchOutcome.INVALID, MatchOutcome.SMALLTALK) or not result.top:
                return None
            return result.top.doc_id, result.top.score

        groups = await asyncio.to_thread(group_unanswered, questions, closest=closest)
        return groups[:limit]

    def unanswered_report(
        self,
        groups: Sequence[UnansweredGroup],
        *,
        lang: Lang,
        titles: Mapping[str, str],
    ) -> str:
        """`groups` (from `unanswered_groups`) as the text of the unanswered report;
        `titles` is `entry_titles(lang)` (the caller may need it for buttons too)."""
        return format_unanswered(groups, titles=titles, lang=lang, utc_offset=SHENYANG_UTC_OFFSET)

    async def unanswered_text(self, *, days: int, limit: int, lang: Lang) -> str:
        """The unanswered report as text."""
        groups = await self.unanswered_groups(days=days, limit=limit)
        return self.unanswered_report(groups, lang=lang, titles=self.entry_titles(lang))

    async def unanswered_csv(self, *, days: int, limit: int) -> str:
        """The unanswered report as CSV."""
        return unanswered_csv(await self.unanswered_groups(days=days, limit=limit))

    def suggest(self, question: str, entry_id: str, *, lang: Lang) -> Suggestion:
        """Remember a question an admin may add to an entry; returns its short token."""
        token = secrets.token_hex(4)
        suggestion = Suggestion(token, question, entry_id, lang)
        self._pending.put(token, suggestion)  # the oldest open suggestion goes when full
        return suggestion

    # ----- changes ------------------------------------------------------------------------

    async def accept_suggestion(
        self, admin_id: int, token: str, *, lang: Lang = "en"
    ) -> EditResult:
        """Add a suggested question to its entry's file, validate and reload."""
        suggestion = self._pending.pop(token)
        if suggestion is None:
            return EditResult(False, _MESSAGES["expired"][lang])
        directory = self.settings.knowledge_dir
        try:
            path = await asyncio.to_thread(
                add_alternate_question,
                directory,
                suggestion.entry_id,
                suggestion.question,
                lang=suggestion.lang,
            )
        except (ValueError, KeyError) as exc:
            return EditResult(False, _MESSAGES["not_added"][lang].format(error=exc))
        result = await self.reload(admin_id, reason=f"added question to {suggestion.entry_id}")
        # The file changed whether or not the reload worked: the audit says so either way.
        detail = f"{suggestion.entry_id} <- {suggestion.question} ({path.name})"
        await self.storage.record_audit(
            admin_id,
            action="add_question",
            detail=detail if result.ok else f"{detail}; reload failed",
        )
        if not result.ok:
            return EditResult(
                False, "\n".join([_MESSAGES["added_reload_failed"][lang], *result.errors])
            )
        return EditResult(
            True,
            _MESSAGES["added"][lang].format(
                question=suggestion.question, entry=suggestion.entry_id, file=path.name
            ),
        )

    async def reload(self, admin_id: int, *, reason: str = "reload") -> ReloadResult:
        """Reload the knowledge; on errors the current knowledge stays in use."""
        result = await self.engines.reload()
        detail = f"{reason}: ok, {result.entries} entries" if result.ok else f"{reason}: failed"
        await self.storage.record_audit(admin_id, action="reload", detail=detail)
        return result

    async def upload(
        self, admin_id: int, filename: str, data: bytes, *, lang: Lang = "en"
    ) -> EditResult:
        """Replace one knowledge file with an uploaded one (validated, backed up, reloaded)."""
        directory = self.settings.knowledge_dir
        try:
            summary = await asyncio.to_thread(
                replace_knowledge_file,
                directory,
                filename,
                data,
                backup_dir=directory / ".backups",
            )
        except ValueError as exc:
            await self.storage.record_audit(
                admin_id, action="upload", detail=f"{filename}: rejected, unchanged"
            )
            return EditResult(False, f"{_MESSAGES['rejected'][lang]}\n{exc}")
        result = await self.reload(admin_id, reason=f"upload {filename}")
        await self.storage.record_audit(admin_id, action="upload", detail=f"{filename}: {summary}")
        if not result.ok:
            return EditResult(
                False, "\n".join([_MESSAGES["saved_reload_failed"][lang], *result.errors])
            )
        return EditResult(True, f"{_MESSAGES['replaced'][lang].format(file=filename)}\n{summary}")

    async def forget(self, user_id: int) -> int:
        """Delete everything stored about one user, on a request that came another way
        (the command line; audited as `CLI_ADMIN_ID`, without the user's id)."""
        removed = await self.storage.forget_user(user_id)
        # The audit keeps that a deletion happened, never whose: that is what was deleted.
        await self.storage.record_audit(
            CLI_ADMIN_ID, action="forget", detail=f"deleted {removed} row(s) of one user"
        )
        return removed


#: Results of admin changes, in the admin's language (file:line errors stay as the loader wrote them).
_MESSAGES: dict[str, dict[Lang, str]] = {
    "expired": {
        "zh": "这个建议已失效，请重新发送 /unanswered。",
        "en": "This suggestion has expired; run /unanswered again.",
    },
    "not_added": {"zh": "未添加：{error}", "en": "Not added: {error}"},
    "added_reload_failed": {
        "zh": "已添加，但重新加载失败：",
        "en": "Added, but the reload failed:",
    },
    "added": {
        "zh": "已把“{question}”加入 {entry}（{file}），并已重新加载。",
        "en": "Added “{question}” to {entry} ({file}); reloaded.",
    },
    "rejected": {"zh": "文件未被接受：", "en": "The file was not accepted:"},
    "saved_reload_failed": {
        "zh": "已保存，但重新加载失败：",
        "en": "Saved, but the reload failed:",
    },
    "replaced": {
        "zh": "{file} 已替换并重新加载。",
        "en": "{file} replaced and reloaded.",
    },
}
