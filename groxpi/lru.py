"""Least-recently-used bookkeeping of cached file sizes against a byte limit."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable


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
        return self._shrink()

    def remove(self, key: str) -> None:
        size = self._sizes.pop(key, None)
        if size is not None:
            self.total -= size

    def resync(
        self, stored: Iterable[tuple[str, int, float]], keep: frozenset[str] = frozenset()
    ) -> list[str]:
        """Adopt what the store really holds (``key, size, last_used``); return keys to evict.

        Other processes sharing the store (workers, replicas) add files this one
        never saw: they are ranked by the store's last-used time, older than
        every file this process has used. Keys the store no longer has are
        dropped, except ``keep``: keys added while the listing was being taken.
        """
        present = {key: (size, last_used) for key, size, last_used in stored}
        for key in keep:
            if key in self._sizes and key not in present:
                present[key] = (self._sizes[key], 0.0)
        ours = [key for key in self._sizes if key in present]
        others = sorted((k for k in present if k not in self._sizes), key=lambda k: present[k][1])
        self._sizes = OrderedDict((key, present[key][0]) for key in others + ours)
        self.total = sum(self._sizes.values())
        return self._shrink()

    def _shrink(self) -> list[str]:
        evicted = []
        while self.total > self.limit and len(self._sizes) > 1:
            old_key, old_size = self._sizes.popitem(last=False)
            self.total -= old_size
            evicted.append(old_key)
        return evicted
