"""The matcher stays a pure, synchronous core (dependency direction of STYLE.md)."""

from __future__ import annotations

import subprocess
import sys


def test_matching_imports_no_channel_storage_or_asyncio() -> None:
    # A fresh interpreter: this test process has imported everything already.
    code = (
        "import sys, bot.matching, bot.answering\n"
        "bad = [m for m in ('telegram', 'aiosqlite', 'asyncio') if m in sys.modules]\n"
        "print(','.join(bad))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == ""
