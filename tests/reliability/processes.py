"""Run the bot (or any module) as a child process against a fake Bot API.

Shared by the reliability tests (SIGKILL and restart) and the benchmarks: the
environment carries nothing from the caller's but PATH, and the working
directory is a temporary one, so no developer `.env` is read.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.telegram.fake_api import TOKEN

REPO = Path(__file__).resolve().parents[2]


def _status_kib(pid: int, key: str) -> int | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return None


def child_pids(pid: int) -> list[int]:
    """Process ids of `pid`'s live child processes (Linux /proc; empty elsewhere)."""
    pids: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            pids += [int(p) for p in (task / "children").read_text().split()]
        except OSError:
            continue
    return pids


def children_peak_rss_kib(pid: int) -> int:
    """The sum of VmHWM over `pid`'s live child processes (KiB)."""
    return sum(_status_kib(child, "VmHWM") or 0 for child in child_pids(pid))


def _cpu_seconds(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class BotProcess:
    """A bot running as a child process, with its log file."""

    process: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        """The process id."""
        return self.process.pid

    def peak_rss_kib(self) -> int | None:
        """VmHWM: the most resident memory the process ever had (KiB); None once it exited."""
        return _status_kib(self.pid, "VmHWM")

    def children_peak_rss_kib(self) -> int:
        """The sum of VmHWM over the bot's child processes (the e5 worker), while it runs."""
        return children_peak_rss_kib(self.pid)

    def rss_kib(self) -> int | None:
        """VmRSS: the resident memory now (KiB); None once it exited."""
        return _status_kib(self.pid, "VmRSS")

    def cpu_seconds(self) -> float | None:
        """User + system CPU time used so far, the live child processes' included."""
        own = _cpu_seconds(self.pid)
        if own is None:
            return None
        return own + self.children_cpu_seconds()

    def children_cpu_seconds(self) -> float:
        """User + system CPU time of the live child processes (the e5 worker)."""
        return sum(_cpu_seconds(pid) or 0.0 for pid in child_pids(self.pid))

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM, then SIGKILL if it does not stop in time; the exit code."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                return self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
        return self.process.wait()

    def kill(self) -> None:
        """SIGKILL, no goodbye (a crash)."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()

    def log_tail(self, lines: int = 20) -> str:
        """The end of the log, for error messages."""
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def bot_environment(api_url: str, workdir: Path, **overrides: str) -> dict[str, str]:
    """The environment of `python -m bot run` against a fake at `api_url`, data in `workdir`.

    Nothing from the caller's environment leaks in except PATH (and the working
    directory is `workdir`, so no developer `.env` is read).
    """
    return {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(REPO),
        "PTB_TIMEDELTA": "1",
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_BOT_API_URL": api_url,
        "KNOWLEDGE_DIR": str(REPO / "knowledge"),
        "DATABASE_PATH": str(workdir / "helpdesk.sqlite3"),
        "EMBEDDING_CACHE_DIR": str(workdir / "cache"),
        "USER_HASH_SECRET": "bench-secret",
        "LOG_LEVEL": "WARNING",
        **overrides,
    }


def start_process(
    module_args: list[str], env: Mapping[str, str], workdir: Path, *, name: str = "bot"
) -> BotProcess:
    """`python -m <module_args>` in `workdir`, output to `workdir/<name>.log`."""
    log = workdir / f"{name}.log"
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", *module_args],
            cwd=workdir,
            env=dict(env),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return BotProcess(process, log)


def wait_until(predicate: Any, *, timeout: float, interval: float = 0.02) -> bool:
    """Poll `predicate()` until it is true or `timeout` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())
