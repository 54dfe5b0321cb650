"""Which updates were answered, kept on disk so a restart does not answer them again.

The poller confirms an update to Telegram only once every update before it is
finished (`bot.telegram.polling`), so one slow answer (a send retried for
seconds) keeps everything after it unconfirmed. Killed at that moment, the bot
used to answer all of those again after the restart: residents got the same
answer twice, dozens of them per crash. The journal appends each finished
update id to a small file (one unbuffered write; the operating system keeps it
when the process is killed) and the next process skips the ids it finds there.

An update finished in the instant between its reply and its line is still
answered twice: never answering is the worse failure, so the line comes after.
A journal that cannot be written costs only that protection, never an answer.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import math
import os
from pathlib import Path

log = logging.getLogger(__name__)

#: Lines written before the journal is rewritten without the confirmed ids.
COMPACT_AFTER = 4096


class AnsweredJournal:
    """An append-only file of answered update ids.

    Args:
        path: The file; its folder is created. None keeps nothing (tests, webhook mode).
    """

    def __init__(self, path: Path | None) -> None:
        self._path = path
        self._fd: int | None = None
        self._lines = 0
        self._ids: set[int] = set()
        #: No id held is below this: `confirmed_below` an offset at or under it has
        #: nothing to forget (the poller calls it on every poll, mostly with the same offset).
        self._floor: float = math.inf
        if path is None:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = _open_locked(path)
            content = path.read_bytes()
            self._ids = _read_ids(content)
            self._floor = min(self._ids, default=math.inf)
            if content and not content.endswith(b"\n"):
                # Cut a torn last line off: ended with a newline it would read as an id.
                os.ftruncate(self._fd, content.rfind(b"\n") + 1)
            self._lines = len(self._ids)
        except OSError as exc:
            log.warning(
                "answered-updates journal %s unusable (%s): a restart may repeat answers", path, exc
            )
            self.close()
            self._ids = set()
            self._floor = math.inf

    def __len__(self) -> int:
        """Answered ids not yet known to be confirmed."""
        return len(self._ids)

    def __contains__(self, update_id: object) -> bool:
        """True when the update was answered by this or an earlier process."""
        return update_id in self._ids

    def add(self, update_id: int) -> None:
        """Record a finished update (one write; never raises)."""
        self._ids.add(update_id)
        self._floor = min(self._floor, update_id)
        if self._fd is None:
            return
        try:
            os.write(self._fd, b"%d\n" % update_id)
            self._lines += 1
        except OSError as exc:
            log.warning("could not write the answered-updates journal: %s", exc)

    def confirmed_below(self, offset: int) -> None:
        """Forget ids below `offset`: Telegram has confirmed them, and never sends them again.

        The file is rewritten (atomically) once it has grown by `COMPACT_AFTER` lines.
        """
        if offset > self._floor:
            self._ids = {i for i in self._ids if i >= offset}
            self._floor = offset
        if self._fd is None or self._path is None or self._lines < COMPACT_AFTER:
            return
        fresh = self._path.with_name(self._path.name + ".new")
        try:
            fresh.write_bytes(b"".join(b"%d\n" % i for i in sorted(self._ids)))
            os.replace(fresh, self._path)
            os.close(self._fd)
            self._fd = None
            self._fd = _open_locked(self._path)
            self._lines = len(self._ids)
        except OSError as exc:
            # Before the swap the old file is kept; after it, no journal (fd None).
            log.warning("could not compact the answered-updates journal: %s", exc)

    def clear(self) -> None:
        """Forget everything: every update is confirmed (a clean stop). Update ids need not
        rise across restarts (Telegram may start them anew), so none may linger."""
        self._ids = set()
        self._floor = math.inf
        if self._fd is None:
            return
        try:
            os.ftruncate(self._fd, 0)
            self._lines = 0
        except OSError as exc:
            log.warning("could not empty the answered-updates journal: %s", exc)

    def close(self) -> None:
        """Close the file."""
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None


def _open_locked(path: Path) -> int:
    """Open the journal for appending, locked: one bot per journal (a second one on the
    same database path would compact the file under the first, or skip its updates).

    Raises:
        OSError: the file cannot be opened, or another process holds it.
    """
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise
    return fd


def _read_ids(content: bytes) -> set[int]:
    """The ids in a journal's content: complete lines only (a power cut may leave "12" of
    "1234" at the end); a damaged line is skipped."""
    ids: set[int] = set()
    for line in content.split(b"\n")[:-1]:
        with contextlib.suppress(ValueError):
            ids.add(int(line))
    return ids
