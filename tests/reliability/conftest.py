"""Fixtures of the reliability tests: a fake Bot API that can fail, per test."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.reliability.faulty_api import FaultyBotApi

# PTB 22 warns (an error under filterwarnings=error) whenever it builds a RetryAfter,
# unless this opt-in to its future timedelta type is set; the bot reads no such value.
os.environ.setdefault("PTB_TIMEDELTA", "1")


@pytest.fixture
def api() -> Iterator[FaultyBotApi]:
    """A fresh fake server per test: faults and call logs never leak between tests."""
    with FaultyBotApi() as fake:
        yield fake
