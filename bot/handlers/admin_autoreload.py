"""AUTO_RELOAD=true: reload the knowledge a few seconds after a file in KNOWLEDGE_DIR changes.

A repeating job compares each knowledge file's modification time and size with
what it saw last; on a change it calls `EngineHolder.reload`, which swaps the
engine atomically or, on errors, keeps the current one. The outcome is logged;
the job never raises, so a half-saved file costs a logged error, not the bot.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

from bot.knowledge.loader import knowledge_files
from bot.runtime import EngineHolder, ReloadResult
from bot.telegram.context import BotApp, BotContext

log = logging.getLogger(__name__)

#: How often the files are compared; a stat of a dozen files costs nothing.
AUTO_RELOAD_INTERVAL = dt.timedelta(seconds=3)
JOB_NAME = "knowledge-auto-reload"

#: File name -> (modification time in ns, size in bytes).
Snapshot = dict[str, tuple[int, int]]


def snapshot(directory: Path) -> Snapshot:
    """The modification time and size of every knowledge file of `directory`.

    Raises:
        OSError: the directory or a file could not be read (e.g. deleted meanwhile).
    """
    stats = {path.name: path.stat() for path in knowledge_files(directory)}
    return {name: (st.st_mtime_ns, st.st_size) for name, st in stats.items()}


class KnowledgeWatcher:
    """Remembers the knowledge files as last seen and tells when they changed."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._seen: Snapshot | None = self._take()

    def changed(self) -> bool:
        """True once per change (a file edited, added, removed or renamed) since the last call."""
        current = self._take()
        if current is None or current == self._seen:
            return False
        self._seen = current
        return True

    def _take(self) -> Snapshot | None:
        try:
            return snapshot(self.directory)
        except OSError as exc:  # the folder is being replaced: look again next time
            log.warning("auto-reload cannot read %s: %s", self.directory, exc)
            return None


async def reload_if_changed(
    watcher: KnowledgeWatcher, engines: EngineHolder
) -> ReloadResult | None:
    """Reload when the watched files changed; None when they did not."""
    if not watcher.changed():
        return None
    result = await engines.reload(watcher.directory)
    if not result.ok:
        log.error(
            "auto-reload: %s has errors, still answering from the previous knowledge:\n  %s",
            watcher.directory,
            "\n  ".join(result.errors),
        )
    elif result.changed:
        log.info("auto-reload: knowledge reloaded, %d entries", result.entries)
    else:  # touched, or written by an admin command that already reloaded
        log.debug("auto-reload: files touched, knowledge unchanged")
    return result


async def _check_knowledge(context: BotContext) -> None:
    """Repeating job: reload when a knowledge file changed; never raises."""
    job = context.job
    if job is None or not isinstance(job.data, KnowledgeWatcher):
        return
    services = context.bot_data.services
    if services is None:  # not started yet, or shutting down
        return
    try:
        await reload_if_changed(job.data, services.engines)
    except Exception:  # a watcher must never stop the bot
        log.exception("auto-reload check failed")


def register(app: BotApp, *, interval: dt.timedelta = AUTO_RELOAD_INTERVAL) -> None:
    """Schedule the watcher when AUTO_RELOAD is on (and the job queue is installed)."""
    settings = app.bot_data.settings
    if settings is None:
        raise RuntimeError("set app.bot_data.settings before registering handlers")
    if not settings.auto_reload:
        return
    if app.job_queue is None:
        log.warning("AUTO_RELOAD is on but the job queue is missing: install PTB's job-queue extra")
        return
    # The first look is now, before post_init loads the knowledge: a change in between
    # only costs one extra reload.
    watcher = KnowledgeWatcher(settings.knowledge_dir)
    app.job_queue.run_repeating(
        _check_knowledge, interval=interval, first=interval, name=JOB_NAME, data=watcher
    )
    log.info("auto-reload: watching %s every %gs", settings.knowledge_dir, interval.total_seconds())
