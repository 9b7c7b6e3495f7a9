"""Least-recently-used bookkeeping of cached file sizes against a byte limit."""

from __future__ import annotations

from collections import OrderedDict


class LRUSizes:
    """Keys in recency order with their sizes; says which keys to evict.

    Only bookkeeping: the caller deletes evicted objects from storage. The
    newest key is never evicted, so one file larger than the limit still serves.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.total = 0
        self._sizes: OrderedDict[str, int] = OrderedDict()

    def __len__(self) -> int:
        return len(self._sizes)

    def __contains__(self, key: object) -> bool:
        return key in self._sizes

    def touch(self, key: str) -> bool:
        """Mark ``key`` as just used; False when it is not tracked."""
        if key not in self._sizes:
            return False
        self._sizes.move_to_end(key)
        return True

    def add(self, key: str, size: int) -> list[str]:
        """Track ``key`` as most recent and return the keys to evict, oldest first."""
        self.remove(key)
        self._sizes[key] = size
        self.total += size
        evicted = []
        while self.total > self.limit and len(self._sizes) > 1:
            old_key, old_size = self._sizes.popitem(last=False)
            self.total -= old_size
            evicted.append(old_key)
        return evicted

    def remove(self, key: str) -> None:
        size = self._sizes.pop(key, None)
        if size is not None:
            self.total -= size
