"""BoundedMap: which keys it keeps when it is full."""

from __future__ import annotations

import threading

import pytest

from bot.bounded import BoundedMap


@pytest.mark.parametrize(
    ("refresh_on_read", "kept"),
    [
        # Written a, b, c, then a read: by writes alone, a is the oldest and goes.
        (False, {"b", "c", "d"}),
        # With reads counted, the read made a recent: b is the oldest now.
        (True, {"a", "c", "d"}),
    ],
    ids=["oldest-write-goes", "least-recently-used-goes"],
)
def test_full_map_drops_the_oldest(refresh_on_read: bool, kept: set[str]) -> None:
    recent: BoundedMap[str, int] = BoundedMap(3, refresh_on_read=refresh_on_read)
    for i, key in enumerate("abc"):
        recent.put(key, i)
    assert recent.get("a") == 0
    recent.put("d", 3)
    assert len(recent) == 3
    assert {k for k in "abcd" if k in recent} == kept


def test_rewriting_a_key_makes_it_the_newest() -> None:
    recent: BoundedMap[str, int] = BoundedMap(2)
    recent.put("a", 1)
    recent.put("b", 2)
    recent.put("a", 3)  # a is newer than b now
    recent.put("c", 4)
    assert "b" not in recent
    assert recent.get("a") == 3


def test_missing_and_popped_keys_read_as_none() -> None:
    recent: BoundedMap[int, str | None] = BoundedMap(2, refresh_on_read=True)
    recent.put(1, None)  # a stored None: present, unlike a missing key
    assert 1 in recent and recent.get(1) is None
    assert 2 not in recent and recent.get(2) is None
    recent.pop(1)
    recent.pop(1)  # popping twice is harmless
    assert 1 not in recent


def test_pop_returns_the_forgotten_value() -> None:
    recent: BoundedMap[str, int] = BoundedMap(2)
    recent.put("a", 1)
    assert recent.pop("a") == 1
    assert recent.pop("a") is None  # already gone
    assert recent.pop("never") is None


def test_threads_writing_at_once_keep_it_bounded() -> None:
    recent: BoundedMap[int, int] = BoundedMap(50)

    def write(start: int) -> None:
        for i in range(start, start + 5000):
            recent.put(i, i)
            recent.get(i - 1)

    threads = [threading.Thread(target=write, args=(n * 10_000,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(recent) == 50
