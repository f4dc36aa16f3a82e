"""A bounded map: at most ``max_size`` entries (least recently touched evicted first) and an optional TTL."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable, Iterator
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class BoundedTable(Generic[K, V]):
    """Insertion order is touch order, so both evictions and expiry pop from the front.

    ``evicted`` counts entries dropped to stay under ``max_size``; ``expired`` those older than ``ttl``
    (measured on the ``now`` the caller passes, the receive clock).
    """

    __slots__ = ("_data", "evicted", "expired", "max_size", "ttl")

    def __init__(self, max_size: int, ttl: float | None = None) -> None:
        if max_size < 1:
            raise ValueError("max_size must be at least 1")
        self.max_size = max_size
        self.ttl = ttl
        self._data: OrderedDict[K, tuple[float, V]] = OrderedDict()
        self.evicted = 0
        self.expired = 0

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: K) -> bool:
        return key in self._data

    def get(self, key: K) -> V | None:
        entry = self._data.get(key)
        return None if entry is None else entry[1]

    def put(self, key: K, value: V, now: float) -> V | None:
        """Store ``value`` as most recently touched; return the entry evicted to make room, if any."""
        data = self._data
        if key in data:
            data.move_to_end(key)
            data[key] = (now, value)
            return None
        data[key] = (now, value)
        if len(data) > self.max_size:
            self.evicted += 1
            return data.popitem(last=False)[1][1]
        return None

    def shrink(self) -> list[V]:
        """Evict down to ``max_size`` (after the bound was lowered); return what was evicted."""
        data = self._data
        gone = []
        while len(data) > self.max_size:
            gone.append(data.popitem(last=False)[1][1])
            self.evicted += 1
        return gone

    def pop(self, key: K) -> V | None:
        entry = self._data.pop(key, None)
        return None if entry is None else entry[1]

    def expire(self, now: float) -> list[V]:
        """Drop the entries last touched more than ``ttl`` before ``now``; return them."""
        if self.ttl is None:
            return []
        data, limit = self._data, now - self.ttl
        gone: list[V] = []
        while data:
            key, (touched, value) = next(iter(data.items()))
            if touched >= limit:
                break
            del data[key]
            gone.append(value)
            self.expired += 1
        return gone

    def values(self) -> Iterator[V]:
        return (v for _, v in self._data.values())

    def items(self) -> Iterator[tuple[K, V]]:
        return ((k, v) for k, (_, v) in self._data.items())
