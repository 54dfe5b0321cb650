"""A map that keeps a bounded number of keys, dropping the oldest first.

The bot's small caches (recent verdicts, recent replies, per-resident state)
all need the same thing: plain lookups, and memory that stays bounded however
many residents and questions come.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class BoundedMap(Generic[K, V]):
    """At most `size` keys; putting one more drops the least recently written.

    With `refresh_on_read`, a read counts as recent too (least recently used).
    Worker threads may share one (admin reports match in a thread): each step is
    a single call into OrderedDict's C code, and an eviction that races another
    one finds nothing left to drop, which is fine.
    """

    __slots__ = ("_items", "_refresh_on_read", "_size")

    def __init__(self, size: int, *, refresh_on_read: bool = False) -> None:
        self._items: OrderedDict[K, V] = OrderedDict()
        self._size = size
        self._refresh_on_read = refresh_on_read

    def __contains__(self, key: K) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: K) -> V | None:
        """The value of `key`, or None when it is not kept."""
        if self._refresh_on_read:
            try:
                self._items.move_to_end(key)
            except KeyError:
                return None
        return self._items.get(key)

    def put(self, key: K, value: V) -> None:
        """Keep `value` under `key` as the newest; drop the oldest keys beyond `size`."""
        items = self._items
        items[key] = value
        try:
            items.move_to_end(key)
            while len(items) > self._size:
                items.popitem(last=False)
        except KeyError:  # another thread dropped it (or emptied the map) meanwhile
            pass

    def pop(self, key: K) -> V | None:
        """Forget `key`; returns its value, or None when it was not kept."""
        return self._items.pop(key, None)
