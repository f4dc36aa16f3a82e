"""Monotonic counters by label set, bounded: beyond ``max_series`` label sets, new ones count into one overflow set.

They back the ``*_total`` metrics, so they never decrease and never forget a label set while the process runs
(Prometheus would read a disappearing and returning series as a counter reset).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

OVERFLOW: Final = "__overflow__"


class LabelCounters:
    """``labels -> count``; ``overflowed`` counts the increments that went to the overflow label set."""

    __slots__ = ("_counts", "_overflow", "max_series", "overflowed")

    def __init__(self, width: int, max_series: int) -> None:
        self.max_series = max_series
        self._counts: dict[tuple[str, ...], int] = {}
        self._overflow = (OVERFLOW,) * width
        self.overflowed = 0

    def add(self, labels: tuple[str, ...], n: int = 1) -> None:
        counts = self._counts
        if labels in counts:
            counts[labels] += n
        elif len(counts) < self.max_series:
            counts[labels] = n
        else:
            counts[self._overflow] = counts.get(self._overflow, 0) + n
            self.overflowed += n

    def items(self) -> Iterator[tuple[tuple[str, ...], int]]:
        return iter(list(self._counts.items()))

    def __len__(self) -> int:
        return len(self._counts)
