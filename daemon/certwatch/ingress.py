"""Between the listeners and the engine: a bounded queue of message batches, with flow control (I/O shell).

Listeners offer one batch per wake-up (a burst of datagrams, one TCP read). When the queue is full a stream
connection stops reading (its peer's TCP window closes: backpressure, nothing lost) and resumes once the queue is
half empty; a UDP batch is dropped and counted (``queue_full``), since UDP cannot be pushed back.
"""

from __future__ import annotations

import asyncio
from typing import NamedTuple, Protocol

from certwatch.telemetry import Telemetry


class Batch(NamedTuple):
    transport: str  # udp | tcp | tls
    received: float  # receive clock (wall time, seconds)
    messages: list[bytes]


class Pausable(Protocol):
    @property
    def backlog(self) -> int: ...

    def resume(self) -> None: ...


class Ingress:
    """The one queue; ``offer`` never blocks. The pipeline task is its only consumer."""

    def __init__(self, max_batches: int, telemetry: Telemetry) -> None:
        self.queue: asyncio.Queue[Batch] = asyncio.Queue(max_batches)
        self.capacity = max_batches
        self._telemetry = telemetry
        self._paused: set[Pausable] = set()

    def offer(self, batch: Batch) -> bool:
        """Queue ``batch``; count its messages as received. False when full (the caller decides what to do)."""
        try:
            self.queue.put_nowait(batch)
        except asyncio.QueueFull:
            return False
        self._telemetry.received[batch.transport] += len(batch.messages)
        return True

    def offer_or_drop(self, batch: Batch) -> None:
        """For UDP: queue, or drop and count."""
        if not self.offer(batch):
            self._telemetry.received[batch.transport] += len(batch.messages)
            self._telemetry.dropped["queue_full"] += len(batch.messages)

    def wait_for_room(self, who: Pausable) -> None:
        """A stream listener paused itself; it is resumed when the queue has room again."""
        self._telemetry.backpressure_pauses += 1
        self._paused.add(who)

    def waiting(self) -> set[Pausable]:
        """Readers paused with messages not yet queued."""
        return set(self._paused)

    def forget(self, who: Pausable) -> None:
        self._paused.discard(who)

    def consumed(self) -> None:
        """Called by the consumer after each batch: resume paused readers below half the bound."""
        if self._paused and self.queue.qsize() <= self.capacity // 2:
            paused, self._paused = self._paused, set()
            for who in paused:
                who.resume()
